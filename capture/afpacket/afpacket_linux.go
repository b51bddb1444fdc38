//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/mxwatch/mxwatch/capture"
)

// linkEthernet is LINKTYPE_ETHERNET.
const linkEthernet = 1

// Offsets in struct tpacket_block_desc (with tpacket_hdr_v1) and in
// struct tpacket3_hdr, in host byte order.
const (
	blkStatus     = 8
	blkNumPkts    = 12
	blkFirstPkt   = 16
	pktNextOffset = 0
	pktSec        = 4
	pktNsec       = 8
	pktSnaplen    = 12
	pktStatus     = 20
	pktMac        = 24
	pktVLANTCI    = 32
	pktVLANTPID   = 36
	pktHdrLen     = 48
)

// Source reads frames from the TPACKET_V3 ring of an AF_PACKET socket. Next
// must not be called from more than one goroutine at a time; Close and
// Stats may be called from any goroutine at any time.
type Source struct {
	iface      string
	snapLen    int
	blockSize  int
	numBlocks  int
	pollMs     int
	returnIdle bool

	fd     int
	wakeFd int    // eventfd written by Close to wake a Next blocked in poll
	ring   []byte // the mmap'd ring

	// Next's state, guarded by nextMu.
	nextMu    sync.Mutex
	block     int  // current block
	inBlock   bool // the current block belongs to us
	remaining int  // frames of the current block not yet returned
	offset    int  // offset of the next frame in the current block
	vlanBuf   []byte

	closed atomic.Bool

	// statsMu guards stats and the validity of fd for Stats.
	statsMu   sync.Mutex
	stats     Stats
	fdClosed  bool
	badFrames atomic.Uint64
}

var _ capture.Source = (*Source)(nil)

// Open validates cfg, then opens an AF_PACKET socket with a TPACKET_V3
// receive ring on cfg.Interface: it attaches the filter, maps the ring,
// binds to the interface, and then sets promiscuous mode and joins the
// fanout group if asked. The socket is created with protocol 0, so that it
// receives nothing before the bind, which starts reception of all
// protocols (ETH_P_ALL) with the filter already in place. Errors name the
// interface and the step that failed.
func Open(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Source{
		iface:      cfg.Interface,
		snapLen:    cfg.SnapLen,
		blockSize:  cfg.BlockSize,
		numBlocks:  cfg.NumBlocks,
		pollMs:     int(cfg.PollTimeout / time.Millisecond),
		returnIdle: cfg.ReturnIdle,
		fd:         -1,
		wakeFd:     -1,
	}
	if err := s.open(cfg); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// opError wraps err with the interface and step, and says which
// capability is missing when the kernel refused for lack of privileges.
func opError(iface, step string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("afpacket: %s: %s: %w (capturing needs CAP_NET_RAW, and promiscuous mode also CAP_NET_ADMIN)", iface, step, err)
	}
	return fmt.Errorf("afpacket: %s: %s: %w", iface, step, err)
}

func (s *Source) open(cfg Config) error {
	fail := func(step string, err error) error { return opError(cfg.Interface, step, err) }
	var err error
	s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		s.fd = -1
		return fail("socket", err)
	}
	s.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		s.wakeFd = -1
		return fail("eventfd", err)
	}
	ifr, err := unix.NewIfreq(cfg.Interface)
	if err != nil {
		return fail("interface name", err)
	}
	if err := unix.IoctlIfreq(s.fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return fail("interface index", err)
	}
	ifindex := int(ifr.Uint32())
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("set TPACKET_V3", err)
	}
	prog := clampFilter(cfg.Filter, cfg.SnapLen)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail("attach filter", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     uint32(cfg.FrameSize),
		Frame_nr:       uint32(cfg.BlockSize / cfg.FrameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail(fmt.Sprintf("set up a ring of %d blocks of %d bytes", cfg.NumBlocks, cfg.BlockSize), err)
	}
	s.ring, err = unix.Mmap(s.fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		s.ring = nil
		return fail("mmap ring", err)
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(s.fd, &sa); err != nil {
		return fail("bind", err)
	}
	if cfg.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(s.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("set promiscuous mode", err)
		}
	}
	if f := cfg.Fanout; f != nil {
		arg := uint32(f.Mode)
		if f.Defrag {
			arg |= unix.PACKET_FANOUT_FLAG_DEFRAG
		}
		arg = uint32(f.Group) | arg<<16
		if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(arg)); err != nil {
			return fail(fmt.Sprintf("join fanout group %d (%v)", f.Group, f.Mode), err)
		}
	}
	return nil
}

// clampFilter returns the program to attach: filter with every constant
// return value capped at snapLen, or, without a filter, one that keeps
// snapLen bytes of every packet.
func clampFilter(filter []bpf.RawInstruction, snapLen int) []unix.SockFilter {
	const retK = 0x06 // BPF_RET | BPF_K
	if len(filter) == 0 {
		return []unix.SockFilter{{Code: retK, K: uint32(snapLen)}}
	}
	prog := make([]unix.SockFilter, len(filter))
	for i, ins := range filter {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		if ins.Op == retK && ins.K > uint32(snapLen) {
			prog[i].K = uint32(snapLen)
		}
	}
	return prog
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// release frees what open acquired; only for a Source no one else uses.
func (s *Source) release() {
	if s.ring != nil {
		_ = unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
	if s.wakeFd >= 0 {
		_ = unix.Close(s.wakeFd)
		s.wakeFd = -1
	}
}

// status returns a pointer to the block_status word of block b, which the
// kernel and we hand back and forth.
func (s *Source) status(b int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[b*s.blockSize+blkStatus]))
}

// Next returns the next frame. Its Data points into the ring (or, for a
// frame whose VLAN tag the kernel removed, into a buffer of the Source)
// and is valid until the next call of Next or Close. Next blocks until a
// frame arrives and returns io.EOF once Close was called.
func (s *Source) Next() (capture.Frame, error) {
	s.nextMu.Lock()
	defer s.nextMu.Unlock()
	for {
		if s.closed.Load() {
			return capture.Frame{}, io.EOF
		}
		if s.inBlock && s.remaining == 0 {
			s.releaseBlock()
		}
		if !s.inBlock {
			if atomic.LoadUint32(s.status(s.block))&unix.TP_STATUS_USER == 0 {
				ready, err := s.wait()
				if err != nil {
					return capture.Frame{}, err
				}
				if !ready && s.returnIdle && !s.closed.Load() {
					return capture.Frame{}, capture.ErrIdle
				}
				continue
			}
			base := s.block * s.blockSize
			s.inBlock = true
			s.remaining = int(binary.NativeEndian.Uint32(s.ring[base+blkNumPkts:]))
			s.offset = int(binary.NativeEndian.Uint32(s.ring[base+blkFirstPkt:]))
			continue
		}
		if f, ok := s.frame(); ok {
			return f, nil
		}
		s.badFrames.Add(1)
		s.remaining = 0
	}
}

// frame returns the frame at s.offset of the current block and moves on.
// It returns false if the frame header points outside the block.
func (s *Source) frame() (capture.Frame, bool) {
	blk := s.ring[s.block*s.blockSize : (s.block+1)*s.blockSize]
	off := s.offset
	if off < 0 || off > len(blk)-pktHdrLen {
		return capture.Frame{}, false
	}
	h := blk[off : off+pktHdrLen]
	ne := binary.NativeEndian
	mac := off + int(ne.Uint16(h[pktMac:]))
	n := int(ne.Uint32(h[pktSnaplen:]))
	if n > len(blk)-mac {
		return capture.Frame{}, false
	}
	data := blk[mac : mac+n : mac+n]
	st := ne.Uint32(h[pktStatus:])
	if st&unix.TP_STATUS_VLAN_VALID != 0 && len(data) >= 12 {
		tpid := uint16(0x8100)
		if st&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = ne.Uint16(h[pktVLANTPID:])
		}
		b := append(s.vlanBuf[:0], data[:12]...)
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(ne.Uint32(h[pktVLANTCI:])))
		b = append(b, data[12:]...)
		s.vlanBuf = b
		data = b
	}
	if len(data) > s.snapLen {
		data = data[:s.snapLen]
	}
	f := capture.Frame{
		Link: linkEthernet,
		Data: data,
		Time: time.Unix(int64(ne.Uint32(h[pktSec:])), int64(ne.Uint32(h[pktNsec:]))),
	}
	s.remaining--
	s.offset = off + int(ne.Uint32(h[pktNextOffset:]))
	return f, true
}

// releaseBlock hands the current block back to the kernel.
func (s *Source) releaseBlock() {
	atomic.StoreUint32(s.status(s.block), unix.TP_STATUS_KERNEL)
	s.inBlock = false
	s.remaining = 0
	s.block = (s.block + 1) % s.numBlocks
}

// wait blocks in poll until the socket is readable, Close wakes it or the
// poll timeout passes; ready is false when the timeout passed.
func (s *Source) wait() (ready bool, err error) {
	fds := []unix.PollFd{
		{Fd: int32(s.fd), Events: unix.POLLIN},
		{Fd: int32(s.wakeFd), Events: unix.POLLIN},
	}
	n, err := unix.Poll(fds, s.pollMs)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return false, opError(s.iface, "poll", err)
	}
	return n > 0 || err != nil, nil
}

// Close stops the Source: a Next blocked in poll returns io.EOF at once,
// and later calls of Next return io.EOF. Close waits for a running Next to
// return, then unmaps the ring and closes the socket; frames returned
// before are invalid afterwards. Close is idempotent and safe to call from
// any goroutine.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, werr := unix.Write(s.wakeFd, one[:])
	s.nextMu.Lock()
	defer s.nextMu.Unlock()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	serr := s.readStats()
	s.fdClosed = true
	var err error
	if s.ring != nil {
		err = unix.Munmap(s.ring)
		s.ring = nil
	}
	if cerr := unix.Close(s.fd); err == nil {
		err = cerr
	}
	_ = unix.Close(s.wakeFd)
	if err != nil {
		return opError(s.iface, "close", err)
	}
	if werr != nil {
		return opError(s.iface, "wake poll", werr)
	}
	if serr != nil {
		return serr
	}
	return nil
}

// Stats returns the counters summed since Open. The kernel resets its
// counters on every read, so the Source adds them up; after Close, Stats
// returns the final totals.
func (s *Source) Stats() (Stats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	var err error
	if !s.fdClosed {
		err = s.readStats()
	}
	st := s.stats
	st.BadFrames = s.badFrames.Load()
	return st, err
}

// readStats adds the kernel's counters to s.stats; statsMu must be held.
func (s *Source) readStats() error {
	k, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return opError(s.iface, "read statistics", err)
	}
	s.stats.Packets += uint64(k.Packets)
	s.stats.Drops += uint64(k.Drops)
	s.stats.FreezeQueue += uint64(k.Freeze_q_cnt)
	return nil
}
