package dns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// step is one input to the tracker: a message, or a call to Expire.
type step struct {
	b          []byte
	at         time.Duration // packet time after t0
	fromServer bool
	scope      uint64
	client     netip.AddrPort // default clientAddr
	server     netip.AddrPort // default serverAddr
	vlans      []uint16
	transport  string // default "udp"
	expire     bool   // call Expire(t0+at) instead
}

func (s step) meta() Meta {
	c, sv := s.client, s.server
	if !c.IsValid() {
		c = clientAddr
	}
	if !sv.IsValid() {
		sv = serverAddr
	}
	m := Meta{Time: t0.Add(s.at), Src: c, Dst: sv, Scope: s.scope, VLANs: s.vlans, Transport: s.transport}
	if m.Transport == "" {
		m.Transport = "udp"
	}
	if s.fromServer {
		m.Src, m.Dst = sv, c
	}
	return m
}

func TestTracker(t *testing.T) {
	mxQ := newQuery(0x1234, "example.com.", mdns.TypeMX)
	mxAnswers := []string{
		"example.com. 300 IN MX 10 mx1.example.net.",
		"Example.COM. 300 IN MX 20 MX2.Example.NET.",
	}
	mxR := newReply(t, mxQ, mdns.RcodeSuccess, mxAnswers, nil)
	mxRAdd := newReply(t, mxQ, mdns.RcodeSuccess, mxAnswers, []string{
		"mx1.example.net. 60 IN A 203.0.113.1",
		"mx1.example.net. 60 IN AAAA 2001:db8::25",
		"mx2.example.net. 60 IN A 203.0.113.2",
	})
	soa := func(m *mdns.Msg) {
		m.Ns = rrs(t, []string{"example.com. 900 IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 86400"})
	}
	nxR := with(newReply(t, mxQ, mdns.RcodeNameError, nil, nil), soa)
	noData := with(newReply(t, mxQ, mdns.RcodeSuccess, nil, nil), soa)
	tcR := with(newReply(t, mxQ, mdns.RcodeSuccess, nil, nil), func(m *mdns.Msg) { m.Truncated = true })

	cnameQ := newQuery(0x2222, "mx1.example.net.", mdns.TypeA)
	cnameR := newReply(t, cnameQ, mdns.RcodeSuccess, []string{
		"mx1.example.net. 120 IN CNAME Mail.Provider.test.",
		"mail.provider.test. 30 IN A 203.0.113.7",
	}, nil)
	aaaaQ := newQuery(0x3333, "mail.provider.test.", mdns.TypeAAAA)
	aaaaR := newReply(t, aaaaQ, mdns.RcodeSuccess, []string{"mail.provider.test. 30 IN AAAA 2001:db8::7"}, nil)

	ednsQ := with(mxQ, withEDNS)
	ednsR := with(mxR, withEDNS)

	txtQ := newQuery(0x4444, "example.com.", mdns.TypeTXT)
	txtR := newReply(t, txtQ, mdns.RcodeSuccess, []string{`example.com. 60 IN TXT "v=spf1 -all"`}, nil)
	anyQ := newQuery(0x5555, "example.com.", mdns.TypeANY)
	anyR := newReply(t, anyQ, mdns.RcodeSuccess, []string{
		"example.com. 60 IN MX 10 mx1.example.net.",
		`example.com. 60 IN TYPE65534 \# 2 abcd`,
	}, nil)
	mixedQ := newQuery(0x6666, "ExAmPlE.CoM.", mdns.TypeMX)
	mixedR := newReply(t, mixedQ, mdns.RcodeSuccess, []string{"ExAmPlE.CoM. 300 IN MX 10 MX1.example.NET."}, nil)
	notifyQ := with(mxQ, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify })

	manyR := newReply(t, mxQ, mdns.RcodeSuccess, []string{
		"example.com. 1 IN MX 1 a.example.net.",
		"example.com. 1 IN MX 2 b.example.net.",
		"example.com. 1 IN MX 3 c.example.net.",
		"example.com. 1 IN MX 4 d.example.net.",
	}, []string{
		"a.example.net. 1 IN A 203.0.113.1",
		"b.example.net. 1 IN A 203.0.113.2",
		"c.example.net. 1 IN A 203.0.113.3",
	})
	idQ := func(id uint16) *mdns.Msg { return with(mxQ, func(m *mdns.Msg) { m.Id = id }) }
	idR := func(id uint16) *mdns.Msg { return with(mxR, func(m *mdns.Msg) { m.Id = id }) }

	// cut is mxR without its last byte: header and question intact.
	full := pack(t, mxR)
	cut := full[:len(full)-1]

	q := func(m *mdns.Msg, at time.Duration) step { return step{b: pack(t, m), at: at} }
	r := func(m *mdns.Msg, at time.Duration) step { return step{b: pack(t, m), at: at, fromServer: true} }

	mxHosts := []event.RR{mx("example.com", 300, 10, "mx1.example.net"), mx("example.com", 300, 20, "mx2.example.net")}
	// want is a matched MX answer to mxQ asked at t0 and answered at t0+10ms.
	want := func(edit func(*event.DNS)) event.DNS {
		e := event.DNS{
			Time: t0.Add(10 * time.Millisecond), QueryTime: t0,
			Client: clientAddr, Server: serverAddr, Transport: "udp",
			TxID: 0x1234, QName: "example.com", QType: "MX", RCode: "NOERROR", Matched: true,
			Answers: mxHosts,
		}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	byType := func(kv ...any) map[string]uint64 {
		if len(kv) == 0 {
			return nil
		}
		m := make(map[string]uint64)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = uint64(kv[i+1].(int))
		}
		return m
	}
	mx11 := func(s Stats) Stats {
		s.QueriesByType, s.ResponsesByType = byType("MX", 1), byType("MX", 1)
		return s
	}
	ms := 10 * time.Millisecond

	tests := []struct {
		name  string
		cfg   func(*Config)
		steps []step
		want  []event.DNS
		stats Stats
	}{
		{
			name:  "mx answer without additional",
			steps: []step{q(mxQ, 0), r(mxR, ms)},
			want:  []event.DNS{want(nil)},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "mx answer with additional A and AAAA",
			steps: []step{q(mxQ, 0), r(mxRAdd, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Additional = []event.RR{
					addr("mx1.example.net", "A", 60, "203.0.113.1"),
					addr("mx1.example.net", "AAAA", 60, "2001:db8::25"),
					addr("mx2.example.net", "A", 60, "203.0.113.2"),
				}
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "mx nxdomain",
			steps: []step{q(mxQ, 0), r(nxR, ms)},
			want:  []event.DNS{want(func(e *event.DNS) { e.RCode, e.Answers = "NXDOMAIN", nil })},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "mx noerror no data",
			steps: []step{q(mxQ, 0), r(noData, ms)},
			want:  []event.DNS{want(func(e *event.DNS) { e.Answers = nil })},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "cname chain for an mx host",
			steps: []step{q(cnameQ, 0), r(cnameR, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.TxID, e.QName, e.QType = 0x2222, "mx1.example.net", "A"
				e.Answers = []event.RR{
					{Name: "mx1.example.net", Type: "CNAME", TTL: 120, Host: "mail.provider.test"},
					addr("mail.provider.test", "A", 30, "203.0.113.7"),
				}
			})},
			stats: Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1,
				QueriesByType: byType("A", 1), ResponsesByType: byType("A", 1)},
		},
		{
			name: "aaaa over ipv6 and tcp with vlans",
			steps: []step{
				{b: pack(t, aaaaQ), client: client6, server: server6, transport: "tcp", vlans: []uint16{100, 200}},
				{b: pack(t, aaaaR), at: ms, fromServer: true, client: client6, server: server6, transport: "tcp", vlans: []uint16{100, 200}},
			},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Client, e.Server, e.Transport, e.VLANs = client6, server6, "tcp", []uint16{100, 200}
				e.TxID, e.QName, e.QType = 0x3333, "mail.provider.test", "AAAA"
				e.Answers = []event.RR{addr("mail.provider.test", "AAAA", 30, "2001:db8::7")}
			})},
			stats: Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1,
				QueriesByType: byType("AAAA", 1), ResponsesByType: byType("AAAA", 1)},
		},
		{
			name:  "truncated response (TC=1)",
			steps: []step{q(mxQ, 0), r(tcR, ms)},
			want:  []event.DNS{want(func(e *event.DNS) { e.TC, e.Answers = true, nil })},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "edns present, opt not listed",
			steps: []step{q(ednsQ, 0), r(ednsR, ms)},
			want:  []event.DNS{want(func(e *event.DNS) { e.EDNS = true })},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "edns in the query only",
			steps: []step{q(ednsQ, 0), r(mxR, ms)},
			want:  []event.DNS{want(nil)},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "response without query",
			steps: []step{r(mxR, ms)},
			want:  []event.DNS{want(func(e *event.DNS) { e.Matched, e.QueryTime = false, time.Time{} })},
			stats: Stats{Messages: 1, Responses: 1, UnmatchedResponses: 1, Emitted: 1, ResponsesByType: byType("MX", 1)},
		},
		{
			name:  "duplicate query keeps the first time",
			steps: []step{q(mxQ, 0), q(mxQ, 5*time.Millisecond), r(mxR, ms)},
			want:  []event.DNS{want(nil)},
			stats: Stats{Messages: 3, Queries: 2, Responses: 1, Matched: 1, DuplicateQueries: 1, Emitted: 1,
				QueriesByType: byType("MX", 2), ResponsesByType: byType("MX", 1)},
		},
		{
			name:  "two responses to one query",
			steps: []step{q(mxQ, 0), r(mxR, ms), r(mxR, 2*ms)},
			want: []event.DNS{want(nil), want(func(e *event.DNS) {
				e.Time, e.QueryTime, e.Matched = t0.Add(2*ms), time.Time{}, false
			})},
			stats: Stats{Messages: 3, Queries: 1, Responses: 2, Matched: 1, UnmatchedResponses: 1, Emitted: 2,
				QueriesByType: byType("MX", 1), ResponsesByType: byType("MX", 2)},
		},
		{
			name: "query times out by packet time",
			steps: []step{
				q(mxQ, 0),
				{expire: true, at: 30 * time.Second}, // exactly the timeout: still pending
				{expire: true, at: 30*time.Second + 1},
				r(mxR, 31*time.Second),
			},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Time, e.QueryTime, e.Matched = t0.Add(31*time.Second), time.Time{}, false
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Unanswered: 1, UnmatchedResponses: 1, Emitted: 1}),
		},
		{
			name:  "late response without Expire is not matched",
			steps: []step{q(mxQ, 0), r(mxR, 31*time.Second)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Time, e.QueryTime, e.Matched = t0.Add(31*time.Second), time.Time{}, false
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Unanswered: 1, UnmatchedResponses: 1, Emitted: 1}),
		},
		{
			name:  "a new query expires old ones",
			steps: []step{q(idQ(1), 0), q(idQ(2), time.Minute)},
			stats: Stats{Messages: 2, Queries: 2, Unanswered: 2, QueriesByType: byType("MX", 2)},
		},
		{
			name:  "close counts unanswered",
			steps: []step{q(idQ(1), 0), q(idQ(2), ms), q(idQ(2), 2*ms)},
			stats: Stats{Messages: 3, Queries: 3, DuplicateQueries: 1, Unanswered: 2,
				QueriesByType: byType("MX", 3)},
		},
		{
			name: "max pending evicts the oldest",
			cfg:  func(c *Config) { c.MaxPending = 2 },
			steps: []step{
				q(idQ(1), 0), q(idQ(2), 0), q(idQ(3), 0),
				r(idR(1), ms), r(idR(2), ms), r(idR(3), ms),
			},
			want: []event.DNS{
				want(func(e *event.DNS) { e.TxID, e.Matched, e.QueryTime = 1, false, time.Time{} }),
				want(func(e *event.DNS) { e.TxID = 2 }),
				want(func(e *event.DNS) { e.TxID = 3 }),
			},
			stats: Stats{Messages: 6, Queries: 3, Responses: 3, Matched: 2, UnmatchedResponses: 1, Evicted: 1, Emitted: 3,
				QueriesByType: byType("MX", 3), ResponsesByType: byType("MX", 3)},
		},
		{
			name:  "max records per section",
			cfg:   func(c *Config) { c.MaxRecords = 2 },
			steps: []step{q(mxQ, 0), r(manyR, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Answers = []event.RR{mx("example.com", 1, 1, "a.example.net"), mx("example.com", 1, 2, "b.example.net")}
				e.Additional = []event.RR{addr("a.example.net", "A", 1, "203.0.113.1"), addr("b.example.net", "A", 1, "203.0.113.2")}
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1, RecordsDropped: 3}),
		},
		{
			name: "same exchange on two scopes",
			steps: []step{
				{b: pack(t, mxQ), scope: 1}, {b: pack(t, mxQ), scope: 2},
				{b: pack(t, mxR), at: ms, scope: 2, fromServer: true}, {b: pack(t, mxR), at: ms, scope: 1, fromServer: true},
			},
			want: []event.DNS{want(nil), want(nil)},
			stats: Stats{Messages: 4, Queries: 2, Responses: 2, Matched: 2, Emitted: 2,
				QueriesByType: byType("MX", 2), ResponsesByType: byType("MX", 2)},
		},
		{
			name: "response from another server",
			steps: []step{q(mxQ, 0), {b: pack(t, mxR), at: ms, fromServer: true,
				server: netip.MustParseAddrPort("198.51.100.54:53")}},
			want: []event.DNS{want(func(e *event.DNS) {
				e.Server, e.Matched, e.QueryTime = netip.MustParseAddrPort("198.51.100.54:53"), false, time.Time{}
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, UnmatchedResponses: 1, Unanswered: 1, Emitted: 1}),
		},
		{
			name:  "type not kept is counted only",
			steps: []step{q(txtQ, 0), r(txtR, ms)},
			stats: Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, NotKept: 1,
				QueriesByType: byType("TXT", 1), ResponsesByType: byType("TXT", 1)},
		},
		{
			name:  "keep every type",
			cfg:   func(c *Config) { c.KeepTypes = []string{"*"} },
			steps: []step{q(txtQ, 0), r(txtR, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.TxID, e.QType = 0x4444, "TXT"
				e.Answers = []event.RR{{Name: "example.com", Type: "TXT", TTL: 60}}
			})},
			stats: Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1,
				QueriesByType: byType("TXT", 1), ResponsesByType: byType("TXT", 1)},
		},
		{
			name:  "query type ANY and an unknown record type",
			cfg:   func(c *Config) { c.KeepTypes = []string{"any"} },
			steps: []step{q(anyQ, 0), r(anyR, ms), q(mxQ, 0), r(mxR, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.TxID, e.QType = 0x5555, "ANY"
				e.Answers = []event.RR{mx("example.com", 60, 10, "mx1.example.net"), {Name: "example.com", Type: "TYPE65534", TTL: 60}}
			})},
			stats: Stats{Messages: 4, Queries: 2, Responses: 2, Matched: 2, Emitted: 1, NotKept: 1,
				QueriesByType: byType("ANY", 1, "MX", 1), ResponsesByType: byType("ANY", 1, "MX", 1)},
		},
		{
			name:  "names are lower-cased",
			steps: []step{q(mixedQ, 0), r(mixedR, ms)},
			want: []event.DNS{want(func(e *event.DNS) {
				e.TxID = 0x6666
				e.Answers = []event.RR{mx("example.com", 300, 10, "mx1.example.net")}
			})},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Matched: 1, Emitted: 1}),
		},
		{
			name:  "opcode other than query is skipped",
			steps: []step{q(notifyQ, 0)},
			stats: Stats{Messages: 1, NotQuery: 1},
		},
		{
			name:  "response cut after the question settles its query without an event",
			steps: []step{q(mxQ, 0), {b: cut, at: ms, fromServer: true}},
			stats: mx11(Stats{Messages: 2, Queries: 1, Responses: 1, Malformed: 1, Matched: 1}),
		},
		{
			name: "no question, a cut header, a short message",
			steps: []step{
				{b: pack(t, with(mxR, func(m *mdns.Msg) { m.Question, m.Rcode = nil, mdns.RcodeFormatError })), fromServer: true},
				{b: pack(t, mxR)[:headerLen], fromServer: true},
				{b: []byte{1, 2, 3}},
			},
			stats: Stats{Messages: 3, NoQuestion: 1, Malformed: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			tr, c := newTestTracker(t, cfg)
			for _, s := range tc.steps {
				if s.expire {
					tr.Expire(t0.Add(s.at))
					continue
				}
				m := s.meta()
				tr.Message(s.b, m)
				for i := range m.VLANs {
					m.VLANs[i] = 0 // the caller reuses its buffer
				}
			}
			tr.Close()
			var got []event.DNS
			for _, e := range c.events {
				got = append(got, *e)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events:\n%s\nwant:\n%s", dump(got), dump(tc.want))
			}
			if s := tr.Stats(); !reflect.DeepEqual(s, tc.stats) {
				t.Errorf("stats:\n%+v\nwant:\n%+v", s, tc.stats)
			}
		})
	}
}

func dump(evs []event.DNS) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %+v\n", e)
	}
	return b.String()
}

// TestTrackerMalformed feeds random bytes, and a valid response cut at
// every length, and checks that they are counted, not fatal.
func TestTrackerMalformed(t *testing.T) {
	q := newQuery(0x4c17, "mx.com.", mdns.TypeMX)
	resp := pack(t, newReply(t, q, mdns.RcodeSuccess, []string{
		"mx.com. 300 IN MX 10 cluster5.us.messagelabs.com.",
		"mx.com. 300 IN MX 20 cluster5a.us.messagelabs.com.",
	}, []string{"cluster5.us.messagelabs.com. 300 IN A 65.61.188.4"}))
	qEnd := headerLen + len("\x02mx\x03com\x00") + 4 // end of the question

	t.Run("random", func(t *testing.T) {
		tr, c := newTestTracker(t, DefaultConfig())
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 5000
		for i := 0; i < n; i++ {
			b := make([]byte, rng.IntN(600))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			tr.Message(b, step{fromServer: i%2 == 1}.meta())
		}
		tr.Close()
		s := tr.Stats()
		if s.Messages != n || s.Malformed == 0 || s.Malformed > n {
			t.Errorf("messages %d malformed %d, want %d and some malformed", s.Messages, s.Malformed, n)
		}
		if s.Emitted != uint64(len(c.events)) {
			t.Errorf("emitted %d, got %d events", s.Emitted, len(c.events))
		}
	})

	tests := []struct {
		name                string
		cut                 int
		malformed           uint64
		matched, unanswered uint64
	}{}
	for n := 0; n < len(resp); n++ {
		tc := struct {
			name                string
			cut                 int
			malformed           uint64
			matched, unanswered uint64
		}{name: fmt.Sprintf("cut at %d", n), cut: n, malformed: 1, unanswered: 1}
		if n >= qEnd { // the question was read: the query is settled
			tc.matched, tc.unanswered = 1, 0
		}
		tests = append(tests, tc)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, c := newTestTracker(t, DefaultConfig())
			tr.Message(pack(t, q), step{}.meta())
			tr.Message(resp[:tc.cut], step{fromServer: true}.meta())
			tr.Close()
			s := tr.Stats()
			if len(c.events) != 0 {
				t.Errorf("got %d events from a cut response", len(c.events))
			}
			if s.Malformed != tc.malformed || s.Matched != tc.matched || s.Unanswered != tc.unanswered {
				t.Errorf("malformed %d matched %d unanswered %d, want %d %d %d",
					s.Malformed, s.Matched, s.Unanswered, tc.malformed, tc.matched, tc.unanswered)
			}
		})
	}
}

// TestTrackerFIFOBounded checks that answered queries do not pile up in
// the expiry FIFO between expiries.
func TestTrackerFIFOBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPending = 8
	tr, c := newTestTracker(t, cfg)
	mxQ := newQuery(1, "example.com.", mdns.TypeMX)
	for i := 0; i < 1000; i++ {
		id := uint16(i)
		q := pack(t, with(mxQ, func(m *mdns.Msg) { m.Id = id }))
		r := pack(t, with(newReply(t, mxQ, mdns.RcodeSuccess, nil, nil), func(m *mdns.Msg) { m.Id = id }))
		tr.Message(q, step{}.meta())
		tr.Message(r, step{fromServer: true}.meta())
		if n := len(tr.fifo) - tr.head; n > 2*cfg.MaxPending {
			t.Fatalf("after %d exchanges the fifo holds %d entries", i+1, n)
		}
		if cap(tr.fifo) > 4*cfg.MaxPending+8 {
			t.Fatalf("after %d exchanges the fifo has capacity %d", i+1, cap(tr.fifo))
		}
	}
	if s := tr.Stats(); s.Matched != 1000 || len(c.events) != 1000 || s.Pending != 0 {
		t.Errorf("matched %d, events %d, pending %d; want 1000, 1000, 0", s.Matched, len(c.events), s.Pending)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		err  error
	}{
		{name: "default", edit: func(*Config) {}},
		{name: "type names any case", edit: func(c *Config) { c.KeepTypes = []string{"mx", "Txt", "ANY", "TYPE65", "*"} }},
		{name: "no types", edit: func(c *Config) { c.KeepTypes = nil }},
		{name: "unknown type", edit: func(c *Config) { c.KeepTypes = []string{"MX", "MAILX"} }, err: ErrUnknownType},
		{name: "bad type number", edit: func(c *Config) { c.KeepTypes = []string{"TYPE70000"} }, err: ErrUnknownType},
		{name: "empty type", edit: func(c *Config) { c.KeepTypes = []string{""} }, err: ErrUnknownType},
		{name: "zero pending", edit: func(c *Config) { c.MaxPending = 0 }, err: ErrNotPositive},
		{name: "negative timeout", edit: func(c *Config) { c.QueryTimeout = -time.Second }, err: ErrNotPositive},
		{name: "zero records", edit: func(c *Config) { c.MaxRecords = 0 }, err: ErrNotPositive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.err)
			}
			_, err = NewTracker(c, func(*event.DNS) {})
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("NewTracker() = %v, want %v", err, tc.err)
			}
		})
	}
	if _, err := NewTracker(DefaultConfig(), nil); !errors.Is(err, ErrNoEmit) {
		t.Errorf("NewTracker(nil emit) = %v, want %v", err, ErrNoEmit)
	}
}

func TestStatsAdd(t *testing.T) {
	a := Stats{Messages: 1, Malformed: 2, TCPDesync: 3, QueriesByType: map[string]uint64{"MX": 1}}
	b := Stats{Messages: 10, Emitted: 4, QueriesByType: map[string]uint64{"MX": 2, "A": 1}, ResponsesByType: map[string]uint64{"MX": 5}}
	a.Add(b)
	want := Stats{Messages: 11, Malformed: 2, TCPDesync: 3, Emitted: 4,
		QueriesByType: map[string]uint64{"MX": 3, "A": 1}, ResponsesByType: map[string]uint64{"MX": 5}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Add:\n%+v\nwant\n%+v", a, want)
	}
	b.ResponsesByType["MX"] = 99 // a's map must not alias b's
	if a.ResponsesByType["MX"] != 5 {
		t.Errorf("Add aliases the other map")
	}
	// Every counter is added: a Stats added to a zero Stats is unchanged.
	var z Stats
	z.Add(want)
	if !reflect.DeepEqual(z, want) {
		t.Errorf("zero.Add(s) = %+v, want %+v", z, want)
	}
	full := Stats{}
	v := reflect.ValueOf(&full).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			f.SetUint(uint64(i + 1))
		}
	}
	var sum Stats
	sum.Add(full)
	sum.Add(full)
	sv := reflect.ValueOf(sum)
	for i := 0; i < sv.NumField(); i++ {
		if f := sv.Field(i); f.Kind() == reflect.Uint64 && f.Uint() != 2*uint64(i+1) {
			t.Errorf("Add skips %s", sv.Type().Field(i).Name)
		}
	}
}

func BenchmarkTrackerMX(b *testing.B) {
	q := newQuery(0x4c17, "mx.com.", mdns.TypeMX)
	q.SetEdns0(1232, false)
	r := newReply(b, q, mdns.RcodeSuccess, []string{
		"mx.com. 300 IN MX 10 cluster5.us.messagelabs.com.",
		"mx.com. 300 IN MX 20 cluster5a.us.messagelabs.com.",
	}, []string{
		"cluster5.us.messagelabs.com. 300 IN A 65.61.188.4",
		"cluster5a.us.messagelabs.com. 300 IN A 69.20.95.4",
	})
	r.SetEdns0(1232, false)
	qb, rb := pack(b, q), pack(b, r)
	var n int
	tr, err := NewTracker(DefaultConfig(), func(*event.DNS) { n++ })
	if err != nil {
		b.Fatal(err)
	}
	qm, rm := step{}.meta(), step{fromServer: true}.meta()
	b.ReportAllocs()
	b.SetBytes(int64(len(qb) + len(rb)))
	for i := 0; b.Loop(); i++ {
		qm.Time = t0.Add(time.Duration(i) * time.Millisecond)
		rm.Time = qm.Time.Add(time.Millisecond)
		tr.Message(qb, qm)
		tr.Message(rb, rm)
	}
	if s := tr.Stats(); s.Matched != uint64(n) || n == 0 {
		b.Fatalf("matched %d of %d", s.Matched, n)
	}
}

func TestTrackerPendingAndClose(t *testing.T) {
	tr, _ := newTestTracker(t, DefaultConfig())
	mxQ := newQuery(1, "example.com.", mdns.TypeMX)
	tr.Message(pack(t, mxQ), step{}.meta())
	tr.Message(pack(t, with(mxQ, func(m *mdns.Msg) { m.Id = 2 })), step{at: time.Second}.meta())
	if s := tr.Stats(); s.Pending != 2 || s.Unanswered != 0 {
		t.Fatalf("before expiry: pending %d unanswered %d, want 2 0", s.Pending, s.Unanswered)
	}
	tr.Expire(t0.Add(30*time.Second + 1)) // the first is past its timeout
	if s := tr.Stats(); s.Pending != 1 || s.Unanswered != 1 {
		t.Fatalf("after expiry: pending %d unanswered %d, want 1 1", s.Pending, s.Unanswered)
	}
	tr.Close()
	if s := tr.Stats(); s.Pending != 0 || s.Unanswered != 2 {
		t.Fatalf("after close: pending %d unanswered %d, want 0 2", s.Pending, s.Unanswered)
	}
}
