//go:build linux

// The child's peak RSS comes from wait4's ru_maxrss, which Linux gives in
// KiB (other systems differ), measured by testdata/maxrss; hence the build
// constraint.

package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

var full = flag.Bool("hostile.full", false, "run every case with the issue's numbers (10^6 SYNs and flows: about 30 s each)")

// The legitimate hosts of the hostile captures: web05 sends direct to MX
// after an MX lookup, web10 through the platform relay 10.20.0.25.
const (
	web05 = "10.20.1.5"
	web10 = "10.20.1.10"
)

// platformConfig describes the platform of pcapgen's captures; every
// bound keeps its default.
const platformConfig = `platform:
  networks: [10.20.0.0/16, "2001:db8:14::/48"]
  relays: [10.20.0.25]
`

// Default bounds (docs/DESIGN.md, "Bounds and drop policy") the checks
// below refer to.
const (
	maxFlows      = 100_000 // capture.tcp.max_flows
	maxRecipients = 1000    // capture.smtp.max_recipients
	maxReplyLines = 64      // capture.smtp.max_reply_lines
)

type counter struct {
	Stage string `json:"stage"`
	Name  string `json:"name"`
	Count uint64 `json:"count"`
	Bytes uint64 `json:"bytes"`
}

// analysis is the part of analyze's JSON output the test reads.
type analysis struct {
	Summary struct {
		Sessions   int       `json:"sessions"`
		Messages   int       `json:"messages"`
		DNSAnswers int       `json:"dns_answers"`
		Counters   []counter `json:"counters"`
	} `json:"summary"`
}

func (a *analysis) counter(stage, name string) counter {
	for _, c := range a.Summary.Counters {
		if c.Stage == stage && c.Name == name {
			return c
		}
	}
	return counter{Stage: stage, Name: name}
}

func (a *analysis) count(stage, name string) uint64 { return a.counter(stage, name).Count }

// eventLine is the part of an event the test reads.
type eventLine struct {
	Kind     string `json:"kind"`
	Client   string `json:"client"`
	Class    string `json:"class"`
	MailFrom string `json:"mail_from"`
	Rcpt     []struct {
		Addr string `json:"addr"`
	} `json:"rcpt"`
}

// result is one analyze run.
type result struct {
	exit   int
	maxRSS int64 // KiB
	wall   time.Duration
	// summary is nil when the run printed none.
	summary *analysis
	// message is what standard error holds besides the summary.
	message string
	// stdout is the text report (text runs).
	stdout []byte

	// n is the case's count in this run.
	n int

	// From the events (JSON runs).
	events   int
	findings map[string]map[string]int // legitimate host -> class -> findings
	messages []eventLine               // messages of web05
	forged   int                       // events naming the forged sender
}

type hostileCase struct {
	name string
	// count replaces the case's default count (the numbers) when
	// positive and -hostile.full is not set: the cases whose analysis
	// takes tens of seconds run smaller, still well past every bound.
	count int
	// maxRSS is the bound of the child's peak RSS, in MiB.
	maxRSS int64
	// timeout kills the child: a hang fails the test.
	timeout  time.Duration
	wantExit int
	// wantMsg is part of the one-line message of a failed run.
	wantMsg []string
	// text also runs --format text, and compares its counters.
	text bool
	// legit lists the findings the legitimate hosts must get.
	legit map[string]string
	check func(t *testing.T, r *result)
}

var floodLegit = map[string]string{web05: "direct-to-mx", web10: "relay"}

func atLeast(t *testing.T, r *result, stage, name string, want uint64) {
	t.Helper()
	if got := r.summary.count(stage, name); got < want {
		t.Errorf("%s %s = %d, want >= %d", stage, name, got, want)
	}
}

func exactly(t *testing.T, r *result, stage, name string, want uint64) {
	t.Helper()
	if got := r.summary.count(stage, name); got != want {
		t.Errorf("%s %s = %d, want %d", stage, name, got, want)
	}
}

func hostileCases() []hostileCase {
	return []hostileCase{
		// The slowest first, so that they start at once.
		{name: "million-flows", count: 200_000, maxRSS: 850, timeout: 120 * time.Second, legit: floodLegit, check: func(t *testing.T, r *result) {
			// The generator leaves out the flows whose client would be
			// web05 or web10: two per 65024.
			n := uint64(r.n - 2*(r.n/65024+1))
			atLeast(t, r, "tcp", "flows", n)
			atLeast(t, r, "tcp", "midstream", n)
			// Every flow beyond the table's bound was evicted, counted.
			atLeast(t, r, "tcp", "evicted", n-maxFlows)
			atLeast(t, r, "smtp", "unanswered_commands", n-maxFlows)
		}},
		{name: "syn-flood", count: 200_000, maxRSS: 450, timeout: 120 * time.Second, legit: floodLegit, check: func(t *testing.T, r *result) {
			n := uint64(r.n)
			atLeast(t, r, "tcp", "flows", n)
			atLeast(t, r, "tcp", "evicted", n-maxFlows)
			if uint64(r.summary.Summary.Sessions) < n {
				t.Errorf("sessions = %d, want >= %d (every attempt is recorded)", r.summary.Summary.Sessions, n)
			}
		}},
		{name: "dns-flood", maxRSS: 250, timeout: 120 * time.Second, legit: floodLegit, check: func(t *testing.T, r *result) {
			n := uint64(r.n)
			atLeast(t, r, "dns", "queries", n)
			atLeast(t, r, "dns", "evicted", 1) // dns.max_pending
			atLeast(t, r, "dns", "unanswered", 1)
			atLeast(t, r, "dns", "responses", n/2)
		}},
		{name: "long-line", maxRSS: 250, timeout: 60 * time.Second, text: true, check: func(t *testing.T, r *result) {
			// The command line, the reply line and the header line.
			atLeast(t, r, "smtp", "lines_too_long", 3)
			atLeast(t, r, "smtp", "message_bytes", 1<<20)
			exactly(t, r, "smtp", "messages", 2) // the rejected MAIL, then the message
		}},
		{name: "endless-reply", maxRSS: 250, timeout: 60 * time.Second, text: true, check: func(t *testing.T, r *result) {
			atLeast(t, r, "smtp", "reply_lines_dropped", 2_000_000-maxReplyLines)
			exactly(t, r, "smtp", "messages", 1)
		}},
		{name: "many-rcpt", maxRSS: 250, timeout: 60 * time.Second, text: true, check: func(t *testing.T, r *result) {
			exactly(t, r, "smtp", "recipients_dropped", 1_000_000-maxRecipients)
			atLeast(t, r, "smtp", "commands", 1_000_000)
			atLeast(t, r, "smtp", "replies_dropped", 1)
			exactly(t, r, "smtp", "messages", 1)
		}},
		{name: "header-bomb", maxRSS: 250, timeout: 60 * time.Second, text: true, check: func(t *testing.T, r *result) {
			atLeast(t, r, "smtp", "header_overflows", 1)
			atLeast(t, r, "smtp", "lines_too_long", 1) // the 700 KB encoded word
			exactly(t, r, "smtp", "messages", 1)
		}},
		{name: "dns-compression-loop", maxRSS: 250, timeout: 60 * time.Second, text: true,
			legit: map[string]string{web05: "direct-to-mx"}, check: func(t *testing.T, r *result) {
				exactly(t, r, "dns", "malformed", 3000)
				exactly(t, r, "dns", "answers_kept", 5) // the legitimate lookups
			}},
		{name: "cname-loop", maxRSS: 250, timeout: 60 * time.Second, text: true,
			// The address ends a 1000-long chain, past dns.max_records:
			// no pairing, so the send is direct-25 (still classified).
			legit: map[string]string{web05: "direct-25"}, check: func(t *testing.T, r *result) {
				atLeast(t, r, "dns", "records_dropped", 1000-64)
				exactly(t, r, "dns", "malformed", 0)
				exactly(t, r, "dns", "answers_kept", 5)
			}},
		{name: "conflicting-overlap", maxRSS: 250, timeout: 60 * time.Second, text: true,
			legit: map[string]string{web05: "direct-25"}, check: func(t *testing.T, r *result) {
				const n = 1000
				atLeast(t, r, "tcp", "retransmitted", 2*n) // same range, other bytes: dropped
				atLeast(t, r, "tcp", "out_of_order", n)
				// Half of each 29-byte RCPT line was re-sent with other bytes.
				if got := r.summary.counter("tcp", "overlap_dropped").Bytes; got != 15*n {
					t.Errorf("tcp overlap_dropped = %d bytes, want %d", got, 15*n)
				}
				if r.forged != 0 {
					t.Errorf("%d events carry bytes of a forged copy; the first copy must win", r.forged)
				}
				ok := 0
				for _, m := range r.messages {
					if m.MailFrom == "info@paket-zustellung.example" && len(m.Rcpt) == 3 {
						ok++
					}
				}
				if ok != n {
					t.Errorf("%d messages with the first copies' sender and 3 recipients, want %d", ok, n)
				}
			}},
		{name: "truncated-record", maxRSS: 250, timeout: 60 * time.Second, text: true, wantExit: 1,
			wantMsg: []string{"truncated-record.pcap", "truncated inside packet", "summary above covers"},
			legit:   map[string]string{web05: "direct-to-mx"}, check: func(t *testing.T, r *result) {
				atLeast(t, r, "read", "packets", 1)
				if r.summary.Summary.Sessions == 0 {
					t.Error("the summary of what was read has no session")
				}
			}},
		{name: "truncated-header", maxRSS: 250, timeout: 60 * time.Second, text: true, wantExit: 1,
			wantMsg: []string{"truncated-header.pcap", "truncated inside the file header"}},
		// Both wrong-link files are read to the end and every packet is
		// counted as dropped. A link type analyze cannot decode at all is
		// an error naming it (exit 1, after the summary of what was
		// counted); a file that lies about its link type decodes as
		// non-IP frames: exit 0 with the counts (an all-ARP capture looks
		// the same).
		{name: "wrong-link-80211", maxRSS: 250, timeout: 60 * time.Second, text: true, wantExit: 1,
			wantMsg: []string{"no packet could be decoded", "link type 105 is not supported"}, check: func(t *testing.T, r *result) {
				exactly(t, r, "filter", "unsupported_link", 100)
				exactly(t, r, "filter", "kept", 0)
			}},
		{name: "wrong-link-lying", maxRSS: 250, timeout: 60 * time.Second, text: true, check: func(t *testing.T, r *result) {
			atLeast(t, r, "filter", "not_ip", 1)
			exactly(t, r, "filter", "kept", 0)
		}},
	}
}

// build compiles pkg (without the race detector) into dir and returns the
// binary's path.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func TestAnalyzeHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and analyzes captures of 10^6 packets; skipped with -short")
	}
	dir := t.TempDir()
	mxwatch := build(t, dir, "mxwatch", "github.com/mxwatch/mxwatch/cmd/mxwatch")
	gen := build(t, dir, "gen", "github.com/mxwatch/mxwatch/internal/hostile/testdata/gen")
	maxrss := build(t, dir, "maxrss", "github.com/mxwatch/mxwatch/internal/hostile/testdata/maxrss")
	bins := binaries{mxwatch: mxwatch, maxrss: maxrss}
	config := filepath.Join(dir, "platform.yaml")
	if err := os.WriteFile(config, []byte(platformConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			file := filepath.Join(tmp, tc.name+".pcap")
			def, ok := pcapgen.LookupHostile(tc.name)
			if !ok {
				t.Fatalf("pcapgen has no hostile case %q", tc.name)
			}
			n := def.Count
			if tc.count > 0 && !*full {
				n = tc.count
			}
			args := []string{"-dir", tmp, "-seed", "1", "-count", strconv.Itoa(n)}
			if out, err := exec.CommandContext(t.Context(), gen, append(args, tc.name)...).CombinedOutput(); err != nil {
				t.Fatalf("gen %s: %v\n%s", tc.name, err, out)
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}

			r := analyze(t, tc, bins, config, file, "json")
			r.n = n
			t.Logf("%s: count %d, %d bytes, exit %d, peak RSS %d MiB, %v, %d events",
				tc.name, n, fi.Size(), r.exit, r.maxRSS/1024, r.wall.Round(time.Millisecond), r.events)
			checkRun(t, tc, r)
			if tc.wantExit == 0 || strings.Contains(r.message, "summary above") {
				if r.summary == nil {
					t.Fatalf("no JSON summary; standard error: %s", r.message)
				}
			}
			for host, class := range tc.legit {
				if got := r.findings[host]; got[class] == 0 || len(got) != 1 {
					t.Errorf("findings of %s: %v, want only class %s", host, got, class)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			if tc.text {
				tr := analyze(t, tc, bins, config, file, "text")
				checkRun(t, tc, tr)
				if r.summary != nil {
					compareText(t, r.summary, tr.stdout)
				}
			}
		})
	}
}

// checkRun checks what every run must satisfy: the exit status, the
// message of a failed run, and the peak RSS.
func checkRun(t *testing.T, tc hostileCase, r *result) {
	t.Helper()
	if r.exit != tc.wantExit {
		t.Errorf("exit status %d, want %d; standard error: %.2000s", r.exit, tc.wantExit, r.message)
	}
	if tc.wantExit != 0 {
		msg := strings.TrimSpace(r.message)
		if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "mxwatch: ") {
			t.Errorf("message of the failed run is not one line starting %q: %q", "mxwatch: ", msg)
		}
		for _, want := range tc.wantMsg {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
	}
	if r.maxRSS > tc.maxRSS*1024 {
		t.Errorf("peak RSS %d MiB, bound %d MiB", r.maxRSS/1024, tc.maxRSS)
	}
}

// binaries are the programs the test built.
type binaries struct {
	mxwatch string
	// maxrss runs a command and writes its peak RSS to a file.
	maxrss string
}

// analyze runs mxwatch analyze on file in format ("json": events on
// standard output, the summary on standard error; "text": the report on
// standard output).
func analyze(t *testing.T, tc hostileCase, bins binaries, config, file, format string) *result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
	defer cancel()
	rssFile := filepath.Join(t.TempDir(), "maxrss")
	args := []string{rssFile, bins.mxwatch, "analyze", "--config", config, "--progress", "never", "--format", format}
	if format == "json" {
		args = append(args, "--events", "-")
	}
	cmd := exec.CommandContext(ctx, bins.maxrss, append(args, file)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no stray user configuration
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &result{findings: map[string]map[string]int{}}
	var scanErr error
	if format == "json" {
		scanErr = scanEvents(stdout, r)
	} else {
		r.stdout, scanErr = readAll(stdout)
	}
	err = cmd.Wait()
	r.wall = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("analyze %s did not end within %v (killed)", format, tc.timeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("analyze %s: %v", format, err)
	}
	if scanErr != nil {
		t.Fatalf("reading the output of analyze %s: %v", format, scanErr)
	}
	r.exit = cmd.ProcessState.ExitCode()
	rss, err := os.ReadFile(rssFile)
	if err != nil {
		t.Fatalf("peak RSS of analyze %s: %v; standard error: %.2000s", format, err, stderr.Bytes())
	}
	if r.maxRSS, err = strconv.ParseInt(string(rss), 10, 64); err != nil {
		t.Fatalf("peak RSS of analyze %s: %v", format, err)
	}
	r.summary, r.message = splitSummary(t, stderr.Bytes(), format == "json")
	return r
}

func readAll(rd io.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(rd)
	return b.Bytes(), err
}

// scanEvents reads the event stream, keeping the findings and messages of
// the legitimate hosts and counting events that carry forged bytes.
func scanEvents(rd io.Reader, r *result) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	legit := [][]byte{[]byte(`"client":"` + web05 + `:`), []byte(`"client":"` + web10 + `:`)}
	for sc.Scan() {
		line := sc.Bytes()
		r.events++
		if bytes.Contains(line, []byte("mallory")) {
			r.forged++
		}
		if !bytes.Contains(line, legit[0]) && !bytes.Contains(line, legit[1]) {
			continue
		}
		var ev eventLine
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("event %d: %w", r.events, err)
		}
		host := ev.Client[:strings.LastIndexByte(ev.Client, ':')]
		switch ev.Kind {
		case "finding":
			if r.findings[host] == nil {
				r.findings[host] = map[string]int{}
			}
			r.findings[host][ev.Class]++
		case "message":
			if host == web05 {
				r.messages = append(r.messages, ev)
			}
		}
	}
	return sc.Err()
}

// splitSummary finds the JSON summary in standard error, when hasJSON
// is set, and returns it and the rest of standard error.
func splitSummary(t *testing.T, stderr []byte, hasJSON bool) (*analysis, string) {
	t.Helper()
	if !hasJSON {
		return nil, string(stderr)
	}
	i := bytes.Index(stderr, []byte("{\n"))
	if i < 0 {
		return nil, string(stderr)
	}
	dec := json.NewDecoder(bytes.NewReader(stderr[i:]))
	var a analysis
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("JSON summary: %v", err)
	}
	rest := string(stderr[:i]) + string(stderr[i+int(dec.InputOffset()):])
	return &a, rest
}

// counterLine is one row of the text report's pipeline counters.
var counterLine = regexp.MustCompile(`^  ([a-z]+) +([a-z0-9_-]+) +([0-9]+)`)

// compareText checks that the text report prints every non-zero counter of
// the JSON summary with the same count.
func compareText(t *testing.T, a *analysis, text []byte) {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(string(text), "\n") {
		if m := counterLine.FindStringSubmatch(line); m != nil {
			got[m[1]+" "+m[2]] = m[3]
		}
	}
	for _, c := range a.Summary.Counters {
		if c.Count == 0 {
			continue
		}
		key := c.Stage + " " + c.Name
		if want := strconv.FormatUint(c.Count, 10); got[key] != want {
			t.Errorf("text report: %s = %q, JSON summary: %s", key, got[key], want)
		}
	}
}
