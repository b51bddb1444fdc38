package pcapgen

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Tunnel is an encapsulation that a mirror session wraps packets in.
type Tunnel int

// Tunnels.
const (
	// NoTunnel sends packets as they are.
	NoTunnel Tunnel = iota
	// GRE wraps the IP packet (no Ethernet header) in GRE over IPv4
	// (RFC 2784, protocol type 0x0800 or 0x86dd).
	GRE
	// ERSPAN2 wraps the Ethernet frame in ERSPAN type II over GRE (protocol
	// 0x88be, sequence number present).
	ERSPAN2
	// ERSPAN3 wraps the Ethernet frame in ERSPAN type III over GRE (protocol
	// 0x22eb), 12-byte header, timestamp granularity 100 µs.
	ERSPAN3
	// VXLAN wraps the Ethernet frame in VXLAN over UDP port 4789.
	VXLAN
)

// String returns the tunnel's name as mxwatch's events spell it.
func (t Tunnel) String() string {
	switch t {
	case NoTunnel:
		return ""
	case GRE:
		return "gre"
	case ERSPAN2:
		return "erspan2"
	case ERSPAN3:
		return "erspan3"
	case VXLAN:
		return "vxlan"
	}
	return fmt.Sprintf("Tunnel(%d)", int(t))
}

// Default outer addresses of tunnels: the mirroring switch and the sensor.
var (
	DefaultTunnelSrc = netip.MustParseAddr("192.0.2.253")
	DefaultTunnelDst = netip.MustParseAddr("192.0.2.254")
)

// Encap describes how every frame of a flow is wrapped, outermost first:
// the tunnel, then the VLAN tags of the mirrored frame.
type Encap struct {
	// VLANs are 802.1Q tags, outermost first. Two tags make QinQ: the outer
	// one with TPID 0x88a8, the inner one with 0x8100. With ERSPAN and VXLAN
	// the tags sit on the inner (mirrored) Ethernet frame; without a tunnel
	// or with GRE, on the capture's Ethernet header, so they need
	// Link Ethernet.
	VLANs []uint16
	// Tunnel wraps the frame.
	Tunnel Tunnel
	// TunnelSrc and TunnelDst are the outer IP addresses; zero values mean
	// DefaultTunnelSrc and DefaultTunnelDst.
	TunnelSrc, TunnelDst netip.Addr
	// ID is the GRE key (GRE; zero means no key), the ERSPAN session ID
	// (ERSPAN2/3, 10 bits; zero means 100) or the VXLAN network identifier
	// (24 bits; zero means 100).
	ID uint32
}

// Shared MAC addresses: the platform's default gateway (the source of every
// packet from outside), and the mirroring switch and sensor of tunnels.
var (
	gatewayMAC = net.HardwareAddr{0x00, 0x1c, 0x73, 0x20, 0x00, 0x01}
	switchMAC  = net.HardwareAddr{0x00, 0x1c, 0x73, 0x20, 0xff, 0x01}
	sensorMAC  = net.HardwareAddr{0x3c, 0xfd, 0xfe, 0x20, 0xff, 0x02}
	broadcast  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// gatewayIP is the platform's default gateway, which owns gatewayMAC.
var gatewayIP = netip.MustParseAddr("10.20.0.1")

// platformV4 and platformV6 are the platform's networks.
var (
	platformV4 = netip.MustParsePrefix("10.20.0.0/16")
	platformV6 = netip.MustParsePrefix("2001:db8:14::/48")
)

// isPlatform reports whether a is a platform host.
func isPlatform(a netip.Addr) bool {
	return platformV4.Contains(a) || platformV6.Contains(a)
}

// macFor returns the MAC address frames from or to a carry: a stable
// locally administered address per platform host, the gateway otherwise.
func macFor(a netip.Addr) net.HardwareAddr {
	if !isPlatform(a) || a == gatewayIP {
		return gatewayMAC
	}
	h := hashAddr(a)
	return net.HardwareAddr{0x52, 0x54, 0x00, byte(h >> 16), byte(h >> 8), byte(h)}
}

// ttlFor returns the TTL (hop limit) of packets sent by a: 64 on the
// platform, fewer for remote hosts, stable per address.
func ttlFor(a netip.Addr) uint8 {
	if isPlatform(a) {
		return 64
	}
	return uint8(64 - 6 - hashAddr(a)%14)
}

func hashAddr(a netip.Addr) uint32 {
	h := fnv.New32a()
	b := a.As16()
	h.Write(b[:])
	return h.Sum32()
}

// ipSpec is one IP packet to frame.
type ipSpec struct {
	src, dst netip.Addr
	proto    layers.IPProtocol
	// l4 is the transport layer (TCP, UDP, ICMP); nil for a raw payload
	// (IPv4 fragments).
	l4      gopacket.SerializableLayer
	payload []byte
	df      bool
	// IPv4 fragmentation; fragmented packets carry their own ID.
	mf      bool
	fragOff uint16
	id      uint16
	hasID   bool
}

// sendIP frames and writes one IP packet.
func (w *Writer) sendIP(e Encap, p ipSpec) {
	if !w.ok() {
		return
	}
	if !p.src.IsValid() || !p.dst.IsValid() || p.src.Is4() != p.dst.Is4() {
		w.fail(fmt.Errorf("%w: %v -> %v", ErrBadAddress, p.src, p.dst))
		return
	}
	var ls []gopacket.SerializableLayer
	var ethType layers.EthernetType
	if p.src.Is4() {
		id := p.id
		if !p.hasID {
			id = w.nextIPID()
		}
		ip := &layers.IPv4{
			Version: 4, IHL: 5, TTL: ttlFor(p.src), Protocol: p.proto, Id: id,
			SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice(), FragOffset: p.fragOff,
		}
		if p.df {
			ip.Flags |= layers.IPv4DontFragment
		}
		if p.mf {
			ip.Flags |= layers.IPv4MoreFragments
		}
		ls = append(ls, ip)
		setChecksumNet(p.l4, ip)
		ethType = layers.EthernetTypeIPv4
	} else {
		ip := &layers.IPv6{
			Version: 6, HopLimit: ttlFor(p.src), NextHeader: p.proto,
			SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice(),
		}
		ls = append(ls, ip)
		setChecksumNet(p.l4, ip)
		ethType = layers.EthernetTypeIPv6
	}
	if p.l4 != nil {
		ls = append(ls, p.l4)
	}
	if len(p.payload) > 0 {
		ls = append(ls, gopacket.Payload(p.payload))
	}
	w.sendFrame(e, macFor(p.src), macFor(p.dst), ethType, ls, isPlatform(p.src))
}

func setChecksumNet(l gopacket.SerializableLayer, ip gopacket.NetworkLayer) {
	switch t := l.(type) {
	case *layers.TCP:
		_ = t.SetNetworkLayerForChecksum(ip) // only fails for non-IP layers
	case *layers.UDP:
		_ = t.SetNetworkLayerForChecksum(ip)
	case *layers.ICMPv6:
		_ = t.SetNetworkLayerForChecksum(ip)
	}
}

func (w *Writer) nextIPID() uint16 {
	w.ipID++
	return w.ipID
}

// sendFrame wraps the inner layers (starting at the network layer, of type
// ethType) in e and the capture's link header, serializes and writes them.
// outgoing tells the Linux cooked headers the packet's direction.
func (w *Writer) sendFrame(e Encap, srcMAC, dstMAC net.HardwareAddr, ethType layers.EthernetType, inner []gopacket.SerializableLayer, outgoing bool) {
	if !w.ok() {
		return
	}
	if len(e.VLANs) > 2 {
		w.fail(fmt.Errorf("%w: %d VLAN tags, at most 2", ErrLinkCannotCarry, len(e.VLANs)))
		return
	}
	ls := inner
	vlansOnLink := len(e.VLANs) > 0
	id := e.ID
	if id == 0 {
		id = 100
	}
	switch e.Tunnel {
	case NoTunnel:
	case GRE, ERSPAN2, ERSPAN3, VXLAN:
		if ethType == layers.EthernetTypeARP && e.Tunnel == GRE {
			// GRE carries IP here; ARP would need transparent Ethernet
			// bridging, which this generator does not model.
			w.fail(fmt.Errorf("%w: ARP in GRE", ErrLinkCannotCarry))
			return
		}
		var tun []gopacket.SerializableLayer
		outerSrc, outerDst := e.TunnelSrc, e.TunnelDst
		if !outerSrc.IsValid() {
			outerSrc = DefaultTunnelSrc
		}
		if !outerDst.IsValid() {
			outerDst = DefaultTunnelDst
		}
		if outerSrc.Is4() != outerDst.Is4() {
			w.fail(fmt.Errorf("%w: tunnel %v -> %v", ErrBadAddress, outerSrc, outerDst))
			return
		}
		var outerProto layers.IPProtocol
		switch e.Tunnel {
		case GRE:
			outerProto = layers.IPProtocolGRE
			tun = append(tun, &layers.GRE{Protocol: ethType, KeyPresent: e.ID != 0, Key: e.ID})
		case ERSPAN2:
			vlansOnLink = false
			outerProto = layers.IPProtocolGRE
			w.tunSeq++
			tun = append(tun,
				&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: w.tunSeq},
				&layers.ERSPANII{Version: layers.ERSPANIIVersion, SessionID: uint16(id & 0x3ff), Index: 1})
			ls = prependEthernet(srcMAC, dstMAC, ethType, e.VLANs, ls)
		case ERSPAN3:
			vlansOnLink = false
			outerProto = layers.IPProtocolGRE
			w.tunSeq++
			tun = append(tun,
				&layers.GRE{Protocol: etherTypeERSPAN3, SeqPresent: true, Seq: w.tunSeq},
				&erspan3{session: uint16(id & 0x3ff), timestamp: uint32(w.now.UnixMicro() / 100), hwID: 1})
			ls = prependEthernet(srcMAC, dstMAC, ethType, e.VLANs, ls)
		case VXLAN:
			vlansOnLink = false
			outerProto = layers.IPProtocolUDP
			// The source port is a hash of the inner frame's flow, as
			// VTEPs do for ECMP; here the MAC pair stands in for it.
			h := fnv.New32a()
			h.Write(srcMAC)
			h.Write(dstMAC)
			udp := &layers.UDP{SrcPort: layers.UDPPort(49152 + h.Sum32()%16384), DstPort: 4789}
			tun = append(tun, udp, &layers.VXLAN{ValidIDFlag: true, VNI: id & 0xffffff})
			ls = prependEthernet(srcMAC, dstMAC, ethType, e.VLANs, ls)
		}
		var outer gopacket.SerializableLayer
		if outerSrc.Is4() {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 62, Protocol: outerProto, Id: w.nextIPID(),
				SrcIP: outerSrc.AsSlice(), DstIP: outerDst.AsSlice()}
			outer = ip
			ethType = layers.EthernetTypeIPv4
			if udp, ok := tun[0].(*layers.UDP); ok {
				_ = udp.SetNetworkLayerForChecksum(ip)
			}
		} else {
			ip := &layers.IPv6{Version: 6, HopLimit: 62, NextHeader: outerProto,
				SrcIP: outerSrc.AsSlice(), DstIP: outerDst.AsSlice()}
			outer = ip
			ethType = layers.EthernetTypeIPv6
			if udp, ok := tun[0].(*layers.UDP); ok {
				_ = udp.SetNetworkLayerForChecksum(ip)
			}
		}
		ls = append(append([]gopacket.SerializableLayer{outer}, tun...), ls...)
		srcMAC, dstMAC = switchMAC, sensorMAC
		outgoing = false
	default:
		w.fail(fmt.Errorf("%w: tunnel %d", ErrBadOptions, int(e.Tunnel)))
		return
	}

	switch w.opt.Link {
	case Ethernet:
		var tags []uint16
		if vlansOnLink {
			tags = e.VLANs
		}
		ls = prependEthernet(srcMAC, dstMAC, ethType, tags, ls)
	case LinuxSLL, LinuxSLL2, Raw, Null:
		if vlansOnLink {
			w.fail(fmt.Errorf("%w: VLAN tags on link %v", ErrLinkCannotCarry, w.opt.Link))
			return
		}
		hdr, err := w.linkHeader(ethType, srcMAC, outgoing)
		if err != nil {
			w.fail(err)
			return
		}
		if hdr != nil {
			ls = append([]gopacket.SerializableLayer{hdr}, ls...)
		}
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(w.sbuf, opts, ls...); err != nil {
		w.fail(fmt.Errorf("pcapgen: serialize: %w", err))
		return
	}
	w.emit(w.sbuf.Bytes())
}

// prependEthernet returns an Ethernet header with 0, 1 or 2 VLAN tags
// followed by ls.
func prependEthernet(src, dst net.HardwareAddr, ethType layers.EthernetType, vlans []uint16, ls []gopacket.SerializableLayer) []gopacket.SerializableLayer {
	out := make([]gopacket.SerializableLayer, 0, len(ls)+3)
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: ethType}
	out = append(out, eth)
	switch len(vlans) {
	case 1:
		eth.EthernetType = layers.EthernetTypeDot1Q
		out = append(out, &layers.Dot1Q{VLANIdentifier: vlans[0] & 0xfff, Type: ethType})
	case 2:
		eth.EthernetType = layers.EthernetTypeQinQ
		out = append(out,
			&layers.Dot1Q{VLANIdentifier: vlans[0] & 0xfff, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: vlans[1] & 0xfff, Type: ethType})
	}
	return append(out, ls...)
}

// linkHeader returns the non-Ethernet link header for a frame of ethType,
// or nil for Raw.
func (w *Writer) linkHeader(ethType layers.EthernetType, srcMAC net.HardwareAddr, outgoing bool) (gopacket.SerializableLayer, error) {
	pktType := uint8(0) // PACKET_HOST
	if outgoing {
		pktType = 4 // PACKET_OUTGOING
	}
	switch w.opt.Link {
	case LinuxSLL:
		h := make(rawHeader, 16)
		binary.BigEndian.PutUint16(h[0:2], uint16(pktType))
		binary.BigEndian.PutUint16(h[2:4], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:6], 6)
		copy(h[6:14], srcMAC)
		binary.BigEndian.PutUint16(h[14:16], uint16(ethType))
		return h, nil
	case LinuxSLL2:
		h := make(rawHeader, 20)
		binary.BigEndian.PutUint16(h[0:2], uint16(ethType))
		binary.BigEndian.PutUint32(h[4:8], 2) // interface index
		binary.BigEndian.PutUint16(h[8:10], 1)
		h[10] = pktType
		h[11] = 6
		copy(h[12:20], srcMAC)
		return h, nil
	case Raw, Null:
		var fam layers.ProtocolFamily
		switch ethType {
		case layers.EthernetTypeIPv4:
			fam = layers.ProtocolFamilyIPv4
		case layers.EthernetTypeIPv6:
			fam = layers.ProtocolFamilyIPv6BSD
		default:
			return nil, fmt.Errorf("%w: %v on link %v", ErrLinkCannotCarry, ethType, w.opt.Link)
		}
		if w.opt.Link == Raw {
			return nil, nil
		}
		return &layers.Loopback{Family: fam}, nil
	}
	return nil, fmt.Errorf("%w: link %d", ErrBadOptions, int(w.opt.Link))
}

// canCarryARP reports whether the capture's link type can carry ARP.
func (w *Writer) canCarryARP() bool {
	return w.opt.Link == Ethernet || w.opt.Link == LinuxSLL || w.opt.Link == LinuxSLL2
}

// rawHeader is a fixed link header serialized as it is.
type rawHeader []byte

// LayerType implements gopacket.SerializableLayer.
func (h rawHeader) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// SerializeTo implements gopacket.SerializableLayer.
func (h rawHeader) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	buf, err := b.PrependBytes(len(h))
	if err != nil {
		return err
	}
	copy(buf, h)
	return nil
}

// etherTypeERSPAN3 is the GRE protocol type of ERSPAN type III.
const etherTypeERSPAN3 layers.EthernetType = 0x22eb

// erspan3 is an ERSPAN type III header (12 bytes, no platform-specific
// subheader), which gopacket does not provide.
//
//	0                   1                   2                   3
//	Ver=2 | VLAN (12)          | COS | BSO | T | Session ID (10)
//	Timestamp (32)
//	SGT (16)                   |P| FT (5) | Hw ID (6) |D|Gra|O
type erspan3 struct {
	session   uint16
	timestamp uint32
	hwID      uint8
}

// LayerType implements gopacket.SerializableLayer.
func (e *erspan3) LayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// SerializeTo implements gopacket.SerializableLayer.
func (e *erspan3) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	buf, err := b.PrependBytes(12)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(buf[0:2], 2<<12) // version 2, VLAN 0
	binary.BigEndian.PutUint16(buf[2:4], e.session&0x3ff)
	binary.BigEndian.PutUint32(buf[4:8], e.timestamp)
	binary.BigEndian.PutUint16(buf[8:10], 0)                       // SGT
	binary.BigEndian.PutUint16(buf[10:12], uint16(e.hwID&0x3f)<<4) // P=0, FT=0 (Ethernet), D=0, Gra=0 (100 µs), O=0
	return nil
}
