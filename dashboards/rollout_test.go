package dashboards

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"

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

const hostileCustomer = `<img src=x onerror=alert(1)>`

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
	}
	return f
}

func sampleEvents() []event.Event {
	ok := event.HandshakeCompleted
	return []event.Event{
		finding("1", "10.0.0.1", "acme", 10*time.Hour, event.ClassDirectToMX, 5, ok, "spamhaus-zen"),
		finding("2", "10.0.0.1", "acme", 11*time.Hour, event.ClassDirectToMX, 3, ok),
		finding("3", "10.0.0.2", "acme", 12*time.Hour, event.ClassExternalRelay25, 2, ok),
		finding("4", "10.0.0.3", "beta", 13*time.Hour, event.ClassRelay, 7, ok),
		finding("5", "10.0.0.4", hostileCustomer, 14*time.Hour, event.ClassDirect25, 1, ok),
		finding("6", "10.0.0.5", "=cmd|' /C calc'!A0", 15*time.Hour, event.ClassDirect25, 1, ok),
		finding("7", "10.0.0.1", "acme", 25*time.Hour, event.ClassDirectToMX, 0, event.HandshakeNoAnswer),
		finding("8", "10.0.0.1", "acme", 26*time.Hour, event.ClassDirectToMX, 0, event.HandshakeRefused),
		finding("9", "10.0.0.6", "gamma", 27*time.Hour, event.ClassDirect25, 2, ok, "barracuda"),
		finding("10", "10.0.0.3", "beta", 28*time.Hour, event.ClassRelay, 9, ok),
		&event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: "a1", Rule: detect.RuleDNSBL, Scope: "egress", Source: "203.0.113.10",
			Group: "zen.spamhaus.org", Metric: "listed", WindowStart: rt0.Add(12 * time.Hour), Time: rt0.Add(12 * time.Hour), Severity: event.SeverityWarning},
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

var opts = RenderOptions{Generated: time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC), Source: "test data"}

func render(t *testing.T, kind, format string, evs []event.Event) string {
	t.Helper()
	imp, enf := reports(evs)
	var b bytes.Buffer
	var err error
	if kind == "impact" {
		err = WriteImpact(&b, &imp, format, opts)
	} else {
		err = WriteEnforcement(&b, &enf, format, opts)
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
			for _, format := range RolloutFormats {
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
	if err := WriteImpact(&bytes.Buffer{}, &imp, "pdf", opts); err == nil || !strings.Contains(err.Error(), "html") {
		t.Errorf("impact pdf: %v", err)
	}
	if err := WriteEnforcement(&bytes.Buffer{}, &enf, "xlsx", opts); err == nil {
		t.Error("enforcement xlsx: no error")
	}
}

func TestCSV(t *testing.T) {
	tests := []struct {
		name, kind string
		header     string
		rows       int
	}{
		{name: "impact", kind: "impact", header: "customer,host,class,connections,messages,accepted,rejected,first_seen,last_seen,destinations,scripts,blocklist,providers,likely_spam,action", rows: 4},
		// 4 classes x 3 metrics, blocked, 2 rejections, 1 listing, 2 hosts still trying x 3.
		{name: "enforcement", kind: "enforcement", header: "section,name,metric,before,after,customer,class,last_seen,scripts", rows: 12 + 1 + 2 + 1 + 6},
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
			for _, r := range recs[1:] {
				for _, c := range r {
					if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
						t.Errorf("cell %q would run as a formula", c)
					}
				}
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var imp detect.ImpactReport
	if err := json.Unmarshal([]byte(render(t, "impact", FormatJSON, sampleEvents())), &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Totals.Hosts != 4 || len(imp.Customers) != 3 {
		t.Errorf("impact JSON: %d hosts, %d customers", imp.Totals.Hosts, len(imp.Customers))
	}
}

// externalRE finds anything that would make a page load something or run
// code: reference attributes in tags, scripts, CSS imports and urls,
// embedded objects. (Text that mentions a URL is harmless.)
var externalRE = regexp.MustCompile(`(?i)<[^>]*\s(src|href|xlink:href|action|on[a-z]+)=|<script|@import|url\(|<link|<iframe|<object|<embed`)

func TestHTMLSelfContained(t *testing.T) {
	for _, kind := range []string{"impact", "enforcement"} {
		for _, data := range [][]event.Event{sampleEvents(), nil} {
			h := render(t, kind, FormatHTML, data)
			if m := externalRE.FindString(h); m != "" {
				t.Errorf("%s: %q in the HTML", kind, m)
			}
			if strings.Contains(h, hostileCustomer) {
				t.Errorf("%s: the customer name is not escaped", kind)
			}
		}
	}
	h := render(t, "impact", FormatHTML, sampleEvents())
	for _, id := range []string{`id="customers"`, `id="chart-timeline"`, `id="by-class"`, "&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(h, id) {
			t.Errorf("impact HTML lacks %s", id)
		}
	}
	h = render(t, "enforcement", FormatHTML, sampleEvents())
	for _, id := range []string{`id="chart-before-after"`, `id="still-trying"`, `id="rejections"`, `id="listings"`} {
		if !strings.Contains(h, id) {
			t.Errorf("enforcement HTML lacks %s", id)
		}
	}
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium (apt-get install chromium): the HTML reports are not checked in a browser")
	return ""
}

// TestHTMLInChromium opens both HTML reports in headless Chromium: the
// DOM it builds holds the tables and the charts' bars, and a screenshot
// renders.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		kind string
		want []string
	}{
		{"impact", []string{`<table id="customers">`, "10.0.0.1", "acme", "smtp.provider.example", `<svg id="chart-timeline"`, "<rect", "direct-to-mx"}},
		{"enforcement", []string{`<table id="still-trying">`, "10.0.0.6", `<svg id="chart-before-after"`, "blocked attempts", "zen.spamhaus.org"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			file := filepath.Join(dir, tc.kind+".html")
			if err := os.WriteFile(file, []byte(render(t, tc.kind, FormatHTML, sampleEvents())), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
					"--user-data-dir=" + filepath.Join(dir, "profile-"+tc.kind)}
				cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
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
			if n := strings.Count(dom, "<rect"); n < 5 {
				t.Errorf("only %d bars in the DOM", n)
			}
			png := filepath.Join(dir, tc.kind+".png")
			run("--screenshot="+png, "--window-size=1280,2000", "--hide-scrollbars", "file://"+file)
			if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
				t.Errorf("screenshot %s: %v, %d bytes", png, err, sizeOf(fi))
			}
		})
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}
