package dnstap

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestParseMessage(t *testing.T) {
	query := []byte("query-bytes")
	resp := []byte("response-bytes")
	full := Message{
		Identity: "res1", Version: "unbound 1.17.1", Type: ClientResponse,
		SocketFamily: FamilyINET, SocketProtocol: ProtocolTCP,
		QueryAddr: client4, ResponseAddr: resolver,
		QueryTime: t0, ResponseTime: t0.Add(time.Millisecond),
		QueryMessage: query, ResponseMessage: resp,
	}
	six := Message{Type: ClientQuery, SocketFamily: FamilyINET6,
		QueryAddr:    netip.MustParseAddrPort("[2001:db8::10]:1234"),
		ResponseAddr: netip.MustParseAddrPort("[2001:db8::53]:53")}
	inner := encodeMessage(&Message{Type: ClientQuery, QueryTime: t0})

	tests := []struct {
		name    string
		in      []byte
		want    Message
		wantErr error
	}{
		{name: "all fields", in: encodeDnstap(&full), want: full},
		{name: "ipv6", in: encodeDnstap(&six), want: six},
		{
			name: "ipv4-mapped address unmapped",
			in: pbBytes(nil, dnstapMessage, pbUint(pbBytes(nil, msgQueryAddress,
				netip.MustParseAddr("::ffff:192.0.2.10").AsSlice()), msgQueryPort, 40000)),
			want: Message{QueryAddr: client4},
		},
		{
			name: "type absent is taken as MESSAGE",
			in:   pbBytes(nil, dnstapMessage, inner),
			want: Message{Type: ClientQuery, QueryTime: t0},
		},
		{
			name: "unknown fields of every wire type skipped",
			in: func() []byte {
				unknown := func(b []byte) []byte {
					b = pbUint(b, 99, 1<<40)
					b = pbBytes(b, 100, []byte("x"))
					b = pbFixed32(b, 101, 7)
					b = append(pbKey(b, 102, wireFixed64), 1, 2, 3, 4, 5, 6, 7, 8)
					return b
				}
				m := unknown(nil)
				m = pbBytes(m, 11, []byte("zone")) // query_zone: known, unused
				m = append(m, inner...)
				m = unknown(m)
				b := unknown(nil)
				b = pbBytes(b, 3, []byte("extra"))
				b = pbBytes(b, dnstapMessage, m)
				return unknown(pbUint(b, dnstapType, typeMessage))
			}(),
			want: Message{Type: ClientQuery, QueryTime: t0},
		},
		{
			name: "repeated message fields merge, scalars take the last value",
			in: pbBytes(pbBytes(pbBytes(pbBytes(nil, dnstapIdentity, []byte("a")), dnstapIdentity, []byte("b")),
				dnstapMessage, pbUint(inner, msgType, uint64(AuthQuery))), dnstapMessage, pbUint(nil, msgSocketProtocol, ProtocolUDP)),
			want: Message{Identity: "b", Type: AuthQuery, SocketProtocol: ProtocolUDP, QueryTime: t0},
		},
		{
			name: "negative enum is unknown, not an error",
			in:   pbBytes(nil, dnstapMessage, pbUint(nil, msgType, ^uint64(0))),
			want: Message{Type: 1<<31 - 1},
		},
		{name: "empty frame", in: nil, wantErr: ErrNoMessage},
		{name: "no message", in: pbBytes(nil, dnstapIdentity, []byte("x")), wantErr: ErrNoMessage},
		{name: "not MESSAGE", in: pbUint(pbBytes(nil, dnstapMessage, inner), dnstapType, 2), wantErr: ErrNotMessage},
		{name: "identity as varint", in: pbUint(nil, dnstapIdentity, 1), wantErr: ErrWireType},
		{name: "message as varint", in: pbUint(nil, dnstapMessage, 1), wantErr: ErrWireType},
		{name: "type as bytes", in: pbBytes(nil, dnstapType, []byte{1}), wantErr: ErrWireType},
		{name: "query_message as varint", in: pbBytes(nil, dnstapMessage, pbUint(nil, msgQueryMessage, 1)), wantErr: ErrWireType},
		{name: "nsec as varint", in: pbBytes(nil, dnstapMessage, pbUint(nil, msgQueryTimeNsec, 1)), wantErr: ErrWireType},
		{name: "port as fixed32", in: pbBytes(nil, dnstapMessage, pbFixed32(nil, msgQueryPort, 1)), wantErr: ErrWireType},
		{name: "group wire type", in: pbKey(nil, 50, 3), wantErr: ErrWireType},
		{name: "wire type 7", in: pbKey(nil, 50, 7), wantErr: ErrWireType},
		{name: "field number 0", in: []byte{0x00, 0x01}, wantErr: ErrInvalid},
		{name: "varint too long", in: bytes.Repeat([]byte{0xff}, 11), wantErr: ErrInvalid},
		{name: "varint overflows", in: append(bytes.Repeat([]byte{0xff}, 9), 0x02), wantErr: ErrInvalid},
		{name: "key cut", in: []byte{0x80}, wantErr: ErrTruncated},
		{name: "varint value cut", in: []byte{0x78, 0x80}, wantErr: ErrTruncated},
		{name: "bytes cut", in: pbBytes(nil, dnstapMessage, inner)[:5], wantErr: ErrTruncated},
		{name: "bytes length cut", in: []byte{0x72}, wantErr: ErrTruncated},
		{name: "fixed32 cut", in: pbKey(nil, 50, wireFixed32), wantErr: ErrTruncated},
		{name: "fixed64 cut", in: append(pbKey(nil, 50, wireFixed64), 1), wantErr: ErrTruncated},
		{name: "inner cut", in: pbBytes(nil, dnstapMessage, inner[:len(inner)-1]), wantErr: ErrTruncated},
		{name: "address of 5 bytes", in: pbBytes(nil, dnstapMessage, pbBytes(nil, msgResponseAddress, make([]byte, 5))), wantErr: ErrInvalid},
		{name: "empty address", in: pbBytes(nil, dnstapMessage, pbBytes(nil, msgQueryAddress, nil)), wantErr: ErrInvalid},
		{name: "port too big", in: pbBytes(nil, dnstapMessage, pbUint(nil, msgResponsePort, 65536)), wantErr: ErrInvalid},
		{name: "nsec too big", in: pbBytes(nil, dnstapMessage, pbFixed32(nil, msgResponseTimeNsec, 1e9)), wantErr: ErrInvalid},
		{name: "seconds too big", in: pbBytes(nil, dnstapMessage, pbUint(nil, msgQueryTimeSec, maxSec+1)), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseMessage: error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMessage:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMessageTypeString(t *testing.T) {
	tests := []struct {
		name string
		in   MessageType
		want string
	}{
		{name: "client query", in: ClientQuery, want: "CLIENT_QUERY"},
		{name: "update response", in: UpdateResponse, want: "UPDATE_RESPONSE"},
		{name: "zero", in: 0, want: "TYPE0"},
		{name: "unknown", in: 15, want: "TYPE15"},
		{name: "negative", in: -1, want: "TYPE-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	tests := []struct {
		name  string
		proto int
		want  string
	}{
		{name: "udp", proto: ProtocolUDP, want: "udp"},
		{name: "tcp", proto: ProtocolTCP, want: "tcp"},
		{name: "dot", proto: ProtocolDOT, want: "tcp"},
		{name: "doh", proto: ProtocolDOH, want: "tcp"},
		{name: "dnscrypt udp", proto: ProtocolDNSCryptUDP, want: "udp"},
		{name: "dnscrypt tcp", proto: ProtocolDNSCryptTCP, want: "tcp"},
		{name: "doq", proto: ProtocolDOQ, want: "udp"},
		{name: "absent", proto: 0, want: ""},
		{name: "unknown", proto: 99, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Message{SocketProtocol: tt.proto}
			if got := m.Transport(); got != tt.want {
				t.Errorf("Transport() = %q, want %q", got, tt.want)
			}
		})
	}
}
