//go:build linux

package thp

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on the platforms Go
// supports on Linux (x86-64, arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// Reserve grows the Go heap by n bytes advised for huge pages and drops
// them for the allocator to reuse. It does not wait for the collection
// that frees them: allocating far past the heap's goal starts one, which
// ends while the caller goes on (waiting for it with runtime.GC cost six
// milliseconds of start-up). It returns ErrUnsupported, wrapped, when the
// kernel has no transparent huge pages (EINVAL from madvise).
func Reserve(n int) error {
	if n < hugePage {
		return fmt.Errorf("thp: reserve of %d bytes is less than one huge page", n)
	}
	// A large object gets memory the heap maps for it afresh, untouched.
	b := make([]byte, n)
	lo, hi := hugeAligned(uintptr(unsafe.Pointer(unsafe.SliceData(b))), n)
	var err error
	if hi > lo {
		// Raw addresses: the range is inside b, but not at its start.
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, syscall.MADV_HUGEPAGE); e != 0 {
			err = e
		}
	}
	runtime.KeepAlive(b)
	switch {
	case err == syscall.EINVAL:
		return fmt.Errorf("thp: madvise: %w (%v)", ErrUnsupported, err)
	case err != nil:
		return fmt.Errorf("thp: madvise: %w", err)
	}
	return nil
}

// hugeAligned returns the huge-page-aligned part [lo, hi) of the n bytes
// at p: the kernel backs only whole aligned 2 MiB ranges with huge pages.
func hugeAligned(p uintptr, n int) (lo, hi uintptr) {
	lo = (p + hugePage - 1) &^ (hugePage - 1)
	hi = (p + uintptr(n)) &^ (hugePage - 1)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}
