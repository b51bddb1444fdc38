package pcapgen

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"
)

// DNSOptions shape a DNS exchange.
type DNSOptions struct {
	// TCP carries the query and the response over a TCP connection
	// (handshake, one length-prefixed message each way, FIN close) instead
	// of UDP.
	TCP bool
	// FragmentMTU, when positive, splits an IPv4 UDP response larger than
	// this MTU into IPv4 fragments (the query is never fragmented). It has
	// no effect over IPv6 or TCP.
	FragmentMTU int
	// NoResponse writes the query only.
	NoResponse bool
	// RTT is the time between query and response; zero means a seeded
	// value (under 2 ms from a platform resolver, 10 to 50 ms otherwise).
	RTT time.Duration
}

// MX is one mail exchanger of an MX answer.
type MX struct {
	Pref uint16
	Host string // fully qualified or not; a trailing dot is added
}

// TTLs of generated answers.
const (
	TTLMX   = 3600
	TTLAddr = 300
)

// Query returns a recursive query for name and qtype with a seeded ID.
// Prefer it to dns.Msg.SetQuestion, which draws the ID from crypto/rand and
// so breaks determinism.
func (w *Writer) Query(name string, qtype uint16) *dns.Msg {
	return NewQuery(uint16(w.rng.Uint32()), name, qtype)
}

// NewQuery returns a recursive query for name and qtype with the given ID.
func NewQuery(id uint16, name string, qtype uint16) *dns.Msg {
	m := &dns.Msg{}
	m.Id = id
	m.RecursionDesired = true
	m.Question = []dns.Question{{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}}
	return m
}

// reply returns the skeleton of a recursive resolver's answer to q.
func reply(q *dns.Msg) *dns.Msg {
	r := &dns.Msg{}
	r.SetReply(q)
	r.RecursionAvailable = true
	return r
}

func qname(q *dns.Msg) string {
	if q == nil || len(q.Question) == 0 {
		return "."
	}
	return q.Question[0].Name
}

// MXResponse answers the MX query q with hosts, and puts additional (for
// example AddrRRs of the hosts) in the additional section.
func MXResponse(q *dns.Msg, hosts []MX, additional []dns.RR) *dns.Msg {
	r := reply(q)
	name := qname(q)
	for _, h := range hosts {
		r.Answer = append(r.Answer, &dns.MX{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: TTLMX},
			Preference: h.Pref,
			Mx:         dns.Fqdn(h.Host),
		})
	}
	r.Extra = append(r.Extra, additional...)
	return r
}

// AddrRRs returns one A or AAAA record for name per address.
func AddrRRs(name string, addrs ...netip.Addr) []dns.RR {
	name = dns.Fqdn(name)
	var rrs []dns.RR
	for _, a := range addrs {
		if a.Is4() {
			rrs = append(rrs, &dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTLAddr},
				A:   a.AsSlice(),
			})
		} else if a.IsValid() {
			rrs = append(rrs, &dns.AAAA{
				Hdr:  dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: TTLAddr},
				AAAA: a.AsSlice(),
			})
		}
	}
	return rrs
}

// AddrResponse answers q (an A or AAAA query) with addrs.
func AddrResponse(q *dns.Msg, addrs ...netip.Addr) *dns.Msg {
	r := reply(q)
	r.Answer = AddrRRs(qname(q), addrs...)
	return r
}

// CNAMEResponse answers q with a CNAME chain, q's name -> chain[0] -> ...
// -> chain[len-1], followed by the addresses of the last name.
func CNAMEResponse(q *dns.Msg, chain []string, addrs ...netip.Addr) *dns.Msg {
	r := reply(q)
	name := qname(q)
	for _, target := range chain {
		target = dns.Fqdn(target)
		r.Answer = append(r.Answer, &dns.CNAME{
			Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: TTLAddr},
			Target: target,
		})
		name = target
	}
	r.Answer = append(r.Answer, AddrRRs(name, addrs...)...)
	return r
}

// NXDomainResponse answers q with NXDOMAIN.
func NXDomainResponse(q *dns.Msg) *dns.Msg {
	r := reply(q)
	r.Rcode = dns.RcodeNameError
	return r
}

// TCPFrame packs m with the two-byte length prefix of DNS over TCP.
func TCPFrame(m *dns.Msg) ([]byte, error) {
	b, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("pcapgen: pack DNS message: %w", err)
	}
	if len(b) > 0xffff {
		return nil, fmt.Errorf("pcapgen: DNS message of %d bytes too long for TCP", len(b))
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...), nil
}

// DNSExchange writes the query q from client to server and the response r
// back (unless r is nil or opt.NoResponse). A client port of 0 is replaced
// by a seeded ephemeral port.
func (w *Writer) DNSExchange(client, server netip.AddrPort, e Encap, q, r *dns.Msg, opt DNSOptions) {
	if !w.ok() {
		return
	}
	if q == nil {
		w.fail(fmt.Errorf("%w: nil DNS query", ErrBadOptions))
		return
	}
	client = w.ephemeral(client)
	if opt.NoResponse {
		r = nil
	}
	rtt := opt.RTT
	if rtt <= 0 {
		if isPlatform(server.Addr()) {
			rtt = w.between(200*time.Microsecond, 2*time.Millisecond)
		} else {
			rtt = w.between(10*time.Millisecond, 50*time.Millisecond)
		}
	}
	if opt.TCP {
		qb, err := TCPFrame(q)
		if err != nil {
			w.fail(err)
			return
		}
		var rb []byte
		if r != nil {
			if rb, err = TCPFrame(r); err != nil {
				w.fail(err)
				return
			}
		}
		c := w.TCP(client, server, e, ConnOptions{RTT: rtt})
		c.ClientBytes(qb)
		c.ServerBytes(rb)
		c.Close()
		return
	}
	qb, err := q.Pack()
	if err != nil {
		w.fail(fmt.Errorf("pcapgen: pack DNS query: %w", err))
		return
	}
	var rb []byte
	if r != nil {
		if rb, err = r.Pack(); err != nil {
			w.fail(fmt.Errorf("pcapgen: pack DNS response: %w", err))
			return
		}
	}
	w.advance(50*time.Microsecond, 500*time.Microsecond)
	w.UDP(client, server, e, qb)
	if r == nil {
		return
	}
	w.Sleep(rtt)
	if opt.FragmentMTU > 0 && server.Addr().Is4() && 20+8+len(rb) > opt.FragmentMTU {
		w.fragmentedUDP(server, client, e, rb, opt.FragmentMTU)
		return
	}
	w.UDP(server, client, e, rb)
}

// UDP writes one UDP datagram.
func (w *Writer) UDP(src, dst netip.AddrPort, e Encap, payload []byte) {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	w.sendIP(e, ipSpec{src: src.Addr(), dst: dst.Addr(), proto: layers.IPProtocolUDP, l4: udp, payload: payload})
}

// fragmentedUDP writes an IPv4 UDP datagram as fragments that fit mtu.
func (w *Writer) fragmentedUDP(src, dst netip.AddrPort, e Encap, payload []byte, mtu int) {
	if !w.ok() {
		return
	}
	chunk := (mtu - 20) &^ 7
	if chunk < 8 {
		w.fail(fmt.Errorf("%w: fragment MTU %d", ErrBadOptions, mtu))
		return
	}
	// Serialize the whole datagram once to get the UDP header with its
	// checksum over the complete payload.
	ip := &layers.IPv4{Version: 4, IHL: 5, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, udp, gopacket.Payload(payload)); err != nil {
		w.fail(fmt.Errorf("pcapgen: serialize UDP: %w", err))
		return
	}
	datagram := buf.Bytes()
	id := w.nextIPID()
	for off := 0; off < len(datagram); off += chunk {
		end := min(off+chunk, len(datagram))
		if off > 0 {
			w.advance(5*time.Microsecond, 30*time.Microsecond)
		}
		w.sendIP(e, ipSpec{
			src: src.Addr(), dst: dst.Addr(), proto: layers.IPProtocolUDP,
			payload: datagram[off:end], mf: end < len(datagram),
			fragOff: uint16(off / 8), id: id, hasID: true,
		})
	}
}
