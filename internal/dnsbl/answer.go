package dnsbl

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Bounds on what is kept of an answer.
const (
	// maxCodes is the most A records kept of one answer.
	maxCodes = 16
	// maxTXT is the most TXT records kept of one answer.
	maxTXT = 8
	// maxTXTLen is the most bytes kept of one TXT record.
	maxTXTLen = 512
	// maxNames bounds the CNAME chain followed within an answer.
	maxNames = 8
)

// verdict is what an A answer says.
type verdict struct {
	listed   bool
	refused  bool
	codes    []netip.Addr
	meanings []string
	err      error
}

// checkQuestion reports whether m answers the question (qname, qtype).
func checkQuestion(m *dns.Msg, qname string, qtype uint16) error {
	if len(m.Question) != 1 {
		return fmt.Errorf("%w: %d questions in the answer to %s", ErrMismatch, len(m.Question), qname)
	}
	q := m.Question[0]
	if !strings.EqualFold(q.Name, qname) || q.Qtype != qtype || q.Qclass != dns.ClassINET {
		return fmt.Errorf("%w: asked %s %s, answer is for %s %s",
			ErrMismatch, qname, dns.TypeToString[qtype], q.Name, dns.TypeToString[q.Qtype])
	}
	return nil
}

// rcodeError returns nil for NOERROR and NXDOMAIN, else an error wrapping
// ErrRcode.
func rcodeError(m *dns.Msg, qname string) error {
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return nil
	}
	rc, ok := dns.RcodeToString[m.Rcode]
	if !ok {
		rc = fmt.Sprintf("rcode %d", m.Rcode)
	}
	return fmt.Errorf("%w: %s for %s", ErrRcode, rc, qname)
}

// ownerNames returns the names whose records answer qname: qname and the
// targets of the CNAME chain from it, in lower case.
func ownerNames(m *dns.Msg, qname string) map[string]bool {
	names := map[string]bool{strings.ToLower(qname): true}
	for _, rr := range m.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || len(names) >= maxNames || !names[strings.ToLower(c.Hdr.Name)] {
			continue
		}
		names[strings.ToLower(c.Target)] = true
	}
	return names
}

// parseA interprets the answer m to the A query qname of zone z.
func parseA(z *zone, qname string, m *dns.Msg) (verdict, tally) {
	var t tally
	if err := checkQuestion(m, qname, dns.TypeA); err != nil {
		return verdict{err: err}, t
	}
	if err := rcodeError(m, qname); err != nil {
		return verdict{err: err}, t
	}
	if m.Rcode == dns.RcodeNameError {
		t.skippedRecords += uint64(len(m.Answer))
		return verdict{}, t
	}
	names := ownerNames(m, qname)
	var v verdict
	outside := false
	for _, rr := range m.Answer {
		a, ok := rr.(*dns.A)
		if !ok || !names[strings.ToLower(rr.Header().Name)] {
			if _, cname := rr.(*dns.CNAME); !cname || !names[strings.ToLower(rr.Header().Name)] {
				t.skippedRecords++
			}
			continue
		}
		addr, ok := netip.AddrFromSlice(a.A)
		if !ok {
			t.skippedRecords++
			continue
		}
		addr = addr.Unmap()
		if !addr.Is4() || !loopback.Contains(addr) {
			outside = true
		}
		if len(v.codes) >= maxCodes {
			t.droppedCodes++
			continue
		}
		v.codes = append(v.codes, addr)
	}
	if outside {
		v.err = fmt.Errorf("%w: %s answered %s", ErrUnexpectedAnswer, qname, joinAddrs(v.codes))
		return v, t
	}
	for _, c := range v.codes {
		if meaning, ok := z.refused[c]; ok {
			v.refused = true
			v.meanings = append(v.meanings, meaning)
			continue
		}
		if meaning, ok := z.codes[c]; ok {
			v.meanings = append(v.meanings, meaning)
			continue
		}
		v.meanings = append(v.meanings, "unknown code "+c.String())
	}
	// A refusal makes the whole answer untrustworthy: not a listing.
	v.listed = len(v.codes) > 0 && !v.refused
	return v, t
}

// parseTXT returns the TXT strings of the answer m to the TXT query qname.
func parseTXT(qname string, m *dns.Msg) ([]string, tally, error) {
	var t tally
	if err := checkQuestion(m, qname, dns.TypeTXT); err != nil {
		return nil, t, err
	}
	if err := rcodeError(m, qname); err != nil {
		return nil, t, err
	}
	names := ownerNames(m, qname)
	var out []string
	for _, rr := range m.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok || !names[strings.ToLower(rr.Header().Name)] {
			if _, cname := rr.(*dns.CNAME); !cname || !names[strings.ToLower(rr.Header().Name)] {
				t.skippedRecords++
			}
			continue
		}
		if len(out) >= maxTXT {
			t.droppedTXT++
			continue
		}
		s, cut := cleanText(strings.Join(txt.Txt, ""), maxTXTLen)
		if cut {
			t.truncatedTXT++
		}
		out = append(out, s)
	}
	return out, t, nil
}

// cleanText replaces invalid UTF-8 and non-printable characters of s by
// '?' and cuts the result to at most limit bytes; cut reports a cut.
func cleanText(s string, limit int) (clean string, cut bool) {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			return b.String(), true
		}
		b.WriteRune(r)
	}
	return b.String(), false
}

// joinAddrs joins addresses with ", ".
func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
