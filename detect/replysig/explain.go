package replysig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Explanation says what a pasted SMTP reply or bounce excerpt means.
type Explanation struct {
	// Code and Enhanced are the reply code and enhanced status code found
	// in the text (0 and "" when none was found).
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	// Text is the reply text, normalized (see Normalize).
	Text string `json:"text"`
	// Matched tells whether a signature matched; Signature is that
	// signature.
	Matched   bool      `json:"matched"`
	Signature Signature `json:"signature,omitzero"`
	// Meaning says in words what the reply means; Advice what to do.
	Meaning string `json:"meaning"`
	Advice  string `json:"advice"`
}

// Explain parses a pasted reply or bounce excerpt and says what it means.
// It understands several lines, "550-5.7.1 " prefixes, quoted ("> ")
// lines, delivery status notifications ("Diagnostic-Code: smtp; 550 ...",
// "Status: 5.7.1") and MTA bounce texts ("host mx.example[192.0.2.1]
// said: 550 ..."). Texts longer than MaxPasteLen are cut.
func (t *Table) Explain(pasted string) Explanation {
	if len(pasted) > MaxPasteLen {
		pasted = pasted[:MaxPasteLen]
		if t != nil {
			t.inc(statTruncated)
		}
	}
	code, enhanced, text := parsePasted(pasted)
	e := Explanation{Code: code, Enhanced: enhanced, Text: text}
	if sig, ok := t.Match(code, enhanced, text); ok {
		e.Matched, e.Signature = true, sig
		e.Meaning = signatureMeaning(sig)
		if m := statusMeaning(code, enhanced); m != "" {
			e.Meaning += " (" + m + ")"
		}
		e.Advice = sig.Advice
		if e.Advice == "" {
			e.Advice = genericAdvice(code, enhanced)
		}
		return e
	}
	e.Meaning = statusMeaning(code, enhanced)
	if e.Meaning == "" {
		e.Meaning = "no SMTP reply code or enhanced status code found"
	}
	e.Advice = genericAdvice(code, enhanced)
	return e
}

// String renders the explanation as a few lines of plain text for a
// terminal.
func (e Explanation) String() string {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-9s %s\n", label+":", value)
		}
	}
	reply := e.Text
	if len(reply) > 400 {
		reply = reply[:400] + " ..."
	}
	var head []string
	if e.Code != 0 {
		head = append(head, strconv.Itoa(e.Code))
	}
	if e.Enhanced != "" {
		head = append(head, e.Enhanced)
	}
	line("reply", strings.Join(append(head, reply), " "))
	if e.Matched {
		s := e.Signature
		line("verdict", fmt.Sprintf("%s %s (kind %s, signature %s)", s.Type, s.List, s.Kind, s.ID))
	} else {
		line("verdict", "no known blocklist or provider signature")
	}
	line("meaning", e.Meaning)
	if e.Matched {
		line("url", e.Signature.URL)
	}
	line("advice", e.Advice)
	return strings.TrimRight(b.String(), "\n")
}

// pastedLine is one line of pasted text without quote markers.
type pastedLine struct {
	text     string // trimmed
	indented bool   // began with white space: a header continuation
}

// The expressions of parsePasted, compiled on first use: every mxwatch
// command links this package, few explain pasted replies.
var pastedREs = sync.OnceValue(func() (r struct{ said, codeEnhanced, inReplyTo *regexp.Regexp }) {
	// said finds the reply in MTA bounce prose: "... said: 550 ...".
	r.said = regexp.MustCompile(`(?i)\b(?:said|replied|response|reply|answer|error)\s*:\s*([2-5][0-9][0-9])(?:[\s-]|$)`)
	// codeEnhanced finds "550 5.7.1" or "421-4.7.0" anywhere.
	r.codeEnhanced = regexp.MustCompile(`(?:^|[\s:;(<"'])([2-5][0-9][0-9])[ -]#?[245]\.[0-9]{1,3}\.[0-9]{1,3}(?:\s|$)`)
	// inReplyTo is Postfix's trailer "(in reply to RCPT TO command)".
	r.inReplyTo = regexp.MustCompile(`(?i)\s*\(in reply to [^()]{0,100}\)\s*$`)
	return r
})

// parsePasted finds the reply in a pasted text and splits it into code,
// enhanced code and normalized text.
func parsePasted(s string) (code int, enhanced, text string) {
	lines := splitPasted(s)
	region, status := dsnRegion(lines)
	if region == "" {
		region = replyRegion(lines)
	}
	if region == "" {
		region = inlineRegion(joinPasted(lines))
	}
	if region == "" {
		region = joinPasted(lines)
	}
	code, enhanced, text = splitReply(region)
	if enhanced == "" {
		enhanced = status
	}
	if enhanced == "" && code == 0 {
		enhanced = findEnhanced(text)
	}
	return code, enhanced, text
}

// splitPasted splits text into lines and removes e-mail quote markers.
func splitPasted(s string) []pastedLine {
	var out []pastedLine
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimRight(l, "\r")
		for {
			t := strings.TrimLeft(l, " \t")
			if !strings.HasPrefix(t, ">") {
				break
			}
			l = strings.TrimPrefix(t[1:], " ")
		}
		indented := l != "" && (l[0] == ' ' || l[0] == '\t')
		out = append(out, pastedLine{text: strings.TrimSpace(l), indented: indented})
	}
	return out
}

func joinPasted(lines []pastedLine) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = l.text
	}
	return strings.TrimSpace(strings.Join(parts, "\n"))
}

// dsnRegion returns the value of the first Diagnostic-Code field with its
// continuation lines, and the enhanced code of the first Status field.
func dsnRegion(lines []pastedLine) (region, status string) {
	for i, l := range lines {
		name, value, ok := strings.Cut(l.text, ":")
		if !ok || l.indented {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "status":
			v := strings.TrimSpace(value)
			if status == "" && enhancedLen(v) == len(v) && v != "" {
				status = v
			}
		case "diagnostic-code":
			if region != "" {
				continue
			}
			v := strings.TrimSpace(value)
			if k := strings.IndexByte(v, ';'); k > 0 && isToken(strings.TrimSpace(v[:k])) {
				v = strings.TrimSpace(v[k+1:])
			}
			parts := []string{v}
			for j := i + 1; j < len(lines) && lines[j].indented && lines[j].text != ""; j++ {
				parts = append(parts, lines[j].text)
			}
			region = strings.Join(parts, "\n")
			if _, n := replyCodePrefix(region); n == 0 {
				if r := inlineRegion(region); r != "" {
					region = r
				}
			}
		}
	}
	return region, status
}

// replyRegion returns the lines from the first one that starts with a
// reply code up to the next blank line.
func replyRegion(lines []pastedLine) string {
	for i, l := range lines {
		if _, n := replyCodePrefix(trimQuotes(l.text)); n == 0 {
			continue
		}
		var parts []string
		for j := i; j < len(lines) && lines[j].text != ""; j++ {
			parts = append(parts, lines[j].text)
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// inlineRegion returns the text from a reply code found inside prose
// ("said: 550 ...", "... 550 5.7.1 ...") to the end, or "".
func inlineRegion(s string) string {
	if m := pastedREs().said.FindStringSubmatchIndex(s); m != nil {
		return s[m[2]:]
	}
	if m := pastedREs().codeEnhanced.FindStringSubmatchIndex(s); m != nil {
		return s[m[2]:]
	}
	return ""
}

// splitReply takes the leading reply code and enhanced code off a reply
// and normalizes the rest.
func splitReply(region string) (code int, enhanced, text string) {
	s := trimQuotes(strings.TrimSpace(region))
	if c, n := replyCodePrefix(s); n > 0 {
		code = c
		s = strings.TrimLeft(s[n:], " \t")
	}
	if e, n := enhancedPrefix(s); n > 0 {
		enhanced = e
		s = s[n:]
	}
	text = Normalize(s)
	text = pastedREs().inReplyTo.ReplaceAllString(text, "")
	text = strings.TrimSpace(strings.TrimRight(text, "\"\u201d"))
	return code, enhanced, text
}

// trimQuotes removes leading quotation marks.
func trimQuotes(s string) string {
	return strings.TrimLeft(s, "\"'\u201c\u201e")
}

// isToken reports whether s is a DSN diagnostic type ("smtp", "X-Postfix").
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// signatureMeaning says in words what a matched signature means.
func signatureMeaning(s Signature) string {
	who := s.List
	if s.Type == TypeBlocklist {
		who = "the " + s.List + " blocklist"
	}
	switch s.Kind {
	case "listed":
		if s.Type == TypeBlocklist {
			return "the sending IP or a domain in the message is listed on " + who
		}
		return who + " has the sending IP on its own block list"
	case "reputation":
		return who + " refuses the mail because of the sender's poor IP or domain reputation"
	case "rate-limit":
		return who + " is throttling the sender for its volume, rate or complaints"
	case "policy":
		return who + " refuses the mail by local policy"
	case "authentication":
		return who + " requires SPF, DKIM or DMARC authentication that the mail failed"
	case "content":
		return who + " judged the message content as spam, malformed or dangerous"
	case "blocked-network":
		return who + " blocks the sender's network range, not only this IP"
	case "reverse-dns":
		return who + " requires a valid reverse DNS (PTR) name for the sending IP"
	case "tls":
		return who + " requires the connection to use TLS"
	case "query-refused":
		return "the receiving server's query to " + who + " failed; this is not a listing of the sender"
	}
	return fmt.Sprintf("%s: %s rejection", who, s.Kind)
}

// statusMeaning explains a reply code and an enhanced status code.
func statusMeaning(code int, enhanced string) string {
	var parts []string
	if code != 0 {
		parts = append(parts, fmt.Sprintf("%d: %s", code, codeMeaning(code)))
	}
	if enhanced != "" {
		parts = append(parts, enhanced+": "+enhancedMeaning(enhanced))
	}
	return strings.Join(parts, "; ")
}

// codeMeaning explains an RFC 5321 reply code.
func codeMeaning(code int) string {
	var what string
	switch code {
	case 421:
		what = "service not available, the server closes the connection"
	case 450:
		what = "mailbox unavailable (busy, blocked or greylisted)"
	case 451:
		what = "local error in processing"
	case 452:
		what = "insufficient storage or too many recipients"
	case 454:
		what = "TLS or authentication temporarily unavailable"
	case 500, 501, 502, 503, 504:
		what = "command syntax or sequence error"
	case 521, 556:
		what = "the host or domain does not accept mail"
	case 530:
		what = "authentication or TLS required"
	case 535:
		what = "authentication failed"
	case 550:
		what = "mailbox unavailable or refused by policy"
	case 551:
		what = "user not local"
	case 552:
		what = "storage exceeded or message too large"
	case 553:
		what = "mailbox name not allowed"
	case 554:
		what = "transaction failed"
	}
	class := ""
	switch code / 100 {
	case 2:
		class = "success"
	case 3:
		class = "intermediate reply, more input expected"
	case 4:
		class = "temporary failure, the sender retries later"
	case 5:
		class = "permanent failure, retrying will not help"
	default:
		class = "not a valid reply code"
	}
	if what == "" {
		return class
	}
	return what + " - " + class
}

// enhancedMeaning explains an RFC 3463 enhanced status code.
func enhancedMeaning(enhanced string) string {
	class, rest, _ := strings.Cut(enhanced, ".")
	subject, detail, _ := strings.Cut(rest, ".")
	var out string
	switch class {
	case "2":
		out = "success"
	case "4":
		out = "persistent transient failure"
	case "5":
		out = "permanent failure"
	default:
		return "not a valid status code"
	}
	subjects := [...]string{"other or undefined status", "addressing", "mailbox", "mail system", "network and routing", "mail delivery protocol", "message content or media", "security or policy"}
	if n, err := strconv.Atoi(subject); err == nil && n >= 0 && n < len(subjects) {
		out += ", " + subjects[n]
	}
	if d := detailMeaning(subject + "." + detail); d != "" {
		out += ": " + d
	}
	return out
}

// detailMeaning explains the subject.detail part of well-known enhanced
// codes (RFC 3463, RFC 7372, RFC 7505).
func detailMeaning(sd string) string {
	switch sd {
	case "1.1":
		return "bad destination mailbox address"
	case "1.2":
		return "bad destination system address"
	case "1.3":
		return "bad destination mailbox address syntax"
	case "1.8":
		return "bad sender's system address"
	case "1.10":
		return "recipient address has a null MX"
	case "2.1":
		return "mailbox disabled"
	case "2.2":
		return "mailbox full"
	case "2.3":
		return "message longer than the mailbox allows"
	case "3.2":
		return "system not accepting network messages"
	case "3.4":
		return "message too big for the system"
	case "4.1":
		return "no answer from host"
	case "4.2":
		return "bad connection"
	case "4.4":
		return "unable to route"
	case "4.7":
		return "delivery time expired"
	case "5.1":
		return "invalid command"
	case "5.3":
		return "too many recipients"
	case "7.0":
		return "other security or policy status"
	case "7.1":
		return "delivery not authorized, message refused"
	case "7.8":
		return "authentication credentials invalid"
	case "7.11":
		return "encryption required"
	case "7.20":
		return "no passing DKIM signature found"
	case "7.21":
		return "no acceptable DKIM signature found"
	case "7.22":
		return "no valid author-matched DKIM signature found"
	case "7.23":
		return "SPF validation failed"
	case "7.24":
		return "SPF validation error"
	case "7.25":
		return "reverse DNS validation failed"
	case "7.26":
		return "multiple authentication checks failed"
	case "7.27":
		return "sender address has a null MX"
	}
	return ""
}

// genericAdvice says what to do about a reply no signature matched.
func genericAdvice(code int, enhanced string) string {
	class := code / 100
	if class == 0 && enhanced != "" {
		class = int(enhanced[0] - '0')
	}
	switch {
	case code == 0 && enhanced == "":
		return `No SMTP reply code found: paste the server's reply line ("550 5.7.1 ...") or the Diagnostic-Code line of the bounce.`
	case class == 2 || class == 3:
		return "This is not a rejection; nothing to do."
	case len(enhanced) >= 4 && enhanced[1:4] == ".7.":
		return "A security or policy refusal no signature knows: read the text for a list or provider name, look the sending IP up on public blocklists, and check reverse DNS and SPF/DKIM/DMARC."
	case class == 4:
		return "Temporary failure: the sending server retries on its own; act only if it persists or many hosts get it."
	case class == 5:
		return "Permanent failure that is not a known blocklist or provider rejection (unknown recipient, size, syntax ...): check the recipient address and the message rather than the IP's reputation."
	}
	return "Not an SMTP rejection that this tool understands."
}
