package dnstap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// The errors ParseMessage wraps.
var (
	// ErrTruncated reports a protobuf field cut short by the end of its
	// frame or of its enclosing message.
	ErrTruncated = errors.New("truncated protobuf")
	// ErrWireType reports a known field sent with the wrong wire type, or
	// a wire type protobuf does not define (groups included).
	ErrWireType = errors.New("wrong protobuf wire type")
	// ErrInvalid reports a field whose value is out of range: a varint
	// longer than ten bytes, field number 0, an address that is neither 4
	// nor 16 bytes, a port above 65535, nanoseconds of a second above
	// 999999999.
	ErrInvalid = errors.New("invalid dnstap field")
	// ErrNotMessage reports a Dnstap frame whose type is not MESSAGE
	// (dnstap defines no other type yet).
	ErrNotMessage = errors.New("dnstap frame is not a message")
	// ErrNoMessage reports a Dnstap frame of type MESSAGE without a
	// message.
	ErrNoMessage = errors.New("dnstap frame without message")
)

// MessageType is the type of a dnstap Message: who sent the DNS message to
// whom, as seen by the server that logged it.
type MessageType int32

// The dnstap message types (dnstap.proto, Message.Type).
const (
	AuthQuery         MessageType = 1
	AuthResponse      MessageType = 2
	ResolverQuery     MessageType = 3
	ResolverResponse  MessageType = 4
	ClientQuery       MessageType = 5 // a client's query to the resolver
	ClientResponse    MessageType = 6 // the resolver's response to a client
	ForwarderQuery    MessageType = 7
	ForwarderResponse MessageType = 8
	StubQuery         MessageType = 9
	StubResponse      MessageType = 10
	ToolQuery         MessageType = 11
	ToolResponse      MessageType = 12
	UpdateQuery       MessageType = 13
	UpdateResponse    MessageType = 14
)

var messageTypeNames = [...]string{
	AuthQuery: "AUTH_QUERY", AuthResponse: "AUTH_RESPONSE",
	ResolverQuery: "RESOLVER_QUERY", ResolverResponse: "RESOLVER_RESPONSE",
	ClientQuery: "CLIENT_QUERY", ClientResponse: "CLIENT_RESPONSE",
	ForwarderQuery: "FORWARDER_QUERY", ForwarderResponse: "FORWARDER_RESPONSE",
	StubQuery: "STUB_QUERY", StubResponse: "STUB_RESPONSE",
	ToolQuery: "TOOL_QUERY", ToolResponse: "TOOL_RESPONSE",
	UpdateQuery: "UPDATE_QUERY", UpdateResponse: "UPDATE_RESPONSE",
}

// String returns the name dnstap.proto gives the type, or "TYPE<n>".
func (t MessageType) String() string {
	if t > 0 && int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// Socket families and protocols (dnstap.proto SocketFamily and
// SocketProtocol), the values of Message.SocketFamily and
// Message.SocketProtocol.
const (
	FamilyINET  = 1
	FamilyINET6 = 2

	ProtocolUDP         = 1
	ProtocolTCP         = 2
	ProtocolDOT         = 3
	ProtocolDOH         = 4
	ProtocolDNSCryptUDP = 5
	ProtocolDNSCryptTCP = 6
	ProtocolDOQ         = 7
)

// Message is the part of a dnstap frame mxwatch uses: the Dnstap envelope's
// identity and version, and the fields of its Message. Absent fields are
// zero. QueryMessage and ResponseMessage alias the frame given to
// ParseMessage.
type Message struct {
	// Identity and Version identify the server that logged the message
	// (dnstap-identity, dnstap-version in unbound).
	Identity string
	Version  string
	Type     MessageType
	// SocketFamily and SocketProtocol are the raw enum values
	// (FamilyINET, ProtocolUDP, ...).
	SocketFamily, SocketProtocol int
	// QueryAddr is the initiator's address and port (the client for
	// CLIENT_*), ResponseAddr the responder's (the resolver for CLIENT_*).
	// IPv4-mapped IPv6 addresses are unmapped, as the packet path sees
	// them.
	QueryAddr, ResponseAddr netip.AddrPort
	// QueryTime and ResponseTime are the logging server's timestamps,
	// in UTC.
	QueryTime, ResponseTime time.Time
	// QueryMessage and ResponseMessage are the DNS messages in wire
	// format.
	QueryMessage, ResponseMessage []byte
}

// Transport maps SocketProtocol to an event.DNS transport: "udp" for UDP,
// DNSCrypt over UDP and DNS over QUIC, "tcp" for TCP, DNS over TLS, DNS
// over HTTPS and DNSCrypt over TCP, "" when the protocol is absent or
// unknown.
func (m *Message) Transport() string {
	switch m.SocketProtocol {
	case ProtocolUDP, ProtocolDNSCryptUDP, ProtocolDOQ:
		return "udp"
	case ProtocolTCP, ProtocolDOT, ProtocolDOH, ProtocolDNSCryptTCP:
		return "tcp"
	}
	return ""
}

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Field numbers of the Dnstap envelope.
const (
	dnstapIdentity = 1
	dnstapVersion  = 2
	dnstapMessage  = 14
	dnstapType     = 15
	typeMessage    = 1 // Dnstap.Type MESSAGE
)

// Field numbers of Message.
const (
	msgType             = 1
	msgSocketFamily     = 2
	msgSocketProtocol   = 3
	msgQueryAddress     = 4
	msgResponseAddress  = 5
	msgQueryPort        = 6
	msgResponsePort     = 7
	msgQueryTimeSec     = 8
	msgQueryTimeNsec    = 9
	msgQueryMessage     = 10
	msgResponseTimeSec  = 12
	msgResponseTimeNsec = 13
	msgResponseMessage  = 14
)

// field is one decoded protobuf field: a number, a wire type and either a
// scalar value (varint, fixed32, fixed64) or bytes.
type field struct {
	num  uint64
	wire int
	val  uint64
	data []byte
}

// nextField decodes the field at the start of b and returns the rest.
func nextField(b []byte) (field, []byte, error) {
	key, b, err := varint(b)
	if err != nil {
		return field{}, nil, err
	}
	f := field{num: key >> 3, wire: int(key & 7)}
	if f.num == 0 {
		return field{}, nil, fmt.Errorf("field number 0: %w", ErrInvalid)
	}
	switch f.wire {
	case wireVarint:
		f.val, b, err = varint(b)
		if err != nil {
			return field{}, nil, fmt.Errorf("field %d: %w", f.num, err)
		}
	case wireFixed64:
		if len(b) < 8 {
			return field{}, nil, fmt.Errorf("field %d: %w", f.num, ErrTruncated)
		}
		f.val, b = binary.LittleEndian.Uint64(b), b[8:]
	case wireFixed32:
		if len(b) < 4 {
			return field{}, nil, fmt.Errorf("field %d: %w", f.num, ErrTruncated)
		}
		f.val, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
	case wireBytes:
		var n uint64
		n, b, err = varint(b)
		if err != nil {
			return field{}, nil, fmt.Errorf("field %d: %w", f.num, err)
		}
		if n > uint64(len(b)) {
			return field{}, nil, fmt.Errorf("field %d: length %d: %w", f.num, n, ErrTruncated)
		}
		f.data, b = b[:n:n], b[n:]
	default: // groups (3, 4) and the undefined 6, 7
		return field{}, nil, fmt.Errorf("field %d: wire type %d: %w", f.num, f.wire, ErrWireType)
	}
	return f, b, nil
}

// varint decodes a base-128 varint from the start of b.
func varint(b []byte) (uint64, []byte, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, nil, fmt.Errorf("varint overflows 64 bits: %w", ErrInvalid)
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, b[i+1:], nil
		}
	}
	if len(b) >= 10 {
		return 0, nil, fmt.Errorf("varint longer than 10 bytes: %w", ErrInvalid)
	}
	return 0, nil, fmt.Errorf("varint: %w", ErrTruncated)
}

// want checks a known field's wire type.
func (f *field) want(wire int) error {
	if f.wire != wire {
		return fmt.Errorf("field %d: wire type %d, want %d: %w", f.num, f.wire, wire, ErrWireType)
	}
	return nil
}

// ParseMessage decodes one Frame Streams data frame holding a protobuf
// Dnstap message and returns its Message. Unknown fields are skipped; a
// known field with the wrong wire type is an error. A field that occurs
// more than once takes its last value, and repeated Message fields merge,
// as protobuf specifies. The byte slices of the result alias b.
func ParseMessage(b []byte) (Message, error) {
	var (
		m      Message
		typ    uint64
		hasTyp bool
		hasMsg bool
		ts     times
	)
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return Message{}, fmt.Errorf("dnstap: %w", err)
		}
		b = rest
		switch f.num {
		case dnstapIdentity, dnstapVersion, dnstapMessage:
			if err := f.want(wireBytes); err != nil {
				return Message{}, fmt.Errorf("dnstap: %w", err)
			}
		case dnstapType:
			if err := f.want(wireVarint); err != nil {
				return Message{}, fmt.Errorf("dnstap: %w", err)
			}
		}
		switch f.num {
		case dnstapIdentity:
			m.Identity = string(f.data)
		case dnstapVersion:
			m.Version = string(f.data)
		case dnstapType:
			typ, hasTyp = f.val, true
		case dnstapMessage:
			hasMsg = true
			if err := parseInner(f.data, &m, &ts); err != nil {
				return Message{}, fmt.Errorf("dnstap: message: %w", err)
			}
		}
	}
	switch {
	case hasTyp && typ != typeMessage:
		return Message{}, fmt.Errorf("dnstap: type %d: %w", typ, ErrNotMessage)
	case !hasMsg:
		return Message{}, fmt.Errorf("dnstap: %w", ErrNoMessage)
	}
	var err error
	if m.QueryAddr, err = ts.qaddr.addrPort(); err != nil {
		return Message{}, fmt.Errorf("dnstap: query address: %w", err)
	}
	if m.ResponseAddr, err = ts.raddr.addrPort(); err != nil {
		return Message{}, fmt.Errorf("dnstap: response address: %w", err)
	}
	m.QueryTime, m.ResponseTime = ts.query.time(), ts.response.time()
	return m, nil
}

// stamp is a time split in seconds and nanoseconds, as dnstap sends it.
type stamp struct {
	sec, nsec uint64
	set       bool
}

// maxSec keeps times representable (time.Unix accepts any int64, but
// UnixNano and JSON do not go beyond year 2262 / 9999).
const maxSec = 253402300799 // 9999-12-31T23:59:59Z

func (s stamp) time() time.Time {
	if !s.set {
		return time.Time{}
	}
	return time.Unix(int64(s.sec), int64(s.nsec)).UTC()
}

// endpoint collects an address and port until the message is complete.
type endpoint struct {
	addr []byte
	port uint64
	has  bool // address present
}

func (e endpoint) addrPort() (netip.AddrPort, error) {
	if !e.has {
		return netip.AddrPort{}, nil
	}
	a, ok := netip.AddrFromSlice(e.addr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%d bytes: %w", len(e.addr), ErrInvalid)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(e.port)), nil
}

// times holds the parts of Message that are combined after decoding.
type times struct {
	query, response stamp
	qaddr, raddr    endpoint
}

// parseInner decodes a dnstap Message into m and ts.
func parseInner(b []byte, m *Message, ts *times) error {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		var wire int
		switch f.num {
		case msgType, msgSocketFamily, msgSocketProtocol, msgQueryPort, msgResponsePort,
			msgQueryTimeSec, msgResponseTimeSec:
			wire = wireVarint
		case msgQueryTimeNsec, msgResponseTimeNsec:
			wire = wireFixed32
		case msgQueryAddress, msgResponseAddress, msgQueryMessage, msgResponseMessage:
			wire = wireBytes
		default:
			continue // unknown, or known and unused (query_zone, policy, ...)
		}
		if err := f.want(wire); err != nil {
			return err
		}
		switch f.num {
		case msgType, msgSocketFamily, msgSocketProtocol:
			// Enums are int32 on the wire; negative values arrive as
			// ten-byte varints and are as unknown as large ones.
			v := int(min(f.val, 1<<31-1))
			switch f.num {
			case msgType:
				m.Type = MessageType(v)
			case msgSocketFamily:
				m.SocketFamily = v
			default:
				m.SocketProtocol = v
			}
		case msgQueryAddress, msgResponseAddress:
			if len(f.data) != 4 && len(f.data) != 16 {
				return fmt.Errorf("field %d: address of %d bytes: %w", f.num, len(f.data), ErrInvalid)
			}
			e := &ts.qaddr
			if f.num == msgResponseAddress {
				e = &ts.raddr
			}
			e.addr, e.has = f.data, true
		case msgQueryPort, msgResponsePort:
			if f.val > 65535 {
				return fmt.Errorf("field %d: port %d: %w", f.num, f.val, ErrInvalid)
			}
			if f.num == msgQueryPort {
				ts.qaddr.port = f.val
			} else {
				ts.raddr.port = f.val
			}
		case msgQueryTimeSec, msgResponseTimeSec:
			if f.val > maxSec {
				return fmt.Errorf("field %d: seconds %d: %w", f.num, f.val, ErrInvalid)
			}
			s := &ts.query
			if f.num == msgResponseTimeSec {
				s = &ts.response
			}
			s.sec, s.set = f.val, true
		case msgQueryTimeNsec, msgResponseTimeNsec:
			if f.val > 999_999_999 {
				return fmt.Errorf("field %d: nanoseconds %d: %w", f.num, f.val, ErrInvalid)
			}
			if f.num == msgQueryTimeNsec {
				ts.query.nsec = f.val
			} else {
				ts.response.nsec = f.val
			}
		case msgQueryMessage:
			m.QueryMessage = f.data
		case msgResponseMessage:
			m.ResponseMessage = f.data
		}
	}
	return nil
}
