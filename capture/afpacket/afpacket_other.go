//go:build !linux

package afpacket

import (
	"io"

	"github.com/mxwatch/mxwatch/capture"
)

// Source reads frames from an AF_PACKET socket; on this system there are
// none, and Open always fails.
type Source struct{}

var _ capture.Source = (*Source)(nil)

// Open returns ErrUnsupported: AF_PACKET exists only on Linux.
func Open(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

// Next returns io.EOF.
func (s *Source) Next() (capture.Frame, error) { return capture.Frame{}, io.EOF }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Stats returns zero counters.
func (s *Source) Stats() (Stats, error) { return Stats{}, nil }
