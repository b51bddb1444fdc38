package dnstap

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// The test-side encoder: just enough protobuf and Frame Streams to write
// the frames the tests need, including broken ones.

// pbVarint appends a varint.
func pbVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// pbKey appends a field key.
func pbKey(b []byte, num, wire int) []byte { return pbVarint(b, uint64(num)<<3|uint64(wire)) }

// pbUint appends a varint field.
func pbUint(b []byte, num int, v uint64) []byte { return pbVarint(pbKey(b, num, wireVarint), v) }

// pbBytes appends a length-delimited field.
func pbBytes(b []byte, num int, v []byte) []byte {
	return append(pbVarint(pbKey(b, num, wireBytes), uint64(len(v))), v...)
}

// pbFixed32 appends a fixed32 field.
func pbFixed32(b []byte, num int, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(pbKey(b, num, wireFixed32), v)
}

// encodeMessage writes the dnstap Message fields of m that are set.
func encodeMessage(m *Message) []byte {
	var b []byte
	if m.Type != 0 {
		b = pbUint(b, msgType, uint64(m.Type))
	}
	if m.SocketFamily != 0 {
		b = pbUint(b, msgSocketFamily, uint64(m.SocketFamily))
	}
	if m.SocketProtocol != 0 {
		b = pbUint(b, msgSocketProtocol, uint64(m.SocketProtocol))
	}
	for _, e := range []struct {
		ap         netip.AddrPort
		addr, port int
	}{{m.QueryAddr, msgQueryAddress, msgQueryPort}, {m.ResponseAddr, msgResponseAddress, msgResponsePort}} {
		if e.ap.IsValid() {
			b = pbBytes(b, e.addr, e.ap.Addr().AsSlice())
			b = pbUint(b, e.port, uint64(e.ap.Port()))
		}
	}
	for _, e := range []struct {
		t         time.Time
		sec, nsec int
	}{{m.QueryTime, msgQueryTimeSec, msgQueryTimeNsec}, {m.ResponseTime, msgResponseTimeSec, msgResponseTimeNsec}} {
		if !e.t.IsZero() {
			b = pbUint(b, e.sec, uint64(e.t.Unix()))
			b = pbFixed32(b, e.nsec, uint32(e.t.Nanosecond()))
		}
	}
	if m.QueryMessage != nil {
		b = pbBytes(b, msgQueryMessage, m.QueryMessage)
	}
	if m.ResponseMessage != nil {
		b = pbBytes(b, msgResponseMessage, m.ResponseMessage)
	}
	return b
}

// encodeDnstap writes a Dnstap frame of type MESSAGE around m.
func encodeDnstap(m *Message) []byte {
	var b []byte
	if m.Identity != "" {
		b = pbBytes(b, dnstapIdentity, []byte(m.Identity))
	}
	if m.Version != "" {
		b = pbBytes(b, dnstapVersion, []byte(m.Version))
	}
	b = pbBytes(b, dnstapMessage, encodeMessage(m))
	return pbUint(b, dnstapType, typeMessage)
}

// fsData appends a data frame.
func fsData(b, frame []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(frame)))
	return append(b, frame...)
}

// fsControl appends a control frame with the given content types.
func fsControl(b []byte, typ uint32, contentTypes ...string) []byte {
	var body []byte
	body = binary.BigEndian.AppendUint32(body, typ)
	for _, ct := range contentTypes {
		body = binary.BigEndian.AppendUint32(body, fieldContentType)
		body = binary.BigEndian.AppendUint32(body, uint32(len(ct)))
		body = append(body, ct...)
	}
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// Test values.
var (
	t0       = time.Date(2026, 11, 27, 3, 0, 0, 123456789, time.UTC)
	client4  = netip.MustParseAddrPort("192.0.2.10:40000")
	resolver = netip.MustParseAddrPort("192.0.2.53:53")
)

// dnsPair returns a packed MX query for name and its response with one MX
// record pointing at host.
func dnsPair(tb testing.TB, id uint16, name, host string) (q, r []byte) {
	tb.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeMX)
	m.Id = id
	q, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	resp := new(mdns.Msg)
	resp.SetReply(m)
	resp.Answer = []mdns.RR{&mdns.MX{
		Hdr:        mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: mdns.TypeMX, Class: mdns.ClassINET, Ttl: 300},
		Preference: 10,
		Mx:         mdns.Fqdn(host),
	}}
	r, err = resp.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return q, r
}

// clientPair returns the CLIENT_QUERY and CLIENT_RESPONSE frames of an MX
// lookup from client to resolver, logged by identity.
func clientPair(tb testing.TB, identity string, client netip.AddrPort, id uint16, name, host string, at time.Time) (qf, rf []byte) {
	tb.Helper()
	q, r := dnsPair(tb, id, name, host)
	qm := Message{Identity: identity, Type: ClientQuery, SocketFamily: FamilyINET, SocketProtocol: ProtocolUDP,
		QueryAddr: client, ResponseAddr: resolver, QueryTime: at, QueryMessage: q}
	rm := qm
	rm.Type, rm.QueryTime, rm.QueryMessage = ClientResponse, time.Time{}, nil
	rm.ResponseTime, rm.ResponseMessage = at.Add(time.Millisecond), r
	return encodeDnstap(&qm), encodeDnstap(&rm)
}
