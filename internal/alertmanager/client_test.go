package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// recorder is an httptest handler that answers with a scripted sequence of
// statuses (the last one repeats) and records the alerts of each request.
type recorder struct {
	t        *testing.T
	statuses []int
	body     string

	mu       sync.Mutex
	requests [][]postableAlert
	auth     []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" {
		r.t.Errorf("request %s %s, want POST /api/v2/alerts", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q", ct)
	}
	var alerts []postableAlert
	if err := json.NewDecoder(req.Body).Decode(&alerts); err != nil {
		r.t.Errorf("decoding request body: %v", err)
	}
	r.mu.Lock()
	n := len(r.requests)
	r.requests = append(r.requests, alerts)
	user, pass, _ := req.BasicAuth()
	r.auth = append(r.auth, user+":"+pass)
	r.mu.Unlock()
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status = r.statuses[min(n, len(r.statuses)-1)]
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, r.body)
}

// alerts returns the mxwatch_id of every alert received, in order, and the
// number of requests.
func (r *recorder) alerts() (ids []string, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, req := range r.requests {
		for _, a := range req {
			ids = append(ids, a.Annotations["mxwatch_id"])
		}
	}
	return ids, len(r.requests)
}

// newTestClient returns a Client for url with fast retries and a fixed
// clock.
func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	c.backoffBase, c.backoffMax = time.Millisecond, 4*time.Millisecond
	c.now = func() time.Time { return sendTime }
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestPostStatuses(t *testing.T) {
	tests := []struct {
		name         string
		retries      int
		statuses     []int
		body         string
		wantAttempts int
		wantErr      []string // substrings of the error; nil: success
		wantStatus   int      // of the wrapped *StatusError
	}{
		{name: "ok", statuses: []int{200}, wantAttempts: 1},
		{name: "500 then success", retries: 3, statuses: []int{500, 500, 200}, wantAttempts: 3},
		{name: "429 retried", retries: 1, statuses: []int{429, 200}, wantAttempts: 2},
		{
			name: "5xx until retries run out", retries: 2, statuses: []int{503}, body: "overloaded",
			wantAttempts: 3, wantErr: []string{"attempt 3 of 3", "503 Service Unavailable", "overloaded"}, wantStatus: 503,
		},
		{
			name: "400 not retried", retries: 3, statuses: []int{400}, body: `"start time must be before end time"` + "\n",
			wantAttempts: 1, wantErr: []string{"attempt 1 of 4", "HTTP 400 Bad Request", "start time must be before end time", "/api/v2/alerts", "2 alerts"}, wantStatus: 400,
		},
		{
			name: "404 not retried", retries: 3, statuses: []int{404},
			wantAttempts: 1, wantErr: []string{"HTTP 404 Not Found"}, wantStatus: 404,
		},
		{
			name: "no retries when disabled", retries: -1, statuses: []int{500, 200},
			wantAttempts: 1, wantErr: []string{"attempt 1 of 1", "500"}, wantStatus: 500,
		},
		{
			name: "huge error body cut", statuses: []int{400}, body: strings.Repeat("x", 100000),
			wantAttempts: 1, wantErr: []string{strings.Repeat("x", maxSnippet-len(ellipsis)) + ellipsis}, wantStatus: 400,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{t: t, statuses: tt.statuses, body: tt.body}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c := newTestClient(t, Config{URL: srv.URL, Retries: tt.retries})

			res, err := c.post(t.Context(), []*event.Alert{spikeAlert(), nil, rejectionsAlert()})
			if res.attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", res.attempts, tt.wantAttempts)
			}
			if _, n := rec.alerts(); n != tt.wantAttempts {
				t.Errorf("server saw %d requests, want %d", n, tt.wantAttempts)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("post: %v", err)
				}
				ids, _ := rec.alerts()
				if got := ids[len(ids)-2:]; got[0] != "alert-0001" || got[1] != "alert-0002" {
					t.Errorf("last request had alerts %v", got)
				}
				return
			}
			if err == nil {
				t.Fatal("post succeeded, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.wantStatus {
				t.Errorf("error %v: want a *StatusError with code %d", err, tt.wantStatus)
			}
			if se != nil && len(se.Body) > maxSnippet {
				t.Errorf("StatusError.Body has %d bytes, more than %d", len(se.Body), maxSnippet)
			}
		})
	}
}

func TestPostTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client going away
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newTestClient(t, Config{URL: srv.URL, Timeout: 50 * time.Millisecond, Retries: 1})

	res, err := c.post(t.Context(), []*event.Alert{spikeAlert()})
	if err == nil {
		t.Fatal("post succeeded against a server that never answers")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 50ms") {
		t.Errorf("error %q: want a timeout naming the limit", err)
	}
	if res.attempts != 2 {
		t.Errorf("attempts = %d, want 2 (timeouts are retried)", res.attempts)
	}
}

func TestPostConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, Config{URL: "http://" + addr, Retries: 2})

	res, err := c.post(t.Context(), []*event.Alert{spikeAlert()})
	if err == nil {
		t.Fatal("post to a closed port succeeded")
	}
	var se *StatusError
	if errors.As(err, &se) {
		t.Errorf("error %v wraps a StatusError, want a network error", err)
	}
	if res.attempts != 3 || !strings.Contains(err.Error(), "attempt 3 of 3") {
		t.Errorf("attempts = %d, error %q: want 3 attempts", res.attempts, err)
	}
}

func TestPostCanceledWhileWaitingToRetry(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel() // the caller gives up while the client waits to retry
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	c := newTestClient(t, Config{URL: srv.URL, Retries: 5})
	c.backoffBase, c.backoffMax = time.Hour, time.Hour

	res, err := c.post(ctx, []*event.Alert{spikeAlert()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if res.attempts != 1 {
		t.Errorf("attempts = %d, want 1", res.attempts)
	}
}

func TestPostNothing(t *testing.T) {
	rec := &recorder{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, Config{URL: srv.URL})
	tests := []struct {
		name   string
		alerts []*event.Alert
	}{
		{"nil", nil},
		{"only nil alerts", []*event.Alert{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Post(t.Context(), tt.alerts); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, n := rec.alerts(); n != 0 {
		t.Errorf("server saw %d requests, want none", n)
	}
}

func TestPostBasicAuthRedacted(t *testing.T) {
	rec := &recorder{t: t, statuses: []int{500}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, Config{URL: strings.Replace(srv.URL, "://", "://mx:s3cret@", 1), Retries: -1})

	err := c.Post(t.Context(), []*event.Alert{spikeAlert()})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: want an error without the password", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.auth) != 1 || rec.auth[0] != "mx:s3cret" {
		t.Errorf("server saw basic auth %q, want mx:s3cret", rec.auth)
	}
}

func TestPostEndsAtFromClock(t *testing.T) {
	rec := &recorder{t: t}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	c := newTestClient(t, Config{URL: srv.URL, Hold: time.Hour})
	c.now = func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

	if err := c.Post(t.Context(), []*event.Alert{spikeAlert()}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.requests[0][0].EndsAt; got != "2030-01-02T04:04:05Z" {
		t.Errorf("endsAt = %s, want the clock plus Hold", got)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		name  string
		retry int
		want  time.Duration
	}{
		{"first", 0, 200 * time.Millisecond},
		{"second", 1, 400 * time.Millisecond},
		{"third", 2, 800 * time.Millisecond},
		{"fifth", 4, 3200 * time.Millisecond},
		{"capped", 5, 5 * time.Second},
		{"far", 1000, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff(backoffBase, backoffMax, tt.retry); got != tt.want {
				t.Errorf("backoff(%d) = %v, want %v", tt.retry, got, tt.want)
			}
		})
	}
}
