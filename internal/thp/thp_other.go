//go:build !linux

package thp

// Reserve does nothing outside Linux: it returns ErrUnsupported.
func Reserve(n int) error { return ErrUnsupported }
