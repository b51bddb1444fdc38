package clickhouse

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
)

// stored returns what the schema keeps of f on a server with features ft:
// times in whole seconds without DateTime64, the delay in microseconds,
// blocklist hits without their time.
func storedFinding(f event.Finding, ft Features) *event.Finding {
	tr := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		if !ft.DateTime64 {
			return t.Truncate(time.Second).UTC()
		}
		return t.Truncate(time.Millisecond).UTC()
	}
	f.Start, f.End = tr(f.Start), tr(f.End)
	if f.Pairing != nil {
		p := *f.Pairing
		p.LookupTime, p.Delay = tr(p.LookupTime), p.Delay.Truncate(time.Microsecond)
		f.Pairing = &p
	}
	bl := make([]event.BlocklistHit, len(f.Blocklist))
	for i, h := range f.Blocklist {
		h.Time = time.Time{}
		bl[i] = h
	}
	if len(bl) == 0 {
		bl = nil
	}
	f.Blocklist = bl
	return &f
}

// TestReadBack: findings and alerts read back from ClickHouse (FINAL,
// after a re-delivery) equal what was written, within what the schema
// stores, and windows select by whole seconds.
func TestReadBack(t *testing.T) {
	s := chtest.Start(t)
	conn := open(t, s)
	cfg := Config{Database: "rb"}
	ctx := t.Context()
	if _, err := Migrate(ctx, conn, cfg); err != nil {
		t.Fatal(err)
	}
	v, err := ServerVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	ft := FeaturesFor(v)
	t0 := time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	full := event.Finding{Kind: event.KindFinding, Version: event.SchemaVersion, ID: "f1", Sensor: "s1",
		Start: t0.Add(1500 * time.Millisecond), End: t0.Add(3 * time.Second),
		Client: netip.MustParseAddrPort("10.20.1.5:40000"), Server: netip.MustParseAddrPort("[2001:db8::25]:25"), VLANs: []uint16{10, 20},
		Class: event.ClassDirectToMX, Confidence: event.ConfidenceHigh, Reason: "own MX lookup",
		Pairing: &event.Pairing{By: "self", Domain: "example.net", MXHost: "mx1.example.net", MXPref: 10, LookupTime: t0,
			Delay: 2010 * time.Microsecond, Resolver: netip.MustParseAddr("10.20.0.53"), Via: "additional"},
		ServerName: "mx1.example.net", Handshake: event.HandshakeCompleted, TLS: "starttls", Helo: "web05",
		Customer: "lindenhof", Account: "acct", Cluster: "shared", Site: "fra1", Egress: netip.MustParseAddr("203.0.113.10"),
		Scripts: []string{"php:/x.php (uid 1001)"}, MessageIDHosts: []string{"web05"}, RelayBypass: true,
		Group: "gmail", Sensitive: true, Messages: 3, Accepted: 2, Rejected: 1, Recipients: 4, RecipientDomains: []string{"example.net"},
		Blocklist: []event.BlocklistHit{{Signature: "spamhaus-zen-1", List: "spamhaus-zen", Type: "blocklist", Reason: "listed",
			Code: 554, Enhanced: "5.7.1", Command: "RCPT", Text: "blocked using zen.spamhaus.org", Time: t0}}}
	bare := event.Finding{Kind: event.KindFinding, Version: event.SchemaVersion, ID: "f2", Start: t0.Add(time.Minute), End: t0.Add(time.Minute),
		Client: netip.MustParseAddrPort("10.20.1.6:40001"), Server: netip.MustParseAddrPort("192.0.2.25:25"),
		Class: event.ClassExternalRelay25, Confidence: event.ConfidenceHigh, Handshake: event.HandshakeRefused, Auth: true, Group: "other"}
	late := bare
	late.ID, late.Start, late.End = "f3", t0.Add(time.Hour), t0.Add(time.Hour)
	alert := event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: "a1", Rule: "dnsbl", Scope: "egress",
		Source: "203.0.113.10", Group: "zen.spamhaus.org", Metric: "listed", WindowStart: t0, Time: t0.Add(2 * time.Second),
		Window: 2 * time.Second, Observed: 1, Severity: event.SeverityWarning, Summary: "listed", TopDomains: []string{"x"}}
	evs := []event.Event{&full, &bare, &late, &alert}
	w := NewWriter(conn, cfg)
	for range 2 { // a re-delivery must not show twice
		if err := w.Insert(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{name: "all", want: []string{"f1", "f2", "f3"}},
		{name: "first minute", from: t0, to: t0.Add(time.Minute), want: []string{"f1"}},
		{name: "from the second after f1's start", from: t0.Add(2 * time.Second), to: t0.Add(2 * time.Hour), want: []string{"f2", "f3"}},
		{name: "empty", from: t0.Add(-time.Hour), to: t0, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := ReadFindings(ctx, conn, cfg, tc.from, tc.to, func(f *event.Finding) error {
				got = append(got, f.ID)
				return nil
			})
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ids %v, err %v; want %v", got, err, tc.want)
			}
		})
	}
	byID := map[string]*event.Finding{}
	if err := ReadFindings(ctx, conn, cfg, time.Time{}, time.Time{}, func(f *event.Finding) error {
		byID[f.ID] = f
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []event.Finding{full, bare, late} {
		if got, w := byID[want.ID], storedFinding(want, ft); !reflect.DeepEqual(got, w) {
			t.Errorf("finding %s read back:\n got %+v\nwant %+v", want.ID, got, w)
		}
		if err := byID[want.ID].Validate(); err != nil {
			t.Errorf("read-back finding invalid: %v", err)
		}
	}
	var alerts []*event.Alert
	if err := ReadAlerts(ctx, conn, cfg, t0, t0.Add(time.Hour), func(a *event.Alert) error {
		alerts = append(alerts, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !reflect.DeepEqual(*alerts[0], alert) {
		t.Errorf("alerts read back %+v, want %+v", alerts, alert)
	}
}
