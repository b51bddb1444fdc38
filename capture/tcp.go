package capture

import (
	"container/list"
	"net/netip"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// connHandler consumes the reassembled byte streams of one TCP connection.
// The flow table calls it synchronously, in packet order, from one
// goroutine. b is only valid during the call.
type connHandler interface {
	Data(fromClient bool, b []byte, ts time.Time)
	// Gap reports n bytes of one direction that the sensor never saw
	// (n <= 0: unknown). The bytes after the gap follow in the next Data.
	Gap(fromClient bool, n int, ts time.Time)
	// Close is called once, after the last Data or Gap.
	Close(ts time.Time)
}

// flowKey identifies a TCP connection regardless of direction: a is the
// endpoint that sorts first.
type flowKey struct {
	scope uint64
	a, b  netip.AddrPort
}

func makeFlowKey(p *Packet) (k flowKey, srcIsA bool) {
	src := netip.AddrPortFrom(p.Src, p.SrcPort)
	dst := netip.AddrPortFrom(p.Dst, p.DstPort)
	if src.Compare(dst) <= 0 {
		return flowKey{p.scope, src, dst}, true
	}
	return flowKey{p.scope, dst, src}, false
}

// segment is out-of-order data waiting for the bytes before it.
type segment struct {
	seq  uint32
	data []byte
	ts   time.Time
}

// half is one direction of a connection.
type half struct {
	started bool   // nextSeq is meaningful
	isn     uint32 // initial sequence number, when a SYN was seen
	synSeen bool
	nextSeq uint32 // next byte to deliver
	fin     bool   // FIN seen at finSeq
	finSeq  uint32
	closed  bool // every byte up to the FIN was delivered
	// peerAck is the highest acknowledgment the other side sent for this
	// direction's data; past a hole it proves the hole was lost by the
	// capture, not by the network.
	peerAck      uint32
	peerAckValid bool
	ooo          []segment // sorted by seq
	buffered     int
	packets      uint64
	bytes        uint64
}

// Directions within a flow.
const (
	dirClient = 0 // client to server
	dirServer = 1 // server to client
)

// flow is one TCP connection in the table.
type flow struct {
	key    flowKey
	client netip.AddrPort
	server netip.AddrPort
	vlans  []uint16
	tunnel string

	start, last time.Time
	syns        int
	synTime     time.Time
	synAck      bool
	synAckTime  time.Time
	established bool
	midstream   bool
	rstFrom     int // -1: none
	gaps        int
	gapBytes    uint64

	dir     [2]half
	handler connHandler
	// id is the session's event id (mail flows).
	id string

	// lru is the flow's element in pending or established (most recently
	// seen first); buf its element in buffering (flows holding out-of-order
	// data, most recent first).
	lru           *list.Element
	buf           *list.Element
	inEstablished bool
}

// TCPStats counts what the flow table did.
type TCPStats struct {
	Flows           uint64 // connections tracked
	Active          int    // connections in the table now
	Midstream       uint64 // connections joined without a handshake
	NoFlow          uint64 // packets without data or SYN for no known connection (ignored)
	Segments        uint64 // data segments
	OutOfOrder      uint64 // data segments buffered because bytes before them were missing
	Retransmitted   uint64 // data segments whose bytes were all delivered before
	OverlapBytes    uint64 // bytes of partially retransmitted segments, dropped (first copy wins)
	Gaps            uint64 // holes declared in a byte stream
	GapBytes        uint64 // size of those holes
	ClosedFIN       uint64
	ClosedRST       uint64
	ClosedIdle      uint64
	ClosedEnd       uint64 // open at the end of the input
	Evicted         uint64 // closed early because the table was full
	BufferEvictions uint64 // holes declared early because a buffer bound was reached
	BufferedBytes   int    // out-of-order bytes held now
	Reused          uint64 // a new SYN on a tuple whose connection was still open
}

// flowTable reassembles TCP connections. It is not safe for concurrent use.
type flowTable struct {
	cfg         TCPConfig
	serverPorts portSet
	m           map[flowKey]*flow
	// pending holds connections whose handshake has not completed,
	// established the others; both are ordered by the last packet seen, so
	// that expiry and eviction take the tails. Keeping attempts apart means
	// a SYN flood evicts attempts, not established sessions.
	pending     list.List
	established list.List
	buffering   list.List
	buffered    int
	stats       TCPStats

	// open is called for a new flow and sets its handler; done is called
	// when a flow is finished (after its handler was closed).
	open func(f *flow)
	done func(f *flow, reason event.CloseReason)
}

func newFlowTable(cfg TCPConfig, serverPorts portSet, open func(*flow), done func(*flow, event.CloseReason)) *flowTable {
	return &flowTable{
		cfg:         cfg,
		serverPorts: serverPorts,
		m:           make(map[flowKey]*flow),
		open:        open,
		done:        done,
	}
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// packet processes one TCP segment.
func (t *flowTable) packet(p *Packet, ts time.Time) {
	key, srcIsA := makeFlowKey(p)
	f := t.m[key]
	syn, ack := p.Flags&tcpSYN != 0, p.Flags&tcpACK != 0
	if f != nil && syn && !ack && f.isClientSrc(p) && f.dir[dirClient].synSeen && p.Seq != f.dir[dirClient].isn {
		// A new connection on the same tuple while the old one never closed.
		t.stats.Reused++
		t.finish(f, event.CloseIdle, f.last)
		f = nil
	}
	if f == nil {
		if !syn && len(p.Payload) == 0 {
			t.stats.NoFlow++
			return
		}
		f = t.create(key, srcIsA, p, ts)
	}
	if ts.After(f.last) {
		f.last = ts
	}
	d := dirServer
	if f.isClientSrc(p) {
		d = dirClient
	}
	h, o := &f.dir[d], &f.dir[1-d]
	h.packets++
	h.bytes += uint64(len(p.Payload))
	seq := p.Seq

	if syn {
		if d == dirClient && !ack {
			f.syns++
			if f.synTime.IsZero() {
				f.synTime = ts
			}
		}
		if d == dirServer && ack && !f.synAck {
			f.synAck, f.synAckTime = true, ts
		}
		if !h.started {
			h.started, h.synSeen, h.isn, h.nextSeq = true, true, seq, seq+1
		}
		seq++ // data in a SYN (TCP Fast Open) starts after it
	} else if d == dirClient && ack && f.synAck {
		f.established = true
	}
	if len(p.Payload) > 0 {
		f.established = true
	}
	t.touch(f)
	if len(p.Payload) > 0 {
		t.stats.Segments++
		t.data(f, d, seq, p.Payload, ts)
	}
	if ack && (!o.peerAckValid || seqLT(o.peerAck, p.Ack)) {
		o.peerAck, o.peerAckValid = p.Ack, true
	}
	// Holes the peer has acknowledged were lost by the capture. Only this
	// packet's own direction is checked, after its data: a segment that
	// arrives on the mirror after the ACK for it fills its hole first.
	t.ackGap(f, d, ts)

	if p.Flags&tcpRST != 0 {
		f.rstFrom = d
		t.finish(f, event.CloseRST, ts)
		return
	}
	if p.Flags&tcpFIN != 0 && !h.fin {
		h.fin, h.finSeq = true, seq+uint32(len(p.Payload))
		if !h.started {
			h.started, h.nextSeq = true, h.finSeq
		}
		t.checkClosed(h)
	}
	if f.dir[0].fin && f.dir[1].fin {
		t.finish(f, event.CloseFIN, ts)
	}
}

func (f *flow) isClientSrc(p *Packet) bool {
	return p.SrcPort == f.client.Port() && p.Src == f.client.Addr()
}

func (t *flowTable) create(key flowKey, srcIsA bool, p *Packet, ts time.Time) *flow {
	if len(t.m) >= t.cfg.MaxFlows {
		victim := t.pending.Back()
		if victim == nil {
			victim = t.established.Back()
		}
		if victim != nil {
			t.stats.Evicted++
			f := victim.Value.(*flow)
			t.finish(f, event.CloseEvicted, f.last)
		}
	}
	src := netip.AddrPortFrom(p.Src, p.SrcPort)
	dst := netip.AddrPortFrom(p.Dst, p.DstPort)
	client, server := src, dst
	switch syn, ack := p.Flags&tcpSYN != 0, p.Flags&tcpACK != 0; {
	case syn && !ack:
	case syn && ack:
		client, server = dst, src
	case t.serverPorts.has(p.DstPort):
	case t.serverPorts.has(p.SrcPort):
		client, server = dst, src
	}
	f := &flow{
		key:     key,
		client:  client,
		server:  server,
		start:   ts,
		last:    ts,
		rstFrom: -1,
	}
	if p.Flags&tcpSYN == 0 || p.Flags&tcpACK != 0 {
		f.midstream = true
		t.stats.Midstream++
	}
	if p.NVLAN > 0 {
		f.vlans = slices.Clone(p.VLANs[:p.NVLAN])
	}
	f.tunnel = tunnelString(p)
	t.m[key] = f
	f.lru = t.pending.PushFront(f)
	t.stats.Flows++
	t.open(f)
	return f
}

// data handles the payload of one segment of direction d starting at seq.
func (t *flowTable) data(f *flow, d int, seq uint32, b []byte, ts time.Time) {
	h := &f.dir[d]
	if !h.started {
		h.started, h.nextSeq = true, seq
	}
	if h.closed {
		t.stats.Retransmitted++
		return
	}
	if diff := int64(int32(seq - h.nextSeq)); diff <= 0 {
		over := int(-diff)
		if over >= len(b) {
			t.stats.Retransmitted++
			return
		}
		if over > 0 {
			t.stats.OverlapBytes += uint64(over)
		}
		t.deliver(f, d, b[over:], ts)
		t.drain(f, d)
		return
	}
	t.stats.OutOfOrder++
	t.buffer(f, d, seq, b, ts)
	for h.buffered > t.cfg.MaxFlowBufferedBytes {
		t.stats.BufferEvictions++
		t.skipHole(f, d, ts)
	}
	for t.buffered > t.cfg.MaxBufferedBytes && t.buffering.Len() > 0 {
		t.stats.BufferEvictions++
		t.flushHoles(t.buffering.Back().Value.(*flow), ts)
	}
}

func (t *flowTable) deliver(f *flow, d int, b []byte, ts time.Time) {
	h := &f.dir[d]
	h.nextSeq += uint32(len(b))
	f.handler.Data(d == dirClient, b, ts)
	t.checkClosed(h)
}

// buffer keeps a copy of out-of-order data, sorted by sequence number.
func (t *flowTable) buffer(f *flow, d int, seq uint32, b []byte, ts time.Time) {
	h := &f.dir[d]
	i, _ := slices.BinarySearchFunc(h.ooo, seq, func(s segment, v uint32) int {
		return int(int32(s.seq - v))
	})
	if i < len(h.ooo) && h.ooo[i].seq == seq && len(h.ooo[i].data) >= len(b) {
		t.stats.Retransmitted++
		return
	}
	h.ooo = slices.Insert(h.ooo, i, segment{seq: seq, data: slices.Clone(b), ts: ts})
	h.buffered += len(b)
	t.buffered += len(b)
	if f.buf == nil {
		f.buf = t.buffering.PushFront(f)
	}
}

// drain delivers buffered segments that have become contiguous.
func (t *flowTable) drain(f *flow, d int) {
	h := &f.dir[d]
	n := 0
	for n < len(h.ooo) && seqLE(h.ooo[n].seq, h.nextSeq) {
		s := h.ooo[n]
		n++
		t.release(f, h, len(s.data))
		if over := int(h.nextSeq - s.seq); over < len(s.data) {
			if over > 0 {
				t.stats.OverlapBytes += uint64(over)
			}
			t.deliver(f, d, s.data[over:], s.ts)
		} else {
			t.stats.Retransmitted++
		}
	}
	if n > 0 {
		h.ooo = slices.Delete(h.ooo, 0, n)
	}
	t.unbufferIfEmpty(f)
}

func (t *flowTable) release(f *flow, h *half, n int) {
	h.buffered -= n
	t.buffered -= n
}

func (t *flowTable) unbufferIfEmpty(f *flow) {
	if f.buf == nil || f.dir[0].buffered > 0 || f.dir[1].buffered > 0 {
		return
	}
	t.buffering.Remove(f.buf)
	f.buf = nil
}

// skipHole declares the bytes before the first buffered segment of
// direction d lost, and delivers what follows.
func (t *flowTable) skipHole(f *flow, d int, ts time.Time) {
	h := &f.dir[d]
	if len(h.ooo) == 0 {
		return
	}
	n := int(h.ooo[0].seq - h.nextSeq)
	t.gap(f, d, n, ts)
	h.nextSeq = h.ooo[0].seq
	t.drain(f, d)
}

func (t *flowTable) gap(f *flow, d int, n int, ts time.Time) {
	f.gaps++
	f.gapBytes += uint64(n)
	t.stats.Gaps++
	t.stats.GapBytes += uint64(n)
	f.handler.Gap(d == dirClient, n, ts)
}

// flushHoles skips every hole of both directions.
func (t *flowTable) flushHoles(f *flow, ts time.Time) {
	for d := range f.dir {
		for len(f.dir[d].ooo) > 0 {
			t.skipHole(f, d, ts)
		}
	}
}

// ackGap declares the hole before direction d's buffered data lost when
// the receiver has acknowledged bytes beyond it.
func (t *flowTable) ackGap(f *flow, d int, ts time.Time) {
	h := &f.dir[d]
	for len(h.ooo) > 0 && h.peerAckValid && seqLE(h.ooo[0].seq, h.peerAck) && seqLT(h.nextSeq, h.peerAck) {
		t.skipHole(f, d, ts)
	}
}

func (t *flowTable) checkClosed(h *half) {
	if h.fin && h.started && seqLE(h.finSeq, h.nextSeq) {
		h.closed = true
	}
}

// finish closes f: remaining holes become gaps, the handler is closed, done
// is called and the flow leaves the table.
func (t *flowTable) finish(f *flow, reason event.CloseReason, ts time.Time) {
	t.flushHoles(f, ts)
	f.handler.Close(ts)
	switch reason {
	case event.CloseFIN:
		t.stats.ClosedFIN++
	case event.CloseRST:
		t.stats.ClosedRST++
	case event.CloseIdle:
		t.stats.ClosedIdle++
	case event.CloseCaptureEnd:
		t.stats.ClosedEnd++
	}
	t.done(f, reason)
	delete(t.m, f.key)
	t.unlink(f)
}

// handshake reports how the connection attempt went.
func (f *flow) handshake() event.Handshake {
	switch {
	case f.midstream && f.syns == 0:
		if !f.synAck && !f.established {
			return event.HandshakeNoAnswer
		}
		return event.HandshakeMidstream
	case f.established:
		return event.HandshakeCompleted
	case f.synAck:
		return event.HandshakeReset
	case f.rstFrom == dirServer:
		return event.HandshakeRefused
	}
	return event.HandshakeNoAnswer
}

// sweep closes flows idle for longer than their timeout and declares holes
// that waited too long, as of packet time now.
func (t *flowTable) sweep(now time.Time) {
	for e := t.buffering.Back(); e != nil; {
		prev := e.Prev()
		f := e.Value.(*flow)
		for d := range f.dir {
			for len(f.dir[d].ooo) > 0 && now.Sub(f.dir[d].ooo[0].ts) > t.cfg.ReorderTimeout {
				t.skipHole(f, d, now)
			}
		}
		e = prev
	}
	t.expire(&t.pending, now.Add(-t.cfg.HandshakeTimeout))
	t.expire(&t.established, now.Add(-t.cfg.IdleTimeout))
}

// expire finishes the flows of l last seen before cutoff.
func (t *flowTable) expire(l *list.List, cutoff time.Time) {
	for e := l.Back(); e != nil; e = l.Back() {
		f := e.Value.(*flow)
		if !f.last.Before(cutoff) {
			return
		}
		reason := event.CloseIdle
		if f.dir[0].fin || f.dir[1].fin {
			reason = event.CloseFIN
		}
		t.finish(f, reason, f.last)
	}
}

// closeAll finishes every flow: the input has ended.
func (t *flowTable) closeAll() {
	for _, l := range []*list.List{&t.pending, &t.established} {
		for e := l.Back(); e != nil; e = l.Back() {
			f := e.Value.(*flow)
			t.finish(f, event.CloseCaptureEnd, f.last)
		}
	}
}

func (t *flowTable) snapshot() TCPStats {
	s := t.stats
	s.Active = len(t.m)
	s.BufferedBytes = t.buffered
	return s
}

// touch moves f to the front of its list, switching lists when the
// handshake has just completed.
func (t *flowTable) touch(f *flow) {
	if f.established && !f.inEstablished {
		t.pending.Remove(f.lru)
		f.lru = t.established.PushFront(f)
		f.inEstablished = true
		return
	}
	t.listOf(f).MoveToFront(f.lru)
}

// listOf reports which LRU list holds f.
func (t *flowTable) listOf(f *flow) *list.List {
	if f.inEstablished {
		return &t.established
	}
	return &t.pending
}

func (t *flowTable) unlink(f *flow) {
	t.listOf(f).Remove(f.lru)
	for d := range f.dir {
		t.release(f, &f.dir[d], f.dir[d].buffered)
		f.dir[d].ooo = nil
	}
	t.unbufferIfEmpty(f)
}

func tunnelString(p *Packet) string {
	switch p.NTunnel {
	case 0:
		return ""
	case 1:
		return p.Tunnels[0].String()
	}
	s := p.Tunnels[0].String()
	for _, tn := range p.Tunnels[1:p.NTunnel] {
		s += "/" + tn.String()
	}
	return s
}
