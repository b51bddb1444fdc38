package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// allocBound is the most a reader may allocate, whatever the file claims:
// the 1 MiB read buffer, pcapgo's MaxSnapLen packet buffer, gzip state.
const allocBound = 3 << 20

// setU32 overwrites a 32-bit value in a copy of b.
func setU32(b []byte, off int, o binary.ByteOrder, v uint32) []byte {
	b = bytes.Clone(b)
	o.PutUint32(b[off:], v)
	return b
}

func setU16(b []byte, off int, o binary.ByteOrder, v uint16) []byte {
	b = bytes.Clone(b)
	o.PutUint16(b[off:], v)
	return b
}

func TestHostile(t *testing.T) {
	pkts := testPackets(2, 1, true)
	pcap := pcapgoFile(t, false, 1, pkts)
	rec2 := 24 + 16 + len(pkts[0].data) // second record

	base := func() *ng { return (&ng{}).shb(le).idb(1, 0) }
	good := base().epb(0, 1, frame(1, 30), 30)
	epbAt := good.ends[1] // offset of the enhanced packet block
	tests := []struct {
		name    string
		file    []byte
		packets int   // read before the error
		kind    error // ErrCorrupt or ErrTruncated
		header  bool  // error while opening
		offset  int64 // of the FormatError; -1 to skip the check
	}{
		{name: "pcap caplen 0xFFFFFFF0", file: setU32(pcap, 24+8, le, 0xfffffff0), kind: ErrCorrupt, offset: 24},
		{name: "pcap caplen and origlen 0xFFFFFFF0", file: setU32(setU32(pcap, rec2+8, le, 0xfffffff0), rec2+12, le, 0xfffffff0), packets: 1, kind: ErrCorrupt, offset: int64(rec2)},
		{name: "pcap caplen MaxSnapLen+1", file: setU32(setU32(pcap, 24+8, le, MaxSnapLen+1), 24+12, le, MaxSnapLen+1), kind: ErrCorrupt, offset: 24},
		{name: "pcap caplen MaxSnapLen, data missing", file: setU32(setU32(pcap, 24+8, le, MaxSnapLen), 24+12, le, MaxSnapLen), kind: ErrTruncated, offset: int64(len(pcap))},
		{name: "pcap caplen above origlen", file: setU32(pcap, 24+12, le, 1), kind: ErrCorrupt, offset: 24},
		{name: "pcap header snaplen 0xFFFFFFFF", file: setU32(pcap, 16, le, 0xffffffff), packets: 2, offset: -1},
		{name: "pcap version 3.0", file: setU32(pcap, 4, le, 3), kind: ErrCorrupt, header: true, offset: 0},

		{name: "pcapng section length 0xFFFFFFF0", file: setU32(good.b, 4, le, 0xfffffff0), kind: ErrCorrupt, header: true, offset: 0},
		{name: "pcapng section length 16 MiB, file small", file: setU32(good.b, 4, le, maxBlockLen), kind: ErrTruncated, header: true, offset: int64(len(good.b))},
		{name: "pcapng block length 0xFFFFFFF0", file: setU32(good.b, epbAt+4, le, 0xfffffff0), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng block length 16 MiB + 4", file: setU32(good.b, epbAt+4, le, maxBlockLen+4), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng block length 16 MiB, file small", file: setU32(good.b, epbAt+4, le, maxBlockLen), kind: ErrTruncated, offset: int64(len(good.b))},
		{name: "pcapng block length 8", file: setU32(good.b, epbAt+4, le, 8), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng block length not a multiple of 4", file: setU32(good.b, epbAt+4, le, 62), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng enhanced packet block too short", file: base().block(blockEnhanced, make([]byte, 16)).b, kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng trailer differs", file: setU32(good.b, len(good.b)-4, le, 64), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng skipped block trailer differs", file: func() []byte {
			g := base().block(0x0bad, make([]byte, 8))
			return setU32(g.b, len(g.b)-4, le, 16)
		}(), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng caplen 0xFFFFFFF0", file: setU32(good.b, epbAt+20, le, 0xfffffff0), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng caplen beyond the block", file: setU32(good.b, epbAt+20, le, 49), kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng caplen MaxSnapLen+4 in a block that holds it", file: base().epb(0, 1, make([]byte, MaxSnapLen+4), 10).b, kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng unknown interface", file: base().epb(1, 1, frame(1, 30), 30).b, kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng interface of an earlier section", file: func() []byte {
			g := base().epb(0, 1, frame(1, 30), 30).shb(be)
			return g.epb(0, 1, frame(1, 30), 30).b
		}(), packets: 1, kind: ErrCorrupt, offset: -1},
		{name: "pcapng simple packet block without interface", file: (&ng{}).shb(le).spb(frame(1, 8), 8).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng packet block interface 7", file: base().pb(7, 1, frame(1, 8), 8).b, kind: ErrCorrupt, offset: int64(epbAt)},
		{name: "pcapng bad byte-order magic", file: setU32(good.b, 8, le, 0x01020304), kind: ErrCorrupt, header: true, offset: 0},
		{name: "pcapng version 2.0", file: setU32(good.b, 12, le, 2), kind: ErrCorrupt, header: true, offset: 0},
		{name: "pcapng if_tsresol 10^-20", file: (&ng{}).shb(le).idb(1, 0, tsresol(20)).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng if_tsresol 2^-64", file: (&ng{}).shb(le).idb(1, 0, tsresol(0x80|64)).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng if_tsresol of 2 bytes", file: (&ng{}).shb(le).idb(1, 0, opt{code: optTSResol, val: []byte{6, 0}}).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng if_tsoffset of 4 bytes", file: (&ng{}).shb(le).idb(1, 0, opt{code: optTSOffset, val: []byte{6, 0, 0, 0}}).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng option overruns the block", file: (&ng{}).shb(le).block(blockInterface, []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 200, 0}).b, kind: ErrCorrupt, offset: -1},
		{name: "pcapng huge if_tsoffset", file: (&ng{}).shb(le).idb(1, 0, tsoffset(le, 1<<62)).epb(0, ^uint64(0), nil, 0).b, packets: 1, offset: -1},
		{name: "gzip corrupt stream", file: func() []byte {
			z := gzipped(t, bytes.Repeat(pcap, 20))
			z[len(z)/2] ^= 0xff
			z[len(z)/2+1] ^= 0x55
			return z
		}(), kind: ErrCorrupt, packets: -1, offset: -1},
		{name: "gzip checksum", file: func() []byte {
			z := gzipped(t, pcap)
			z[len(z)-8] ^= 1
			return z
		}(), kind: ErrCorrupt, packets: 2, offset: -1},
		{name: "gzip bad header flags", file: func() []byte {
			z := gzipped(t, pcap)
			z[2] = 9 // not deflate
			return z
		}(), kind: ErrCorrupt, header: true, offset: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int64{int64(len(tt.file)), -1} {
				var (
					got []readPkt
					err error
				)
				n := allocated(func() { got, err = readAll(t, "hostile.pcap", tt.file, size) })
				if n > allocBound+uint64(2*len(tt.file)) {
					t.Errorf("size %d: allocated %d bytes", size, n)
				}
				if tt.kind == nil {
					if err != io.EOF || len(got) != tt.packets {
						t.Fatalf("size %d: %d packets, %v; want %d and io.EOF", size, len(got), err, tt.packets)
					}
					continue
				}
				if size < 0 {
					t.Log(err)
				}
				var fe *FormatError
				if !errors.As(err, &fe) || !errors.Is(err, tt.kind) {
					t.Fatalf("size %d: %v after %d packets, want a %v *FormatError", size, err, len(got), tt.kind)
				}
				if tt.packets >= 0 && len(got) != tt.packets {
					t.Errorf("size %d: %d packets before the error, want %d", size, len(got), tt.packets)
				}
				if tt.header != (fe.Packet == 0) {
					t.Errorf("size %d: error %q at packet %d, header %v", size, err, fe.Packet, tt.header)
				}
				if tt.offset >= 0 && fe.Offset != tt.offset {
					t.Errorf("size %d: %q: offset %d, want %d", size, err, fe.Offset, tt.offset)
				}
			}
		})
	}
}

// TestHostileAllocs checks that a hostile length costs nothing per read:
// the reader allocates the same whatever the length claims.
func TestHostileAllocs(t *testing.T) {
	pcap := pcapgoFile(t, false, 1, testPackets(1, 1, true))
	g := (&ng{}).shb(le).idb(1, 0).epb(0, 1, frame(1, 30), 30)
	tests := []struct {
		name  string
		small []byte
		huge  []byte
	}{
		{name: "pcap caplen", small: setU32(pcap, 24+8, le, 300000), huge: setU32(pcap, 24+8, le, 0xfffffff0)},
		{name: "pcapng block length", small: setU32(g.b, g.ends[1]+4, le, 1<<20), huge: setU32(g.b, g.ends[1]+4, le, maxBlockLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var small, huge uint64
			for _, c := range []struct {
				file []byte
				n    *uint64
			}{{tt.small, &small}, {tt.huge, &huge}} {
				*c.n = allocated(func() {
					for range 10 {
						if _, err := readAll(t, "x", c.file, -1); err == io.EOF {
							t.Fatal("no error")
						}
					}
				})
			}
			if huge > small+small/2 || huge > 10*allocBound {
				t.Errorf("allocated %d bytes for a huge length, %d for a small one", huge, small)
			}
		})
	}
}
