// Package inventory owns the mapping from addresses to what the hosting
// platform knows about them (customer, account, cluster, site, and the Unix
// uids of an account), by longest matching prefix. Its generic Table is
// the longest-prefix structure that other address tables (platform
// networks, relays, egress NAT) use too.
//
// Parse reads an inventory from CSV or YAML bytes and builds an immutable
// Inventory that any number of goroutines may read; a reload builds a new
// Inventory and swaps the pointer. Input is untrusted: Parse never panics,
// bounds what it reads and keeps (MaxBytes, MaxYAMLBytes, MaxEntries),
// and reports the line (CSV) or entry (YAML) of the first problem.
package inventory

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Errors that callers can test for with errors.Is.
var (
	// ErrFormat reports input that is not an inventory: bad CSV or YAML,
	// a missing header, an unknown column or key, a bad network, a
	// duplicate prefix. The message names the line or entry.
	ErrFormat = errors.New("inventory")
	// ErrTooLarge reports input beyond MaxBytes, MaxYAMLBytes, MaxLine
	// or MaxEntries.
	ErrTooLarge = errors.New("inventory too large")
	// ErrInvalidPrefix reports a prefix that is not a valid network.
	ErrInvalidPrefix = errors.New("invalid prefix")
	// ErrHostBits reports a CIDR with bits set after its length
	// (10.0.0.1/24): almost always a typo for a host or for the network.
	ErrHostBits = errors.New("host bits set")
	// ErrDuplicate reports a prefix given twice.
	ErrDuplicate = errors.New("duplicate prefix")
)

// Limits on untrusted input.
const (
	// MaxBytes bounds the size of a CSV inventory (two million
	// entries of 60 bytes fit).
	MaxBytes = 128 << 20
	// MaxYAMLBytes bounds the size of a YAML inventory, about 60 000
	// entries. The YAML parser builds a node tree that can take 100
	// bytes of memory per byte of input; use CSV for large inventories.
	MaxYAMLBytes = 8 << 20
	// MaxLine bounds one CSV line.
	MaxLine = 64 << 10
	// MaxEntries bounds the number of entries (about 200 bytes of
	// memory each): a platform with more should list networks, not
	// every address.
	MaxEntries = 2_000_000
)

// Entry is what the inventory says about a network or a single address.
type Entry struct {
	// Prefix is the network; a single address is a /32 or /128. IPv4
	// is never IPv4-mapped.
	Prefix netip.Prefix `json:"prefix"`
	// Customer is who pays for the address (contract, company).
	Customer string `json:"customer,omitempty"`
	// Account is the hosting account (login) on the host, if one.
	Account string `json:"account,omitempty"`
	// Cluster is the platform part: shared-web, vps, office...
	Cluster string `json:"cluster,omitempty"`
	// Site is the data centre or location.
	Site string `json:"site,omitempty"`
	// UIDs are the decimal Unix uids of Account on the host(s) of
	// Prefix, to map the uid of X-PHP-Originating-Script ("UID:path")
	// to the account. Entries returned by Lookup share this slice with
	// the Inventory: do not modify it.
	UIDs []string `json:"uids,omitempty"`
}

// Stats counts what Parse read and skipped.
type Stats struct {
	Lines    int // CSV lines read, including header, comments and blanks; 0 for YAML
	Comments int // CSV comment lines (first non-blank character "#") skipped
	Blank    int // CSV blank lines skipped
	Entries  int // entries stored
	UIDs     int // uids mapped to an account (counted per entry)
}

// Inventory is an immutable longest-prefix map of entries. A nil
// *Inventory is empty. All methods are safe for concurrent use.
type Inventory struct {
	entries entries
	byNet   Table[int32]             // prefix → index into entries
	uids    Table[map[string]string] // prefix → uid → account, entries with uids only
	stats   Stats
}

// chunkBits sets the size of the chunks entries are stored in: growing a
// chunked store never copies what is already stored.
const chunkBits = 10

// entries is an append-only store of entries, indexed from 0.
type entries struct {
	chunks [][]Entry
	n      int
}

func (s *entries) add(e Entry) int32 {
	if s.n&(1<<chunkBits-1) == 0 {
		s.chunks = append(s.chunks, make([]Entry, 0, 1<<chunkBits))
	}
	c := &s.chunks[len(s.chunks)-1]
	*c = append(*c, e)
	s.n++
	return int32(s.n - 1)
}

func (s *entries) at(i int32) *Entry { return &s.chunks[i>>chunkBits][i&(1<<chunkBits-1)] }

// Lookup returns the entry of the longest prefix that contains ip. An
// IPv4-mapped IPv6 address is looked up as IPv4. It does not allocate.
func (inv *Inventory) Lookup(ip netip.Addr) (Entry, bool) {
	if inv == nil {
		return Entry{}, false
	}
	i, _, ok := inv.byNet.Lookup(ip)
	if !ok {
		return Entry{}, false
	}
	return *inv.entries.at(i), true
}

// AccountForUID maps a uid seen on host ip (from X-PHP-Originating-Script)
// to an account: the account of the longest prefix that contains ip and
// lists uid. So a uid listed on the host's own entry wins over one listed
// on its cluster's network, and a uid listed only on the cluster's network
// still maps.
func (inv *Inventory) AccountForUID(ip netip.Addr, uid string) (string, bool) {
	if inv == nil || uid == "" {
		return "", false
	}
	for _, m := range inv.uids.Covering(ip) {
		if a, ok := m[uid]; ok {
			return a, true
		}
	}
	return "", false
}

// Len returns the number of entries.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return inv.entries.n
}

// Stats returns what Parse counted while building inv.
func (inv *Inventory) Stats() Stats {
	if inv == nil {
		return Stats{}
	}
	return inv.stats
}

// ParseFile reads the inventory file at path; the format comes from the
// extension: .csv, or .yaml/.yml. Errors start with the path.
func ParseFile(path string) (*Inventory, error) {
	var format string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		format = "csv"
	case ".yaml", ".yml":
		format = "yaml"
	default:
		return nil, fmt.Errorf("%s: unknown inventory format (want .csv, .yaml or .yml)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	inv, err := Parse(f, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// Parse reads an inventory in format "csv" or "yaml" and builds it.
//
// CSV: the first line that is neither blank nor a comment is a header
// naming the columns, in any order and case-insensitively: network (or
// ip, cidr, prefix; required), customer, account, cluster, site, and uids
// (separated by ";", "," or spaces). Lines whose first non-blank character
// is "#" and blank lines are skipped. An unknown or repeated column is an
// error, so a typo cannot silently drop data. A row may leave out
// trailing columns but may not have more fields than the header; a quoted
// field may not span lines. A UTF-8 byte order mark is ignored.
//
// YAML: a mapping with the single key "entries", a list of mappings with
// the keys network, customer, account, cluster, site and uids (a list, or
// a string separated like the CSV column). Unknown keys are errors.
//
// In both, network is a CIDR (host bits must be clear) or an address; a
// prefix given twice is an error naming both places; uids are decimal
// and need an account.
func Parse(r io.Reader, format string) (*Inventory, error) {
	return parse(r, format, limits{bytes: MaxBytes, yamlBytes: MaxYAMLBytes, entries: MaxEntries})
}

// limits are the bounds of one Parse; tests make them small.
type limits struct{ bytes, yamlBytes, entries int }

func parse(r io.Reader, format string, lim limits) (*Inventory, error) {
	b := &builder{inv: &Inventory{}, lim: lim}
	var err error
	switch format {
	case "csv":
		err = b.csv(r)
	case "yaml":
		err = b.yaml(r)
	default:
		return nil, fmt.Errorf("unknown inventory format %q (want csv or yaml)", format)
	}
	if err != nil {
		return nil, err
	}
	b.inv.stats.Entries = b.inv.entries.n
	return b.inv, nil
}

// ParsePrefix parses a network as inventories and configuration write it:
// a CIDR with its host bits clear, or a single address (a /32 or /128).
// IPv4-mapped IPv6 becomes IPv4; zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("%w: empty", ErrInvalidPrefix)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: %w", ErrInvalidPrefix, err)
		}
		return Canonical(p)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %w", ErrInvalidPrefix, err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%w: %q: zones are not allowed", ErrInvalidPrefix, s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
