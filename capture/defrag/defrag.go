// Package defrag owns IP fragment reassembly for IPv4 and IPv6: it collects
// the fragments of each datagram, in any order and with duplicates and
// overlaps, and hands back the reassembled upper-layer payload.
//
// The fragments come from untrusted traffic. Memory is bounded whatever
// the input: at most Config.MaxDatagrams datagrams and Config.MaxBytes
// fragment bytes are held, and when a new fragment would exceed either
// bound the oldest datagrams are evicted (and counted). Incomplete
// datagrams expire after Config.Timeout of packet time; the wall clock is
// never read. Fragments that cannot belong to a valid datagram drop their
// datagram and are counted.
//
// Overlap policy: the first data received for a byte range wins. Later
// fragments only fill the holes, and overlaps are counted, separately when
// the overlapping bytes differ (an evasion attempt or a broken stack).
//
// A Defragmenter is not safe for concurrent use and starts no goroutines.
package defrag

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// MaxDatagram is the largest reassembled payload accepted, in bytes.
const MaxDatagram = 65535

// Config bounds a Defragmenter. Start from DefaultConfig.
type Config struct {
	// MaxDatagrams is how many datagrams are reassembled at once; past it
	// the oldest is evicted (counted in Stats.Evicted).
	MaxDatagrams int
	// MaxBytes bounds the fragment bytes buffered for all datagrams
	// together; past it the oldest datagrams are evicted.
	MaxBytes int
	// Timeout is how long, in packet time from its first fragment, an
	// incomplete datagram waits for the rest (counted in Stats.Expired).
	Timeout time.Duration
}

// DefaultConfig returns 4096 datagrams, 8 MiB and 30 seconds.
func DefaultConfig() Config {
	return Config{MaxDatagrams: 4096, MaxBytes: 8 << 20, Timeout: 30 * time.Second}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	switch {
	case c.MaxDatagrams < 1:
		return fmt.Errorf("max_datagrams must be positive, got %d", c.MaxDatagrams)
	case c.MaxBytes < 1:
		return fmt.Errorf("max_bytes must be positive, got %d", c.MaxBytes)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout must be positive, got %v", c.Timeout)
	}
	return nil
}

// Key identifies one datagram. Scope is an opaque caller key (VLAN,
// tunnel) that keeps apart datagrams from different networks. ID is the
// IPv4 16-bit or IPv6 32-bit identification. Proto is the upper-layer
// protocol (IPv4 protocol field, or the IPv6 next header after the
// fragment header).
type Key struct {
	Scope    uint64
	Src, Dst netip.Addr
	ID       uint32
	Proto    uint8
}

// Stats is a snapshot of the counters. Every datagram whose fragments
// were given to Add is either reassembled or dropped and counted once, by
// Expired, Evicted, Oversize or Invalid.
type Stats struct {
	// Fragments counts calls to Add.
	Fragments uint64
	// Reassembled counts datagrams returned complete.
	Reassembled uint64
	// Expired counts incomplete datagrams dropped after Timeout.
	Expired uint64
	// Evicted counts incomplete datagrams dropped early to stay within
	// MaxDatagrams or MaxBytes.
	Evicted uint64
	// Overlaps counts fragments that overlap bytes already held (exact
	// duplicates included); OverlapConflicts those among them whose
	// overlapping bytes differ from what is held. The held bytes win.
	Overlaps         uint64
	OverlapConflicts uint64
	// Oversize counts datagrams dropped because a fragment reaches past
	// MaxDatagram bytes.
	Oversize uint64
	// Invalid counts datagrams dropped for an impossible fragment: an
	// offset that is not a multiple of 8, an empty fragment or a non-last
	// fragment whose length is not a multiple of 8, two different ends
	// (last fragments), or data past the end.
	Invalid uint64
	// BufferedBytes and Datagrams are the fragment bytes and datagrams
	// held now. Overlapping bytes are held once; bookkeeping adds at most
	// a few bytes per 8 bytes held.
	BufferedBytes uint64
	Datagrams     uint64
}

// piece is a run of held bytes of a datagram: [off, end) of the datagram,
// stored at data[pos:].
type piece struct {
	off, end, pos int32
}

// datagram is one datagram being reassembled.
type datagram struct {
	key        Key
	first      time.Time // packet time of the first fragment
	pieces     []piece   // sorted by off, disjoint
	data       []byte    // held bytes, in arrival order
	total      int       // datagram length, -1 until the last fragment
	prev, next *datagram // creation order list
}

// Defragmenter reassembles fragmented datagrams.
type Defragmenter struct {
	cfg       Config
	datagrams map[Key]*datagram
	// oldest and newest are the ends of the list of datagrams in creation
	// order; eviction and expiry take from oldest.
	oldest, newest *datagram
	clock          time.Time // newest packet time seen
	buffered       int
	out            []byte // the last reassembled payload
	stats          Stats
}

// New returns a Defragmenter, or an error if cfg is not valid.
func New(cfg Config) (*Defragmenter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("defrag: %w", err)
	}
	return &Defragmenter{cfg: cfg, datagrams: make(map[Key]*datagram)}, nil
}

// Add takes one fragment of the datagram k: its offset in bytes, more =
// the MF (more fragments) flag, and its payload, which is copied. When the
// datagram is complete Add returns the reassembled upper-layer payload and
// true; the payload is valid until the next call to Add. A fragment with
// offset 0 and more false is a whole datagram and is returned as is
// (copied).
func (d *Defragmenter) Add(k Key, offset int, more bool, data []byte, now time.Time) ([]byte, bool) {
	d.stats.Fragments++
	if now.After(d.clock) {
		d.clock = now
	}
	end := offset + len(data)
	dg := d.datagrams[k]
	if dg != nil && d.clock.Sub(dg.first) >= d.cfg.Timeout {
		// The identification was reused after the old datagram timed out.
		d.drop(dg)
		d.stats.Expired++
		dg = nil
	}
	switch {
	case offset < 0 || offset%8 != 0 || more && (len(data) == 0 || len(data)%8 != 0):
		d.stats.Invalid++
		d.dropIf(dg)
		return nil, false
	case end > MaxDatagram:
		d.stats.Oversize++
		d.dropIf(dg)
		return nil, false
	}
	if dg == nil {
		if offset == 0 && !more {
			d.stats.Reassembled++
			d.out = append(d.out[:0], data...)
			return d.out, true
		}
		dg = d.create(k)
	}
	if !d.checkEnd(dg, end, more) {
		d.stats.Invalid++
		d.drop(dg)
		return nil, false
	}
	d.insert(dg, offset, data)
	if dg.total >= 0 && dg.covered() == dg.total {
		d.out = dg.assemble(d.out[:0])
		d.stats.Reassembled++
		d.drop(dg)
		return d.out, true
	}
	d.enforceBytes()
	return nil, false
}

// checkEnd checks a fragment against the end of the datagram, and learns
// the end from a last fragment. It reports false for a fragment that
// cannot belong to the datagram.
func (d *Defragmenter) checkEnd(dg *datagram, end int, more bool) bool {
	if !more {
		switch {
		case dg.total >= 0:
			return end == dg.total // a second last fragment must agree
		case len(dg.pieces) > 0 && int(dg.pieces[len(dg.pieces)-1].end) > end:
			return false // data already held past this end
		}
		dg.total = end
		return true
	}
	return dg.total < 0 || end <= dg.total
}

// covered returns the number of bytes held.
func (dg *datagram) covered() int {
	return len(dg.data)
}

// insert stores the parts of [offset, offset+len(data)) not held yet;
// held bytes win.
func (d *Defragmenter) insert(dg *datagram, offset int, data []byte) {
	off, end := int32(offset), int32(offset+len(data))
	// The first piece that ends after off.
	i := sort.Search(len(dg.pieces), func(i int) bool { return dg.pieces[i].end > off })
	overlap, conflict := false, false
	at := off // start of the part not yet handled
	for at < end {
		if i < len(dg.pieces) && dg.pieces[i].off <= at {
			// Held: compare, then skip past it.
			p := dg.pieces[i]
			e := min(p.end, end)
			overlap = true
			held := dg.data[p.pos+(at-p.off) : p.pos+(e-p.off)]
			if !bytes.Equal(held, data[at-off:e-off]) {
				conflict = true
			}
			at = e
			i++
			continue
		}
		// A hole up to the next piece or the end of the fragment.
		e := end
		if i < len(dg.pieces) {
			e = min(e, dg.pieces[i].off)
		}
		i = dg.add(i, at, e, data[at-off:e-off])
		d.buffered += int(e - at)
		at = e
	}
	if overlap {
		d.stats.Overlaps++
	}
	if conflict {
		d.stats.OverlapConflicts++
	}
}

// add stores b as the bytes [off, end) in a new piece at index i, or by
// growing the piece before it, and returns the index of the piece after.
func (dg *datagram) add(i int, off, end int32, b []byte) int {
	pos := int32(len(dg.data))
	dg.data = append(dg.data, b...)
	if i > 0 {
		if p := &dg.pieces[i-1]; p.end == off && p.pos+(p.end-p.off) == pos {
			p.end = end // contiguous both in the datagram and in data
			return i
		}
	}
	dg.pieces = append(dg.pieces, piece{})
	copy(dg.pieces[i+1:], dg.pieces[i:])
	dg.pieces[i] = piece{off: off, end: end, pos: pos}
	return i + 1
}

// assemble appends the datagram's bytes in order to out.
func (dg *datagram) assemble(out []byte) []byte {
	for _, p := range dg.pieces {
		out = append(out, dg.data[p.pos:p.pos+(p.end-p.off)]...)
	}
	return out
}

// create starts a datagram, evicting the oldest when the table is full.
func (d *Defragmenter) create(k Key) *datagram {
	for len(d.datagrams) >= d.cfg.MaxDatagrams {
		d.drop(d.oldest)
		d.stats.Evicted++
	}
	dg := &datagram{key: k, first: d.clock, total: -1, prev: d.newest}
	if d.newest != nil {
		d.newest.next = dg
	} else {
		d.oldest = dg
	}
	d.newest = dg
	d.datagrams[k] = dg
	return dg
}

// enforceBytes evicts the oldest datagrams while too many bytes are held.
func (d *Defragmenter) enforceBytes() {
	for d.buffered > d.cfg.MaxBytes && d.oldest != nil {
		d.drop(d.oldest)
		d.stats.Evicted++
	}
}

func (d *Defragmenter) dropIf(dg *datagram) {
	if dg != nil {
		d.drop(dg)
	}
}

// drop forgets a datagram.
func (d *Defragmenter) drop(dg *datagram) {
	delete(d.datagrams, dg.key)
	if dg.prev != nil {
		dg.prev.next = dg.next
	} else {
		d.oldest = dg.next
	}
	if dg.next != nil {
		dg.next.prev = dg.prev
	} else {
		d.newest = dg.prev
	}
	dg.prev, dg.next = nil, nil
	d.buffered -= len(dg.data)
}

// Expire drops the incomplete datagrams whose first fragment is Timeout or
// more older than now (packet time).
func (d *Defragmenter) Expire(now time.Time) {
	if now.After(d.clock) {
		d.clock = now
	}
	// Creation times never decrease along the list: they are the clock,
	// which only moves forward.
	for d.oldest != nil && d.clock.Sub(d.oldest.first) >= d.cfg.Timeout {
		d.drop(d.oldest)
		d.stats.Expired++
	}
}

// Stats returns a snapshot of the counters.
func (d *Defragmenter) Stats() Stats {
	s := d.stats
	s.BufferedBytes = uint64(d.buffered)
	s.Datagrams = uint64(len(d.datagrams))
	return s
}
