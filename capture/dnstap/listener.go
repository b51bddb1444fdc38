package dnstap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxwatch/mxwatch/capture/dns"
	"github.com/mxwatch/mxwatch/event"
)

// Listener accepts dnstap connections from resolvers on a unix or TCP
// socket. Make one with Listen, run it with Serve.
type Listener struct {
	cfg     Config
	ln      net.Listener
	serving atomic.Bool

	// mu serialises the Trackers and emit, and guards the counters.
	mu    sync.Mutex
	stats Stats // stats.DNS holds the counters of closed connections
	live  map[*stream]struct{}

	// connMu guards conns and done; taken before mu, never after.
	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	done   bool
}

// Listen opens the socket: network is "unix" (address is a path; a stale
// socket left there by an earlier run is removed, anything else that is
// not a socket is an error) or "tcp", "tcp4", "tcp6" (address is
// host:port). Connections are accepted only by Serve.
func Listen(network, address string, cfg Config) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dnstap: listen %s %s: %w", network, address, err)
	}
	cfg = cfg.withDefaults()
	switch network {
	case "unix":
		if err := removeStale(address); err != nil {
			return nil, fmt.Errorf("dnstap: listen unix %s: %w", address, err)
		}
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dnstap: listen %s %s: %w", network, address, ErrNetwork)
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("dnstap: listen %s %s: %w", network, address, err)
	}
	if network == "unix" && cfg.SocketMode != 0 {
		if err := os.Chmod(address, cfg.SocketMode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("dnstap: listen unix %s: %w", address, err)
		}
	}
	return &Listener{
		cfg:   cfg,
		ln:    ln,
		live:  make(map[*stream]struct{}),
		conns: make(map[net.Conn]struct{}),
	}, nil
}

// removeStale removes a unix socket at path that nobody accepts on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%v: %w", fi.Mode(), ErrNotSocket)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return ErrInUse
	}
	return os.Remove(path)
}

// Addr returns the address the listener accepts on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close closes the socket and every connection. Serve, if running, then
// returns nil; cancelling its context does the same. Close is needed only
// when Serve is never called.
func (l *Listener) Close() error {
	l.shutdown()
	return nil
}

// closed reports whether shutdown ran.
func (l *Listener) closed() bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	return l.done
}

// Serve accepts connections, speaks bidirectional Frame Streams on each,
// and passes the events their CLIENT_QUERY and CLIENT_RESPONSE messages
// yield to emit. Each connection runs in its own goroutine with its own
// dns.Tracker; emit is called from one goroutine at a time, must not
// block for long (it holds up every connection) and must not call Stats.
//
// Serve returns nil when ctx is done (or Close was called), after closing
// the socket and every connection and waiting for their goroutines
// (queries still pending are counted as unanswered), or an error when
// accepting fails for a reason other than a lack of resources (which is
// waited out). A Listener is served once.
func (l *Listener) Serve(ctx context.Context, emit func(*event.DNS)) error {
	if emit == nil {
		return fmt.Errorf("dnstap: %w", ErrNoEmit)
	}
	if !l.serving.CompareAndSwap(false, true) {
		return fmt.Errorf("dnstap: %s: %w", l.ln.Addr(), ErrServing)
	}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, l.shutdown)
	defer func() {
		stop()
		l.shutdown()
		wg.Wait()
	}()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || l.closed() {
				return nil
			}
			if !resourceError(err) {
				return fmt.Errorf("dnstap: accept on %s: %w", l.ln.Addr(), err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		delay = 0
		if !l.track(c) {
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.serveConn(c, emit)
		}()
	}
}

// resourceError reports accept errors that pass when resources free up.
func resourceError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// track registers a new connection, or refuses it.
func (l *Listener) track(c net.Conn) bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.done {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.cfg.MaxConns {
		l.stats.Refused++
		return false
	}
	l.conns[c] = struct{}{}
	l.stats.Conns++
	return true
}

// shutdown closes the socket and every connection; their goroutines then
// end on their own.
func (l *Listener) shutdown() {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.done {
		return
	}
	l.done = true
	l.ln.Close()
	for c := range l.conns {
		c.Close()
	}
}

// serveConn reads one connection until it ends.
func (l *Listener) serveConn(c net.Conn, emit func(*event.DNS)) {
	defer func() {
		l.connMu.Lock()
		delete(l.conns, c)
		l.connMu.Unlock()
		c.Close()
	}()
	l.mu.Lock()
	s, err := newStream(l.cfg, &l.stats, emit)
	if err != nil { // the config was validated by Listen
		l.mu.Unlock()
		return
	}
	l.live[s] = struct{}{}
	l.mu.Unlock()

	dc := &deadlineConn{Conn: c, idle: l.cfg.IdleTimeout}
	d := NewDecoder(dc, dc, l.cfg.MaxFrameSize)
	for {
		b, err := d.Next()
		l.mu.Lock()
		s.countControls(d)
		if err != nil {
			l.stats.countEnd(err)
			s.tr.Close()
			l.stats.DNS.Add(s.tr.Stats())
			delete(l.live, s)
			l.mu.Unlock()
			return
		}
		s.frame(b)
		l.mu.Unlock()
	}
}

// Stats returns a snapshot of the counters. It is safe for concurrent
// use, except from emit.
func (l *Listener) Stats() Stats {
	l.connMu.Lock()
	active := uint64(len(l.conns))
	l.connMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Active = active
	s.DNS = dns.Stats{}
	s.DNS.Add(l.stats.DNS) // copies the maps
	for st := range l.live {
		s.DNS.Add(st.tr.Stats())
	}
	return s
}

// deadlineConn pushes the idle deadline forward before every read and
// write. This is the only use of the wall clock in the package.
type deadlineConn struct {
	net.Conn
	idle time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
