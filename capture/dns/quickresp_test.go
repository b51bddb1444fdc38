package dns

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// quickResponseCase is a query and its response, and whether the
// response should take the quick path.
type quickResponseCase struct {
	name      string
	query     []byte
	response  []byte
	wantQuick bool
}

// quickResponseCases builds the responses the quick path must agree on
// with the full decoder: the common ones it should take, and look-alikes
// it must leave to the full path.
func quickResponseCases(tb testing.TB) []quickResponseCase {
	tb.Helper()
	qmx := newQuery(0x1234, "Example.ORG.", mdns.TypeMX)
	mxGlue := newReply(tb, qmx, mdns.RcodeSuccess,
		[]string{"example.org. 300 IN MX 10 mx1.example.org.", "example.org. 300 IN MX 20 MX2.Example.org."},
		[]string{"mx1.example.org. 60 IN A 192.0.2.25", "mx1.example.org. 60 IN AAAA 2001:db8::25", "mx2.example.org. 60 IN A 192.0.2.26"})
	mxGlue.Ns = rrs(tb, []string{"example.org. 3600 IN NS ns1.example.org.", "example.org. 3600 IN NS ns2.example.net."})
	qa := newQuery(7, "www.example.com.", mdns.TypeA)
	aResp := newReply(tb, qa, mdns.RcodeSuccess, []string{"www.example.com. 60 IN A 198.51.100.7"}, nil)
	cname := newReply(tb, qa, mdns.RcodeSuccess, []string{
		"www.example.com. 60 IN CNAME edge.cdn.example.net.",
		"edge.cdn.example.net. 20 IN CNAME e1.cdn.example.net.",
		"e1.cdn.example.net. 20 IN A 203.0.113.9",
	}, nil)
	qaaaa := newQuery(8, "v6.example.com.", mdns.TypeAAAA)
	aaaa := newReply(tb, qaaaa, mdns.RcodeSuccess, []string{"v6.example.com. 60 IN AAAA 2001:db8::1", "v6.example.com. 60 IN AAAA ::ffff:192.0.2.1"}, nil)
	nx := newReply(tb, qmx, mdns.RcodeNameError, nil, nil)
	nx.Ns = rrs(tb, []string{"example.org. 900 IN SOA ns1.example.org. hostmaster.example.org. 2024010101 7200 3600 1209600 900"})
	referral := newReply(tb, qa, mdns.RcodeSuccess, nil, []string{"a.gtld.example. 172800 IN A 192.0.2.53"})
	referral.Ns = rrs(tb, []string{"com. 172800 IN NS a.gtld.example."})
	badvers := with(aResp, withEDNS, func(m *mdns.Msg) { m.Rcode = mdns.RcodeBadKey })
	cookie := with(mxGlue, withEDNS, func(m *mdns.Msg) {
		o := m.IsEdns0()
		o.Option = append(o.Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708a1a2a3a4a5a6a7a8"}, &mdns.EDNS0_PADDING{Padding: make([]byte, 7)})
	})
	nsid := with(aResp, withEDNS, func(m *mdns.Msg) {
		o := m.IsEdns0()
		o.Option = append(o.Option, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID, Nsid: "abcd"})
	})
	twoOPT := with(aResp, withEDNS, withEDNS)
	txt := newReply(tb, qa, mdns.RcodeSuccess, []string{`www.example.com. 60 IN TXT "v=spf1 -all"`}, nil)
	many := newReply(tb, qa, mdns.RcodeSuccess, nil, nil)
	for i := 0; i < 70; i++ {
		many.Answer = append(many.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: "www.example.com.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, byte(i)}})
	}
	odd := newReply(tb, newQuery(9, `we\.ird\032name.example.`, mdns.TypeMX), mdns.RcodeSuccess,
		[]string{`we\.ird\032name.example. 60 IN MX 0 \(mx\).example.`}, nil)
	chaos := newReply(tb, qa, mdns.RcodeSuccess, []string{"www.example.com. 60 CH A 192.0.2.1"}, nil)
	notify := with(aResp, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify })
	tc := with(aResp, func(m *mdns.Msg) { m.Truncated = true })

	compressed := func(m *mdns.Msg) []byte {
		c := m.Copy()
		c.Compress = true
		return pack(tb, c)
	}
	mxb := pack(tb, mxGlue)
	ab := pack(tb, aResp)
	// The CNAME target is a pointer to the owner name of the next record,
	// past the CNAME's RDATA: the full decoder rejects it, and so must the
	// quick path.
	fwd := forwardPointer(tb)
	return []quickResponseCase{
		{"MX with glue", pack(tb, qmx), mxb, true},
		{"MX with glue compressed", pack(tb, qmx), compressed(mxGlue), true},
		{"MX with glue and cookie", pack(tb, qmx), compressed(cookie), true},
		{"A", pack(tb, qa), ab, true},
		{"A unmatched", nil, ab, true},
		{"A with EDNS", pack(tb, qa), pack(tb, with(aResp, withEDNS)), true},
		{"A truncated flag", pack(tb, qa), pack(tb, tc), true},
		{"CNAME chain", pack(tb, qa), compressed(cname), true},
		{"AAAA", pack(tb, qaaaa), pack(tb, aaaa), true},
		{"NXDOMAIN with SOA", pack(tb, qmx), compressed(nx), true},
		{"referral", pack(tb, qa), compressed(referral), true},
		{"extended rcode", pack(tb, qa), pack(tb, badvers), true},
		{"over MaxRecords", pack(tb, qa), compressed(many), true},
		{"escaped names", nil, pack(tb, odd), true},
		{"NSID option", pack(tb, qa), pack(tb, nsid), false},
		{"two OPT", pack(tb, qa), pack(tb, twoOPT), false},
		{"TXT", pack(tb, qa), pack(tb, txt), false},
		{"class CH", pack(tb, qa), pack(tb, chaos), false},
		{"NOTIFY", nil, pack(tb, notify), false},
		{"cut in record", pack(tb, qmx), mxb[:len(mxb)-3], false},
		{"cut between records", pack(tb, qa), ab[:len(ab)-16], false},
		{"A rdlength 5", pack(tb, qa), badRdlength(ab, 5), false},
		{"A rdlength 0", pack(tb, qa), badRdlength(ab, 0), false},
		{"forward pointer in RDATA", nil, fwd, false},
	}
}

// badRdlength returns a copy of a one-A-record response with the record's
// RDATA length set to n (the message keeps its bytes).
func badRdlength(b []byte, n uint16) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(c[len(c)-6:], n)
	return c
}

// forwardPointer builds a response whose CNAME target points forward, to
// the owner name of the A record after it.
func forwardPointer(tb testing.TB) []byte {
	tb.Helper()
	q := pack(tb, newQuery(3, "a.example.", mdns.TypeA))
	b := append([]byte(nil), q...)
	b[2] |= 0x80
	binary.BigEndian.PutUint16(b[6:], 2)
	// CNAME: owner = pointer to the question name, RDATA = pointer to the
	// next record's owner.
	cnameAt := len(b)
	nextOwner := cnameAt + 2 + 10 + 2
	b = append(b, 0xc0, headerLen, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0|byte(nextOwner>>8), byte(nextOwner))
	b = append(b, 1, 'b', 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	return b
}

func TestQuickResponse(t *testing.T) {
	for _, tt := range quickResponseCases(t) {
		for _, keep := range [][]string{{"MX", "A", "AAAA", "CNAME"}, {"NS"}} {
			t.Run(tt.name+"/"+keep[0], func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.KeepTypes = keep
				msgs := [][]byte{tt.query, tt.response}
				var wantHits uint64
				if tt.query == nil {
					msgs = msgs[1:]
				} else if got := pairConfig(t, cfg, tt.query); got != 1 {
					t.Fatalf("query alone: quick path taken %d times, want 1", got)
				} else {
					wantHits = 1
				}
				if tt.wantQuick {
					wantHits++
				}
				if got := pairConfig(t, cfg, msgs...); got != wantHits {
					t.Errorf("quick path taken %d times, want %d", got, wantHits)
				}
			})
		}
	}
}

// TestQuickResponseEvent checks one event field by field, so that both
// paths agreeing on a wrong answer would still fail.
func TestQuickResponseEvent(t *testing.T) {
	cases := quickResponseCases(t)
	tests := []struct {
		name string
		maxR int
		want func(*event.DNS) bool
	}{
		{"MX with glue", 64, func(e *event.DNS) bool {
			return e.Matched && e.QName == "example.org" && e.QType == "MX" && e.RCode == "NOERROR" &&
				len(e.Answers) == 2 && e.Answers[1] == mx("example.org", 300, 20, "mx2.example.org") &&
				len(e.Additional) == 3 && e.Additional[1] == addr("mx1.example.org", "AAAA", 60, "2001:db8::25")
		}},
		{"extended rcode", 64, func(e *event.DNS) bool { return e.RCode == "BADKEY" && e.EDNS && e.Additional == nil }},
		{"NXDOMAIN with SOA", 64, func(e *event.DNS) bool { return e.RCode == "NXDOMAIN" && e.Answers == nil }},
		{"over MaxRecords", 3, func(e *event.DNS) bool { return len(e.Answers) == 3 && e.Answers[2].Addr.String() == "192.0.2.2" }},
		{"A truncated flag", 64, func(e *event.DNS) bool { return e.TC && len(e.Answers) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c quickResponseCase
			for _, x := range cases {
				if x.name == tt.name {
					c = x
				}
			}
			cfg := DefaultConfig()
			cfg.MaxRecords = tt.maxR
			tr, col := newTestTracker(t, cfg)
			tr.Message(c.query, Meta{Time: t0, Src: clientAddr, Dst: serverAddr, Transport: "udp"})
			tr.Message(c.response, Meta{Time: t0.Add(3e6), Src: serverAddr, Dst: clientAddr, Transport: "udp"})
			if tr.quickHits != 2 {
				t.Fatalf("quick path taken %d times, want 2", tr.quickHits)
			}
			if len(col.events) != 1 || !tt.want(col.events[0]) {
				t.Fatalf("events %+v", func() any {
					if len(col.events) == 1 {
						return *col.events[0]
					}
					return col.events
				}())
			}
			if st := tr.Stats(); tt.maxR == 3 && st.RecordsDropped != 67 {
				t.Fatalf("RecordsDropped = %d, want 67", st.RecordsDropped)
			}
		})
	}
}

// FuzzQuickResponseAgrees checks the quick path against the full decoder
// on responses: arbitrary bytes, seeded with the common responses and
// their look-alikes. Each input runs after a query made from its own
// first bytes, so that pairing is exercised too.
func FuzzQuickResponseAgrees(f *testing.F) {
	for _, c := range quickResponseCases(f) {
		f.Add(c.response, uint8(64))
	}
	f.Add([]byte{0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, maxRecords uint8) {
		q := append([]byte(nil), b...)
		if len(q) > 2 {
			q[2] &^= 0x80
		}
		if len(b) > 2 {
			b = append([]byte(nil), b...)
			b[2] |= 0x80
		}
		cfg := DefaultConfig()
		cfg.MaxRecords = int(maxRecords%8) + 1
		for _, keep := range [][]string{{"*"}, {"NS"}} {
			cfg.KeepTypes = keep
			pairConfig(t, cfg, q, b)
		}
	})
}

func BenchmarkResponse(b *testing.B) {
	var mxb, ab []byte
	for _, c := range quickResponseCases(b) {
		switch c.name {
		case "MX with glue compressed":
			mxb = c.response
		case "A with EDNS":
			ab = c.response
		}
	}
	m := Meta{Time: t0, Src: serverAddr, Dst: clientAddr, Transport: "udp"}
	for _, msg := range []struct {
		name string
		b    []byte
	}{{"MX-glue", mxb}, {"A", ab}} {
		for _, fullOnly := range []bool{false, true} {
			path := "quick"
			if fullOnly {
				path = "full"
			}
			b.Run(msg.name+"/"+path, func(b *testing.B) {
				var n int
				tr, err := NewTracker(DefaultConfig(), func(e *event.DNS) { n += len(e.Answers) })
				if err != nil {
					b.Fatal(err)
				}
				tr.fullOnly = fullOnly
				b.ReportAllocs()
				b.SetBytes(int64(len(msg.b)))
				for i := 0; i < b.N; i++ {
					tr.Message(msg.b, m)
				}
				if n == 0 || tr.Stats().Emitted != uint64(b.N) {
					b.Fatalf("emitted %d events with %d answers for %d messages", tr.Stats().Emitted, n, b.N)
				}
			})
		}
	}
}

// FuzzSkipName checks that every name skipName accepts is one
// mdns.UnpackDomainName accepts, ending at the same offset.
func FuzzSkipName(f *testing.F) {
	f.Add([]byte{3, 'f', 'o', 'o', 0, 0xc0, 0}, uint16(5))
	f.Add([]byte{0xc0, 0}, uint16(0))
	f.Add([]byte{1, 'a', 0xc0, 0}, uint16(0))
	f.Add([]byte{0x40, 0}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, off uint16) {
		o, ok := skipName(b, int(off))
		if !ok {
			return
		}
		_, want, err := mdns.UnpackDomainName(b, int(off))
		if err != nil || o != want {
			t.Fatalf("skipName = %d, true; UnpackDomainName = %d, %v", o, want, err)
		}
	})
}

func TestSkipName(t *testing.T) {
	long := make([]byte, 0, 300)
	for len(long) < 260 {
		long = append(long, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i')
	}
	long = append(long, 0)
	tests := []struct {
		name   string
		b      []byte
		off    int
		want   int
		wantOK bool
	}{
		{"root", []byte{0}, 0, 1, true},
		{"labels", []byte{3, 'f', 'o', 'o', 2, 'b', 'a', 0}, 0, 8, true},
		{"pointer", []byte{3, 'f', 'o', 'o', 0, 1, 'x', 0xc0, 0}, 5, 9, true},
		{"loop", []byte{0xc0, 0}, 0, 0, false},
		{"reserved label", []byte{0x40, 0}, 0, 0, false},
		{"cut label", []byte{3, 'f', 'o'}, 0, 0, false},
		{"cut pointer", []byte{0xc0}, 0, 0, false},
		{"off past end", []byte{0}, 1, 0, false},
		{"too long", long, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := skipName(tt.b, tt.off)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("skipName = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestPublicCapturesQuickAgrees replays every Ethernet capture of the
// public set through a tracker with the quick path and one without, and
// requires the same events and counters, and the quick path to take real
// responses.
func TestPublicCapturesQuickAgrees(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(publicPcaps, "*.pcap"))
	if len(files) == 0 {
		t.Skipf("public captures not available (%s)", publicPcaps)
	}
	var hits, msgs uint64
	for _, file := range files {
		if !isEthernetPcap(file) {
			continue
		}
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			quick, cq := newTestTracker(t, DefaultConfig())
			full, cf := newTestTracker(t, DefaultConfig())
			full.fullOnly = true
			replay(t, name, quick)
			replay(t, name, full)
			if q, f := quick.Stats(), full.Stats(); !reflect.DeepEqual(q, f) {
				t.Fatalf("stats differ:\nquick %+v\nfull  %+v", q, f)
			}
			if !reflect.DeepEqual(cq.events, cf.events) {
				t.Fatalf("events differ")
			}
			hits += quick.quickHits
			msgs += quick.Stats().Responses + quick.Stats().Queries
		})
	}
	t.Logf("quick path took %d of %d DNS messages", hits, msgs)
	if hits == 0 {
		t.Fatal("quick path never taken on the public captures")
	}
}

// isEthernetPcap reports whether file is a pcap file of Ethernet frames.
func isEthernetPcap(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	return err == nil && r.LinkType() == layers.LinkTypeEthernet
}
