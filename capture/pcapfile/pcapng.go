package pcapfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng).
const (
	blockSection   = 0x0a0d0d0a
	blockInterface = 0x00000001
	blockPacket    = 0x00000002 // obsolete Packet Block
	blockSimple    = 0x00000003
	blockEnhanced  = 0x00000006
)

// Interface description options that change how packets are read.
const (
	optEnd      = 0
	optTSResol  = 9
	optTSOffset = 14
)

const (
	// maxBlockLen bounds the length of any pcapng block.
	maxBlockLen = 16 << 20
	// maxInterfaces bounds the interfaces of one section.
	maxInterfaces = 1 << 16
	// copyChunk is the first step by which the copy buffer grows, so that
	// what it allocates follows the bytes actually present.
	copyChunk = 64 << 10
)

var (
	errBlockLen   = errors.New("block length")
	errFirstBlock = errors.New("first block is not a section header")
)

// ngIface is what the reader keeps of an interface description block.
type ngIface struct {
	link    uint32
	snaplen uint32
	units   uint64 // timestamp units per second (if_tsresol)
	offset  int64  // seconds added to every timestamp (if_tsoffset)
}

// ngState is the pcapng decoder state.
type ngState struct {
	order   binary.ByteOrder // of the current section
	ifaces  []ngIface        // of the current section
	pending int              // bytes of the last block still to discard
	next    int64            // offset of the next block
	buf     []byte           // block copy, for blocks larger than the read buffer
	tmp     [4]byte
	last    time.Time // time of the previous packet, for simple packet blocks
}

// blockName names a block type in errors.
func blockName(t uint32) string {
	switch t {
	case blockSection:
		return "section header block"
	case blockInterface:
		return "interface description block"
	case blockPacket:
		return "packet block"
	case blockSimple:
		return "simple packet block"
	case blockEnhanced:
		return "enhanced packet block"
	}
	return fmt.Sprintf("block type %#08x", t)
}

// openPcapng reads the first section header block.
func (r *Reader) openPcapng() error {
	r.ng.last = time.Unix(0, 0).UTC()
	typ, n, err := r.ngHeader()
	if err == nil && typ != blockSection {
		err = errFirstBlock
	}
	if err == nil {
		err = r.ngBlock(typ, n)
	}
	if err != nil {
		return r.fail(err, 0, r.off)
	}
	return nil
}

// ngHeader peeks at the type and length of the block at the read position
// and checks the length. It returns io.EOF only at a clean end.
func (r *Reader) ngHeader() (typ uint32, n int, err error) {
	if r.ng.pending > 0 {
		// The previous block was peeked at; its bytes are all buffered.
		r.br.Discard(r.ng.pending)
		r.ng.pending = 0
	}
	r.off = r.ng.next
	hdr, err := r.br.Peek(8)
	if err != nil {
		if err == io.EOF && len(hdr) == 0 {
			return 0, 0, io.EOF
		}
		return 0, 0, unexpected(err)
	}
	typ = binary.LittleEndian.Uint32(hdr) // palindromic for sections
	if typ == blockSection {
		if hdr, err = r.br.Peek(12); err != nil {
			return 0, 0, unexpected(err)
		}
		switch string(hdr[8:12]) {
		case "\x1a\x2b\x3c\x4d":
			r.ng.order = binary.BigEndian
		case "\x4d\x3c\x2b\x1a":
			r.ng.order = binary.LittleEndian
		default:
			return 0, 0, fmt.Errorf("section header block: bad byte-order magic % x", hdr[8:12])
		}
	} else if r.ng.order == nil {
		return 0, 0, errFirstBlock
	}
	typ = r.ng.order.Uint32(hdr[0:4])
	l := r.ng.order.Uint32(hdr[4:8])
	// The shortest block of each type has an empty body past its fixed
	// fields.
	minLen := uint32(12)
	switch typ {
	case blockSection:
		minLen = 28
	case blockInterface:
		minLen = 20
	case blockSimple:
		minLen = 16
	case blockEnhanced, blockPacket:
		minLen = 32
	}
	if l < minLen || l%4 != 0 || l > maxBlockLen {
		return 0, 0, fmt.Errorf("%s: %w %d (want a multiple of 4 from %d to %d)", blockName(typ), errBlockLen, l, minLen, maxBlockLen)
	}
	r.ng.next = r.off + int64(l)
	return typ, int(l), nil
}

// unexpected turns an end of data inside a block into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ngBytes returns the n bytes of the block at the read position, trailer
// included. They are valid until the next read.
func (r *Reader) ngBytes(n int) ([]byte, error) {
	if n <= r.br.Size() {
		b, err := r.br.Peek(n)
		if err != nil {
			return nil, unexpected(err)
		}
		r.ng.pending = n // discarded before the next block
		return b, nil
	}
	// Larger than the read buffer: copy, growing the buffer only as the
	// bytes arrive, so that a block length alone allocates nothing.
	buf := r.ng.buf[:0]
	for len(buf) < n {
		want := min(n, max(2*len(buf), copyChunk))
		if cap(buf) < want {
			nb := make([]byte, len(buf), want)
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r.br, buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if err != nil {
			r.ng.buf = buf[:0]
			return nil, unexpected(err)
		}
	}
	r.ng.buf = buf[:0]
	return buf, nil
}

// ngSkip consumes a block without looking at its body.
func (r *Reader) ngSkip(typ uint32, n int) error {
	if _, err := r.br.Discard(n - 4); err != nil {
		return unexpected(err)
	}
	if _, err := io.ReadFull(r.br, r.ng.tmp[:]); err != nil {
		return unexpected(err)
	}
	if t := r.ng.order.Uint32(r.ng.tmp[:]); t != uint32(n) {
		return fmt.Errorf("%s: trailing length %d differs from leading length %d", blockName(typ), t, n)
	}
	return nil
}

// nextPcapng reads blocks up to the next packet.
func (r *Reader) nextPcapng() (Packet, error) {
	for {
		typ, n, err := r.ngHeader()
		if err != nil {
			return Packet{}, err
		}
		switch typ {
		case blockEnhanced, blockPacket, blockSimple:
			return r.ngPacket(typ, n)
		case blockSection, blockInterface:
			if err := r.ngBlock(typ, n); err != nil {
				return Packet{}, err
			}
		default:
			if err := r.ngSkip(typ, n); err != nil {
				return Packet{}, err
			}
			r.stats.SkippedBlocks++
		}
	}
}

// ngBody reads a whole block and returns its body (between the length
// and the trailer), after checking the trailer.
func (r *Reader) ngBody(typ uint32, n int) ([]byte, error) {
	b, err := r.ngBytes(n)
	if err != nil {
		return nil, err
	}
	if t := r.ng.order.Uint32(b[n-4:]); t != uint32(n) {
		return nil, fmt.Errorf("%s: trailing length %d differs from leading length %d", blockName(typ), t, n)
	}
	return b[8 : n-4], nil
}

// ngBlock reads a section header or interface description block.
func (r *Reader) ngBlock(typ uint32, n int) error {
	body, err := r.ngBody(typ, n)
	if err != nil {
		return err
	}
	o := r.ng.order
	if typ == blockSection {
		// body: byte-order magic, major, minor, section length, options.
		if major := o.Uint16(body[4:6]); major != 1 {
			return fmt.Errorf("section header block: unsupported version %d.%d", major, o.Uint16(body[6:8]))
		}
		r.ng.ifaces = r.ng.ifaces[:0]
		r.stats.Sections++
		return nil
	}
	// Interface description: link type, reserved, snap length, options.
	if len(r.ng.ifaces) >= maxInterfaces {
		return fmt.Errorf("interface description block: more than %d interfaces in a section", maxInterfaces)
	}
	ifc := ngIface{
		link:    uint32(o.Uint16(body[0:2])),
		snaplen: o.Uint32(body[4:8]),
		units:   1e6,
	}
	opts := body[8:]
	for len(opts) > 0 {
		if len(opts) < 4 {
			return errors.New("interface description block: options: truncated option header")
		}
		code, l := o.Uint16(opts[0:2]), int(o.Uint16(opts[2:4]))
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("interface description block: option %d of length %d overruns the block", code, l)
		}
		val := opts[4 : 4+l]
		opts = opts[4+padded:]
		switch code {
		case optEnd:
			opts = nil
		case optTSResol:
			if l != 1 {
				return fmt.Errorf("interface description block: if_tsresol of length %d", l)
			}
			if ifc.units, err = tsUnits(val[0]); err != nil {
				return err
			}
		case optTSOffset:
			if l != 8 {
				return fmt.Errorf("interface description block: if_tsoffset of length %d", l)
			}
			ifc.offset = int64(o.Uint64(val))
		}
	}
	r.ng.ifaces = append(r.ng.ifaces, ifc)
	r.stats.Interfaces++
	return nil
}

// tsUnits converts an if_tsresol value to timestamp units per second: a
// negative power of 10, or of 2 when the high bit is set.
func tsUnits(v byte) (uint64, error) {
	if v&0x80 != 0 {
		e := v & 0x7f
		if e > 63 {
			return 0, fmt.Errorf("interface description block: if_tsresol 2^-%d out of range", e)
		}
		return 1 << e, nil
	}
	if v > 19 {
		return 0, fmt.Errorf("interface description block: if_tsresol 10^-%d out of range", v)
	}
	u := uint64(1)
	for range v {
		u *= 10
	}
	return u, nil
}

// ngTime converts a timestamp in units of the interface to a time.
func ngTime(ifc *ngIface, ts uint64) time.Time {
	var sec, nsec uint64
	switch ifc.units {
	case 1e6:
		sec, nsec = ts/1e6, ts%1e6*1e3
	case 1e9:
		sec, nsec = ts/1e9, ts%1e9
	default:
		sec = ts / ifc.units
		hi, lo := bits.Mul64(ts%ifc.units, 1e9)
		nsec, _ = bits.Div64(hi, lo, ifc.units) // hi < units: cannot panic
	}
	return time.Unix(int64(sec)+ifc.offset, int64(nsec)).UTC()
}

// ngPacket reads an enhanced, simple or obsolete packet block.
func (r *Reader) ngPacket(typ uint32, n int) (Packet, error) {
	body, err := r.ngBody(typ, n)
	if err != nil {
		return Packet{}, err
	}
	o := r.ng.order
	var (
		ifid, caplen, origlen uint32
		ts                    uint64
		header                int
		hasTime               bool
	)
	switch typ {
	case blockEnhanced:
		// interface id, timestamp (high, low), captured, original length.
		ifid = o.Uint32(body[0:4])
		ts = uint64(o.Uint32(body[4:8]))<<32 | uint64(o.Uint32(body[8:12]))
		caplen, origlen = o.Uint32(body[12:16]), o.Uint32(body[16:20])
		header, hasTime = 20, true
	case blockPacket:
		// interface id (16 bits), drops count, timestamp, lengths.
		ifid = uint32(o.Uint16(body[0:2]))
		ts = uint64(o.Uint32(body[4:8]))<<32 | uint64(o.Uint32(body[8:12]))
		caplen, origlen = o.Uint32(body[12:16]), o.Uint32(body[16:20])
		header, hasTime = 20, true
	default: // simple packet block: original length, then the data.
		origlen = o.Uint32(body[0:4])
		header = 4
	}
	if n := uint32(len(r.ng.ifaces)); ifid >= n {
		return Packet{}, fmt.Errorf("%s: unknown interface %d (the section has %d)", blockName(typ), ifid, n)
	}
	ifc := &r.ng.ifaces[ifid]
	maxCap := uint32(len(body) - header)
	what := "captured length"
	if typ == blockSimple {
		// The captured length is implied: the original length cut to
		// the interface's snap length and to the block.
		what = "implied captured length"
		caplen = origlen
		if ifc.snaplen != 0 && caplen > ifc.snaplen {
			caplen = ifc.snaplen
		}
		caplen = min(caplen, maxCap)
	}
	if caplen > MaxSnapLen {
		return Packet{}, fmt.Errorf("%s: %s %d exceeds the maximum %d", blockName(typ), what, caplen, MaxSnapLen)
	}
	if caplen > maxCap {
		return Packet{}, fmt.Errorf("%s: captured length %d exceeds the block body (%d bytes)", blockName(typ), caplen, maxCap)
	}
	end := header + int(caplen)
	data := body[header:end:end]
	t := r.ng.last
	if hasTime {
		t = ngTime(ifc, ts)
		r.ng.last = t
	}
	return Packet{
		Data:     data,
		Time:     t,
		CapLen:   int(caplen),
		OrigLen:  int(origlen),
		LinkType: ifc.link,
	}, nil
}
