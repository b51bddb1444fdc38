package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sys/unix"

	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/capture/pcaplive"
	"github.com/mxwatch/mxwatch/event"
)

// replayEnv asks the test binary to write the frames of a capture file to
// an interface ("FILE IFACE") and exit: the packet generator of the live
// test, run inside the test's network namespace.
const replayEnv = "MXWATCH_TEST_REPLAY"

// kfakeEnv asks the test binary to run a Kafka broker (kfake) on
// 127.0.0.1:PORT, print "ready", and, after a line on standard input,
// print "TOPIC COUNT" for every event topic and exit: the broker of the
// live test, inside the test's network namespace, where the test process
// cannot reach.
const kfakeEnv = "MXWATCH_TEST_KFAKE"

func kfakeHelper(port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake: port:", err)
		return 2
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		return 1
	}
	defer c.Close()
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "kfake: stdin:", err)
		return 1
	}
	for _, kind := range []string{"session", "message", "dns", "finding", "alert"} {
		topic := "mxwatch." + kind
		n := 0
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: c.ListenAddrs(), Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for {
			if _, err := r.ReadMessage(ctx); err != nil {
				break
			}
			n++
		}
		cancel()
		r.Close()
		fmt.Printf("%s %d\n", topic, n)
	}
	return 0
}

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

	// A Kafka broker inside the namespace, for the events capture publishes.
	port := fmt.Sprint(20000 + time.Now().UnixNano()%40000)
	broker := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	broker.Env = append(os.Environ(), kfakeEnv+"="+port)
	brokerIn, err := broker.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	brokerOut, err := broker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	broker.Stderr = os.Stderr
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = broker.Process.Kill(); _ = broker.Wait() }()
	brokerLines := bufio.NewScanner(brokerOut)
	if !brokerLines.Scan() || brokerLines.Text() != "ready" {
		t.Fatalf("kfake helper did not start: %q", brokerLines.Text())
	}
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(spool, 0o777) // the capture runs as nobody after start-up

	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"capture", "--config", cfg, "-i", "veth1",
		"--workers", "2", "--events", got, "--log-level", "debug", "--kafka", "127.0.0.1:" + port}, "\x1f"),
		"MXWATCH_METRICS_LISTEN=", "MXWATCH_LIVE_USER=nobody", "MXWATCH_KAFKA_PARTITIONS=1", "MXWATCH_KAFKA_SPOOL_DIR="+spool)
	log := startCapture(t, cmd)
	// Root was given up before the first packet: the process runs as nobody.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t65534\t65534\t65534") || !strings.Contains(log.String(), `msg="privileges dropped"`) {
		t.Errorf("capture still runs as root:\n%s", status)
	}
	abs, _ := filepath.Abs(pcap)
	replayInto(t, ns, abs)
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

	// Every event also went to Kafka: the broker holds as many messages
	// per topic as the events file has events per kind.
	kinds := map[string]int{}
	data, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		ev, err := event.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		kinds["mxwatch."+string(ev.EventKind())]++
	}
	if _, err := io.WriteString(brokerIn, "read\n"); err != nil {
		t.Fatal(err)
	}
	inKafka := map[string]int{}
	for brokerLines.Scan() {
		var topic string
		var n int
		if _, err := fmt.Sscan(brokerLines.Text(), &topic, &n); err == nil {
			inKafka[topic] = n
		}
	}
	for topic, n := range kinds {
		if inKafka[topic] != n {
			t.Errorf("%s: %d messages in Kafka, %d events in the file", topic, inKafka[topic], n)
		}
	}
	if kinds["mxwatch.finding"] == 0 {
		t.Error("no findings published")
	}
	t.Logf("in Kafka: %v", inKafka)
}

type captureErrorCase struct {
	name string
	args []string
	want string
	env  string // NAME=value
}

func TestCaptureConfigErrors(t *testing.T) {
	cases := []captureErrorCase{
		{"no interface", nil, "no interface", ""},
		{"workers", []string{"-i", "lo", "--workers", "0"}, "live.workers", ""},
		{"dnstap form", []string{"--dnstap", "udp:127.0.0.1:5"}, "live.dnstap.listen", ""},
		{"dnstap no path", []string{"--dnstap", "unix:"}, "live.dnstap.listen", ""},
		{"dnstap socket mode", []string{"--dnstap", "unix:/nonexistent/x.sock"}, "socket_mode", "MXWATCH_LIVE_DNSTAP_SOCKET_MODE=rw"},
		{"dnstap frame size", []string{"--dnstap", "unix:/nonexistent/x.sock"}, "max_frame_size", "MXWATCH_LIVE_DNSTAP_MAX_FRAME_SIZE=-1"},
		{"unknown source", []string{"-i", "lo"}, "live.source", "MXWATCH_LIVE_SOURCE=dpdk"},
		{"pcap has no fanout", []string{"-i", "lo", "--workers", "2"}, "no fanout", "MXWATCH_LIVE_SOURCE=pcap"},
	}
	if !pcaplive.Available {
		cases = append(cases, captureErrorCase{"pcap not built in", []string{"-i", "lo"}, "-tags libpcap", "MXWATCH_LIVE_SOURCE=pcap"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(k, v)
			}
			code, _, errs := mxwatch(t, append([]string{"capture", "--config", "/dev/null"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, exitUsage, tc.want)
			}
		})
	}
}

// startCapture starts cmd, a capture (the test binary in helper mode or
// a built mxwatch), kills it at the end of the test if it still runs, and
// returns its log once it says it captures.
func startCapture(t *testing.T, cmd *exec.Cmd) *syncBuffer {
	t.Helper()
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "msg=capturing") {
		if time.Now().After(deadline) {
			t.Fatalf("capture did not start:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &log
}

// replayInto writes the frames of a capture file to veth0 of network
// namespace ns, with the test binary's replay mode.
func replayInto(t *testing.T, ns, file string) {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	rp := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	rp.Env = append(os.Environ(), replayEnv+"="+abs+" veth0")
	out, err := rp.CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v: %s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
