package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/event"
)

// replayEnv asks the test binary to write the frames of a capture file to
// an interface ("FILE IFACE") and exit: the packet generator of the live
// test, run inside the test's network namespace.
const replayEnv = "MXWATCH_TEST_REPLAY"

func replayHelper(spec string) int {
	file, iface, ok := strings.Cut(spec, " ")
	if !ok {
		fmt.Fprintln(os.Stderr, "replay: want FILE IFACE")
		return 2
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		return 1
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay: socket:", err)
		return 1
	}
	defer unix.Close(fd)
	r, err := pcapfile.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		return 1
	}
	defer r.Close()
	n := 0
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		if err := unix.Sendto(fd, p.Data, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
			fmt.Fprintln(os.Stderr, "replay: send:", err)
			return 1
		}
		n++
		if n%50 == 0 {
			time.Sleep(time.Millisecond) // keep the order and the rings unhurried
		}
	}
	fmt.Fprintf(os.Stderr, "replayed %d frames\n", n)
	return 0
}

// netns creates a network namespace with a veth pair (veth0, veth1), both
// ends inside, and removes it when the test ends. Only interfaces inside
// it carry the test's traffic.
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, AF_PACKET)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "mxw-cap-" + hex.EncodeToString(b)
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "link", "set", "veth0", "up")
	run("-n", ns, "link", "set", "veth1", "up")
	return ns
}

// classesByClient reads a JSONL events file into "client class" -> count
// of findings.
func classesByClient(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		ev, err := event.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("event %s: %v", sc.Bytes(), err)
		}
		if fi, ok := ev.(*event.Finding); ok {
			out[fi.Client.Addr().String()+" "+string(fi.Class)]++
		}
	}
	return out
}

// TestCaptureLive runs `mxwatch capture` with two fanout workers on a veth
// in a network namespace while a generated capture is replayed into the
// other end: every host gets the class analyze gives it from the file,
// though DNS and SMTP flows land on different workers; it runs as nobody
// once its sockets are open; SIGTERM flushes and exits 0.
func TestCaptureLive(t *testing.T) {
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
		"--workers", "2", "--events", got, "--log-level", "debug"}, "\x1f"), "MXWATCH_METRICS_LISTEN=", "MXWATCH_LIVE_USER=nobody")
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), `msg=capturing`) {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("capture did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Root was given up before the first packet: the process runs as nobody.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t65534\t65534\t65534") || !strings.Contains(log.String(), `msg="privileges dropped"`) {
		t.Errorf("capture still runs as root:\n%s", status)
	}
	abs, _ := filepath.Abs(pcap)
	rp := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	rp.Env = append(os.Environ(), replayEnv+"="+abs+" veth0")
	if out, err := rp.CombinedOutput(); err != nil {
		t.Fatalf("replay: %v: %s", err, out)
	} else {
		t.Logf("%s", strings.TrimSpace(string(out)))
	}
	time.Sleep(500 * time.Millisecond) // the ring's block timeout and the idle flush
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), `msg="capture stopped"`) {
		t.Errorf("no stop summary in the log:\n%s", log.String())
	}
	w, g := classesByClient(t, want), classesByClient(t, got)
	if len(w) == 0 {
		t.Fatal("analyze found no findings in the capture")
	}
	for k, n := range w {
		if g[k] != n {
			t.Errorf("%s: live %d findings, analyze %d", k, g[k], n)
		}
	}
	for k, n := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: live %d findings, analyze none", k, n)
		}
	}
	t.Logf("findings by client and class: %v", g)
}

func TestCaptureConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no interface", nil, "no interface"},
		{"workers", []string{"-i", "lo", "--workers", "0"}, "live.workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := mxwatch(t, append([]string{"capture", "--config", "/dev/null"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitUsage, tc.want)
			}
		})
	}
}
