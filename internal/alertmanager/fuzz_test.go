package alertmanager

import (
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mxwatch/mxwatch/event"
)

// checkValue reports what is wrong with a label or annotation value.
func checkValue(v string, limit int) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > limit:
		return "too long"
	case !utf8.ValidString(v):
		return "invalid UTF-8"
	case strings.TrimSpace(v) != v:
		return "untrimmed"
	case strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
	}) >= 0:
		return "control character"
	}
	return ""
}

// FuzzPayload feeds wire-derived text and odd numbers and times into
// Payload: it must not panic, must produce JSON that Alertmanager accepts
// (no empty or unclean label values, startsAt not after endsAt), and must
// stay within its bounds.
func FuzzPayload(f *testing.F) {
	f.Add("spike", "host", "192.0.2.10", "cust-4711", "gmail", "messages", "span-fra1", "summary", "php:/x.php", "gmail.com", "550 5.7.1 listed", int64(1715678700), int64(300), 120.0, 4.5)
	f.Add("rejections", "", "", "", "", "", "", "", "", "", "", int64(0), int64(0), 0.0, 0.0)
	f.Add("slow-drip\x00", " \t", "\xff\xfe", "\u202e", "a\r\nb", "é", "\u2028", strings.Repeat("x", 5000), "", " ", "\x7f", int64(-1<<40), int64(-5), math.NaN(), math.Inf(-1))
	f.Add("Ünï", "egress", "203.0.113.5", "c", "g", "m", "s", "…", "a,b", "d", "r", int64(1<<40), int64(1<<62), 1e300, math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, rule, scope, source, customer, group, metric, sensor, summary, script, domain, rejection string,
		startUnix, windowSec int64, observed, baseline float64) {
		start := time.Unix(startUnix%(1<<40), 0)
		a := &event.Alert{
			Kind: event.KindAlert, Version: event.SchemaVersion, ID: summary,
			Rule: rule, Scope: scope, Source: source, Customer: customer, Group: group, Metric: metric, Sensor: sensor,
			Host:        netip.MustParseAddr("2001:db8::1"),
			WindowStart: start, Time: start.Add(time.Duration(windowSec) * time.Second),
			Window: time.Duration(windowSec) * time.Second, Observed: observed, Baseline: baseline, Threshold: observed - baseline,
			Severity: event.Severity(scope), Summary: summary,
			TopScripts: []string{script, script, script}, TopDomains: strings.Split(domain, ","), TopRejections: []string{rejection},
		}
		body, st, err := encode([]*event.Alert{a, nil, a}, Config{Labels: map[string]string{"env": sensor}}, sendTime)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if st.alerts != 2 {
			t.Fatalf("%d alerts encoded, want 2", st.alerts)
		}
		var out []postableAlert
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		for _, p := range out {
			if p.Labels["alertname"] == "" || !strings.HasPrefix(p.Labels["alertname"], "Mxwatch") {
				t.Errorf("alertname %q", p.Labels["alertname"])
			}
			for k, v := range p.Labels {
				if msg := checkValue(v, maxLabelValue); msg != "" || !validLabelName(k) {
					t.Errorf("label %q=%q: %s", k, v, msg)
				}
			}
			for k, v := range p.Annotations {
				if msg := checkValue(v, maxAnnotationValue); msg != "" || !validLabelName(k) {
					t.Errorf("annotation %q=%q: %s", k, v, msg)
				}
			}
			s, err1 := time.Parse(time.RFC3339Nano, p.StartsAt)
			e, err2 := time.Parse(time.RFC3339Nano, p.EndsAt)
			if err1 != nil || err2 != nil || e.Before(s) || s.Year() < 1970 {
				t.Errorf("startsAt %q, endsAt %q: want RFC 3339 times in order", p.StartsAt, p.EndsAt)
			}
		}
	})
}

// FuzzClean checks the cleaning of untrusted text (alert fields, and
// Alertmanager's error bodies) against its contract for any bytes.
func FuzzClean(f *testing.F) {
	f.Add("gmail.com", 16)
	f.Add(" a\x00b\r\n\u202e\xff ", 8)
	f.Add(strings.Repeat("é", 100), 7)
	f.Add(`{"code":400,"message":"start time must be before end time"}`, maxSnippet)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = 4 + abs(limit)%1024 // room for the ellipsis
		var n int
		got := clean(s, limit, &n)
		if got == "" {
			if strings.TrimSpace(strings.Map(func(r rune) rune {
				if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
					return -1
				}
				return r
			}, s)) != "" && utf8.ValidString(s) {
				t.Errorf("clean(%q) is empty", s)
			}
			return
		}
		if msg := checkValue(got, limit); msg != "" {
			t.Errorf("clean(%q, %d) = %q: %s", s, limit, got, msg)
		}
		if n > 1 || (n == 1 && !strings.HasSuffix(got, ellipsis)) {
			t.Errorf("clean(%q, %d) = %q with %d cuts", s, limit, got, n)
		}
	})
}

// FuzzNewClient checks URL validation: no panic, and every accepted URL
// is http or https with a host and the API path.
func FuzzNewClient(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9093", "https://u:p@am.example.net/x/", "http://[::1", "ftp://h", "http://:1", "//h", "http://h/?q#f", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := NewClient(Config{URL: raw})
		if err != nil {
			return
		}
		defer c.CloseIdleConnections()
		if !strings.HasPrefix(c.endpoint, "http://") && !strings.HasPrefix(c.endpoint, "https://") {
			t.Errorf("NewClient(%q) accepted endpoint %q", raw, c.endpoint)
		}
		if !strings.HasSuffix(c.endpoint, apiPath) {
			t.Errorf("endpoint %q lacks %s", c.endpoint, apiPath)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == math.MinInt {
			return math.MaxInt
		}
		return -n
	}
	return n
}
