package capture_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// runScenario generates a scenario in memory and runs the engine over it.
func runScenario(t *testing.T, s pcapgen.Scenario) ([]event.Event, capture.Stats) {
	t.Helper()
	var buf bytes.Buffer
	if err := pcapgen.WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	return runCapture(t, s.Name, buf.Bytes())
}

func runCapture(t *testing.T, name string, data []byte) ([]event.Event, capture.Stats) {
	t.Helper()
	r, err := pcapfile.NewReader(name, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := capture.DefaultConfig()
	cfg.Sensor = "golden"
	return runEngine(t, r, cfg)
}

// runEngine feeds every packet of r to an engine with cfg and returns the
// events, each of which must validate, and the final counters.
func runEngine(t *testing.T, r *pcapfile.Reader, cfg capture.Config) ([]event.Event, capture.Stats) {
	t.Helper()
	var evs []event.Event
	e, err := capture.NewEngine(cfg, func(ev event.Event) {
		if err := ev.Validate(); err != nil {
			t.Errorf("invalid event: %v", err)
		}
		evs = append(evs, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		pkt, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		e.Packet(pkt.LinkType, pkt.Data, pkt.Time)
	}
	e.Close()
	return evs, e.Stats()
}

func jsonl(t *testing.T, evs []event.Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, ev := range evs {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestGolden runs every generated scenario and compares the events with
// testdata/golden/<scenario>.jsonl (go test -run TestGolden -update
// rewrites them; review the diff before committing). The checks in
// scenarioChecks make sure the golden files say what the scenarios are
// about, so that -update cannot bless a wrong answer silently.
func TestGolden(t *testing.T) {
	for _, s := range pcapgen.Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			evs, st := runScenario(t, s)
			got := jsonl(t, evs)
			path := filepath.Join("testdata", "golden", s.Name+".jsonl")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (run with -update and review the diff):\n%s", path, firstDiff(want, got))
			}
			if check, ok := scenarioChecks[s.Name]; ok {
				check(t, split(evs), st)
			} else {
				t.Errorf("no checks for scenario %s", s.Name)
			}
		})
	}
}

func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := range max(len(wl), len(gl)) {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + itoa(i+1) + ":\nwant " + string(w) + "\ngot  " + string(g)
		}
	}
	return ""
}

func itoa(i int) string { return string(jsonInt(i)) }

func jsonInt(i int) []byte { b, _ := json.Marshal(i); return b }

// events split by kind.
type events struct {
	sessions []*event.Session
	messages []*event.Message
	dns      []*event.DNS
}

func split(evs []event.Event) events {
	var e events
	for _, ev := range evs {
		switch ev := ev.(type) {
		case *event.Session:
			e.sessions = append(e.sessions, ev)
		case *event.Message:
			e.messages = append(e.messages, ev)
		case *event.DNS:
			e.dns = append(e.dns, ev)
		}
	}
	return e
}

// TestDemoCapture keeps the README's demo capture reproducible: it must be
// exactly what `mxgen -scenario direct-to-mx` writes.
func TestDemoCapture(t *testing.T) {
	s, ok := pcapgen.Lookup("direct-to-mx")
	if !ok {
		t.Fatal("no direct-to-mx scenario")
	}
	var buf bytes.Buffer
	if err := pcapgen.WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "testdata", "direct-to-mx.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), committed) {
		t.Error("testdata/direct-to-mx.pcap differs from the generator's output: go run ./cmd/mxgen -scenario direct-to-mx -o testdata/direct-to-mx.pcap")
	}
}
