package pcapgen

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/gopacket/layers"
)

// ConnOptions shape a simulated TCP connection.
type ConnOptions struct {
	// NoHandshake starts the capture in the middle of the connection: the
	// first packet written is the first data segment.
	NoHandshake bool
	// Refused answers the SYN with RST/ACK; the Conn is dead afterwards.
	Refused bool
	// NoAnswer sends SYNs that nobody answers: the first one and
	// retransmissions after 1 s and 3 s; the Conn is dead afterwards.
	NoAnswer bool
	// Impair is applied to the data segments of the connection.
	Impair Impairments
	// MSS is the largest payload of one segment; zero means 1460 over IPv4
	// and 1440 over IPv6.
	MSS int
	// RTT is the round-trip time between client and server; zero means a
	// seeded value: under 1 ms to platform servers, 8 to 60 ms to others.
	RTT time.Duration
}

// Impairments make a connection look the way a lossy network or mirror
// port shows it. Each list holds indexes of data segments, counted from 0 in
// the order the Conn creates them, across both directions (retransmitted
// copies do not count). Conn.NextSegment tells the index the next segment
// will get.
type Impairments struct {
	// Reorder swaps segment i with the following segment of the same write;
	// it has no effect on the last segment of a write.
	Reorder []int
	// Retransmit writes segment i a second time, after a retransmission
	// timeout.
	Retransmit []int
	// Drop never writes segment i: the receiver got it and acknowledges it,
	// but the mirror lost it, so the capture has a hole.
	Drop []int
	// Overlap writes segment i and then a retransmission that starts
	// halfway into the previous segment of the same direction and covers
	// segment i (same bytes, overlapping sequence range).
	Overlap []int
}

// Conn simulates one TCP connection between client and server and writes
// its packets: handshake, data segmented by MSS with correct sequence and
// acknowledgment numbers, delayed and every-second-segment ACKs, FIN close
// or RST. Data calls on a refused, unanswered, reset or closed Conn write
// nothing.
type Conn struct {
	w    *Writer
	e    Encap
	ep   [2]netip.AddrPort // client, server
	mss  int
	rtt  time.Duration
	win  [2]uint16
	next [2]uint32 // next sequence number each side sends
	owe  [2]bool   // side has unacknowledged received data
	prev [2][]byte // last data segment of each side, for Overlap
	last int       // side that wrote last, -1 before any data
	seg  int       // index of the next data segment
	dead bool
	imp  impairSet
	sent [2][]byte // what each side sent, when the writer records
}

const (
	clientSide = 0
	serverSide = 1
)

type impairSet struct {
	reorder, retransmit, drop, overlap map[int]bool
}

func newImpairSet(im Impairments) impairSet {
	set := func(xs []int) map[int]bool {
		if len(xs) == 0 {
			return nil
		}
		m := make(map[int]bool, len(xs))
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	return impairSet{set(im.Reorder), set(im.Retransmit), set(im.Drop), set(im.Overlap)}
}

// TCP opens a simulated connection from client to server and writes its
// handshake (or, with opt.Refused or opt.NoAnswer, the failed attempt). A
// client port of 0 is replaced by a seeded ephemeral port. Both addresses
// must be of the same family; otherwise the writer records ErrBadAddress and
// the Conn is dead.
func (w *Writer) TCP(client, server netip.AddrPort, e Encap, opt ConnOptions) *Conn {
	c := &Conn{w: w, e: e, last: -1, imp: newImpairSet(opt.Impair)}
	if w.record {
		w.conns = append(w.conns, c)
	}
	c.ep = [2]netip.AddrPort{w.ephemeral(client), server}
	if !client.Addr().IsValid() || !server.Addr().IsValid() || client.Addr().Is4() != server.Addr().Is4() {
		w.fail(fmt.Errorf("%w: %v -> %v", ErrBadAddress, client, server))
		c.dead = true
		return c
	}
	c.mss = opt.MSS
	if c.mss <= 0 {
		c.mss = 1460
		if client.Addr().Is6() {
			c.mss = 1440
		}
	}
	c.rtt = opt.RTT
	if c.rtt <= 0 {
		if isPlatform(server.Addr()) {
			c.rtt = w.between(150*time.Microsecond, 900*time.Microsecond)
		} else {
			c.rtt = w.between(8*time.Millisecond, 60*time.Millisecond)
		}
	}
	c.win = [2]uint16{uint16(501 + w.intn(12)), uint16(227 + w.intn(300))}
	isn := [2]uint32{w.rng.Uint32(), w.rng.Uint32()}
	if !w.ok() {
		c.dead = true
		return c
	}
	if opt.NoHandshake {
		c.next = isn
		return c
	}
	c.next[clientSide] = isn[clientSide]
	w.advance(20*time.Microsecond, 200*time.Microsecond)
	switch {
	case opt.NoAnswer:
		for i, gap := range []time.Duration{0, time.Second, 2 * time.Second} {
			w.Sleep(gap)
			if i > 0 {
				w.advance(0, 3*time.Millisecond)
			}
			c.syn(clientSide, false)
		}
		c.dead = true
		return c
	case opt.Refused:
		c.syn(clientSide, false)
		c.next[clientSide]++
		w.Sleep(c.rtt)
		c.write(serverSide, tcpRST|tcpACK, 0, c.next[clientSide], 0, nil, nil)
		c.dead = true
		return c
	}
	c.syn(clientSide, false)
	c.next[clientSide]++
	w.Sleep(c.rtt)
	c.next[serverSide] = isn[serverSide]
	c.syn(serverSide, true)
	c.next[serverSide]++
	w.advance(15*time.Microsecond, 120*time.Microsecond)
	c.packet(clientSide, tcpACK, c.next[clientSide], nil)
	return c
}

// Client writes one application write from the client, split by the MSS.
func (c *Conn) Client(data string) { c.send(clientSide, []byte(data)) }

// Server writes one application write from the server, split by the MSS.
func (c *Conn) Server(data string) { c.send(serverSide, []byte(data)) }

// ClientBytes is Client for binary data.
func (c *Conn) ClientBytes(data []byte) { c.send(clientSide, data) }

// ServerBytes is Server for binary data.
func (c *Conn) ServerBytes(data []byte) { c.send(serverSide, data) }

// NextSegment returns the index that the next data segment will have, for
// use in Impairments.
func (c *Conn) NextSegment() int { return c.seg }

// SetImpairments replaces the connection's impairments; they apply to the
// segments written from now on.
func (c *Conn) SetImpairments(im Impairments) { c.imp = newImpairSet(im) }

// ClientAddr returns the client's address and port, with the chosen
// ephemeral port.
func (c *Conn) ClientAddr() netip.AddrPort { return c.ep[clientSide] }

// Close ends the connection the way a client does after QUIT: FIN from the
// client, FIN/ACK from the server, last ACK.
func (c *Conn) Close() { c.CloseBy(true) }

// CloseBy ends the connection with a FIN handshake started by the client
// (fromClient) or by the server.
func (c *Conn) CloseBy(fromClient bool) {
	if c.dead || !c.w.ok() {
		return
	}
	a, b := clientSide, serverSide
	if !fromClient {
		a, b = b, a
	}
	c.w.advance(100*time.Microsecond, 2*time.Millisecond)
	c.packet(a, tcpFIN|tcpACK, c.next[a], nil)
	c.next[a]++
	c.owe[a] = false
	c.wait(b)
	c.packet(b, tcpFIN|tcpACK, c.next[b], nil)
	c.next[b]++
	c.owe[b] = false
	c.wait(a)
	c.packet(a, tcpACK, c.next[a], nil)
	c.dead = true
}

// Reset aborts the connection with RST/ACK from the client (fromClient) or
// from the server.
func (c *Conn) Reset(fromClient bool) {
	if c.dead || !c.w.ok() {
		return
	}
	side := serverSide
	if fromClient {
		side = clientSide
	}
	c.w.advance(100*time.Microsecond, 2*time.Millisecond)
	c.packet(side, tcpRST|tcpACK, c.next[side], nil)
	c.dead = true
}

// wait advances the clock until side would answer a packet from its peer,
// as seen by a sensor next to the client: a round trip when the server
// answers, a moment when the client does.
func (c *Conn) wait(side int) {
	if side == serverSide {
		c.w.Sleep(c.rtt)
		c.w.advance(50*time.Microsecond, 1500*time.Microsecond)
		return
	}
	c.w.advance(40*time.Microsecond, 600*time.Microsecond)
}

type segment struct {
	seq  uint32
	data []byte
}

// send writes one application write of side.
func (c *Conn) send(side int, data []byte) {
	if c.dead || len(data) == 0 || !c.w.ok() {
		return
	}
	peer := 1 - side
	w := c.w
	if c.w.record {
		c.sent[side] = append(c.sent[side], data...)
	}
	switch {
	case c.last == -1:
		w.advance(20*time.Microsecond, 400*time.Microsecond)
	case c.last != side:
		c.wait(side)
	default:
		// A second write in a row: the peer's delayed ACK for the first.
		w.advance(100*time.Microsecond, 900*time.Microsecond)
		if c.owe[peer] {
			c.packet(peer, tcpACK, c.next[peer], nil)
			c.owe[peer] = false
			w.advance(20*time.Microsecond, 300*time.Microsecond)
		}
	}
	c.last = side
	c.owe[side] = false // every segment carries the ACK

	var segs []segment
	for off := 0; off < len(data); off += c.mss {
		end := min(off+c.mss, len(data))
		segs = append(segs, segment{seq: c.next[side] + uint32(off), data: data[off:end:end]})
	}
	start := c.next[side]
	c.next[side] += uint32(len(data))
	base := c.seg
	c.seg += len(segs)

	order := make([]int, 0, len(segs))
	for i := 0; i < len(segs); i++ {
		if c.imp.reorder[base+i] && i+1 < len(segs) {
			order = append(order, i+1, i)
			i++
			continue
		}
		order = append(order, i)
	}
	delivered := make([]bool, len(segs))
	prefix := 0 // segments [0, prefix) delivered
	for k, i := range order {
		if k > 0 {
			w.advance(10*time.Microsecond, 60*time.Microsecond)
		}
		s := segs[i]
		gi := base + i
		flags := tcpACK
		if i == len(segs)-1 {
			flags |= tcpPSH
		}
		if !c.imp.drop[gi] {
			c.packet(side, flags, s.seq, s.data)
			p := c.prev[side]
			if i > 0 {
				p = segs[i-1].data
			}
			if c.imp.overlap[gi] && len(p) > 0 {
				tail := p[len(p)/2:]
				ov := make([]byte, 0, len(tail)+len(s.data))
				ov = append(append(ov, tail...), s.data...)
				w.advance(200*time.Microsecond, 2*time.Millisecond)
				c.packet(side, flags, s.seq-uint32(len(tail)), ov)
			}
			if c.imp.retransmit[gi] {
				w.Sleep(200*time.Millisecond + c.rtt)
				c.packet(side, flags, s.seq, s.data)
			}
		}
		delivered[i] = true
		for prefix < len(segs) && delivered[prefix] {
			prefix++
		}
		if k%2 == 1 {
			// The receiver acknowledges every second segment at once.
			w.advance(5*time.Microsecond, 40*time.Microsecond)
			ack := start + uint32(len(data))
			if prefix < len(segs) {
				ack = segs[prefix].seq
			}
			c.ackPacket(peer, ack)
		}
	}
	c.owe[peer] = len(order)%2 == 1
	c.prev[side] = segs[len(segs)-1].data
}

// TCP flags.
const (
	tcpFIN = 1 << iota
	tcpSYN
	tcpRST
	tcpPSH
	tcpACK
)

// syn writes a SYN (or SYN/ACK) with the usual options.
func (c *Conn) syn(side int, ack bool) {
	flags := tcpSYN
	if ack {
		flags |= tcpACK
	}
	mss := make([]byte, 2)
	binary.BigEndian.PutUint16(mss, uint16(c.mss))
	opts := []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: mss},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindSACKPermitted},
	}
	win := uint16(64240)
	if side == serverSide {
		win = 65160
	}
	c.write(side, flags, c.next[side], c.next[1-side], win, opts, nil)
}

// packet writes a segment from side with the current acknowledgment.
func (c *Conn) packet(side, flags int, seq uint32, data []byte) {
	c.write(side, flags, seq, c.next[1-side], c.win[side], nil, data)
}

// ackPacket writes a pure ACK from side acknowledging up to ack.
func (c *Conn) ackPacket(side int, ack uint32) {
	c.write(side, tcpACK, c.next[side], ack, c.win[side], nil, nil)
}

func (c *Conn) write(side, flags int, seq, ack uint32, win uint16, opts []layers.TCPOption, data []byte) {
	src, dst := c.ep[side], c.ep[1-side]
	t := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Window: win, Options: opts,
		FIN: flags&tcpFIN != 0, SYN: flags&tcpSYN != 0, RST: flags&tcpRST != 0,
		PSH: flags&tcpPSH != 0, ACK: flags&tcpACK != 0,
	}
	if t.ACK {
		t.Ack = ack
	}
	c.w.sendIP(c.e, ipSpec{src: src.Addr(), dst: dst.Addr(), proto: layers.IPProtocolTCP, l4: t, payload: data, df: true})
}

// sentData returns what the client (fromClient) or server has sent so far;
// it is recorded only by writers used in this package's tests.
func (c *Conn) sentData(fromClient bool) []byte {
	if fromClient {
		return slices.Clone(c.sent[clientSide])
	}
	return slices.Clone(c.sent[serverSide])
}
