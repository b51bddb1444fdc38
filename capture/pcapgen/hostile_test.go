package pcapgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/miekg/dns"
)

// hostilePacket is one decoded packet of a hostile capture.
type hostilePacket struct {
	src, dst netip.AddrPort
	tcp      *layers.TCP
	udp      *layers.UDP
	payload  []byte
}

// readHostile decodes every packet of an Ethernet pcap; it returns the
// packets and the error that ended the file (nil at a clean end).
func readHostile(t *testing.T, data []byte) ([]hostilePacket, error) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var out []hostilePacket
	for {
		b, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
		ip, ok := p.NetworkLayer().(*layers.IPv4)
		if !ok {
			t.Fatalf("packet %d: no IPv4 layer: %v", len(out)+1, p)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		hp := hostilePacket{}
		switch l := p.TransportLayer().(type) {
		case *layers.TCP:
			hp.tcp = l
			hp.src, hp.dst = netip.AddrPortFrom(src, uint16(l.SrcPort)), netip.AddrPortFrom(dst, uint16(l.DstPort))
			hp.payload = l.Payload
		case *layers.UDP:
			hp.udp = l
			hp.src, hp.dst = netip.AddrPortFrom(src, uint16(l.SrcPort)), netip.AddrPortFrom(dst, uint16(l.DstPort))
			hp.payload = l.Payload
		default:
			t.Fatalf("packet %d: no TCP or UDP layer", len(out)+1)
		}
		out = append(out, hp)
	}
}

// clientStream concatenates the TCP payloads client sends to port, in
// capture order (the hostile SMTP cases have one connection each and no
// retransmissions).
func clientStream(pkts []hostilePacket, client netip.Addr, port uint16) []byte {
	var b []byte
	for _, p := range pkts {
		if p.tcp != nil && p.src.Addr() == client && p.dst.Port() == port {
			b = append(b, p.payload...)
		}
	}
	return b
}

func writeHostile(t *testing.T, name string, opt HostileOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHostile(&buf, name, opt); err != nil {
		t.Fatalf("WriteHostile(%s): %v", name, err)
	}
	return buf.Bytes()
}

func TestHostileCases(t *testing.T) {
	web05 := netip.MustParseAddr("10.20.1.5")
	tests := []struct {
		name  string
		count int
		// traffic: the file is a clean Ethernet pcap.
		traffic bool
		check   func(t *testing.T, data []byte, pkts []hostilePacket)
	}{
		{name: "long-line", count: 5000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			s := clientStream(pkts, web05, 25)
			if !bytes.Contains(s, []byte("MAIL FROM:<"+strings.Repeat("A", 5000)+"@example.org>\r\n")) {
				t.Error("no long MAIL FROM line")
			}
			if !bytes.Contains(s, []byte("X-Long: "+strings.Repeat("A", 5000)+"\r\n")) {
				t.Error("no long header line")
			}
		}},
		{name: "endless-reply", count: 25000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			var s []byte
			for _, p := range pkts {
				if p.tcp != nil && p.src.Port() == 25 {
					s = append(s, p.payload...)
				}
			}
			// Each line follows the CRLF of the line before (the first,
			// the banner's).
			if got := bytes.Count(s, []byte("\r\n250-X-ENDLESS-")); got != 25000 {
				t.Errorf("continuation lines = %d, want %d", got, 25000)
			}
		}},
		{name: "many-rcpt", count: 2500, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			if got := bytes.Count(clientStream(pkts, web05, 25), []byte("RCPT TO:<user")); got != 2500 {
				t.Errorf("RCPT commands = %d, want 2500", got)
			}
		}},
		{name: "header-bomb", count: 7000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			s := clientStream(pkts, web05, 25)
			if got := bytes.Count(s, []byte("\r\nX-Bomb-")); got != 7000 {
				t.Errorf("bomb header lines = %d, want 7000", got)
			}
			if got := bytes.Count(s, []byte("\r\n\t fold")); got != 10000 {
				t.Errorf("folded lines = %d, want 10000", got)
			}
		}},
		{name: "dns-compression-loop", count: 9, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			bad := 0
			for _, p := range pkts {
				if p.udp != nil && p.src.Port() == 53 {
					var m dns.Msg
					if m.Unpack(p.payload) != nil {
						bad++
					}
				}
			}
			// miekg/dns refuses every one of them: loops and a chain
			// longer than its pointer limit.
			if bad != 9 {
				t.Errorf("responses miekg/dns cannot unpack = %d, want 9", bad)
			}
		}},
		{name: "cname-loop", count: 300, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			var loops int
			for _, p := range pkts {
				var m dns.Msg
				if p.udp == nil || p.src.Port() != 53 || m.Unpack(p.payload) != nil || len(m.Answer) != 2 {
					continue
				}
				a, ok1 := m.Answer[0].(*dns.CNAME)
				b, ok2 := m.Answer[1].(*dns.CNAME)
				if ok1 && ok2 && a.Target == b.Hdr.Name && b.Target == a.Hdr.Name {
					loops++
				}
			}
			if loops != 1 {
				t.Errorf("two-name CNAME loops = %d, want 1", loops)
			}
			// Over TCP: the chain and the closed chain, 300 CNAMEs each.
			s := []byte{}
			for _, p := range pkts {
				if p.tcp != nil && p.src.Port() == 53 {
					s = append(s, p.payload...)
				}
			}
			var chains int
			for len(s) >= 2 {
				n := int(binary.BigEndian.Uint16(s))
				if len(s) < 2+n {
					t.Fatalf("short DNS over TCP frame")
				}
				var m dns.Msg
				if err := m.Unpack(s[2 : 2+n]); err != nil {
					t.Fatalf("chain response: %v", err)
				}
				if len(m.Answer) >= 300 {
					chains++
				}
				s = s[2+n:]
			}
			if chains != 2 {
				t.Errorf("CNAME chain responses = %d, want 2", chains)
			}
		}},
		{name: "conflicting-overlap", count: 4, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			// Per session: one segment re-sent at the same sequence with
			// other bytes, and one out of order.
			type key struct {
				src netip.AddrPort
				seq uint32
			}
			seen := map[key][]byte{}
			conflicts := 0
			for _, p := range pkts {
				if p.tcp == nil || len(p.payload) == 0 {
					continue
				}
				k := key{p.src, p.tcp.Seq}
				if prev, ok := seen[k]; ok && len(prev) == len(p.payload) && !bytes.Equal(prev, p.payload) {
					conflicts++
				}
				seen[k] = p.payload
			}
			if conflicts != 2*4 {
				t.Errorf("conflicting copies = %d, want %d", conflicts, 2*4)
			}
		}},
		{name: "syn-flood", count: 3000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			syns := 0
			for _, p := range pkts {
				if p.tcp != nil && p.tcp.SYN && !p.tcp.ACK && p.dst.Port() == 25 && p.src.Addr().As4()[2] >= 16 {
					syns++
				}
			}
			if syns != 3000 {
				t.Errorf("flood SYNs = %d, want 3000", syns)
			}
			if got := len(clientStream(pkts, web05, 25)); got == 0 {
				t.Error("no legitimate session of web05")
			}
		}},
		{name: "dns-flood", count: 3000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			queries, responses := 0, 0
			for _, p := range pkts {
				if p.udp == nil {
					continue
				}
				var m dns.Msg
				if err := m.Unpack(p.payload); err != nil || !strings.HasSuffix(m.Question[0].Name, ".flood.example.") {
					continue
				}
				if m.Response {
					responses++
				} else {
					queries++
				}
			}
			if queries != 3000 || responses < 3000/2 || responses >= 3000 {
				t.Errorf("flood queries %d, responses %d; want 3000 and between 1500 and 3000", queries, responses)
			}
		}},
		{name: "million-flows", count: 3000, traffic: true, check: func(t *testing.T, _ []byte, pkts []hostilePacket) {
			flows := map[[2]netip.AddrPort]bool{}
			for _, p := range pkts {
				if p.tcp != nil && (p.dst.Port() == 25 || p.dst.Port() == 587) && len(p.payload) > 0 {
					flows[[2]netip.AddrPort{p.src, p.dst}] = true
				}
			}
			// Two of the 3000 would be web05 and web10 and are left out;
			// the legitimate sessions add 8 + 8.
			if len(flows) != 3000-2+16 {
				t.Errorf("client flows = %d, want %d", len(flows), 3000-2+16)
			}
		}},
		{name: "truncated-record", check: func(t *testing.T, data []byte, _ []hostilePacket) {
			pkts, err := readHostile(t, data)
			if !errors.Is(err, io.ErrUnexpectedEOF) || len(pkts) == 0 {
				t.Errorf("read %d packets, then %v; want some, then io.ErrUnexpectedEOF", len(pkts), err)
			}
		}},
		{name: "truncated-header", check: func(t *testing.T, data []byte, _ []hostilePacket) {
			if len(data) != 13 {
				t.Errorf("file of %d bytes, want 13", len(data))
			}
		}},
		{name: "wrong-link-80211", check: func(t *testing.T, data []byte, _ []hostilePacket) {
			r, err := pcapgo.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeIEEE802_11 {
				t.Errorf("link type %d, want 105", r.LinkType())
			}
			n := 0
			for _, _, err := r.ReadPacketData(); err == nil; _, _, err = r.ReadPacketData() {
				n++
			}
			if n != 100 {
				t.Errorf("%d packets, want 100", n)
			}
		}},
		{name: "wrong-link-lying", check: func(t *testing.T, data []byte, _ []hostilePacket) {
			r, err := pcapgo.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("link type %d, want 1", r.LinkType())
			}
			b, _, err := r.ReadPacketData()
			if err != nil || len(b) == 0 || b[0] != 0x45 {
				t.Errorf("first packet starts %x (%v), want an IPv4 header", b[:min(len(b), 4)], err)
			}
		}},
	}
	if len(tests) != len(Hostile()) {
		t.Fatalf("%d test cases for %d hostile cases", len(tests), len(Hostile()))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := HostileOptions{Seed: 7, Count: tt.count}
			data := writeHostile(t, tt.name, opt)
			if again := writeHostile(t, tt.name, opt); !bytes.Equal(data, again) {
				t.Error("two writes with the same options differ")
			}
			var pkts []hostilePacket
			if tt.traffic {
				var err error
				if pkts, err = readHostile(t, data); err != nil {
					t.Fatalf("read back: %v", err)
				}
				other := writeHostile(t, tt.name, HostileOptions{Seed: 8, Count: tt.count})
				if bytes.Equal(data, other) {
					t.Error("seeds 7 and 8 write the same file")
				}
			}
			tt.check(t, data, pkts)
		})
	}
}

func TestHostileCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Hostile() {
		if c.Name == "" || c.Description == "" || seen[c.Name] {
			t.Errorf("case %+v: empty or duplicate name, or no description", c)
		}
		seen[c.Name] = true
		if (c.Count == 0) != (c.Unit == "") {
			t.Errorf("%s: Count %d with Unit %q", c.Name, c.Count, c.Unit)
		}
		got, ok := LookupHostile(c.Name)
		if !ok || got.Name != c.Name {
			t.Errorf("LookupHostile(%q) = %v, %v", c.Name, got.Name, ok)
		}
	}
	// The numbers are the defaults.
	for name, want := range map[string]int{"many-rcpt": 1_000_000, "syn-flood": 1_000_000, "dns-flood": 1_000_000,
		"million-flows": 1_000_000, "endless-reply": 2_000_000, "header-bomb": 100_000, "long-line": 1 << 20} {
		if c, _ := LookupHostile(name); c.Count != want {
			t.Errorf("%s: default count %d, want %d", name, c.Count, want)
		}
	}
}

func TestWriteHostileErrors(t *testing.T) {
	tests := []struct {
		name string
		opt  HostileOptions
		want error
	}{
		{name: "no-such-case", want: ErrUnknownScenario},
		{name: "syn-flood", opt: HostileOptions{Count: -1}, want: ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteHostile(io.Discard, tt.name, tt.opt); !errors.Is(err, tt.want) {
				t.Errorf("WriteHostile = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestHostileCountScales checks that Count sizes a case: twice the count,
// about twice the packets.
func TestHostileCountScales(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{name: "syn-flood", n: 2000},
		{name: "dns-flood", n: 2000},
		{name: "million-flows", n: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			small := countPackets(t, writeHostile(t, tt.name, HostileOptions{Seed: 1, Count: tt.n}))
			large := countPackets(t, writeHostile(t, tt.name, HostileOptions{Seed: 1, Count: 2 * tt.n}))
			if large < 2*small*9/10 {
				t.Errorf("%d packets for count %d, %d for %d: not about twice", small, tt.n, large, 2*tt.n)
			}
		})
	}
}

func countPackets(t *testing.T, data []byte) int {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			return n
		}
		n++
	}
}
