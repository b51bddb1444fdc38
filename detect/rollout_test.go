package detect

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

var rt0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func rf(id, host, customer string, at time.Duration, c event.Class, msgs int, hs event.Handshake, lists ...string) *event.Finding {
	f := &event.Finding{Kind: event.KindFinding, Version: event.SchemaVersion, ID: id, Start: rt0.Add(at), End: rt0.Add(at + time.Second),
		Client: netip.AddrPortFrom(netip.MustParseAddr(host), 40000), Server: netip.MustParseAddrPort("192.0.2.25:25"),
		Class: c, Confidence: event.ConfidenceHigh, Handshake: hs, Customer: customer, Group: "gmail", Messages: msgs, Accepted: msgs}
	if c == event.ClassDirectToMX {
		f.Pairing = &event.Pairing{By: "self", Domain: "example.org", MXHost: "mx.example.org", Delay: time.Second}
		f.Scripts = []string{"php:/home/x/spam.php"}
	}
	if c == event.ClassExternalRelay25 {
		f.ServerName = "smtp.provider.example"
		f.Auth = true
	}
	if c == event.ClassSubmission {
		f.Server = netip.MustParseAddrPort("192.0.2.25:587")
	}
	for _, l := range lists {
		f.Blocklist = append(f.Blocklist, event.BlocklistHit{List: l, Code: 554})
	}
	return f
}

func dnsbl(id string, at time.Duration, list string) *event.Alert {
	return &event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: id, Rule: RuleDNSBL, Scope: "egress",
		Source: "203.0.113.10", Group: list, Metric: "listed", WindowStart: rt0.Add(at), Time: rt0.Add(at), Severity: event.SeverityWarning}
}

func rolloutEvents() []event.Event {
	ok := event.HandshakeCompleted
	return []event.Event{
		rf("1", "10.0.0.1", "acme", time.Hour, event.ClassDirectToMX, 5, ok, "spamhaus-zen"),
		rf("2", "10.0.0.1", "acme", 2*time.Hour, event.ClassDirectToMX, 3, ok),
		rf("3", "10.0.0.2", "acme", 3*time.Hour, event.ClassExternalRelay25, 2, ok),
		rf("4", "10.0.0.3", "beta", 4*time.Hour, event.ClassRelay, 7, ok),
		rf("5", "10.0.0.4", "", 5*time.Hour, event.ClassDirect25, 1, ok),
		rf("6", "10.0.0.5", "beta", 6*time.Hour, event.ClassSubmission, 4, ok),
		// After the block (day 2): blocked attempts and one host still getting through.
		rf("7", "10.0.0.1", "acme", 25*time.Hour, event.ClassDirectToMX, 0, event.HandshakeNoAnswer),
		rf("8", "10.0.0.1", "acme", 26*time.Hour, event.ClassDirectToMX, 0, event.HandshakeRefused),
		rf("9", "10.0.0.6", "gamma", 27*time.Hour, event.ClassDirect25, 2, ok, "barracuda"),
		rf("10", "10.0.0.3", "beta", 28*time.Hour, event.ClassRelay, 9, ok),
		dnsbl("a1", 2*time.Hour, "zen.spamhaus.org"),
		dnsbl("a2", 30*time.Hour, "b.barracudacentral.org"),
		&event.Alert{Kind: event.KindAlert, Version: event.SchemaVersion, ID: "a3", Rule: "spike", Scope: "host", Source: "10.0.0.4",
			Host: netip.MustParseAddr("10.0.0.4"), Metric: "messages", WindowStart: rt0.Add(5 * time.Hour), Time: rt0.Add(5 * time.Hour), Severity: event.SeverityCritical},
	}
}

func TestImpactReport(t *testing.T) {
	b := NewImpact(ReportConfig{Top: 5}, Window{From: rt0, To: rt0.Add(24 * time.Hour)})
	for _, ev := range rolloutEvents() {
		b.Add(ev)
	}
	r := b.Report()
	// In the window: findings 1-6. Affected: 10.0.0.1 (direct-to-mx, 8 msgs),
	// 10.0.0.2 (external relay, 2), 10.0.0.4 (direct-25, 1, alert -> likely spam).
	if r.Totals.Hosts != 3 || r.Totals.Customers != 1 || r.Totals.Messages != 11 || r.Totals.Total != 22 || r.Totals.LikelySpam != 2 {
		t.Errorf("totals %+v", r.Totals)
	}
	if len(r.Customers) != 2 || r.Customers[0].Customer != "acme" || r.Customers[0].Hosts != 2 || r.Customers[0].Messages != 10 ||
		r.Customers[1].Customer != "" || r.Customers[1].Hosts != 1 {
		t.Fatalf("customers %+v", r.Customers)
	}
	if s := r.Customers[0].Sources[1]; s.Class != event.ClassExternalRelay25 || len(s.Providers) != 1 || s.Providers[0].Name != "smtp.provider.example" {
		t.Errorf("external relay source %+v", s)
	}
	if r.Timeline.Bucket != time.Minute || len(r.Timeline.Points) != 6 {
		t.Errorf("timeline bucket %v, %d points", r.Timeline.Bucket, len(r.Timeline.Points))
	}
}

func TestEnforcementReport(t *testing.T) {
	b := NewEnforcement(ReportConfig{Top: 5}, rt0.Add(24*time.Hour), 24*time.Hour, 24*time.Hour)
	for _, ev := range rolloutEvents() {
		b.Add(ev)
	}
	r := b.Report()
	want := map[event.Class]ClassChange{
		event.ClassDirectToMX: {Class: event.ClassDirectToMX, Connections: Change{2, 2}, Messages: Change{8, 0}, Hosts: Change{1, 1}},
		event.ClassDirect25:   {Class: event.ClassDirect25, Connections: Change{1, 1}, Messages: Change{1, 2}, Hosts: Change{1, 1}},
		event.ClassRelay:      {Class: event.ClassRelay, Connections: Change{1, 1}, Messages: Change{7, 9}, Hosts: Change{1, 1}},
	}
	for _, c := range r.ByClass {
		if w, ok := want[c.Class]; ok && !reflect.DeepEqual(c, w) {
			t.Errorf("class %s: %+v, want %+v", c.Class, c, w)
		}
	}
	if r.Blocked != (Change{Before: 0, After: 2}) {
		t.Errorf("blocked %+v", r.Blocked)
	}
	if r.StillTryingTotal != 2 || r.StillTrying[0].Host != netip.MustParseAddr("10.0.0.6") && r.StillTrying[1].Host != netip.MustParseAddr("10.0.0.6") {
		t.Errorf("still trying %+v", r.StillTrying)
	}
	if len(r.Rejections) != 2 || len(r.Listings) != 2 {
		t.Errorf("rejections %+v listings %+v", r.Rejections, r.Listings)
	}
	for _, l := range r.Listings {
		if l.Name == "zen.spamhaus.org" && (l.Before != 1 || l.After != 0) || l.Name == "b.barracudacentral.org" && (l.Before != 0 || l.After != 1) {
			t.Errorf("listing %+v", l)
		}
	}
}

// TestRolloutOrderIndependent: ClickHouse returns findings sorted by start
// and alerts apart; captures deliver them interleaved. The reports must
// not depend on the order.
func TestRolloutOrderIndependent(t *testing.T) {
	evs := rolloutEvents()
	build := func(evs []event.Event) string {
		ib := NewImpact(ReportConfig{Top: 5}, Window{})
		eb := NewEnforcement(ReportConfig{Top: 5}, rt0.Add(24*time.Hour), 24*time.Hour, 24*time.Hour)
		for _, ev := range evs {
			ib.Add(ev)
			eb.Add(ev)
		}
		b, _ := json.Marshal([]any{ib.Report(), eb.Report()})
		return string(b)
	}
	want := build(evs)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := append([]event.Event(nil), evs...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := build(shuffled); got != want {
			t.Fatalf("shuffle %d changed the reports", i)
		}
	}
}

// TestTimelineBounded: a year of findings every minute stays within
// MaxTimelinePoints, with buckets that nest and counts that add up.
func TestTimelineBounded(t *testing.T) {
	tl := newTimeline()
	n := 0
	for m := 0; m < 365*24*60; m += 7 {
		tl.add(rt0.Add(time.Duration(m)*time.Minute), event.ClassDirectToMX, 1)
		n++
	}
	r := tl.result()
	if len(r.Points) > MaxTimelinePoints || r.Bucket != 24*time.Hour {
		t.Fatalf("%d points of %v", len(r.Points), r.Bucket)
	}
	var sum uint64
	for _, p := range r.Points {
		sum += p.ByClass[0].Connections
	}
	if sum != uint64(n) {
		t.Errorf("timeline counts %d of %d findings", sum, n)
	}
	if fmt.Sprint(r.Points[0].Start) != fmt.Sprint(rt0) {
		t.Errorf("first bucket %v", r.Points[0].Start)
	}
}
