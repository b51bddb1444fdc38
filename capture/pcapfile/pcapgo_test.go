package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// errHeader: pcapgo rejects the file header.
var errHeader = errors.New("pcapgo rejects the header")

// viaPcapgo reads a classic pcap file with pcapgo's reader, set up as
// Reader sets it up, until the first error.
func viaPcapgo(tb testing.TB, file []byte) ([]readPkt, error) {
	tb.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, errHeader
	}
	r.SetSnaplen(MaxSnapLen)
	var out []readPkt
	for i := int64(1); ; i++ {
		data, ci, err := r.ZeroCopyReadPacketData()
		if err == io.EOF && !ci.Timestamp.IsZero() {
			err = io.ErrUnexpectedEOF // a record header without data
		}
		if err != nil {
			return out, err
		}
		out = append(out, readPkt{
			pkt:    pkt{data: bytes.Clone(data), time: ci.Timestamp, origLen: ci.Length, link: uint32(r.LinkType())},
			capLen: ci.CaptureLength,
			index:  i,
		})
	}
}

// matchPcapgo fails the test unless Reader, with a buffer sized for the
// file and with the smallest buffer, reads exactly the packets pcapgo
// reads and stops the same way: a clean end, a truncation, or corruption
// with pcapgo's message. Only link types are compared in their low 8 bits:
// gopacket's LinkType is a uint8, while link types such as SLL2 (276) need
// 16 (capture.TestGolden reads SLL2 scenarios through Reader).
func matchPcapgo(t *testing.T, file []byte) {
	t.Helper()
	want, wantErr := viaPcapgo(t, file)
	if wantErr == errHeader {
		// Not a classic pcap header pcapgo accepts: when it starts with
		// a classic pcap magic, Reader must refuse it too.
		if len(file) >= 4 {
			switch binary.LittleEndian.Uint32(file) {
			case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
				if r, err := NewReader("f", bytes.NewReader(file), int64(len(file))); err == nil {
					r.Close()
					t.Fatal("pcapgo rejects the header; Reader accepts it")
				}
			}
		}
		return
	}
	for _, size := range []int64{int64(len(file)), 1} {
		got, err := readAll(t, "f", file, size)
		if len(got) != len(want) {
			t.Fatalf("size %d: %d packets, pcapgo %d (errors %v / %v)", size, len(got), len(want), err, wantErr)
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.index != w.index || g.capLen != w.capLen || g.origLen != w.origLen || g.link&0xff != w.link ||
				g.time != w.time || !bytes.Equal(g.data, w.data) {
				t.Fatalf("size %d, packet %d: got %+v, pcapgo %+v", size, i+1, g, w)
			}
		}
		var fe *FormatError
		switch {
		case wantErr == io.EOF:
			if err != io.EOF {
				t.Fatalf("size %d: error %v, pcapgo ended cleanly", size, err)
			}
		case errors.Is(wantErr, io.ErrUnexpectedEOF):
			if !isFormatError(err, ErrTruncated) {
				t.Fatalf("size %d: error %v, pcapgo %v", size, err, wantErr)
			}
		case !errors.As(err, &fe) || fe.Kind != ErrCorrupt || fe.Err.Error() != wantErr.Error():
			t.Fatalf("size %d: error %v, pcapgo %v", size, err, wantErr)
		}
	}
}

func TestPcapMatchesPcapgo(t *testing.T) {
	pkts := testPackets(40, 1, true)
	// Jumbo frames are larger than the smallest read buffer.
	base := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	jumbo := append(pkts[:3:3], pkt{data: frame(7, 9000), time: base, origLen: 9000, link: 1}, pkt{data: frame(8, 5000), time: base, origLen: 65535, link: 1})
	pcap := pcapgoFile(t, false, 1, pkts)
	rec := pcapHeaderLen
	for name, file := range map[string][]byte{
		"µs":                     pcap,
		"ns":                     pcapgoFile(t, true, 1, pkts),
		"big-endian ns raw":      pcapFile(be, true, 101, pkts),
		"big-endian µs":          pcapFile(be, false, 1, pkts),
		"jumbo frames":           pcapgoFile(t, false, 1, jumbo),
		"jumbo truncated":        pcapgoFile(t, false, 1, jumbo)[:24+3*16+9100],
		"header only":            pcap[:pcapHeaderLen],
		"record header cut":      pcap[:rec+7],
		"record data cut":        pcap[:len(pcap)-3],
		"record data missing":    pcap[:rec+16],
		"caplen over snap limit": setU32(pcap, rec+8, le, MaxSnapLen+1),
		"caplen over origlen":    setU32(pcap, rec+12, le, 1),
		"µs fraction overflow":   setU32(pcap, rec+4, le, 0xfffffff0),
		"link type FCS bits":     setU32(pcap, 20, le, 1|0x10000000),
		"version 2.3":            setU16(pcap, 6, le, 3),
		"version 1.4":            setU16(pcap, 4, le, 1),
		"header cut":             pcap[:pcapHeaderLen-1],
	} {
		t.Run(name, func(t *testing.T) { matchPcapgo(t, file) })
	}
}

// FuzzPcapMatchesPcapgo: for any bytes that pcapgo accepts as a classic
// pcap header, Reader reads what pcapgo reads.
func FuzzPcapMatchesPcapgo(f *testing.F) {
	pkts := testPackets(3, 1, true)
	pcap := pcapgoFile(f, false, 1, pkts)
	for _, s := range [][]byte{pcap, pcapFile(be, true, 101, pkts), pcap[:pcapHeaderLen+20], setU32(pcap, pcapHeaderLen+8, le, 0x7fffffff)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { matchPcapgo(t, data) })
}
