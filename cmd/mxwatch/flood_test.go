package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
)

// TestCaptureFlood: the live sensor under a SYN flood to port 25 from
// tens of thousands of platform addresses, and under a DNS flood of
// random names, with its tables configured small: the peak RSS stays
// under the bound those settings give, the evictions are counted, and the
// legitimate hosts inside the flood keep their classes (10.20.1.5
// direct-to-MX after its own MX lookup, 10.20.1.10 through the relay).
//
// The sensor is the real binary, built without the race detector (whose
// shadow memory would multiply the RSS under test).
func TestCaptureFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a network namespace; skipped with -short")
	}
	netns(t) // skips unless root
	bin := filepath.Join(t.TempDir(), "mxwatch")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/mxwatch/mxwatch/cmd/mxwatch").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name    string
		count   int
		counter string // stage.name of the evictions
		maxRSS  int64  // MiB
	}{
		{"syn-flood", 60_000, "tcp.evicted", 200},
		{"dns-flood", 60_000, "dns.evicted", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := netns(t)
			dir := t.TempDir()
			pcap := filepath.Join(dir, tc.name+".pcap")
			f, err := os.Create(pcap)
			if err != nil {
				t.Fatal(err)
			}
			if err := pcapgen.WriteHostile(f, tc.name, pcapgen.HostileOptions{Seed: 1, Count: tc.count}); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			cfg, _ := filepath.Abs("testdata/platform.yaml")
			got := filepath.Join(dir, "got.jsonl")
			cmd := exec.Command("ip", "netns", "exec", ns, bin, "capture", "--config", cfg, "-i", "veth1", "--events", got)
			cmd.Env = append(os.Environ(), "MXWATCH_METRICS_LISTEN=",
				// The bounds under test: a table of 10 000 connections and
				// 5 000 pending DNS queries.
				"MXWATCH_CAPTURE_TCP_MAX_FLOWS=10000", "MXWATCH_CAPTURE_DNS_MAX_PENDING=5000",
				"MXWATCH_LIVE_NUM_BLOCKS=16")
			log := startCapture(t, cmd)
			replayInto(t, ns, pcap)
			time.Sleep(time.Second) // the ring's block timeout and the idle flush
			hwm := peakRSS(t, cmd.Process.Pid)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
			}
			t.Logf("peak RSS %d MiB (bound %d)", hwm>>10, tc.maxRSS)
			if hwm>>10 > tc.maxRSS {
				t.Errorf("peak RSS %d MiB, bound %d MiB", hwm>>10, tc.maxRSS)
			}
			stopped := log.String()
			if drops := logField(stopped, "capture stopped", "kernel_drops"); drops != 0 {
				t.Logf("kernel drops: %d (the legitimate sessions may be cut)", drops)
			}

			classes := classesByClient(t, got)
			if classes["10.20.1.5 direct-to-mx"] == 0 || classes["10.20.1.10 relay"] == 0 {
				t.Errorf("legitimate hosts lost their classes in the flood: 10.20.1.5 direct-to-mx %d, 10.20.1.10 relay %d",
					classes["10.20.1.5 direct-to-mx"], classes["10.20.1.10 relay"])
			}
			for k, n := range classes {
				if strings.HasPrefix(k, "10.20.1.5 ") && k != "10.20.1.5 direct-to-mx" || strings.HasPrefix(k, "10.20.1.10 ") && k != "10.20.1.10 relay" {
					t.Errorf("%s: %d findings", k, n)
				}
			}
			// The evictions are counted in the final counters.
			if n := logField(stopped, "final counters", tc.counter); n == 0 {
				t.Errorf("%s = 0, want evictions counted:\n%s", tc.counter, stopped)
			} else {
				t.Logf("%s = %d", tc.counter, n)
			}
		})
	}
}

// peakRSS returns the VmHWM of a process, in KiB.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
