package afpacket

import (
	"errors"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

var (
	testMailPorts = []uint16{25, 465, 587}
	testDNSPorts  = []uint16{53}
	srcMAC        = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	dstMAC        = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	client4       = net.IP{192, 0, 2, 10}
	server4       = net.IP{198, 51, 100, 25}
	client6       = net.ParseIP("2001:db8::10")
	server6       = net.ParseIP("2001:db8::25")
)

// serialize builds a frame from ls, fixing lengths.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// l2 returns the Ethernet header and VLAN tags (outer first, each an
// EtherType of a tag) in front of a payload of type inner.
func l2(inner layers.EthernetType, tags ...layers.EthernetType) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: inner}
	ls := []gopacket.SerializableLayer{eth}
	if len(tags) == 0 {
		return ls
	}
	eth.EthernetType = tags[0]
	for i := range tags {
		next := inner
		if i+1 < len(tags) {
			next = tags[i+1]
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(100 + i), Type: next})
	}
	return ls
}

func ipv4(proto layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
}

func ipv6(next layers.IPProtocol, src, dst net.IP) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: src, DstIP: dst}
}

var payload = gopacket.Payload("EHLO mail.example.org\r\n")

// tcp4 is a TCP segment over IPv4 behind tags.
func tcp4(tb testing.TB, sport, dport uint16, tags ...layers.EthernetType) []byte {
	ls := append(l2(layers.EthernetTypeIPv4, tags...), ipv4(layers.IPProtocolTCP, client4, server4),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, PSH: true, Window: 512, DataOffset: 5}, payload)
	return serialize(tb, ls...)
}

func udp4(tb testing.TB, sport, dport uint16, pl []byte, tags ...layers.EthernetType) []byte {
	ls := append(l2(layers.EthernetTypeIPv4, tags...), ipv4(layers.IPProtocolUDP, client4, server4),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, gopacket.Payload(pl))
	return serialize(tb, ls...)
}

func tcp6(tb testing.TB, sport, dport uint16) []byte {
	ls := append(l2(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolTCP, client6, server6),
		&layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 512, DataOffset: 5})
	return serialize(tb, ls...)
}

func udp6(tb testing.TB, sport, dport uint16) []byte {
	ls := append(l2(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolUDP, client6, server6),
		&layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, payload)
	return serialize(tb, ls...)
}

// testFrames are named frames with the verdict of
// MailDNSFilter(testMailPorts, testDNSPorts, tunnels) for tunnels off and on.
func testFrames(tb testing.TB) []struct {
	name              string
	frame             []byte
	keep, keepTunnels bool
} {
	qinq := []layers.EthernetType{layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q}
	inner := tcp4(tb, 40000, 25)
	vxlanHdr := []byte{0x08, 0, 0, 0, 0, 0x01, 0x23, 0}
	fragUDP := ipv4(layers.IPProtocolUDP, server4, client4)
	fragUDP.FragOffset = 185
	fragTCP := ipv4(layers.IPProtocolTCP, server4, client4)
	fragTCP.FragOffset = 185
	firstFrag := ipv4(layers.IPProtocolUDP, server4, client4)
	firstFrag.Flags = layers.IPv4MoreFragments
	withOptions := ipv4(layers.IPProtocolTCP, client4, server4)
	withOptions.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	hopByHop := append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, make([]byte, 20)...) // next header TCP, PadN
	tcpAfterHBH := serialize(tb, &layers.TCP{SrcPort: 1234, DstPort: 443, DataOffset: 5})
	hopByHop = append(hopByHop[:8], tcpAfterHBH...)
	full := tcp4(tb, 40000, 25)
	return []struct {
		name              string
		frame             []byte
		keep, keepTunnels bool
	}{
		{name: "ipv4 tcp to 25", frame: tcp4(tb, 40000, 25), keep: true, keepTunnels: true},
		{name: "ipv4 tcp from 25", frame: tcp4(tb, 25, 40000), keep: true, keepTunnels: true},
		{name: "ipv4 tcp to 587", frame: tcp4(tb, 40001, 587), keep: true, keepTunnels: true},
		{name: "ipv4 tcp from 587", frame: tcp4(tb, 587, 40001), keep: true, keepTunnels: true},
		{name: "ipv4 tcp to 465", frame: tcp4(tb, 40002, 465), keep: true, keepTunnels: true},
		{name: "ipv4 tcp from 465", frame: tcp4(tb, 465, 40002), keep: true, keepTunnels: true},
		{name: "ipv4 tcp 443 https", frame: tcp4(tb, 40003, 443), keep: false, keepTunnels: false},
		{name: "ipv4 tcp 25 with ip options", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), withOptions,
			&layers.TCP{SrcPort: 40000, DstPort: 25, DataOffset: 5})...), keep: true, keepTunnels: true},
		{name: "ipv4 tcp 443 with ip options", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), withOptions,
			&layers.TCP{SrcPort: 40000, DstPort: 443, DataOffset: 5})...), keep: false, keepTunnels: false},
		{name: "ipv6 tcp to 25", frame: tcp6(tb, 40000, 25), keep: true, keepTunnels: true},
		{name: "ipv6 tcp from 25", frame: tcp6(tb, 25, 40000), keep: true, keepTunnels: true},
		{name: "ipv6 tcp to 587", frame: tcp6(tb, 40000, 587), keep: true, keepTunnels: true},
		{name: "ipv6 tcp from 465", frame: tcp6(tb, 465, 40000), keep: true, keepTunnels: true},
		{name: "ipv6 tcp 443 https", frame: tcp6(tb, 40000, 443), keep: false, keepTunnels: false},
		{name: "ipv4 udp dns query", frame: udp4(tb, 40000, 53, []byte("query")), keep: true, keepTunnels: true},
		{name: "ipv4 udp dns answer", frame: udp4(tb, 53, 40000, []byte("answer")), keep: true, keepTunnels: true},
		{name: "ipv4 tcp dns", frame: tcp4(tb, 40000, 53), keep: true, keepTunnels: true},
		{name: "ipv6 udp dns", frame: udp6(tb, 40000, 53), keep: true, keepTunnels: true},
		{name: "ipv6 tcp dns answer", frame: tcp6(tb, 53, 40000), keep: true, keepTunnels: true},
		{name: "ipv4 udp 25 is not mail", frame: udp4(tb, 40000, 25, nil), keep: false, keepTunnels: false},
		{name: "ipv4 udp 123 ntp", frame: udp4(tb, 123, 123, nil), keep: false, keepTunnels: false},
		{name: "arp", frame: serialize(tb, append(l2(layers.EthernetTypeARP), &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: srcMAC, SourceProtAddress: client4,
			DstHwAddress: make([]byte, 6), DstProtAddress: server4})...), keep: false, keepTunnels: false},
		{name: "ipv6 icmpv6", frame: serialize(tb, append(l2(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv6, client6, server6),
			gopacket.Payload{135, 0, 0, 0})...), keep: false, keepTunnels: false},
		{name: "ipv6 hop-by-hop header kept", frame: serialize(tb, append(l2(layers.EthernetTypeIPv6),
			ipv6(layers.IPProtocolIPv6HopByHop, client6, server6), gopacket.Payload(hopByHop))...), keep: true, keepTunnels: true},
		{name: "ipv6 esp dropped", frame: serialize(tb, append(l2(layers.EthernetTypeIPv6),
			ipv6(layers.IPProtocolESP, client6, server6), gopacket.Payload(make([]byte, 40)))...), keep: false, keepTunnels: false},
		{name: "802.1q tcp 25", frame: tcp4(tb, 40000, 25, layers.EthernetTypeDot1Q), keep: true, keepTunnels: true},
		{name: "802.1q tcp 443", frame: tcp4(tb, 40000, 443, layers.EthernetTypeDot1Q), keep: false, keepTunnels: false},
		{name: "802.1ad tcp 587", frame: tcp4(tb, 587, 40000, layers.EthernetTypeQinQ), keep: true, keepTunnels: true},
		{name: "qinq tcp 25", frame: tcp4(tb, 40000, 25, qinq...), keep: true, keepTunnels: true},
		{name: "qinq tcp 443", frame: tcp4(tb, 40000, 443, qinq...), keep: false, keepTunnels: false},
		{name: "double 802.1q udp 53", frame: udp4(tb, 40000, 53, nil, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q), keep: true, keepTunnels: true},
		{name: "three tags dropped", frame: tcp4(tb, 40000, 25, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q, layers.EthernetTypeDot1Q), keep: false, keepTunnels: false},
		{name: "ipv4 non-first udp fragment", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), fragUDP,
			gopacket.Payload(make([]byte, 64)))...), keep: true, keepTunnels: true},
		{name: "ipv4 non-first udp fragment behind vlan", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4, layers.EthernetTypeDot1Q), fragUDP,
			gopacket.Payload(make([]byte, 64)))...), keep: true, keepTunnels: true},
		{name: "ipv4 non-first tcp fragment", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), fragTCP,
			gopacket.Payload(make([]byte, 64)))...), keep: false, keepTunnels: false},
		{name: "ipv4 first udp fragment of dns", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), firstFrag,
			&layers.UDP{SrcPort: 53, DstPort: 40000}, gopacket.Payload(make([]byte, 64)))...), keep: true, keepTunnels: true},
		{name: "gre erspan", frame: serialize(tb, append(l2(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolGRE, client4, server4),
			&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true}, gopacket.Payload(make([]byte, 8)), gopacket.Payload(inner))...),
			keep: false, keepTunnels: true},
		{name: "gre over ipv6", frame: serialize(tb, append(l2(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolGRE, client6, server6),
			&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging}, gopacket.Payload(inner))...),
			keep: false, keepTunnels: true},
		{name: "vxlan", frame: udp4(tb, 50000, 4789, append(vxlanHdr, inner...)), keep: false, keepTunnels: true},
		{name: "geneve", frame: udp4(tb, 50000, 6081, append(make([]byte, 8), inner...)), keep: false, keepTunnels: true},
		{name: "empty", frame: nil, keep: false, keepTunnels: false},
		{name: "truncated ethernet", frame: full[:13], keep: false, keepTunnels: false},
		{name: "truncated ipv4 header", frame: full[:14+8], keep: false, keepTunnels: false},
		{name: "truncated before tcp ports", frame: full[:14+20+1], keep: false, keepTunnels: false},
		{name: "truncated inside dst port", frame: full[:14+20+3], keep: false, keepTunnels: false},
		{name: "truncated vlan tag", frame: tcp4(tb, 40000, 25, layers.EthernetTypeDot1Q)[:17], keep: false, keepTunnels: false},
		{name: "ipv4 bad ihl", frame: func() []byte {
			f := tcp4(tb, 40000, 25)
			f[14] = 0x42
			return f
		}(), keep: false, keepTunnels: false},
	}
}

func vm(tb testing.TB, raw []bpf.RawInstruction) *bpf.VM {
	tb.Helper()
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		tb.Fatalf("program does not disassemble")
	}
	v, err := bpf.NewVM(ins)
	if err != nil {
		tb.Fatalf("NewVM: %v", err)
	}
	return v
}

func TestMailDNSFilter(t *testing.T) {
	for _, tunnels := range []bool{false, true} {
		raw, err := MailDNSFilter(testMailPorts, testDNSPorts, tunnels)
		if err != nil {
			t.Fatalf("MailDNSFilter: %v", err)
		}
		v := vm(t, raw)
		for _, tc := range testFrames(t) {
			want := tc.keep
			if tunnels {
				want = tc.keepTunnels
			}
			n, err := v.Run(tc.frame)
			if err != nil {
				t.Errorf("tunnels=%v %s: %v", tunnels, tc.name, err)
				continue
			}
			if got := n > 0; got != want {
				t.Errorf("tunnels=%v %s: kept=%v (ret %d), want %v", tunnels, tc.name, got, n, want)
			}
			if n > 0 && n != FilterSnapLen {
				t.Errorf("tunnels=%v %s: ret %d, want %d", tunnels, tc.name, n, FilterSnapLen)
			}
		}
	}
}

func TestMailDNSFilterPortSets(t *testing.T) {
	many := make([]uint16, MaxFilterPorts)
	for i := range many {
		many[i] = uint16(10000 + i)
	}
	tests := []struct {
		name        string
		mail, dns   []uint16
		tunnels     bool
		wantErr     bool
		keep, drop  []uint16 // TCP destination ports
		keepUDP     []uint16
		dropUDPPort []uint16
	}{
		{name: "mail only", mail: []uint16{25}, keep: []uint16{25}, drop: []uint16{53, 587}, dropUDPPort: []uint16{53}},
		{name: "dns only", dns: []uint16{53, 5353}, keep: []uint16{53, 5353}, drop: []uint16{25}, keepUDP: []uint16{53, 5353}},
		{name: "duplicates", mail: []uint16{25, 25, 53}, dns: []uint16{53}, keep: []uint16{25, 53}, keepUDP: []uint16{53}},
		{name: "max ports", mail: many, dns: many, keep: []uint16{10000, 10000 + MaxFilterPorts - 1}, drop: []uint16{25},
			keepUDP: []uint16{10000 + MaxFilterPorts - 1}},
		{name: "tunnels only", tunnels: true, drop: []uint16{25}, keepUDP: []uint16{4789, 6081}, dropUDPPort: []uint16{53}},
		{name: "nothing", wantErr: true},
		{name: "port zero", mail: []uint16{0}, wantErr: true},
		{name: "too many ports", mail: append(many, 1), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := MailDNSFilter(tc.mail, tc.dns, tc.tunnels)
			if tc.wantErr {
				if !errors.Is(err, ErrFilter) {
					t.Fatalf("err = %v, want ErrFilter", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("MailDNSFilter: %v", err)
			}
			v := vm(t, raw)
			check := func(frame []byte, want bool, what string) {
				n, err := v.Run(frame)
				if err != nil || (n > 0) != want {
					t.Errorf("%s: ret %d, %v; want kept=%v", what, n, err, want)
				}
			}
			for _, p := range tc.keep {
				check(tcp4(t, 40000, p), true, "tcp to "+layers.TCPPort(p).String())
			}
			for _, p := range tc.drop {
				check(tcp4(t, 40000, p), false, "tcp to "+layers.TCPPort(p).String())
			}
			for _, p := range tc.keepUDP {
				check(udp4(t, 40000, p, nil), true, "udp to "+layers.UDPPort(p).String())
			}
			for _, p := range tc.dropUDPPort {
				check(udp4(t, 40000, p, nil), false, "udp to "+layers.UDPPort(p).String())
			}
		})
	}
}

// TestMailDNSFilterPrefixes runs every prefix of every test frame: a
// truncated frame is never an error and never kept unless the prefix still
// holds the fields the verdict needs.
func TestMailDNSFilterPrefixes(t *testing.T) {
	raw, err := MailDNSFilter(testMailPorts, testDNSPorts, true)
	if err != nil {
		t.Fatal(err)
	}
	v := vm(t, raw)
	for _, tc := range testFrames(t) {
		for i := range len(tc.frame) {
			n, err := v.Run(tc.frame[:i])
			if err != nil {
				t.Fatalf("%s[:%d]: %v", tc.name, i, err)
			}
			if n > 0 && !tc.keepTunnels {
				t.Errorf("%s[:%d] kept, but the whole frame is not", tc.name, i)
			}
		}
	}
}

func FuzzMailDNSFilter(f *testing.F) {
	for _, tc := range testFrames(f) {
		f.Add(tc.frame, tc.name == "vxlan")
	}
	filters := map[bool]*bpf.VM{}
	for _, tunnels := range []bool{false, true} {
		raw, err := MailDNSFilter(testMailPorts, testDNSPorts, tunnels)
		if err != nil {
			f.Fatal(err)
		}
		filters[tunnels] = vm(f, raw)
	}
	f.Fuzz(func(t *testing.T, frame []byte, tunnels bool) {
		n, err := filters[tunnels].Run(frame)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n != 0 && n != FilterSnapLen {
			t.Fatalf("ret %d, want 0 or %d", n, FilterSnapLen)
		}
	})
}
