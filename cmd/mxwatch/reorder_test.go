package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// TestReorder: events are released in packet-time order once the
// watermark passes them, equal times keep arrival order, and the bound
// releases the oldest early, counted.
func TestReorder(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c, s := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("192.0.2.1:25")
	dns := func(id string, at time.Duration) event.Event {
		return &event.DNS{Kind: event.KindDNS, ID: id, Client: c, Server: s, Time: t0.Add(at)}
	}
	sess := func(id string, end time.Duration) event.Event {
		return &event.Session{Kind: event.KindSession, ID: id, Client: c, Server: s, Start: t0, End: t0.Add(end)}
	}
	var out []string
	handle := func(ev event.Event) {
		switch e := ev.(type) {
		case *event.DNS:
			out = append(out, e.ID)
		case *event.Session:
			out = append(out, e.ID)
		}
	}
	r := newReorder(4)
	// A session from one worker arrives before the DNS answer (earlier in
	// packet time) from another worker.
	r.push(sess("s1", 5*time.Second), handle)
	r.push(dns("d1", 2*time.Second), handle)
	r.push(dns("d2", 2*time.Second), handle)
	r.release(t0.Add(time.Second), handle)
	if len(out) != 0 {
		t.Fatalf("released before the watermark: %v", out)
	}
	r.release(t0.Add(3*time.Second), handle)
	if want := []string{"d1", "d2"}; !equal(out, want) {
		t.Fatalf("released %v, want %v", out, want)
	}
	r.push(sess("s2", 9*time.Second), handle)
	r.push(dns("d3", 7*time.Second), handle)
	r.push(dns("d4", 8*time.Second), handle)
	r.push(dns("d5", 8*time.Second), handle) // the bound of 4: s1, the oldest, goes out early
	if r.overflow != 1 || out[len(out)-1] != "s1" {
		t.Fatalf("overflow %d, released %v", r.overflow, out)
	}
	r.release(t0.Add(time.Hour), handle)
	if want := []string{"d1", "d2", "s1", "d3", "d4", "d5", "s2"}; !equal(out, want) {
		t.Fatalf("released %v, want %v", out, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
