package dns

import (
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

var (
	t0         = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	clientAddr = netip.MustParseAddrPort("192.0.2.10:40000")
	serverAddr = netip.MustParseAddrPort("198.51.100.53:53")
	client6    = netip.MustParseAddrPort("[2001:db8::10]:40001")
	server6    = netip.MustParseAddrPort("[2001:db8::53]:53")
)

// newQuery builds a query for name and type with the given id.
func newQuery(id uint16, name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	return m
}

// newReply builds the response to q with the given code and sections,
// records written in zone-file syntax.
func newReply(tb testing.TB, q *mdns.Msg, rcode int, answers, extra []string) *mdns.Msg {
	tb.Helper()
	m := new(mdns.Msg)
	m.SetRcode(q, rcode)
	m.Answer = rrs(tb, answers)
	m.Extra = rrs(tb, extra)
	return m
}

func rrs(tb testing.TB, lines []string) []mdns.RR {
	tb.Helper()
	var out []mdns.RR
	for _, l := range lines {
		rr, err := mdns.NewRR(l)
		if err != nil {
			tb.Fatalf("NewRR(%q): %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func pack(tb testing.TB, m *mdns.Msg) []byte {
	tb.Helper()
	b, err := m.Pack()
	if err != nil {
		tb.Fatalf("pack: %v", err)
	}
	return b
}

// with applies edits to a copy of m.
func with(m *mdns.Msg, edits ...func(*mdns.Msg)) *mdns.Msg {
	c := m.Copy()
	for _, e := range edits {
		e(c)
	}
	return c
}

func withEDNS(m *mdns.Msg) { m.SetEdns0(1232, false) }

// collector gathers emitted events.
type collector struct{ events []*event.DNS }

func (c *collector) emit(e *event.DNS) { c.events = append(c.events, e) }

func newTestTracker(tb testing.TB, cfg Config) (*Tracker, *collector) {
	tb.Helper()
	c := new(collector)
	tr, err := NewTracker(cfg, c.emit)
	if err != nil {
		tb.Fatalf("NewTracker: %v", err)
	}
	return tr, c
}

func mx(name string, ttl uint32, pref uint16, host string) event.RR {
	return event.RR{Name: name, Type: "MX", TTL: ttl, Pref: pref, Host: host}
}

func addr(name, typ string, ttl uint32, a string) event.RR {
	return event.RR{Name: name, Type: typ, TTL: ttl, Addr: netip.MustParseAddr(a)}
}
