package replysig

import (
	"strings"
	"testing"
)

// FuzzMatch feeds arbitrary codes and texts to Match and checks that it
// does not panic, agrees with the unfiltered matcher, and never matches a
// code outside 4xx/5xx.
func FuzzMatch(f *testing.F) {
	tab := Default()
	for _, s := range tab.Signatures() {
		for _, ex := range s.Examples {
			code, enh, text := parsePasted(ex)
			f.Add(code, enh, text)
		}
	}
	for _, b := range benign {
		f.Add(0, "", b)
	}
	f.Add(250, "2.0.0", "blocked using zen.spamhaus.org")
	f.Add(0, "5.", "\u212a\u017f\xff\xfe")
	f.Fuzz(func(t *testing.T, code int, enhanced, text string) {
		s, ok := tab.Match(code, enhanced, text)
		slow, slowOK := tab.matchSlow(code, enhanced, text)
		if ok != slowOK || s.ID != slow.ID {
			t.Fatalf("Match = %q %v, matchSlow = %q %v", s.ID, ok, slow.ID, slowOK)
		}
		if ok && code != 0 && (code < 400 || code > 599) {
			t.Fatalf("code %d matched %q", code, s.ID)
		}
		n := Normalize(text)
		if strings.Contains(n, "\n") || strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("Normalize(%q) = %q is not normalized", text, n)
		}
	})
}

// FuzzExplain feeds arbitrary pasted text to Explain and String.
func FuzzExplain(f *testing.F) {
	tab := Default()
	for _, s := range tab.Signatures() {
		for _, ex := range s.Examples {
			f.Add(ex)
		}
	}
	for _, b := range benign {
		f.Add(b)
	}
	f.Add("Status: 5.7.1\nDiagnostic-Code: smtp; 550-5.7.1 blocked\n    550 5.7.1 using bl.spamcop.net\n")
	f.Add("> > said: 421 (in reply to RCPT TO command)")
	f.Add("Diagnostic-Code: ;\nStatus: 5\n")
	f.Fuzz(func(t *testing.T, pasted string) {
		e := tab.Explain(pasted)
		if e.Matched && e.Code != 0 && (e.Code < 400 || e.Code > 599) {
			t.Fatalf("code %d matched %q", e.Code, e.Signature.ID)
		}
		if e.Meaning == "" || e.Advice == "" {
			t.Fatalf("empty meaning or advice: %+v", e)
		}
		if len(e.Text) > len(pasted) {
			t.Fatalf("text (%d bytes) longer than the paste (%d bytes)", len(e.Text), len(pasted))
		}
		_ = e.String()
	})
}

// FuzzParse feeds arbitrary YAML to Parse and ParseGroups: no panic, and
// either an error or a usable table.
func FuzzParse(f *testing.F) {
	// Small seeds keep each execution (and the minimization of new inputs)
	// fast: the head of the embedded table, not all of it.
	sigs := string(signaturesYAML)
	if i := nthIndex(sigs, "\n  - id:", 2); i > 0 {
		sigs = sigs[:i]
	}
	groups := string(groupsYAML)
	if i := nthIndex(groups, "\n  - name:", 3); i > 0 {
		groups = groups[:i]
	}
	f.Add([]byte(sigs))
	f.Add([]byte(groups))
	f.Add([]byte("signatures:\n  - id: a\n    list: a\n    type: blocklist\n    kind: listed\n    pattern: 'x'\n    codes: [5]\n    examples: ['550 x']\n"))
	f.Add([]byte("groups:\n  - name: a\n    mx: ['*.a.example']\n    domains: ['a.*']\n"))
	f.Add([]byte("a: &a [*a, *a, *a]\nb: &b [*a, *a]\n"))
	f.Add([]byte("signatures: !!binary AAAA\n"))
	f.Add([]byte("---\n...\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if tab, err := Parse(data); err == nil {
			for _, s := range tab.Signatures() {
				if s.ID == "" || s.Pattern == "" {
					t.Fatalf("Parse accepted signature %+v", s)
				}
			}
			tab.Match(550, "", string(data))
		} else if tab != nil {
			t.Fatal("Parse returned a table and an error")
		}
		if g, err := ParseGroups(data); err == nil {
			for _, gr := range g.List() {
				if gr.Name == "" || len(gr.MX)+len(gr.Domains) == 0 {
					t.Fatalf("ParseGroups accepted group %+v", gr)
				}
			}
			g.Classify(string(data), string(data))
		} else if g != nil {
			t.Fatal("ParseGroups returned groups and an error")
		}
	})
}

// nthIndex returns the index of the n-th (1-based) occurrence of sep in s,
// or -1.
func nthIndex(s, sep string, n int) int {
	off := 0
	for ; n > 0; n-- {
		i := strings.Index(s[off:], sep)
		if i < 0 {
			return -1
		}
		off += i + len(sep)
	}
	return off - len(sep)
}
