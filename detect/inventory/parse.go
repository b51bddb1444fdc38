package inventory

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// builder accumulates entries and remembers where each was defined, for
// error messages.
type builder struct {
	inv   *Inventory
	lim   limits
	where []pos // where[i]: the place of entry i
}

// pos is where an entry was defined: a CSV line, or a YAML list item
// (entry > 0) and its line.
type pos struct{ entry, line int32 }

func (p pos) String() string {
	if p.entry > 0 {
		return fmt.Sprintf("entry %d (line %d)", p.entry, p.line)
	}
	return fmt.Sprintf("line %d", p.line)
}

// raw is one entry as read, before validation.
type raw struct {
	network, customer, account, cluster, site string
	uids                                      []string
}

func (b *builder) add(r raw, where pos) error {
	p, err := ParsePrefix(r.network)
	if err != nil {
		return fmt.Errorf("%w: %v: network %q: %w", ErrFormat, where, r.network, err)
	}
	for _, u := range r.uids {
		if !isUID(u) {
			return fmt.Errorf("%w: %v: uid %q is not a decimal number", ErrFormat, where, u)
		}
	}
	if len(r.uids) > 0 && r.account == "" {
		return fmt.Errorf("%w: %v: uids %v need an account", ErrFormat, where, r.uids)
	}
	if b.inv.entries.n >= b.lim.entries {
		return fmt.Errorf("%w: %v: more than %d entries", ErrTooLarge, where, b.lim.entries)
	}
	idx := int32(b.inv.entries.n)
	if err := b.inv.byNet.Insert(p, idx); err != nil {
		if errors.Is(err, ErrDuplicate) {
			prev, _ := b.inv.byNet.Get(p)
			return fmt.Errorf("%w: %v: %v is already defined at %v: %w", ErrFormat, where, p, b.where[prev], ErrDuplicate)
		}
		return fmt.Errorf("%w: %v: %w", ErrFormat, where, err)
	}
	b.inv.entries.add(Entry{
		Prefix:   p,
		Customer: r.customer,
		Account:  r.account,
		Cluster:  r.cluster,
		Site:     r.site,
		UIDs:     r.uids,
	})
	b.where = append(b.where, where)
	if len(r.uids) > 0 {
		m := make(map[string]string, len(r.uids))
		for _, u := range r.uids {
			m[u] = r.account
		}
		if err := b.inv.uids.Insert(p, m); err != nil {
			// Unreachable: byNet accepted p, so it is new here too.
			return fmt.Errorf("%w: %v: %w", ErrFormat, where, err)
		}
		b.inv.stats.UIDs += len(m)
	}
	return nil
}

// isUID reports whether s is a plausible Unix uid: 1 to 10 digits.
func isUID(s string) bool {
	if len(s) == 0 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitUIDs splits a uids field at ";", ",", spaces and tabs.
func splitUIDs(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return nil
	}
	return f
}

// columns maps accepted CSV header names (lower case) to their column.
var columns = map[string]string{
	"network": "network", "ip": "network", "cidr": "network", "prefix": "network",
	"customer": "customer", "account": "account", "cluster": "cluster", "site": "site",
	"uids": "uids",
}

const knownColumns = "network (or ip, cidr, prefix), customer, account, cluster, site, uids"

// lineFilter passes encoding/csv the lines of an inventory that are
// neither blank nor comments, and records the file line number of each.
type lineFilter struct {
	br      *bufio.Reader
	pending []byte // rest of the current line, in br's buffer
	lineNo  []int  // lineNo[i]: file line of the i-th line passed on
	read    int    // bytes read from the file
	max     int    // limit on read
	st      *Stats
	err     error // sticky
}

func (f *lineFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		line, err := f.br.ReadSlice('\n')
		f.read += len(line)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			f.err = fmt.Errorf("%w: line %d is longer than %d bytes", ErrTooLarge, f.st.Lines+1, MaxLine)
			return 0, f.err
		case f.read > f.max:
			f.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, f.max)
			return 0, f.err
		case err != nil:
			f.err = err // io.EOF or a read error, after this last line
		}
		if len(line) == 0 {
			continue
		}
		f.st.Lines++
		if f.st.Lines == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		switch t := bytes.TrimSpace(line); {
		case len(t) == 0:
			f.st.Blank++
			continue
		case t[0] == '#':
			f.st.Comments++
			continue
		}
		f.lineNo = append(f.lineNo, f.st.Lines)
		f.pending = line
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// fileLine maps a line number of the filtered stream to the file's.
func (f *lineFilter) fileLine(n int) int {
	if n >= 1 && n <= len(f.lineNo) {
		return f.lineNo[n-1]
	}
	return f.st.Lines
}

func (b *builder) csv(r io.Reader) error {
	f := &lineFilter{br: bufio.NewReaderSize(r, MaxLine), max: b.lim.bytes, st: &b.inv.stats}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	read := func() ([]string, int, error) {
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fmt.Errorf("%w: line %d: %w", ErrFormat, f.fileLine(pe.Line), pe.Err)
			}
			return nil, 0, err
		}
		line, _ := cr.FieldPos(0)
		for _, v := range rec {
			if strings.ContainsAny(v, "\r\n") {
				return nil, 0, fmt.Errorf("%w: line %d: a field spans lines", ErrFormat, f.fileLine(line))
			}
		}
		return rec, f.fileLine(line), nil
	}

	header, hline, err := read()
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: no header row (want e.g. network,customer,account,cluster,site,uids)", ErrFormat)
	case err != nil:
		return err
	}
	idx := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		name, ok := columns[strings.ToLower(h)]
		switch {
		case h == "":
			return fmt.Errorf("%w: line %d: column %d has no name (known: %s)", ErrFormat, hline, i+1, knownColumns)
		case !ok:
			return fmt.Errorf("%w: line %d: unknown column %q (known: %s)", ErrFormat, hline, h, knownColumns)
		}
		if _, dup := idx[name]; dup {
			return fmt.Errorf("%w: line %d: column %q given twice", ErrFormat, hline, name)
		}
		idx[name] = i
	}
	if _, ok := idx["network"]; !ok {
		return fmt.Errorf("%w: line %d: the header has no network column (known: %s)", ErrFormat, hline, knownColumns)
	}
	ncol := len(header)
	col := func(rec []string, name string) string {
		if i, ok := idx[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for {
		rec, line, err := read()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if len(rec) > ncol {
			return fmt.Errorf("%w: line %d: %d fields, the header has %d", ErrFormat, line, len(rec), ncol)
		}
		e := raw{
			network:  col(rec, "network"),
			customer: col(rec, "customer"),
			account:  col(rec, "account"),
			cluster:  col(rec, "cluster"),
			site:     col(rec, "site"),
			uids:     splitUIDs(col(rec, "uids")),
		}
		if err := b.add(e, pos{line: int32(line)}); err != nil {
			return err
		}
	}
}

func (b *builder) yaml(r io.Reader) (err error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(b.lim.yamlBytes)+1))
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	if len(data) > b.lim.yamlBytes {
		return fmt.Errorf("%w: more than %d bytes of YAML (use CSV for large inventories)", ErrTooLarge, b.lim.yamlBytes)
	}
	// The YAML library is third-party code fed hostile bytes; should it
	// ever panic, that is a bad file, not a crash of the sensor.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: YAML parser failed: %v", ErrFormat, p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty document (want a list under \"entries:\")", ErrFormat)
		}
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: line %d: more than one YAML document", ErrFormat, extra.Line)
	}
	top := resolve(&doc)
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = resolve(top.Content[0])
	}
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: line %d: want a mapping with a list under \"entries:\"", ErrFormat, top.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != "entries" {
			return fmt.Errorf("%w: line %d: unknown key %q (want \"entries\")", ErrFormat, k.Line, k.Value)
		}
		if list != nil {
			return fmt.Errorf("%w: line %d: \"entries\" given twice", ErrFormat, k.Line)
		}
		list = resolve(v)
	}
	switch {
	case list == nil:
		return fmt.Errorf("%w: no \"entries:\" key", ErrFormat)
	case list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		return nil // "entries:" with nothing: an empty inventory
	case list.Kind != yaml.SequenceNode:
		return fmt.Errorf("%w: line %d: \"entries\" is not a list", ErrFormat, list.Line)
	}
	for i, item := range list.Content {
		where := pos{entry: int32(i + 1), line: int32(item.Line)}
		e, err := yamlEntry(resolve(item))
		if err != nil {
			return fmt.Errorf("%w: %v: %w", ErrFormat, where, err)
		}
		if err := b.add(e, where); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows aliases (to a bounded depth: the parser refuses
// cycles, this is a second guard).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 64 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// yamlEntry reads one item of the entries list.
func yamlEntry(n *yaml.Node) (raw, error) {
	var e raw
	if n.Kind != yaml.MappingNode {
		return e, errors.New("not a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if seen[k.Value] {
			return e, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var dst *string
		switch k.Value {
		case "network":
			dst = &e.network
		case "customer":
			dst = &e.customer
		case "account":
			dst = &e.account
		case "cluster":
			dst = &e.cluster
		case "site":
			dst = &e.site
		case "uids":
			u, err := yamlUIDs(v)
			if err != nil {
				return e, fmt.Errorf("line %d: uids: %w", v.Line, err)
			}
			e.uids = u
			continue
		default:
			return e, fmt.Errorf("line %d: unknown key %q (known: network, customer, account, cluster, site, uids)", k.Line, k.Value)
		}
		s, err := yamlString(v)
		if err != nil {
			return e, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
		*dst = s
	}
	return e, nil
}

// yamlString returns the text of a scalar; null is "".
func yamlString(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("not a single value")
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return strings.TrimSpace(n.Value), nil
}

// yamlUIDs reads a list of scalars, or one scalar separated like the CSV
// column.
func yamlUIDs(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := yamlString(n)
		return splitUIDs(s), err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("not a list")
	}
	var out []string
	for _, c := range n.Content {
		s, err := yamlString(resolve(c))
		if err != nil {
			return nil, err
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
