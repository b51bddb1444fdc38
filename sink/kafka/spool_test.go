package kafka

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func rec(i int) record {
	return record{topic: "mxwatch.dns", key: []byte("10.0.0.1"), value: fmt.Appendf(nil, `{"n":%d}`, i)}
}

// drain reads and commits everything in s, at most limit batches.
func drain(t testing.TB, s *spool, limit int) []record {
	t.Helper()
	var out []record
	for i := 0; i < limit && !s.empty(); i++ {
		rs, off, err := s.peek(3)
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		out = append(out, rs...)
		if err := s.commit(off); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return out
}

func TestSpoolOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		appended int
		prepend  int // records prepended after appending
		segMax   int64
		max      int64
		want     []int // values of the drained records, in order
		dropped  int
	}{
		{name: "empty", want: nil},
		{name: "one segment", appended: 3, segMax: 1 << 20, max: 1 << 20, want: []int{0, 1, 2}},
		{name: "rotates", appended: 7, segMax: 64, max: 1 << 20, want: []int{0, 1, 2, 3, 4, 5, 6}},
		{name: "prepend first", appended: 2, prepend: 2, segMax: 64, max: 1 << 20, want: []int{100, 101, 0, 1}},
		{name: "bound", appended: 10, segMax: 1 << 20, max: int64(3 * len(appendRecord(nil, rec(0)))), want: []int{0, 1, 2}, dropped: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m metrics
			segMax, max := tc.segMax, tc.max
			if segMax == 0 {
				segMax, max = 1<<20, 1<<20
			}
			dir := t.TempDir()
			s, err := openSpool(dir, max, segMax, &m)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			for i := range tc.appended {
				if err := s.append(rec(i)); err == errSpoolFull {
					dropped++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if tc.prepend > 0 {
				var rs []record
				for i := range tc.prepend {
					rs = append(rs, rec(100+i))
				}
				if _, err := s.prepend(rs); err != nil {
					t.Fatal(err)
				}
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", dropped, tc.dropped)
			}
			if m.spoolBytes.Load() > max {
				t.Errorf("spool bytes %d over bound %d", m.spoolBytes.Load(), max)
			}
			// Reopen, as after a restart: order must survive.
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			s, err = openSpool(dir, max, segMax, &m)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s, 1000)
			if len(got) != len(tc.want) {
				t.Fatalf("drained %d records, want %d", len(got), len(tc.want))
			}
			for i, r := range got {
				if want := rec(tc.want[i]); string(r.value) != string(want.value) || string(r.key) != string(want.key) || r.topic != want.topic {
					t.Errorf("record %d = %q, want %q", i, r.value, want.value)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%d files left after drain", len(ents))
			}
			if m.spoolBytes.Load() != 0 || m.corrupt.Load() != 0 {
				t.Errorf("bytes %d corrupt %d after drain", m.spoolBytes.Load(), m.corrupt.Load())
			}
		})
	}
}

func TestSpoolCorrupt(t *testing.T) {
	good := appendRecord(nil, rec(1))
	badCRC := appendRecord(nil, rec(2))
	badCRC[len(badCRC)-1] ^= 1
	badVersion := appendRecord(nil, rec(3))
	badVersion[recHeaderLen] = 9
	for _, tc := range []struct {
		name    string
		data    []byte
		want    int // good records read
		corrupt uint64
	}{
		{name: "good", data: good, want: 1},
		{name: "bad crc", data: cat(good, badCRC, good), want: 2, corrupt: 1},
		{name: "bad payload version", data: cat(badVersion, good), want: 1, corrupt: 1},
		{name: "torn header", data: cat(good, good[:5]), want: 1, corrupt: 1},
		{name: "torn payload", data: cat(good, good[:len(good)-1]), want: 1, corrupt: 1},
		{name: "huge length", data: cat(good, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, good), want: 1, corrupt: 1},
		{name: "zero length", data: cat([]byte{0, 0, 0, 0, 0, 0, 0, 0}, good), want: 1, corrupt: 1},
		{name: "empty file", data: nil, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.seg"), tc.data, 0o640); err != nil {
				t.Fatal(err)
			}
			var m metrics
			s, err := openSpool(dir, 1<<20, 1<<20, &m)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s, 100)
			if len(got) != tc.want || m.corrupt.Load() != tc.corrupt {
				t.Errorf("read %d corrupt %d, want %d and %d", len(got), m.corrupt.Load(), tc.want, tc.corrupt)
			}
			if !s.empty() {
				t.Error("spool not empty after drain")
			}
		})
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// FuzzSpoolSegment feeds arbitrary bytes as a spool segment left by an
// earlier run: draining must end, without panic, and account for every byte.
func FuzzSpoolSegment(f *testing.F) {
	good := appendRecord(nil, rec(1))
	f.Add(good)
	f.Add(cat(good, good[:7]))
	f.Add(cat(good, []byte{0, 0, 0, 3, 1, 2, 3, 4, 1, 0, 0}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000007.seg"), data, 0o640); err != nil {
			t.Fatal(err)
		}
		var m metrics
		s, err := openSpool(dir, 1<<20, 1<<20, &m)
		if err != nil {
			t.Fatal(err)
		}
		got := drain(t, s, len(data)+2)
		if !s.empty() {
			t.Fatal("spool not drained")
		}
		if m.spoolBytes.Load() != 0 {
			t.Fatalf("spool bytes %d after drain", m.spoolBytes.Load())
		}
		for _, r := range got {
			if len(r.topic)+len(r.key)+len(r.value) > len(data) {
				t.Fatal("record larger than its input")
			}
		}
		if len(data) > 0 && len(got) == 0 && m.corrupt.Load() == 0 {
			t.Fatal("bytes neither read nor counted")
		}
	})
}

// FuzzDecodePayload checks the payload decoder on arbitrary bytes, and that
// what appendRecord writes decodes to the same record.
func FuzzDecodePayload(f *testing.F) {
	f.Add("mxwatch.dns", []byte("10.0.0.1"), []byte(`{"v":1}`))
	f.Add("", []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		_, _ = decodePayload(value) // arbitrary bytes: must not panic
		b := appendRecord(nil, record{topic: topic, key: key, value: value})
		r, err := decodePayload(b[recHeaderLen:])
		if err != nil {
			t.Fatal(err)
		}
		if r.topic != topic || string(r.key) != string(key) || string(r.value) != string(value) {
			t.Fatalf("round trip: got %q %q %q", r.topic, r.key, r.value)
		}
	})
}
