package smtp

import (
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// cmdKind classifies a command waiting for its reply.
type cmdKind uint8

const (
	kindOther cmdKind = iota
	kindConnect
	kindHelo
	kindEhlo
	kindMail
	kindRcpt
	kindData
	kindEOD
	kindBDAT
	kindAuth
	kindAuthCont
	kindStartTLS
	kindRset
	kindQuit
)

// pending is a command waiting for its reply.
type pending struct {
	seq  uint64
	kind cmdKind
	verb string // Reply.Command of the reply
	tx   *txn   // the transaction the command belongs to, if any
	rcpt int    // RCPT: index in tx.m.Recipients, -1 if not kept
	last bool   // BDAT ... LAST
	// bound: RSET resets the transactions with a smaller index.
	bound int
	// resolved: the barrier this command set was already resolved (by
	// assumption or by a 354 out of order); its reply changes no mode.
	resolved bool
}

// txn is one mail transaction until its message is emitted.
type txn struct {
	m       *event.Message // nil once emitted
	flags   flagSet
	closed  bool // no further command attaches to it
	emitted bool
	hdrDone bool // the header block has been parsed
	ready   bool // nothing can change it any more; emitted in index order
	refs    int  // pending commands that belong to it
	// rcptOK counts RCPT commands the server accepted (kept or not);
	// rcptFail is the last RCPT refusal (4xx/5xx), if any.
	rcptOK   int
	rcptFail *event.Reply
}

// alive reports whether t exists and has not been emitted; only then may
// t.m be read or written.
func alive(t *txn) bool { return t != nil && !t.emitted }

func touch(t *txn, ts time.Time) {
	if alive(t) && ts.After(t.m.End) {
		t.m.End = ts
	}
}

// push queues a command for its reply and returns its sequence number.
// Past MaxPipeline the oldest command is given up.
func (c *Conn) push(p pending) uint64 {
	if len(c.q)-c.qh >= c.cfg.MaxPipeline {
		old := c.q[c.qh]
		c.q[c.qh] = pending{}
		c.qh++
		if old.kind != kindConnect {
			c.stats.UnansweredCommands++
		}
		c.stats.PipelineOverflows++
		c.flags |= flagPipelineOverflow
		if old.tx != nil {
			old.tx.refs--
			c.maybeEmit(old.tx)
		}
	}
	if c.qh > 0 && c.qh >= len(c.q)/2 {
		n := copy(c.q, c.q[c.qh:])
		clear(c.q[n:])
		c.q, c.qh = c.q[:n], 0
	}
	c.seq++
	p.seq = c.seq
	if p.tx != nil {
		p.tx.refs++
	}
	c.q = append(c.q, p)
	return p.seq
}

// pop takes the oldest command waiting for a reply.
func (c *Conn) pop() (pending, bool) {
	if c.qh == len(c.q) {
		return pending{}, false
	}
	p := c.q[c.qh]
	c.q[c.qh] = pending{}
	c.qh++
	if c.qh == len(c.q) {
		c.q, c.qh = c.q[:0], 0
	}
	return p, true
}

// find returns the waiting command with sequence number seq, or nil.
// Waiting commands hold consecutive sequence numbers.
func (c *Conn) find(seq uint64) *pending {
	if c.qh == len(c.q) {
		return nil
	}
	first := c.q[c.qh].seq
	if seq < first || seq-first >= uint64(len(c.q)-c.qh) {
		return nil
	}
	return &c.q[c.qh+int(seq-first)]
}

// openTxn returns the transaction new RCPT, DATA and BDAT commands attach
// to, or nil.
func (c *Conn) openTxn(ts time.Time) *txn {
	if t := c.cur; alive(t) && !t.closed {
		touch(t, ts)
		return t
	}
	return nil
}

// startTxn begins the transaction of a MAIL command.
func (c *Conn) startTxn(from string, params []string, ts time.Time) *txn {
	if t := c.cur; alive(t) && !t.closed && t.m.Complete {
		// A new MAIL after the end of data ends the transaction.
		c.closeTxn(t)
	}
	if c.noServer() {
		// No reply will settle the open transactions.
		for _, o := range slices.Clone(c.txns) {
			c.closeTxn(o)
		}
	}
	t := &txn{m: &event.Message{
		Index:      c.next,
		Start:      ts,
		End:        ts,
		Helo:       c.helo,
		MailFrom:   from,
		MailParams: params,
	}}
	c.next++
	c.messages++
	c.stats.Transactions++
	c.txns = append(c.txns, t)
	c.cur = t
	open := 0
	for i := len(c.txns) - 1; i >= 0; i-- {
		if o := c.txns[i]; !o.closed {
			if open++; open > maxOpenTxns {
				c.closeTxn(o)
			}
		}
	}
	return t
}

// closeTxn ends a transaction: no further command attaches to it. One that
// never completed its data, with no other outcome, was aborted.
func (c *Conn) closeTxn(t *txn) {
	if !alive(t) || t.closed {
		return
	}
	t.closed = true
	if t.m.Outcome == "" && !t.m.Complete {
		settleUnsent(t)
	}
	c.maybeEmit(t)
}

// settleUnsent gives the outcome of a transaction that ended before its
// data: when the server refused every recipient, the message was refused
// (a DNSBL listing, an unknown user), and the last refusal is its final
// reply ("the failing command that ended the transaction"); otherwise
// the client gave up: aborted. It reports whether it was a refusal.
func settleUnsent(t *txn) bool {
	if t.rcptOK == 0 && t.rcptFail != nil {
		final(t, t.rcptFail)
		return true
	}
	t.m.Outcome = event.OutcomeAborted
	return false
}

// final records the reply that settles a transaction.
func final(t *txn, r *event.Reply) {
	rr := *r
	t.m.Final = &rr
	t.m.Outcome = outcome(r.Code)
}

func outcome(code int) string {
	switch code / 100 {
	case 2:
		return event.OutcomeAccepted
	case 4:
		return event.OutcomeTempFail
	case 5:
		return event.OutcomeRejected
	}
	return event.OutcomeUnknown
}

// resetTxns ends the transactions with an index below bound (RSET).
func (c *Conn) resetTxns(bound int) {
	for _, t := range slices.Clone(c.txns) {
		if alive(t) && t.m.Index < bound {
			c.closeTxn(t)
		}
	}
	if t := c.cur; t != nil && (!alive(t) || t.m.Index < bound) {
		c.cur = nil
	}
}

// nested handles a MAIL rejected with 503 while an earlier transaction is
// still open: the commands after it belong to the earlier transaction.
func (c *Conn) nested(t *txn) {
	var o *txn
	for _, x := range c.txns {
		if alive(x) && !x.closed && x.m.Index < t.m.Index {
			o = x
		}
	}
	if o == nil {
		return
	}
	for i := c.qh; i < len(c.q); i++ {
		if c.q[i].tx == t {
			c.q[i].tx = o
			t.refs--
			o.refs++
		}
	}
	if c.bar != nil && c.bar.tx == t {
		c.bar.tx = o
	}
	if c.dtx == t {
		c.dtx = o
	}
	if c.hdr.target == t {
		c.hdr.target = o
	}
	if c.cur == t {
		c.cur = o
	}
}

// maybeEmit marks t ready when nothing more can change it (it is closed,
// no data is flowing into it and no command of it waits for a reply,
// unless no server side is captured), then emits the ready messages in
// index order: a message waits for the earlier ones.
func (c *Conn) maybeEmit(t *txn) {
	if !alive(t) || t.ready || !t.closed || t == c.dtx {
		return
	}
	if t.refs > 0 && !c.noServer() {
		return
	}
	t.ready = true
	for len(c.txns) > 0 && c.txns[0].ready {
		c.emitTxn(c.txns[0])
	}
}

// emitTxn finishes a transaction's message and passes it to emit.
func (c *Conn) emitTxn(t *txn) {
	if !alive(t) {
		return
	}
	if c.hdr.target == t {
		c.hdr.finish()
	}
	if c.dtx == t {
		c.dtx = nil
	}
	m := t.m
	if m.Outcome == "" {
		if m.Complete {
			m.Outcome = event.OutcomeUnknown
		} else {
			settleUnsent(t)
		}
	}
	if t.flags != 0 {
		m.Flags = t.flags.appendTo(nil)
	}
	t.emitted, t.m = true, nil
	if i := slices.Index(c.txns, t); i >= 0 {
		c.txns = slices.Delete(c.txns, i, i+1)
	}
	if c.cur == t {
		c.cur = nil
	}
	c.stats.MessagesEmitted++
	c.emit(m)
}
