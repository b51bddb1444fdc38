package dns

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// headerLen is the size of the fixed DNS header.
const headerLen = 12

// Meta describes where a message was seen.
type Meta struct {
	// Time is the packet time of the message.
	Time time.Time
	// Src and Dst are the endpoints of the packet that carried the
	// message; the tracker works out which side is the client from the QR
	// bit.
	Src, Dst netip.AddrPort
	// Scope is an opaque key from the caller (VLAN, tunnel) that keeps
	// identical flows on different networks apart.
	Scope uint64
	// VLANs are the packet's 802.1Q tags, outermost first. The slice
	// belongs to the caller; events get a copy.
	VLANs []uint16
	// Transport is "udp" or "tcp".
	Transport string
}

// pendingKey identifies a query: the same key on the response pairs them.
type pendingKey struct {
	scope          uint64
	client, server netip.AddrPort
	txid           uint16
	qtype, qclass  uint16
	qname          string // normalised: lower case, no trailing dot
}

// pendingQuery is a query waiting for its response. seq tells this entry
// apart from an older one with the same key still in the FIFO.
type pendingQuery struct {
	time time.Time
	seq  uint64
}

// fifoEntry is a pending query in arrival order. Answered queries are not
// removed from the FIFO; their entries go stale (the map no longer holds
// the same seq) and are skipped when they reach the front.
type fifoEntry struct {
	key pendingKey
	seq uint64
}

// Tracker pairs DNS responses with their queries and emits an event.DNS
// for each response whose question type is kept. It is not safe for
// concurrent use.
type Tracker struct {
	cfg  Config
	keep *typeSet
	emit func(*event.DNS)

	msg mdns.Msg // reused for every message; nothing in it outlives Message
	// fullOnly turns off the quick path (see quick.go); tests compare both.
	fullOnly bool
	// quickHits counts the messages the quick path took; tests check it
	// fires. It is not part of Stats: both paths must report the same.
	quickHits uint64
	// rrs is the quick path's scratch space for a response's records.
	rrs     []quickRR
	pending map[pendingKey]pendingQuery
	fifo    []fifoEntry // fifo[head:] in arrival order
	head    int
	seq     uint64

	stats         Stats // scalar counters; the by-type maps are below
	queriesByType map[uint16]uint64
	answersByType map[uint16]uint64
}

// NewTracker returns a Tracker that passes every event it makes to emit.
// emit runs synchronously inside Message; the event is the callee's to
// keep.
func NewTracker(cfg Config, emit func(*event.DNS)) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if emit == nil {
		return nil, fmt.Errorf("dns: %w", ErrNoEmit)
	}
	keep, err := cfg.keepSet()
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return &Tracker{
		cfg:           cfg,
		keep:          keep,
		emit:          emit,
		pending:       make(map[pendingKey]pendingQuery),
		queriesByType: make(map[uint16]uint64),
		answersByType: make(map[uint16]uint64),
	}, nil
}

// Message handles one DNS message. Malformed messages are counted and
// skipped. b is not retained.
func (t *Tracker) Message(b []byte, m Meta) {
	if !t.fullOnly && t.quick(b, m) {
		return
	}
	t.stats.Messages++
	if len(b) < headerLen {
		t.stats.Malformed++
		return
	}
	msg := &t.msg
	*msg = mdns.Msg{} // Unpack leaves old sections in place on some errors
	err := msg.Unpack(b)
	// The decoder accepts a message that ends exactly between two fields
	// or records, as a snap length leaves it; such a message is as
	// malformed as one cut in the middle of a field.
	hasQuestion := len(msg.Question) > 0 && questionComplete(b)
	complete := err == nil && sectionsComplete(b, msg) && (hasQuestion || len(msg.Question) == 0)
	if !complete {
		t.stats.Malformed++
	}
	switch {
	case msg.Opcode != mdns.OpcodeQuery:
		if complete {
			t.stats.NotQuery++
		}
		return
	case !hasQuestion:
		if complete {
			t.stats.NoQuestion++
		}
		return
	}
	q := &msg.Question[0]
	k := pendingKey{scope: m.Scope, txid: msg.Id, qtype: q.Qtype, qclass: q.Qclass, qname: normName(q.Name)}
	if !msg.Response {
		t.stats.Queries++
		t.queriesByType[q.Qtype]++
		k.client, k.server = m.Src, m.Dst
		t.query(k, m.Time)
		return
	}
	t.stats.Responses++
	t.answersByType[q.Qtype]++
	k.client, k.server = m.Dst, m.Src
	qtime, matched := t.answer(k, m.Time)
	if !complete {
		return
	}
	if !t.keep.has(q.Qtype) {
		t.stats.NotKept++
		return
	}
	ev := &event.DNS{
		Time:      m.Time,
		Client:    k.client,
		Server:    k.server,
		Transport: m.Transport,
		TxID:      msg.Id,
		QName:     k.qname,
		QType:     mdns.Type(q.Qtype).String(),
		RCode:     rcodeName(msg.Rcode),
		TC:        msg.Truncated,
		Matched:   matched,
	}
	if matched {
		ev.QueryTime = qtime
	}
	if len(m.VLANs) > 0 {
		ev.VLANs = append([]uint16(nil), m.VLANs...)
	}
	ev.Answers, _ = t.records(msg.Answer)
	var opt bool
	ev.Additional, opt = t.records(msg.Extra)
	ev.EDNS = opt
	t.stats.Emitted++
	t.emit(ev)
}

// query remembers a query, or counts it as a duplicate of a pending one.
func (t *Tracker) query(k pendingKey, now time.Time) {
	t.Expire(now)
	if p, ok := t.pending[k]; ok {
		if !t.expired(p, now) {
			t.stats.DuplicateQueries++
			return
		}
		// Expire stops at the first query still in time, so an older one
		// can be left behind when packet time went backwards.
		t.drop(k)
		t.stats.Unanswered++
	}
	if len(t.pending) >= t.cfg.MaxPending {
		t.evictOldest()
	}
	t.seq++
	t.pending[k] = pendingQuery{time: now, seq: t.seq}
	t.push(fifoEntry{key: k, seq: t.seq})
}

// answer settles the query a response answers and reports its time.
func (t *Tracker) answer(k pendingKey, now time.Time) (time.Time, bool) {
	p, ok := t.pending[k]
	if !ok {
		t.stats.UnmatchedResponses++
		return time.Time{}, false
	}
	t.drop(k)
	if t.expired(p, now) {
		// Too late: the same decision Expire would have made had it run.
		t.stats.Unanswered++
		t.stats.UnmatchedResponses++
		return time.Time{}, false
	}
	t.stats.Matched++
	return p.time, true
}

func (t *Tracker) expired(p pendingQuery, now time.Time) bool {
	return now.Sub(p.time) > t.cfg.QueryTimeout
}

// drop forgets a pending query; its FIFO entry goes stale.
func (t *Tracker) drop(k pendingKey) { delete(t.pending, k) }

// live reports whether a FIFO entry still stands for a pending query.
func (t *Tracker) live(e *fifoEntry) (pendingQuery, bool) {
	p, ok := t.pending[e.key]
	return p, ok && p.seq == e.seq
}

// pop removes the FIFO's front entry.
func (t *Tracker) pop() {
	t.fifo[t.head] = fifoEntry{} // release the name
	t.head++
	if t.head == len(t.fifo) {
		t.fifo, t.head = t.fifo[:0], 0
	}
}

// push appends to the FIFO, keeping its length within twice MaxPending:
// stale entries of answered queries are squeezed out when it gets there,
// which costs O(1) per query amortised.
func (t *Tracker) push(e fifoEntry) {
	if len(t.fifo)-t.head >= 2*t.cfg.MaxPending {
		t.compact()
	} else if t.head > 0 && t.head >= len(t.fifo)/2 && len(t.fifo) == cap(t.fifo) {
		n := copy(t.fifo, t.fifo[t.head:])
		clear(t.fifo[n:])
		t.fifo, t.head = t.fifo[:n], 0
	}
	t.fifo = append(t.fifo, e)
}

// compact keeps only the live FIFO entries, in order.
func (t *Tracker) compact() {
	n := 0
	for i := t.head; i < len(t.fifo); i++ {
		if _, ok := t.live(&t.fifo[i]); ok {
			t.fifo[n] = t.fifo[i]
			n++
		}
	}
	clear(t.fifo[n:])
	t.fifo, t.head = t.fifo[:n], 0
}

// evictOldest drops the oldest pending query.
func (t *Tracker) evictOldest() {
	for t.head < len(t.fifo) {
		e := t.fifo[t.head]
		t.pop()
		if _, ok := t.live(&e); ok {
			t.drop(e.key)
			t.stats.Evicted++
			return
		}
	}
}

// Expire counts as unanswered and forgets the queries older than
// QueryTimeout at packet time now. Queries are expired in arrival order,
// up to the first one still in time.
func (t *Tracker) Expire(now time.Time) {
	for t.head < len(t.fifo) {
		e := &t.fifo[t.head]
		if p, ok := t.live(e); ok {
			if !t.expired(p, now) {
				return
			}
			t.drop(e.key)
			t.stats.Unanswered++
		}
		t.pop()
	}
}

// Close ends the input: every query still pending is counted as
// unanswered and forgotten.
func (t *Tracker) Close() {
	t.stats.Unanswered += uint64(len(t.pending))
	clear(t.pending)
	clear(t.fifo)
	t.fifo, t.head = t.fifo[:0], 0
}

// Stats returns a snapshot of the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Pending = uint64(len(t.pending))
	s.QueriesByType = typeCounts(t.queriesByType)
	s.ResponsesByType = typeCounts(t.answersByType)
	return s
}

// records converts a section's records for an event, OPT excluded, at
// most MaxRecords of them. It reports whether an OPT record was present.
func (t *Tracker) records(rrs []mdns.RR) ([]event.RR, bool) {
	n, opt := 0, false
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			opt = true
		} else {
			n++
		}
	}
	if n == 0 {
		return nil, opt
	}
	if n > t.cfg.MaxRecords {
		t.stats.RecordsDropped += uint64(n - t.cfg.MaxRecords)
		n = t.cfg.MaxRecords
	}
	out := make([]event.RR, 0, n)
	for _, rr := range rrs {
		if len(out) == n {
			break
		}
		h := rr.Header()
		if h.Rrtype == mdns.TypeOPT {
			continue
		}
		r := event.RR{Name: normName(h.Name), Type: mdns.Type(h.Rrtype).String(), TTL: h.Ttl}
		switch v := rr.(type) {
		case *mdns.MX:
			r.Pref, r.Host = v.Preference, normName(v.Mx)
		case *mdns.CNAME:
			r.Host = normName(v.Target)
		case *mdns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				r.Addr = a
			}
		case *mdns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				r.Addr = a
			}
		}
		out = append(out, r)
	}
	return out, opt
}

// normName returns a domain name in lower case without its trailing dot;
// the root stays ".". The decoder returns fully qualified names in
// presentation format, so the last byte is always the root's unescaped
// dot, and non-ASCII bytes arrive escaped (\DDD), so ASCII folding is
// enough.
func normName(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return strings.ToLower(s)
}

// sectionsComplete reports whether the decoder found as many questions
// and records as the header of b announces.
func sectionsComplete(b []byte, m *mdns.Msg) bool {
	return len(b) >= headerLen &&
		len(m.Question) == int(binary.BigEndian.Uint16(b[4:])) &&
		len(m.Answer) == int(binary.BigEndian.Uint16(b[6:])) &&
		len(m.Ns) == int(binary.BigEndian.Uint16(b[8:])) &&
		len(m.Extra) == int(binary.BigEndian.Uint16(b[10:]))
}

// questionComplete reports whether b holds the whole first question:
// its name, type and class. The decoder has checked the name already;
// this only finds where it ends.
func questionComplete(b []byte) bool {
	off := headerLen
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		if l == 0 {
			off++
			break
		}
		if l&0xc0 != 0 { // a compression pointer ends the name
			off += 2
			break
		}
		off += 1 + l
	}
	return off+4 <= len(b)
}

// rcodeName names a response code, extended codes included.
func rcodeName(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
