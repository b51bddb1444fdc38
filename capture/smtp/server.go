package smtp

import (
	"bytes"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// maxBanner bounds the greeting's first word kept as Session.Banner.
const maxBanner = 255

// replyAcc accumulates the lines of one (possibly multi-line) reply.
type replyAcc struct {
	active bool
	code   int
	enh    string
	text   []byte // text lines joined with '\n'
	lines  int
}

func (r *replyAcc) reset() {
	r.active, r.code, r.enh, r.lines = false, 0, "", 0
	if cap(r.text) > 4096 {
		r.text = nil
	} else {
		r.text = r.text[:0]
	}
}

// feedServer parses server bytes.
func (c *Conn) feedServer(b []byte, ts time.Time) {
	for len(b) > 0 && !c.stopped {
		if c.ssniff {
			c.ssniff = false
			if isTLSRecord(b[0]) {
				c.stats.TLSBytesSkipped += uint64(len(c.held))
				c.stopTLS()
				break
			}
		}
		n, line, tooLong, ok := c.sl.next(b)
		b = b[n:]
		if ok {
			c.serverLine(line, tooLong, ts)
		}
	}
	c.stats.TLSBytesSkipped += uint64(len(b))
}

// serverGap handles lost server bytes: the partial line is dropped and the
// next line must look like a reply.
func (c *Conn) serverGap() {
	c.stats.ResyncBytes += uint64(c.sl.reset())
	c.sGap = true
}

// parseReply splits a reply line "ddd-text", "ddd text" or "ddd".
func parseReply(line []byte) (code int, more bool, text []byte, ok bool) {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' ||
		line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
		return 0, false, nil, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, nil, true
	}
	switch line[3] {
	case ' ':
	case '-':
		more = true
	default:
		return 0, false, nil, false
	}
	return code, more, line[4:], true
}

// enhanced splits an RFC 3463 enhanced status code ("5.7.1") off the start
// of a reply text when its class digit equals the reply's first digit.
func enhanced(text []byte, code int) (enh, rest []byte) {
	if len(text) < 5 || text[0] != byte('0'+code/100) || text[1] != '.' {
		return nil, text
	}
	i := 2
	n := digits(text[i:])
	if n < 1 || n > 3 {
		return nil, text
	}
	i += n
	if i >= len(text) || text[i] != '.' {
		return nil, text
	}
	i++
	n = digits(text[i:])
	if n < 1 || n > 3 {
		return nil, text
	}
	i += n
	if i < len(text) && !isSpace(text[i]) {
		return nil, text
	}
	return text[:i], trimSpace(text[i:])
}

// digits counts the leading decimal digits of b, up to four.
func digits(b []byte) int {
	n := 0
	for n < len(b) && n < 4 && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	return n
}

// serverLine handles one complete server line.
func (c *Conn) serverLine(line []byte, tooLong bool, ts time.Time) {
	code, more, text, ok := parseReply(line)
	if c.sGap {
		c.sGap = false
		if !ok {
			c.stats.GapResyncs++
			c.stats.ResyncBytes += uint64(len(line))
			return
		}
	}
	if !ok {
		c.stats.ServerGarbage++
		c.flags |= flagServerGarbage
		return
	}
	if tooLong {
		c.stats.LinesTooLong++
		c.flags |= flagLineTooLong
	}
	r := &c.rep
	if !r.active {
		r.active, r.code = true, code
		enh, rest := enhanced(text, code)
		r.enh, text = string(enh), rest
	} else if r.enh != "" {
		if enh, rest := enhanced(text, r.code); string(enh) == r.enh {
			text = rest
		}
	}
	if r.lines < c.cfg.MaxReplyLines {
		if r.lines > 0 {
			r.text = append(r.text, '\n')
		}
		r.text = append(r.text, text...)
		r.lines++
	} else {
		c.stats.ReplyLinesDropped++
		c.flags |= flagReplyLinesTruncated
	}
	if !more {
		c.finishReply(ts)
	}
}

// finishReply matches a complete reply with the oldest waiting command and
// applies it.
func (c *Conn) finishReply(ts time.Time) {
	r := &c.rep
	rep := event.Reply{Time: ts, Code: r.code, Enhanced: r.enh}
	c.stats.Replies++
	p, ok := c.pop()
	if !ok && c.opt.Midstream && !c.greeted && r.code == 220 {
		p, ok = pending{kind: kindConnect, verb: "CONNECT"}, true
	}
	if ok {
		rep.Command = p.verb
	} else {
		c.stats.UnmatchedReplies++
		c.flags |= flagUnmatchedReply
	}
	if !(ok && r.code == 334 && (p.kind == kindAuth || p.kind == kindAuthCont)) {
		// An authentication challenge is not kept.
		rep.Text = string(r.text)
	}
	if len(c.replies) < c.cfg.MaxReplies {
		c.replies = append(c.replies, rep)
	} else {
		c.stats.RepliesDropped++
		c.flags |= flagRepliesTruncated
	}
	if ok {
		c.applyReply(&p, &rep, ts)
	}
	r.reset()
}

// applyReply applies a reply to the command it answers.
func (c *Conn) applyReply(p *pending, r *event.Reply, ts time.Time) {
	t := p.tx
	if t != nil {
		t.refs--
		touch(t, ts)
	}
	class := r.Code / 100
	switch p.kind {
	case kindConnect:
		c.greeted = true
		if c.banner == "" {
			first, _, _ := bytes.Cut(c.rep.text, []byte{'\n'})
			word, _ := token(trimSpace(first))
			c.banner = cut(string(word), maxBanner)
		}
	case kindEhlo:
		if class == 2 {
			c.extensions(c.rep.text)
		}
	case kindMail:
		if !alive(t) {
			break
		}
		t.m.MailCode = r.Code
		switch class {
		case 2:
			// The server started a new transaction: earlier open ones are over.
			for _, o := range slices.Clone(c.txns) {
				if o != t && !o.closed && o.m.Index < t.m.Index {
					c.closeTxn(o)
				}
			}
		case 4, 5:
			final(t, r)
			t.closed = true
			if r.Code == 503 {
				c.nested(t)
			}
		}
	case kindRcpt:
		if alive(t) && p.rcpt >= 0 && p.rcpt < len(t.m.Recipients) {
			t.m.Recipients[p.rcpt].Code = r.Code
			t.m.Recipients[p.rcpt].Enhanced = r.Enhanced
		}
		if alive(t) {
			switch class {
			case 2:
				t.rcptOK++
			case 4, 5:
				rr := *r
				t.rcptFail = &rr
			}
		}
	case kindData:
		if alive(t) && (class == 4 || class == 5) {
			final(t, r)
		}
	case kindEOD:
		if alive(t) {
			final(t, r)
			t.closed = true
		}
	case kindBDAT:
		if alive(t) && (p.last || class == 4 || class == 5) {
			final(t, r)
			t.closed = true
		}
	case kindAuth, kindAuthCont:
		if a := c.auth; a != nil && class != 3 {
			a.Code = r.Code
			switch class {
			case 2:
				a.Outcome = "success"
			case 4, 5:
				a.Outcome = "failure"
			}
		}
	case kindRset:
		if class == 2 {
			c.resetTxns(p.bound)
		}
	}
	switch {
	case c.bar != nil && p.seq == c.bar.seq:
		c.resolveReply(p, r.Code)
	case r.Code == 354 && p.kind != kindData && c.bar != nil && c.bar.kind == kindData:
		// A 354 can only answer DATA: a reply was lost or two were merged
		// (an unterminated multi-line reply), and FIFO order is off by one.
		c.stats.ReplyMismatches++
		c.flags |= flagReplyMismatch
		b := *c.bar
		if e := c.find(b.seq); e != nil {
			e.resolved = true
			b.tx = e.tx
		}
		if alive(b.tx) {
			b.tx.flags |= flagReplyMismatch
		}
		c.resolveReply(&b, 354)
	}
	c.maybeEmit(t)
}

// extensions records the EHLO keywords of a 250 reply: every line after
// the first, keyword upper-cased.
func (c *Conn) extensions(text []byte) {
	_, rest, _ := bytes.Cut(text, []byte{'\n'})
	exts := make([]string, 0, 16)
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(exts) >= c.cfg.MaxExtensions {
			c.stats.ExtensionsDropped++
			c.flags |= flagExtensionsTruncated
			continue
		}
		kw, params := token(line)
		b := make([]byte, 0, len(line))
		for _, ch := range kw {
			if 'a' <= ch && ch <= 'z' {
				ch -= 'a' - 'A'
			}
			b = append(b, ch)
		}
		if len(params) > 0 {
			b = append(b, ' ')
			b = append(b, params...)
		}
		exts = append(exts, string(b))
	}
	c.exts = exts
}
