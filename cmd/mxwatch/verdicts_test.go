package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// verdictLine renders a finding compactly for the golden files.
func verdictLine(f *event.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s %s/%s", f.Client.Addr(), f.Server, f.Class, f.Confidence)
	if p := f.Pairing; p != nil {
		fmt.Fprintf(&b, " by=%s domain=%s mx=%s pref=%d via=%s", p.By, p.Domain, p.MXHost, p.MXPref, p.Via)
	}
	fmt.Fprintf(&b, " handshake=%s group=%s", f.Handshake, f.Group)
	if f.Customer != "" {
		fmt.Fprintf(&b, " customer=%s", f.Customer)
	}
	if f.Account != "" {
		fmt.Fprintf(&b, " account=%s", f.Account)
	}
	if f.Egress.IsValid() {
		fmt.Fprintf(&b, " egress=%s", f.Egress)
	}
	fmt.Fprintf(&b, " msgs=%d", f.Messages)
	if len(f.Scripts) > 0 {
		fmt.Fprintf(&b, " scripts=%q", strings.Join(f.Scripts, "|"))
	}
	if f.RelayBypass {
		b.WriteString(" relay-bypass")
	}
	for _, h := range f.Blocklist {
		fmt.Fprintf(&b, " blocklist=%s/%s", h.List, h.Reason)
	}
	fmt.Fprintf(&b, "\n    %s\n", f.Reason)
	return b.String()
}

// TestGoldenVerdicts runs analyze on every generated scenario with the
// scenarios' platform configuration and compares its findings with
// testdata/verdicts/<scenario>.txt.
func TestGoldenVerdicts(t *testing.T) {
	dir := t.TempDir()
	for _, s := range pcapgen.Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			capfile := filepath.Join(dir, s.Name+".pcap")
			f, err := os.Create(capfile)
			if err != nil {
				t.Fatal(err)
			}
			if err := pcapgen.WriteScenario(f, s); err != nil {
				t.Fatal(err)
			}
			f.Close()
			events := filepath.Join(dir, s.Name+".jsonl")
			code, _, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--format", "none", "--events", events, capfile)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			got := findingLines(t, events)
			golden := filepath.Join("testdata", "verdicts", s.Name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("verdicts differ from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func findingLines(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, f := range readFindings(t, path) {
		b.WriteString(verdictLine(&f))
	}
	return b.String()
}

// readFindings returns the valid finding events of a JSON Lines file.
func readFindings(t *testing.T, path string) []event.Finding {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event.Finding
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"kind":"finding"`) {
			continue
		}
		var fd event.Finding
		if err := json.Unmarshal(sc.Bytes(), &fd); err != nil {
			t.Fatal(err)
		}
		if err := fd.Validate(); err != nil {
			t.Errorf("invalid finding: %v", err)
		}
		out = append(out, fd)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
