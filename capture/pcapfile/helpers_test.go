package pcapfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pkt is what a test expects of one packet.
type pkt struct {
	data    []byte
	time    time.Time
	origLen int
	link    uint32
}

// frame returns a deterministic frame of n bytes, different for each seed.
func frame(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7)
	}
	return b
}

// testPackets returns n packets of varied lengths one millisecond and a
// few nanoseconds apart; micro rounds the times to microseconds.
func testPackets(n int, link uint32, micro bool) []pkt {
	base := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	out := make([]pkt, n)
	for i := range out {
		t := base.Add(time.Duration(i)*time.Millisecond + time.Duration(i*7919%1000))
		if micro {
			t = t.Truncate(time.Microsecond)
		}
		l := 14 + i*97%1500
		out[i] = pkt{data: frame(i, l), time: t, origLen: l + i%3, link: link}
	}
	return out
}

// pcapgoFile writes packets with pcapgo.Writer (little-endian).
func pcapgoFile(tb testing.TB, nanos bool, link uint32, pkts []pkt) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkType(link)); err != nil {
		tb.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.time, CaptureLength: len(p.data), Length: p.origLen}
		if err := w.WritePacket(ci, p.data); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// pcapFile builds a classic pcap file by hand, in either byte order.
func pcapFile(order binary.AppendByteOrder, nanos bool, link uint32, pkts []pkt) []byte {
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	b := order.AppendUint32(nil, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, link)
	for _, p := range pkts {
		frac := uint32(p.time.Nanosecond())
		if !nanos {
			frac /= 1000
		}
		b = order.AppendUint32(b, uint32(p.time.Unix()))
		b = order.AppendUint32(b, frac)
		b = order.AppendUint32(b, uint32(len(p.data)))
		b = order.AppendUint32(b, uint32(p.origLen))
		b = append(b, p.data...)
	}
	return b
}

// ngWriterFile writes packets with pcapgo.NgWriter (one interface).
func ngWriterFile(tb testing.TB, link uint32, pkts []pkt) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkType(link))
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.time, CaptureLength: len(p.data), Length: p.origLen}
		if err := w.WritePacket(ci, p.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// ng builds pcapng files by hand, for what NgWriter cannot write.
type ng struct {
	o binary.AppendByteOrder
	b []byte
	// ends records the offset after each block.
	ends []int
}

// opt is one pcapng option.
type opt struct {
	code uint16
	val  []byte
}

func (g *ng) options(opts []opt) []byte {
	var b []byte
	for _, o := range opts {
		b = g.o.AppendUint16(b, o.code)
		b = g.o.AppendUint16(b, uint16(len(o.val)))
		b = append(b, o.val...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return b
}

// block appends a block with a correct length and trailer.
func (g *ng) block(typ uint32, body []byte) *ng {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	g.b = g.o.AppendUint32(g.b, typ)
	g.b = g.o.AppendUint32(g.b, n)
	g.b = append(g.b, body...)
	g.b = g.o.AppendUint32(g.b, n)
	g.ends = append(g.ends, len(g.b))
	return g
}

// shb starts a section in byte order o.
func (g *ng) shb(o binary.AppendByteOrder) *ng {
	g.o = o
	body := o.AppendUint32(nil, 0x1a2b3c4d)
	body = o.AppendUint16(body, 1)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint64(body, ^uint64(0))
	body = append(body, g.options([]opt{{code: 4, val: []byte("mxwatch test")}})...)
	return g.block(blockSection, body)
}

// idb adds an interface with optional if_tsresol and if_tsoffset.
func (g *ng) idb(link uint16, snaplen uint32, opts ...opt) *ng {
	body := g.o.AppendUint16(nil, link)
	body = g.o.AppendUint16(body, 0)
	body = g.o.AppendUint32(body, snaplen)
	body = append(body, g.options(append([]opt{{code: 2, val: []byte("eth0")}}, opts...))...)
	return g.block(blockInterface, body)
}

// epb adds an enhanced packet block with a timestamp in interface units.
func (g *ng) epb(ifid uint32, ts uint64, data []byte, origLen int) *ng {
	body := g.o.AppendUint32(nil, ifid)
	body = g.o.AppendUint32(body, uint32(ts>>32))
	body = g.o.AppendUint32(body, uint32(ts))
	body = g.o.AppendUint32(body, uint32(len(data)))
	body = g.o.AppendUint32(body, uint32(origLen))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = append(body, g.options([]opt{{code: 1, val: []byte("comment")}})...)
	return g.block(blockEnhanced, body)
}

// pb adds an obsolete packet block.
func (g *ng) pb(ifid uint16, ts uint64, data []byte, origLen int) *ng {
	body := g.o.AppendUint16(nil, ifid)
	body = g.o.AppendUint16(body, 0)
	body = g.o.AppendUint32(body, uint32(ts>>32))
	body = g.o.AppendUint32(body, uint32(ts))
	body = g.o.AppendUint32(body, uint32(len(data)))
	body = g.o.AppendUint32(body, uint32(origLen))
	body = append(body, data...)
	return g.block(blockPacket, body)
}

// spb adds a simple packet block.
func (g *ng) spb(data []byte, origLen int) *ng {
	body := g.o.AppendUint32(nil, uint32(origLen))
	body = append(body, data...)
	return g.block(blockSimple, body)
}

func tsresol(v byte) opt { return opt{code: optTSResol, val: []byte{v}} }

func tsoffset(o binary.AppendByteOrder, sec int64) opt {
	return opt{code: optTSOffset, val: o.AppendUint64(nil, uint64(sec))}
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// readPkt is one packet as read, with its data copied.
type readPkt struct {
	pkt
	capLen int
	index  int64
}

// readAll reads a capture from memory until the first error, copying the
// packets. It fails the test if the reader does not stop within a bound.
func readAll(tb testing.TB, name string, b []byte, size int64) ([]readPkt, error) {
	tb.Helper()
	r, err := NewReader(name, bytes.NewReader(b), size)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []readPkt
	for i := 0; ; i++ {
		if i > 1+len(b)*1100 {
			tb.Fatalf("%s: reader does not stop", name)
		}
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		if p.CapLen != len(p.Data) {
			tb.Fatalf("packet %d: CapLen %d, len(Data) %d", p.Index, p.CapLen, len(p.Data))
		}
		out = append(out, readPkt{
			pkt:    pkt{data: bytes.Clone(p.Data), time: p.Time, origLen: p.OrigLen, link: p.LinkType},
			capLen: p.CapLen,
			index:  p.Index,
		})
	}
}

// comparePackets reports differences between what was read and wanted.
func comparePackets(t *testing.T, got []readPkt, want []pkt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d packets, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		switch {
		case g.index != int64(i+1):
			t.Errorf("packet %d: Index %d", i+1, g.index)
		case !g.time.Equal(w.time) || g.time.Location() != time.UTC:
			t.Errorf("packet %d: time %v, want %v (UTC)", i+1, g.time, w.time)
		case !bytes.Equal(g.data, w.data):
			t.Errorf("packet %d: data differs (%d bytes, want %d)", i+1, len(g.data), len(w.data))
		case g.origLen != w.origLen:
			t.Errorf("packet %d: OrigLen %d, want %d", i+1, g.origLen, w.origLen)
		case g.link != w.link:
			t.Errorf("packet %d: LinkType %d, want %d", i+1, g.link, w.link)
		}
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// isFormatError reports whether err is a *FormatError of the given kind.
func isFormatError(err error, kind error) bool {
	var fe *FormatError
	return errors.As(err, &fe) && errors.Is(err, kind)
}

// drain reads r to its end or first error.
func drain(r *Reader) (int, error) {
	for n := 0; ; n++ {
		if _, err := r.Next(); err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
	}
}
