package dnstap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxwatch/mxwatch/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serving runs l.Serve until the test ends and sends its events to the
// returned channel.
func serving(t *testing.T, l *Listener) <-chan *event.DNS {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	evs := make(chan *event.DNS, 100)
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, func(d *event.DNS) { evs <- d }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return evs
}

// handshake dials l and does the sender's side of READY/ACCEPT/START.
func handshake(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(fsControl(nil, controlReady, "protobuf:other", ContentType)); err != nil {
		t.Fatal(err)
	}
	want := fsControl(nil, controlAccept, ContentType)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ACCEPT: %x, %v; want %x", got, err, want)
	}
	if _, err := c.Write(fsControl(nil, controlStart, ContentType)); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitClosed reads c until the listener closes it.
func waitClosed(t *testing.T, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("read: %v", err)
	}
	return b
}

// waitStats polls until cond holds for the listener's counters; the
// test's own deadline bounds it.
func waitStats(t *testing.T, l *Listener, cond func(Stats) bool) Stats {
	t.Helper()
	for {
		st := l.Stats()
		if cond(st) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestListener(t *testing.T) {
	tests := []struct {
		name, network string
		address       func(t *testing.T) string
	}{
		{name: "unix", network: "unix", address: func(t *testing.T) string { return filepath.Join(t.TempDir(), "dnstap.sock") }},
		{name: "tcp", network: "tcp", address: func(*testing.T) string { return "127.0.0.1:0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Listen(tt.network, tt.address(t), Config{Sensor: "s1", SocketMode: 0o666})
			if err != nil {
				t.Fatal(err)
			}
			evs := serving(t, l)
			c := handshake(t, l)
			qf, rf := clientPair(t, "r1", client4, 1, "Example.COM", "mx.example.com", t0)
			var in []byte
			in = fsData(fsData(in, qf), rf)
			in = fsControl(in, controlStop)
			if _, err := c.Write(in); err != nil {
				t.Fatal(err)
			}
			d := <-evs
			if d.QName != "example.com" || d.QType != "MX" || !d.Matched || d.Client != client4 || d.Server != resolver ||
				d.Sensor != "s1" || d.Kind != event.KindDNS || d.ID == "" || d.Answers[0].Host != "mx.example.com" ||
				!d.QueryTime.Equal(t0) || !d.Time.Equal(t0.Add(time.Millisecond)) {
				t.Errorf("event %+v", d)
			}
			if err := d.Validate(); err != nil {
				t.Error(err)
			}
			if got, want := waitClosed(t, c), fsControl(nil, controlFinish); !bytes.Equal(got, want) {
				t.Errorf("after STOP read %x, want FINISH %x", got, want)
			}
			st := waitStats(t, l, func(s Stats) bool { return s.Active == 0 })
			if st.Conns != 1 || st.Frames != 2 || st.ControlFrames != 3 || st.Events != 1 || st.Truncated != 0 ||
				st.DNS.Matched != 1 || st.DNS.Pending != 0 {
				t.Errorf("stats %+v", st)
			}
			if tt.network == "unix" {
				fi, err := os.Stat(l.Addr().String())
				if err != nil || fi.Mode().Perm() != 0o666 {
					t.Errorf("socket mode: %v, %v", fi, err)
				}
			}
		})
	}
}

func TestListenerLimits(t *testing.T) {
	l, err := Listen("tcp", "127.0.0.1:0", Config{MaxConns: 1, MaxFrameSize: 100, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	evs := serving(t, l)
	_ = evs
	c := handshake(t, l)

	// A second connection beyond MaxConns is closed at once.
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if b := waitClosed(t, c2); len(b) != 0 {
		t.Errorf("refused connection read %x", b)
	}
	// An oversize frame ends the first.
	if _, err := c.Write(fsData(nil, make([]byte, 101))); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
	st := waitStats(t, l, func(s Stats) bool { return s.Active == 0 })
	if st.Refused != 1 || st.Oversize != 1 || st.Conns != 1 {
		t.Errorf("stats %+v", st)
	}

	// A silent connection is closed by IdleTimeout.
	c3, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	waitClosed(t, c3)
	st = waitStats(t, l, func(s Stats) bool { return s.Active == 0 && s.Conns == 2 })
	if st.IdleTimeouts != 1 {
		t.Errorf("stats %+v", st)
	}

	// A garbage stream is a protocol error; one cut short is truncated.
	for _, in := range [][]byte{[]byte("GET / HTTP/1.0\r\n\r\n"), {0, 0}} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
		waitClosed(t, c)
		c.Close()
	}
	st = waitStats(t, l, func(s Stats) bool { return s.Active == 0 && s.Conns == 4 })
	if st.ProtocolErrors != 1 || st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestServeStopsConnections(t *testing.T) {
	l, err := Listen("unix", filepath.Join(t.TempDir(), "s"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, func(*event.DNS) {}) }()
	c := handshake(t, l)
	qf, _ := clientPair(t, "r1", client4, 1, "example.com", "mx.example.com", t0)
	if _, err := c.Write(fsData(nil, qf)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, l, func(s Stats) bool { return s.Frames == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	waitClosed(t, c)
	st := l.Stats()
	if st.Active != 0 || st.Truncated != 0 || st.DNS.Unanswered != 1 || st.DNS.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := l.Serve(context.Background(), func(*event.DNS) {}); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve: %v, want %v", err, ErrServing)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // leaves the socket file behind
	busy := filepath.Join(dir, "busy.sock")
	other, err := net.Listen("unix", busy)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { // accept the liveness probe
		defer wg.Done()
		if c, err := other.Accept(); err == nil {
			c.Close()
		}
	}()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, network, address string
		wantErr                error
	}{
		{name: "stale socket removed", network: "unix", address: stale},
		{name: "fresh path", network: "unix", address: filepath.Join(dir, "new.sock")},
		{name: "tcp", network: "tcp", address: "127.0.0.1:0"},
		{name: "socket in use", network: "unix", address: busy, wantErr: ErrInUse},
		{name: "regular file kept", network: "unix", address: file, wantErr: ErrNotSocket},
		{name: "udp", network: "udp", address: "127.0.0.1:0", wantErr: ErrNetwork},
		{name: "bad config", network: "tcp", address: "127.0.0.1:0", wantErr: ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}
			if tt.wantErr == ErrConfig {
				cfg.MaxConns = -1
			}
			l, err := Listen(tt.network, tt.address, cfg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Listen: %v, want %v", err, tt.wantErr)
				}
				if !bytes.Contains([]byte(err.Error()), []byte(tt.address)) {
					t.Errorf("error %q does not name the address", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			l.Close()
		})
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("regular file: %v", err)
	}
}
