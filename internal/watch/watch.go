// Package watch owns reloading a file while the program runs: it polls the
// file for changes and takes explicit requests (wired to SIGHUP), and
// calls a Load function that parses the file and swaps in the result.
//
// Polling (size, modification time and inode) rather than inotify keeps
// the package dependency-free and works the same on bind mounts,
// Kubernetes ConfigMaps (replaced by renaming a symlink) and network file
// systems.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors returned by Run.
var (
	// ErrConfig reports a Reloader without Path or Load.
	ErrConfig = errors.New("watch: Path and Load are required")
	// ErrRunning reports a second Run of the same Reloader while the
	// first is still running.
	ErrRunning = errors.New("watch: Run is already running")
)

// DefaultInterval is how often the file is checked when Interval is zero.
const DefaultInterval = 5 * time.Second

// Reloader calls Load when the file at Path changes or when Trigger is
// called.
//
// Every Interval, Run looks at the file's size, modification time and
// inode (so an atomic replace by rename is seen even with the same size
// and time). A change is loaded once the file has looked the same on two
// checks in a row, so that a file being written in place is not loaded
// half-written; writers should still prefer write-then-rename. A missing
// file is not a change (it is counted in Stats.Missing); it is loaded
// again when it reappears.
//
// Load does the work: parse the file and install the result. When it
// returns an error the previous value stays in place; the Reloader logs
// the error, counts it, and loads again on the next change or Trigger.
// Load runs on Run's goroutine, one call at a time.
//
// Set the fields before calling Run and do not change them afterwards. A
// Reloader must not be copied after first use.
type Reloader struct {
	// Path is the file to watch.
	Path string
	// Interval is the time between checks; zero means DefaultInterval.
	Interval time.Duration
	// Load parses the file at path and installs the result; an error
	// keeps the previous value.
	Load func(path string) error
	// Logger receives failures (Error) and a missing file (Warn); nil
	// means discard.
	Logger *slog.Logger
	// Now is the clock for Stats.LastReload; nil means time.Now. It is
	// wall-clock bookkeeping only: nothing is decided by it.
	Now func() time.Time

	once      sync.Once
	trigger   chan struct{}
	running   atomic.Bool
	triggers  atomic.Uint64
	coalesced atomic.Uint64

	mu    sync.Mutex
	stats Stats
}

// Stats counts what a Reloader did.
type Stats struct {
	Reloads    uint64    // successful loads
	Failures   uint64    // failed loads; the previous value was kept
	Missing    uint64    // checks that found no file (or could not stat it)
	Triggers   uint64    // calls of Trigger
	Coalesced  uint64    // Trigger calls merged into one already pending
	LastError  string    // error of the last load if it failed, else ""
	LastReload time.Time // time of the last successful load (from Now)
}

func (r *Reloader) init() { r.once.Do(func() { r.trigger = make(chan struct{}, 1) }) }

// Trigger asks Run to load the file now, whether or not it changed. It
// never blocks; calls made while a request is pending are merged into it.
// It is safe for concurrent use, including before Run starts.
func (r *Reloader) Trigger() {
	r.init()
	r.triggers.Add(1)
	select {
	case r.trigger <- struct{}{}:
	default:
		r.coalesced.Add(1)
	}
}

// Stats returns a snapshot of the counters; safe for concurrent use.
func (r *Reloader) Stats() Stats {
	r.mu.Lock()
	s := r.stats
	r.mu.Unlock()
	s.Triggers = r.triggers.Load()
	s.Coalesced = r.coalesced.Load()
	return s
}

// fileID is what a check compares.
type fileID struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stat(path string) (fileID, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, false
	}
	return fileID{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}, true
}

// poller decides, one check at a time, when a changed file has settled
// enough to load. It has no I/O, so tests drive it directly.
type poller struct {
	loaded  fileID // the file as last loaded (or as found at start)
	pending fileID // a change seen on the previous check
	waiting bool   // pending is set
}

// check takes the file as just seen and reports whether to load it now.
func (p *poller) check(cur fileID) bool {
	switch {
	case cur == p.loaded:
		p.waiting = false // changed back, or never changed
		return false
	case !p.waiting || cur != p.pending:
		p.pending, p.waiting = cur, true // new change: look again next time
		return false
	}
	p.loaded, p.waiting = cur, false
	return true
}

// loadedNow records that the file, as seen now, is being loaded.
func (p *poller) loadedNow(cur fileID) { p.loaded, p.waiting = cur, false }

// Run checks the file every Interval and serves Trigger until ctx ends,
// then returns nil. The file as it is when Run starts counts as loaded
// (the caller loads it first, to fail early on a bad file). Run starts no
// goroutines. It returns ErrConfig without Path or Load, and ErrRunning if
// the Reloader is already running.
func (r *Reloader) Run(ctx context.Context) error {
	if r.Path == "" || r.Load == nil {
		return ErrConfig
	}
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	r.init()
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "watch", "file", r.Path)
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}

	var p poller
	present := true
	if id, ok := stat(r.Path); ok {
		p.loadedNow(id)
	} else {
		present = false
		r.count(func(s *Stats) { s.Missing++ })
		logger.Warn("file to watch is missing; it will be loaded when it appears")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			cur, ok := stat(r.Path)
			if !ok {
				r.count(func(s *Stats) { s.Missing++ })
				if present {
					logger.Warn("file to watch is missing; keeping the loaded version")
				}
				present = false
				continue
			}
			present = true
			if !p.check(cur) {
				continue
			}
		case <-r.trigger:
			cur, ok := stat(r.Path)
			present = ok
			if ok {
				p.loadedNow(cur)
			}
		}
		r.load(logger)
	}
}

func (r *Reloader) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

func (r *Reloader) load(logger *slog.Logger) {
	err := r.Load(r.Path)
	if err != nil {
		r.count(func(s *Stats) { s.Failures++; s.LastError = err.Error() })
		logger.Error("reload failed; keeping the previous version", "err", err)
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	at := now()
	r.count(func(s *Stats) { s.Reloads++; s.LastError = ""; s.LastReload = at })
	logger.Debug("reloaded")
}

// NotifyHUP calls r.Trigger on every SIGHUP until ctx ends. It returns at
// once; the goroutine it starts stops listening for SIGHUP (signal.Stop)
// and ends when ctx ends. While it listens, SIGHUP no longer terminates
// the process.
func NotifyHUP(ctx context.Context, r *Reloader) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				r.Trigger()
			}
		}
	}()
}
