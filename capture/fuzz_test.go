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

// FuzzEngine feeds whole capture files through the engine: the decoder,
// defragmentation, TCP reassembly, the SMTP parser and the DNS tracker.
// The seed corpus is every scenario of the generator. Whatever the bytes,
// the engine must not panic, every event must validate, and the counters
// must add up.
func FuzzEngine(f *testing.F) {
	for _, s := range pcapgen.Scenarios() {
		if s.Options.Gzip {
			continue // the fuzzer mutates bytes; compressed seeds teach it little
		}
		var buf bytes.Buffer
		if err := pcapgen.WriteScenario(&buf, s); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pcapfile.NewReader("fuzz", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		cfg := capture.DefaultConfig()
		cfg.TCP.MaxFlows = 64
		e, err := capture.NewEngine(cfg, func(ev event.Event) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid event: %v", err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := r.Next()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			e.Packet(p.LinkType, p.Data, p.Time)
		}
		e.Close()
		st := e.Stats()
		var verdicts uint64
		for v := capture.Keep; v <= capture.DropTooDeep; v++ {
			if v != capture.Keep && v != capture.Fragment {
				verdicts += st.Verdict(v).Packets
			}
		}
		if kept := st.Verdict(capture.Keep).Packets + st.Verdict(capture.Fragment).Packets; verdicts+kept < st.Packets {
			t.Fatalf("%d packets, only %d counted under a verdict", st.Packets, verdicts+kept)
		}
		if st.TCP.Active != 0 || st.TCP.BufferedBytes != 0 {
			t.Fatalf("after Close: %d flows, %d buffered bytes", st.TCP.Active, st.TCP.BufferedBytes)
		}
	})
}
