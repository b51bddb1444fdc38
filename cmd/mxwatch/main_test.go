package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

const demo = "../../testdata/direct-to-mx.pcap"

// mxwatch runs the command line in-process and returns exit code, stdout
// and stderr.
func mxwatch(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAnalyzeDemo(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events.jsonl")
	code, out, errs := mxwatch(t, "analyze", "--sensor", "test", "--events", events, demo)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	for _, want := range []string{"SMTP sessions: 3", "Messages: 3 (accepted 3)", "10.20.1.5", "gmail.com -> gmail-smtp-in.l.google.com", "MX lookups: 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	kinds := map[string]int{}
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Kind   string `json:"kind"`
			Sensor string `json:"sensor"`
			V      int    `json:"v"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Sensor != "test" || ev.V != 1 {
			t.Errorf("event %s: sensor %q v %d", ev.Kind, ev.Sensor, ev.V)
		}
		kinds[ev.Kind]++
	}
	if kinds["session"] != 3 || kinds["message"] != 3 || kinds["dns"] != 5 {
		t.Errorf("events by kind %v, want 3 sessions, 3 messages, 5 dns", kinds)
	}
}

func TestAnalyzeEventsToStdout(t *testing.T) {
	code, out, errs := mxwatch(t, "analyze", "--events", "-", "--format", "json", demo)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// 11 capture events and 3 findings.
	if n := strings.Count(out, "\n"); n != 14 {
		t.Errorf("%d lines on stdout, want the 14 events", n)
	}
	if n := strings.Count(out, `"kind":"finding"`); n != 3 {
		t.Errorf("%d findings, want 3", n)
	}
	var s struct {
		Summary struct{ Sessions int }
		Report  struct {
			Impact struct{ Hosts int }
		}
	}
	if err := json.Unmarshal([]byte(errs[:strings.LastIndex(errs, "}")+1]), &s); err != nil || s.Summary.Sessions != 3 || s.Report.Impact.Hosts != 1 {
		t.Errorf("JSON report on stderr: %v %+v\n%s", err, s, errs)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(truncated, data[:len(data)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	notCapture := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCapture, []byte("hello, this is not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("capture:\n  mail_prots: [25]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		stderr  []string
		summary bool
	}{
		{name: "truncated capture", args: []string{"analyze", truncated}, code: exitFailure,
			stderr: []string{"cut.pcap", "truncated", "packet", "offset"}, summary: true},
		{name: "not a capture", args: []string{"analyze", notCapture}, code: exitFailure,
			stderr: []string{"notes.txt: not a pcap or pcapng file"}},
		{name: "missing file", args: []string{"analyze", filepath.Join(dir, "nope.pcap")}, code: exitFailure,
			stderr: []string{"nope.pcap"}},
		{name: "no arguments", args: []string{"analyze"}, code: exitUsage, stderr: []string{"requires at least 1 arg"}},
		{name: "unknown flag", args: []string{"analyze", "--frobnicate", demo}, code: exitUsage, stderr: []string{"unknown flag"}},
		{name: "bad report format", args: []string{"analyze", "--format", "xml", demo}, code: exitUsage, stderr: []string{"--format"}},
		{name: "typo in config", args: []string{"--config", badConfig, "analyze", demo}, code: exitUsage, stderr: []string{"mail_prots"}},
		{name: "missing config", args: []string{"--config", filepath.Join(dir, "none.yaml"), "analyze", demo}, code: exitUsage, stderr: []string{"configuration file not found"}},
		{name: "stdin twice", args: []string{"analyze", "-", "-"}, code: exitUsage, stderr: []string{"only once"}},
		{name: "bad port config", args: []string{"analyze", "--mail-ports", "25,53", demo}, code: exitUsage, stderr: []string{"both a mail and a DNS port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := mxwatch(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errs)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q: %s", s, errs)
				}
			}
			if tt.summary != strings.Contains(out, "SMTP sessions:") {
				t.Errorf("summary printed: %v, want %v", !tt.summary, tt.summary)
			}
			if !tt.summary && strings.Count(strings.TrimSpace(errs), "\n") > 1 {
				t.Errorf("error is not short:\n%s", errs)
			}
		})
	}
}

// TestExampleConfig keeps the committed example true: it names every key,
// no other, and every value is the default.
func TestExampleConfig(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(exampleConfig), &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			} else {
				keys = append(keys, prefix+k)
			}
		}
	}
	walk("", doc)
	slices.Sort(keys)
	want := configKeys("", reflect.TypeFor[fileConfig]())
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("example keys\n%v\nwant\n%v", keys, want)
	}
	// Loading the example must give exactly the defaults.
	path := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(path, []byte(exampleConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := loadConfig(newViper(), path)
	if err != nil {
		t.Fatal(err)
	}
	if def := defaultFileConfig(); !reflect.DeepEqual(got, def) {
		t.Errorf("example config differs from the defaults:\n got %+v\nwant %+v", got, def)
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mxwatch.yaml")
	if err := os.WriteFile(path, []byte("capture:\n  tcp:\n    max_flows: 500\n  dns:\n    max_records: 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MXWATCH_CAPTURE_DNS_MAX_RECORDS", "9")
	t.Setenv("MXWATCH_CAPTURE_MAIL_PORTS", "25,2525")
	t.Setenv("MXWATCH_CAPTURE_TCP_IDLE_TIMEOUT", "90s")
	code, out, errs := mxwatch(t, "--config", path, "config", "show")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"max_flows: 500", "max_records: \"9\"", "idle_timeout: 90s"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	cfg, _, err := loadConfig(newViper(), path)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.captureConfig()
	if c.TCP.MaxFlows != 500 || c.DNS.MaxRecords != 9 || !slices.Equal(c.MailPorts, []uint16{25, 2525}) || c.TCP.IdleTimeout.Seconds() != 90 {
		t.Errorf("file, then environment: max_flows %d, max_records %d, ports %v, idle %v", c.TCP.MaxFlows, c.DNS.MaxRecords, c.MailPorts, c.TCP.IdleTimeout)
	}
}

// TestHelp checks that every command explains itself with an example.
func TestHelp(t *testing.T) {
	a := &app{v: newViper()}
	root := a.rootCommand()
	var cmds [][]string
	var visit func(prefix []string, c *cobra.Command)
	visit = func(prefix []string, c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := append(slices.Clone(prefix), sub.Name())
			if sub.Runnable() {
				cmds = append(cmds, p)
				if sub.Example == "" {
					t.Errorf("%s has no example", strings.Join(p, " "))
				}
			}
			visit(p, sub)
		}
	}
	visit(nil, root)
	if len(cmds) < 4 {
		t.Fatalf("found only %v", cmds)
	}
	for _, c := range append(cmds, []string{}) {
		code, out, _ := mxwatch(t, append(c, "--help")...)
		if code != exitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v --help: exit %d\n%s", c, code, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := mxwatch(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "mxwatch ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestAnalyzeStdinProgress reads a capture from standard input, written
// slowly, and checks the progress lines and the result.
func TestAnalyzeStdinProgress(t *testing.T) {
	data, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldStdin, oldInterval := os.Stdin, progressInterval
	os.Stdin, progressInterval = r, 5*time.Millisecond
	defer func() { os.Stdin, progressInterval = oldStdin, oldInterval }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		for i := 0; i < len(data); i += 512 {
			if _, err := w.Write(data[i:min(i+512, len(data))]); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	code, out, errs := mxwatch(t, "analyze", "--progress", "always", "-")
	<-done
	r.Close()
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "SMTP sessions: 3") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.Contains(errs, "packets/s") {
		t.Errorf("no progress on stderr: %q", errs)
	}
}

func TestExplainReply(t *testing.T) {
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  []string
	}{
		{name: "spamhaus", args: []string{"explain-reply", "554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org"},
			want: []string{"blocklist spamhaus-zen", "https://", "advice:"}},
		{name: "gmail from stdin", args: []string{"explain-reply"}, stdin: "421-4.7.28 Our system has detected an unusual rate of\n421 4.7.28 unsolicited mail originating from your IP address. gsmtp\n",
			want: []string{"provider gmail", "rate-limit"}},
		{name: "benign", args: []string{"explain-reply", "250 2.0.0 OK queued"}, want: []string{"no known blocklist or provider signature"}},
		{name: "json", args: []string{"explain-reply", "--json", "550 5.7.1 blocked using zen.spamhaus.org"}, want: []string{`"matched": true`}},
		{name: "nothing", args: []string{"explain-reply"}, code: exitUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			a := &app{v: newViper(), stdout: &out, stderr: &errb}
			root := a.rootCommand()
			root.SetArgs(append([]string{"--config", os.DevNull}, tt.args...))
			root.SetOut(&out)
			root.SetErr(&errb)
			root.SetIn(strings.NewReader(tt.stdin))
			code := exitOK
			if err := root.Execute(); err != nil {
				code = exitUsage
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.code
				}
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestAnalyzeAlertsToAlertmanager: a burst of Spamhaus rejections raises
// an alert event and the alert is posted to the Alertmanager API (a
// loopback recorder here; internal/alertmanager tests the real server).
func TestAnalyzeAlertsToAlertmanager(t *testing.T) {
	var mu sync.Mutex
	var posted []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var body []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		posted = append(posted, body...)
		mu.Unlock()
	}))
	defer srv.Close()

	dir := t.TempDir()
	capfile := filepath.Join(dir, "burst.pcap")
	f, err := os.Create(capfile)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pcapgen.Lookup("rejection-burst")
	if err := pcapgen.WriteScenario(f, s); err != nil {
		t.Fatal(err)
	}
	f.Close()
	events := filepath.Join(dir, "events.jsonl")
	t.Setenv("MXWATCH_ALERTS_ALERTMANAGER_URL", srv.URL)
	code, out, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--events", events, capfile)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"kind":"alert"`); n == 0 {
		t.Fatalf("no alert event:\n%s", out)
	}
	if !strings.Contains(out, "Alerts (") || !strings.Contains(out, "spamhaus-zen") {
		t.Errorf("report lacks the alert or the list:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) == 0 {
		t.Fatalf("nothing posted to Alertmanager; stderr: %s", errs)
	}
	labels, _ := posted[0]["labels"].(map[string]any)
	if labels["alertname"] != "MxwatchBlocklistRejections" || labels["customer"] != "lindenhof-gmbh" {
		t.Errorf("labels %v", labels)
	}
}

// TestAnalyzeInventoryReloadStops: with an inventory file, analyze starts
// a reloader and stops it when the run ends.
func TestAnalyzeInventoryReloadStops(t *testing.T) {
	// A first run starts the os/signal goroutine, which lives on (SIGHUP).
	if code, _, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", demo); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	before := runtime.NumGoroutine()
	code, out, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", demo)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "customer lindenhof-gmbh") {
		t.Errorf("inventory not applied:\n%s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the run, %d before", n, before)
	}
}
