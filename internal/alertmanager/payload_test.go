package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mxwatch/mxwatch/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sendTime is the wall-clock time of sending in the tests of Payload.
var sendTime = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

// spikeAlert returns a complete spike alert; tests change copies of it.
func spikeAlert() *event.Alert {
	end := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	return &event.Alert{
		Kind:          event.KindAlert,
		Version:       event.SchemaVersion,
		ID:            "alert-0001",
		Sensor:        "span-fra1",
		Rule:          "spike",
		Scope:         "host",
		Source:        "192.0.2.10",
		Host:          netip.MustParseAddr("192.0.2.10"),
		Customer:      "cust-4711",
		Group:         "gmail",
		Metric:        "messages",
		WindowStart:   end.Add(-5 * time.Minute),
		Time:          end,
		Window:        5 * time.Minute,
		Observed:      120,
		Baseline:      4.5333,
		Threshold:     40,
		Severity:      event.SeverityCritical,
		Summary:       "192.0.2.10 sent 120 messages to gmail in 5m (baseline 4.53)",
		TopScripts:    []string{"php:/home/u1/public_html/wp-content/x.php", "x-mailer:PHPMailer 6.1"},
		TopDomains:    []string{"gmail.com", "googlemail.com"},
		TopRejections: nil,
	}
}

// rejectionsAlert returns a customer-scoped rejections alert.
func rejectionsAlert() *event.Alert {
	end := time.Date(2024, 5, 14, 9, 45, 0, 0, time.UTC)
	return &event.Alert{
		Kind:          event.KindAlert,
		Version:       event.SchemaVersion,
		ID:            "alert-0002",
		Rule:          "rejections",
		Scope:         "customer",
		Source:        "cust-0815",
		Customer:      "cust-0815",
		Group:         "microsoft",
		Metric:        "rejections",
		WindowStart:   end.Add(-10 * time.Minute),
		Time:          end,
		Window:        10 * time.Minute,
		Observed:      17,
		Baseline:      0,
		Threshold:     5,
		Severity:      event.SeverityWarning,
		Summary:       "cust-0815: 17 blocklist rejections from microsoft in 10m",
		TopRejections: []string{"microsoft-s3150: 550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent", "spamhaus-zen: 554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org"},
	}
}

func testConfig() Config {
	return Config{
		URL:          "http://127.0.0.1:9093",
		Labels:       map[string]string{"env": "prod", "team": "abuse", "empty": "  "},
		GeneratorURL: "https://grafana.example.net/d/mxwatch",
	}
}

func TestPayloadGolden(t *testing.T) {
	custom := spikeAlert()
	custom.ID = "alert-0003"
	custom.Rule = "slow-drip"
	custom.Scope = "egress"
	custom.Source = "203.0.113.5"
	custom.Host = netip.Addr{}
	custom.Customer = ""
	custom.Sensor = ""
	custom.Window = 0 // from the window bounds
	custom.Observed = 0.125
	custom.Summary = "egress 203.0.113.5:\x00 slow drip\r\n to gmail \u202e"
	custom.TopScripts = nil
	custom.TopDomains = []string{"", "  ", "gmail.com"}

	future := rejectionsAlert()
	future.ID = "alert-0004"
	future.WindowStart = sendTime.Add(time.Hour) // sensor clock ahead
	future.Time = sendTime.Add(2 * time.Hour)

	got, err := Payload([]*event.Alert{spikeAlert(), nil, rejectionsAlert(), custom, future}, testConfig(), sendTime)
	if err != nil {
		t.Fatalf("Payload: %v", err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatalf("Payload is not JSON: %v\n%s", err, got)
	}
	indented.WriteByte('\n')
	golden := filepath.Join("testdata", "payload.golden.json")
	if *update {
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("Payload differs from %s (run go test -update and review the diff):\n%s", golden, indented.Bytes())
	}
}

// decode parses a Payload body.
func decode(t *testing.T, body []byte) []postableAlert {
	t.Helper()
	var out []postableAlert
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("body is not a list of alerts: %v\n%s", err, body)
	}
	return out
}

func TestPayloadLabels(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes
	tests := []struct {
		name   string
		alert  func(a *event.Alert)
		labels map[string]string
		want   map[string]string // labels expected; others must be absent
	}{
		{
			name:  "spike",
			alert: func(*event.Alert) {},
			want: map[string]string{
				"alertname": "MxwatchSpike", "severity": "critical", "scope": "host",
				"source": "192.0.2.10", "group": "gmail", "metric": "messages", "rule": "spike",
				"customer": "cust-4711", "host": "192.0.2.10", "sensor": "span-fra1",
			},
		},
		{
			name: "rejections without customer, host and sensor",
			alert: func(a *event.Alert) {
				a.Rule, a.Metric, a.Customer, a.Host, a.Sensor = "rejections", "rejections", "", netip.Addr{}, ""
			},
			want: map[string]string{
				"alertname": "MxwatchBlocklistRejections", "severity": "critical", "scope": "host",
				"source": "192.0.2.10", "group": "gmail", "metric": "rejections", "rule": "rejections",
			},
		},
		{
			name:   "other rule camel-cased, static labels",
			alert:  func(a *event.Alert) { a.Rule, a.Customer, a.Sensor = "slow-drip_2x", "", "" },
			labels: map[string]string{"env": "prod", "blank": " \t"},
			want: map[string]string{
				"alertname": "MxwatchSlowDrip2x", "severity": "critical", "scope": "host",
				"source": "192.0.2.10", "group": "gmail", "metric": "messages", "rule": "slow-drip_2x",
				"host": "192.0.2.10", "env": "prod",
			},
		},
		{
			name: "empty and whitespace values omitted",
			alert: func(a *event.Alert) {
				a.Rule, a.Scope, a.Source, a.Group, a.Metric, a.Severity = "", " ", "\t\n", "", "", ""
				a.Customer, a.Host, a.Sensor = "\x00", netip.Addr{}, "\u202e"
			},
			want: map[string]string{"alertname": "Mxwatch"},
		},
		{
			name: "hostile values cleaned and cut",
			alert: func(a *event.Alert) {
				a.Rule = "Ünïcode rule!"
				a.Source = "evil\r\nX-Injected: 1"
				a.Customer = long
				a.Sensor = "bad\xff\xfeutf8"
				a.Host = netip.MustParseAddr("2001:db8::25")
			},
			want: map[string]string{
				"alertname": "MxwatchNcodeRule", "severity": "critical", "scope": "host",
				"source": "evil  X-Injected: 1", "group": "gmail", "metric": "messages",
				"rule": "Ünïcode rule!", "customer": strings.Repeat("é", 126) + "…",
				"host": "2001:db8::25", "sensor": "bad\uFFFDutf8",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := spikeAlert()
			tt.alert(a)
			cfg := Config{Labels: tt.labels}
			body, err := Payload([]*event.Alert{a}, cfg, sendTime)
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			out := decode(t, body)
			if len(out) != 1 {
				t.Fatalf("got %d alerts, want 1", len(out))
			}
			got := out[0].Labels
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("label %s = %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected label %s=%q", k, v)
				}
			}
		})
	}
}

func TestPayloadAnnotations(t *testing.T) {
	many := make([]string, 15)
	for i := range many {
		many[i] = "d" + string(rune('a'+i)) + ".example"
	}
	tests := []struct {
		name      string
		alert     func(a *event.Alert)
		want      map[string]string // annotations expected; others must be absent
		truncated int
	}{
		{
			name:  "spike",
			alert: func(*event.Alert) {},
			want: map[string]string{
				"summary":     "192.0.2.10 sent 120 messages to gmail in 5m (baseline 4.53)",
				"description": "120 messages observed vs baseline 4.53 (threshold 40) towards gmail in a 5m0s window from 2024-05-14T09:25:00Z to 2024-05-14T09:30:00Z",
				"top_scripts": "php:/home/u1/public_html/wp-content/x.php, x-mailer:PHPMailer 6.1",
				"top_domains": "gmail.com, googlemail.com",
				"mxwatch_id":  "alert-0001",
			},
		},
		{
			name: "window from bounds, no group, no lists",
			alert: func(a *event.Alert) {
				a.Window, a.Group, a.Metric, a.Summary = 0, "", "", ""
				a.TopScripts, a.TopDomains = nil, []string{" ", ""}
				a.Observed, a.Baseline, a.Threshold = 2.5, 0.004, 1e20
			},
			want: map[string]string{
				"description": "2.5 value observed vs baseline 0 (threshold 100000000000000000000) in a 5m0s window from 2024-05-14T09:25:00Z to 2024-05-14T09:30:00Z",
				"mxwatch_id":  "alert-0001",
			},
		},
		{
			name: "only an end time",
			alert: func(a *event.Alert) {
				a.WindowStart, a.Window, a.ID = time.Time{}, 0, ""
				a.TopScripts, a.TopDomains = nil, nil
			},
			want: map[string]string{
				"summary":     "192.0.2.10 sent 120 messages to gmail in 5m (baseline 4.53)",
				"description": "120 messages observed vs baseline 4.53 (threshold 40) towards gmail ending 2024-05-14T09:30:00Z",
			},
		},
		{
			name: "lists capped at ten entries",
			alert: func(a *event.Alert) {
				a.TopScripts, a.TopDomains, a.Summary = nil, many, strings.Repeat("s", 3000)
			},
			want: map[string]string{
				"summary":     strings.Repeat("s", maxAnnotationValue-len(ellipsis)) + ellipsis,
				"description": "120 messages observed vs baseline 4.53 (threshold 40) towards gmail in a 5m0s window from 2024-05-14T09:25:00Z to 2024-05-14T09:30:00Z",
				"top_domains": strings.Join(many[:10], ", "),
				"mxwatch_id":  "alert-0001",
			},
			truncated: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := spikeAlert()
			tt.alert(a)
			body, st, err := encode([]*event.Alert{a}, Config{}, sendTime)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if st.truncated != tt.truncated {
				t.Errorf("truncated = %d, want %d", st.truncated, tt.truncated)
			}
			got := decode(t, body)[0].Annotations
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected annotation %s=%q", k, v)
				}
			}
		})
	}
}

func TestPayloadTimes(t *testing.T) {
	ws := time.Date(2024, 5, 14, 9, 25, 0, 0, time.UTC)
	we := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name       string
		start, end time.Time
		hold       time.Duration
		wantStart  string
		wantEnd    string
	}{
		{"window start", ws, we, 0, "2024-05-14T09:25:00Z", "2024-05-14T10:15:00Z"},
		{"no window start uses time", time.Time{}, we, 0, "2024-05-14T09:30:00Z", "2024-05-14T10:15:00Z"},
		{"no times uses sending time", time.Time{}, time.Time{}, 0, "2024-05-14T10:00:00Z", "2024-05-14T10:15:00Z"},
		{"future start clamped", sendTime.Add(time.Minute), sendTime.Add(2 * time.Minute), 0, "2024-05-14T10:00:00Z", "2024-05-14T10:15:00Z"},
		{"start before 1970 clamped", time.Unix(-10, 0), we, 0, "2024-05-14T10:00:00Z", "2024-05-14T10:15:00Z"},
		{"custom hold", ws, we, 2 * time.Hour, "2024-05-14T09:25:00Z", "2024-05-14T12:00:00Z"},
		{"old replayed alert stays active", ws.AddDate(-1, 0, 0), we.AddDate(-1, 0, 0), time.Minute, "2023-05-14T09:25:00Z", "2024-05-14T10:01:00Z"},
		{"fraction kept, local zone to UTC", ws.In(time.FixedZone("CEST", 7200)).Add(1500 * time.Millisecond), we, 0, "2024-05-14T09:25:01.5Z", "2024-05-14T10:15:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := spikeAlert()
			a.WindowStart, a.Time = tt.start, tt.end
			body, err := Payload([]*event.Alert{a}, Config{Hold: tt.hold}, sendTime)
			if err != nil {
				t.Fatalf("Payload: %v", err)
			}
			got := decode(t, body)[0]
			if got.StartsAt != tt.wantStart || got.EndsAt != tt.wantEnd {
				t.Errorf("startsAt, endsAt = %s, %s; want %s, %s", got.StartsAt, got.EndsAt, tt.wantStart, tt.wantEnd)
			}
		})
	}
}

func TestPayloadErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		now  time.Time
	}{
		{"bad label name", Config{Labels: map[string]string{"bad-name": "x"}}, sendTime},
		{"reserved label", Config{Labels: map[string]string{"severity": "x"}}, sendTime},
		{"negative hold", Config{Hold: -time.Minute}, sendTime},
		{"zero sending time", Config{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Payload([]*event.Alert{spikeAlert()}, tt.cfg, tt.now)
			if err == nil {
				t.Fatalf("Payload = %s, want an error", body)
			}
		})
	}
}

func TestPayloadEmpty(t *testing.T) {
	tests := []struct {
		name   string
		alerts []*event.Alert
	}{
		{"nil slice", nil},
		{"only nil alerts", []*event.Alert{nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, st, err := encode(tt.alerts, Config{}, sendTime)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != "[]" || st.alerts != 0 {
				t.Errorf("encode = %s (%d alerts), want [] (0)", body, st.alerts)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{URL: "http://127.0.0.1:9093"}, false},
		{"https with prefix and labels", Config{URL: "https://am.example.net/alertmanager/", Labels: map[string]string{"env": "prod", "_x": "1"}}, false},
		{"user info", Config{URL: "http://u:p@127.0.0.1:9093"}, false},
		{"no retries", Config{URL: "http://127.0.0.1:9093", Retries: -1}, false},
		{"empty url", Config{}, true},
		{"no scheme", Config{URL: "127.0.0.1:9093"}, true},
		{"ftp scheme", Config{URL: "ftp://127.0.0.1/"}, true},
		{"no host", Config{URL: "http:///api"}, true},
		{"port only", Config{URL: "http://:9093"}, true},
		{"query", Config{URL: "http://127.0.0.1:9093/?x=1"}, true},
		{"fragment", Config{URL: "http://127.0.0.1:9093/#x"}, true},
		{"unparsable", Config{URL: "http://[::1"}, true},
		{"negative timeout", Config{URL: "http://127.0.0.1:9093", Timeout: -1}, true},
		{"negative hold", Config{URL: "http://127.0.0.1:9093", Hold: -1}, true},
		{"negative queue", Config{URL: "http://127.0.0.1:9093", QueueSize: -1}, true},
		{"negative batch", Config{URL: "http://127.0.0.1:9093", BatchSize: -1}, true},
		{"label name with dash", Config{URL: "http://127.0.0.1:9093", Labels: map[string]string{"a-b": "x"}}, true},
		{"label name with digit first", Config{URL: "http://127.0.0.1:9093", Labels: map[string]string{"1a": "x"}}, true},
		{"label name reserved prefix", Config{URL: "http://127.0.0.1:9093", Labels: map[string]string{"__name__": "x"}}, true},
		{"label set from alerts", Config{URL: "http://127.0.0.1:9093", Labels: map[string]string{"alertname": "x"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			c, nerr := NewClient(tt.cfg)
			if (nerr != nil) != tt.wantErr || (nerr == nil) != (c != nil) {
				t.Errorf("NewClient() = %v, %v; want error %v", c, nerr, tt.wantErr)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		name, base, want, redacted string
	}{
		{"bare", "http://127.0.0.1:9093", "http://127.0.0.1:9093/api/v2/alerts", "http://127.0.0.1:9093/api/v2/alerts"},
		{"trailing slash", "http://127.0.0.1:9093/", "http://127.0.0.1:9093/api/v2/alerts", "http://127.0.0.1:9093/api/v2/alerts"},
		{"prefix", "https://am.example.net/am//", "https://am.example.net/am/api/v2/alerts", "https://am.example.net/am/api/v2/alerts"},
		{"password", "http://bob:s3cret@[::1]:9093", "http://bob:s3cret@[::1]:9093/api/v2/alerts", "http://bob:xxxxx@[::1]:9093/api/v2/alerts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(Config{URL: tt.base})
			if err != nil {
				t.Fatal(err)
			}
			if c.endpoint != tt.want || c.redacted != tt.redacted {
				t.Errorf("endpoint = %s (%s), want %s (%s)", c.endpoint, c.redacted, tt.want, tt.redacted)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		limit     int
		want      string
		truncated int
	}{
		{"plain", "gmail", 16, "gmail", 0},
		{"trimmed", "  gmail\n", 16, "gmail", 0},
		{"controls", "a\x00b\tc\u2028d\u202ee", 16, "a b c d e", 0},
		{"invalid utf8", "a\xff\xfe\xfdb", 16, "a\uFFFDb", 0},
		{"cut at rune boundary", "ééééé", 8, "éé…", 1},
		{"exact fit", "abcdefgh", 8, "abcdefgh", 0},
		{"cut drops trailing space", "abcd    xyz", 8, "abcd…", 1},
		{"huge input bounded", strings.Repeat(" ", 100) + "x", 16, "…", 1},
		{"empty", "", 16, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			got := clean(tt.in, tt.limit, &n)
			if got != tt.want || n != tt.truncated {
				t.Errorf("clean(%q, %d) = %q (%d cuts), want %q (%d)", tt.in, tt.limit, got, n, tt.want, tt.truncated)
			}
			if len(got) > tt.limit || !utf8.ValidString(got) {
				t.Errorf("clean(%q) = %q: longer than %d or invalid UTF-8", tt.in, got, tt.limit)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"integer", 120, "120"},
		{"zero", 0, "0"},
		{"two decimals", 4.5333, "4.53"},
		{"trailing zeros", 2.5, "2.5"},
		{"tiny", 0.001, "0"},
		{"negative", -3.25, "-3.25"},
		{"huge", 1e20, "100000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatNumber(tt.in); got != tt.want {
				t.Errorf("formatNumber(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
