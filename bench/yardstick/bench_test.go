package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// The benchmarks of this file compare mxwatch's analyze path with the
// yardstick on the same generated capture, held in memory so that disk and
// page cache play no part. Run them together and compare packets/s:
//
//	go test -run '^$' -bench . -benchtime 5x ./bench/yardstick
//
// MXWATCH_BENCH_MB sets the capture size (default 200).

var (
	mixOnce sync.Once
	mixData []byte
	mixErr  error
)

func mixCapture(b *testing.B) []byte {
	mixOnce.Do(func() {
		mb := 200
		if s := os.Getenv("MXWATCH_BENCH_MB"); s != "" {
			mb, mixErr = strconv.Atoi(s)
		}
		var buf bytes.Buffer
		opt := pcapgen.MixOptions{Size: int64(mb) << 20}
		opt.Seed = 1
		if mixErr == nil {
			_, mixErr = pcapgen.Mix(&buf, opt)
		}
		mixData = buf.Bytes()
	})
	if mixErr != nil {
		b.Fatal(mixErr)
	}
	return mixData
}

func yardstickBench(b *testing.B, parse func([]byte) uint64) {
	data := mixCapture(b)
	b.SetBytes(int64(len(data)))
	var packets uint64
	for b.Loop() {
		r, err := pcapgo.NewReader(bufio.NewReaderSize(bytes.NewReader(data), 1<<20))
		if err != nil {
			b.Fatal(err)
		}
		packets = 0
		var sum uint64
		for {
			d, _, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			packets++
			sum += parse(d)
		}
		if sum == 0 {
			b.Fatal("no 5-tuples")
		}
	}
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func BenchmarkYardstickRaw(b *testing.B) { yardstickBench(b, raw) }
func BenchmarkYardstickDLP(b *testing.B) { yardstickBench(b, newDLP()) }

// readerSource adapts a pcapfile.Reader to capture.Source.
type readerSource struct{ r *pcapfile.Reader }

func (s readerSource) Next() (capture.Frame, error) {
	p, err := s.r.Next()
	return capture.Frame{Link: p.LinkType, Data: p.Data, Time: p.Time}, err
}

// BenchmarkAnalyze is what `mxwatch analyze` does per packet: read,
// decode, filter, reassemble, parse SMTP and DNS, classify every
// connection (detect.Detector), and feed every event to the summary and
// the abuse report, with the filter on its own goroutine
// (capture.Engine.Run).
func BenchmarkAnalyze(b *testing.B) {
	data := mixCapture(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var packets uint64
	for b.Loop() {
		r, err := pcapfile.NewReader("mix", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		agg := detect.NewAggregator(detect.DefaultSummaryConfig())
		rep := detect.NewReporter(detect.DefaultReportConfig())
		det, err := detect.New(detect.DefaultConfig(), detect.Tables{})
		if err != nil {
			b.Fatal(err)
		}
		out := func(ev event.Event) { agg.Add(ev); rep.Add(ev) }
		e, err := capture.NewEngine(capture.DefaultConfig(), func(ev event.Event) { out(ev); det.Add(ev, out) })
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Run(b.Context(), readerSource{r}); err != nil {
			b.Fatal(err)
		}
		e.Close()
		det.Flush(out)
		if r := rep.Report(); r.Connections == 0 {
			b.Fatal("no findings")
		}
		st := e.Stats()
		packets = st.Packets
		if s := agg.Summary(nil); s.Sessions == 0 || s.MXLookups == 0 {
			b.Fatal("nothing found")
		}
	}
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
