package pcapfile

import "io"

// Merge yields the packets of several readers in timestamp order; packets
// with equal timestamps come from the reader with the lower index first,
// and the packets of one reader keep their file order. It is zero copy like
// Reader.Next: a packet's data stays valid until the next call to Next.
//
// Merge keeps one packet of each reader in hand (a reader is advanced only
// after its packet was returned), so it holds no copies.
type Merge struct {
	rs    []*Reader
	heads []Packet // next packet of each reader
	heap  []int    // readers with a head packet, earliest head first
	last  int      // reader whose head was returned last, -1 before the first
	err   error    // sticky
	errAt int      // reader that failed
}

// NewMerge returns a Merge over rs. It reads nothing until the first call
// to Next; it does not close the readers.
func NewMerge(rs []*Reader) *Merge {
	return &Merge{rs: rs, heads: make([]Packet, len(rs)), last: -1}
}

// Next returns the earliest packet not yet returned and the index in rs of
// the reader it came from. At the end of all readers it returns io.EOF and
// index -1. When a reader fails, Next returns its error and index, and
// returns them again on every later call.
func (m *Merge) Next() (Packet, int, error) {
	if m.err != nil {
		return Packet{}, m.errAt, m.err
	}
	if len(m.rs) == 1 { // nothing to merge: no heap work per packet
		p, err := m.rs[0].Next()
		if err != nil {
			m.err, m.errAt = err, 0
			if err == io.EOF {
				m.errAt = -1
			}
			return Packet{}, m.errAt, err
		}
		return p, 0, nil
	}
	switch {
	case m.last < 0 && m.heap == nil:
		m.heap = make([]int, 0, len(m.rs))
		for i := range m.rs {
			ok, err := m.advance(i)
			if err != nil {
				return Packet{}, i, err
			}
			if ok {
				m.heap = append(m.heap, i)
			}
		}
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
	case m.last >= 0:
		// The last packet came from the top of the heap.
		ok, err := m.advance(m.last)
		if err != nil {
			return Packet{}, m.last, err
		}
		if !ok {
			n := len(m.heap) - 1
			m.heap[0] = m.heap[n]
			m.heap = m.heap[:n]
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	if len(m.heap) == 0 {
		m.last = -1
		m.err, m.errAt = io.EOF, -1
		return Packet{}, -1, io.EOF
	}
	i := m.heap[0]
	m.last = i
	return m.heads[i], i, nil
}

// advance reads the next packet of reader i into its head. It reports
// false at the reader's end.
func (m *Merge) advance(i int) (bool, error) {
	p, err := m.rs[i].Next()
	if err == io.EOF {
		m.heads[i] = Packet{}
		return false, nil
	}
	if err != nil {
		m.err, m.errAt = err, i
		return false, err
	}
	m.heads[i] = p
	return true, nil
}

// less orders readers by their head packet's time, then by index.
func (m *Merge) less(a, b int) bool {
	if c := m.heads[a].Time.Compare(m.heads[b].Time); c != 0 {
		return c < 0
	}
	return a < b
}

// down restores the heap order below position i.
func (m *Merge) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
