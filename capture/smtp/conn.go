package smtp

import (
	"maps"
	"mime"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// clientMode says how the client's next bytes are read.
type clientMode uint8

const (
	modeCommand   clientMode = iota // command lines
	modeBody                        // DATA message body up to the "." line
	modeChunk                       // BDAT chunk data, counted in bytes
	modeAuthResp                    // the next line answers a 334 challenge
	modeAuthGuess                   // AUTH assumed: lines until one looks like a command
)

// sniffMode says whether the next bytes of a direction are checked for TLS
// after STARTTLS.
type sniffMode uint8

const (
	sniffNone     sniffMode = iota
	sniffAccepted           // the server answered STARTTLS with 2xx
	sniffAssumed            // the answer was assumed
)

// maxMarks bounds the time and gap marks kept with held client bytes.
const maxMarks = 64

// maxOpenTxns bounds the transactions still open (waiting for the reply
// that settles them) at once; past it the oldest is closed.
const maxOpenTxns = 8

// heldMark records that the held client bytes up to end arrived at ts,
// and whether a gap followed them.
type heldMark struct {
	end    int
	ts     time.Time
	gap    bool
	gapLen int
}

// Conn parses the SMTP dialogue of one TCP connection. It is not safe for
// concurrent use. Data, Gap and Close must be called in packet-time order;
// Fill and Stats may be called at any time, Fill normally after Close.
type Conn struct {
	cfg   Config
	opt   Options
	emit  func(*event.Message)
	stats Stats
	dec   mime.WordDecoder

	closed      bool
	stopped     bool // TLS: nothing more is parsed
	tls         event.TLSMode
	flags       flagSet
	clientBytes uint64
	serverBytes uint64

	// Server side.
	sl     lineReader
	sGap   bool // the current server line follows a gap
	rep    replyAcc
	ssniff bool // check the server's next bytes for TLS

	// Client side.
	cl     lineReader
	cGap   bool // the current client line follows a gap
	mode   clientMode
	csniff sniffMode
	paused bool     // waiting for the reply to the barrier command
	bar    *pending // the barrier command (a copy)
	held   []byte   // client bytes held while paused
	marks  []heldMark

	// Message data (body or chunk) in progress.
	dtx       *txn
	bl        int64   // bytes of the current body line so far
	pre       [2]byte // its first two bytes
	chunkLeft int64
	chunkLast bool
	hdr       headerCollector

	// Commands waiting for their reply, oldest first.
	q    []pending
	qh   int
	seq  uint64
	txns []*txn // transactions not yet emitted, by index
	cur  *txn   // the most recent MAIL's transaction
	next int    // index of the next transaction

	// Session facts.
	greeted  bool
	banner   string
	heloVerb string
	helo     string
	exts     []string
	auth     *event.Auth
	commands map[string]int
	replies  []event.Reply
	messages int
}

// NewConn returns a parser for one connection. emit is called
// synchronously for each finished transaction; the Message is owned by the
// receiver after the call. A nil emit discards messages. Bounds of cfg
// that are not positive are replaced by their defaults.
func NewConn(cfg Config, opt Options, emit func(*event.Message)) *Conn {
	if emit == nil {
		emit = func(*event.Message) {}
	}
	cfg = cfg.sanitized()
	c := &Conn{cfg: cfg, opt: opt, emit: emit}
	c.sl.max, c.cl.max = cfg.MaxLineBytes, cfg.MaxLineBytes
	c.hdr.init(c)
	if !opt.Midstream {
		// The first reply of a connection is the greeting.
		c.push(pending{kind: kindConnect, verb: "CONNECT"})
	}
	return c
}

// Data passes the next bytes of one direction. b is not retained.
func (c *Conn) Data(fromClient bool, b []byte, ts time.Time) {
	if len(b) == 0 {
		return
	}
	if c.closed {
		c.stats.AfterClose += uint64(len(b))
		return
	}
	var first bool
	if fromClient {
		first = c.clientBytes == 0
		c.clientBytes += uint64(len(b))
	} else {
		first = c.serverBytes == 0
		c.serverBytes += uint64(len(b))
	}
	if c.stopped {
		c.stats.TLSBytesSkipped += uint64(len(b))
		return
	}
	if first && c.implicitTLS(fromClient, b[0]) {
		c.startImplicitTLS()
		c.stats.TLSBytesSkipped += uint64(len(b))
		return
	}
	if fromClient {
		c.feedClient(b, ts)
	} else {
		c.feedServer(b, ts)
	}
}

// implicitTLS decides from the first byte of a direction whether the
// connection speaks TLS from the start: on an implicit-TLS port when the
// byte cannot start SMTP text; elsewhere when it is a TLS record type sent
// by the client before any greeting, or by either side of a connection
// joined midstream.
func (c *Conn) implicitTLS(fromClient bool, b byte) bool {
	if c.opt.ImplicitTLS && !isText(b) {
		return true
	}
	return isTLSRecord(b) && (fromClient && !c.greeted || c.opt.Midstream)
}

// startImplicitTLS stops parsing for good. A cleartext greeting parsed
// before the client's TLS handshake belonged to a TLS session (a server
// speaking cleartext on a TLS port) and is discarded.
func (c *Conn) startImplicitTLS() {
	if len(c.replies) > 0 || c.greeted {
		c.flags |= flagCleartextGreeting
	}
	c.tls = event.TLSImplicit
	c.stats.RepliesDropped += uint64(len(c.replies))
	c.replies, c.banner, c.greeted, c.exts = nil, "", false, nil
	c.stats.TLSBytesSkipped += uint64(len(c.held))
	c.stopTLS()
}

// stopTLS stops parsing both directions: what follows is TLS. Held client
// bytes are dropped; the caller counts them.
func (c *Conn) stopTLS() {
	c.stopped = true
	c.held, c.marks, c.paused, c.bar = nil, nil, false, nil
	c.cl.reset()
	c.sl.reset()
	c.rep.reset()
}

// Gap reports that n bytes of one direction were lost (n <= 0: unknown
// size). No data is invented: the parser resynchronises at the next line.
func (c *Conn) Gap(fromClient bool, n int, ts time.Time) {
	if c.closed {
		return
	}
	c.stats.Gaps++
	c.flags |= flagGap
	if c.stopped {
		return
	}
	if !fromClient {
		c.serverGap()
		return
	}
	for c.paused {
		if c.holdGap(n, ts) {
			return
		}
		c.stats.PendingOverflows++
		c.assume()
	}
	c.clientGap(n, ts)
}

// Close ends the connection: pending barriers are resolved by assumption,
// partial replies finished and open transactions emitted. It may be called
// more than once.
func (c *Conn) Close(ts time.Time) {
	if c.closed {
		return
	}
	if !c.stopped {
		for c.paused && (len(c.held) > 0 || len(c.marks) > 0) {
			c.assume()
		}
		c.closeClient(ts)
		if c.sl.partial() > 0 {
			line := c.sl.held()
			tooLong := c.sl.overflow
			c.serverLine(line, tooLong, ts)
			c.sl.reset()
		}
		if c.rep.active {
			c.stats.UnterminatedReplies++
			c.flags |= flagReplyUnterminated
			c.finishReply(ts)
		}
	}
	c.closed = true
	for c.qh < len(c.q) {
		p := c.q[c.qh]
		c.qh++
		if p.kind != kindConnect {
			c.stats.UnansweredCommands++
		}
		if p.tx != nil {
			p.tx.refs--
		}
	}
	c.q, c.qh = nil, 0
	for _, t := range slices.Clone(c.txns) {
		if !t.closed {
			t.closed = true
			if t.m.Outcome == "" && !t.m.Complete && !settleUnsent(t) {
				t.flags |= flagIncomplete
			}
		}
		t.ready = true
	}
	for len(c.txns) > 0 {
		c.emitTxn(c.txns[0])
	}
}

// closeClient settles the client side at Close.
func (c *Conn) closeClient(ts time.Time) {
	switch c.mode {
	case modeBody:
		if c.bl > 0 {
			c.addSize(c.dtx, c.bl-c.unstuffed())
		}
		c.endData()
	case modeChunk:
		c.endData()
	default:
		if c.cl.partial() > 0 {
			c.stats.PartialLines++
			c.stats.ResyncBytes += uint64(c.cl.reset())
		}
	}
	c.bl = 0
}

// Fill writes the SMTP fields of s: TLS, Banner, HeloVerb, Helo,
// Extensions, Auth, Commands, Messages and Replies, and appends its flags
// to s.Flags (sorted, without duplicates).
func (c *Conn) Fill(s *event.Session) {
	s.TLS = c.tls
	s.Banner = c.banner
	s.HeloVerb = c.heloVerb
	s.Helo = c.helo
	s.Extensions = slices.Clone(c.exts)
	s.Auth = nil
	if c.auth != nil {
		a := *c.auth
		s.Auth = &a
	}
	s.Commands = maps.Clone(c.commands)
	s.Messages = c.messages
	s.Replies = slices.Clone(c.replies)
	f := c.flags
	if c.clientBytes > 0 && c.serverBytes == 0 {
		f |= flagClientOnly
	}
	if c.serverBytes > 0 && c.clientBytes == 0 {
		f |= flagServerOnly
	}
	if f != 0 || len(s.Flags) > 0 {
		s.Flags = f.appendTo(s.Flags)
	}
}

// Stats returns the counters of this connection.
func (c *Conn) Stats() Stats { return c.stats }

// noServer reports a capture of the client side only: a connection seen
// from its start whose server has not sent a byte.
func (c *Conn) noServer() bool { return c.serverBytes == 0 && !c.opt.Midstream }

// buffered returns the bytes held in the connection's buffers, for tests
// of the memory bounds.
func (c *Conn) buffered() int {
	return len(c.held) + len(c.cl.buf) + len(c.sl.buf) + len(c.rep.text) + len(c.hdr.buf) + len(c.hdr.line)
}
