//go:build linux

package thp

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestHugeAligned(t *testing.T) {
	const M = 1 << 20
	for _, tt := range []struct {
		p      uintptr
		n      int
		lo, hi uintptr
	}{
		{p: 0, n: 4 * M, lo: 0, hi: 4 * M},
		{p: 4096, n: 4 * M, lo: 2 * M, hi: 4 * M},
		{p: 2*M - 1, n: 2 * M, lo: 2 * M, hi: 2 * M},
		{p: 3 * M, n: 1 * M, lo: 4 * M, hi: 4 * M}, // nothing whole inside
		{p: 6 * M, n: 64 * M, lo: 6 * M, hi: 70 * M},
	} {
		lo, hi := hugeAligned(tt.p, tt.n)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("hugeAligned(%#x, %d) = [%#x, %#x), want [%#x, %#x)", tt.p, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestReserveTooSmall(t *testing.T) {
	if err := Reserve(4096); err == nil {
		t.Fatal("Reserve(4096) succeeded; want an error")
	}
}

// TestReserve checks what analyze relies on: after Reserve, new heap
// objects land in memory advised for huge pages, and the reservation
// itself is not resident.
func TestReserve(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector backs the heap with shadow memory, which makes the reservation resident; " +
			"scripts/test.sh runs this package without -race as well")
	}
	before := vmRSS(t)
	if err := Reserve(DefaultReserve); err != nil {
		if errors.Is(err, ErrUnsupported) {
			t.Skipf("this kernel has no transparent huge pages: %v", err)
		}
		t.Fatal(err)
	}
	if grew := vmRSS(t) - before; grew > DefaultReserve/4 {
		t.Errorf("resident size grew by %d KiB after reserving %d MiB untouched", grew>>10, DefaultReserve>>20)
	}
	// Reserve leaves freeing the block to the collection its allocation
	// started; the test waits for it.
	runtime.GC()
	// The run's allocations: 25 MiB in objects of a few sizes, more than
	// the heap had free before Reserve. Most of the bytes must land in
	// advised memory.
	advised := hugeRanges(t)
	var keep [][]byte
	in, total := 0, 0
	for _, c := range []struct{ size, bytes int }{{64, 1 << 20}, {32 << 10, 8 << 20}, {1 << 20, 16 << 20}} {
		for range c.bytes / c.size {
			b := make([]byte, c.size)
			keep = append(keep, b)
			total += c.size
			if advised.has(uintptr(unsafe.Pointer(&b[0]))) {
				in += c.size
			}
		}
	}
	runtime.KeepAlive(keep)
	if in < total*3/4 {
		t.Errorf("%d of %d bytes allocated after Reserve are in memory advised for huge pages; want at least 3/4", in, total)
	}
	t.Logf("%d of %d bytes allocated after Reserve are in advised memory", in, total)
}

type ranges [][2]uint64

func (r ranges) has(p uintptr) bool {
	for _, x := range r {
		if uint64(p) >= x[0] && uint64(p) < x[1] {
			return true
		}
	}
	return false
}

// hugeRanges returns the mappings that carry the kernel's "hg" flag
// (MADV_HUGEPAGE), from /proc/self/smaps.
func hugeRanges(t *testing.T) ranges {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var out ranges
	var cur [2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rng, _, ok := strings.Cut(line, " "); ok && !strings.HasSuffix(rng, ":") {
			a, b, _ := strings.Cut(rng, "-")
			lo, err1 := strconv.ParseUint(a, 16, 64)
			hi, err2 := strconv.ParseUint(b, 16, 64)
			if err1 == nil && err2 == nil {
				cur = [2]uint64{lo, hi}
				continue
			}
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && strings.Contains(flags+" ", " hg ") {
			out = append(out, cur)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no mapping is advised for huge pages after Reserve")
	}
	return out
}

// vmRSS returns the resident size from /proc/self/status, in bytes.
func vmRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
