package alertmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

// numbered returns n spike alerts with IDs a0, a1, ...
func numbered(n int) []*event.Alert {
	out := make([]*event.Alert, n)
	for i := range out {
		a := spikeAlert()
		a.ID = fmt.Sprintf("a%d", i)
		out[i] = a
	}
	return out
}

func ids(alerts []*event.Alert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.ID
	}
	return out
}

func TestSenderQueueFull(t *testing.T) {
	rec := &recorder{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := NewSender(newTestClient(t, Config{URL: srv.URL, QueueSize: 2}), nil)

	var got []bool
	for _, a := range numbered(3) {
		got = append(got, s.Send(a))
	}
	if want := []bool{true, true, false}; !slices.Equal(got, want) {
		t.Errorf("Send = %v, want %v", got, want)
	}
	if st := s.Stats(); st != (Stats{Queued: 2, Dropped: 1}) {
		t.Errorf("Stats before Close = %+v", st)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st != (Stats{Queued: 2, Sent: 2, Dropped: 1}) {
		t.Errorf("Stats after Close = %+v", st)
	}
	if got, _ := rec.alerts(); !slices.Equal(got, []string{"a0", "a1"}) {
		t.Errorf("server got %v, want [a0 a1]", got)
	}
}

func TestSenderDelivers(t *testing.T) {
	tests := []struct {
		name      string
		n, batch  int
		cancelRun bool // end Start's context before sending
	}{
		{name: "one batch", n: 3, batch: 64},
		{name: "several batches", n: 10, batch: 3},
		{name: "start context ended, Close flushes", n: 5, batch: 2, cancelRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{t: t}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s := NewSender(newTestClient(t, Config{URL: srv.URL, BatchSize: tt.batch}), nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s.Start(ctx)
			s.Start(ctx) // no second goroutine (goleak would see it)
			if tt.cancelRun {
				cancel()
			}
			alerts := numbered(tt.n)
			for _, a := range alerts {
				if !s.Send(a) {
					t.Fatalf("Send(%s) = false", a.ID)
				}
			}
			if err := s.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, _ := rec.alerts()
			slices.Sort(got)
			want := ids(alerts)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("server got %v, want %v", got, want)
			}
			rec.mu.Lock()
			for i, req := range rec.requests {
				if len(req) > tt.batch {
					t.Errorf("request %d has %d alerts, more than the batch size %d", i, len(req), tt.batch)
				}
			}
			rec.mu.Unlock()
			if st := s.Stats(); st != (Stats{Queued: uint64(tt.n), Sent: uint64(tt.n)}) {
				t.Errorf("Stats = %+v", st)
			}
			if s.Send(spikeAlert()) {
				t.Error("Send after Close = true")
			}
			if st := s.Stats(); st.Dropped != 1 {
				t.Errorf("Dropped after a Send on a closed Sender = %d, want 1", st.Dropped)
			}
			if err := s.Close(t.Context()); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestSenderCloseBoundedByContext(t *testing.T) {
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client going away
		select {
		case got <- struct{}{}:
		default:
		}
		select { // answers only when the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	s := NewSender(newTestClient(t, Config{URL: srv.URL}), nil)
	s.Start(t.Context())

	alerts := numbered(3)
	s.Send(alerts[0])
	<-got // the goroutine is posting a0 and waits for the answer
	s.Send(alerts[1])
	s.Send(alerts[2])

	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Close may not wait at all
	err := s.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "3 of 3 queued alerts not delivered") {
		t.Errorf("Close = %v, want a context.Canceled error counting 3 alerts", err)
	}
	if st := s.Stats(); st != (Stats{Queued: 3, Dropped: 3}) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestSenderFailures(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		retries   int
		wantStats Stats
		wantErr   string
	}{
		{
			name: "refused", statuses: []int{400}, retries: 3,
			wantStats: Stats{Queued: 2, Failed: 2}, wantErr: "2 of 2 queued alerts not delivered",
		},
		{
			name: "retried", statuses: []int{500, 502, 200}, retries: 3,
			wantStats: Stats{Queued: 2, Sent: 2, Retries: 2},
		},
		{
			name: "retries exhausted", statuses: []int{500}, retries: 1,
			wantStats: Stats{Queued: 2, Failed: 2, Retries: 1}, wantErr: "HTTP 500",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{t: t, statuses: tt.statuses}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			s := NewSender(newTestClient(t, Config{URL: srv.URL, Retries: tt.retries}), nil)
			for _, a := range numbered(2) {
				s.Send(a)
			}
			err := s.Close(t.Context()) // not started: Close posts, so the outcome is its
			if tt.wantErr == "" && err != nil {
				t.Errorf("Close: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Close = %v, want an error containing %q", err, tt.wantErr)
			}
			if st := s.Stats(); st != tt.wantStats {
				t.Errorf("Stats = %+v, want %+v", st, tt.wantStats)
			}
		})
	}
}

func TestSenderLogsDrops(t *testing.T) {
	got := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(got)
			<-release
		}
	}))
	defer srv.Close()
	var logs bytes.Buffer
	s := NewSender(newTestClient(t, Config{URL: srv.URL, QueueSize: 1}), slog.New(slog.NewTextHandler(&logs, nil)))
	s.Start(t.Context())

	alerts := numbered(4)
	s.Send(alerts[0])
	<-got // a0 is being posted, the queue is empty
	sent := []bool{s.Send(alerts[1]), s.Send(alerts[2]), s.Send(alerts[3])}
	close(release)
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !slices.Equal(sent, []bool{true, false, false}) {
		t.Errorf("Send = %v, want [true false false]", sent)
	}
	if st := s.Stats(); st != (Stats{Queued: 2, Sent: 2, Dropped: 2}) {
		t.Errorf("Stats = %+v", st)
	}
	out := logs.String()
	if !strings.Contains(out, "alerts dropped") || !strings.Contains(out, "dropped=2") || !strings.Contains(out, "component=alertmanager") {
		t.Errorf("log %q: want a warning about 2 dropped alerts", out)
	}
}

func TestSenderWithoutClient(t *testing.T) {
	s := NewSender(nil, nil)
	if !s.Send(spikeAlert()) || s.Send(nil) {
		t.Fatal("Send: want true for an alert, false for nil")
	}
	err := s.Close(t.Context())
	if !errors.Is(err, errNoClient) {
		t.Errorf("Close = %v, want errNoClient", err)
	}
	if st := s.Stats(); st != (Stats{Queued: 1, Failed: 1, Dropped: 1}) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestSenderConcurrent(t *testing.T) {
	rec := &recorder{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := NewSender(newTestClient(t, Config{URL: srv.URL, QueueSize: 16, BatchSize: 4}), nil)
	s.Start(t.Context())

	const senders, each = 8, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a := spikeAlert()
				a.ID = fmt.Sprintf("g%d-%d", g, i)
				s.Send(a)
				_ = s.Stats()
			}
		}()
	}
	wg.Wait()
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	if st.Queued+st.Dropped != senders*each || st.Sent != st.Queued || st.Failed != 0 {
		t.Errorf("Stats = %+v: want Queued+Dropped = %d and all queued sent", st, senders*each)
	}
	if got, _ := rec.alerts(); uint64(len(got)) != st.Sent {
		t.Errorf("server got %d alerts, Stats.Sent = %d", len(got), st.Sent)
	}
}
