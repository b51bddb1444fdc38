package pcapgen

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Sentinel errors. Errors returned by this package wrap one of these or an
// error of the underlying io.Writer.
var (
	// ErrBadOptions reports an Options value out of range.
	ErrBadOptions = errors.New("pcapgen: bad options")
	// ErrLinkCannotCarry reports a frame the chosen link type cannot carry:
	// VLAN tags without an Ethernet header, or ARP without a link header.
	ErrLinkCannotCarry = errors.New("pcapgen: link type cannot carry this frame")
	// ErrBadAddress reports an invalid or mismatched address (an IPv4 client
	// with an IPv6 server, an unset address).
	ErrBadAddress = errors.New("pcapgen: bad address")
	// ErrClosed reports use of a Writer after Close.
	ErrClosed = errors.New("pcapgen: writer closed")
	// ErrUnknownScenario reports a scenario name that Lookup does not know.
	ErrUnknownScenario = errors.New("pcapgen: unknown scenario")
)

// Format is the capture file format.
type Format int

// Capture file formats.
const (
	// PcapMicro is the classic libpcap format with microsecond timestamps.
	PcapMicro Format = iota
	// PcapNano is the libpcap format with nanosecond timestamps (magic a1b23c4d).
	PcapNano
	// Pcapng is the pcapng format: one section, one interface, enhanced
	// packet blocks, nanosecond timestamps.
	Pcapng
)

// String returns the format's name as the mxgen command spells it.
func (f Format) String() string {
	switch f {
	case PcapMicro:
		return "pcap"
	case PcapNano:
		return "pcap-ns"
	case Pcapng:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Link is the link-layer header type of the capture.
type Link int

// Link types.
const (
	// Ethernet is LINKTYPE_ETHERNET (1).
	Ethernet Link = iota
	// LinuxSLL is Linux cooked capture v1, LINKTYPE_LINUX_SLL (113).
	LinuxSLL
	// LinuxSLL2 is Linux cooked capture v2, LINKTYPE_LINUX_SLL2 (276), with
	// its 20-byte header.
	LinuxSLL2
	// Raw is LINKTYPE_RAW (101): the packet starts with the IP header.
	Raw
	// Null is BSD loopback, LINKTYPE_NULL (0): a 4-byte address family in
	// little-endian byte order (2 for IPv4, 24 for IPv6) before the IP header.
	Null
)

// LinkType returns the pcap LINKTYPE value of l. It is a uint32 because
// gopacket's layers.LinkType (a uint8) cannot hold LINKTYPE_LINUX_SLL2
// (276); gopacket has no decoder for that one.
func (l Link) LinkType() uint32 {
	switch l {
	case Ethernet:
		return uint32(layers.LinkTypeEthernet)
	case LinuxSLL:
		return uint32(layers.LinkTypeLinuxSLL)
	case LinuxSLL2:
		return 276
	case Raw:
		return uint32(layers.LinkTypeRaw)
	case Null:
		return uint32(layers.LinkTypeNull)
	}
	return 0
}

// String returns the link type's name.
func (l Link) String() string {
	switch l {
	case Ethernet:
		return "ethernet"
	case LinuxSLL:
		return "sll"
	case LinuxSLL2:
		return "sll2"
	case Raw:
		return "raw"
	case Null:
		return "null"
	}
	return fmt.Sprintf("Link(%d)", int(l))
}

// DefaultStart is the timestamp of the first packet when Options.Start is
// zero: a Tuesday morning, so that Date headers look ordinary.
var DefaultStart = time.Date(2024, time.May, 14, 9, 30, 0, 0, time.UTC)

// DefaultSnapLen is the snapshot length used when Options.SnapLen is zero.
const DefaultSnapLen = 262144

// Options configure a Writer. The zero value writes an Ethernet pcap with
// microsecond timestamps, seed 0, starting at DefaultStart.
type Options struct {
	// Format is the file format.
	Format Format
	// Link is the link-layer header of every packet.
	Link Link
	// Gzip compresses the whole file with gzip (as tcpdump -w - | gzip
	// would). The gzip header carries no name and no modification time.
	Gzip bool
	// Seed drives every random choice: ports, sequence numbers, delays,
	// payload bytes.
	Seed int64
	// Start is the time of the first packet; zero means DefaultStart.
	Start time.Time
	// SnapLen truncates captured frames to this many bytes (the original
	// length is kept in the record); zero means DefaultSnapLen.
	SnapLen int
}

// Ext returns the file name extension for files written with o:
// ".pcap", ".pcapng", with ".gz" appended when Gzip is set.
func (o Options) Ext() string {
	ext := ".pcap"
	if o.Format == Pcapng {
		ext = ".pcapng"
	}
	if o.Gzip {
		ext += ".gz"
	}
	return ext
}

func (o Options) validate() error {
	if o.Format < PcapMicro || o.Format > Pcapng {
		return fmt.Errorf("%w: format %d", ErrBadOptions, int(o.Format))
	}
	if o.Link < Ethernet || o.Link > Null {
		return fmt.Errorf("%w: link %d", ErrBadOptions, int(o.Link))
	}
	if o.SnapLen < 0 || o.SnapLen > 1<<20 {
		return fmt.Errorf("%w: snaplen %d", ErrBadOptions, o.SnapLen)
	}
	return nil
}

// packetClass tags packets for Mix accounting.
type packetClass uint8

const (
	classNoise packetClass = iota
	classDNS
	classSMTP
	numClasses
)

// packetSink receives finished frames.
type packetSink interface {
	writePacket(ci gopacket.CaptureInfo, frame []byte, class packetClass) error
}

// Writer writes one capture file. Its methods that emit packets record the
// first error and turn later calls into no-ops; Err and Close report it, in
// the manner of bufio.Writer.
//
// A Writer keeps a clock that starts at Options.Start and advances with
// every packet by small seeded delays; Sleep advances it explicitly.
type Writer struct {
	opt     Options
	snaplen int
	rng     *rand.Rand
	now     time.Time
	sink    packetSink
	err     error
	closed  bool
	ipID    uint16
	tunSeq  uint32
	sbuf    gopacket.SerializeBuffer
	class   packetClass
	packets int
	bytes   int64
	// record makes conns keep what they sent, and the writer keep its
	// conns, for tests.
	record bool
	conns  []*Conn
	// payload is a block of random bytes that Mix slices payloads from.
	payload []byte

	// file output; nil for forked writers.
	file *fileSink
}

// New returns a Writer that writes a capture file with the given options to
// out. The file header is written at once. Close must be called to flush
// buffered packets and end the gzip stream; it does not close out.
func New(out io.Writer, opt Options) (*Writer, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: nil io.Writer", ErrBadOptions)
	}
	w := newWriter(opt)
	fs, err := newFileSink(out, opt, w.snaplen)
	if err != nil {
		return nil, err
	}
	w.file = fs
	w.sink = fs
	w.bytes = fs.headerBytes
	return w, nil
}

func newWriter(opt Options) *Writer {
	if opt.Start.IsZero() {
		opt.Start = DefaultStart
	}
	snap := opt.SnapLen
	if snap == 0 {
		snap = DefaultSnapLen
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x6d7867656e))
	return &Writer{
		opt:     opt,
		snaplen: snap,
		rng:     rng,
		now:     opt.Start,
		ipID:    uint16(rng.Uint32()),
		sbuf:    gopacket.NewSerializeBuffer(),
	}
}

// Err returns the first error met while writing, if any.
func (w *Writer) Err() error { return w.err }

// Now returns the writer's clock: the timestamp the next packet would get
// before its own delay is added.
func (w *Writer) Now() time.Time { return w.now }

// Sleep advances the clock by d (negative values are ignored).
func (w *Writer) Sleep(d time.Duration) {
	if d > 0 {
		w.now = w.now.Add(d)
	}
}

// Packets returns the number of packets written so far.
func (w *Writer) Packets() int { return w.packets }

// Bytes returns the size of the capture written so far, before gzip
// compression: file header plus packet records.
func (w *Writer) Bytes() int64 { return w.bytes }

// Close flushes buffered packets and ends the gzip stream. It returns the
// first error met while writing. Calling Close twice returns ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.file != nil {
		if err := w.file.close(); err != nil && w.err == nil {
			w.err = err
		}
	}
	return w.err
}

// fail records err as the writer's error unless one is already recorded.
func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// ok reports whether the writer can still write.
func (w *Writer) ok() bool {
	if w.closed {
		w.fail(ErrClosed)
	}
	return w.err == nil
}

// advance moves the clock forward by a random duration in [lo, hi].
func (w *Writer) advance(lo, hi time.Duration) {
	w.now = w.now.Add(w.between(lo, hi))
}

// between returns a random duration in [lo, hi].
func (w *Writer) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

// intn returns a random int in [0, n); 0 when n <= 0.
func (w *Writer) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return w.rng.IntN(n)
}

// randBytes returns n random bytes: fresh ones, or a slice of the shared
// payload block when the writer has one (Mix), which costs nothing.
func (w *Writer) randBytes(n int) []byte {
	if n <= 0 {
		return nil
	}
	if len(w.payload) >= n {
		off := w.intn(len(w.payload) - n + 1)
		return w.payload[off : off+n : off+n]
	}
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := w.rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// ephemeral returns ap, with a random ephemeral port when its port is 0.
func (w *Writer) ephemeral(ap netip.AddrPort) netip.AddrPort {
	if ap.Port() != 0 {
		return ap
	}
	return netip.AddrPortFrom(ap.Addr(), uint16(32768+w.intn(60999-32768+1)))
}

// emit hands a finished frame, timestamped with the clock, to the sink.
func (w *Writer) emit(frame []byte) {
	caplen := len(frame)
	if caplen > w.snaplen {
		caplen = w.snaplen
	}
	ci := gopacket.CaptureInfo{Timestamp: w.now, CaptureLength: caplen, Length: len(frame)}
	if err := w.sink.writePacket(ci, frame[:caplen], w.class); err != nil {
		w.fail(fmt.Errorf("pcapgen: write packet %d: %w", w.packets+1, err))
		return
	}
	w.packets++
	w.bytes += recordSize(w.opt.Format, caplen)
}

// recordSize is the size of one packet record in the file.
func recordSize(f Format, caplen int) int64 {
	if f == Pcapng {
		return int64(32 + (caplen+3)&^3) // enhanced packet block
	}
	return int64(16 + caplen)
}

// fileSink writes packets to a pcap or pcapng file.
type fileSink struct {
	bw          *bufio.Writer
	gz          *gzip.Writer
	pcap        *pcapgo.Writer
	ng          *pcapgo.NgWriter
	headerBytes int64
}

func newFileSink(out io.Writer, opt Options, snaplen int) (*fileSink, error) {
	fs := &fileSink{}
	dst := out
	if opt.Gzip {
		fs.gz = gzip.NewWriter(out)
		dst = fs.gz
	}
	fs.bw = bufio.NewWriterSize(dst, 1<<16)
	lt := opt.Link.LinkType()
	// gopacket's writers take the link type as a uint8; larger values
	// (SLL2) get headers written here, and pcapgo writes only the packets.
	small := lt <= 0xff
	switch opt.Format {
	case Pcapng:
		intf := pcapgo.NgInterface{
			Name:                ngInterfaceName,
			LinkType:            layers.LinkType(lt),
			SnapLength:          uint32(snaplen),
			TimestampResolution: 9,
		}
		hdrOut := &switchWriter{w: fs.bw}
		if !small {
			hdrOut.w = io.Discard
		}
		ng, err := pcapgo.NewNgWriterInterface(hdrOut, intf, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: ngApplication},
		})
		if err == nil {
			err = ng.Flush()
		}
		if err == nil && !small {
			err = writeNgHeader(fs.bw, lt, uint32(snaplen))
			hdrOut.w = fs.bw
		}
		if err != nil {
			return nil, fmt.Errorf("pcapgen: pcapng header: %w", err)
		}
		fs.ng = ng
		fs.headerBytes = int64(fs.bw.Buffered())
	default:
		if opt.Format == PcapNano {
			fs.pcap = pcapgo.NewWriterNanos(fs.bw)
		} else {
			fs.pcap = pcapgo.NewWriter(fs.bw)
		}
		var err error
		if small {
			err = fs.pcap.WriteFileHeader(uint32(snaplen), layers.LinkType(lt))
		} else {
			err = writePcapHeader(fs.bw, opt.Format == PcapNano, lt, uint32(snaplen))
		}
		if err != nil {
			return nil, fmt.Errorf("pcapgen: pcap header: %w", err)
		}
		fs.headerBytes = 24
	}
	return fs, nil
}

const (
	ngInterfaceName = "mirror0"
	ngApplication   = "mxgen (mxwatch capture generator)"
)

// switchWriter lets the pcapng header that pcapgo writes be discarded.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// writePcapHeader writes a libpcap file header (little endian).
func writePcapHeader(w io.Writer, nano bool, linkType, snaplen uint32) error {
	var h [24]byte
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	binary.LittleEndian.PutUint32(h[0:4], magic)
	binary.LittleEndian.PutUint16(h[4:6], 2)
	binary.LittleEndian.PutUint16(h[6:8], 4)
	binary.LittleEndian.PutUint32(h[16:20], snaplen)
	binary.LittleEndian.PutUint32(h[20:24], linkType)
	_, err := w.Write(h[:])
	return err
}

// writeNgHeader writes a pcapng section header block and one interface
// description block (name, nanosecond resolution) in little endian, the
// same blocks pcapgo writes but with a 16-bit link type.
func writeNgHeader(w io.Writer, linkType, snaplen uint32) error {
	var b []byte
	opt := func(code uint16, val []byte) {
		b = binary.LittleEndian.AppendUint16(b, code)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
		b = append(b, val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	block := func(typ uint32, body func()) {
		start := len(b)
		b = binary.LittleEndian.AppendUint32(b, typ)
		b = binary.LittleEndian.AppendUint32(b, 0) // length, set below
		body()
		b = binary.LittleEndian.AppendUint32(b, 0)
		n := uint32(len(b) - start)
		binary.LittleEndian.PutUint32(b[start+4:], n)
		binary.LittleEndian.PutUint32(b[len(b)-4:], n)
	}
	block(0x0a0d0d0a, func() {
		b = binary.LittleEndian.AppendUint32(b, 0x1a2b3c4d)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint64(b, 0xffffffffffffffff)
		opt(4, []byte(ngApplication)) // shb_userappl
		opt(0, nil)
	})
	block(1, func() {
		b = binary.LittleEndian.AppendUint16(b, uint16(linkType))
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint32(b, snaplen)
		opt(2, []byte(ngInterfaceName)) // if_name
		opt(9, []byte{9})               // if_tsresol: nanoseconds
		opt(0, nil)
	})
	_, err := w.Write(b)
	return err
}

func (fs *fileSink) writePacket(ci gopacket.CaptureInfo, frame []byte, _ packetClass) error {
	if fs.ng != nil {
		return fs.ng.WritePacket(ci, frame)
	}
	return fs.pcap.WritePacket(ci, frame)
}

func (fs *fileSink) close() error {
	if fs.ng != nil {
		if err := fs.ng.Flush(); err != nil {
			return fmt.Errorf("pcapgen: flush: %w", err)
		}
	}
	if err := fs.bw.Flush(); err != nil {
		return fmt.Errorf("pcapgen: flush: %w", err)
	}
	if fs.gz != nil {
		if err := fs.gz.Close(); err != nil {
			return fmt.Errorf("pcapgen: gzip: %w", err)
		}
	}
	return nil
}
