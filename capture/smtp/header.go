package smtp

import (
	"bytes"
	"net/mail"
	"strings"
)

// headerCollector gathers the header block of the message whose data is
// flowing (from the first byte of the message to the first empty line),
// keeping at most MaxHeaderBytes of it, and parses it into the message.
type headerCollector struct {
	c       *Conn
	target  *txn
	active  bool // the header block has not ended
	unstuff bool // DATA: remove one dot of lines starting with ".."
	buf     []byte
	line    []byte
	lineLen int  // bytes of the current line, kept or not
	lineCut bool // the current line is longer than MaxLineBytes
	skip    bool // drop the current line: it follows a gap
	over    bool // MaxHeaderBytes reached
	bytes   int  // bytes of header lines seen
}

func (h *headerCollector) init(c *Conn) { h.c = c }

// begin starts collecting the header block of t, unless it is already
// being collected or was parsed.
func (h *headerCollector) begin(t *txn, unstuff bool) {
	if h.target == t {
		return
	}
	if h.target != nil {
		h.finish()
	}
	if t.hdrDone {
		return
	}
	h.target, h.active, h.unstuff = t, true, unstuff
	h.buf, h.line = h.buf[:0], h.line[:0]
	h.lineLen, h.lineCut, h.skip, h.over, h.bytes = 0, false, false, false, 0
}

// write adds message bytes of t.
func (h *headerCollector) write(t *txn, p []byte) {
	if !h.active || h.target != t {
		return
	}
	for len(p) > 0 && h.active {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.add(p)
			return
		}
		h.add(p[:i+1])
		h.commit()
		p = p[i+1:]
	}
}

func (h *headerCollector) add(p []byte) {
	h.lineLen += len(p)
	if h.skip || h.lineCut {
		return
	}
	room := h.c.cfg.MaxLineBytes + 2 - len(h.line) // the line and its CRLF
	if len(p) > room {
		h.line = append(h.line, p[:room]...)
		h.lineCut = true
		return
	}
	h.line = append(h.line, p...)
}

// commit ends the current line.
func (h *headerCollector) commit() {
	line, n, lineCut, skip := h.line, h.lineLen, h.lineCut, h.skip
	h.line, h.lineLen, h.lineCut, h.skip = h.line[:0], 0, false, false
	if skip {
		h.bytes += n
		return
	}
	if !lineCut {
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = trimCR(line)
	}
	if h.unstuff && len(line) >= 2 && line[0] == '.' && line[1] == '.' {
		line = line[1:]
		n--
	}
	if len(line) == 0 && !lineCut {
		h.finish() // the empty line ending the header block
		return
	}
	h.bytes += n
	t := h.target
	if lineCut || len(line) > h.c.cfg.MaxLineBytes {
		line = line[:min(len(line), h.c.cfg.MaxLineBytes)]
		h.c.stats.LinesTooLong++
		h.c.flags |= flagLineTooLong
		t.flags |= flagLineTooLong
	}
	if h.over {
		return
	}
	if len(h.buf)+len(line)+1 > h.c.cfg.MaxHeaderBytes {
		h.over = true
		h.c.stats.HeaderOverflows++
		t.flags |= flagHeaderTooLarge
		return
	}
	h.buf = append(h.buf, line...)
	h.buf = append(h.buf, '\n')
}

// dropLine discards the partial line of t (the start of the "." line).
func (h *headerCollector) dropLine(t *txn) {
	if h.target == t {
		h.line, h.lineLen, h.lineCut, h.skip = h.line[:0], 0, false, false
	}
}

// gap discards the partial line of t and the rest of it after the gap.
func (h *headerCollector) gap(t *txn) {
	if h.active && h.target == t {
		h.bytes += h.lineLen
		h.line, h.lineLen, h.lineCut, h.skip = h.line[:0], 0, false, true
	}
}

// finish parses what was collected into the target message.
func (h *headerCollector) finish() {
	t := h.target
	if h.active && (h.lineLen > 0) && !h.skip {
		h.commit() // a last line without line ending
	}
	if !h.active || !alive(t) {
		h.reset()
		return
	}
	h.active = false
	t.hdrDone = true
	t.m.HeaderBytes = h.bytes
	h.c.parseHeaders(t, h.buf)
	h.reset()
}

func (h *headerCollector) reset() {
	h.target, h.active = nil, false
	if cap(h.buf) > 8192 {
		h.buf = nil // do not keep a large buffer per idle connection
	} else {
		h.buf = h.buf[:0]
	}
	h.line, h.lineLen, h.lineCut, h.skip, h.over, h.bytes = h.line[:0], 0, false, false, false, 0
}

// Bounds of Message.HeaderNames.
const (
	maxHeaderNames   = 32
	maxHeaderNameLen = 64
)

// headerName records a header field name in m.HeaderNames, lower case and
// once; names past the bounds set a flag.
func (c *Conn) headerName(t *txn, name []byte) {
	m := t.m
	if len(name) > maxHeaderNameLen {
		t.flags |= flagHeaderNamesTruncated
		return
	}
	for _, n := range m.HeaderNames {
		if len(n) == len(name) && bytes.EqualFold([]byte(n), name) {
			return
		}
	}
	if len(m.HeaderNames) == maxHeaderNames {
		t.flags |= flagHeaderNamesTruncated
		return
	}
	m.HeaderNames = append(m.HeaderNames, strings.ToLower(string(name)))
}

// parseHeaders fills the header fields of t from a header block whose
// lines end in '\n'.
func (c *Conn) parseHeaders(t *txn, buf []byte) {
	var received []byte
	seen := 0
	const (
		seenFrom = 1 << iota
		seenSubject
		seenDate
		seenMsgID
		seenMailer
		seenAgent
		seenPHP
		seenPHPScript
	)
	once := func(bit int) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	m := t.m
	var lower [len("x-php-originating-script")]byte
	for len(buf) > 0 {
		// A field is a line and its continuation lines.
		end := 0
		for {
			i := bytes.IndexByte(buf[end:], '\n')
			if i < 0 {
				end = len(buf)
				break
			}
			end += i + 1
			if end >= len(buf) || !isSpace(buf[end]) {
				break
			}
		}
		field := bytes.TrimSuffix(buf[:end], []byte{'\n'})
		buf = buf[end:]
		if len(field) == 0 || isSpace(field[0]) {
			continue
		}
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			continue
		}
		name := trimSpace(field[:colon])
		if bytes.IndexByte(name, '\n') >= 0 {
			continue
		}
		value := field[colon+1:]
		c.headerName(t, name)
		if len(name) > len(lower) {
			continue // not a field this parser reads
		}
		for i, ch := range name {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			lower[i] = ch
		}
		switch string(lower[:len(name)]) {
		case "from":
			if once(seenFrom) {
				m.From = c.value(c.decode(unfold(value)))
			}
		case "to":
			m.ToCount += countAddresses(unfold(value))
		case "cc":
			m.CcCount += countAddresses(unfold(value))
		case "subject":
			if once(seenSubject) {
				m.Subject = c.value(c.decode(unfold(value)))
			}
		case "date":
			if once(seenDate) {
				m.Date = c.value(unfold(value))
			}
		case "message-id":
			if once(seenMsgID) {
				id := unfold(value)
				if strings.HasPrefix(id, "<") {
					id = id[1:]
					if i := strings.IndexByte(id, '>'); i >= 0 {
						id = id[:i]
					}
				}
				id = strings.TrimSpace(id)
				m.MessageID = c.value(id)
				if i := strings.LastIndexByte(id, '@'); i >= 0 {
					m.MessageIDHost = c.value(strings.ToLower(strings.TrimSpace(id[i+1:])))
				}
			}
		case "x-mailer":
			if once(seenMailer) {
				m.XMailer = c.value(unfold(value))
			}
		case "user-agent":
			if once(seenAgent) {
				m.UserAgent = c.value(unfold(value))
			}
		case "x-php-originating-script":
			if once(seenPHP) {
				v := unfold(value)
				if uid, path, ok := strings.Cut(v, ":"); ok {
					m.PHPScriptUID = c.value(strings.TrimSpace(uid))
					m.PHPScriptPath = c.value(strings.TrimSpace(path))
				} else {
					m.PHPScriptPath = c.value(v)
				}
			}
		case "x-php-script":
			if once(seenPHPScript) {
				m.PHPScript = c.value(unfold(value))
			}
		case "received":
			m.ReceivedCount++
			received = value
		}
	}
	if received != nil {
		m.FirstReceived = c.value(strings.Join(strings.Fields(unfold(received)), " "))
	}
}

// value cuts a header value to MaxHeaderValue bytes.
func (c *Conn) value(s string) string { return cut(s, c.cfg.MaxHeaderValue) }

// decode decodes RFC 2047 encoded words; text in unknown charsets stays
// as it is.
func (c *Conn) decode(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := c.dec.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// unfold removes the line breaks of a folded header value and trims it.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 {
		return string(trimSpace(v))
	}
	out := make([]byte, 0, len(v))
	for _, ch := range v {
		if ch != '\n' {
			out = append(out, ch)
		}
	}
	return string(trimSpace(out))
}

// countAddresses counts the addresses of an address-list header (To, Cc),
// with net/mail, or when that fails by counting the non-empty
// comma-separated parts outside quotes, comments and angle brackets
// (group names and their ";" are not addresses).
func countAddresses(v string) int {
	if strings.TrimSpace(v) == "" {
		return 0
	}
	if list, err := mail.ParseAddressList(v); err == nil {
		return len(list)
	}
	n, content := 0, false
	quoted, angle, comment := false, false, 0
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case quoted:
			if ch == '\\' {
				i++
			} else if ch == '"' {
				quoted = false
			}
			continue
		case comment > 0:
			if ch == '(' {
				comment++
			} else if ch == ')' {
				comment--
			}
			continue
		case angle:
			if ch == '>' {
				angle = false
			}
			continue
		}
		switch ch {
		case '"':
			quoted, content = true, true
		case '(':
			comment++
		case '<':
			angle, content = true, true
		case ',', ';':
			if content {
				n++
			}
			content = false
		case ':':
			content = false // a group name
		case ' ', '\t':
		default:
			content = true
		}
	}
	if content {
		n++
	}
	return n
}
