package capture

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mxwatch/mxwatch/capture/defrag"
	"github.com/mxwatch/mxwatch/capture/dns"
	"github.com/mxwatch/mxwatch/capture/smtp"
	"github.com/mxwatch/mxwatch/event"
)

// sweepInterval is how often, in packet time, idle flows, fragments and
// unanswered queries are expired.
const sweepInterval = time.Second

// Engine turns packets into events: it decodes and filters packets,
// reassembles IP fragments and TCP streams, and runs the SMTP and DNS
// parsers. It is not safe for concurrent use: one goroutine feeds it the
// packets of a capture in order, and emit is called on that goroutine.
//
// Time is packet time only: a replay of the same capture gives the same
// events.
type Engine struct {
	cfg         Config
	filter      Filter
	snapshot    atomic.Pointer[Stats] // published by Run
	frag        *defrag.Defragmenter
	flows       *flowTable
	dns         *dns.Tracker
	emit        func(event.Event)
	implicitTLS portSet
	dnsPorts    portSet

	pkt       Packet
	now       time.Time // newest packet time the engine was told of
	lastSweep time.Time
	stats     Stats // the engine's own counters; Stats adds the filter's
}

// Stats is a snapshot of the engine's counters: what each stage kept and
// dropped, and why.
type Stats struct {
	Packets uint64 // packets given to the engine
	Bytes   uint64 // their captured bytes
	// Verdicts counts packets and bytes by the decoder's verdict; index
	// with a Verdict. Fragments are counted again under the verdict of the
	// reassembled datagram.
	Verdicts [numVerdicts]Counter
	// TimeBackwards counts packets older than the newest packet before them.
	TimeBackwards uint64
	First, Last   time.Time

	TCP    TCPStats
	Defrag defrag.Stats
	DNS    dns.Stats
	SMTP   smtp.Stats

	Sessions   uint64 // session events emitted
	Messages   uint64 // message events emitted
	DNSAnswers uint64 // dns events emitted
}

// Counter is a number of packets and their bytes.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Verdict returns the counter of one verdict.
func (s *Stats) Verdict(v Verdict) Counter { return s.Verdicts[v] }

// NewEngine returns an engine that passes the events it makes to emit.
func NewEngine(cfg Config, emit func(event.Event)) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	frag, err := defrag.New(cfg.Defrag)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	e := &Engine{
		cfg:         cfg,
		filter:      Filter{dec: newDecoder(&cfg)},
		frag:        frag,
		emit:        emit,
		implicitTLS: newPortSet(cfg.ImplicitTLSPorts),
		dnsPorts:    newPortSet(cfg.DNSPorts),
	}
	e.dns, err = dns.NewTracker(cfg.DNS, e.emitDNS)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	e.flows = newFlowTable(cfg.TCP, newPortSet(cfg.MailPorts, cfg.DNSPorts), e.openFlow, e.closeFlow)
	return e, nil
}

// Packet processes one captured frame of the given link type. It is the
// single-goroutine form of Run: the filter and the rest of the engine run
// on the caller's goroutine.
func (e *Engine) Packet(link uint32, data []byte, ts time.Time) {
	p := &e.pkt
	if v := e.filter.Decode(link, data, ts, p); v == Keep || v == Fragment {
		e.Handle(p, v, ts, e.filter.stats.Last)
	}
}

// Handle processes a packet that the filter kept (Keep) or that is an IP
// fragment (Fragment). now is the newest packet time the filter has seen,
// dropped packets included: expiry (idle flows, reorder waits, fragments,
// unanswered queries) runs on it, so that the result is the same whether
// the filter runs on this goroutine or another.
func (e *Engine) Handle(p *Packet, v Verdict, ts, now time.Time) {
	e.Advance(now)
	if v == Fragment {
		if v = e.defragment(p, ts); v == Fragment {
			return // datagram incomplete
		}
		c := &e.stats.Verdicts[v]
		c.Packets++
		c.Bytes += uint64(len(p.Payload))
		if v != Keep {
			return
		}
	}
	switch p.Proto {
	case ipProtoTCP:
		e.flows.packet(p, ts)
	case ipProtoUDP:
		e.dns.Message(p.Payload, dns.Meta{
			Time:      ts,
			Src:       netip.AddrPortFrom(p.Src, p.SrcPort),
			Dst:       netip.AddrPortFrom(p.Dst, p.DstPort),
			Scope:     p.scope,
			VLANs:     p.VLANs[:p.NVLAN],
			Transport: "udp",
		})
	}
}

// Advance tells the engine that packet time has reached now, and expires
// what is due (at most once per second of packet time).
func (e *Engine) Advance(now time.Time) {
	switch {
	case e.now.IsZero():
		e.now, e.lastSweep = now, now
	case now.After(e.now):
		e.now = now
		if e.now.Sub(e.lastSweep) >= sweepInterval {
			e.sweep()
		}
	}
}

// defragment adds a fragment and, when its datagram is complete, decodes
// the transport layer of the whole datagram into p.
func (e *Engine) defragment(p *Packet, ts time.Time) Verdict {
	switch p.Proto {
	case ipProtoTCP, ipProtoUDP, ipProtoGRE, ipProtoIPIP, ipProtoIPv6:
	default:
		return DropProto
	}
	k := defrag.Key{Scope: p.scope, Src: p.Src, Dst: p.Dst, ID: p.FragID, Proto: p.Proto}
	b, ok := e.frag.Add(k, p.FragOffset, p.FragMore, p.Payload, ts)
	if !ok {
		return Fragment
	}
	return e.filter.dec.transport(p.Proto, b, p, 1)
}

func (e *Engine) sweep() {
	e.lastSweep = e.now
	e.flows.sweep(e.now)
	e.frag.Expire(e.now)
	e.dns.Expire(e.now)
}

// Close ends the input: open connections are closed and their events
// emitted, unanswered queries are counted.
func (e *Engine) Close() {
	e.Advance(e.filter.stats.Last)
	e.flows.closeAll()
	e.dns.Close()
}

// Stats returns a snapshot of the counters. It must not be called while
// Run is running.
func (e *Engine) Stats() Stats { return e.compose(&e.filter.stats) }

// compose joins the engine's counters with the filter's f.
func (e *Engine) compose(f *FilterStats) Stats {
	s := e.stats
	s.Packets, s.Bytes, s.TimeBackwards, s.First, s.Last = f.Packets, f.Bytes, f.TimeBackwards, f.First, f.Last
	for v := range s.Verdicts {
		s.Verdicts[v].Packets += f.Verdicts[v].Packets
		s.Verdicts[v].Bytes += f.Verdicts[v].Bytes
	}
	s.TCP = e.flows.snapshot()
	s.Defrag = e.frag.Stats()
	s.DNS = e.dns.Stats()
	return s
}

// openFlow attaches the protocol handler to a new TCP connection.
func (e *Engine) openFlow(f *flow) {
	if e.dnsPorts.has(f.server.Port()) {
		ds := &dnsStream{e: e, f: f, framer: [2]*dns.Framer{e.dns.NewFramer(), e.dns.NewFramer()}}
		if f.midstream {
			// Joined late: the stream does not start at a length prefix.
			ds.framer[dirClient].Gap()
			ds.framer[dirServer].Gap()
		}
		f.handler = ds
		return
	}
	f.id = e.id(event.KindSession, f.client, f.server, f.start, 0, "")
	f.handler = &mailStream{e: e, f: f}
}

// mailStream is the handler of a mail connection. It creates the SMTP
// parser (about 1 KB) at the first byte or gap: the connections of a SYN
// flood, which never carry data, do not pay for one while they wait in
// the table.
type mailStream struct {
	e    *Engine
	f    *flow
	conn *smtp.Conn
}

func (m *mailStream) parser() *smtp.Conn {
	if m.conn == nil {
		m.conn = m.e.newSMTP(m.f)
	}
	return m.conn
}

func (m *mailStream) Data(fromClient bool, b []byte, ts time.Time) {
	m.parser().Data(fromClient, b, ts)
}
func (m *mailStream) Gap(fromClient bool, n int, ts time.Time) { m.parser().Gap(fromClient, n, ts) }
func (m *mailStream) Close(ts time.Time) {
	if m.conn != nil {
		m.conn.Close(ts)
	}
}

// newSMTP returns the SMTP parser of mail connection f.
func (e *Engine) newSMTP(f *flow) *smtp.Conn {
	id, vlans, sensor := f.id, f.vlans, e.cfg.Sensor
	return smtp.NewConn(e.cfg.SMTP, smtp.Options{
		ImplicitTLS: e.implicitTLS.has(f.server.Port()),
		Midstream:   f.midstream,
	}, func(m *event.Message) {
		m.Kind, m.Version = event.KindMessage, event.SchemaVersion
		m.ID = fmt.Sprintf("%s-%d", id, m.Index)
		m.Sensor, m.Session = sensor, id
		m.Client, m.Server, m.VLANs = f.client, f.server, vlans
		e.stats.Messages++
		e.emit(m)
	})
}

// closeFlow emits the session event of a finished mail connection.
func (e *Engine) closeFlow(f *flow, reason event.CloseReason) {
	ms, ok := f.handler.(*mailStream)
	if !ok {
		return // DNS over TCP makes no session event
	}
	// A connection without a byte still gets its session event, filled
	// by a parser that saw nothing (so that it reads exactly as before).
	conn := ms.parser()
	s := &event.Session{
		Kind:            event.KindSession,
		Version:         event.SchemaVersion,
		ID:              f.id,
		Sensor:          e.cfg.Sensor,
		Start:           f.start,
		End:             f.last,
		Client:          f.client,
		Server:          f.server,
		VLANs:           f.vlans,
		Tunnel:          f.tunnel,
		Handshake:       f.handshake(),
		Close:           reason,
		SYNs:            f.syns,
		BytesToServer:   f.dir[dirClient].bytes,
		BytesToClient:   f.dir[dirServer].bytes,
		PacketsToServer: f.dir[dirClient].packets,
		PacketsToClient: f.dir[dirServer].packets,
		Gaps:            f.gaps,
		GapBytes:        f.gapBytes,
	}
	if !f.synTime.IsZero() && f.synAck {
		s.ConnectRTT = f.synAckTime.Sub(f.synTime)
	}
	conn.Fill(s)
	e.stats.SMTP.Add(conn.Stats())
	e.stats.Sessions++
	e.emit(s)
}

func (e *Engine) emitDNS(d *event.DNS) {
	d.Kind, d.Version, d.Sensor = event.KindDNS, event.SchemaVersion, e.cfg.Sensor
	d.ID = e.id(event.KindDNS, d.Client, d.Server, d.Time, uint64(d.TxID), d.QName+"/"+d.QType)
	e.stats.DNSAnswers++
	e.emit(d)
}

// id derives a deterministic event id, so that replaying a capture (or
// re-delivering its events) yields the same ids.
func (e *Engine) id(kind event.Kind, client, server netip.AddrPort, t time.Time, extra uint64, name string) string {
	h := sha256.New()
	h.Write([]byte(e.cfg.Sensor))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	b, _ := client.MarshalBinary()
	h.Write(b)
	b, _ = server.MarshalBinary()
	h.Write(b)
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(t.UnixNano()))
	binary.BigEndian.PutUint64(buf[8:], extra)
	h.Write(buf[:])
	h.Write([]byte(name))
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:12])
}

// dnsStream frames the two directions of a DNS-over-TCP connection.
type dnsStream struct {
	e      *Engine
	f      *flow
	framer [2]*dns.Framer
}

func (d *dnsStream) Data(fromClient bool, b []byte, ts time.Time) {
	dir := dirServer
	src, dst := d.f.server, d.f.client
	if fromClient {
		dir, src, dst = dirClient, d.f.client, d.f.server
	}
	d.framer[dir].Data(b, func(msg []byte) {
		d.e.dns.Message(msg, dns.Meta{
			Time:      ts,
			Src:       src,
			Dst:       dst,
			Scope:     d.f.key.scope,
			VLANs:     d.f.vlans,
			Transport: "tcp",
		})
	})
}

func (d *dnsStream) Gap(fromClient bool, _ int, _ time.Time) {
	if fromClient {
		d.framer[dirClient].Gap()
	} else {
		d.framer[dirServer].Gap()
	}
}

func (d *dnsStream) Close(time.Time) {
	d.framer[dirClient].Close()
	d.framer[dirServer].Close()
}
