package replysig

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds of the prefilter analysis. Beyond them a signature is tried with
// its regexp on every reply, which is correct, only slower.
const (
	maxLiterals = 16 // strings in a required set
	maxExact    = 64 // strings in an exact set (see exactSet)
	maxDepth    = 64 // nesting of the pattern
	goodLiteral = 6  // see better
)

// requiredLiterals returns lower-case strings of which at least one occurs
// in every text the pattern matches (after foldLower), or nil when no such
// set is known. The regexp still decides; the set only lets Match skip
// signatures that cannot match.
func requiredLiterals(pattern string) []string {
	re, err := syntax.Parse("(?i)"+pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits := literalsOf(re, 0)
	if len(lits) == 0 || len(lits) > maxLiterals || shortest(lits) == 0 {
		return nil
	}
	return lits
}

// literalsOf implements requiredLiterals for one node.
func literalsOf(re *syntax.Regexp, depth int) []string {
	if depth > maxDepth {
		return nil
	}
	if exact := minimize(exactSet(re, depth)); exact != nil && len(exact) <= maxLiterals && shortest(exact) > 0 {
		return exact
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return literalsOf(re.Sub[0], depth+1)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return literalsOf(re.Sub[0], depth+1)
		}
	case syntax.OpConcat:
		var best []string
		consider := func(l []string) {
			if l != nil && shortest(l) > 0 && len(l) <= maxLiterals && better(l, best) {
				best = l
			}
		}
		// Each child on its own, and runs of children with exact sets,
		// which give longer strings together ("(" "rtr|rly" ":" ->
		// "(rtr:", "(rly:").
		var run []string
		for _, sub := range re.Sub {
			consider(literalsOf(sub, depth+1))
			exact := exactSet(sub, depth+1)
			switch {
			case exact == nil:
				consider(minimize(run))
				run = nil
			case run == nil:
				run = exact
			default:
				if next := cross(run, exact); next != nil {
					run = next
				} else {
					consider(minimize(run))
					run = exact
				}
			}
		}
		consider(minimize(run))
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			l := literalsOf(sub, depth+1)
			if l == nil || shortest(l) == 0 {
				return nil
			}
			if all = minimize(append(all, l...)); len(all) > maxLiterals {
				return nil
			}
		}
		return all
	}
	return nil
}

// exactSet returns every string (folded) the node can match, when that set
// is small; zero-width assertions match "". nil means unknown or too many.
func exactSet(re *syntax.Regexp, depth int) []string {
	if depth > maxDepth {
		return nil
	}
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return nil // non-ASCII folding is left to the regexp
			}
		}
		return []string{strings.ToLower(s)}
	case syntax.OpEmptyMatch, syntax.OpWordBoundary, syntax.OpNoWordBoundary,
		syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return []string{""}
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				s := foldLower(string(r))
				if s[0] >= utf8.RuneSelf {
					return nil
				}
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
				if len(out) > 4 {
					return nil
				}
			}
		}
		return out
	case syntax.OpCapture:
		return exactSet(re.Sub[0], depth+1)
	case syntax.OpQuest:
		if sub := exactSet(re.Sub[0], depth+1); sub != nil {
			return dedupe(append(sub, ""))
		}
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s := exactSet(sub, depth+1)
			if s == nil {
				return nil
			}
			if out = cross(out, s); out == nil {
				return nil
			}
		}
		return out
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s := exactSet(sub, depth+1)
			if s == nil {
				return nil
			}
			if out = dedupe(append(out, s...)); len(out) > maxExact {
				return nil
			}
		}
		return out
	}
	return nil
}

// cross returns every a+b, or nil when there would be more than maxExact.
func cross(a, b []string) []string {
	if len(a)*len(b) > maxExact {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out)
}

// minimize drops the members of a required set that contain another
// member: a text holding the longer one holds the shorter one too, so the
// set lets the same texts pass.
func minimize(l []string) []string {
	if l == nil {
		return nil
	}
	l = dedupe(l)
	out := l[:0:0]
	for i, s := range l {
		redundant := false
		for j, t := range l {
			if i != j && len(t) < len(s) && strings.Contains(s, t) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, s)
		}
	}
	return out
}

func dedupe(l []string) []string {
	out := l[:0:0]
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// better reports whether literal set a filters more than b: a longer
// shortest member first, fewer members second. Lengths count up to
// goodLiteral only: longer strings are rare enough in reply texts, and
// small sets keep alternations within maxLiterals.
func better(a, b []string) bool {
	if b == nil {
		return true
	}
	ma, mb := min(shortest(a), goodLiteral), min(shortest(b), goodLiteral)
	if ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func shortest(l []string) int {
	m := -1
	for _, s := range l {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

// mayMatch reports whether folded (a text passed through foldLower) holds
// one of the literals; nil literals always pass.
func mayMatch(lits []string, folded string) bool {
	if lits == nil {
		return true
	}
	for _, l := range lits {
		if strings.Contains(folded, l) {
			return true
		}
	}
	return false
}
