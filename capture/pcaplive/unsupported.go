//go:build !libpcap

package pcaplive

import (
	"github.com/mxwatch/mxwatch/capture"
)

// Source is a libpcap capture handle; in this build it cannot be opened.
type Source struct{}

// Available reports whether this build can open libpcap sources.
const Available = false

// Open returns ErrUnsupported: this build has no libpcap.
func Open(Config) (*Source, error) { return nil, ErrUnsupported }

// Next returns ErrUnsupported.
func (*Source) Next() (capture.Frame, error) { return capture.Frame{}, ErrUnsupported }

// Close does nothing.
func (*Source) Close() error { return nil }

// Stats returns ErrUnsupported.
func (*Source) Stats() (Stats, error) { return Stats{}, ErrUnsupported }
