package capture

import (
	"encoding/binary"
	"net/netip"
)

// Link types (LINKTYPE_* values as written in pcap and pcapng files).
const (
	LinkNull     = 0   // BSD loopback, host byte order family
	LinkEthernet = 1   // IEEE 802.3
	LinkRawOld   = 12  // DLT_RAW on most BSDs, seen in old files
	LinkRawOld2  = 14  // DLT_RAW on OpenBSD
	LinkRaw      = 101 // raw IPv4 or IPv6
	LinkLoop     = 108 // OpenBSD loopback, network byte order family
	LinkSLL      = 113 // Linux cooked capture v1
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2
)

// Ethertypes the decoder understands.
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	etherVLAN     = 0x8100
	etherQinQ     = 0x88a8
	etherQinQOld  = 0x9100
	etherMPLS     = 0x8847
	etherMPLSMC   = 0x8848
	etherPPPoE    = 0x8864
	etherTEB      = 0x6558 // transparent Ethernet bridging (inner Ethernet)
	etherERSPAN2  = 0x88be
	etherERSPAN3  = 0x22eb
	etherPPP      = 0x880b
	etherNSH      = 0x894f
	ipProtoIPIP   = 4
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	ipProtoIPv6   = 41
	ipProtoGRE    = 47
	ipProtoESP    = 50
	ipProtoAH     = 51
	ipProtoFrag6  = 44
	ipProtoNoNext = 59
)

// MaxVLANs is the number of 802.1Q tags kept per packet; deeper stacks are
// decoded but only the outermost MaxVLANs are recorded.
const MaxVLANs = 4

// maxLayers bounds the number of headers walked for one packet, so that a
// hostile packet of nested tunnels cannot make decoding expensive.
const maxLayers = 16

// Tunnel kinds recorded on a packet, outermost first.
type Tunnel uint8

// Tunnels the decoder removes.
const (
	TunnelNone Tunnel = iota
	TunnelGRE
	TunnelERSPAN2
	TunnelERSPAN3
	TunnelVXLAN
	TunnelGeneve
	TunnelIPIP
	TunnelMPLS
	TunnelPPPoE
	TunnelGREUDP
)

var tunnelNames = [...]string{"", "gre", "erspan2", "erspan3", "vxlan", "geneve", "ipip", "mpls", "pppoe", "gre-udp"}

func (t Tunnel) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return "unknown"
}

// Verdict is what the decoder decided about a packet.
type Verdict uint8

// Verdicts. Everything but Keep and Fragment is a drop reason, counted in
// Stats under its name.
const (
	Keep          Verdict = iota // a TCP or UDP packet on a watched port
	Fragment                     // an IP fragment: reassemble, then decode the transport again
	DropNotIP                    // ARP, LLDP, STP, ... anything without IP inside
	DropProto                    // IP without TCP or UDP (ICMP, ESP, ...)
	DropPort                     // TCP/UDP on ports that are neither mail nor DNS
	DropMalformed                // a header is cut short or inconsistent
	DropLinkType                 // link type this decoder does not know
	DropTooDeep                  // more nested headers than maxLayers
	numVerdicts
)

var verdictNames = [numVerdicts]string{"kept", "fragment", "not_ip", "not_tcp_udp", "port_filtered", "malformed", "unsupported_link", "too_deep"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// Packet is the decoder's view of one packet: the innermost IP header, the
// transport header and the encapsulations that were removed. Slices point
// into the caller's buffer.
type Packet struct {
	VLANs   [MaxVLANs]uint16
	NVLAN   uint8
	Tunnels [4]Tunnel
	NTunnel uint8
	// scope accumulates VLAN ids and tunnel identifiers (VNI, GRE key,
	// ERSPAN session) so that copies of one flow seen on different VLANs or
	// tunnels stay apart.
	scope uint64

	Src, Dst netip.Addr
	Proto    uint8
	SrcPort  uint16
	DstPort  uint16

	// TCP only.
	Flags uint8
	Seq   uint32
	Ack   uint32

	// Payload is the transport payload (TCP or UDP), or the fragment data
	// when the verdict is Fragment.
	Payload []byte

	// Fragment fields (verdict Fragment).
	FragID     uint32
	FragOffset int
	FragMore   bool
}

func (p *Packet) reset() {
	*p = Packet{}
}

func (p *Packet) addVLAN(id uint16) {
	if p.NVLAN < MaxVLANs {
		p.VLANs[p.NVLAN] = id
		p.NVLAN++
	}
	p.mix(uint64(id) | 1<<16)
}

func (p *Packet) addTunnel(t Tunnel, id uint32) {
	if int(p.NTunnel) < len(p.Tunnels) {
		p.Tunnels[p.NTunnel] = t
		p.NTunnel++
	}
	p.mix(uint64(t)<<40 | uint64(id))
}

// mix folds v into the scope (FNV-1a style over 64-bit words).
func (p *Packet) mix(v uint64) {
	const prime = 1099511628211
	if p.scope == 0 {
		p.scope = 14695981039346656037
	}
	p.scope ^= v
	p.scope *= prime
}

// portSet is a bitmap of the 65536 ports.
type portSet [1024]uint64

func (s *portSet) add(p uint16)      { s[p>>6] |= 1 << (p & 63) }
func (s *portSet) has(p uint16) bool { return s[p>>6]&(1<<(p&63)) != 0 }
func newPortSet(ports ...[]uint16) portSet {
	var s portSet
	for _, list := range ports {
		for _, p := range list {
			s.add(p)
		}
	}
	return s
}

// decoder walks link, VLAN, tunnel, IP and transport headers without
// allocating, and filters on ports before any costly work happens. It is
// the early filter: what it drops is never reassembled or parsed.
type decoder struct {
	tcpPorts    portSet // mail ports and DNS ports
	udpPorts    portSet // DNS ports
	vxlanPorts  portSet
	genevePorts portSet
	greUDPPorts portSet
}

func newDecoder(cfg *Config) decoder {
	return decoder{
		tcpPorts:    newPortSet(cfg.MailPorts, cfg.DNSPorts),
		udpPorts:    newPortSet(cfg.DNSPorts),
		vxlanPorts:  newPortSet(cfg.VXLANPorts),
		genevePorts: newPortSet(cfg.GenevePorts),
		greUDPPorts: newPortSet(cfg.GREUDPPorts),
	}
}

// decode fills p from one link-layer frame.
func (d *decoder) decode(link uint32, data []byte, p *Packet) Verdict {
	p.reset()
	switch link {
	case LinkEthernet:
		return d.ethernet(data, p, 0)
	case LinkRaw, LinkRawOld, LinkRawOld2:
		return d.rawIP(data, p, 0)
	case LinkIPv4:
		return d.ipv4(data, p, 0)
	case LinkIPv6:
		return d.ipv6(data, p, 0)
	case LinkSLL:
		if len(data) < 16 {
			return DropMalformed
		}
		return d.ether(binary.BigEndian.Uint16(data[14:16]), data[16:], p, 0)
	case LinkSLL2:
		if len(data) < 20 {
			return DropMalformed
		}
		return d.ether(binary.BigEndian.Uint16(data[0:2]), data[20:], p, 0)
	case LinkNull, LinkLoop:
		if len(data) < 4 {
			return DropMalformed
		}
		// The family is in host byte order of the capturing machine
		// (LinkNull) or network order (LinkLoop); accept both.
		fam := binary.LittleEndian.Uint32(data[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data[:4])
		}
		switch fam {
		case 2: // AF_INET
			return d.ipv4(data[4:], p, 0)
		case 10, 24, 28, 30: // AF_INET6 on Linux, OpenBSD/NetBSD, FreeBSD, macOS
			return d.ipv6(data[4:], p, 0)
		}
		return DropNotIP
	}
	return DropLinkType
}

func (d *decoder) ethernet(data []byte, p *Packet, depth int) Verdict {
	if len(data) < 14 {
		return DropMalformed
	}
	return d.ether(binary.BigEndian.Uint16(data[12:14]), data[14:], p, depth)
}

// ether dispatches on an ethertype.
func (d *decoder) ether(et uint16, data []byte, p *Packet, depth int) Verdict {
	for ; depth < maxLayers; depth++ {
		switch et {
		case etherIPv4:
			return d.ipv4(data, p, depth+1)
		case etherIPv6:
			return d.ipv6(data, p, depth+1)
		case etherVLAN, etherQinQ, etherQinQOld:
			if len(data) < 4 {
				return DropMalformed
			}
			p.addVLAN(binary.BigEndian.Uint16(data[0:2]) & 0x0fff)
			et = binary.BigEndian.Uint16(data[2:4])
			data = data[4:]
		case etherMPLS, etherMPLSMC:
			return d.mpls(data, p, depth+1)
		case etherTEB:
			return d.ethernet(data, p, depth+1)
		case etherPPPoE:
			// version/type, code, session id, length, then the PPP protocol.
			if len(data) < 8 {
				return DropMalformed
			}
			p.addTunnel(TunnelPPPoE, uint32(binary.BigEndian.Uint16(data[2:4])))
			return d.ppp(data[6:], p, depth+1)
		default:
			return DropNotIP
		}
	}
	return DropTooDeep
}

func (d *decoder) mpls(data []byte, p *Packet, depth int) Verdict {
	for i := 0; ; i++ {
		if len(data) < 4 {
			return DropMalformed
		}
		if i >= maxLayers {
			return DropTooDeep
		}
		label := binary.BigEndian.Uint32(data[:4])
		data = data[4:]
		if label&0x100 != 0 { // bottom of stack
			p.addTunnel(TunnelMPLS, label>>12)
			return d.rawIP(data, p, depth+1)
		}
	}
}

func (d *decoder) ppp(data []byte, p *Packet, depth int) Verdict {
	if len(data) >= 2 && data[0] == 0xff && data[1] == 0x03 { // HDLC address and control
		data = data[2:]
	}
	if len(data) < 1 {
		return DropMalformed
	}
	var proto uint16
	if data[0]&1 == 1 { // compressed one-byte protocol field
		proto, data = uint16(data[0]), data[1:]
	} else {
		if len(data) < 2 {
			return DropMalformed
		}
		proto, data = binary.BigEndian.Uint16(data[:2]), data[2:]
	}
	switch proto {
	case 0x0021:
		return d.ipv4(data, p, depth+1)
	case 0x0057:
		return d.ipv6(data, p, depth+1)
	}
	return DropNotIP
}

func (d *decoder) rawIP(data []byte, p *Packet, depth int) Verdict {
	if len(data) < 1 {
		return DropMalformed
	}
	switch data[0] >> 4 {
	case 4:
		return d.ipv4(data, p, depth)
	case 6:
		return d.ipv6(data, p, depth)
	}
	return DropNotIP
}

func (d *decoder) ipv4(data []byte, p *Packet, depth int) Verdict {
	if depth >= maxLayers {
		return DropTooDeep
	}
	if len(data) < 20 || data[0]>>4 != 4 {
		return DropMalformed
	}
	ihl := int(data[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(data[2:4]))
	if total == 0 {
		// Captured on the sending host before TCP segmentation offload
		// split the segment: the length field is left 0. Use what is there.
		total = len(data)
	}
	if ihl < 20 || total < ihl || len(data) < ihl {
		return DropMalformed
	}
	if total < len(data) {
		data = data[:total] // Ethernet padding
	}
	// A total length beyond the captured bytes means a snap length cut;
	// decode what is there, the transport layer copes with short payloads.
	p.Src = netip.AddrFrom4([4]byte(data[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(data[16:20]))
	proto := data[9]
	frag := binary.BigEndian.Uint16(data[6:8])
	more, off := frag&0x2000 != 0, int(frag&0x1fff)*8
	if more || off != 0 {
		p.Proto = proto
		p.FragID = uint32(binary.BigEndian.Uint16(data[4:6]))
		p.FragOffset = off
		p.FragMore = more
		p.Payload = data[ihl:]
		return Fragment
	}
	return d.transport(proto, data[ihl:], p, depth+1)
}

func (d *decoder) ipv6(data []byte, p *Packet, depth int) Verdict {
	if depth >= maxLayers {
		return DropTooDeep
	}
	if len(data) < 40 || data[0]>>4 != 6 {
		return DropMalformed
	}
	plen := int(binary.BigEndian.Uint16(data[4:6]))
	p.Src = netip.AddrFrom16([16]byte(data[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(data[24:40]))
	next := data[6]
	data = data[40:]
	if plen != 0 && plen < len(data) { // plen 0: jumbogram or TSO capture; keep all
		data = data[:plen]
	}
	for i := 0; i < maxLayers; i++ {
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(data) < 8 {
				return DropMalformed
			}
			n := (int(data[1]) + 1) * 8
			if len(data) < n {
				return DropMalformed
			}
			next, data = data[0], data[n:]
		case ipProtoAH:
			if len(data) < 8 {
				return DropMalformed
			}
			n := (int(data[1]) + 2) * 4
			if len(data) < n {
				return DropMalformed
			}
			next, data = data[0], data[n:]
		case ipProtoFrag6:
			if len(data) < 8 {
				return DropMalformed
			}
			fo := binary.BigEndian.Uint16(data[2:4])
			p.Proto = data[0]
			p.FragOffset = int(fo>>3) * 8
			p.FragMore = fo&1 != 0
			p.FragID = binary.BigEndian.Uint32(data[4:8])
			if p.FragOffset == 0 && !p.FragMore { // atomic fragment
				next, data = data[0], data[8:]
				continue
			}
			p.Payload = data[8:]
			return Fragment
		default:
			return d.transport(next, data, p, depth+1)
		}
	}
	return DropTooDeep
}

// transport decodes the layer above IP: TCP, UDP, or a tunnel.
func (d *decoder) transport(proto uint8, data []byte, p *Packet, depth int) Verdict {
	if depth >= maxLayers {
		return DropTooDeep
	}
	switch proto {
	case ipProtoTCP:
		if len(data) < 20 {
			return DropMalformed
		}
		off := int(data[12]>>4) * 4
		if off < 20 || len(data) < off {
			return DropMalformed
		}
		p.Proto = proto
		p.SrcPort = binary.BigEndian.Uint16(data[0:2])
		p.DstPort = binary.BigEndian.Uint16(data[2:4])
		if !d.tcpPorts.has(p.SrcPort) && !d.tcpPorts.has(p.DstPort) {
			return DropPort
		}
		p.Seq = binary.BigEndian.Uint32(data[4:8])
		p.Ack = binary.BigEndian.Uint32(data[8:12])
		p.Flags = data[13]
		p.Payload = data[off:]
		return Keep
	case ipProtoUDP:
		if len(data) < 8 {
			return DropMalformed
		}
		sp := binary.BigEndian.Uint16(data[0:2])
		dp := binary.BigEndian.Uint16(data[2:4])
		ulen := int(binary.BigEndian.Uint16(data[4:6]))
		payload := data[8:]
		if ulen >= 8 && ulen-8 < len(payload) {
			payload = payload[:ulen-8]
		}
		if d.udpPorts.has(sp) || d.udpPorts.has(dp) {
			p.Proto, p.SrcPort, p.DstPort, p.Payload = proto, sp, dp, payload
			return Keep
		}
		// Tunnel ports are matched on either side: the standard puts them
		// on the destination, but replies and some implementations use them
		// as the source. The header checks keep ordinary UDP out.
		switch {
		case (d.vxlanPorts.has(dp) || d.vxlanPorts.has(sp)) && len(payload) >= 8 && payload[0]&0x08 != 0:
			p.addTunnel(TunnelVXLAN, binary.BigEndian.Uint32(payload[4:8])>>8)
			return d.ethernet(payload[8:], p, depth+1)
		case (d.genevePorts.has(dp) || d.genevePorts.has(sp)) && len(payload) >= 8 && payload[0]>>6 == 0:
			n := 8 + int(payload[0]&0x3f)*4
			if len(payload) < n {
				return DropMalformed
			}
			p.addTunnel(TunnelGeneve, binary.BigEndian.Uint32(payload[4:8])>>8)
			return d.ether(binary.BigEndian.Uint16(payload[2:4]), payload[n:], p, depth+1)
		case d.greUDPPorts.has(dp) || d.greUDPPorts.has(sp):
			p.addTunnel(TunnelGREUDP, 0)
			return d.gre(payload, p, depth+1, false)
		}
		p.Proto, p.SrcPort, p.DstPort = proto, sp, dp
		return DropPort
	case ipProtoGRE:
		return d.gre(data, p, depth+1, true)
	case ipProtoIPIP:
		p.addTunnel(TunnelIPIP, 0)
		return d.ipv4(data, p, depth+1)
	case ipProtoIPv6:
		p.addTunnel(TunnelIPIP, 6)
		return d.ipv6(data, p, depth+1)
	}
	p.Proto = proto
	return DropProto
}

// gre removes a GRE header (RFC 2784/2890, and version 1 as used by PPTP),
// including ERSPAN types I, II and III carried in it.
func (d *decoder) gre(data []byte, p *Packet, depth int, record bool) Verdict {
	if len(data) < 4 {
		return DropMalformed
	}
	flags := binary.BigEndian.Uint16(data[0:2])
	proto := binary.BigEndian.Uint16(data[2:4])
	version := flags & 0x7
	n := 4
	var key uint32
	if flags&0x8000 != 0 { // checksum present
		n += 4
	}
	if flags&0x2000 != 0 { // key present
		if len(data) < n+4 {
			return DropMalformed
		}
		key = binary.BigEndian.Uint32(data[n : n+4])
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if version == 1 && flags&0x0080 != 0 { // enhanced GRE acknowledgment
		n += 4
	}
	if version > 1 || len(data) < n {
		return DropMalformed
	}
	data = data[n:]
	switch proto {
	case etherERSPAN2:
		if !seq { // ERSPAN type I: no ERSPAN header
			p.addTunnel(TunnelERSPAN2, key)
			return d.ethernet(data, p, depth+1)
		}
		if len(data) < 8 {
			return DropMalformed
		}
		// Ver(4) VLAN(12) COS(3) En(2) T(1) Session(10), then Reserved(12) Index(20).
		h := binary.BigEndian.Uint32(data[0:4])
		p.addTunnel(TunnelERSPAN2, h&0x3ff)
		addERSPANVLAN(p, h, data[8:])
		return d.ethernet(data[8:], p, depth+1)
	case etherERSPAN3:
		if len(data) < 12 {
			return DropMalformed
		}
		h := binary.BigEndian.Uint32(data[0:4])
		session := h & 0x3ff
		w3 := binary.BigEndian.Uint16(data[10:12])
		m := 12
		if w3&0x1 != 0 { // O flag: platform-specific subheader
			m += 8
		}
		if len(data) < m {
			return DropMalformed
		}
		p.addTunnel(TunnelERSPAN3, session)
		if (w3>>10)&0x1f == 2 { // frame type: IP
			if vlan := uint16(h>>16) & 0x0fff; vlan != 0 {
				p.addVLAN(vlan)
			}
			return d.rawIP(data[m:], p, depth+1)
		}
		addERSPANVLAN(p, h, data[m:])
		return d.ethernet(data[m:], p, depth+1)
	}
	if record {
		p.addTunnel(TunnelGRE, key)
	}
	if proto == etherPPP {
		return d.ppp(data, p, depth+1)
	}
	return d.ether(proto, data, p, depth+1)
}

// addERSPANVLAN records the VLAN field of an ERSPAN header: the VLAN of the
// mirrored port, which the switch may have stripped from the frame. When the
// frame still carries its tag, the tag itself is recorded instead.
func addERSPANVLAN(p *Packet, h uint32, frame []byte) {
	vlan := uint16(h>>16) & 0x0fff
	if vlan == 0 {
		return
	}
	if len(frame) >= 14 {
		switch binary.BigEndian.Uint16(frame[12:14]) {
		case etherVLAN, etherQinQ, etherQinQOld:
			return
		}
	}
	p.addVLAN(vlan)
}
