//go:build libpcap

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCaptureLibpcap runs `mxwatch capture` with live.source pcap (this
// build has libpcap) on a veth in a network namespace while the demo
// capture is replayed: every host gets the class analyze gives it.
func TestCaptureLibpcap(t *testing.T) {
	ns := netns(t)
	dir := t.TempDir()
	pcap := "../../testdata/classes.pcap"
	want := filepath.Join(dir, "want.jsonl")
	if code, _, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--format", "none", "--events", want, pcap); code != exitOK {
		t.Fatalf("analyze: %s", errs)
	}
	got := filepath.Join(dir, "got.jsonl")
	cfg, _ := filepath.Abs("testdata/platform.yaml")
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"capture", "--config", cfg, "-i", "veth1",
		"--events", got}, "\x1f"), "MXWATCH_METRICS_LISTEN=", "MXWATCH_LIVE_SOURCE=pcap", "MXWATCH_CAPTURE_TCP_HANDSHAKE_TIMEOUT=2s")
	log := startCapture(t, cmd)
	abs, _ := filepath.Abs(pcap)
	replayInto(t, ns, abs)
	w := classesByClient(t, want)
	n := 0
	for _, c := range w {
		n += c
	}
	deadline := time.Now().Add(30 * time.Second)
	for countAll(classesByClientMap(t, got)) < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
	}
	g := classesByClient(t, got)
	for k, c := range w {
		if g[k] != c {
			t.Errorf("%s: libpcap %d findings, analyze %d", k, g[k], c)
		}
	}
	for k, c := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: libpcap %d findings, analyze none", k, c)
		}
	}
	if packets := logField(log.String(), "capture stopped", "packets"); packets == 0 {
		t.Errorf("libpcap counted no packets:\n%s", log.String())
	}
	t.Logf("findings by client and class: %v", g)
}

// classesByClientMap is classesByClient for a file that may not exist yet.
func classesByClientMap(t *testing.T, file string) map[string]int {
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	return classesByClient(t, file)
}

func countAll(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
