package replysig

import (
	"strings"
	"unicode/utf8"
)

// Normalize prepares a reply text for matching: it joins the lines with a
// space, removes a leading reply code ("550-", "421 ") and a leading
// enhanced status code ("5.7.1 ", "#4.7.0 ") from each line, collapses runs
// of white space to one space and trims the result.
func Normalize(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for line := range strings.SplitSeq(text, "\n") {
		for f := range strings.FieldsSeq(stripReplyPrefix(line)) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
	}
	return b.String()
}

// stripReplyPrefix removes a leading reply code and enhanced status code
// from one line.
func stripReplyPrefix(line string) string {
	s := strings.TrimLeft(line, " \t\r\f\v")
	if _, n := replyCodePrefix(s); n > 0 {
		s = strings.TrimLeft(s[n:], " \t\r\f\v")
	}
	if _, n := enhancedPrefix(s); n > 0 {
		s = s[n:]
	}
	return s
}

// replyCodePrefix reports the reply code (200-599) that s starts with and
// the length of the code plus its separator (' ', '-', or end of text).
func replyCodePrefix(s string) (code, n int) {
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || !isDigit(s[1]) || !isDigit(s[2]) {
		return 0, 0
	}
	code = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	switch {
	case len(s) == 3:
		return code, 3
	case s[3] == '-' || s[3] == ' ' || s[3] == '\t' || s[3] == '\r':
		return code, 4
	}
	return 0, 0
}

// enhancedPrefix reports the RFC 3463 status code ("5.7.1", optionally
// written "#5.7.1") that s starts with, and its length. The code must be
// followed by white space or the end of s.
func enhancedPrefix(s string) (enhanced string, n int) {
	start := 0
	if strings.HasPrefix(s, "#") {
		start = 1
	}
	m := enhancedLen(s[start:])
	if m == 0 {
		return "", 0
	}
	end := start + m
	if end < len(s) && !isSpace(s[end]) {
		return "", 0
	}
	return s[start:end], end
}

// enhancedLen returns the length of a class.subject.detail code at the
// start of s (class 2, 4 or 5; subject and detail of 1 to 3 digits), or 0.
func enhancedLen(s string) int {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		j := i
		for j < len(s) && j-i < 3 && isDigit(s[j]) {
			j++
		}
		if j == i {
			return 0
		}
		if j < len(s) && isDigit(s[j]) {
			return 0 // more than three digits
		}
		i = j
		if part == 0 {
			if i >= len(s) || s[i] != '.' {
				return 0
			}
			i++
		}
	}
	return i
}

// findEnhanced returns the first stand-alone enhanced status code in s:
// preceded by the start of s, white space or one of "#([<:;," and followed
// by the end of s, white space or one of ")]>:;,.".
func findEnhanced(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '2' && s[i] != '4' && s[i] != '5' {
			continue
		}
		if i > 0 && !isSpace(s[i-1]) && !strings.ContainsRune("#([<:;,\"'", rune(s[i-1])) {
			continue
		}
		n := enhancedLen(s[i:])
		if n == 0 {
			continue
		}
		if e := i + n; e < len(s) && !isSpace(s[e]) && !strings.ContainsRune(")]>:;,.\"'", rune(s[e])) {
			continue
		} else if e < len(s) && s[e] == '.' && e+1 < len(s) && isDigit(s[e+1]) {
			continue // part of a longer dotted number such as an address
		}
		return s[i : i+n]
	}
	return ""
}

// foldLower lowers ASCII letters and maps the two non-ASCII runes that
// case-fold to ASCII letters (KELVIN SIGN to 'k', LONG S to 's'), so that
// a literal found by the prefilter in a case-insensitive pattern is found
// in the folded text whenever the pattern can match.
func foldLower(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return s
		}
		return strings.ToLower(s)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + ('a' - 'A')
		case r == '\u212a':
			return 'k'
		case r == '\u017f':
			return 's'
		}
		return r
	}, s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
