package afpacket

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/net/bpf"
)

// Defaults of Config.
const (
	DefaultBlockSize    = 1 << 20
	DefaultNumBlocks    = 64
	DefaultFrameSize    = 2048
	DefaultBlockTimeout = 50 * time.Millisecond
	DefaultSnapLen      = 65535
	DefaultPollTimeout  = 100 * time.Millisecond
)

// Limits of Config.
const (
	// MaxSnapLen is the largest SnapLen: 256 KiB, as in libpcap.
	MaxSnapLen = 0x40000
	// MaxRingSize is the largest ring of one socket, BlockSize*NumBlocks.
	MaxRingSize = 16 << 30
	// MaxBlockSize is the largest BlockSize.
	MaxBlockSize = 1 << 30
	// minFrameSize is the smallest FrameSize: room for the frame header
	// (struct tpacket3_hdr and struct sockaddr_ll) and a little data.
	minFrameSize = 128
	// blockOverhead bounds the bytes of a block that are not packet data
	// when the block holds a single packet: the block descriptor, the frame
	// header and the alignment padding before the MAC header.
	blockOverhead = 48 + 128
	// bpfMaxInstructions is BPF_MAXINSNS, the longest classic BPF program.
	bpfMaxInstructions = 4096
	// ifNameSize is IFNAMSIZ, including the terminating NUL.
	ifNameSize = 16
)

// Errors of this package.
var (
	// ErrInvalidConfig is wrapped by every error of Config.Validate.
	ErrInvalidConfig = errors.New("afpacket: invalid config")
	// ErrUnsupported is returned by Open on systems other than Linux.
	ErrUnsupported = fmt.Errorf("afpacket: AF_PACKET capture needs Linux: %w", errors.ErrUnsupported)
	// ErrFilter is wrapped by the errors of MailDNSFilter.
	ErrFilter = errors.New("afpacket: invalid filter")
)

// FanoutMode says how the kernel spreads the packets of a fanout group over
// its sockets.
type FanoutMode uint16

// Fanout modes (PACKET_FANOUT_*).
const (
	// FanoutHash sends all packets of a flow to the same socket.
	FanoutHash FanoutMode = 0
	// FanoutLB spreads packets round robin.
	FanoutLB FanoutMode = 1
	// FanoutCPU sends a packet to the socket of the CPU that received it.
	FanoutCPU FanoutMode = 2
)

// String returns the mode's name.
func (m FanoutMode) String() string {
	switch m {
	case FanoutHash:
		return "hash"
	case FanoutLB:
		return "lb"
	case FanoutCPU:
		return "cpu"
	}
	return fmt.Sprintf("FanoutMode(%d)", uint16(m))
}

// Fanout puts a Source into a fanout group: sockets bound to the same
// interface with the same Group (unique per network namespace) and Mode
// share its traffic.
type Fanout struct {
	Group uint16
	Mode  FanoutMode
	// Defrag makes the kernel reassemble IPv4 fragments before it chooses
	// a socket, so that all fragments of a datagram reach the same one.
	Defrag bool
}

// Config configures a Source. The zero value of every field but Interface
// means its default.
type Config struct {
	// Interface is the name of the interface to capture on.
	Interface string
	// BlockSize is the size of a ring block in bytes, a multiple of the
	// page size; default 1 MiB.
	BlockSize int
	// NumBlocks is the number of ring blocks; default 64.
	NumBlocks int
	// FrameSize is the tp_frame_size hint, a multiple of 16 of at least
	// 128 and at most BlockSize; default 2048. TPACKET_V3 packs frames of
	// any size into blocks; this only sets tp_frame_nr.
	FrameSize int
	// BlockTimeout is tp_retire_blk_tov: the kernel hands a partly filled
	// block over after this long. Default 50ms; at least 1ms.
	BlockTimeout time.Duration
	// SnapLen is how many bytes of each packet are kept, at most
	// MaxSnapLen and at most what one block can hold; default 65535, or
	// less when the block is smaller. It caps the bytes the filter keeps.
	SnapLen int
	// Promiscuous puts the interface into promiscuous mode while the
	// Source is open (PACKET_MR_PROMISC); needs CAP_NET_ADMIN.
	Promiscuous bool
	// Fanout, if not nil, joins the Source to a fanout group.
	Fanout *Fanout
	// Filter is a classic BPF program attached with SO_ATTACH_FILTER
	// before the socket is bound, such as the one of MailDNSFilter; nil
	// keeps every packet.
	Filter []bpf.RawInstruction
	// PollTimeout is how long Next waits in poll at a time; default
	// 100ms, at least 1ms. Close wakes Next at once regardless.
	PollTimeout time.Duration
	// ReturnIdle makes Next return capture.ErrIdle when a poll timeout
	// passes without a packet (instead of waiting on), so that the
	// caller can flush what it holds on a quiet link.
	ReturnIdle bool
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.NumBlocks == 0 {
		c.NumBlocks = DefaultNumBlocks
	}
	if c.FrameSize == 0 {
		c.FrameSize = min(DefaultFrameSize, c.BlockSize)
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	if c.SnapLen == 0 {
		c.SnapLen = DefaultSnapLen
		if c.BlockSize > blockOverhead {
			c.SnapLen = min(c.SnapLen, c.BlockSize-blockOverhead)
		}
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	return c
}

// Validate checks c after applying the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	page := os.Getpagesize()
	switch {
	case c.Interface == "":
		return bad("no interface")
	case len(c.Interface) >= ifNameSize:
		return bad("interface name %q longer than %d bytes", c.Interface, ifNameSize-1)
	case c.BlockSize < 0:
		return bad("negative block size %d", c.BlockSize)
	case c.BlockSize%page != 0:
		return bad("block size %d is not a multiple of the page size %d", c.BlockSize, page)
	case c.BlockSize > MaxBlockSize:
		return bad("block size %d above %d", c.BlockSize, MaxBlockSize)
	case c.NumBlocks < 0:
		return bad("negative number of blocks %d", c.NumBlocks)
	case int64(c.BlockSize)*int64(c.NumBlocks) > MaxRingSize:
		return bad("ring of %d blocks of %d bytes above %d bytes", c.NumBlocks, c.BlockSize, int64(MaxRingSize))
	case c.FrameSize < minFrameSize:
		return bad("frame size %d below %d", c.FrameSize, minFrameSize)
	case c.FrameSize%16 != 0:
		return bad("frame size %d is not a multiple of 16", c.FrameSize)
	case c.FrameSize > c.BlockSize:
		return bad("frame size %d above the block size %d", c.FrameSize, c.BlockSize)
	case c.BlockTimeout < time.Millisecond:
		return bad("block timeout %v below 1ms", c.BlockTimeout)
	case c.BlockTimeout > time.Hour:
		return bad("block timeout %v above 1h", c.BlockTimeout)
	case c.SnapLen < 0:
		return bad("negative snap length %d", c.SnapLen)
	case c.SnapLen > MaxSnapLen:
		return bad("snap length %d above %d", c.SnapLen, MaxSnapLen)
	case c.SnapLen > c.BlockSize-blockOverhead:
		return bad("snap length %d does not fit a block of %d bytes (at most %d)", c.SnapLen, c.BlockSize, c.BlockSize-blockOverhead)
	case c.PollTimeout < time.Millisecond:
		return bad("poll timeout %v below 1ms", c.PollTimeout)
	case c.PollTimeout > time.Hour:
		return bad("poll timeout %v above 1h", c.PollTimeout)
	}
	if f := c.Fanout; f != nil {
		switch f.Mode {
		case FanoutHash, FanoutLB, FanoutCPU:
		default:
			return bad("unknown fanout mode %v", f.Mode)
		}
	}
	if len(c.Filter) > bpfMaxInstructions {
		return bad("filter of %d instructions above %d", len(c.Filter), bpfMaxInstructions)
	}
	return nil
}

// Stats are the kernel's counters of a Source (PACKET_STATISTICS), summed
// over the Source's life.
type Stats struct {
	// Packets counts the packets that passed the filter, including the
	// dropped ones.
	Packets uint64
	// Drops counts the packets dropped because no ring block was free.
	Drops uint64
	// FreezeQueue counts the times the ring was full.
	FreezeQueue uint64
	// BadFrames counts frame headers in the ring that pointed outside
	// their block; Next skips the rest of such a block. Always 0 unless the
	// ring is corrupt.
	BadFrames uint64
}
