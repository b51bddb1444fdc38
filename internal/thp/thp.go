// Package thp asks the kernel to back the Go heap with transparent huge
// pages, for short batch runs such as mxwatch analyze.
//
// The Go runtime maps its heap as ordinary anonymous memory, so every
// 4 KiB page the allocator touches for the first time costs a page fault.
// On bare metal that is about a microsecond; on a virtual machine that
// traps each fault to the hypervisor it was measured at 14 to 17 µs, and
// a 1 GB capture's analysis took about 7 000 of them, a fifth of its CPU
// time. Reserve makes the heap grow by a block of memory that is never
// touched, advises the kernel to use 2 MiB pages for it (madvise
// MADV_HUGEPAGE, honoured when /sys/kernel/mm/transparent_hugepage/enabled
// is "always" or "madvise"), and gives the block back to the allocator,
// which then places new objects there: one fault per 2 MiB instead of
// 512. Memory that is never used stays unbacked, so the resident size
// does not grow by the reservation.
package thp

import "errors"

// ErrUnsupported is returned where the operating system has no
// transparent huge pages.
var ErrUnsupported = errors.New("transparent huge pages are not supported here")

// DefaultReserve is the size analyze reserves: more than the heap a
// 1 GB capture needs (about 30 MiB), and only address space until used.
const DefaultReserve = 64 << 20
