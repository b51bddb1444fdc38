package dashboards

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

var rt0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	hostileCustomer = `<img src=x onerror=alert(1)>`
	hostileScript   = "php:/tmp/<script>alert(1)</script>\x1b[31m.php (uid 33)"
	formulaCustomer = `=cmd|' /C calc'!A0`
)

func finding(id, host, customer string, at time.Duration, c event.Class, msgs int, hs event.Handshake, lists ...string) *event.Finding {
	f := &event.Finding{Kind: event.KindFinding, Version: event.SchemaVersion, ID: id, Start: rt0.Add(at), End: rt0.Add(at + time.Second),
		Client: netip.AddrPortFrom(netip.MustParseAddr(host), 40000), Server: netip.MustParseAddrPort("192.0.2.25:25"),
		Class: c, Confidence: event.ConfidenceHigh, Handshake: hs, Customer: customer, Group: "gmail", Messages: msgs, Accepted: msgs}
	switch c {
	case event.ClassDirectToMX:
		f.Pairing = &event.Pairing{By: "self", Domain: "example.org", MXHost: "mx.example.org", Delay: 1500 * time.Millisecond}
		f.Scripts = []string{"php:/home/acme/public_html/wp-content/x.php (uid 1001)"}
	case event.ClassExternalRelay25:
		f.ServerName, f.Auth, f.Group = "smtp.provider.example", true, "other"
	case event.ClassSubmission:
		f.Server = netip.MustParseAddrPort("192.0.2.25:587")
	}
	for _, l := range lists {
		f.Blocklist = append(f.Blocklist, event.BlocklistHit{List: l, Code: 554})
		f.Rejected++
		f.Accepted--
	}
	return f
}

func dnsbl(id string, at time.Duration, list string) *event.Alert {
	return &event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: id, Rule: detect.RuleDNSBL, Scope: "egress",
		Source: "203.0.113.10", Group: list, Metric: "listed", WindowStart: rt0.Add(at), Time: rt0.Add(at), Severity: event.SeverityWarning}
}

// sampleEvents is a day before and a day after a block at rt0+24h: an
// infected WordPress (direct-to-MX, blocklisted, still trying after the
// block), a customer relaying through its provider on port 25, a
// well-behaved customer on the relay and 587, hosts with hostile and
// formula-like inventory names, a host not in the inventory whose
// script name is hostile, and DNSBL listings of the egress address.
func sampleEvents() []event.Event {
	ok := event.HandshakeCompleted
	unknown := finding("8", "10.0.0.7", "", 16*time.Hour, event.ClassDirectToMX, 6, ok, "outlook")
	unknown.Scripts = []string{hostileScript}
	unknown.Pairing.Domain = "hotmail.com"
	return []event.Event{
		finding("1", "10.0.0.1", "acme", 10*time.Hour, event.ClassDirectToMX, 5, ok, "spamhaus-zen"),
		finding("2", "10.0.0.1", "acme", 11*time.Hour, event.ClassDirectToMX, 3, ok),
		finding("3", "10.0.0.2", "acme", 12*time.Hour, event.ClassExternalRelay25, 2, ok),
		finding("4", "10.0.0.3", "beta", 13*time.Hour, event.ClassRelay, 7, ok),
		finding("5", "10.0.0.3", "beta", 13*time.Hour+30*time.Minute, event.ClassSubmission, 4, ok),
		finding("6", "10.0.0.4", hostileCustomer, 14*time.Hour, event.ClassDirect25, 1, ok),
		finding("7", "10.0.0.5", formulaCustomer, 15*time.Hour, event.ClassDirect25, 1, ok),
		unknown,
		finding("9", "10.0.0.1", "acme", 25*time.Hour, event.ClassDirectToMX, 0, event.HandshakeNoAnswer),
		finding("10", "10.0.0.1", "acme", 26*time.Hour, event.ClassDirectToMX, 0, event.HandshakeRefused),
		finding("11", "10.0.0.6", "gamma", 27*time.Hour, event.ClassDirect25, 2, ok, "barracuda"),
		finding("12", "10.0.0.3", "beta", 28*time.Hour, event.ClassRelay, 9, ok),
		finding("13", "10.0.0.3", "beta", 29*time.Hour, event.ClassSubmission, 5, ok),
		dnsbl("a1", 12*time.Hour, "zen.spamhaus.org"),
		dnsbl("a2", 30*time.Hour, "b.barracudacentral.org"),
		dnsbl("a3", 31*time.Hour, "zen.spamhaus.org"),
	}
}

func reports(evs []event.Event) (detect.ImpactReport, detect.EnforcementReport) {
	ib := detect.NewImpact(detect.ReportConfig{Top: 5}, detect.Window{From: rt0, To: rt0.Add(24 * time.Hour)})
	eb := detect.NewEnforcement(detect.ReportConfig{Top: 5}, rt0.Add(24*time.Hour), 24*time.Hour, 24*time.Hour)
	for _, ev := range evs {
		ib.Add(ev)
		eb.Add(ev)
	}
	return ib.Report(), eb.Report()
}

var testOpts = RenderOptions{Generated: time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC), Source: "captures: day1.pcap, day2.pcap"}

func render(t *testing.T, kind, format string, evs []event.Event) string {
	t.Helper()
	imp, enf := reports(evs)
	var b bytes.Buffer
	var err error
	if kind == "impact" {
		err = WriteImpact(&b, &imp, format, testOpts)
	} else {
		err = WriteEnforcement(&b, &enf, format, testOpts)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", kind, format, err)
	}
	return b.String()
}

var ext = map[string]string{FormatText: "txt", FormatMarkdown: "md", FormatCSV: "csv", FormatJSON: "json", FormatHTML: "html"}

func TestRolloutGolden(t *testing.T) {
	for _, data := range []struct {
		name string
		evs  []event.Event
	}{{"sample", sampleEvents()}, {"empty", nil}} {
		for _, kind := range []string{"impact", "enforcement"} {
			for _, format := range RolloutFormats() {
				name := data.name + "-" + kind + "." + ext[format]
				t.Run(name, func(t *testing.T) {
					got := render(t, kind, format, data.evs)
					path := filepath.Join("testdata", "rollout", name)
					if *update {
						if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatalf("%v (run with -update)", err)
					}
					if got != string(want) {
						t.Errorf("differs from %s (run with -update and review):\n%s", path, got)
					}
				})
			}
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	imp, enf := reports(nil)
	tests := []struct {
		name  string
		write func(string) error
	}{
		{"impact", func(f string) error { return WriteImpact(&bytes.Buffer{}, &imp, f, testOpts) }},
		{"enforcement", func(f string) error { return WriteEnforcement(&bytes.Buffer{}, &enf, f, testOpts) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []string{"pdf", "", "HTML"} {
				err := tt.write(f)
				if !errors.Is(err, ErrUnknownFormat) {
					t.Fatalf("format %q: %v, want ErrUnknownFormat", f, err)
				}
				for _, valid := range RolloutFormats() {
					if !strings.Contains(err.Error(), valid) {
						t.Errorf("format %q: %q does not name %s", f, err, valid)
					}
				}
			}
		})
	}
}

func TestNilReport(t *testing.T) {
	for _, format := range RolloutFormats() {
		if err := WriteImpact(&bytes.Buffer{}, nil, format, testOpts); !errors.Is(err, ErrNoReport) {
			t.Errorf("impact %s: %v, want ErrNoReport", format, err)
		}
		if err := WriteEnforcement(&bytes.Buffer{}, nil, format, testOpts); !errors.Is(err, ErrNoReport) {
			t.Errorf("enforcement %s: %v, want ErrNoReport", format, err)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(b)
	return len(b), nil
}

func TestWriteError(t *testing.T) {
	imp, enf := reports(sampleEvents())
	for _, format := range RolloutFormats() {
		for _, n := range []int{0, 100} {
			if err := WriteImpact(&failWriter{n}, &imp, format, testOpts); !errors.Is(err, errDiskFull) {
				t.Errorf("impact %s after %d bytes: %v, want the write error", format, n, err)
			}
			if err := WriteEnforcement(&failWriter{n}, &enf, format, testOpts); !errors.Is(err, errDiskFull) {
				t.Errorf("enforcement %s after %d bytes: %v, want the write error", format, n, err)
			}
		}
	}
}

func TestCSV(t *testing.T) {
	tests := []struct {
		name, kind string
		header     string
		rows       int
		want       []string // cells that must appear
	}{
		{name: "impact", kind: "impact", rows: 5, // hosts .1 .2 .4 .5 .7
			header: "customer,host,class,connections,messages,accepted,rejected,first_seen,last_seen,destinations,scripts,blocklist,likely_spam,action",
			want:   []string{"'" + formulaCustomer, hostileCustomer, "smtp.provider.example", "example.org", "2026-03-01T10:00:00Z", "spamhaus-zen"}},
		// 5 classes x 3 metrics, blocked, 3 rejections, 2 listings, 2 hosts still trying x 3.
		{name: "enforcement", kind: "enforcement", rows: 15 + 1 + 3 + 2 + 6,
			header: "section,name,metric,before,after,customer,class,last_seen,scripts",
			want:   []string{"still_trying", "blocked_attempts", "b.barracudacentral.org", "zen.spamhaus.org", "10.0.0.6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := csv.NewReader(strings.NewReader(render(t, tt.kind, FormatCSV, sampleEvents()))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != tt.header || len(recs)-1 != tt.rows {
				t.Errorf("header %v, %d rows; want %s, %d rows", recs[0], len(recs)-1, tt.header, tt.rows)
			}
			cells := map[string]bool{}
			for _, r := range recs[1:] {
				for _, c := range r {
					cells[c] = true
					if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
						t.Errorf("cell %q would run as a formula", c)
					}
				}
			}
			for _, w := range tt.want {
				found := cells[w]
				for c := range cells {
					found = found || strings.Contains(c, w)
				}
				if !found {
					t.Errorf("no cell holds %q", w)
				}
			}
			empty, _ := csv.NewReader(strings.NewReader(render(t, tt.kind, FormatCSV, nil))).ReadAll()
			wantEmpty := 1 // the header
			if tt.kind == "enforcement" {
				wantEmpty = 2 // and blocked attempts, 0 and 0
			}
			if len(empty) != wantEmpty {
				t.Errorf("empty report: %d records, want %d", len(empty), wantEmpty)
			}
		})
	}
}

func TestCSVSafe(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"formula", "=SUM(A1:A9)", "'=SUM(A1:A9)"},
		{"plus", "+1", "'+1"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@cmd", "'@cmd"},
		{"tab", "\t=1", "'\t=1"},
		{"harmless", "acme", "acme"},
		{"inside", "a=b", "a=b"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := csvSafe(tt.in); got != tt.want {
				t.Errorf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		name, in string
		md       bool
		want     string
	}{
		{"plain", "acme", false, "acme"},
		{"terminal escape", "a\x1b[31mb", false, `a\x1b[31mb`},
		{"newline", "a\nb", false, `a\x0ab`},
		{"invalid utf-8", "a\xffb", false, `a\xffb`},
		{"replacement char kept", "a\uFFFDb", false, "a\uFFFDb"},
		{"line separator", "a\u2028b", false, `a\u2028b`},
		{"markdown pipe", "a|b", true, `a\|b`},
		{"markdown link", "[x](y)", true, `\[x\](y)`},
		{"markdown html", "<b>", true, "&lt;b&gt;"},
		{"markdown code", "`x`*", true, "\\`x\\`\\*"},
		{"markdown control", "a\rb", true, `a\\x0db`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cell(tt.md, tt.in); got != tt.want {
				t.Errorf("cell(%v, %q) = %q, want %q", tt.md, tt.in, got, tt.want)
			}
		})
	}
}

func TestTextHasNoControlBytes(t *testing.T) {
	for _, kind := range []string{"impact", "enforcement"} {
		for _, format := range []string{FormatText, FormatMarkdown} {
			out := render(t, kind, format, sampleEvents())
			if i := strings.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' }); i >= 0 {
				t.Errorf("%s %s: control byte %q at %d", kind, format, out[i], i)
			}
		}
	}
	if out := render(t, "impact", FormatText, sampleEvents()); !strings.Contains(out, `\x1b[31m`) {
		t.Error("the escaped script name is missing from the text")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var imp detect.ImpactReport
	if err := json.Unmarshal([]byte(render(t, "impact", FormatJSON, sampleEvents())), &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Totals.Hosts != 5 || imp.Totals.Customers != 3 || len(imp.Customers) != 4 {
		t.Errorf("impact JSON: %d hosts, %d customers, %d groups", imp.Totals.Hosts, imp.Totals.Customers, len(imp.Customers))
	}
	var enf detect.EnforcementReport
	if err := json.Unmarshal([]byte(render(t, "enforcement", FormatJSON, sampleEvents())), &enf); err != nil {
		t.Fatal(err)
	}
	if enf.Blocked.After != 2 || enf.StillTryingTotal != 2 || len(enf.Listings) != 2 {
		t.Errorf("enforcement JSON: blocked %+v, still trying %d, listings %v", enf.Blocked, enf.StillTryingTotal, enf.Listings)
	}
}

// escapedHostile is how hostileCustomer appears in the HTML: as text.
const escapedHostile = "&lt;img src=x onerror=alert(1)&gt;"

// forbidden are what would make a page load something or run code.
var forbidden = []string{"http://", "https://", "src=", "<script", "@import", "url(", "<link", "<iframe", "<object", "<embed", "javascript:"}

// eventHandlerRE finds on...= attributes in tags.
var eventHandlerRE = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)

func TestHTMLSelfContained(t *testing.T) {
	tests := []struct {
		name, kind string
		evs        []event.Event
		want       []string
		notWant    []string
	}{
		{name: "impact sample", kind: "impact", evs: sampleEvents(),
			want: []string{`<table id="customers">`, `<table id="hosts">`, `<table id="by-class">`, `<svg id="chart-timeline"`,
				"<rect", escapedHostile, "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31m", "smtp.provider.example", "(not in the inventory)",
				"messages per 5m", "2026-03-01 10:00", "time (UTC)"},
			notWant: []string{"No findings"}},
		{name: "enforcement sample", kind: "enforcement", evs: sampleEvents(),
			want: []string{`<svg id="chart-before-after"`, `<svg id="chart-timeline"`, `<table id="still-trying">`, `<table id="rejections">`,
				`<table id="listings">`, "blocked attempts", "b.barracudacentral.org", `class="mark"`, ">block</text>"},
			notWant: []string{"No findings"}},
		{name: "impact empty", kind: "impact",
			want: []string{`id="no-findings"`, "No findings in this window"}, notWant: []string{"<svg", "<table", "NaN", "Inf"}},
		{name: "enforcement empty", kind: "enforcement",
			want: []string{`id="no-findings"`, "No findings in this window"}, notWant: []string{"<svg", "<table", "NaN", "Inf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := render(t, tt.kind, FormatHTML, tt.evs)
			if strings.Contains(h, hostileCustomer) || strings.Contains(h, "<script>alert") || strings.Contains(h, "\x1b") {
				t.Error("data is not escaped")
			}
			if m := eventHandlerRE.FindString(h); m != "" {
				t.Errorf("event handler in a tag: %q", m)
			}
			// The escaped hostile name is text that contains "src=": the
			// only place the string may occur.
			rest := strings.ReplaceAll(h, escapedHostile, "")
			for _, f := range forbidden {
				if strings.Contains(strings.ToLower(rest), f) {
					t.Errorf("%q in the HTML", f)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(h, w) {
					t.Errorf("HTML lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(h, w) {
					t.Errorf("HTML has %q", w)
				}
			}
		})
	}
}

// TestTimelineChartOddInput feeds timelines a report read back from
// JSON might hold: the chart must not panic nor draw NaN.
func TestTimelineChartOddInput(t *testing.T) {
	pt := func(at time.Time, msgs uint64) detect.TimePoint {
		return detect.TimePoint{Start: at, ByClass: []detect.ClassCount{{Class: event.ClassDirect25, Messages: msgs}, {Class: "future-class", Messages: 1}}}
	}
	tests := []struct {
		name  string
		tl    detect.Timeline
		rects int // bars
	}{
		{"zero bucket", detect.Timeline{Points: []detect.TimePoint{pt(rt0, 3)}}, 2},
		{"negative bucket", detect.Timeline{Bucket: -time.Hour, Points: []detect.TimePoint{pt(rt0, 3), pt(rt0.Add(time.Hour), 1)}}, 4},
		{"unsorted", detect.Timeline{Bucket: time.Minute, Points: []detect.TimePoint{pt(rt0.Add(time.Hour), 1), pt(rt0, 2)}}, 4},
		{"odd bucket", detect.Timeline{Bucket: 7 * time.Second, Points: []detect.TimePoint{pt(rt0, 1)}}, 2},
		{"centuries", detect.Timeline{Bucket: time.Hour, Points: []detect.TimePoint{pt(time.Time{}, 1), pt(rt0, 1), pt(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 1)}}, 6},
		{"huge counts", detect.Timeline{Bucket: time.Hour, Points: []detect.TimePoint{pt(rt0, 1<<63), pt(rt0, 1<<63)}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, legend := timelineChart(tt.tl)
			if c == nil || len(c.Rects) != tt.rects {
				t.Fatalf("chart %+v, want %d bars", c, tt.rects)
			}
			if len(legend) != 2 || legend[1].Color != otherColor {
				t.Errorf("legend %v: want the known class, then the unknown one in grey", legend)
			}
			var b bytes.Buffer
			r := &detect.ImpactReport{Timeline: tt.tl, ByClass: []detect.ClassCount{{Class: event.ClassDirect25, Messages: 1}}}
			if err := WriteImpact(&b, r, FormatHTML, RenderOptions{}); err != nil {
				t.Fatal(err)
			}
			if s := b.String(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
				t.Errorf("NaN or Inf in the chart")
			}
		})
	}
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium or chromium-browser binary (Debian: apt-get install chromium): the HTML reports are not checked in a browser")
	return ""
}

// TestHTMLInChromium opens both HTML reports in headless Chromium: the
// DOM it builds holds the tables and the charts' bars, and a screenshot
// renders.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"impact", []string{`<table id="customers">`, `<table id="hosts">`, "10.0.0.1", "acme", "10.0.0.7", "smtp.provider.example", `<svg id="chart-timeline"`, "direct-to-mx", escapedHostile}},
		{"enforcement", []string{`<table id="still-trying">`, "10.0.0.1", "10.0.0.6", "gamma", `<svg id="chart-before-after"`, `<svg id="chart-timeline"`, "blocked attempts", "zen.spamhaus.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".html")
			if err := os.WriteFile(file, []byte(render(t, tc.name, FormatHTML, sampleEvents())), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
					"--user-data-dir=" + filepath.Join(dir, "profile-"+tc.name)}
				cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				start := time.Now()
				err := cmd.Run()
				t.Logf("chromium %s: %v", args[0], time.Since(start).Round(time.Millisecond))
				if err != nil {
					t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
				}
				return stdout.String()
			}
			dom := run("--dump-dom", "file://"+file)
			for _, w := range tc.want {
				if !strings.Contains(dom, w) {
					t.Errorf("DOM lacks %q", w)
				}
			}
			if n := strings.Count(dom, "<rect"); n < 10 {
				t.Errorf("only %d <rect> elements in the DOM", n)
			}
			if strings.Contains(dom, "<img") {
				t.Error("the hostile customer name became an element")
			}
			png := filepath.Join(dir, tc.name+".png")
			run("--screenshot="+png, "--window-size=1280,2000", "--hide-scrollbars", "file://"+file)
			fi, err := os.Stat(png)
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if fi.Size() < 10_000 {
				t.Errorf("screenshot %s: %d bytes, want > 10 kB", png, fi.Size())
			}
		})
	}
}

// FuzzRolloutStrings renders reports whose customer, script, list and
// provider names are arbitrary: nothing may panic, the HTML must keep its
// structure and run nothing, the text must hold no control bytes and the
// CSV must parse back to the same number of rows.
func FuzzRolloutStrings(f *testing.F) {
	for _, s := range []string{"acme", hostileCustomer, hostileScript, formulaCustomer, "", "\x00\xff\u2028|`*[x](y)", "</td></tr></table><script>x</script>",
		`"><svg onload=alert(1)>`, "{{.Title}}", "a\r\nb", strings.Repeat("é", 300)} {
		f.Add(s, s)
	}
	base := func(customer, script string) []event.Event {
		a := finding("1", "10.0.0.1", customer, time.Hour, event.ClassDirectToMX, 2, event.HandshakeCompleted, script)
		a.Scripts = []string{script}
		b := finding("2", "10.0.0.2", script, 25*time.Hour, event.ClassExternalRelay25, 1, event.HandshakeNoAnswer, customer)
		b.ServerName = customer
		return []event.Event{a, b, dnsbl("a", 2*time.Hour, customer), dnsbl("b", 30*time.Hour, script)}
	}
	// canon maps names to stand-ins that keep what shapes the report:
	// emptiness, equality, and the "unknown" a nameless DNSBL gets.
	canon := func(customer, script string) (string, string) {
		m := map[string]string{"": "", "unknown": "unknown"}
		for _, s := range []string{customer, script} {
			if _, ok := m[s]; !ok {
				m[s] = fmt.Sprintf("name%d", len(m))
			}
		}
		return m[customer], m[script]
	}
	f.Fuzz(func(t *testing.T, customer, script string) {
		evs := base(customer, script)
		ref := base(canon(customer, script))
		for _, kind := range []string{"impact", "enforcement"} {
			for _, format := range RolloutFormats() {
				imp, enf := reports(evs)
				rimp, renf := reports(ref)
				var got, want bytes.Buffer
				o := RenderOptions{Title: customer, Source: script}
				var err error
				if kind == "impact" {
					err = errors.Join(WriteImpact(&got, &imp, format, o), WriteImpact(&want, &rimp, format, RenderOptions{Title: "t", Source: "s"}))
				} else {
					err = errors.Join(WriteEnforcement(&got, &enf, format, o), WriteEnforcement(&want, &renf, format, RenderOptions{Title: "t", Source: "s"}))
				}
				if err != nil {
					t.Fatalf("%s %s: %v", kind, format, err)
				}
				out := got.String()
				switch format {
				case FormatHTML:
					for _, tag := range []string{"<tr>", "<td", "<table", "<svg", "<rect", "<text", "<p", "<h2", "<title"} {
						if g, w := strings.Count(out, tag), strings.Count(want.String(), tag); g != w {
							t.Errorf("%s html: %d %s, want %d", kind, g, tag, w)
						}
					}
					if l := strings.ToLower(out); strings.Contains(l, "<script") || strings.Contains(l, "<img") || eventHandlerRE.MatchString(out) {
						t.Errorf("%s html runs data", kind)
					}
				case FormatText, FormatMarkdown:
					if strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
						t.Errorf("%s %s: control byte in the output", kind, format)
					}
				case FormatCSV:
					g, err1 := csv.NewReader(strings.NewReader(out)).ReadAll()
					w, err2 := csv.NewReader(strings.NewReader(want.String())).ReadAll()
					if err1 != nil || err2 != nil || len(g) != len(w) {
						t.Errorf("%s csv: %d records (%v), want %d (%v)", kind, len(g), err1, len(w), err2)
					}
				}
			}
		}
	})
}
