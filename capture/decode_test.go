package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// ser serializes layers with lengths and checksums computed.
func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if nl, ok := l.(*layers.TCP); ok {
			for _, x := range ls {
				if ip, ok := x.(gopacket.NetworkLayer); ok {
					_ = nl.SetNetworkLayerForChecksum(ip)
				}
			}
		}
		if ul, ok := l.(*layers.UDP); ok {
			for _, x := range ls {
				if ip, ok := x.(gopacket.NetworkLayer); ok {
					_ = ul.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

var (
	macA = net.HardwareAddr{0, 1, 2, 3, 4, 5}
	macB = net.HardwareAddr{0, 1, 2, 3, 4, 6}
)

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

func tcp(sp, dp uint16, seq uint32, syn bool) *layers.TCP {
	return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, SYN: syn, ACK: !syn, Window: 1000, DataOffset: 5}
}

func udp(sp, dp uint16) *layers.UDP {
	return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
}

// innerSMTP is an Ethernet frame with TCP to port 25 and a payload.
func innerSMTP(t testing.TB) []byte {
	return ser(t, eth(layers.EthernetTypeIPv4), ip4("10.20.1.5", "192.0.2.25", layers.IPProtocolTCP),
		tcp(40000, 25, 1000, false), gopacket.Payload("EHLO x\r\n"))
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// outerGRE wraps payload in Ethernet/IPv4/GRE with the given GRE header.
func outerGRE(t testing.TB, gre []byte, payload []byte) []byte {
	ip := ser(t, eth(layers.EthernetTypeIPv4), ip4("198.51.100.1", "198.51.100.2", layers.IPProtocolGRE), gopacket.Payload(cat(gre, payload)))
	return ip
}

func TestDecode(t *testing.T) {
	cfg := DefaultConfig()
	d := newDecoder(&cfg)
	smtp := innerSMTP(t)
	smtpIP := smtp[14:] // without Ethernet
	dnsQ := ser(t, eth(layers.EthernetTypeIPv4), ip4("10.20.1.5", "192.0.2.53", layers.IPProtocolUDP), udp(5353, 53), gopacket.Payload("0123456789ab"))

	vxlan := ser(t, eth(layers.EthernetTypeIPv4), ip4("198.51.100.1", "198.51.100.2", layers.IPProtocolUDP), udp(50000, 4789),
		gopacket.Payload(cat([]byte{0x08, 0, 0, 0}, be32(42<<8), smtp)))
	geneve := ser(t, eth(layers.EthernetTypeIPv4), ip4("198.51.100.1", "198.51.100.2", layers.IPProtocolUDP), udp(50000, 6081),
		gopacket.Payload(cat([]byte{0x01, 0}, be16(0x6558), be32(7<<8), make([]byte, 4), smtp)))
	erspan2 := outerGRE(t, cat(be16(0x1000), be16(0x88be), be32(1)), cat(be32(1<<28|100<<16), be32(5), smtp))
	erspan3 := outerGRE(t, cat(be16(0x1000), be16(0x22eb), be32(1)), cat(be32(2<<28|200<<16|9), be32(0), be32(0), smtp))
	erspan3ip := outerGRE(t, cat(be16(0x1000), be16(0x22eb), be32(1)), cat(be32(2<<28|9), be32(0), be16(0), be16(2<<10), smtpIP))
	gre := outerGRE(t, cat(be16(0x2000), be16(0x0800), be32(77)), smtpIP)
	greTEB := outerGRE(t, cat(be16(0), be16(0x6558)), smtp)
	grePPP := outerGRE(t, cat(be16(0x3001), be16(0x880b), be16(10), be16(1), be32(5)), cat([]byte{0xff, 0x03, 0x00, 0x21}, smtpIP))
	vlan := ser(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 11, Type: layers.EthernetTypeIPv4},
		ip4("10.20.1.5", "192.0.2.25", layers.IPProtocolTCP), tcp(40000, 25, 1, false), gopacket.Payload("x"))
	qinq := ser(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 11, Type: layers.EthernetTypeIPv4},
		ip4("10.20.1.5", "192.0.2.25", layers.IPProtocolTCP), tcp(40000, 25, 1, false), gopacket.Payload("x"))
	v6 := ser(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::5", "2001:db8:1::25", layers.IPProtocolTCP), tcp(40000, 587, 1, true))
	v6hop := ser(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::5", "2001:db8:1::25", layers.IPProtocolIPv6HopByHop),
		gopacket.Payload(cat([]byte{6, 0, 1, 4, 0, 0, 0, 0}, be16(40000), be16(25), be32(1), be32(0), []byte{5 << 4, tcpSYN}, be16(1000), be32(0))))
	frag4 := ser(t, eth(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4MoreFragments,
		Id: 99, SrcIP: net.IP{192, 0, 2, 53}, DstIP: net.IP{10, 20, 1, 5}}, gopacket.Payload(make([]byte, 64)))
	frag6 := ser(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::53", "2001:db8::5", layers.IPProtocolIPv6Fragment),
		gopacket.Payload(cat([]byte{17, 0}, be16(8<<3|1), be32(1234), make([]byte, 16))))
	sll := cat(be16(0), be16(1), be16(6), make([]byte, 8), be16(0x0800), smtpIP)
	sll2 := cat(be16(0x86dd), be16(0), be32(2), be16(1), []byte{0, 6}, make([]byte, 8), v6[14:])
	null := cat([]byte{2, 0, 0, 0}, smtpIP)
	loop := cat(be32(2), smtpIP)
	arp := ser(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, SourceHwAddress: macA, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: macB, DstProtAddress: []byte{1, 2, 3, 5}})
	https := ser(t, eth(layers.EthernetTypeIPv4), ip4("10.20.1.5", "192.0.2.80", layers.IPProtocolTCP), tcp(40000, 443, 1, true))
	icmp := ser(t, eth(layers.EthernetTypeIPv4), ip4("10.20.1.5", "192.0.2.80", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})

	tests := []struct {
		name    string
		link    uint32
		data    []byte
		want    Verdict
		src     string
		dport   uint16
		vlans   []uint16
		tunnels []Tunnel
		payload string
	}{
		{name: "ethernet tcp 25", link: LinkEthernet, data: smtp, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "udp dns", link: LinkEthernet, data: dnsQ, want: Keep, src: "10.20.1.5", dport: 53, payload: "0123456789ab"},
		{name: "vlan", link: LinkEthernet, data: vlan, want: Keep, src: "10.20.1.5", dport: 25, vlans: []uint16{11}, payload: "x"},
		{name: "qinq", link: LinkEthernet, data: qinq, want: Keep, src: "10.20.1.5", dport: 25, vlans: []uint16{100, 11}, payload: "x"},
		{name: "vxlan", link: LinkEthernet, data: vxlan, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelVXLAN}, payload: "EHLO x\r\n"},
		{name: "geneve", link: LinkEthernet, data: geneve, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelGeneve}, payload: "EHLO x\r\n"},
		{name: "gre ipv4 with key", link: LinkEthernet, data: gre, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelGRE}, payload: "EHLO x\r\n"},
		{name: "gre ethernet", link: LinkEthernet, data: greTEB, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelGRE}, payload: "EHLO x\r\n"},
		{name: "gre v1 ppp", link: LinkEthernet, data: grePPP, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelGRE}, payload: "EHLO x\r\n"},
		{name: "erspan2 with vlan field", link: LinkEthernet, data: erspan2, want: Keep, src: "10.20.1.5", dport: 25, vlans: []uint16{100}, tunnels: []Tunnel{TunnelERSPAN2}, payload: "EHLO x\r\n"},
		{name: "erspan3 ethernet", link: LinkEthernet, data: erspan3, want: Keep, src: "10.20.1.5", dport: 25, vlans: []uint16{200}, tunnels: []Tunnel{TunnelERSPAN3}, payload: "EHLO x\r\n"},
		{name: "erspan3 ip frame", link: LinkEthernet, data: erspan3ip, want: Keep, src: "10.20.1.5", dport: 25, tunnels: []Tunnel{TunnelERSPAN3}, payload: "EHLO x\r\n"},
		{name: "ipv6", link: LinkEthernet, data: v6, want: Keep, src: "2001:db8::5", dport: 587},
		{name: "ipv6 hop-by-hop", link: LinkEthernet, data: v6hop, want: Keep, src: "2001:db8::5", dport: 25},
		{name: "ipv4 fragment", link: LinkEthernet, data: frag4, want: Fragment, src: "192.0.2.53"},
		{name: "ipv6 fragment", link: LinkEthernet, data: frag6, want: Fragment, src: "2001:db8::53"},
		{name: "linux sll", link: LinkSLL, data: sll, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "linux sll2", link: LinkSLL2, data: sll2, want: Keep, src: "2001:db8::5", dport: 587},
		{name: "raw ipv4", link: LinkRaw, data: smtpIP, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "linktype ipv4", link: LinkIPv4, data: smtpIP, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "bsd null", link: LinkNull, data: null, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "openbsd loop", link: LinkLoop, data: loop, want: Keep, src: "10.20.1.5", dport: 25, payload: "EHLO x\r\n"},
		{name: "arp", link: LinkEthernet, data: arp, want: DropNotIP},
		{name: "https filtered", link: LinkEthernet, data: https, want: DropPort},
		{name: "icmp", link: LinkEthernet, data: icmp, want: DropProto},
		{name: "unknown link", link: 147, data: smtp, want: DropLinkType},
		{name: "truncated ip", link: LinkEthernet, data: smtp[:30], want: DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			v := d.decode(tt.link, tt.data, &p)
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			if tt.src != "" && p.Src != netip.MustParseAddr(tt.src) {
				t.Errorf("src %v, want %v", p.Src, tt.src)
			}
			if tt.dport != 0 && p.DstPort != tt.dport {
				t.Errorf("dst port %d, want %d", p.DstPort, tt.dport)
			}
			if got := p.VLANs[:p.NVLAN]; !equal(got, tt.vlans) {
				t.Errorf("vlans %v, want %v", got, tt.vlans)
			}
			if got := p.Tunnels[:p.NTunnel]; !equal(got, tt.tunnels) {
				t.Errorf("tunnels %v, want %v", got, tt.tunnels)
			}
			if tt.payload != "" && string(p.Payload) != tt.payload {
				t.Errorf("payload %q, want %q", p.Payload, tt.payload)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
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

// TestDecodeTruncated cuts valid frames at every length: the decoder must
// never panic and never keep a packet whose TCP header is incomplete.
func TestDecodeTruncated(t *testing.T) {
	cfg := DefaultConfig()
	d := newDecoder(&cfg)
	frame := innerSMTP(t)
	for n := range len(frame) {
		var p Packet
		v := d.decode(LinkEthernet, frame[:n], &p)
		if n < 14+20+20 && v == Keep {
			t.Errorf("kept a frame cut at %d bytes", n)
		}
	}
}

// TestScopeSeparatesVLANs checks that the same tuple on two VLANs gets
// different scopes and the same tuple on the same VLAN the same scope.
func TestScopeSeparatesVLANs(t *testing.T) {
	cfg := DefaultConfig()
	d := newDecoder(&cfg)
	mk := func(id uint16) []byte {
		return ser(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: id, Type: layers.EthernetTypeIPv4},
			ip4("10.20.1.5", "192.0.2.25", layers.IPProtocolTCP), tcp(40000, 25, 1, false), gopacket.Payload("x"))
	}
	var a, b, c Packet
	d.decode(LinkEthernet, mk(10), &a)
	d.decode(LinkEthernet, mk(20), &b)
	d.decode(LinkEthernet, mk(10), &c)
	if a.scope == b.scope {
		t.Error("VLAN 10 and 20 share a scope")
	}
	if a.scope != c.scope {
		t.Error("VLAN 10 has two scopes")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint32(LinkEthernet), innerSMTP(f))
	f.Add(uint32(LinkRaw), innerSMTP(f)[14:])
	f.Add(uint32(LinkEthernet), outerGRE(f, cat(be16(0x1000), be16(0x22eb), be32(1)), cat(be32(2<<28|9), be32(0), be16(0), be16(2<<10|1), make([]byte, 8), innerSMTP(f)[14:])))
	cfg := DefaultConfig()
	d := newDecoder(&cfg)
	f.Fuzz(func(t *testing.T, link uint32, data []byte) {
		var p Packet
		v := d.decode(link%300, data, &p)
		if v >= numVerdicts {
			t.Fatalf("verdict %d out of range", v)
		}
		if v == Keep && p.Proto != ipProtoTCP && p.Proto != ipProtoUDP {
			t.Fatalf("kept protocol %d", p.Proto)
		}
	})
}
