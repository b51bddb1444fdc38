package smtp

import (
	"bytes"
	"unicode/utf8"
)

// lineReader cuts one direction's byte stream into lines ending in LF
// (CRLF or bare LF). It keeps at most max bytes of a line (plus one for a
// CR) and discards the rest up to the LF.
type lineReader struct {
	buf      []byte
	max      int
	overflow bool // the current line is longer than buf can hold
	cut      int  // bytes of the current line not kept
}

// next consumes bytes of b up to and including the first LF. It returns
// the number of bytes consumed and, when a line ended, the line without
// its line ending and whether it was cut. The line is valid until the next
// call; it may alias b.
func (r *lineReader) next(b []byte) (n int, line []byte, tooLong, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		r.add(b)
		return len(b), nil, false, false
	}
	seg := b[:i]
	if len(r.buf) == 0 && !r.overflow {
		// Fast path: the whole line is in b.
		seg = trimCR(seg)
		if len(seg) > r.max {
			return i + 1, seg[:r.max], true, true
		}
		return i + 1, seg, false, true
	}
	r.add(seg)
	line, tooLong = r.buf, r.overflow
	r.buf, r.overflow, r.cut = r.buf[:0], false, 0
	if tooLong {
		return i + 1, line[:r.max], true, true
	}
	line = trimCR(line)
	if len(line) > r.max {
		return i + 1, line[:r.max], true, true
	}
	return i + 1, line, false, true
}

// add appends a piece of the current line, keeping max+1 bytes at most.
func (r *lineReader) add(p []byte) {
	if r.overflow {
		r.cut += len(p)
		return
	}
	room := r.max + 1 - len(r.buf)
	if len(p) > room {
		r.buf = append(r.buf, p[:room]...)
		r.cut += len(p) - room
		r.overflow = true
		return
	}
	r.buf = append(r.buf, p...)
}

// partial returns the number of bytes of an unterminated line held or cut.
func (r *lineReader) partial() int { return len(r.buf) + r.cut }

// held returns the unterminated line kept so far, without a trailing CR.
func (r *lineReader) held() []byte {
	if r.overflow {
		return r.buf[:r.max]
	}
	return trimCR(r.buf)
}

// reset drops an unterminated line and returns its size.
func (r *lineReader) reset() int {
	n := r.partial()
	r.buf, r.overflow, r.cut = r.buf[:0], false, 0
	return n
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// isText reports whether c can start an SMTP line: printable ASCII or
// white space.
func isText(c byte) bool {
	return c == '\t' || c == '\r' || c == '\n' || (c >= 0x20 && c < 0x7f)
}

// isTLSRecord reports whether c is a TLS record type (change_cipher_spec,
// alert, handshake, application_data). No SMTP line starts with one of
// these control bytes, so one byte decides.
func isTLSRecord(c byte) bool { return c >= 0x14 && c <= 0x17 }

// cut returns s cut to at most n bytes, not splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = n
	}
	return s[:i]
}

// isSpace reports ASCII space or tab.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// token splits b at the first space or tab: the token and the rest with
// leading white space removed.
func token(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	tok, rest = b[:i], b[i:]
	for len(rest) > 0 && isSpace(rest[0]) {
		rest = rest[1:]
	}
	return tok, rest
}

// upperASCII writes the upper-case form of b into dst (which must be at
// least as long) and returns it.
func upperASCII(dst, b []byte) []byte {
	dst = dst[:len(b)]
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}

// hasPrefixFold reports whether b starts with the ASCII upper-case prefix.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
