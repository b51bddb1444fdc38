package inventory

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
)

// Table maps prefixes to values and finds the longest prefix that contains
// an address. IPv4 and IPv6 are kept apart; IPv4-mapped IPv6 addresses and
// prefixes (::ffff:10.0.0.0/104) are treated as the IPv4 ones they map.
//
// The zero Table is empty and ready to use. Insert must not run
// concurrently with anything else; once the last Insert has returned, any
// number of goroutines may call the other methods.
//
// Internally there is one hash map of masked addresses per prefix length
// in use, and Lookup tries the lengths present from longest to shortest:
// at most 33 (IPv4) or 129 (IPv6) map probes, in practice a handful, and
// no allocation.
type Table[V any] struct {
	v4, v6 []level[V] // sorted by bits, longest first
	n      int
}

// level holds the prefixes of one length.
type level[V any] struct {
	bits int
	m    map[netip.Addr]V
}

// Canonical returns p in the form a Table stores it: IPv4-mapped IPv6
// prefixes become IPv4 prefixes. It fails with ErrInvalidPrefix for an
// invalid prefix or an IPv4-mapped one shorter than /96, and with
// ErrHostBits when p has bits set after its length (10.0.0.1/24).
func Canonical(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("%w: %v", ErrInvalidPrefix, p)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%w: %v: an IPv4-mapped prefix needs at least 96 bits", ErrInvalidPrefix, p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("%w: %v (did you mean %v?)", ErrHostBits, p, m)
	}
	return p, nil
}

// Insert adds p → v. It fails (and changes nothing) when p is invalid, has
// host bits set, or is already in the table (ErrDuplicate).
func (t *Table[V]) Insert(p netip.Prefix, v V) error {
	p, err := Canonical(p)
	if err != nil {
		return err
	}
	levels := &t.v4
	if p.Addr().Is6() {
		levels = &t.v6
	}
	i, found := slices.BinarySearchFunc(*levels, p.Bits(), func(l level[V], bits int) int { return bits - l.bits })
	if !found {
		*levels = slices.Insert(*levels, i, level[V]{bits: p.Bits(), m: make(map[netip.Addr]V)})
	}
	m := (*levels)[i].m
	if _, dup := m[p.Addr()]; dup {
		return fmt.Errorf("%w: %v", ErrDuplicate, p)
	}
	m[p.Addr()] = v
	t.n++
	return nil
}

// Get returns the value stored for exactly p (after Canonical).
func (t *Table[V]) Get(p netip.Prefix) (V, bool) {
	var zero V
	p, err := Canonical(p)
	if err != nil {
		return zero, false
	}
	levels := t.v4
	if p.Addr().Is6() {
		levels = t.v6
	}
	i, found := slices.BinarySearchFunc(levels, p.Bits(), func(l level[V], bits int) int { return bits - l.bits })
	if !found {
		return zero, false
	}
	v, ok := levels[i].m[p.Addr()]
	return v, ok
}

// family returns the levels to search for a, and a without zone and
// IPv4 mapping; nil for an invalid address.
func (t *Table[V]) family(a netip.Addr) ([]level[V], netip.Addr) {
	a = a.Unmap().WithZone("")
	switch {
	case a.Is4():
		return t.v4, a
	case a.Is6():
		return t.v6, a
	}
	return nil, a
}

// Lookup returns the value of the longest prefix that contains a, and that
// prefix. A zone on a is ignored. It does not allocate.
func (t *Table[V]) Lookup(a netip.Addr) (V, netip.Prefix, bool) {
	levels, a := t.family(a)
	for i := range levels {
		l := &levels[i]
		p, err := a.Prefix(l.bits)
		if err != nil {
			continue
		}
		if v, ok := l.m[p.Addr()]; ok {
			return v, p, true
		}
	}
	var zero V
	return zero, netip.Prefix{}, false
}

// Covering yields every prefix that contains a, with its value, longest
// first.
func (t *Table[V]) Covering(a netip.Addr) iter.Seq2[netip.Prefix, V] {
	return func(yield func(netip.Prefix, V) bool) {
		levels, a := t.family(a)
		for i := range levels {
			l := &levels[i]
			p, err := a.Prefix(l.bits)
			if err != nil {
				continue
			}
			if v, ok := l.m[p.Addr()]; ok && !yield(p, v) {
				return
			}
		}
	}
}

// All yields every prefix and its value: IPv4 before IPv6, longer prefixes
// before shorter ones, in no particular order within one length.
func (t *Table[V]) All() iter.Seq2[netip.Prefix, V] {
	return func(yield func(netip.Prefix, V) bool) {
		for _, levels := range [][]level[V]{t.v4, t.v6} {
			for _, l := range levels {
				for a, v := range l.m {
					if !yield(netip.PrefixFrom(a, l.bits), v) {
						return
					}
				}
			}
		}
	}
}

// Len returns the number of prefixes in the table.
func (t *Table[V]) Len() int { return t.n }
