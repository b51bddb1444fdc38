package dns

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// pair runs the same messages through a tracker with the quick path and
// one without, and fails if their counters or events differ.
func pair(t *testing.T, keep []string, msgs ...[]byte) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KeepTypes = keep
	pairConfig(t, cfg, msgs...)
}

// pairConfig is pair with a whole configuration. It returns how many
// messages took the quick path.
func pairConfig(t *testing.T, cfg Config, msgs ...[]byte) uint64 {
	t.Helper()
	var evQuick, evFull []*event.DNS
	quick, err := NewTracker(cfg, func(e *event.DNS) { evQuick = append(evQuick, e) })
	if err != nil {
		t.Fatal(err)
	}
	full, _ := NewTracker(cfg, func(e *event.DNS) { evFull = append(evFull, e) })
	full.fullOnly = true
	cli, srv := netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.53:53")
	now := time.Unix(1700000000, 0)
	for i, b := range msgs {
		src, dst := cli, srv
		if i%2 == 1 {
			src, dst = srv, cli
		}
		m := Meta{Time: now.Add(time.Duration(i) * time.Millisecond), Src: src, Dst: dst, Transport: "udp"}
		quick.Message(b, m)
		full.Message(b, m)
	}
	quick.Close()
	full.Close()
	if q, f := quick.Stats(), full.Stats(); !reflect.DeepEqual(q, f) {
		t.Fatalf("stats differ:\nquick %+v\nfull  %+v", q, f)
	}
	if !reflect.DeepEqual(evQuick, evFull) {
		t.Fatalf("events differ:\nquick %+v\nfull  %+v", evQuick, evFull)
	}
	if full.quickHits != 0 {
		t.Fatalf("fullOnly tracker took the quick path %d times", full.quickHits)
	}
	return quick.quickHits
}

func packed(t testing.TB, m *mdns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQuickAgreesWithFullDecode(t *testing.T) {
	q := new(mdns.Msg)
	q.SetQuestion("Example.ORG.", mdns.TypeA)
	q.Id = 7
	q.SetEdns0(1232, false)
	r := new(mdns.Msg)
	r.SetReply(q)
	r.Answer = append(r.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: "example.org.", Rrtype: mdns.TypeA, Class: 1, Ttl: 60}, A: []byte{192, 0, 2, 1}})
	qmx := q.Copy()
	qmx.Question[0].Qtype = mdns.TypeMX
	rmx := new(mdns.Msg)
	rmx.SetReply(qmx)
	rmx.Answer = append(rmx.Answer, &mdns.MX{Hdr: mdns.RR_Header{Name: "example.org.", Rrtype: mdns.TypeMX, Class: 1, Ttl: 60}, Preference: 10, Mx: "mx.example.org."})
	tests := []struct {
		name string
		keep []string
		msgs [][]byte
	}{
		{"A kept", []string{"A"}, [][]byte{packed(t, q), packed(t, r)}},
		{"A not kept", []string{"MX"}, [][]byte{packed(t, q), packed(t, r)}},
		{"MX kept", []string{"MX"}, [][]byte{packed(t, qmx), packed(t, rmx)}},
		{"cut response", []string{"MX"}, [][]byte{packed(t, q), packed(t, r)[:len(packed(t, r))-3]}},
		{"cut query", []string{"MX"}, [][]byte{packed(t, q)[:20], packed(t, r)}},
		{"garbage", []string{"MX"}, [][]byte{{1, 2, 3}, make([]byte, 40)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { pair(t, tt.keep, tt.msgs...) })
	}
}

// FuzzQuickAgrees checks the quick path against the full decoder on
// arbitrary bytes, used as a query and then as a response.
func FuzzQuickAgrees(f *testing.F) {
	q := new(mdns.Msg)
	q.SetQuestion("example.org.", mdns.TypeA)
	q.SetEdns0(1232, true)
	f.Add(packed(f, q))
	r := new(mdns.Msg)
	r.SetReply(q)
	r.Ns = append(r.Ns, &mdns.SOA{Hdr: mdns.RR_Header{Name: "org.", Rrtype: mdns.TypeSOA, Class: 1}, Ns: "a.org.", Mbox: "b.org."})
	f.Add(packed(f, r))
	f.Fuzz(func(t *testing.T, b []byte) {
		pair(t, []string{"MX"}, b, b)
	})
}
