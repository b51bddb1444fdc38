package smtp

// parsePath parses the argument of MAIL FROM or RCPT TO: the keyword, a
// colon with optional spaces around it, the address with or without angle
// brackets, then ESMTP parameters. The null path "<>" is returned as "<>";
// other addresses lose their angle brackets. At most maxParams parameters
// are returned; dropped counts the rest.
func parsePath(arg []byte, kw string, maxParams int) (addr string, params []string, dropped int) {
	s := arg
	if hasPrefixFold(s, kw) {
		r := trimSpace(s[len(kw):])
		switch {
		case len(r) > 0 && r[0] == ':':
			s = r[1:]
		case len(r) > 0 && r[0] == '<':
			s = r
		}
	}
	s = trimSpace(s)
	var a, rest []byte
	if len(s) > 0 && s[0] == '<' {
		end := closingBracket(s)
		if end > 0 {
			a, rest = s[1:end], s[end+1:]
			if len(a) == 0 {
				addr = "<>"
			}
		} else {
			a, rest = token(s[1:])
		}
	} else {
		a, rest = token(s)
	}
	if addr == "" {
		addr = string(a)
	}
	for len(rest) > 0 {
		var p []byte
		p, rest = token(trimSpace(rest))
		if len(p) == 0 {
			break
		}
		if len(params) >= maxParams {
			dropped++
			continue
		}
		params = append(params, string(p))
	}
	return addr, params, dropped
}

// closingBracket returns the index of the '>' closing the path that starts
// at s[0] == '<', skipping quoted strings, or -1.
func closingBracket(s []byte) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '>':
			if !quoted {
				return i
			}
		}
	}
	return -1
}
