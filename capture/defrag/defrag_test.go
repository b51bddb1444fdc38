package defrag

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)

func key(id uint32) Key {
	return Key{
		Src:   netip.MustParseAddr("10.20.0.5"),
		Dst:   netip.MustParseAddr("192.0.2.53"),
		ID:    id,
		Proto: 17,
	}
}

// frag is one fragment given to Add.
type frag struct {
	k      Key
	off    int
	more   bool
	data   []byte
	offset time.Duration // packet time after t0
}

// payload returns n deterministic bytes, different for each seed.
func payload(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i>>8)
	}
	return b
}

// split cuts p into fragments of size bytes (a multiple of 8).
func split(k Key, p []byte, size int) []frag {
	var out []frag
	for off := 0; off < len(p); off += size {
		end := min(off+size, len(p))
		out = append(out, frag{k: k, off: off, more: end < len(p), data: p[off:end]})
	}
	return out
}

func reversed(f []frag) []frag {
	f = slices.Clone(f)
	slices.Reverse(f)
	return f
}

func shuffled(f []frag, seed uint64) []frag {
	f = slices.Clone(f)
	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
	return f
}

// result is one payload returned by Add: after which fragment, for which
// datagram.
type result struct {
	after int
	data  []byte
}

// run gives the fragments to a fresh Defragmenter and records what Add
// returns.
func run(t *testing.T, cfg Config, frags []frag) ([]result, *Defragmenter) {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []result
	for i, f := range frags {
		b, ok := d.Add(f.k, f.off, f.more, f.data, t0.Add(f.offset))
		if ok {
			out = append(out, result{i, bytes.Clone(b)})
		} else if b != nil {
			t.Fatalf("fragment %d: data without ok", i)
		}
		st := d.Stats()
		if st.Datagrams > uint64(cfg.MaxDatagrams) || st.BufferedBytes > uint64(cfg.MaxBytes) {
			t.Fatalf("fragment %d: bounds exceeded: %+v", i, st)
		}
	}
	return out, d
}

func TestReassemble(t *testing.T) {
	p := payload(1, 3000)
	in := split(key(1), p, 1480)
	small := split(key(2), payload(2, 200), 24)
	v6 := Key{Src: netip.MustParseAddr("2001:db8:14::5"), Dst: netip.MustParseAddr("2001:db8::53"), ID: 0xdeadbeef, Proto: 17}
	v6b := v6
	v6b.ID = 0xdeadbeee
	other := v6
	other.Scope = 7
	pv6, pv6b := payload(3, 1500), payload(4, 1500)

	conflict := func() []frag {
		a := payload(5, 48)
		b := slices.Clone(a[8:32])
		b[4] ^= 0xff // differs from the held byte 12
		return []frag{
			{k: key(5), off: 0, more: true, data: a[:16]},
			{k: key(5), off: 32, more: false, data: a[32:48]},
			{k: key(5), off: 8, more: true, data: b},
		}
	}()
	// Later data spanning held pieces fills only the holes.
	spanning := func() []frag {
		a := payload(6, 64)
		cover := slices.Clone(a[:56])
		for i := range cover {
			if i >= 8 && i < 16 || i >= 32 && i < 40 {
				cover[i] ^= 0x55 // conflicts with held bytes
			}
		}
		return []frag{
			{k: key(6), off: 8, more: true, data: a[8:16]},
			{k: key(6), off: 32, more: true, data: a[32:40]},
			{k: key(6), off: 56, more: false, data: a[56:64]},
			{k: key(6), off: 0, more: true, data: cover},
		}
	}()
	dup := shuffled(append(slices.Clone(small), small...), 3)
	tests := []struct {
		name  string
		frags []frag
		want  []result
		stats Stats // counters to check; zero fields must be zero
	}{
		{name: "in order", frags: in, want: []result{{2, p}}, stats: Stats{Fragments: 3, Reassembled: 1}},
		{name: "reversed", frags: reversed(in), want: []result{{2, p}}, stats: Stats{Fragments: 3, Reassembled: 1}},
		{name: "shuffled small fragments", frags: shuffled(small, 1), want: []result{{8, payload(2, 200)}}, stats: Stats{Fragments: 9, Reassembled: 1}},
		{name: "every fragment twice", frags: dup, want: []result{{lastNeeded(dup), payload(2, 200)}},
			stats: Stats{Fragments: uint64(lastNeeded(dup) + 1), Reassembled: 1, Overlaps: uint64(lastNeeded(dup) + 1 - len(small))}},
		{name: "overlap with conflicting data: first wins", frags: conflict, want: []result{{2, payload(5, 48)}},
			stats: Stats{Fragments: 3, Reassembled: 1, Overlaps: 1, OverlapConflicts: 1}},
		{name: "later fragment spans held pieces", frags: spanning, want: []result{{3, payload(6, 64)}},
			stats: Stats{Fragments: 4, Reassembled: 1, Overlaps: 1, OverlapConflicts: 1}},
		{name: "IPv6 32-bit IDs and scopes interleaved", frags: interleave(split(v6, pv6, 1232), split(v6b, pv6b, 1232), split(other, pv6, 1232)),
			want: []result{{3, pv6}, {4, pv6b}, {5, pv6}}, stats: Stats{Fragments: 6, Reassembled: 3}},
		{name: "not fragmented", frags: []frag{{k: key(9), data: p[:100]}}, want: []result{{0, p[:100]}}, stats: Stats{Fragments: 1, Reassembled: 1}},
		{name: "empty last fragment", frags: []frag{{k: key(9), off: 16, data: nil}, {k: key(9), off: 0, more: true, data: p[:16]}},
			want: []result{{1, p[:16]}}, stats: Stats{Fragments: 2, Reassembled: 1}},
		{name: "largest datagram", frags: split(key(10), payload(10, MaxDatagram), 8192), want: []result{{7, payload(10, MaxDatagram)}},
			stats: Stats{Fragments: 8, Reassembled: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frags := tt.frags
			if n := tt.stats.Fragments; n > 0 && int(n) < len(frags) {
				frags = frags[:n]
			}
			got, d := run(t, DefaultConfig(), frags)
			if len(got) != len(tt.want) {
				t.Fatalf("%d datagrams returned, want %d", len(got), len(tt.want))
			}
			for i, g := range got {
				if g.after != tt.want[i].after || !bytes.Equal(g.data, tt.want[i].data) {
					t.Errorf("datagram %d: returned after fragment %d (%d bytes), want after %d (%d bytes)",
						i, g.after, len(g.data), tt.want[i].after, len(tt.want[i].data))
				}
			}
			if st := d.Stats(); st != tt.stats {
				t.Errorf("Stats() = %+v\nwant      %+v", st, tt.stats)
			}
		})
	}
}

// lastNeeded returns the index of the fragment of dup that completes the
// datagram: the first point where every offset has been seen.
func lastNeeded(dup []frag) int {
	seen := map[int]bool{}
	n := 0
	for _, f := range dup {
		if !seen[f.off] {
			seen[f.off] = true
			n++
		}
	}
	seen = map[int]bool{}
	for i, f := range dup {
		seen[f.off] = true
		if len(seen) == n {
			return i
		}
	}
	return -1
}

// interleave merges fragment lists round robin.
func interleave(lists ...[]frag) []frag {
	var out []frag
	for i := 0; ; i++ {
		added := false
		for _, l := range lists {
			if i < len(l) {
				out = append(out, l[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func TestInvalid(t *testing.T) {
	p := payload(1, 64)
	k := key(1)
	first := frag{k: k, off: 0, more: true, data: p[:16]}
	rest := []frag{{k: k, off: 16, more: true, data: p[16:32]}, {k: k, off: 32, more: false, data: p[32:64]}}
	tests := []struct {
		name    string
		before  []frag // default: the first and the last fragment
		bad     frag
		invalid uint64
		over    uint64
		aloneOK bool // the bad fragment is valid on its own
	}{
		{name: "offset not a multiple of 8", bad: frag{k: k, off: 20, more: true, data: p[:8]}, invalid: 1},
		{name: "offset not a multiple of 8, last fragment", bad: frag{k: k, off: 36, data: p[:8]}, invalid: 1},
		{name: "negative offset", bad: frag{k: k, off: -8, more: true, data: p[:8]}, invalid: 1},
		{name: "empty non-last fragment", bad: frag{k: k, off: 16, more: true}, invalid: 1},
		{name: "non-last length not a multiple of 8", bad: frag{k: k, off: 16, more: true, data: p[:12]}, invalid: 1},
		{name: "two different last fragments", bad: frag{k: k, off: 32, data: p[:40]}, invalid: 1, aloneOK: true},
		{name: "data past the end", bad: frag{k: k, off: 64, more: true, data: p[:8]}, invalid: 1, aloneOK: true},
		{name: "last fragment before held data", before: []frag{first}, bad: frag{k: k, off: 8, data: p[:4]}, invalid: 1, aloneOK: true},
		{name: "beyond 65535 bytes", bad: frag{k: k, off: 65528, more: true, data: p[:16]}, over: 1},
		{name: "last fragment beyond 65535 bytes", bad: frag{k: k, off: 65528, data: p[:9]}, over: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bad fragment drops the datagram: what follows starts a
			// new one that never completes. The bad fragment comes after
			// the last one where the test needs a known end.
			before := tt.before
			if before == nil {
				before = []frag{first, rest[1]}
			}
			frags := append(slices.Clone(before), tt.bad, rest[0])
			got, d := run(t, DefaultConfig(), frags)
			if len(got) != 0 {
				t.Fatalf("reassembled %d bytes", len(got[0].data))
			}
			st := d.Stats()
			if st.Invalid != tt.invalid || st.Oversize != tt.over || st.Datagrams != 1 || st.BufferedBytes != 16 {
				t.Errorf("Stats() = %+v", st)
			}
			// Alone, the bad fragment is rejected too, unless only its
			// company made it wrong.
			_, d = run(t, DefaultConfig(), []frag{tt.bad})
			st = d.Stats()
			if tt.aloneOK && (st.Invalid != 0 || st.Datagrams != 1) || !tt.aloneOK && (st.Invalid != tt.invalid || st.Oversize != tt.over || st.Datagrams != 0) {
				t.Errorf("alone: Stats() = %+v", st)
			}
		})
	}
}

func TestExpire(t *testing.T) {
	p := payload(1, 48)
	k := key(1)
	cfg := DefaultConfig()
	cfg.Timeout = 30 * time.Second
	tests := []struct {
		name    string
		steps   []func(d *Defragmenter) (bool, string)
		expired uint64
		held    uint64
	}{
		{name: "expired by Expire, then the rest arrives", steps: []func(d *Defragmenter) (bool, string){
			add(k, 0, true, p[:16], 0),
			expire(29*time.Second, 1),
			expire(30*time.Second, 0),
			add(k, 16, true, p[16:32], 31*time.Second),
			add(k, 32, false, p[32:48], 31*time.Second),
		}, expired: 1, held: 1},
		{name: "identification reused after the timeout", steps: []func(d *Defragmenter) (bool, string){
			add(k, 0, true, p[:16], 0),
			add(k, 16, true, p[16:32], 40*time.Second),
			add(k, 32, false, p[32:48], 41*time.Second),
		}, expired: 1, held: 1},
		{name: "complete within the timeout", steps: []func(d *Defragmenter) (bool, string){
			add(k, 0, true, p[:16], 0),
			expire(29*time.Second, 1),
			add(k, 16, true, p[16:32], 29*time.Second),
			wantDone(add(k, 32, false, p[32:48], 29*time.Second)),
		}},
		{name: "time going backwards does not delay expiry", steps: []func(d *Defragmenter) (bool, string){
			add(k, 0, true, p[:16], 10*time.Second),
			add(key(2), 0, true, p[:16], 5*time.Second), // created at the clock: 10 s
			expire(39*time.Second, 2),
			expire(5*time.Second, 2),
			expire(40*time.Second, 0),
		}, expired: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, step := range tt.steps {
				if ok, msg := step(d); !ok {
					t.Fatalf("step %d: %s", i, msg)
				}
			}
			if st := d.Stats(); st.Expired != tt.expired || st.Datagrams != tt.held {
				t.Errorf("Stats() = %+v", st)
			}
		})
	}
}

// add is a step that adds a fragment and expects no datagram back.
func add(k Key, off int, more bool, data []byte, at time.Duration) func(*Defragmenter) (bool, string) {
	return func(d *Defragmenter) (bool, string) {
		if _, ok := d.Add(k, off, more, data, t0.Add(at)); ok {
			return false, "unexpected datagram"
		}
		return true, ""
	}
}

// wantDone turns an add step into one that expects the datagram.
func wantDone(step func(*Defragmenter) (bool, string)) func(*Defragmenter) (bool, string) {
	return func(d *Defragmenter) (bool, string) {
		if ok, _ := step(d); ok {
			return false, "datagram not complete"
		}
		return true, ""
	}
}

// expire is a step that calls Expire and checks how many datagrams remain.
func expire(at time.Duration, held uint64) func(*Defragmenter) (bool, string) {
	return func(d *Defragmenter) (bool, string) {
		d.Expire(t0.Add(at))
		if n := d.Stats().Datagrams; n != held {
			return false, fmt.Sprintf("%d datagrams held, want %d", n, held)
		}
		return true, ""
	}
}

func TestEvict(t *testing.T) {
	p := payload(1, 4000)
	firsts := func(n, size int) []frag {
		var out []frag
		for i := range n {
			out = append(out, frag{k: key(uint32(i)), off: 0, more: true, data: p[:size]})
		}
		return out
	}
	lasts := func(ids ...int) []frag {
		var out []frag
		for _, i := range ids {
			out = append(out, frag{k: key(uint32(i)), off: 1000, data: p[1000:1010]})
		}
		return out
	}
	tests := []struct {
		name     string
		cfg      Config
		frags    []frag
		complete int // datagrams reassembled
		evicted  uint64
	}{
		{name: "MaxDatagrams evicts the oldest", cfg: Config{MaxDatagrams: 3, MaxBytes: 1 << 20, Timeout: time.Minute},
			frags: append(firsts(4, 1000), lasts(3, 2, 1, 0)...), complete: 3, evicted: 1},
		{name: "MaxBytes evicts the oldest", cfg: Config{MaxDatagrams: 100, MaxBytes: 2500, Timeout: time.Minute},
			frags: append(firsts(4, 1000), lasts(3, 2, 1, 0)...), complete: 2, evicted: 2},
		{name: "one fragment larger than MaxBytes", cfg: Config{MaxDatagrams: 100, MaxBytes: 500, Timeout: time.Minute},
			frags: append(firsts(1, 1000), lasts(0)...), complete: 0, evicted: 1},
		{name: "flood of first fragments", cfg: DefaultConfig(), frags: firsts(20000, 1480), complete: 0, evicted: 20000 - 4096},
		{name: "flood of large first fragments", cfg: DefaultConfig(), frags: firsts(20000, 4000), complete: 0, evicted: 20000 - (8<<20)/4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d := run(t, tt.cfg, tt.frags)
			if len(got) != tt.complete {
				t.Errorf("%d datagrams reassembled, want %d", len(got), tt.complete)
			}
			if st := d.Stats(); st.Evicted != tt.evicted {
				t.Errorf("Stats() = %+v, want %d evicted", st, tt.evicted)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "default", cfg: DefaultConfig(), ok: true},
		{name: "zero", cfg: Config{}},
		{name: "no datagrams", cfg: Config{MaxDatagrams: 0, MaxBytes: 1, Timeout: time.Second}},
		{name: "negative bytes", cfg: Config{MaxDatagrams: 1, MaxBytes: -1, Timeout: time.Second}},
		{name: "no timeout", cfg: Config{MaxDatagrams: 1, MaxBytes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v", err)
			}
			d, err := New(tt.cfg)
			if (err == nil) != tt.ok || (d == nil) == tt.ok {
				t.Fatalf("New() = %v, %v", d, err)
			}
		})
	}
}
