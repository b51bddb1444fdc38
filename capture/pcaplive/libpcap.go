//go:build libpcap

package pcaplive

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/google/gopacket/pcap"

	"github.com/mxwatch/mxwatch/capture"
)

// Available reports whether this build can open libpcap sources.
const Available = true

// Source reads frames from a libpcap handle. Next and Stats are for one
// goroutine; Close may be called from another one while Next waits.
type Source struct {
	h      *pcap.Handle
	link   uint32
	closed atomic.Bool

	mu   sync.Mutex // guards last and the handle's stats call against Close
	last Stats
}

// Open activates a libpcap handle on cfg.Interface with the filter
// attached before the first packet is read.
func Open(cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	if cfg.Interface == "" {
		return nil, errors.New("pcaplive: no interface")
	}
	in, err := pcap.NewInactiveHandle(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("pcaplive: %s: %w", cfg.Interface, err)
	}
	defer in.CleanUp()
	for _, step := range []struct {
		what string
		err  error
	}{
		{"snap length", in.SetSnapLen(cfg.SnapLen)},
		{"promiscuous mode", in.SetPromisc(cfg.Promiscuous)},
		{"timeout", in.SetTimeout(cfg.Timeout)},
		{"buffer size", in.SetBufferSize(cfg.BufferSize)},
	} {
		if step.err != nil {
			return nil, fmt.Errorf("pcaplive: %s: %s: %w", cfg.Interface, step.what, step.err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("pcaplive: %s: activate (needs CAP_NET_RAW, and CAP_NET_ADMIN for promiscuous mode): %w", cfg.Interface, err)
	}
	if cfg.Filter != "" {
		if err := h.SetBPFFilter(cfg.Filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("pcaplive: %s: filter: %w", cfg.Interface, err)
		}
	}
	return &Source{h: h, link: uint32(h.LinkType())}, nil
}

// Next returns the next frame; its Data is valid until the next call.
// It returns capture.ErrIdle when no packet came within the timeout, and
// io.EOF once Close was called.
func (s *Source) Next() (capture.Frame, error) {
	if s.closed.Load() {
		return capture.Frame{}, io.EOF
	}
	data, ci, err := s.h.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		return capture.Frame{Link: s.link, Data: data, Time: ci.Timestamp}, nil
	case errors.Is(err, pcap.NextErrorTimeoutExpired):
		return capture.Frame{}, capture.ErrIdle
	case errors.Is(err, io.EOF) || s.closed.Load():
		return capture.Frame{}, io.EOF
	}
	return capture.Frame{}, fmt.Errorf("pcaplive: read: %w", err)
}

// Close stops the source; a Next in progress returns io.EOF. It is
// idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if st, err := s.h.Stats(); err == nil { // the totals stay readable
		s.last = Stats{Packets: uint64(st.PacketsReceived), Drops: uint64(st.PacketsDropped), IfDrops: uint64(st.PacketsIfDropped)}
	}
	s.h.Close()
	return nil
}

// Stats returns libpcap's counters (totals since Open; after Close, those
// at Close). Safe for concurrent use.
func (s *Source) Stats() (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return s.last, nil
	}
	st, err := s.h.Stats()
	if err != nil {
		return s.last, fmt.Errorf("pcaplive: stats: %w", err)
	}
	s.last = Stats{Packets: uint64(st.PacketsReceived), Drops: uint64(st.PacketsDropped), IfDrops: uint64(st.PacketsIfDropped)}
	return s.last, nil
}
