package watch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loader records what Load saw and fails while fail is set.
type loader struct {
	mu   sync.Mutex
	seen []string
	fail bool
}

func (l *loader) load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, string(b))
	if l.fail {
		return errors.New("bad content")
	}
	return nil
}

func (l *loader) setFail(v bool) {
	l.mu.Lock()
	l.fail = v
	l.mu.Unlock()
}

// last returns the content of the last Load and the number of Loads.
func (l *loader) last() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return "", 0
	}
	return l.seen[len(l.seen)-1], len(l.seen)
}

// waitFor polls cond until it holds, for at most 10 s (a bound for slow
// machines, not an expectation of speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// start runs r until the returned stop is called; stop checks that Run
// returned nil.
func start(t *testing.T, r *Reloader) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnChange(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, path string) // must leave "v2..." in path
		want   string
	}{
		{
			name: "rewrite in place with new content and time",
			change: func(t *testing.T, path string) {
				writeFile(t, path, "v2-longer")
				later := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			},
			want: "v2-longer",
		},
		{
			name: "same size, new time",
			change: func(t *testing.T, path string) {
				writeFile(t, path, "v2")
				later := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			},
			want: "v2",
		},
		{
			name: "atomic replace by rename, same size and time",
			change: func(t *testing.T, path string) {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				tmp := path + ".tmp"
				writeFile(t, tmp, "v2")
				if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			},
			want: "v2",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "inv.csv")
			writeFile(t, path, "v1")
			then := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(path, then, then); err != nil {
				t.Fatal(err)
			}
			l := &loader{}
			clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			r := &Reloader{Path: path, Interval: 10 * time.Millisecond, Load: l.load, Now: func() time.Time { return clock }}
			start(t, r)
			// Run must have taken its first look before the change;
			// a Trigger is served after that look.
			r.Trigger()
			waitFor(t, "the triggered load", func() bool { _, n := l.last(); return n == 1 })

			tt.change(t, path)
			waitFor(t, "reload after the change", func() bool { s, _ := l.last(); return s == tt.want })
			st := r.Stats()
			if st.Reloads < 2 || st.Failures != 0 || !st.LastReload.Equal(clock) || st.LastError != "" {
				t.Errorf("Stats %+v", st)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.yaml")
	writeFile(t, path, "v1")
	l := &loader{}
	// A long interval: only Trigger can cause loads here.
	r := &Reloader{Path: path, Interval: time.Hour, Load: l.load}

	// Triggers before Run coalesce into one pending request.
	r.Trigger()
	r.Trigger()
	r.Trigger()
	if st := r.Stats(); st.Triggers != 3 || st.Coalesced != 2 {
		t.Fatalf("Stats %+v, want 3 triggers, 2 coalesced", st)
	}
	start(t, r)
	waitFor(t, "the pending trigger", func() bool { _, n := l.last(); return n == 1 })

	// Trigger loads even when nothing changed.
	r.Trigger()
	waitFor(t, "a second trigger", func() bool { _, n := l.last(); return n == 2 })
	if s, _ := l.last(); s != "v1" {
		t.Errorf("loaded %q", s)
	}
	if st := r.Stats(); st.Reloads != 2 {
		t.Errorf("Stats %+v", st)
	}
}

func TestFailingLoadKeepsRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.csv")
	writeFile(t, path, "v1")
	l := &loader{fail: true}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	r := &Reloader{Path: path, Interval: 10 * time.Millisecond, Load: l.load, Logger: logger}
	start(t, r)

	for i := 1; i <= 3; i++ {
		r.Trigger()
		waitFor(t, "a failure", func() bool { return r.Stats().Failures == uint64(i) })
	}
	st := r.Stats()
	if st.Reloads != 0 || st.LastError != "bad content" || !st.LastReload.IsZero() {
		t.Errorf("Stats %+v", st)
	}
	if out := logs.String(); !strings.Contains(out, "reload failed") || !strings.Contains(out, "bad content") || !strings.Contains(out, "component=watch") {
		t.Errorf("log %q", out)
	}

	// A later good file is loaded: the watch went on.
	l.setFail(false)
	writeFile(t, path, "v2-fixed")
	waitFor(t, "a load after the failures", func() bool { return r.Stats().Reloads == 1 })
	if s, _ := l.last(); s != "v2-fixed" {
		t.Errorf("loaded %q", s)
	}
	if st := r.Stats(); st.LastError != "" || st.Failures != 3 {
		t.Errorf("Stats %+v", st)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.csv")
	l := &loader{}
	r := &Reloader{Path: path, Interval: time.Millisecond, Load: l.load}
	start(t, r)
	waitFor(t, "several checks", func() bool { return r.Stats().Missing >= 5 })
	if _, n := l.last(); n != 0 || r.Stats().Failures != 0 {
		t.Fatalf("a missing file was loaded %d times, %d failures", n, r.Stats().Failures)
	}
	writeFile(t, path, "v1")
	waitFor(t, "load once the file appears", func() bool { s, _ := l.last(); return s == "v1" })
	_, loads := l.last()

	// Deleting the file is not a change either.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	m := r.Stats().Missing
	waitFor(t, "more checks", func() bool { return r.Stats().Missing >= m+5 })
	if _, n := l.last(); n != loads {
		t.Errorf("loads %d after removal, want %d", n, loads)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.csv")
	writeFile(t, path, "v1")
	r := &Reloader{Path: path, Interval: 10 * time.Millisecond, Load: func(string) error { return nil }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// Wait until it runs: a second Run is refused then.
	waitFor(t, "Run to start", func() bool { return r.running.Load() })
	if err := r.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// A stopped Reloader can run again.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := r.Run(ctx2); err != nil {
		t.Errorf("Run after Run: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    *Reloader
	}{
		{"nothing", &Reloader{}},
		{"no load", &Reloader{Path: "x.csv"}},
		{"no path", &Reloader{Load: func(string) error { return nil }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Run(t.Context()); !errors.Is(err, ErrConfig) {
				t.Errorf("Run = %v, want ErrConfig", err)
			}
		})
	}
}

func TestPoller(t *testing.T) {
	a := fileID{size: 1, mtime: time.Unix(1, 0), ino: 1}
	b := fileID{size: 2, mtime: time.Unix(2, 0), ino: 1}
	c := fileID{size: 2, mtime: time.Unix(2, 0), ino: 2}
	for _, tt := range []struct {
		name   string
		checks []fileID
		want   []bool
	}{
		{"unchanged", []fileID{a, a, a}, []bool{false, false, false}},
		{"change loads once settled", []fileID{b, b, b}, []bool{false, true, false}},
		{"still being written", []fileID{b, c, c, c}, []bool{false, false, true, false}},
		{"changed back before settling", []fileID{b, a, a}, []bool{false, false, false}},
		{"second change after a load", []fileID{b, b, c, c}, []bool{false, true, false, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p poller
			p.loadedNow(a)
			for i, id := range tt.checks {
				if got := p.check(id); got != tt.want[i] {
					t.Fatalf("check %d = %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
