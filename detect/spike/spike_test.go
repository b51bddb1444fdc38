package spike

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// t0 is aligned to every window length the tests use.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

var (
	hostA   = netip.MustParseAddr("10.0.0.5")
	hostB   = netip.MustParseAddr("10.0.0.6")
	hostC   = netip.MustParseAddr("10.0.0.7")
	egress1 = netip.MustParseAddr("203.0.113.1")
)

func newDetector(t testing.TB, mod func(*Config)) *Detector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Sensor = "test"
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// replay observes obs in order, then flushes, and checks every alert.
func replay(t testing.TB, d *Detector, obs []Observation) []*event.Alert {
	t.Helper()
	var alerts []*event.Alert
	for _, o := range obs {
		alerts = d.Observe(o, alerts)
	}
	alerts = d.Flush(alerts)
	checkAlerts(t, alerts)
	return alerts
}

// checkAlerts validates every alert and checks that IDs are unique.
func checkAlerts(t testing.TB, alerts []*event.Alert) {
	t.Helper()
	seen := make(map[string]bool)
	for _, a := range alerts {
		if err := a.Validate(); err != nil {
			t.Errorf("invalid alert %+v: %v", a, err)
		}
		if seen[a.ID] {
			t.Errorf("duplicate alert id %s (%s)", a.ID, a.Summary)
		}
		seen[a.ID] = true
	}
}

func summaries(alerts []*event.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Summary)
	}
	return out
}

// obsAt is one connection of host with n messages to a sensitive gmail.
func obsAt(at time.Duration, host netip.Addr, n int) Observation {
	return Observation{Time: t0.Add(at), Host: host, Group: "gmail", Sensitive: true, Connections: 1, Messages: n}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"default", func(*Config) {}, nil},
		{"rejection rule disabled", func(c *Config) { c.RejectionBurst = 0 }, nil},
		{"one scope", func(c *Config) { c.Scopes = []string{ScopeEgress} }, nil},
		{"zero window", func(c *Config) { c.Window = 0 }, ErrConfig},
		{"window too long", func(c *Config) { c.Window = 48 * time.Hour }, ErrConfig},
		{"no history", func(c *Config) { c.History = 0 }, ErrConfig},
		{"history too long", func(c *Config) { c.History = MaxHistory + 1 }, ErrConfig},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, ErrConfig},
		{"negative min volume", func(c *Config) { c.MinVolume = -1 }, ErrConfig},
		{"NaN min volume", func(c *Config) { c.MinVolume = math.NaN() }, ErrConfig},
		{"factor below 1", func(c *Config) { c.Factor = 0.5 }, ErrConfig},
		{"infinite factor", func(c *Config) { c.Factor = math.Inf(1) }, ErrConfig},
		{"negative mads", func(c *Config) { c.MADs = -2 }, ErrConfig},
		{"critical below factor", func(c *Config) { c.CriticalFactor = 3 }, ErrConfig},
		{"negative burst", func(c *Config) { c.RejectionBurst = -1 }, ErrConfig},
		{"no keys", func(c *Config) { c.MaxKeys = 0 }, ErrConfig},
		{"no scopes", func(c *Config) { c.Scopes = nil }, ErrScope},
		{"unknown scope", func(c *Config) { c.Scopes = []string{"host", "site"} }, ErrScope},
		{"repeated scope", func(c *Config) { c.Scopes = []string{"host", "host"} }, ErrScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if _, err := New(cfg); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("New() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRejectionBurst(t *testing.T) {
	rej := func(at time.Duration, n int, lists ...string) Observation {
		return Observation{Time: t0.Add(at), Host: hostA, Group: "other", Connections: 1, Rejections: n, RejectionLists: lists}
	}
	tests := []struct {
		name   string
		scopes []string
		obs    []Observation
		want   int
		sev    event.Severity
	}{
		{"six in one window", nil, []Observation{
			rej(time.Minute, 2, "spamhaus-zen", "spamhaus-zen"),
			rej(2*time.Minute, 2, "barracuda", "spamhaus-zen"),
			rej(4*time.Minute, 2, "spamhaus-zen", "spamcop"),
		}, 1, event.SeverityWarning},
		{"four in one window", nil, []Observation{
			rej(time.Minute, 2, "spamhaus-zen", "spamhaus-zen"),
			rej(2*time.Minute, 2, "barracuda", "spamhaus-zen"),
		}, 0, ""},
		{"six split over two windows", nil, []Observation{
			rej(3*time.Minute, 3),
			rej(6*time.Minute, 3),
		}, 0, ""},
		{"exactly the burst", nil, []Observation{rej(time.Minute, 5)}, 1, event.SeverityWarning},
		{"twice the burst is critical", nil, []Observation{rej(time.Minute, 10)}, 1, event.SeverityCritical},
		{"just under twice the burst", nil, []Observation{rej(time.Minute, 9)}, 1, event.SeverityWarning},
		{"six with every scope", []string{ScopeHost, ScopeCustomer, ScopeEgress}, []Observation{
			{Time: t0.Add(time.Minute), Host: hostA, Customer: "acme", Egress: egress1, Group: "gmail", Connections: 1, Rejections: 6},
		}, 3, event.SeverityWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) {
				if tt.scopes != nil {
					c.Scopes = tt.scopes
				}
			})
			var alerts []*event.Alert
			for _, o := range tt.obs {
				alerts = d.Observe(o, alerts)
			}
			alerts = d.Advance(t0.Add(time.Hour), alerts)
			checkAlerts(t, alerts)
			if len(alerts) != tt.want {
				t.Fatalf("got %d alerts %q, want %d", len(alerts), summaries(alerts), tt.want)
			}
			for _, a := range alerts {
				if a.Rule != RuleRejections || a.Metric != MetricRejections || a.Threshold != 5 || a.Severity != tt.sev {
					t.Errorf("alert %+v: want rule and metric rejections, threshold 5, severity %s", a, tt.sev)
				}
			}
			if tt.name == "six in one window" {
				a := alerts[0]
				if a.Observed != 6 || a.Severity != event.SeverityWarning || a.Source != "10.0.0.5" || a.Host != hostA {
					t.Errorf("alert %+v: want observed 6, warning, source and host 10.0.0.5", a)
				}
				if want := []string{"spamhaus-zen", "barracuda", "spamcop"}; !slices.Equal(a.TopRejections, want) {
					t.Errorf("TopRejections = %q, want %q", a.TopRejections, want)
				}
				if want := "10.0.0.5 got 6 blocklist rejections from other in 5m (burst threshold 5)"; a.Summary != want {
					t.Errorf("Summary = %q, want %q", a.Summary, want)
				}
			}
		})
	}
}

// TestWindowClosing checks when alerts come out: at the close of a window,
// at Advance to its end and not a nanosecond earlier.
func TestWindowClosing(t *testing.T) {
	d := newDetector(t, nil)
	o := Observation{Time: t0.Add(time.Minute), Host: hostA, Group: "gmail", Connections: 1, Rejections: 6}
	if got := d.Observe(o, nil); len(got) != 0 {
		t.Fatalf("Observe alerted before the window closed: %q", summaries(got))
	}
	if got := d.Advance(t0.Add(5*time.Minute-1), nil); len(got) != 0 {
		t.Fatalf("Advance before the window end alerted: %q", summaries(got))
	}
	got := d.Advance(t0.Add(5*time.Minute), nil)
	if len(got) != 1 {
		t.Fatalf("Advance to the window end: %d alerts, want 1", len(got))
	}
	if !got[0].WindowStart.Equal(t0) || !got[0].Time.Equal(t0.Add(5*time.Minute)) || got[0].Window != 5*time.Minute {
		t.Errorf("window %v..%v (%v), want %v..+5m", got[0].WindowStart, got[0].Time, got[0].Window, t0)
	}
	if got := d.Flush(nil); len(got) != 0 {
		t.Errorf("Flush after the close repeated alerts: %q", summaries(got))
	}
	if got := d.Advance(t0.Add(time.Hour), nil); len(got) != 0 {
		t.Errorf("a later Advance repeated alerts: %q", summaries(got))
	}
}

// history feeds host windows of the given message counts to gmail, window
// i at t0 + i x 5m (the first count should not be 0: the key starts with
// its first observation, and so does the warm-up).
func history(host netip.Addr, counts ...int) []Observation {
	var obs []Observation
	for i, n := range counts {
		if n > 0 {
			obs = append(obs, obsAt(time.Duration(i)*5*time.Minute, host, n))
		}
	}
	return obs
}

func TestSpikeRule(t *testing.T) {
	// median 3, MAD 3: threshold max(4 x 3, 3 + 6 x 3, 20) = 21.
	base := []int{3, 0, 0, 0, 0, 0, 3, 6, 6, 6, 6, 6}
	at := 60*time.Minute + time.Minute // the 13th window
	tests := []struct {
		name     string
		mod      func(*Config)
		obs      []Observation
		want     []string
		severity event.Severity
	}{
		{"spike over baseline", nil,
			append(history(hostA, base...), obsAt(at, hostA, 340)),
			[]string{"10.0.0.5 sent 340 messages to gmail in 5m (baseline 3, threshold 21)"}, event.SeverityCritical},
		{"just over threshold is a warning", nil,
			append(history(hostA, base...), obsAt(at, hostA, 22)),
			[]string{"10.0.0.5 sent 22 messages to gmail in 5m (baseline 3, threshold 21)"}, event.SeverityWarning},
		{"at threshold", nil,
			append(history(hostA, base...), obsAt(at, hostA, 21)), nil, ""},
		{"factor bound", nil,
			// median 10, MAD 0: threshold 40.
			append(history(hostA, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10), obsAt(at, hostA, 40)), nil, ""},
		{"over factor bound", nil,
			append(history(hostA, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10), obsAt(at, hostA, 41)),
			[]string{"10.0.0.5 sent 41 messages to gmail in 5m (baseline 10, threshold 40)"}, event.SeverityWarning},
		{"below min volume", nil,
			[]Observation{obsAt(0, hostB, 1), obsAt(at, hostA, 19)}, nil, ""},
		{"new source at min volume", nil,
			[]Observation{obsAt(0, hostB, 1), obsAt(at, hostA, 20)},
			[]string{"10.0.0.5 sent 20 messages to gmail in 5m (baseline 0, threshold 20)"}, event.SeverityWarning},
		{"new source ten times the floor", nil,
			[]Observation{obsAt(0, hostB, 1), obsAt(at, hostA, 51)},
			[]string{"10.0.0.5 sent 51 messages to gmail in 5m (baseline 0, threshold 20)"}, event.SeverityCritical},
		{"zero windows count once seen", nil,
			// one window of 30 an hour ago, then silence: median 0.
			[]Observation{obsAt(0, hostA, 30), obsAt(at, hostA, 25)},
			[]string{"10.0.0.5 sent 25 messages to gmail in 5m (baseline 0, threshold 20)"}, event.SeverityWarning},
		{"only the last History windows", func(c *Config) { c.History = 2 },
			// 1000s long ago do not count; the last two windows are 10.
			append(history(hostA, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 10, 10), obsAt(at, hostA, 50)),
			[]string{"10.0.0.5 sent 50 messages to gmail in 5m (baseline 10, threshold 40)"}, event.SeverityWarning},
		{"not sensitive", nil,
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Group: "other", Connections: 1, Messages: 500}}, nil, ""},
		{"not sensitive, OnlySensitive off", func(c *Config) { c.OnlySensitive = false },
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Group: "other", Connections: 1, Messages: 500}},
			[]string{"10.0.0.5 sent 500 messages to other in 5m (baseline 0, threshold 20)"}, event.SeverityCritical},
		{"connections", nil,
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Group: "gmail", Sensitive: true, Connections: 41}},
			[]string{"10.0.0.5 opened 41 connections to gmail in 5m (baseline 0, threshold 40)"}, event.SeverityWarning},
		{"connections below twice the floor", nil,
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Group: "gmail", Sensitive: true, Connections: 39}}, nil, ""},
		{"both metrics", nil,
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Group: "gmail", Sensitive: true, Connections: 150, Messages: 200}},
			[]string{
				"10.0.0.5 sent 200 messages to gmail in 5m (baseline 0, threshold 20)",
				"10.0.0.5 opened 150 connections to gmail in 5m (baseline 0, threshold 40)",
			}, event.SeverityCritical},
		{"customer and egress scopes", nil,
			[]Observation{obsAt(0, hostB, 1), {Time: t0.Add(at), Host: hostA, Customer: "acme", Egress: egress1, Group: "gmail", Sensitive: true, Connections: 1, Messages: 60}},
			[]string{
				"10.0.0.5 sent 60 messages to gmail in 5m (baseline 0, threshold 20)",
				"customer acme sent 60 messages to gmail in 5m (baseline 0, threshold 20)",
				"egress 203.0.113.1 sent 60 messages to gmail in 5m (baseline 0, threshold 20)",
			}, event.SeverityCritical},
		{"MAD bound", func(c *Config) { c.Factor = 1; c.CriticalFactor = 1 },
			// median 10, MAD 5: threshold 10 + 30 = 40.
			append(history(hostA, 5, 5, 5, 5, 5, 5, 15, 15, 15, 15, 15, 15), obsAt(at, hostA, 40)), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, tt.mod)
			alerts := replay(t, d, tt.obs)
			if got := summaries(alerts); !slices.Equal(got, tt.want) {
				t.Fatalf("alerts:\n%q\nwant:\n%q", got, tt.want)
			}
			for _, a := range alerts {
				if a.Severity != tt.severity {
					t.Errorf("%s: severity %s, want %s", a.Summary, a.Severity, tt.severity)
				}
				if a.Rule != RuleSpike {
					t.Errorf("%s: rule %q", a.Summary, a.Rule)
				}
				if !a.WindowStart.Equal(t0.Add(60 * time.Minute)) {
					t.Errorf("%s: window start %v", a.Summary, a.WindowStart)
				}
			}
		})
	}
}

func TestAlertFields(t *testing.T) {
	d := newDetector(t, func(c *Config) { c.Warmup = 0 })
	o := Observation{
		Time: t0.Add(60 * time.Minute), Host: hostA, Customer: "acme", Egress: egress1,
		Group: "gmail", Sensitive: true, Connections: 1, Messages: 300,
		Domains: []string{"gmail.com", "googlemail.com"},
	}
	var obs []Observation
	// Scripts: a x3, b x3, c x2, d x1, e x1, f x1 (ties by name).
	for _, s := range []string{"php:/a.php", "php:/b.php", "php:/c.php", "php:/f.php", "php:/e.php", "php:/d.php", "php:/a.php", "php:/b.php", "php:/c.php", "php:/a.php", "php:/b.php"} {
		o.Scripts = []string{s}
		obs = append(obs, o)
		o.Messages = 0
	}
	// An egress shared with another customer has no customer.
	obs = append(obs, Observation{Time: t0.Add(62 * time.Minute), Host: hostB, Customer: "bravo", Egress: egress1, Group: "gmail", Sensitive: true, Connections: 1})
	alerts := replay(t, d, obs)
	if len(alerts) != 3 {
		t.Fatalf("got %q, want host, customer and egress alerts", summaries(alerts))
	}
	wantScripts := []string{"php:/a.php", "php:/b.php", "php:/c.php", "php:/d.php", "php:/e.php"}
	for _, a := range alerts {
		if a.Kind != event.KindAlert || a.Version != event.SchemaVersion || a.Sensor != "test" {
			t.Errorf("%s: kind %q version %d sensor %q", a.Summary, a.Kind, a.Version, a.Sensor)
		}
		if !slices.Equal(a.TopScripts, wantScripts) {
			t.Errorf("%s: TopScripts %q, want %q", a.Scope, a.TopScripts, wantScripts)
		}
		if want := []string{"gmail.com", "googlemail.com"}; !slices.Equal(a.TopDomains, want) {
			t.Errorf("%s: TopDomains %q, want %q", a.Scope, a.TopDomains, want)
		}
		sum := sha256.Sum256([]byte("spike|" + a.Scope + "|" + a.Source + "|gmail|messages|2024-03-01T01:00:00Z"))
		if want := hex.EncodeToString(sum[:])[:24]; a.ID != want {
			t.Errorf("%s: ID %s, want %s", a.Scope, a.ID, want)
		}
		var wantHost netip.Addr
		wantCustomer, wantSource := "acme", "10.0.0.5"
		switch a.Scope {
		case ScopeHost:
			wantHost = hostA
		case ScopeCustomer:
			wantSource = "acme"
		case ScopeEgress:
			wantCustomer, wantSource = "", "203.0.113.1"
		}
		if a.Host != wantHost || a.Customer != wantCustomer || a.Source != wantSource {
			t.Errorf("%s: host %v customer %q source %q, want %v %q %q", a.Scope, a.Host, a.Customer, a.Source, wantHost, wantCustomer, wantSource)
		}
		if a.ClientAddr() != wantHost {
			t.Errorf("%s: ClientAddr %v", a.Scope, a.ClientAddr())
		}
	}
}

func TestWarmup(t *testing.T) {
	tests := []struct {
		name   string
		warmup time.Duration
		obs    []Observation
		want   []string
	}{
		{"big volume in the first hour", time.Hour, []Observation{
			obsAt(0, hostB, 2),
			obsAt(30*time.Minute, hostA, 1000),
			obsAt(59*time.Minute, hostA, 1000),
		}, nil},
		{"same volume without warm-up", 0, []Observation{
			obsAt(0, hostB, 2),
			obsAt(30*time.Minute, hostA, 1000),
		}, []string{"10.0.0.5 sent 1000 messages to gmail in 5m (baseline 0, threshold 20)"}},
		{"new host after warm-up", time.Hour, []Observation{
			obsAt(0, hostB, 2),
			obsAt(30*time.Minute, hostA, 1000),
			obsAt(90*time.Minute, hostC, 200),
		}, []string{"10.0.0.7 sent 200 messages to gmail in 5m (baseline 0, threshold 20)"}},
		{"window starting inside the warm-up", time.Hour, []Observation{
			// First observation at 0:02: the 1:00 window starts 2m too early.
			obsAt(2*time.Minute, hostB, 2),
			obsAt(61*time.Minute, hostC, 200),
			obsAt(66*time.Minute, hostA, 200),
		}, []string{"10.0.0.5 sent 200 messages to gmail in 5m (baseline 0, threshold 20)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Warmup = tt.warmup })
			alerts := replay(t, d, tt.obs)
			if got := summaries(alerts); !slices.Equal(got, tt.want) {
				t.Fatalf("alerts %q, want %q", got, tt.want)
			}
			for _, a := range alerts {
				if a.Baseline != 0 || a.Severity != event.SeverityCritical {
					t.Errorf("%s: baseline %v severity %s, want 0 and critical", a.Summary, a.Baseline, a.Severity)
				}
			}
		})
	}
}

func TestLate(t *testing.T) {
	rej := func(at time.Duration, n int) Observation {
		return Observation{Time: t0.Add(at), Host: hostA, Group: "other", Connections: 1, Rejections: n}
	}
	d := newDetector(t, nil)
	var alerts []*event.Alert
	alerts = d.Observe(rej(9*time.Minute, 3), alerts)
	// Closes [5m, 10m): 3 rejections, no alert.
	alerts = d.Observe(rej(12*time.Minute, 0), alerts)
	if len(alerts) != 0 {
		t.Fatalf("alert before the late observation: %q", summaries(alerts))
	}
	// 4 minutes late: counted in [5m, 10m), which now has 6.
	alerts = d.Observe(rej(8*time.Minute, 3), alerts)
	if len(alerts) != 1 || !alerts[0].WindowStart.Equal(t0.Add(5*time.Minute)) || alerts[0].Observed != 6 {
		t.Fatalf("after the late observation: %q, want one alert for the 5m window with 6", summaries(alerts))
	}
	// Exactly one window late is still counted; more is not.
	alerts = d.Observe(rej(7*time.Minute, 1), alerts)
	alerts = d.Observe(rej(6*time.Minute+59*time.Second, 10), alerts)
	alerts = d.Observe(rej(time.Minute, 10), alerts)
	alerts = d.Flush(alerts)
	checkAlerts(t, alerts)
	if len(alerts) != 1 {
		t.Errorf("late observations raised alerts: %q", summaries(alerts))
	}
	if s := d.Stats(); s.Late != 2 || s.Observations != 6 {
		t.Errorf("stats %+v, want 2 late of 6", s)
	}
	idx := t0.Add(5*time.Minute).UnixNano() / int64(5*time.Minute)
	if got := d.value(d.keys[key{scope: scopeHost, addr: hostA, group: "other"}], idx, metricRejections); got != 7 {
		t.Errorf("window [5m, 10m) counts %d rejections, want 7", got)
	}
}

func TestEviction(t *testing.T) {
	rej := func(host netip.Addr, n int) Observation {
		return Observation{Time: t0.Add(time.Minute), Host: host, Group: "other", Connections: 1, Rejections: n}
	}
	tests := []struct {
		name    string
		maxKeys int
		want    int
		evicted uint64
	}{
		// A, B, A, C: B is the least recently seen and goes; A, B: C goes,
		// and B starts again from 0.
		{"evicted key forgets", 2, 1, 2},
		{"room for all", 10, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.MaxKeys = tt.maxKeys; c.Scopes = []string{ScopeHost} })
			alerts := replay(t, d, []Observation{
				rej(hostA, 3), rej(hostB, 3), rej(hostA, 3), rej(hostC, 0), rej(hostA, 0), rej(hostB, 3),
			})
			if len(alerts) != tt.want {
				t.Errorf("got %q, want %d alerts", summaries(alerts), tt.want)
			}
			s := d.Stats()
			if s.Evicted != tt.evicted || s.Keys > uint64(tt.maxKeys) {
				t.Errorf("stats %+v, want %d evicted, at most %d keys", s, tt.evicted, tt.maxKeys)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	long := "x" + strings.Repeat("é", 100) // 201 bytes; byte 128 is inside a rune
	tests := []struct {
		name      string
		obs       Observation
		invalid   uint64
		truncated uint64
		keys      uint64
	}{
		{"zero time", Observation{Host: hostA, Group: "gmail", Messages: 1}, 1, 0, 0},
		{"before 1970", Observation{Time: time.Unix(-10, 0), Host: hostA, Group: "gmail", Messages: 1}, 1, 0, 0},
		{"after 2262", Observation{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Host: hostA, Group: "gmail"}, 1, 0, 0},
		{"no source", Observation{Time: t0, Group: "gmail", Messages: 1}, 1, 0, 0},
		{"negative counts", Observation{Time: t0, Host: hostA, Messages: -1, Connections: -5, Rejections: -2}, 3, 0, 1},
		{"long names", Observation{Time: t0, Host: hostA, Customer: long, Group: long, Scripts: []string{long}}, 0, 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, func(c *Config) { c.Warmup = 0; c.MinVolume = 0 })
			alerts := replay(t, d, []Observation{tt.obs})
			if len(alerts) != 0 {
				t.Errorf("alerts %q", summaries(alerts))
			}
			s := d.Stats()
			if s.Invalid != tt.invalid || s.Truncated != tt.truncated || s.Keys != tt.keys {
				t.Errorf("stats %+v, want invalid %d truncated %d keys %d", s, tt.invalid, tt.truncated, tt.keys)
			}
			for k := range d.keys {
				if len(k.name) > maxStringLen || len(k.group) > maxStringLen || !utf8Valid(k.name+k.group) {
					t.Errorf("key %v not cut at a rune boundary within %d bytes", k, maxStringLen)
				}
			}
		})
	}
	d := newDetector(t, nil)
	if got := d.Advance(time.Time{}, nil); len(got) != 0 || d.Stats().Invalid != 1 {
		t.Errorf("Advance(zero): %d alerts, stats %+v", len(got), d.Stats())
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestEvidenceBounds(t *testing.T) {
	d := newDetector(t, func(c *Config) { c.Warmup = 0 })
	o := obsAt(0, hostA, 100)
	for i := range 40 {
		o.Domains = append(o.Domains, "d"+strings.Repeat("x", i)+".example")
	}
	alerts := replay(t, d, []Observation{o})
	if len(alerts) != 1 {
		t.Fatalf("alerts %q", summaries(alerts))
	}
	if got := len(alerts[0].TopDomains); got != topN {
		t.Errorf("%d top domains, want %d", got, topN)
	}
	if s := d.Stats(); s.EvidenceDropped != 40-maxEvidencePerKind {
		t.Errorf("EvidenceDropped %d, want %d", s.EvidenceDropped, 40-maxEvidencePerKind)
	}
	// Evidence of windows before the previous one is released.
	d.Advance(t0.Add(time.Hour), nil)
	if d.evEntries != 0 {
		t.Errorf("%d evidence entries kept after an hour", d.evEntries)
	}
}

func TestFlushPartialWindow(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want int
	}{
		{"over threshold", 200, 1},
		{"under threshold", 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, nil)
			var alerts []*event.Alert
			alerts = d.Observe(obsAt(0, hostB, 1), alerts)
			alerts = d.Observe(obsAt(2*time.Hour+time.Minute, hostA, tt.n), alerts)
			alerts = d.Flush(alerts)
			if len(alerts) != tt.want {
				t.Fatalf("Flush: %q, want %d alerts", summaries(alerts), tt.want)
			}
			// Flushing again, or closing the window later, repeats nothing.
			if again := d.Flush(nil); len(again) != 0 {
				t.Errorf("second Flush: %q", summaries(again))
			}
			if later := d.Advance(t0.Add(3*time.Hour), nil); len(later) != 0 {
				t.Errorf("Advance after Flush: %q", summaries(later))
			}
		})
	}
}
