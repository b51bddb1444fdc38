package smtp

import (
	"bytes"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// maxParams bounds the ESMTP parameters kept of one MAIL command.
const maxParams = 32

// maxHelo bounds the HELO/EHLO argument kept.
const maxHelo = 255

// maxMechanism bounds an AUTH mechanism name (RFC 4422: 20 characters).
const maxMechanism = 20

// feedClient passes client bytes to the parser, or holds them while the
// client side waits for the reply to DATA, AUTH or STARTTLS.
func (c *Conn) feedClient(b []byte, ts time.Time) {
	for len(b) > 0 && !c.stopped {
		if c.paused {
			if c.canHold(len(b)) {
				c.hold(b, ts)
				return
			}
			c.stats.PendingOverflows++
			c.assume()
			continue
		}
		b = b[c.runClient(b, ts):]
	}
	c.stats.TLSBytesSkipped += uint64(len(b))
}

func (c *Conn) canHold(n int) bool {
	if len(c.held)+n > c.cfg.MaxPendingBytes {
		return false
	}
	k := len(c.marks)
	return k < maxMarks || !c.marks[k-1].gap
}

// hold keeps client bytes, with their time, until the barrier is resolved.
func (c *Conn) hold(b []byte, ts time.Time) {
	c.held = append(c.held, b...)
	if k := len(c.marks); k > 0 && !c.marks[k-1].gap && (c.marks[k-1].ts.Equal(ts) || k == maxMarks) {
		c.marks[k-1].end, c.marks[k-1].ts = len(c.held), ts
		return
	}
	c.marks = append(c.marks, heldMark{end: len(c.held), ts: ts})
}

// holdGap records a client gap after the held bytes.
func (c *Conn) holdGap(n int, ts time.Time) bool {
	k := len(c.marks)
	if k == 0 {
		c.marks = append(c.marks, heldMark{end: len(c.held), ts: ts, gap: true, gapLen: n})
		return true
	}
	m := &c.marks[k-1]
	if m.gap && (m.gapLen <= 0 || n <= 0) {
		m.gapLen = 0 // unknown size
	} else {
		m.gapLen += n
	}
	m.gap = true
	return true
}

// pushBarrier queues a command whose reply decides how the client's next
// bytes are read, and pauses the client side until it arrives. With no
// server side captured the reply is assumed at once.
func (c *Conn) pushBarrier(p pending) {
	p.seq = c.push(p)
	if c.noServer() {
		c.stats.AssumedReplies++
		c.flags |= flagAssumedReply
		c.resolveAssumed(&p)
		return
	}
	c.paused, c.bar = true, &p
}

// assume resolves the barrier without its reply, then runs the held bytes.
func (c *Conn) assume() {
	b := c.bar
	c.paused, c.bar = false, nil
	c.stats.AssumedReplies++
	c.flags |= flagAssumedReply
	if b != nil {
		c.resolveAssumed(b)
	}
	c.drainHeld()
}

// resolveAssumed applies the assumed reply to a barrier command: DATA was
// accepted, AUTH responses are told from commands by their shape, and
// STARTTLS is decided by the client's next bytes.
func (c *Conn) resolveAssumed(b *pending) {
	tx := b.tx
	if e := c.find(b.seq); e != nil {
		e.resolved = true
		tx = e.tx
	}
	switch b.kind {
	case kindData:
		if alive(tx) {
			tx.flags |= flagAssumedReply
		}
		c.startBody(tx)
	case kindAuth, kindAuthCont:
		c.mode = modeAuthGuess
	case kindStartTLS:
		c.csniff = sniffAssumed
	}
}

// resolveReply applies the server's reply to a barrier command.
func (c *Conn) resolveReply(b *pending, code int) {
	c.paused, c.bar = false, nil
	switch b.kind {
	case kindData:
		if code == 354 {
			c.startBody(b.tx)
		}
	case kindAuth, kindAuthCont:
		if code/100 == 3 {
			c.mode = modeAuthResp
		} else {
			c.mode = modeCommand
		}
	case kindStartTLS:
		if code/100 == 2 {
			c.tls = event.TLSStartTLS
			c.csniff, c.ssniff = sniffAccepted, true
		}
	}
	c.drainHeld()
}

// drainHeld runs the held client bytes until they are used up or the
// client side pauses again.
func (c *Conn) drainHeld() {
	held, marks := c.held, c.marks
	start := 0
	for i, m := range marks {
		seg := held[start:m.end]
		n := c.runClient(seg, m.ts)
		if c.stopped {
			c.stats.TLSBytesSkipped += uint64(len(held) - start - n)
			return
		}
		if c.paused {
			rest := start + n
			if n == len(seg) && !m.gap {
				i++
			}
			k := copy(held, held[rest:])
			c.held = held[:k]
			k = copy(marks, marks[i:])
			c.marks = marks[:k]
			for j := range c.marks {
				c.marks[j].end -= rest
			}
			return
		}
		start = m.end
		if m.gap {
			c.clientGap(m.gapLen, m.ts)
		}
	}
	if cap(held) > 4096 {
		c.held, c.marks = nil, nil // do not keep a large buffer per idle connection
		return
	}
	c.held, c.marks = held[:0], marks[:0]
}

// runClient parses client bytes until they are used up or the client side
// pauses; it returns the number of bytes consumed.
func (c *Conn) runClient(b []byte, ts time.Time) int {
	i := 0
	for i < len(b) && !c.paused && !c.stopped {
		if c.csniff != sniffNone {
			m := c.csniff
			c.csniff = sniffNone
			if isTLSRecord(b[i]) {
				if m == sniffAssumed {
					c.tls = event.TLSStartTLS
				}
				c.stopTLS()
				return i
			}
			if m == sniffAccepted {
				c.flags |= flagCleartextAfterStartTLS
			}
		}
		switch c.mode {
		case modeBody:
			i += c.body(b[i:], ts)
		case modeChunk:
			i += c.chunk(b[i:], ts)
		default:
			n, line, tooLong, ok := c.cl.next(b[i:])
			i += n
			if ok {
				c.clientLine(line, tooLong, ts)
			}
		}
	}
	return i
}

// clientLine handles one complete client line outside message data.
func (c *Conn) clientLine(line []byte, tooLong bool, ts time.Time) {
	switch c.mode {
	case modeAuthResp:
		c.cGap = false
		c.mode = modeCommand
		c.stats.AuthLines++
		c.pushBarrier(pending{kind: kindAuthCont, verb: "AUTH"})
		return
	case modeAuthGuess:
		if !looksLikeCommand(line) {
			c.cGap = false
			c.stats.AuthLines++
			c.push(pending{kind: kindAuthCont, verb: "AUTH", resolved: true})
			return
		}
		c.mode = modeCommand
	}
	if c.cGap {
		c.cGap = false
		if !looksLikeCommand(line) {
			c.stats.GapResyncs++
			c.stats.ResyncBytes += uint64(len(line))
			return
		}
	}
	if tooLong {
		c.stats.LinesTooLong++
		c.flags |= flagLineTooLong
	}
	c.command(line, ts)
}

// looksLikeCommand reports whether line starts with a known verb followed
// by white space or the end of the line.
func looksLikeCommand(line []byte) bool {
	tok, _ := token(line)
	verb, _ := lookupVerb(tok)
	return verb != "OTHER"
}

// command handles one command line.
func (c *Conn) command(line []byte, ts time.Time) {
	if len(trimSpace(line)) == 0 {
		c.stats.EmptyLines++
		c.push(pending{kind: kindOther, verb: "OTHER"})
		return
	}
	tok, arg := token(line)
	verb, kind := lookupVerb(tok)
	c.stats.Commands++
	if c.commands == nil {
		c.commands = make(map[string]int)
	}
	c.commands[verb]++
	switch kind {
	case kindHelo, kindEhlo:
		c.heloVerb = verb
		c.helo = cut(string(trimSpace(arg)), maxHelo)
		c.push(pending{kind: kind, verb: verb})
	case kindMail:
		from, params, dropped := parsePath(arg, "FROM", maxParams)
		t := c.startTxn(from, params, ts)
		if dropped > 0 {
			c.stats.ParamsDropped += uint64(dropped)
			t.flags |= flagParamsTruncated
		}
		c.push(pending{kind: kindMail, verb: verb, tx: t})
	case kindRcpt:
		p := pending{kind: kindRcpt, verb: verb, tx: c.openTxn(ts), rcpt: -1}
		if t := p.tx; t != nil {
			if len(t.m.Recipients) < c.cfg.MaxRecipients {
				to, _, _ := parsePath(arg, "TO", 0)
				t.m.Recipients = append(t.m.Recipients, event.Recipient{Addr: to})
				p.rcpt = len(t.m.Recipients) - 1
			} else {
				t.m.RecipientsDropped++
				t.flags |= flagRecipientsTruncated
				c.stats.RecipientsDropped++
			}
		}
		c.push(p)
	case kindData:
		c.pushBarrier(pending{kind: kindData, verb: verb, tx: c.openTxn(ts)})
	case kindBDAT:
		c.bdat(arg, ts)
	case kindAuth:
		mech, _ := token(arg)
		c.auth = &event.Auth{Mechanism: mechanism(mech), Outcome: event.OutcomeUnknown}
		c.pushBarrier(pending{kind: kindAuth, verb: verb})
	case kindStartTLS:
		c.pushBarrier(pending{kind: kindStartTLS, verb: verb})
	case kindRset:
		c.push(pending{kind: kindRset, verb: verb, bound: c.next})
		if c.noServer() {
			c.resetTxns(c.next)
		}
	default:
		c.push(pending{kind: kind, verb: verb})
	}
}

// mechanism returns the upper-case SASL mechanism name, or "" when the
// token is not one. Nothing else of the AUTH command is kept.
func mechanism(tok []byte) string {
	if len(tok) == 0 || len(tok) > maxMechanism {
		return ""
	}
	var buf [maxMechanism]byte
	u := upperASCII(buf[:], tok)
	for _, ch := range u {
		if !('A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
			return ""
		}
	}
	return string(u)
}

// bdat handles "BDAT size [LAST]": the next size bytes are chunk data
// whatever the reply.
func (c *Conn) bdat(arg []byte, ts time.Time) {
	size, last, ok := parseBDAT(arg)
	if !ok {
		c.stats.BDATMalformed++
		c.flags |= flagBDATMalformed
		c.push(pending{kind: kindOther, verb: "BDAT"})
		return
	}
	t := c.openTxn(ts)
	if t != nil {
		t.m.Method = "BDAT"
	}
	c.push(pending{kind: kindBDAT, verb: "BDAT", tx: t, last: last})
	c.startData(t, false)
	c.mode, c.chunkLeft, c.chunkLast = modeChunk, size, last
	if size == 0 {
		c.chunkDone(ts)
	}
}

// parseBDAT parses the arguments of BDAT. Sizes of more than 18 digits are
// malformed.
func parseBDAT(arg []byte) (size int64, last, ok bool) {
	tok, rest := token(arg)
	if len(tok) == 0 || len(tok) > 18 {
		return 0, false, false
	}
	for _, ch := range tok {
		if ch < '0' || ch > '9' {
			return 0, false, false
		}
		size = size*10 + int64(ch-'0')
	}
	kw, _ := token(rest)
	return size, len(kw) == 4 && hasPrefixFold(kw, "LAST"), true
}

// startData directs message data to t and its header block to the header
// collector.
func (c *Conn) startData(t *txn, unstuff bool) {
	c.dtx = t
	if alive(t) {
		c.hdr.begin(t, unstuff)
	}
}

// startBody switches the client side to a DATA message body.
func (c *Conn) startBody(t *txn) {
	if alive(t) {
		t.m.Method = "DATA"
	}
	c.mode, c.bl = modeBody, 0
	c.startData(t, true)
}

// body consumes DATA message bytes up to and including the line "." and
// returns the number of bytes consumed.
func (c *Conn) body(b []byte, ts time.Time) int {
	t := c.dtx
	touch(t, ts)
	i := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		end := len(b)
		if j >= 0 {
			end = i + j + 1
		}
		seg := b[i:end]
		for k := 0; k < len(seg) && c.bl+int64(k) < 2; k++ {
			c.pre[c.bl+int64(k)] = seg[k]
		}
		c.bl += int64(len(seg))
		i = end
		if j < 0 {
			c.hdr.write(t, seg)
			break
		}
		if c.pre[0] == '.' && (c.bl == 2 || c.bl == 3 && c.pre[1] == '\r') {
			// End of data: ".\r\n" or ".\n".
			c.hdr.dropLine(t)
			c.bl = 0
			if alive(t) {
				t.m.Complete = true
			}
			c.push(pending{kind: kindEOD, verb: "EOD", tx: t})
			c.mode = modeCommand
			c.endData()
			return i
		}
		c.hdr.write(t, seg)
		c.addSize(t, c.bl-c.unstuffed())
		c.bl = 0
	}
	return i
}

// unstuffed returns 1 when the current body line starts with "..": one
// dot is not part of the message.
func (c *Conn) unstuffed() int64 {
	if c.bl >= 2 && c.pre[0] == '.' && c.pre[1] == '.' {
		return 1
	}
	return 0
}

func (c *Conn) addSize(t *txn, n int64) {
	if n <= 0 {
		return
	}
	c.stats.MessageBytes += uint64(n)
	if alive(t) {
		t.m.Size += n
	}
}

// chunk consumes BDAT chunk bytes and returns the number consumed.
func (c *Conn) chunk(b []byte, ts time.Time) int {
	n := len(b)
	if int64(n) > c.chunkLeft {
		n = int(c.chunkLeft)
	}
	t := c.dtx
	touch(t, ts)
	c.hdr.write(t, b[:n])
	c.addSize(t, int64(n))
	c.chunkLeft -= int64(n)
	if c.chunkLeft == 0 {
		c.chunkDone(ts)
	}
	return n
}

// chunkDone ends a BDAT chunk; the last one completes the message.
func (c *Conn) chunkDone(ts time.Time) {
	c.mode = modeCommand
	t := c.dtx
	touch(t, ts)
	if !c.chunkLast {
		c.dtx = nil // the header collector stays with t for the next chunk
		c.maybeEmit(t)
		return
	}
	if alive(t) {
		t.m.Complete = true
	}
	c.endData()
}

// endData ends the data of the current transaction.
func (c *Conn) endData() {
	t := c.dtx
	c.dtx = nil
	if c.hdr.target == t && t != nil {
		c.hdr.finish()
	}
	c.maybeEmit(t)
}

// clientGap handles n lost client bytes (n <= 0: unknown).
func (c *Conn) clientGap(n int, ts time.Time) {
	switch c.mode {
	case modeBody:
		t := c.dtx
		if alive(t) {
			t.flags |= flagGap
		}
		c.hdr.gap(t)
		c.addSize(t, c.bl+int64(max(n, 0)))
		c.bl = 0
	case modeChunk:
		t := c.dtx
		if alive(t) {
			t.flags |= flagGap
		}
		c.hdr.gap(t)
		switch {
		case n > 0 && int64(n) < c.chunkLeft:
			c.chunkLeft -= int64(n)
			c.addSize(t, int64(n))
		case n > 0:
			excess := int64(n) - c.chunkLeft
			c.addSize(t, c.chunkLeft)
			c.chunkLeft = 0
			c.chunkDone(ts)
			c.cGap = excess > 0
		default:
			// Unknown size: where the chunk ends is lost.
			c.chunkLeft, c.chunkLast = 0, false
			c.mode, c.cGap = modeCommand, true
			c.endData()
		}
	default:
		c.stats.ResyncBytes += uint64(c.cl.reset())
		c.cGap = true
		if t := c.cur; alive(t) && !t.closed {
			t.flags |= flagGap
		}
	}
}
