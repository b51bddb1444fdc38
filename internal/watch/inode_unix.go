//go:build unix

package watch

import (
	"os"
	"syscall"
)

// inode returns the file's inode number, so that a file replaced by
// rename counts as changed even with the same size and time.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
