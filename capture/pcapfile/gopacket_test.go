package pcapfile

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestGopacketSource: a Reader is a gopacket.ZeroCopyPacketDataSource, so
// gopacket's PacketSource reads every format this package opens, with the
// same bytes, times and lengths as Next.
func TestGopacketSource(t *testing.T) {
	pkts := testPackets(25, 1, false)
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"pcap ns", pcapgoFile(t, true, 1, pkts)},
		{"pcapng", ngWriterFile(t, 1, pkts)},
		{"gzip pcap", gzipped(t, pcapgoFile(t, false, 1, testPackets(25, 1, true)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := readAll(t, "want", tc.file, int64(len(tc.file)))
			if err != io.EOF {
				t.Fatalf("Next: %v", err)
			}
			r, err := NewReader("f", bytes.NewReader(tc.file), int64(len(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var _ gopacket.ZeroCopyPacketDataSource = r
			src := gopacket.NewPacketSource(r, layers.LinkTypeEthernet)
			src.NoCopy = true
			n := 0
			for {
				p, err := src.NextPacket()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n >= len(want) {
					t.Fatalf("more than %d packets", len(want))
				}
				w, md := want[n], p.Metadata()
				if !bytes.Equal(p.Data(), w.data) || !md.Timestamp.Equal(w.time) || md.CaptureLength != len(w.data) || md.Length != w.origLen {
					t.Fatalf("packet %d: %d bytes at %v (cap %d, len %d), want %d at %v (len %d)", n+1,
						len(p.Data()), md.Timestamp, md.CaptureLength, md.Length, len(w.data), w.time, w.origLen)
				}
				if r.LinkType() != 1 {
					t.Fatalf("packet %d: link type %d", n+1, r.LinkType())
				}
				n++
			}
			if n != len(want) {
				t.Errorf("%d packets through gopacket, %d through Next", n, len(want))
			}
		})
	}
}
