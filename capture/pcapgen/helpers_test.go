package pcapgen

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sort"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// record is one packet read back from a capture.
type record struct {
	ci gopacket.CaptureInfo
	p  gopacket.Packet // innermost decoding (ERSPAN III unwrapped)
	// outer is the packet as gopacket decodes the link frame.
	outer gopacket.Packet
}

// readCapture reads and decodes every packet of a capture written with opt.
func readCapture(t *testing.T, data []byte, opt Options) []record {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if opt.Gzip {
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = gz
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	if opt.Format == Pcapng {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("pcapng reader: %v", err)
		}
		src = ng
	} else {
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			t.Fatalf("pcap reader: %v", err)
		}
		if uint32(pr.LinkType()) != opt.Link.LinkType()&0xff {
			t.Fatalf("link type %d, want %d", pr.LinkType(), opt.Link.LinkType())
		}
		src = pr
	}
	var out []record
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read packet %d: %v", len(out)+1, err)
		}
		p := decodeFrame(data, opt.Link)
		out = append(out, record{ci: ci, p: unwrapERSPAN3(p), outer: p})
	}
	return out
}

// decodeFrame decodes one frame of the given link type with gopacket.
func decodeFrame(data []byte, link Link) gopacket.Packet {
	opts := gopacket.DecodeOptions{Lazy: false, NoCopy: true}
	switch link {
	case LinuxSLL:
		return gopacket.NewPacket(data, layers.LayerTypeLinuxSLL, opts)
	case LinuxSLL2:
		// gopacket has no SLL2 decoder: skip the 20-byte header.
		if len(data) < 20 {
			return gopacket.NewPacket(data, gopacket.LayerTypePayload, opts)
		}
		return gopacket.NewPacket(data[20:], layers.EthernetType(binary.BigEndian.Uint16(data[0:2])), opts)
	case Raw:
		if len(data) > 0 && data[0]>>4 == 6 {
			return gopacket.NewPacket(data, layers.LayerTypeIPv6, opts)
		}
		return gopacket.NewPacket(data, layers.LayerTypeIPv4, opts)
	case Null:
		return gopacket.NewPacket(data, layers.LayerTypeLoopback, opts)
	}
	return gopacket.NewPacket(data, layers.LayerTypeEthernet, opts)
}

// unwrapERSPAN3 decodes the Ethernet frame inside an ERSPAN type III
// header, which gopacket does not know; other packets are returned as they
// are.
func unwrapERSPAN3(p gopacket.Packet) gopacket.Packet {
	g, ok := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
	if !ok || g.Protocol != etherTypeERSPAN3 || len(g.Payload) < 12 {
		return p
	}
	return gopacket.NewPacket(g.Payload[12:], layers.LayerTypeEthernet, gopacket.Default)
}

// countLayers counts the layers of type lt in p.
func countLayers(p gopacket.Packet, lt gopacket.LayerType) int {
	n := 0
	for _, l := range p.Layers() {
		if l.LayerType() == lt {
			n++
		}
	}
	return n
}

// flowKey identifies one direction of a TCP or UDP flow.
type flowKey struct{ src, dst netip.AddrPort }

// inner returns the innermost IP addresses and transport of p.
type l4info struct {
	src, dst netip.Addr
	tcp      *layers.TCP
	udp      *layers.UDP
	ip4      *layers.IPv4
	ip6      *layers.IPv6
}

func innerL4(p gopacket.Packet) l4info {
	var info l4info
	for _, l := range p.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			info = l4info{ip4: v}
			info.src, _ = netip.AddrFromSlice(v.SrcIP.To4())
			info.dst, _ = netip.AddrFromSlice(v.DstIP.To4())
		case *layers.IPv6:
			info = l4info{ip6: v}
			info.src, _ = netip.AddrFromSlice(v.SrcIP)
			info.dst, _ = netip.AddrFromSlice(v.DstIP)
		case *layers.TCP:
			info.tcp = v
		case *layers.UDP:
			info.udp = v
		}
	}
	return info
}

func (i l4info) key() flowKey {
	switch {
	case i.tcp != nil:
		return flowKey{netip.AddrPortFrom(i.src, uint16(i.tcp.SrcPort)), netip.AddrPortFrom(i.dst, uint16(i.tcp.DstPort))}
	case i.udp != nil:
		return flowKey{netip.AddrPortFrom(i.src, uint16(i.udp.SrcPort)), netip.AddrPortFrom(i.dst, uint16(i.udp.DstPort))}
	}
	return flowKey{}
}

// tcpPayload returns the TCP payload of p: everything after the TCP header
// within the IP packet, whatever gopacket decoded it as.
func tcpPayload(t *layers.TCP) []byte { return t.LayerPayload() }

// onesSum is the Internet checksum's one's complement sum.
func onesSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// checkChecksums verifies every IPv4 header checksum of p and the TCP, UDP
// and ICMPv6 checksums of unfragmented packets.
func checkChecksums(t *testing.T, n int, p gopacket.Packet) {
	t.Helper()
	var pseudo func(proto layers.IPProtocol, length int) uint32
	fragmented := false
	for _, l := range p.Layers() {
		switch v := l.(type) {
		case *layers.IPv4:
			if fold(onesSum(0, v.Contents)) != 0xffff {
				t.Errorf("packet %d: bad IPv4 header checksum", n)
			}
			fragmented = v.Flags&layers.IPv4MoreFragments != 0 || v.FragOffset != 0
			src, dst := v.SrcIP.To4(), v.DstIP.To4()
			pseudo = func(proto layers.IPProtocol, length int) uint32 {
				s := onesSum(0, src)
				s = onesSum(s, dst)
				return s + uint32(proto) + uint32(length)
			}
		case *layers.IPv6:
			fragmented = false
			src, dst := v.SrcIP, v.DstIP
			pseudo = func(proto layers.IPProtocol, length int) uint32 {
				s := onesSum(0, src)
				s = onesSum(s, dst)
				return s + uint32(proto) + uint32(length)
			}
		case *layers.TCP, *layers.UDP, *layers.ICMPv6:
			if fragmented || pseudo == nil {
				continue
			}
			var proto layers.IPProtocol
			switch l.(type) {
			case *layers.TCP:
				proto = layers.IPProtocolTCP
			case *layers.UDP:
				proto = layers.IPProtocolUDP
			default:
				proto = layers.IPProtocolICMPv6
			}
			seg := append(append([]byte(nil), l.LayerContents()...), l.LayerPayload()...)
			if fold(onesSum(pseudo(proto, len(seg)), seg)) != 0xffff {
				t.Errorf("packet %d: bad %v checksum", n, l.LayerType())
			}
		}
	}
}

// tcpStream collects one direction of a TCP connection.
type tcpStream struct {
	synSeq  uint32
	syn     bool
	segs    []tcpSeg
	acks    []uint32
	fin     bool
	finSeq  uint32
	rst     bool
	packets int
}

type tcpSeg struct {
	seq  uint32
	data []byte
}

// collectTCP groups the TCP packets of recs by direction.
func collectTCP(recs []record) map[flowKey]*tcpStream {
	streams := map[flowKey]*tcpStream{}
	for _, r := range recs {
		info := innerL4(r.p)
		if info.tcp == nil {
			continue
		}
		k := info.key()
		s := streams[k]
		if s == nil {
			s = &tcpStream{}
			streams[k] = s
		}
		s.packets++
		tc := info.tcp
		if tc.SYN {
			s.syn, s.synSeq = true, tc.Seq
		}
		if tc.ACK {
			s.acks = append(s.acks, tc.Ack)
		}
		if tc.RST {
			s.rst = true
		}
		if pl := tcpPayload(tc); len(pl) > 0 {
			s.segs = append(s.segs, tcpSeg{tc.Seq, append([]byte(nil), pl...)})
		}
		if tc.FIN {
			s.fin = true
			s.finSeq = tc.Seq + uint32(len(tcpPayload(tc)))
		}
	}
	return streams
}

// reassemble puts the stream's bytes in sequence order. It returns the
// bytes (zero where nothing was captured), the number of missing bytes, and
// an error if two segments disagree about a byte.
func (s *tcpStream) reassemble() (data []byte, missing int, err error) {
	if len(s.segs) == 0 {
		return nil, 0, nil
	}
	base := s.synSeq + 1
	if !s.syn {
		base = s.segs[0].seq
		for _, g := range s.segs {
			if int32(g.seq-base) < 0 {
				base = g.seq
			}
		}
	}
	segs := append([]tcpSeg(nil), s.segs...)
	sort.SliceStable(segs, func(i, j int) bool { return int32(segs[i].seq-segs[j].seq) < 0 })
	end := 0
	for _, g := range segs {
		end = max(end, int(g.seq-base)+len(g.data))
	}
	data = make([]byte, end)
	have := make([]bool, end)
	for _, g := range segs {
		off := int(g.seq - base)
		for i, b := range g.data {
			if have[off+i] && data[off+i] != b {
				return nil, 0, errors.New("overlapping segments disagree")
			}
			data[off+i], have[off+i] = b, true
		}
	}
	for _, h := range have {
		if !h {
			missing++
		}
	}
	return data, missing, nil
}

// writeRecorded runs a scenario on a recording writer and returns the
// capture and the conns it opened.
func writeRecorded(t *testing.T, s Scenario) ([]byte, []*Conn) {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(&buf, s.Options)
	if err != nil {
		t.Fatal(err)
	}
	w.record = true
	if err := s.Build(w); err != nil {
		t.Fatalf("build %s: %v", s.Name, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close %s: %v", s.Name, err)
	}
	return buf.Bytes(), w.conns
}

// scenario returns the named scenario or fails the test.
func scenario(t *testing.T, name string) Scenario {
	t.Helper()
	s, ok := Lookup(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	return s
}
