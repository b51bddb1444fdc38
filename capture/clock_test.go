package capture_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

// TestClockJumps pins what a capture whose timestamps jump does (a sensor
// clock stepped by NTP, captures of several machines concatenated):
//
//   - backwards: the older packets are processed as they come and counted
//     (read/time_backwards); expiry follows the newest time, so nothing
//     closes early and the events are those of the unshifted capture;
//   - forwards: the jump is packet time passing, so connections open at
//     the jump go idle and are closed (close "idle"); what follows them
//     becomes sessions of their own, started mid-stream.
func TestClockJumps(t *testing.T) {
	var buf bytes.Buffer
	sc, _ := pcapgen.Lookup("classes")
	if err := pcapgen.WriteScenario(&buf, sc); err != nil {
		t.Fatal(err)
	}
	type frame struct {
		link uint32
		data []byte
		ts   time.Time
	}
	var frames []frame
	r, err := pcapfile.NewReader("classes", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, frame{p.LinkType, append([]byte(nil), p.Data...), p.Time})
	}
	run := func(shift time.Duration) (map[event.CloseReason]int, int, capture.Stats) {
		closes, sessions := map[event.CloseReason]int{}, 0
		e, err := capture.NewEngine(capture.DefaultConfig(), func(ev event.Event) {
			if s, ok := ev.(*event.Session); ok {
				sessions++
				closes[s.Close]++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range frames {
			ts := f.ts
			if i >= len(frames)/2 {
				ts = ts.Add(shift)
			}
			e.Packet(f.link, f.data, ts)
		}
		e.Close()
		return closes, sessions, e.Stats()
	}
	baseCloses, baseSessions, _ := run(0)
	tests := []struct {
		name  string
		shift time.Duration
		check func(t *testing.T, closes map[event.CloseReason]int, sessions int, st capture.Stats)
	}{
		{name: "backwards one hour", shift: -time.Hour, check: func(t *testing.T, closes map[event.CloseReason]int, sessions int, st capture.Stats) {
			if want := uint64(len(frames) - len(frames)/2); st.TimeBackwards != want {
				t.Errorf("time_backwards %d, want %d (every shifted packet)", st.TimeBackwards, want)
			}
			if sessions != baseSessions || closes[event.CloseIdle] != baseCloses[event.CloseIdle] {
				t.Errorf("sessions %d %v, unshifted %d %v", sessions, closes, baseSessions, baseCloses)
			}
		}},
		{name: "forwards one day", shift: 24 * time.Hour, check: func(t *testing.T, closes map[event.CloseReason]int, sessions int, st capture.Stats) {
			if st.TimeBackwards != 0 {
				t.Errorf("time_backwards %d on a forward jump", st.TimeBackwards)
			}
			if closes[event.CloseIdle] <= baseCloses[event.CloseIdle] || sessions <= baseSessions {
				t.Errorf("open connections were not closed at the jump: %d sessions %v, unshifted %d %v", sessions, closes, baseSessions, baseCloses)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closes, sessions, st := run(tt.shift)
			tt.check(t, closes, sessions, st)
			t.Logf("%d sessions, closes %v, time_backwards %d (unshifted: %d sessions, %v)", sessions, closes, st.TimeBackwards, baseSessions, baseCloses)
		})
	}
}
