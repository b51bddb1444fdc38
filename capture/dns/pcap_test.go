package dns

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/mxwatch/mxwatch/event"
)

// publicPcaps holds third-party captures next to the repository; a
// user's clone does not have it.
const publicPcaps = "../../../shared/pcaps/public"

// replay feeds the DNS messages (port 53) of an Ethernet capture to a
// tracker: UDP payloads directly, TCP payloads through one Framer per
// direction. The TCP handling is naive (segments in capture order, no
// retransmissions), which is enough for the captures used here.
func replay(t *testing.T, file string, tr *Tracker) {
	t.Helper()
	f, err := os.Open(filepath.Join(publicPcaps, file))
	if err != nil {
		t.Fatalf("open capture: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, want Ethernet", file, r.LinkType())
	}
	framers := make(map[[2]netip.AddrPort]*Framer)
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		var src, dst netip.Addr
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(ip.SrcIP)
			dst, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		m := Meta{Time: ci.Timestamp}
		switch l := p.TransportLayer().(type) {
		case *layers.UDP:
			if l.SrcPort != 53 && l.DstPort != 53 {
				continue
			}
			m.Src, m.Dst, m.Transport = netip.AddrPortFrom(src, uint16(l.SrcPort)), netip.AddrPortFrom(dst, uint16(l.DstPort)), "udp"
			tr.Message(l.Payload, m)
		case *layers.TCP:
			if (l.SrcPort != 53 && l.DstPort != 53) || len(l.Payload) == 0 {
				continue
			}
			m.Src, m.Dst, m.Transport = netip.AddrPortFrom(src, uint16(l.SrcPort)), netip.AddrPortFrom(dst, uint16(l.DstPort)), "tcp"
			k := [2]netip.AddrPort{m.Src, m.Dst}
			fr := framers[k]
			if fr == nil {
				fr = tr.NewFramer()
				framers[k] = fr
			}
			fr.Data(l.Payload, func(msg []byte) { tr.Message(msg, m) })
		}
	}
	for _, fr := range framers {
		fr.Close()
	}
	tr.Close()
}

// TestPublicCaptures checks the MX facts of real captures against the
// values in expected.tsv (columns mx_query_names, mx_answer_hosts,
// mx_response_A_AAAA, mx_queries/responses, dns_qtypes), copied here.
func TestPublicCaptures(t *testing.T) {
	if _, err := os.Stat(publicPcaps); err != nil {
		t.Skipf("public captures not available (%s): %v", publicPcaps, err)
	}
	tests := []struct {
		name string
		file string
		// From expected.tsv.
		mxQueryNames []string // names of MX queries seen (and answered)
		mxHosts      []string // MX answer hosts, in answer order
		mxAddrs      []string // A/AAAA addresses in the additional sections of MX answers (any order)
		queries      map[string]uint64
		responses    map[string]uint64
		// Unmatched MX responses (query not in the capture).
		unmatched int
		tcp       uint64 // DNS messages framed from TCP
	}{
		{
			name: "arkime mx with additional", file: "arkime--dns-mx.pcap",
			mxQueryNames: []string{"mx.com"},
			mxHosts:      []string{"cluster5.us.messagelabs.com", "cluster5a.us.messagelabs.com"},
			mxAddrs:      []string{"65.61.188.4", "69.20.95.4"},
			queries:      map[string]uint64{"MX": 1}, responses: map[string]uint64{"MX": 1},
		},
		{
			name: "pcapplusplus response only", file: "pcapplusplus--Dns4.pcap",
			mxHosts: []string{"mta5.am0.yahoodns.net", "mta7.am0.yahoodns.net", "mta6.am0.yahoodns.net"},
			mxAddrs: []string{"68.180.131.16", "68.142.255.16", "203.84.221.53", "98.138.11.157", "119.160.247.124",
				"121.101.144.139", "2001:4998:140::1002", "2406:8600:b8:fe03::1003", "2406:2000:108:4::1006"},
			responses: map[string]uint64{"MX": 1},
			unmatched: 1,
		},
		{
			name: "ipfixprobe many types", file: "ipfixprobe--dns.pcap",
			mxQueryNames: []string{"google.com"},
			mxHosts: []string{"alt1.aspmx.l.google.com", "alt4.aspmx.l.google.com", "alt2.aspmx.l.google.com",
				"alt3.aspmx.l.google.com", "aspmx.l.google.com"},
			queries:   map[string]uint64{"A": 1, "PTR": 2, "MX": 1, "TXT": 1, "NS": 1, "AAAA": 1, "RRSIG": 1},
			responses: map[string]uint64{"A": 1, "PTR": 2, "MX": 1, "TXT": 1, "NS": 1, "AAAA": 1, "RRSIG": 1},
		},
		{
			name: "suricata a aaaa mx with edns", file: "suricata-verify--dns-udp-google.com-a-aaaa-mx.pcap",
			mxQueryNames: []string{"google.com"},
			mxHosts: []string{"aspmx.l.google.com", "alt1.aspmx.l.google.com", "alt2.aspmx.l.google.com",
				"alt3.aspmx.l.google.com", "alt4.aspmx.l.google.com"},
			queries:   map[string]uint64{"A": 1, "AAAA": 1, "MX": 1},
			responses: map[string]uint64{"A": 1, "AAAA": 1, "MX": 1},
		},
		{
			name: "arkime a over tcp", file: "arkime--dns-tcp.pcap",
			queries: map[string]uint64{"A": 2}, responses: map[string]uint64{"A": 2},
			tcp: 4,
		},
		{
			name: "suricata twenty queries in one tcp segment", file: "suricata-verify--dns-tcp-multirequest-buffer.pcap",
			queries: map[string]uint64{"A": 20}, responses: map[string]uint64{"A": 20},
			tcp: 40,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, c := newTestTracker(t, DefaultConfig())
			replay(t, tc.file, tr)

			var names, hosts, addrs []string
			unmatched := 0
			for _, e := range c.events {
				if err := (&event.DNS{Kind: event.KindDNS, Version: event.SchemaVersion, ID: "x",
					Client: e.Client, Server: e.Server, QType: e.QType}).Validate(); err != nil {
					t.Errorf("event would not validate: %v", err)
				}
				if e.QType != "MX" {
					continue
				}
				if e.RCode != "NOERROR" {
					t.Errorf("MX rcode %s, want NOERROR", e.RCode)
				}
				if !e.Matched {
					unmatched++
				} else {
					names = append(names, e.QName)
				}
				for _, rr := range e.Answers {
					if rr.Type == "MX" {
						hosts = append(hosts, rr.Host)
					}
				}
				for _, rr := range e.Additional {
					if rr.Type == "A" || rr.Type == "AAAA" {
						addrs = append(addrs, rr.Addr.String())
					}
				}
			}
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("mx query names", names, tc.mxQueryNames)
			check("mx answer hosts", hosts, tc.mxHosts)
			// expected.tsv lists the A addresses before the AAAA ones (tshark
			// field order); the wire interleaves them: compare as sets.
			slices.Sort(addrs)
			check("mx additional addresses", addrs, sorted(tc.mxAddrs))
			check("unmatched mx responses", unmatched, tc.unmatched)
			s := tr.Stats()
			check("queries by type", s.QueriesByType, tc.queries)
			check("responses by type", s.ResponsesByType, tc.responses)
			check("tcp messages", s.TCPMessages, tc.tcp)
			var nq, nr uint64
			for _, n := range tc.queries {
				nq += n
			}
			for _, n := range tc.responses {
				nr += n
			}
			want := Stats{Messages: nq + nr, Queries: nq, Responses: nr, Matched: nq, UnmatchedResponses: nr - nq,
				TCPMessages: tc.tcp, QueriesByType: tc.queries, ResponsesByType: tc.responses}
			want.Emitted, want.NotKept = uint64(len(c.events)), nr-uint64(len(c.events))
			check("stats", s, want)
		})
	}
}

func sorted(s []string) []string {
	if s == nil {
		return nil
	}
	return slices.Sorted(slices.Values(s))
}
