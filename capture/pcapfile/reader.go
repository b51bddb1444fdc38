package pcapfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/gopacket"
)

// MaxSnapLen is the largest captured packet length accepted (tcpdump's
// limit). A record claiming more is corrupt.
const MaxSnapLen = 262144

const (
	// bufSize is the read buffer of an uncompressed stream of unknown or
	// large size, and of every decompressed stream.
	bufSize = 1 << 20
	// minBufSize is the smallest read buffer: pcapgo re-wraps any reader
	// in a bufio.Reader unless it is one of at least 4096 bytes.
	minBufSize = 4096
	// pcapHeaderLen and pcapRecordLen are the sizes of the classic pcap
	// file header and per-packet record header.
	pcapHeaderLen = 24
	pcapRecordLen = 16
)

// Errors that callers can test for with errors.Is.
var (
	// ErrNotCapture: the data is neither pcap nor pcapng (after removing
	// gzip compression, if any).
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrTruncated: the file ends inside its header or inside a record.
	// Such errors also match io.ErrUnexpectedEOF.
	ErrTruncated = errors.New("truncated")
	// ErrCorrupt: a header or record breaks the format (impossible length,
	// unknown interface, bad compressed data, ...).
	ErrCorrupt = errors.New("corrupt")
)

// FormatError reports a truncated or corrupt capture. It matches Kind
// (ErrTruncated or ErrCorrupt) and Err with errors.Is.
type FormatError struct {
	// Name is the file name given to Open or NewReader.
	Name string
	// Packet is the 1-based number of the packet being read when reading
	// stopped; 0 means the file header.
	Packet int64
	// Offset is a byte offset in the capture data (after decompression):
	// for truncation, where the data ended; for corruption, the start of
	// the offending record or block (or, for bad compressed data, how far
	// decompression got).
	Offset int64
	// Kind is ErrTruncated or ErrCorrupt.
	Kind error
	// Err is the cause, io.ErrUnexpectedEOF for truncation.
	Err error
}

// Error returns a one-line description such as
// "evidence.pcap: truncated inside packet 1234 at byte offset 567890: unexpected EOF".
func (e *FormatError) Error() string {
	truncated := e.Kind == ErrTruncated
	switch {
	case e.Packet == 0 && truncated:
		return fmt.Sprintf("%s: truncated inside the file header at byte offset %d: %v", e.Name, e.Offset, e.Err)
	case e.Packet == 0:
		return fmt.Sprintf("%s: corrupt file header at byte offset %d: %v", e.Name, e.Offset, e.Err)
	case truncated:
		return fmt.Sprintf("%s: truncated inside packet %d at byte offset %d: %v", e.Name, e.Packet, e.Offset, e.Err)
	default:
		return fmt.Sprintf("%s: corrupt data at packet %d, byte offset %d: %v", e.Name, e.Packet, e.Offset, e.Err)
	}
}

// Unwrap returns the kind and the cause.
func (e *FormatError) Unwrap() []error { return []error{e.Kind, e.Err} }

// Packet is one captured frame.
type Packet struct {
	// Data holds the captured bytes. It points into the reader's buffer
	// and is valid only until the next call to Next (zero copy); copy it
	// to keep it.
	Data []byte
	// Time is the capture timestamp, in UTC. Simple packet blocks of
	// pcapng carry no timestamp; they get the time of the packet before
	// them in the file (the Unix epoch if there is none).
	Time time.Time
	// CapLen is len(Data); OrigLen is the length of the frame on the wire.
	CapLen  int
	OrigLen int
	// LinkType is the LINKTYPE_* number of the interface the packet came
	// from (1 Ethernet, 0 BSD loopback, 101 raw IP, 113 Linux cooked ...).
	LinkType uint32
	// Index is the 1-based packet number in its file.
	Index int64
}

// Stats counts what a Reader read and skipped.
type Stats struct {
	// Packets counts packets returned by Next; Bytes their captured bytes.
	Packets uint64
	Bytes   uint64
	// Sections and Interfaces count pcapng section header and interface
	// description blocks.
	Sections   uint64
	Interfaces uint64
	// SkippedBlocks counts pcapng blocks that carry no packet and are
	// skipped: statistics, name resolution, decryption secrets, custom and
	// unknown block types.
	SkippedBlocks uint64
}

// Reader reads the packets of one capture file. It is not safe for
// concurrent use.
type Reader struct {
	name   string
	closer io.Closer // the file Open opened; nil otherwise
	size   int64     // size of the underlying file, -1 if unknown
	format string

	under  countReader  // the underlying (possibly compressed) file
	stream *countReader // the capture data: &under, or the gzip output
	gz     *gzip.Reader
	br     *bufio.Reader // buffered capture data

	pcap      bool   // classic pcap, else pcapng
	link      uint32 // classic pcap link type
	lastLink  uint32 // of the last packet of ZeroCopyReadPacketData
	haveLast  bool
	bigEndian bool    // classic pcap byte order
	fracScale uint32  // classic pcap: 1000 for microsecond timestamps, 1 for nanosecond
	big       []byte  // classic pcap: a record larger than br's buffer
	ng        ngState // pcapng

	index int64 // packets returned so far
	off   int64 // offset in the capture data of the record being read
	err   error // sticky: io.EOF or the error that stopped reading
	stats Stats
}

// countReader counts the bytes read through it and remembers the first
// error other than io.EOF.
type countReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// Open opens a capture file, or standard input when path is "-". It
// detects gzip compression and then the format from the magic number. A
// file that is not a capture is a one-line error matching ErrNotCapture,
// e.g. `notes.txt: not a pcap or pcapng file (starts with "6d 78 77 61")`.
func Open(path string) (*Reader, error) {
	if path == "-" {
		return newReader("stdin", os.Stdin, -1, nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	r, err := newReader(path, f, size, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// NewReader reads a capture from r; name is used in errors, size is the
// number of bytes r holds (-1 when unknown) and is what Progress reports as
// total. Close does not close r.
func NewReader(name string, r io.Reader, size int64) (*Reader, error) {
	return newReader(name, r, size, nil)
}

func newReader(name string, rd io.Reader, size int64, closer io.Closer) (*Reader, error) {
	if size < 0 {
		size = -1
	}
	r := &Reader{name: name, size: size, closer: closer}
	r.under.r = rd
	r.stream = &r.under
	n := bufSize
	if size >= 0 && size < bufSize {
		n = max(int(size), minBufSize)
	}
	r.br = bufio.NewReaderSize(&r.under, n)

	magic, err := r.br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, r.headerError(err)
	}
	compressed := len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if compressed {
		if r.gz, err = gzip.NewReader(r.br); err != nil {
			return nil, r.headerError(err)
		}
		r.stream = &countReader{r: r.gz}
		r.br = bufio.NewReaderSize(r.stream, bufSize)
		if magic, err = r.br.Peek(4); err != nil && err != io.EOF {
			return nil, r.headerError(err)
		}
	}

	switch {
	case len(magic) < 4:
		return nil, r.notCapture(magic, compressed)
	case string(magic) == "\x0a\x0d\x0d\x0a":
		r.format = "pcapng"
		err = r.openPcapng()
	default:
		var nano bool
		var order binary.ByteOrder
		switch binary.LittleEndian.Uint32(magic) {
		case 0xa1b2c3d4:
			order = binary.LittleEndian
		case 0xd4c3b2a1:
			order = binary.BigEndian
		case 0xa1b23c4d:
			order, nano = binary.LittleEndian, true
		case 0x4d3cb2a1:
			order, nano = binary.BigEndian, true
		default:
			return nil, r.notCapture(magic, compressed)
		}
		r.format = "pcap"
		if nano {
			r.format = "pcap-ns"
		}
		err = r.openPcap(order, nano)
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	if compressed {
		r.format += "+gzip"
	}
	return r, nil
}

// notCapture describes data that is not a capture by its first bytes.
func (r *Reader) notCapture(magic []byte, compressed bool) error {
	what := "gzip-compressed data"
	if !compressed {
		what = "file"
	}
	if len(magic) == 0 {
		return fmt.Errorf("%s: %w (%s is empty)", r.name, ErrNotCapture, what)
	}
	hex := make([]string, len(magic))
	for i, b := range magic {
		hex[i] = fmt.Sprintf("%02x", b)
	}
	if compressed {
		return fmt.Errorf("%s: %w (gzip-compressed data starts with %q)", r.name, ErrNotCapture, strings.Join(hex, " "))
	}
	return fmt.Errorf("%s: %w (starts with %q)", r.name, ErrNotCapture, strings.Join(hex, " "))
}

// headerError classifies an error met while reading the file header.
func (r *Reader) headerError(err error) error {
	return r.fail(err, 0, 0)
}

// fail turns the error that stopped reading into what Next returns: an
// I/O error of the underlying file as is (with context), anything else as
// a *FormatError. off is the start of the record being read.
func (r *Reader) fail(err error, packet, off int64) error {
	if r.under.err != nil {
		if packet == 0 {
			return fmt.Errorf("%s: reading the file header: %w", r.name, r.under.err)
		}
		return fmt.Errorf("%s: reading packet %d: %w", r.name, packet, r.under.err)
	}
	// When decompression failed, that is the cause, even if what it
	// produced before failing already looked corrupt.
	inflate := r.gz != nil && r.stream.err != nil
	if inflate {
		err = r.stream.err
	}
	fe := &FormatError{Name: r.name, Packet: packet, Offset: off, Kind: ErrCorrupt, Err: err}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		fe.Kind, fe.Err, fe.Offset = ErrTruncated, io.ErrUnexpectedEOF, r.stream.n
	case inflate:
		// Report how far decompression got.
		fe.Err, fe.Offset = fmt.Errorf("decompressing: %w", err), r.stream.n
	}
	return fe
}

// openPcap reads the classic pcap file header.
func (r *Reader) openPcap(order binary.ByteOrder, nano bool) error {
	hdr, err := r.br.Peek(pcapHeaderLen)
	if err != nil {
		return r.headerError(err)
	}
	// The link type field holds FCS information in its upper bits.
	r.link = order.Uint32(hdr[20:24]) & 0xffff
	r.bigEndian = order == binary.BigEndian
	r.fracScale = 1000
	if nano {
		r.fracScale = 1
	}
	// The checks of pcapgo's NewReader (the magic was checked by the
	// caller): version 2.4. Tests hold the two readers to the same
	// verdicts on every file (TestPcapMatchesPcapgo,
	// FuzzPcapMatchesPcapgo); calling pcapgo here would link gopacket's
	// layers package, whose initialisation costs about 30 ms of every
	// run's start-up.
	if len(hdr) < pcapHeaderLen {
		return r.headerError(io.ErrUnexpectedEOF)
	}
	if v := order.Uint16(hdr[4:6]); v != 2 {
		return r.headerError(fmt.Errorf("unknown major version %d", v))
	}
	if v := order.Uint16(hdr[6:8]); v != 4 {
		return r.headerError(fmt.Errorf("unknown minor version %d", v))
	}
	if _, err := r.br.Discard(pcapHeaderLen); err != nil {
		return r.headerError(err)
	}
	r.pcap = true
	r.off = pcapHeaderLen
	return nil
}

func (r *Reader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// nextPcap reads one classic pcap record. The packet's data is a slice of
// the read buffer, not a copy, unless the record is larger than the
// buffer (a small file's). The checks and results are pcapgo's
// (TestPcapMatchesPcapgo, FuzzPcapMatchesPcapgo); pcapgo's own reader
// copies every record.
func (r *Reader) nextPcap() (Packet, error) {
	h, err := r.br.Peek(pcapRecordLen)
	if err != nil {
		if err == io.EOF && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, err // io.EOF: clean end between records
	}
	capLen, origLen := r.u32(h[8:12]), r.u32(h[12:16])
	if capLen > MaxSnapLen {
		return Packet{}, fmt.Errorf("capture length exceeds snap length: %d > %d", capLen, MaxSnapLen)
	}
	if capLen > origLen {
		return Packet{}, fmt.Errorf("capture length exceeds original packet length: %d > %d", capLen, origLen)
	}
	// The fraction is scaled in 32 bits, as pcapgo does.
	ts := time.Unix(int64(r.u32(h[0:4])), int64(r.u32(h[4:8])*r.fracScale)).UTC()
	end := pcapRecordLen + int(capLen)
	b, err := r.br.Peek(end)
	switch err {
	case nil:
		r.br.Discard(end) // cannot fail: the bytes are buffered
	case bufio.ErrBufferFull:
		if cap(r.big) < end {
			r.big = make([]byte, pcapRecordLen+MaxSnapLen)
		}
		b = r.big[:end]
		if _, err := io.ReadFull(r.br, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Packet{}, err
		}
	case io.EOF:
		return Packet{}, io.ErrUnexpectedEOF
	default:
		return Packet{}, err
	}
	r.off += int64(end)
	return Packet{
		Data:     b[pcapRecordLen:end:end],
		Time:     ts,
		CapLen:   int(capLen),
		OrigLen:  int(origLen),
		LinkType: r.link,
	}, nil
}

// Next returns the next packet. It returns io.EOF at a clean end of the
// file, and after an error it returns that error again.
// ZeroCopyReadPacketData implements gopacket.ZeroCopyPacketDataSource:
// the next packet's bytes (valid until the next call) and its capture
// information. The link type is LinkType's, of the last packet read.
func (r *Reader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	p, err := r.Next()
	if err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	r.lastLink, r.haveLast = p.LinkType, true
	return p.Data, gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: p.CapLen, Length: p.OrigLen}, nil
}

// ReadPacketData implements gopacket.PacketDataSource: like
// ZeroCopyReadPacketData, with a copy of the bytes that the caller keeps.
func (r *Reader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := r.ZeroCopyReadPacketData()
	return bytes.Clone(data), ci, err
}

// LinkType returns the LINKTYPE_* of the packet ZeroCopyReadPacketData
// returned last (pcapng files may mix interfaces of several types);
// before the first packet, a classic pcap file's link type, or 0.
func (r *Reader) LinkType() uint32 {
	if !r.haveLast {
		return r.link
	}
	return r.lastLink
}

func (r *Reader) Next() (Packet, error) {
	if r.err != nil {
		return Packet{}, r.err
	}
	var (
		p   Packet
		err error
	)
	if r.pcap {
		p, err = r.nextPcap()
	} else {
		p, err = r.nextPcapng()
	}
	if err != nil {
		if err != io.EOF {
			err = r.fail(err, r.index+1, r.off)
		}
		r.err = err
		return Packet{}, err
	}
	r.index++
	p.Index = r.index
	r.stats.Packets++
	r.stats.Bytes += uint64(p.CapLen)
	return p, nil
}

// Format reports the file format: "pcap", "pcap-ns" or "pcapng", with the
// suffix "+gzip" when the file is compressed.
func (r *Reader) Format() string { return r.format }

// Name returns the name given to Open or NewReader ("stdin" for "-").
func (r *Reader) Name() string { return r.name }

// Progress reports how many bytes of the underlying (possibly compressed)
// file have been consumed, and its size, -1 when unknown (standard input,
// pipes). Read-ahead buffering makes done run ahead of the packets returned
// by up to 1 MiB.
func (r *Reader) Progress() (done, total int64) { return r.under.n, r.size }

// Stats returns the reader's counters.
func (r *Reader) Stats() Stats { return r.stats }

// Close releases the reader and closes the file that Open opened (never
// standard input, nor the io.Reader given to NewReader). Next returns an
// error after Close.
func (r *Reader) Close() error {
	var err error
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
	if r.closer != nil {
		err = r.closer.Close()
		r.closer = nil
	}
	if r.err == nil || r.err == io.EOF {
		r.err = fmt.Errorf("%s: %w", r.name, os.ErrClosed)
	}
	return err
}
