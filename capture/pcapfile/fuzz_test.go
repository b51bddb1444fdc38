package pcapfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// FuzzReader reads arbitrary bytes as a capture file. The reader must not
// panic, must stop, must allocate no more than a fixed bound plus a
// multiple of the data actually present, and must end with io.EOF or a
// classified error.
func FuzzReader(f *testing.F) {
	pkts := testPackets(3, 1, true)
	pcap := pcapgoFile(f, false, 1, pkts)
	seeds := [][]byte{
		pcap,
		pcapFile(be, true, 101, pkts),
		ngWriterFile(f, 1, pkts),
		gzipped(f, pcap),
		setU32(pcap, 24+8, le, 0xfffffff0),
		[]byte("not a capture"),
		{0x1f, 0x8b},
		nil,
	}
	for _, h := range handBuilt() {
		seeds = append(seeds, h.file, gzipped(f, h.file))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stream := int64(len(data))
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
				stream, _ = io.Copy(io.Discard, zr)
			}
		}
		var (
			packets int64
			err     error
		)
		alloc := allocated(func() {
			var r *Reader
			r, err = NewReader("fuzz", bytes.NewReader(data), int64(len(data)))
			if err != nil {
				return
			}
			defer r.Close()
			for {
				var p Packet
				if p, err = r.Next(); err != nil {
					return
				}
				packets++
				if p.Index != packets || p.CapLen != len(p.Data) || p.CapLen > MaxSnapLen || p.OrigLen < 0 {
					t.Fatalf("packet %d: index %d, caplen %d, %d bytes, origlen %d", packets, p.Index, p.CapLen, len(p.Data), p.OrigLen)
				}
				// Every packet consumes at least 12 bytes of capture data.
				if packets*12 > stream+12 {
					t.Fatalf("%d packets from %d bytes", packets, stream)
				}
			}
		})
		if bound := uint64(allocBound + 4*stream); alloc > bound {
			t.Errorf("allocated %d bytes for %d bytes of capture data", alloc, stream)
		}
		var fe *FormatError
		switch {
		case err == io.EOF, errors.Is(err, ErrNotCapture):
		case errors.As(err, &fe):
			if fe.Kind != ErrTruncated && fe.Kind != ErrCorrupt || fe.Err == nil || fe.Offset < 0 || fe.Packet < 0 {
				t.Errorf("malformed error %#v", fe)
			}
		default:
			t.Errorf("unclassified error %v", err)
		}
	})
}
