package pcapfile

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	t0 := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	at := func(ms ...int) []pkt {
		out := make([]pkt, len(ms))
		for i, m := range ms {
			out[i] = pkt{data: frame(m*7+i, 20+m%50), time: t0.Add(time.Duration(m) * time.Millisecond), origLen: 20 + m%50, link: 1}
		}
		return out
	}
	// Interleaved times, ties across files (2, 5, 9) and within a file
	// (7, 7), and a file whose own order goes back in time (3 after 8).
	a := at(0, 2, 5, 9, 12)
	b := at(1, 2, 7, 7, 9, 20)
	c := at(2, 4, 5, 8, 3, 30)
	files := [][]byte{
		pcapgoFile(t, false, 1, a),
		ngWriterFile(t, 1, b),
		gzipped(t, pcapFile(be, true, 1, c)),
	}
	type item struct {
		p   pkt
		src int
	}
	// The expected order: the earliest head first, ties to the lower
	// reader; every file keeps its own order.
	var want []item
	heads := [][]pkt{a, b, c}
	for {
		best := -1
		for i, h := range heads {
			if len(h) > 0 && (best < 0 || h[0].time.Before(heads[best][0].time)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		want = append(want, item{heads[best][0], best})
		heads[best] = heads[best][1:]
	}

	tests := []struct {
		name  string
		files []int
	}{
		{name: "three files", files: []int{0, 1, 2}},
		{name: "one file", files: []int{2}},
		{name: "no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []*Reader
			for _, i := range tt.files {
				r, err := NewReader("f", bytes.NewReader(files[i]), -1)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				rs = append(rs, r)
			}
			var exp []item
			for _, w := range want {
				if k := slices.Index(tt.files, w.src); k >= 0 {
					exp = append(exp, item{w.p, k})
				}
			}
			m := NewMerge(rs)
			for i := 0; ; i++ {
				p, src, err := m.Next()
				if err == io.EOF {
					if i != len(exp) || src != -1 {
						t.Fatalf("end after %d packets (index %d), want %d", i, src, len(exp))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if i >= len(exp) {
					t.Fatalf("more than %d packets", len(exp))
				}
				w := exp[i]
				if src != w.src || !p.Time.Equal(w.p.time) || !bytes.Equal(p.Data, w.p.data) {
					t.Fatalf("packet %d: reader %d at %v, want reader %d at %v", i, src, p.Time, w.src, w.p.time)
				}
			}
			if _, _, err := m.Next(); err != io.EOF {
				t.Errorf("Next after the end: %v", err)
			}
		})
	}
}

// TestMergeError checks that a failing reader stops the merge with its
// error and index, on every later call too.
func TestMergeError(t *testing.T) {
	good := pcapgoFile(t, false, 1, testPackets(10, 1, true))
	bad := pcapgoFile(t, false, 1, testPackets(10, 1, true))
	bad = bad[:len(bad)-3]
	tests := []struct {
		name    string
		files   [][]byte
		failing int
		before  int // packets returned before the error
	}{
		{name: "second reader truncated", files: [][]byte{good, bad}, failing: 1, before: 18},
		{name: "first reader corrupt at once", files: [][]byte{setU32(good, 24+8, le, 0xfffffff0), good}, failing: 0, before: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []*Reader
			for _, f := range tt.files {
				r, err := NewReader("f", bytes.NewReader(f), int64(len(f)))
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			m := NewMerge(rs)
			n := 0
			var err error
			var src int
			for {
				if _, src, err = m.Next(); err != nil {
					break
				}
				n++
			}
			if err == io.EOF || src != tt.failing || n != tt.before {
				t.Fatalf("%d packets, then %v from reader %d", n, err, src)
			}
			if _, src2, err2 := m.Next(); !errors.Is(err2, err) || src2 != src {
				t.Errorf("after the error: %v from %d", err2, src2)
			}
		})
	}
}
