package replysig

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed groups.yaml
var groupsYAML []byte

// Other is the group name Classify returns when no group matches.
const Other = "other"

// Group is a set of destinations run by one provider or filtering service.
type Group struct {
	// Name is unique, in kebab-case ("gmail", "gmx-webde").
	Name string `yaml:"name" json:"name"`
	// Sensitive marks blocklist-sensitive destinations (big mailbox
	// providers, filtering services) that alerts and reports single out.
	Sensitive bool `yaml:"sensitive" json:"sensitive"`
	// MX holds patterns of MX host names, Domains patterns of recipient
	// domains (see the package documentation for the pattern forms).
	MX      []string `yaml:"mx,omitempty" json:"mx,omitempty"`
	Domains []string `yaml:"domains,omitempty" json:"domains,omitempty"`
}

func (g Group) clone() Group {
	g.MX = slices.Clone(g.MX)
	g.Domains = slices.Clone(g.Domains)
	return g
}

// Groups is an ordered, immutable set of destination groups; the first
// group that matches wins. It is safe for concurrent use.
type Groups struct {
	groups  []Group
	mx      nameIndex
	domains nameIndex
}

// nameIndex finds the first group (lowest index) whose patterns match a
// name, without scanning every pattern.
type nameIndex struct {
	exact  map[string]int // "gmail.com"
	suffix map[string]int // "*.google.com" stored as "google.com"
	tld    map[string]int // "yahoo.*" stored as "yahoo"
}

func newNameIndex() nameIndex {
	return nameIndex{exact: map[string]int{}, suffix: map[string]int{}, tld: map[string]int{}}
}

// add records pattern p (already validated and lower-cased) for group i;
// an earlier group keeps a pattern that a later one repeats.
func (x nameIndex) add(p string, i int) {
	m, key := x.exact, p
	switch {
	case strings.HasPrefix(p, "*."):
		m, key = x.suffix, p[2:]
	case strings.HasSuffix(p, ".*"):
		m, key = x.tld, p[:len(p)-2]
	}
	if _, ok := m[key]; !ok {
		m[key] = i
	}
}

// lookup returns the index of the first group that matches name
// (lower-case, no trailing dot), or -1.
func (x nameIndex) lookup(name string) int {
	best := -1
	consider := func(i int, ok bool) {
		if ok && (best < 0 || i < best) {
			best = i
		}
	}
	i, ok := x.exact[name]
	consider(i, ok)
	for j := 0; j < len(name); j++ {
		if name[j] != '.' {
			continue
		}
		i, ok := x.suffix[name[j+1:]]
		consider(i, ok)
		if tldLike(name[j+1:]) {
			i, ok := x.tld[name[:j]]
			consider(i, ok)
		}
	}
	return best
}

// tldLike reports whether s looks like a public suffix for "name.*"
// patterns: one label ("com", "fr") or a short label and a two-letter
// country code ("co.uk", "com.br").
func tldLike(s string) bool {
	first, rest, two := strings.Cut(s, ".")
	if !two {
		return len(s) >= 2 && len(s) <= 63 && isLabel(s)
	}
	return len(first) >= 2 && len(first) <= 3 && isLabel(first) &&
		len(rest) == 2 && isLabel(rest) && !strings.Contains(rest, "-")
}

func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// defaultGroups parses the embedded groups once; the result is immutable.
var defaultGroups = sync.OnceValue(func() *Groups {
	g, err := ParseGroups(groupsYAML)
	if err != nil {
		panic("replysig: embedded groups.yaml is broken: " + err.Error())
	}
	return g
})

// DefaultGroups returns the embedded destination groups (groups.yaml),
// parsed once on first use. It panics only if the embedded file is broken,
// which a test rules out.
func DefaultGroups() *Groups {
	return defaultGroups()
}

// ParseGroups reads destination groups in YAML (see the package
// documentation). Unknown fields, missing or duplicate names, the reserved
// name "other", groups without patterns and malformed patterns are errors
// that name the group and field.
func ParseGroups(data []byte) (*Groups, error) {
	if len(data) > MaxTableBytes {
		return nil, fmt.Errorf("replysig: groups: %d bytes, limit %d: %w", len(data), MaxTableBytes, ErrTooLarge)
	}
	var f struct {
		Groups []Group `yaml:"groups"`
	}
	if err := decodeYAML(data, &f); err != nil {
		return nil, fmt.Errorf("replysig: groups: %w", err)
	}
	if len(f.Groups) > MaxSignatures {
		return nil, fmt.Errorf("replysig: groups: %d entries, limit %d: %w", len(f.Groups), MaxSignatures, ErrTooLarge)
	}
	seen := make(map[string]int, len(f.Groups))
	out := make([]Group, 0, len(f.Groups))
	for i, g := range f.Groups {
		if j, dup := seen[g.Name]; dup && g.Name != "" {
			return nil, fmt.Errorf("replysig: group %d (name %q): name: %w of group %d", i+1, g.Name, ErrDuplicate, j+1)
		}
		seen[g.Name] = i
		v, err := validGroup(g)
		if err != nil {
			return nil, fmt.Errorf("replysig: group %d (name %q): %w", i+1, g.Name, err)
		}
		out = append(out, v)
	}
	return newGroups(out), nil
}

// validGroup checks a group and returns it with its patterns lower-cased
// and without trailing dots.
func validGroup(g Group) (Group, error) {
	switch {
	case g.Name == "":
		return g, fmt.Errorf("name: %w", ErrMissing)
	case !validName(g.Name):
		return g, fmt.Errorf("name %q: %w: want lower-case kebab-case of at most 64 characters", g.Name, ErrInvalid)
	case g.Name == Other:
		return g, fmt.Errorf("name %q: %w: reserved for destinations no group matches", g.Name, ErrInvalid)
	case len(g.MX) == 0 && len(g.Domains) == 0:
		return g, fmt.Errorf("mx, domains: %w: a group needs at least one pattern", ErrMissing)
	}
	g = g.clone()
	for _, field := range []struct {
		name string
		list []string
	}{{"mx", g.MX}, {"domains", g.Domains}} {
		for i, p := range field.list {
			q, err := cleanPattern(p)
			if err != nil {
				return g, fmt.Errorf("%s[%d] %q: %w", field.name, i, p, err)
			}
			field.list[i] = q
		}
	}
	return g, nil
}

// cleanPattern validates a host or domain pattern and returns it in
// canonical form.
func cleanPattern(p string) (string, error) {
	q := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
	core := q
	switch {
	case strings.HasPrefix(q, "*.") && strings.HasSuffix(q, ".*"):
		return "", fmt.Errorf("%w: use either *.name or name.*, not both", ErrInvalid)
	case strings.HasPrefix(q, "*."):
		core = q[2:]
	case strings.HasSuffix(q, ".*"):
		core = q[:len(q)-2]
	}
	if core == "" || len(core) > 253 {
		return "", fmt.Errorf("%w: empty or longer than 253 characters", ErrInvalid)
	}
	for _, label := range strings.Split(core, ".") {
		if len(label) > 63 || !isLabel(strings.ReplaceAll(label, "_", "x")) {
			return "", fmt.Errorf("%w: want a host name, *.name or name.*", ErrInvalid)
		}
	}
	return q, nil
}

func newGroups(groups []Group) *Groups {
	g := &Groups{groups: groups, mx: newNameIndex(), domains: newNameIndex()}
	for i, gr := range groups {
		for _, p := range gr.MX {
			g.mx.add(p, i)
		}
		for _, p := range gr.Domains {
			g.domains.add(p, i)
		}
	}
	return g
}

// Merge returns groups with those of extra first, in their order, followed
// by those of g whose names extra does not replace. Neither input changes.
func (g *Groups) Merge(extra *Groups) *Groups {
	var base, add []Group
	if g != nil {
		base = g.groups
	}
	if extra != nil {
		add = extra.groups
	}
	replaced := make(map[string]bool, len(add))
	out := make([]Group, 0, len(base)+len(add))
	for _, gr := range add {
		replaced[gr.Name] = true
		out = append(out, gr)
	}
	for _, gr := range base {
		if !replaced[gr.Name] {
			out = append(out, gr)
		}
	}
	return newGroups(out)
}

// Classify returns the group of a destination: by MX host first (mxHost
// may be ""), then by recipient domain (an address "user@domain" is
// accepted too); Other and false when nothing matches. Names are compared
// case-insensitively without a trailing dot.
func (g *Groups) Classify(mxHost, domain string) (name string, sensitive bool) {
	if g == nil {
		return Other, false
	}
	if h := canonicalName(mxHost); h != "" {
		if i := g.mx.lookup(h); i >= 0 {
			return g.groups[i].Name, g.groups[i].Sensitive
		}
	}
	if at := strings.LastIndexByte(domain, '@'); at >= 0 {
		domain = domain[at+1:]
	}
	if d := canonicalName(domain); d != "" {
		if i := g.domains.lookup(d); i >= 0 {
			return g.groups[i].Name, g.groups[i].Sensitive
		}
	}
	return Other, false
}

// canonicalName lower-cases a DNS name and removes white space and a
// trailing dot. Names longer than any DNS name give "": no group can hold
// them, so they classify as Other.
func canonicalName(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if len(s) > 255 {
		return ""
	}
	return strings.ToLower(s)
}

// List returns a copy of the groups in match order.
func (g *Groups) List() []Group {
	if g == nil {
		return nil
	}
	out := make([]Group, len(g.groups))
	for i, gr := range g.groups {
		out[i] = gr.clone()
	}
	return out
}
