package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mxwatch/mxwatch/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	st := NewStages()
	n := uint64(0)
	st.Add(func() []event.Counter {
		n++
		return []event.Counter{{Stage: "read", Name: "packets", Count: 10 * n, Bytes: 1500 * n}, {Stage: "tcp", Name: "evicted", Count: 2, Drop: true}}
	})
	st.Add(func() []event.Counter { return []event.Counter{{Stage: "read", Name: "packets", Count: 5}} })
	var notReady error = errors.New("no packets yet")
	s := New(Config{Listen: "127.0.0.1:0", BearerToken: "s3cret"}, st, func() error { return notReady }, nil)
	s.GaugeFunc("mxwatch_test_lag", "test gauge", func() float64 { return 42 })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr()

	tests := []struct {
		name, path, token string
		code              int
		want              []string
	}{
		{name: "metrics need the token", path: "/metrics", code: 401},
		{name: "wrong token", path: "/metrics", token: "nope", code: 401},
		{name: "metrics", path: "/metrics", token: "s3cret", code: 200, want: []string{
			`mxwatch_stage_events_total{drop="false",name="packets",stage="read"} 15`,
			`mxwatch_stage_bytes_total{drop="false",name="packets",stage="read"} 1500`,
			`mxwatch_stage_events_total{drop="true",name="evicted",stage="tcp"} 2`,
			`mxwatch_test_lag 42`, `go_goroutines`, `process_resident_memory_bytes`}},
		{name: "healthz open", path: "/healthz", code: 200, want: []string{"ok"}},
		{name: "readyz not ready", path: "/readyz", code: 503, want: []string{"no packets yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, base+tt.path, tt.token)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
		})
	}
	notReady = nil
	if code, _ := get(t, base+"/readyz", ""); code != 200 {
		t.Errorf("readyz %d after ready", code)
	}
	// Counters are read at scrape time.
	_, body := get(t, base+"/metrics", "s3cret")
	if !strings.Contains(body, `mxwatch_stage_events_total{drop="false",name="packets",stage="read"} 25`) {
		t.Errorf("second scrape did not call the source again")
	}
}

func TestDisabled(t *testing.T) {
	s := New(Config{}, nil, nil, nil)
	if err := s.Start(); err != nil || s.Addr() != "" {
		t.Fatalf("disabled server: %v %q", err, s.Addr())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestListenError(t *testing.T) {
	s := New(Config{Listen: "256.0.0.1:1"}, nil, nil, nil)
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Fatalf("Start = %v", err)
	}
}
