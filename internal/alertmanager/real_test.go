package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// amConfig routes every alert to a receiver without notification configs:
// Alertmanager accepts, groups and shows alerts but sends nothing anywhere.
const amConfig = `route:
  receiver: blackhole
  group_by: [alertname]
receivers:
  - name: blackhole
`

// gettableAlert is the part of Alertmanager's GET /api/v2/alerts answer
// the test reads.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// startAlertmanager runs the Debian Alertmanager on a free loopback port
// and returns its base URL; t.Cleanup stops it.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin = "/usr/bin/prometheus-alertmanager"
		if _, serr := os.Stat(bin); serr != nil {
			t.Skip("no Alertmanager binary (prometheus-alertmanager in PATH or /usr/bin): install prometheus-alertmanager (apt) to run")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(amConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file, not a buffer: the child writes it directly, with no copying
	// goroutine to race with reading it on failure.
	logPath := filepath.Join(dir, "stderr.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	stderr := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}

	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://" + addr
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("%s exited before it was ready (%v); stderr:\n%s", bin, err, stderr())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s after 20s; stderr:\n%s", bin, addr, stderr())
		}
	}
}

func TestRealAlertmanager(t *testing.T) {
	base := startAlertmanager(t)

	spike := spikeAlert()
	rejections := rejectionsAlert()
	rejections.Sensor = "span-fra1"
	rejections.Summary = "cust-0815: 17 Ablehnungen – Blocklist ✗"
	before := time.Now()
	c, err := NewClient(Config{URL: base, Labels: map[string]string{"env": "test"}, GeneratorURL: "http://127.0.0.1/d/mxwatch"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if err := c.Post(t.Context(), []*event.Alert{spike, rejections}); err != nil {
		t.Fatalf("Post to the real Alertmanager: %v", err)
	}

	// A bad alert is refused with a clear error: no retries for a 400.
	bad := rejectionsAlert()
	body, err := Payload([]*event.Alert{bad}, c.Config(), before)
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	raw[0]["endsAt"] = "2000-01-01T00:00:00Z" // before startsAt
	if err := checkRefused(t, base, raw); err != nil {
		t.Error(err)
	}

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s", resp.Status)
	}
	var got []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decoding GET /api/v2/alerts: %v", err)
	}
	byID := make(map[string]gettableAlert)
	for _, a := range got {
		byID[a.Annotations["mxwatch_id"]] = a
	}
	if len(got) != 2 {
		t.Errorf("Alertmanager holds %d alerts, want 2: %+v", len(got), got)
	}

	tests := []struct {
		name        string
		alert       *event.Alert
		labels      map[string]string
		annotations []string
	}{
		{
			name:  "spike",
			alert: spike,
			labels: map[string]string{
				"alertname": "MxwatchSpike", "source": "192.0.2.10", "group": "gmail",
				"severity": "critical", "customer": "cust-4711", "host": "192.0.2.10",
				"scope": "host", "metric": "messages", "rule": "spike", "sensor": "span-fra1", "env": "test",
			},
			annotations: []string{"summary", "description", "top_scripts", "top_domains", "mxwatch_id"},
		},
		{
			name:  "rejections",
			alert: rejections,
			labels: map[string]string{
				"alertname": "MxwatchBlocklistRejections", "source": "cust-0815", "group": "microsoft",
				"severity": "warning", "customer": "cust-0815", "scope": "customer",
				"metric": "rejections", "rule": "rejections", "sensor": "span-fra1", "env": "test",
			},
			annotations: []string{"summary", "description", "top_rejections", "mxwatch_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := byID[tt.alert.ID]
			if !ok {
				t.Fatalf("alert %s not in Alertmanager's list %+v", tt.alert.ID, got)
			}
			if len(a.Labels) != len(tt.labels) {
				t.Errorf("labels %v, want %v", a.Labels, tt.labels)
			}
			for k, v := range tt.labels {
				if a.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
				}
			}
			if len(a.Annotations) != len(tt.annotations) {
				t.Errorf("annotations %v, want the keys %v", a.Annotations, tt.annotations)
			}
			if a.Annotations["summary"] != tt.alert.Summary {
				t.Errorf("summary = %q, want %q", a.Annotations["summary"], tt.alert.Summary)
			}
			if !a.StartsAt.Equal(tt.alert.WindowStart) {
				t.Errorf("startsAt = %v, want the window start %v", a.StartsAt, tt.alert.WindowStart)
			}
			// Alertmanager keeps milliseconds; the alert must stay active
			// for Hold after it was sent.
			if min := before.Add(DefaultHold).Truncate(time.Millisecond); a.EndsAt.Before(min) {
				t.Errorf("endsAt = %v, want at least %v", a.EndsAt, min)
			}
		})
	}
}

// checkRefused posts a hand-made body and expects the Client's handling
// of Alertmanager's 400: a StatusError with its message, one attempt.
func checkRefused(t *testing.T, base string, raw []map[string]any) error {
	t.Helper()
	body, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	c, err := NewClient(Config{URL: base})
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	err = c.do(t.Context(), body)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.Temporary() {
		return fmt.Errorf("posting an alert that ends before it starts: %v, want a 400 StatusError", err)
	}
	if want := "start time must be before end time"; !strings.Contains(strings.ToLower(se.Body), want) {
		return fmt.Errorf("400 body %q does not say %q", se.Body, want)
	}
	t.Logf("Alertmanager refused the bad alert: %v (status %s)", err, strconv.Quote(se.Status))
	return nil
}
