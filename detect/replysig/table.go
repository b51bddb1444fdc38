package replysig

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

//go:embed signatures.yaml
var signaturesYAML []byte

// Limits on tables and texts. Input beyond them is rejected (tables) or
// cut and counted (texts).
const (
	// MaxTableBytes bounds a signature or group file.
	MaxTableBytes = 1 << 20
	// MaxSignatures bounds the signatures of one file.
	MaxSignatures = 10000
	// MaxPatternLen bounds one pattern, in bytes.
	MaxPatternLen = 4096
	// MaxTextLen bounds the reply text Match looks at; longer texts are
	// cut (Stats.Truncated).
	MaxTextLen = 16 << 10
	// MaxPasteLen bounds the pasted text Explain reads; longer texts are
	// cut (Stats.Truncated).
	MaxPasteLen = 64 << 10
)

// Errors of Parse and ParseGroups; the returned errors wrap one of them and
// name the entry and field.
var (
	// ErrSyntax: the file is not YAML of the expected shape, or has an
	// unknown field.
	ErrSyntax = errors.New("invalid YAML")
	// ErrTooLarge: the file, a list or a pattern exceeds its limit.
	ErrTooLarge = errors.New("too large")
	// ErrMissing: a required field is empty.
	ErrMissing = errors.New("missing")
	// ErrInvalid: a field has a malformed value (name, code, URL, host
	// pattern).
	ErrInvalid = errors.New("invalid value")
	// ErrDuplicate: a signature id or group name occurs twice.
	ErrDuplicate = errors.New("duplicate")
	// ErrUnknownType: a signature type is neither blocklist nor provider.
	ErrUnknownType = errors.New("unknown type")
	// ErrBadPattern: a pattern does not compile or matches empty text.
	ErrBadPattern = errors.New("bad pattern")
	// ErrExample: an example is not matched by its own signature.
	ErrExample = errors.New("example does not match its signature")
)

// Signature types.
const (
	// TypeBlocklist: a DNS blocklist or reputation list lists the sender.
	TypeBlocklist = "blocklist"
	// TypeProvider: a mailbox provider or filtering service refuses the
	// sender for its own reputation, rate or policy reasons.
	TypeProvider = "provider"
)

// Signature recognises one kind of rejection text.
type Signature struct {
	// ID is stable and unique, in kebab-case ("spamhaus-zen").
	ID string `yaml:"id" json:"id"`
	// List is the blocklist ("spamhaus-zen", "barracuda") or provider
	// ("gmail", "microsoft") that sent or caused the rejection.
	List string `yaml:"list" json:"list"`
	// Type is TypeBlocklist or TypeProvider.
	Type string `yaml:"type" json:"type"`
	// Kind is the reason: "listed", "reputation", "rate-limit", "policy",
	// "authentication", "content", "blocked-network", "reverse-dns",
	// "tls", "query-refused", ...
	Kind string `yaml:"kind" json:"kind"`
	// Pattern is a Go RE2 expression, matched case-insensitively against
	// the normalized reply text (see Normalize).
	Pattern string `yaml:"pattern" json:"pattern"`
	// URL is the operator's or provider's page about the rejection.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Advice is one sentence for an abuse desk: what to do.
	Advice string `yaml:"advice,omitempty" json:"advice,omitempty"`
	// Codes restricts the signature to reply classes (4, 5) or reply codes
	// (421); empty means any 4xx or 5xx.
	Codes []int `yaml:"codes,omitempty" json:"codes,omitempty"`
	// Examples are reply texts as servers send them; each must match.
	Examples []string `yaml:"examples,omitempty" json:"examples,omitempty"`
}

func (s Signature) clone() Signature {
	s.Codes = slices.Clone(s.Codes)
	s.Examples = slices.Clone(s.Examples)
	return s
}

// Stats counts what Match and Explain did and what they skipped or cut.
type Stats struct {
	// Matched and Unmatched count 4xx/5xx (or code 0) replies tried.
	Matched   uint64
	Unmatched uint64
	// Skipped counts replies not tried because their code is not 4xx or
	// 5xx (or code 0 with a 2.x.x enhanced code).
	Skipped uint64
	// Truncated counts texts cut to MaxTextLen (Match) or MaxPasteLen
	// (Explain).
	Truncated uint64
}

// counters holds the Stats of one Table, indexed by the stat constants.
type counters [numStats]atomic.Uint64

const (
	statMatched = iota
	statUnmatched
	statSkipped
	statTruncated
	numStats
)

// entry is a compiled signature.
type entry struct {
	sig  Signature
	re   *regexp.Regexp
	lits []string // prefilter: one must occur in the folded text; nil: none known
	// listGroups are the indexes of the groups named list, list2, ...
	listGroups []int
}

// Table is an ordered, immutable set of signatures; the first that matches
// a reply wins. A Table is safe for concurrent use; only its Stats
// counters change.
type Table struct {
	entries []entry        // never modified after construction; shared by Merge
	lazy    func() []entry // the embedded table, parsed on first use; entries is nil then
	stats   *counters
}

// defaultEntries parses the embedded table once; the compiled entries are
// immutable and shared by every Table that Default returns.
var defaultEntries = sync.OnceValue(func() []entry {
	t, err := Parse(signaturesYAML)
	if err != nil {
		panic("replysig: embedded signatures.yaml is broken: " + err.Error())
	}
	return t.entries
})

// Default returns the embedded signature table (signatures.yaml). It is
// parsed once, on the first match or listing (not by Default itself); each call returns a Table with its own Stats.
// It panics only if the embedded file is broken, which a test rules out.
func Default() *Table {
	return &Table{lazy: defaultEntries, stats: new(counters)}
}

// list returns the compiled entries; the embedded table is parsed on the
// first call, so a run that never sees a 4xx or 5xx reply (or never
// explains one) does not pay for compiling it.
func (t *Table) list() []entry {
	if t.lazy != nil {
		return t.lazy()
	}
	return t.entries
}

// Parse reads a signature table in YAML (see the package documentation).
// Unknown fields, missing or invalid fields, duplicate ids, unknown types,
// bad or empty-matching patterns and examples that do not match their own
// signature are errors that name the signature and field.
func Parse(data []byte) (*Table, error) {
	if len(data) > MaxTableBytes {
		return nil, fmt.Errorf("replysig: signatures: %d bytes, limit %d: %w", len(data), MaxTableBytes, ErrTooLarge)
	}
	var f struct {
		Signatures []Signature `yaml:"signatures"`
	}
	if err := decodeYAML(data, &f); err != nil {
		return nil, fmt.Errorf("replysig: signatures: %w", err)
	}
	if len(f.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("replysig: signatures: %d entries, limit %d: %w", len(f.Signatures), MaxSignatures, ErrTooLarge)
	}
	t := &Table{entries: make([]entry, 0, len(f.Signatures)), stats: new(counters)}
	seen := make(map[string]int, len(f.Signatures))
	for i, s := range f.Signatures {
		if j, dup := seen[s.ID]; dup && s.ID != "" {
			return nil, fmt.Errorf("replysig: signature %d (id %q): id: %w of signature %d", i+1, s.ID, ErrDuplicate, j+1)
		}
		seen[s.ID] = i
		e, err := compile(s)
		if err != nil {
			return nil, fmt.Errorf("replysig: signature %d (id %q): %w", i+1, s.ID, err)
		}
		t.entries = append(t.entries, e)
	}
	return t, nil
}

// decodeYAML decodes one YAML document strictly (unknown fields are
// errors). An empty document leaves v unchanged. A panic inside the YAML
// library is turned into an error.
func decodeYAML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder failed: %v", ErrSyntax, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return nil
}

// compile validates one signature and compiles its pattern.
func compile(s Signature) (entry, error) {
	for _, f := range []struct{ name, value string }{{"id", s.ID}, {"list", s.List}, {"type", s.Type}, {"kind", s.Kind}, {"pattern", s.Pattern}} {
		if f.value == "" {
			return entry{}, fmt.Errorf("%s: %w", f.name, ErrMissing)
		}
	}
	for _, f := range []struct{ name, value string }{{"id", s.ID}, {"list", s.List}, {"kind", s.Kind}} {
		if !validName(f.value) {
			return entry{}, fmt.Errorf("%s %q: %w: want lower-case kebab-case of at most 64 characters", f.name, f.value, ErrInvalid)
		}
	}
	if s.Type != TypeBlocklist && s.Type != TypeProvider {
		return entry{}, fmt.Errorf("type %q: %w: want %q or %q", s.Type, ErrUnknownType, TypeBlocklist, TypeProvider)
	}
	if len(s.Pattern) > MaxPatternLen {
		return entry{}, fmt.Errorf("pattern: %d bytes, limit %d: %w", len(s.Pattern), MaxPatternLen, ErrTooLarge)
	}
	re, err := regexp.Compile("(?i)" + s.Pattern)
	if err != nil {
		return entry{}, fmt.Errorf("pattern: %w: %w", ErrBadPattern, err)
	}
	if re.MatchString("") {
		return entry{}, fmt.Errorf("pattern: %w: it matches the empty text, so it would match every reply", ErrBadPattern)
	}
	for i, c := range s.Codes {
		if c != 4 && c != 5 && (c < 400 || c > 599) {
			return entry{}, fmt.Errorf("codes[%d] %d: %w: want 4, 5 or a code from 400 to 599", i, c, ErrInvalid)
		}
	}
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return entry{}, fmt.Errorf("url %q: %w: want an absolute http or https URL", s.URL, ErrInvalid)
		}
	}
	e := entry{sig: s.clone(), re: re, lits: requiredLiterals(s.Pattern)}
	for i, name := range re.SubexpNames() {
		if name == "list" || strings.HasPrefix(name, "list") && strings.Trim(name[4:], "0123456789") == "" {
			e.listGroups = append(e.listGroups, i)
		}
	}
	for i, ex := range s.Examples {
		code, enh, text := parsePasted(ex)
		class, ok := replyClass(code, enh)
		if !ok || !codeAllowed(s.Codes, code, class) || !re.MatchString(Normalize(text)) {
			return entry{}, fmt.Errorf("examples[%d] %.60q: %w", i, ex, ErrExample)
		}
	}
	return e, nil
}

// validName reports whether s is lower-case kebab-case ("spamhaus-zen",
// "0spam") of at most 64 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}

// Merge returns a table with the signatures of extra first, in their
// order, followed by those of t whose ids extra does not replace. Neither
// input changes; the result has its own Stats.
func (t *Table) Merge(extra *Table) *Table {
	var base, add []entry
	if t != nil {
		base = t.list()
	}
	if extra != nil {
		add = extra.list()
	}
	replaced := make(map[string]bool, len(add))
	out := make([]entry, 0, len(base)+len(add))
	for _, e := range add {
		replaced[e.sig.ID] = true
		out = append(out, e)
	}
	for _, e := range base {
		if !replaced[e.sig.ID] {
			out = append(out, e)
		}
	}
	return &Table{entries: out, stats: new(counters)}
}

// Len returns the number of signatures.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.list())
}

// Signatures returns a copy of the signatures in match order.
func (t *Table) Signatures() []Signature {
	if t == nil {
		return nil
	}
	out := make([]Signature, len(t.list()))
	for i, e := range t.list() {
		out[i] = e.sig.clone()
	}
	return out
}

// Stats returns a snapshot of the table's counters.
func (t *Table) Stats() Stats {
	if t == nil || t.stats == nil {
		return Stats{}
	}
	return Stats{
		Matched:   t.stats[statMatched].Load(),
		Unmatched: t.stats[statUnmatched].Load(),
		Skipped:   t.stats[statSkipped].Load(),
		Truncated: t.stats[statTruncated].Load(),
	}
}

// Match finds the first signature that matches a reply. Only 4xx and 5xx
// codes match (code 0 = unknown code: allowed, for pasted texts, unless
// enhanced is a 2.x.x success code). Returns false for anything else.
// The text is normalized (see Normalize) and cut to MaxTextLen first.
func (t *Table) Match(code int, enhanced, text string) (Signature, bool) {
	if t == nil {
		return Signature{}, false
	}
	class, ok := replyClass(code, enhanced)
	if !ok {
		t.inc(statSkipped)
		return Signature{}, false
	}
	if len(text) > MaxTextLen {
		text = text[:MaxTextLen]
		t.inc(statTruncated)
	}
	norm := Normalize(text)
	folded := foldLower(norm)
	for i := range t.list() {
		e := &t.list()[i]
		if !codeAllowed(e.sig.Codes, code, class) || !mayMatch(e.lits, folded) || !e.re.MatchString(norm) {
			continue
		}
		t.inc(statMatched)
		return e.matched(norm), true
	}
	t.inc(statUnmatched)
	return Signature{}, false
}

// MaxListLen bounds a list name taken from a reply text.
const MaxListLen = 64

// matched returns the signature that matched norm, with the list named
// by the text when the pattern captures it.
func (e *entry) matched(norm string) Signature {
	sig := e.sig.clone()
	if len(e.listGroups) == 0 {
		return sig
	}
	m := e.re.FindStringSubmatchIndex(norm)
	for _, g := range e.listGroups {
		if m != nil && m[2*g] >= 0 && m[2*g+1] > m[2*g] {
			if name := strings.ToLower(norm[m[2*g]:m[2*g+1]]); len(name) <= MaxListLen {
				sig.List = name
			}
			break
		}
	}
	return sig
}

// matchSlow is Match without the prefilter and counters; tests compare the
// two.
func (t *Table) matchSlow(code int, enhanced, text string) (Signature, bool) {
	class, ok := replyClass(code, enhanced)
	if !ok {
		return Signature{}, false
	}
	if len(text) > MaxTextLen {
		text = text[:MaxTextLen]
	}
	norm := Normalize(text)
	for _, e := range t.list() {
		if codeAllowed(e.sig.Codes, code, class) && e.re.MatchString(norm) {
			return e.matched(norm), true
		}
	}
	return Signature{}, false
}

// inc adds one to a counter; a zero Table counts nothing.
func (t *Table) inc(stat int) {
	if t.stats != nil {
		t.stats[stat].Add(1)
	}
}

// replyClass returns the class (4 or 5) of a reply that Match may try, 0
// for an unknown class (code 0 without a usable enhanced code), and false
// for replies Match never tries.
func replyClass(code int, enhanced string) (int, bool) {
	switch {
	case code >= 400 && code <= 599:
		return code / 100, true
	case code != 0:
		return 0, false
	}
	if len(enhanced) >= 2 && enhanced[1] == '.' {
		switch enhanced[0] {
		case '4', '5':
			return int(enhanced[0] - '0'), true
		case '2':
			return 0, false
		}
	}
	return 0, true
}

// codeAllowed applies a signature's Codes to a reply of the given code and
// class (class 0: unknown, everything allowed).
func codeAllowed(codes []int, code, class int) bool {
	if len(codes) == 0 {
		return true
	}
	for _, c := range codes {
		switch {
		case code != 0 && (c == code || c == code/100):
			return true
		case code == 0 && (class == 0 || c == class || c/100 == class):
			return true
		}
	}
	return false
}
