package dns

import (
	"encoding/binary"
	"net/netip"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// quick handles a message without a full decode when it can. Responses
// go to quickResponse. A query is taken when it is plain: one question,
// no answer or authority records, and at most an OPT record (EDNS) whose
// options are cookies or padding. That is nearly every query a sensor
// sees, and the tracker needs only its question, to pair the response.
// The checks keep the quick path exact: a message it accepts is one the
// full decoder finds complete, with the same question. It reports false,
// having changed nothing, for everything else, which takes the full path.
// quick_test.go and quickresp_test.go hold both paths to that on fuzzed
// input.
func (t *Tracker) quick(b []byte, m Meta) bool {
	if len(b) < headerLen {
		return false
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	if flags&0x8000 != 0 {
		return t.quickResponse(b, m)
	}
	if (flags>>11)&0xf != mdns.OpcodeQuery ||
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
	t.quickHits++
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

// Sections of a response, as quickRR.section records them.
const (
	secAnswer = iota
	secAuthority
	secAdditional
)

// rrHeaderLen is the size of a record's fixed fields after its name:
// type, class, TTL and RDATA length.
const rrHeaderLen = 10

// quickRR is a record the quick path decoded, in the form records needs.
type quickRR struct {
	section int
	rrtype  uint16
	ttl     uint32
	name    string // as the decoder presents it, not yet normalised
	pref    uint16
	host    string // MX exchange or CNAME target, as presented
	addr    netip.Addr
}

// quickResponse handles a response without a full decode when it holds
// exactly one question and only A, AAAA, MX, CNAME, NS and SOA records of
// class IN, plus at most one OPT record for the root in the additional
// section whose options are cookies or padding. Every RDATA must have
// exactly the length its type needs. Names an event shows go through
// mdns.UnpackDomainName, bounded as the full decoder bounds them (an RDATA
// name may not point past its record), so they are the same strings; NS
// and SOA names are only skipped (skipName). A
// message it accepts is one the full decoder finds complete, with the
// same fields; it reports false, having changed nothing, for every other
// message.
func (t *Tracker) quickResponse(b []byte, m Meta) bool {
	flags := binary.BigEndian.Uint16(b[2:4])
	if (flags>>11)&0xf != mdns.OpcodeQuery || binary.BigEndian.Uint16(b[4:6]) != 1 {
		return false
	}
	an := int(binary.BigEndian.Uint16(b[6:8]))
	ns := int(binary.BigEndian.Uint16(b[8:10]))
	ar := int(binary.BigEndian.Uint16(b[10:12]))
	// A record takes at least a root name and its fixed fields: counts
	// that cannot fit are lies the full path counts as malformed.
	if (an+ns+ar)*(1+rrHeaderLen) > len(b)-headerLen {
		return false
	}
	qname, off, err := mdns.UnpackDomainName(b, headerLen)
	if err != nil || off+4 > len(b) {
		return false
	}
	qtype := binary.BigEndian.Uint16(b[off:])
	qclass := binary.BigEndian.Uint16(b[off+2:])
	off += 4

	rrs := t.rrs[:0]
	defer func() {
		clear(rrs) // release the names
		t.rrs = rrs[:0]
	}()
	rcode := int(flags & 0xf)
	opt := false
	for i := 0; i < an+ns+ar; i++ {
		sec := secAnswer
		switch {
		case i >= an+ns:
			sec = secAdditional
		case i >= an:
			sec = secAuthority
		}
		var r quickRR
		var ok bool
		r, off, ok = quickRecord(b, off, sec)
		if !ok {
			return false
		}
		if r.rrtype == mdns.TypeOPT {
			if opt {
				return false // which one sets the extended code is the decoder's business
			}
			opt = true
			rcode |= int(r.ttl>>24) << 4
			continue
		}
		rrs = append(rrs, r)
	}

	t.quickHits++
	t.stats.Messages++
	t.stats.Responses++
	t.answersByType[qtype]++
	k := pendingKey{
		scope: m.Scope, client: m.Dst, server: m.Src,
		txid: binary.BigEndian.Uint16(b[0:2]), qtype: qtype, qclass: qclass, qname: normName(qname),
	}
	qtime, matched := t.answer(k, m.Time)
	if !t.keep.has(qtype) {
		t.stats.NotKept++
		return true
	}
	ev := &event.DNS{
		Time:      m.Time,
		Client:    k.client,
		Server:    k.server,
		Transport: m.Transport,
		TxID:      k.txid,
		QName:     k.qname,
		QType:     mdns.Type(qtype).String(),
		RCode:     rcodeName(rcode),
		TC:        flags&0x0200 != 0,
		Matched:   matched,
	}
	if matched {
		ev.QueryTime = qtime
	}
	if len(m.VLANs) > 0 {
		ev.VLANs = append([]uint16(nil), m.VLANs...)
	}
	ev.Answers = t.quickRecords(rrs, secAnswer)
	ev.Additional = t.quickRecords(rrs, secAdditional)
	ev.EDNS = opt
	t.stats.Emitted++
	t.emit(ev)
	return true
}

// quickRecord decodes the record at b[off:] in section sec and returns it
// with the offset after it. It reports false for anything the quick path
// does not take; see quickResponse.
func quickRecord(b []byte, off, sec int) (quickRR, int, bool) {
	var r quickRR
	if off >= len(b) {
		return r, 0, false
	}
	if b[off] == 0 && off+1+rrHeaderLen <= len(b) && binary.BigEndian.Uint16(b[off+1:]) == mdns.TypeOPT {
		// An OPT record: the root name, in the additional section only.
		if sec != secAdditional || !plainOPT(b[off:]) {
			return r, 0, false
		}
		r.rrtype = mdns.TypeOPT
		r.ttl = binary.BigEndian.Uint32(b[off+5:])
		return r, off + 1 + rrHeaderLen + int(binary.BigEndian.Uint16(b[off+9:])), true
	}
	name, off, err := mdns.UnpackDomainName(b, off)
	if err != nil || off+rrHeaderLen > len(b) {
		return r, 0, false
	}
	r.section = sec
	r.name = name
	r.rrtype = binary.BigEndian.Uint16(b[off:])
	class := binary.BigEndian.Uint16(b[off+2:])
	r.ttl = binary.BigEndian.Uint32(b[off+4:])
	rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
	off += rrHeaderLen
	end := off + rdlen
	if class != mdns.ClassINET || rdlen == 0 || end > len(b) {
		return r, 0, false
	}
	// The full decoder reads RDATA from the message cut at the record's
	// end, so a name there may not point past it: decode from rd alike.
	rd := b[:end]
	switch r.rrtype {
	case mdns.TypeA:
		if rdlen != 4 {
			return r, 0, false
		}
		r.addr = netip.AddrFrom4([4]byte(rd[off:end]))
	case mdns.TypeAAAA:
		if rdlen != 16 {
			return r, 0, false
		}
		r.addr = netip.AddrFrom16([16]byte(rd[off:end]))
	case mdns.TypeMX:
		if rdlen < 3 {
			return r, 0, false
		}
		r.pref = binary.BigEndian.Uint16(rd[off:])
		host, o, err := mdns.UnpackDomainName(rd, off+2)
		if err != nil || o != end {
			return r, 0, false
		}
		r.host = host
	case mdns.TypeCNAME:
		host, o, err := mdns.UnpackDomainName(rd, off)
		if err != nil || o != end {
			return r, 0, false
		}
		r.host = host
	case mdns.TypeNS:
		if o, ok := skipName(rd, off); !ok || o != end {
			return r, 0, false
		}
	case mdns.TypeSOA:
		o, ok := skipName(rd, off)
		if !ok || o >= end {
			return r, 0, false
		}
		if o, ok = skipName(rd, o); !ok || o+20 != end {
			return r, 0, false
		}
	default:
		return r, 0, false
	}
	return r, end, true
}

// quickRecords converts the records of one section for an event exactly
// as records does for the full decoder's, MaxRecords and
// Stats.RecordsDropped included.
func (t *Tracker) quickRecords(rrs []quickRR, sec int) []event.RR {
	n := 0
	for i := range rrs {
		if rrs[i].section == sec {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if n > t.cfg.MaxRecords {
		t.stats.RecordsDropped += uint64(n - t.cfg.MaxRecords)
		n = t.cfg.MaxRecords
	}
	out := make([]event.RR, 0, n)
	for i := range rrs {
		if len(out) == n {
			break
		}
		r := &rrs[i]
		if r.section != sec {
			continue
		}
		e := event.RR{Name: normName(r.name), Type: mdns.Type(r.rrtype).String(), TTL: r.ttl, Addr: r.addr}
		switch r.rrtype {
		case mdns.TypeMX:
			e.Pref, e.Host = r.pref, normName(r.host)
		case mdns.TypeCNAME:
			e.Host = normName(r.host)
		}
		out = append(out, e)
	}
	return out
}

// Bounds of skipName, tighter than the decoder's (255 wire octets, 126
// pointers) so that every name skipName accepts, the decoder accepts too.
const (
	skipMaxOctets   = 250
	skipMaxPointers = 16
)

// skipName finds the end of the name at b[off:] without building it, for
// the names no event shows (NS, SOA). It reports false for a name
// mdns.UnpackDomainName would reject, and for some it would accept (very
// long names, long pointer chains): those take the full path. Like the
// decoder, it returns the offset after the name's first pointer, or after
// its root label when it has none.
func skipName(b []byte, off int) (int, bool) {
	end, octets, pointers := -1, 0, 0
	for {
		if off >= len(b) {
			return 0, false
		}
		c := int(b[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = off + 1
				}
				return end, true
			}
			octets += c + 1
			if octets > skipMaxOctets || off+1+c > len(b) {
				return 0, false
			}
			off += 1 + c
		case 0xc0:
			if off+1 >= len(b) {
				return 0, false
			}
			if pointers++; pointers > skipMaxPointers {
				return 0, false
			}
			if end < 0 {
				end = off + 2
			}
			off = (c&0x3f)<<8 | int(b[off+1])
		default: // 0x40 and 0x80 are reserved label types
			return 0, false
		}
	}
}
