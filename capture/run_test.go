package capture_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

// readerSource adapts a pcapfile.Reader to capture.Source.
type readerSource struct{ r *pcapfile.Reader }

func (s readerSource) Next() (capture.Frame, error) {
	p, err := s.r.Next()
	return capture.Frame{Link: p.LinkType, Data: p.Data, Time: p.Time}, err
}

// TestRunEqualsPacket checks that the two-goroutine Run gives exactly the
// events and counters of feeding Packet frame by frame.
func TestRunEqualsPacket(t *testing.T) {
	defer goleak.VerifyNone(t)
	var buf bytes.Buffer
	opt := pcapgen.MixOptions{Size: 6 << 20}
	opt.Seed = 3
	if _, err := pcapgen.Mix(&buf, opt); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	run := func(useRun bool) ([]byte, capture.Stats) {
		r, err := pcapfile.NewReader("mix", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var evs []event.Event
		e, err := capture.NewEngine(capture.DefaultConfig(), func(ev event.Event) { evs = append(evs, ev) })
		if err != nil {
			t.Fatal(err)
		}
		if useRun {
			if err := e.Run(t.Context(), readerSource{r}); err != nil {
				t.Fatal(err)
			}
		} else {
			for {
				p, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				e.Packet(p.LinkType, p.Data, p.Time)
			}
		}
		e.Close()
		return jsonl(t, evs), e.Stats()
	}
	evPacket, stPacket := run(false)
	evRun, stRun := run(true)
	if !bytes.Equal(evPacket, evRun) {
		t.Errorf("events differ:\n%s", firstDiff(evPacket, evRun))
	}
	if stPacket.Packets != stRun.Packets || stPacket.Verdicts != stRun.Verdicts || stPacket.TCP != stRun.TCP || stPacket.Sessions != stRun.Sessions {
		t.Errorf("stats differ:\npacket %+v\nrun    %+v", stPacket, stRun)
	}
	if stRun.Sessions == 0 || stRun.DNSAnswers == 0 {
		t.Errorf("the mix produced %d sessions and %d dns answers", stRun.Sessions, stRun.DNSAnswers)
	}
}

// errSource fails after n frames.
type errSource struct {
	n   int
	err error
}

func (s *errSource) Next() (capture.Frame, error) {
	if s.n == 0 {
		return capture.Frame{}, s.err
	}
	s.n--
	return capture.Frame{Link: capture.LinkEthernet, Data: make([]byte, 60)}, nil
}

func TestRunStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	boom := errors.New("boom")
	e, err := capture.NewEngine(capture.DefaultConfig(), func(event.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(t.Context(), &errSource{n: 10000, err: boom}); !errors.Is(err, boom) {
		t.Errorf("source error: got %v", err)
	}
	if got := e.Stats().Packets; got != 10000 {
		t.Errorf("counted %d packets before the error, want 10000", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e, _ = capture.NewEngine(capture.DefaultConfig(), func(event.Event) {})
	if err := e.Run(ctx, &errSource{n: 1 << 30, err: io.EOF}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// idleSource plays a capture up to a point, then reports ErrIdle until
// released, like a live source on a quiet link.
type idleSource struct {
	r       *pcapfile.Reader
	stopAt  int
	n       int
	idle    chan struct{} // closed on the first ErrIdle
	release chan struct{}
	once    bool
}

func (s *idleSource) Next() (capture.Frame, error) {
	if s.n == s.stopAt {
		if !s.once {
			s.once = true
			close(s.idle)
		}
		select {
		case <-s.release:
			return capture.Frame{}, io.EOF
		default:
			return capture.Frame{}, capture.ErrIdle
		}
	}
	s.n++
	p, err := s.r.Next()
	return capture.Frame{Link: p.LinkType, Data: p.Data, Time: p.Time}, err
}

// TestRunFlushesWhenIdle: events of the packets read before a quiet spell
// come out during the spell, not only when the batch fills or the source
// ends; and Snapshot reports the counters while Run runs.
func TestRunFlushesWhenIdle(t *testing.T) {
	defer goleak.VerifyNone(t)
	var buf bytes.Buffer
	sc, _ := pcapgen.Lookup("smtp-basic")
	if err := pcapgen.WriteScenario(&buf, sc); err != nil {
		t.Fatal(err)
	}
	r, err := pcapfile.NewReader("basic", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan event.Event, 100)
	e, err := capture.NewEngine(capture.DefaultConfig(), func(ev event.Event) { got <- ev })
	if err != nil {
		t.Fatal(err)
	}
	src := &idleSource{r: r, stopAt: 1 << 30, idle: make(chan struct{}), release: make(chan struct{})}
	// Count the frames, then replay them all and go idle.
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		src.stopAt++
	}
	src.stopAt -= 1 << 30
	r, _ = pcapfile.NewReader("basic", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	src.r = r
	done := make(chan error, 1)
	go func() { done <- e.Run(t.Context(), src) }()
	<-src.idle
	// The session of smtp-basic ends with FIN: its session event must
	// arrive while the source is still idle (far fewer than a batch of
	// packets were read).
	var sawSession bool
	for !sawSession {
		select {
		case ev := <-got:
			sawSession = ev.EventKind() == event.KindSession
		case err := <-done:
			t.Fatalf("Run ended while idle: %v", err)
		case <-t.Context().Done():
			t.Fatal("no session event while the source was idle")
		}
	}
	for e.Snapshot().Packets != uint64(src.stopAt) {
		select {
		case <-t.Context().Done():
			t.Fatalf("Snapshot says %d packets, want %d", e.Snapshot().Packets, src.stopAt)
		case <-time.After(time.Millisecond):
		}
	}
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.Close()
}

// clockSource is an idleSource whose idle time is a wall clock far past
// its last packet.
type clockSource struct {
	*idleSource
	now time.Time
}

func (c *clockSource) IdleNow() time.Time { return c.now }

// TestRunIdleClockExpires: a live source that is idle advances packet time
// to its clock (capture.IdleClock), so an unanswered SYN of a quiet link
// becomes a session event during the quiet spell; without the clock it
// waits for the end of the source.
func TestRunIdleClockExpires(t *testing.T) {
	defer goleak.VerifyNone(t)
	var buf bytes.Buffer
	sc, _ := pcapgen.Lookup("class-direct-25")
	if err := pcapgen.WriteScenario(&buf, sc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		clock     bool
		wantEarly bool
	}{
		{"idle clock", true, true},
		{"no clock", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := pcapfile.NewReader("d25", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			var last time.Time
			n := 0
			for {
				p, err := r.Next()
				if err != nil {
					break
				}
				last, n = p.Time, n+1
			}
			r, _ = pcapfile.NewReader("d25", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			got := make(chan *event.Session, 10)
			e, err := capture.NewEngine(capture.DefaultConfig(), func(ev event.Event) {
				if s, ok := ev.(*event.Session); ok {
					got <- s
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			idle := &idleSource{r: r, stopAt: n, idle: make(chan struct{}), release: make(chan struct{})}
			var src capture.Source = idle
			if tc.clock {
				src = &clockSource{idleSource: idle, now: last.Add(2 * capture.DefaultConfig().TCP.HandshakeTimeout)}
			}
			done := make(chan error, 1)
			go func() { done <- e.Run(t.Context(), src) }()
			<-idle.idle
			unanswered := func() bool {
				for {
					select {
					case s := <-got:
						if s.Handshake == event.HandshakeNoAnswer {
							return true
						}
					case <-time.After(300 * time.Millisecond): // many ErrIdle rounds
						return false
					}
				}
			}
			if early := unanswered(); early != tc.wantEarly {
				t.Errorf("unanswered connect reported while idle: %v, want %v", early, tc.wantEarly)
			}
			close(idle.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			e.Close()
			if !tc.wantEarly && !unanswered() {
				t.Error("unanswered connect never reported")
			}
		})
	}
}
