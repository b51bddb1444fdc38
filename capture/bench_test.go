package capture_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

// BenchmarkEngineMix runs the whole capture path (read, decode, filter,
// reassemble, parse) over a generated 32 MB mirror-port mix held in
// memory, so that the numbers do not depend on the disk. bench/run.sh
// measures the mxwatch binary on files of 200 MB and 1 GB.
func BenchmarkEngineMix(b *testing.B) {
	var buf bytes.Buffer
	opt := pcapgen.MixOptions{Size: 32 << 20}
	opt.Seed = 1
	if _, err := pcapgen.Mix(&buf, opt); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var packets uint64
	for b.Loop() {
		r, err := pcapfile.NewReader("mix", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		var events int
		e, err := capture.NewEngine(capture.DefaultConfig(), func(event.Event) { events++ })
		if err != nil {
			b.Fatal(err)
		}
		for {
			p, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			e.Packet(p.LinkType, p.Data, p.Time)
		}
		e.Close()
		packets = e.Stats().Packets
		if events == 0 {
			b.Fatal("no events")
		}
	}
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
