package detect

import (
	"cmp"
	"container/heap"
	"slices"
)

// topK counts occurrences of keys in bounded memory with the Space-Saving
// algorithm: it tracks at most capacity keys; when a new key arrives and
// the table is full, the key with the smallest count is replaced and the
// newcomer inherits that count as its possible overestimate. Counts are
// exact as long as no key was ever replaced. A min-heap keeps every update
// O(log capacity).
type topK[K comparable] struct {
	capacity int
	index    map[K]*topEntry[K]
	heap     topHeap[K]
	replaced uint64
}

type topEntry[K comparable] struct {
	key   K
	count uint64
	err   uint64 // upper bound of the overestimate
	// aux holds secondary sums for the key (messages, recipients, ...).
	aux [3]uint64
	pos int
}

type topHeap[K comparable] []*topEntry[K]

func (h topHeap[K]) Len() int           { return len(h) }
func (h topHeap[K]) Less(i, j int) bool { return h[i].count < h[j].count }
func (h topHeap[K]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *topHeap[K]) Push(x any) {
	e := x.(*topEntry[K])
	e.pos = len(*h)
	*h = append(*h, e)
}
func (h *topHeap[K]) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newTopK[K comparable](capacity int) *topK[K] {
	return &topK[K]{capacity: capacity, index: make(map[K]*topEntry[K])}
}

// add counts key n times and returns its entry.
func (t *topK[K]) add(key K, n uint64) *topEntry[K] {
	if e, ok := t.index[key]; ok {
		e.count += n
		heap.Fix(&t.heap, e.pos)
		return e
	}
	e := &topEntry[K]{key: key, count: n}
	if len(t.heap) >= t.capacity {
		min := heap.Pop(&t.heap).(*topEntry[K])
		delete(t.index, min.key)
		t.replaced++
		e.count += min.count
		e.err = min.count
	}
	t.index[key] = e
	heap.Push(&t.heap, e)
	return e
}

// exact reports whether every count is exact.
func (t *topK[K]) exact() bool { return t.replaced == 0 }

// top returns the n largest entries, largest first; ties are broken by
// less so that the order is deterministic.
func (t *topK[K]) top(n int, less func(a, b K) int) []*topEntry[K] {
	all := slices.Clone(t.heap)
	slices.SortFunc(all, func(a, b *topEntry[K]) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return less(a.key, b.key)
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}
