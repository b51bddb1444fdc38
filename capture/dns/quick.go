package dns

import (
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// quick handles a plain query without a full decode: one question, no
// answer or authority records, and at most an OPT record (EDNS) whose
// options are cookies or padding. That is nearly every query a sensor
// sees, and the tracker needs only its question, to pair the response.
// The checks keep the quick path exact: a message it accepts is one the
// full decoder finds complete, with the same question. It reports false,
// having changed nothing, for everything else, which takes the full path.
// quick_test.go holds both paths to that on fuzzed input.
func (t *Tracker) quick(b []byte, m Meta) bool {
	if len(b) < headerLen {
		return false
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	if flags&0x8000 != 0 || (flags>>11)&0xf != mdns.OpcodeQuery ||
		binary.BigEndian.Uint16(b[4:6]) != 1 || binary.BigEndian.Uint16(b[6:8]) != 0 || binary.BigEndian.Uint16(b[8:10]) != 0 {
		return false
	}
	name, off, err := mdns.UnpackDomainName(b, headerLen)
	if err != nil || off+4 > len(b) {
		return false
	}
	qtype := binary.BigEndian.Uint16(b[off:])
	qclass := binary.BigEndian.Uint16(b[off+2:])
	off += 4
	switch binary.BigEndian.Uint16(b[10:12]) {
	case 0:
	case 1:
		if !plainOPT(b[off:]) {
			return false
		}
	default:
		return false
	}
	t.stats.Messages++
	t.stats.Queries++
	t.queriesByType[qtype]++
	t.query(pendingKey{
		scope: m.Scope, client: m.Src, server: m.Dst,
		txid: binary.BigEndian.Uint16(b[0:2]), qtype: qtype, qclass: qclass, qname: normName(name),
	}, m.Time)
	return true
}

// plainOPT reports whether b starts with an OPT record for the root whose
// options are all cookies (10) or padding (12), which the full decoder
// accepts whatever their contents.
func plainOPT(b []byte) bool {
	if len(b) < 11 || b[0] != 0 || binary.BigEndian.Uint16(b[1:3]) != mdns.TypeOPT {
		return false
	}
	rd := int(binary.BigEndian.Uint16(b[9:11]))
	opts := b[11:]
	if len(opts) < rd {
		return false
	}
	opts = opts[:rd]
	for len(opts) > 0 {
		if len(opts) < 4 {
			return false
		}
		code, n := binary.BigEndian.Uint16(opts[0:2]), int(binary.BigEndian.Uint16(opts[2:4]))
		if (code != mdns.EDNS0COOKIE && code != mdns.EDNS0PADDING) || len(opts) < 4+n {
			return false
		}
		opts = opts[4+n:]
	}
	return true
}
