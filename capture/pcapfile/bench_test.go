package pcapfile

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// benchPackets returns about 16 MiB of packets with a mix of sizes like
// mail and DNS traffic: many small segments, some full-size ones.
func benchPackets() []pkt {
	sizes := []int{66, 66, 54, 90, 1514, 60, 1514, 342, 66, 1514, 74, 590}
	base := time.Date(2024, 5, 17, 9, 30, 0, 0, time.UTC)
	var out []pkt
	total := 0
	for i := 0; total < 16<<20; i++ {
		n := sizes[i%len(sizes)]
		out = append(out, pkt{data: frame(i%97, n), time: base.Add(time.Duration(i) * 13 * time.Microsecond), origLen: n, link: 1})
		total += n + 16
	}
	return out
}

func benchRead(b *testing.B, file []byte, packets int) {
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		iters++
		r, err := NewReader("bench", bytes.NewReader(file), int64(len(file)))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if len(p.Data) == 0 {
				b.Fatal("empty packet")
			}
			n++
		}
		if n != packets {
			b.Fatalf("read %d packets, want %d", n, packets)
		}
		r.Close()
	}
	b.ReportMetric(float64(packets)*float64(iters)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkReadPcap(b *testing.B) {
	pkts := benchPackets()
	benchRead(b, pcapgoFile(b, false, 1, pkts), len(pkts))
}

func BenchmarkReadPcapng(b *testing.B) {
	pkts := benchPackets()
	benchRead(b, ngWriterFile(b, 1, pkts), len(pkts))
}

func BenchmarkReadPcapGzip(b *testing.B) {
	pkts := benchPackets()
	benchRead(b, gzipped(b, pcapgoFile(b, false, 1, pkts)), len(pkts))
}
