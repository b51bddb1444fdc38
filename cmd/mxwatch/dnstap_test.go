package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/capture/pcapgen"
	"github.com/mxwatch/mxwatch/event"
)

// digEnv asks the test binary to send one DNS query ("LOCALADDR SERVER
// NAME TYPE") and print the answer's records, one per line: the hosting
// server of the dnstap test, run inside the test's network namespace.
const digEnv = "MXWATCH_TEST_DIG"

func digHelper(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 4 {
		fmt.Fprintln(os.Stderr, "dig: want LOCALADDR SERVER NAME TYPE")
		return 2
	}
	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(f[0])}, Timeout: 2 * time.Second}
	c, err := d.Dial("udp", f[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dig:", err)
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(f[2]), mdns.StringToType[f[3]])
	co := &mdns.Conn{Conn: c}
	if err := co.WriteMsg(q); err != nil {
		fmt.Fprintln(os.Stderr, "dig:", err)
		return 1
	}
	r, err := co.ReadMsg()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dig:", err)
		return 1
	}
	for _, rr := range r.Answer {
		fmt.Println(rr.String())
	}
	return 0
}

// TestCaptureDNSTap: a hosting server (10.20.1.5) asks the platform's
// resolver, Debian's unbound, for the MX of a domain; that lookup never
// crosses the mirror, but unbound reports it over dnstap to `mxwatch
// capture --dnstap`. The server then connects to the MX on port 25,
// which the mirror (a veth) shows: the connection is direct-to-MX,
// paired with the dnstap lookup. From the capture alone (analyze), the
// same connection is only direct-25.
func TestCaptureDNSTap(t *testing.T) {
	unbound := unboundWithDNSTap(t)
	ns := netns(t)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// The hosting server and the resolver are addresses of the namespace:
	// their DNS traffic stays on its loopback, away from the veth mirror.
	run("-n", ns, "addr", "add", "10.20.1.5/32", "dev", "lo")
	run("-n", ns, "addr", "add", "10.20.0.53/32", "dev", "lo")

	var buf bytes.Buffer
	sc, _ := pcapgen.Lookup("class-direct-25")
	if err := pcapgen.WriteScenario(&buf, sc); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "direct-25.pcap")
	if err := os.WriteFile(pcap, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := filepath.Abs("testdata/platform.yaml")
	want := filepath.Join(dir, "want.jsonl")
	if code, _, errs := mxwatch(t, "analyze", "--config", cfg, "--format", "none", "--events", want, pcap); code != exitOK {
		t.Fatalf("analyze: %s", errs)
	}
	if w := classesByClient(t, want); w["10.20.1.5 direct-25"] != 2 {
		t.Fatalf("analyze of the capture alone: %v, want 2 direct-25", w)
	}

	sock := filepath.Join(dir, "dnstap.sock")
	got := filepath.Join(dir, "got.jsonl")
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0])
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"capture", "--config", cfg, "-i", "veth1",
		"--dnstap", "unix:" + sock, "--events", got, "--sensor", "lab"}, "\x1f"),
		"MXWATCH_METRICS_LISTEN=", "MXWATCH_CAPTURE_TCP_HANDSHAKE_TIMEOUT=2s")
	log := startCapture(t, cmd)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				t.Fatalf("no %s:\n%s", what, log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("capture start", func() bool { return strings.Contains(log.String(), "msg=capturing") })

	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`server:
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  do-daemonize: no
  interface: 10.20.0.53
  port: 53
  do-ip6: no
  access-control: 10.0.0.0/8 allow
  module-config: "iterator"
  num-threads: 1
  local-zone: "unknown-target.example." static
  local-data: "unknown-target.example. 300 IN MX 10 smtp.unknown-target.example."
  local-data: "smtp.unknown-target.example. 300 IN A 203.0.113.99"
dnstap:
  dnstap-enable: yes
  dnstap-socket-path: %q
  dnstap-send-identity: yes
  dnstap-identity: "resolver1"
  dnstap-log-client-query-messages: yes
  dnstap-log-client-response-messages: yes
`, dir, sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	ub := exec.Command("ip", "netns", "exec", ns, unbound, "-d", "-c", conf)
	defer startUnbound(t, ub)()

	dig := func(name, typ string) string {
		t.Helper()
		var out []byte
		var err error
		for range 50 { // unbound needs a moment to bind
			q := exec.Command("ip", "netns", "exec", ns, os.Args[0])
			q.Env = append(os.Environ(), digEnv+"=10.20.1.5 10.20.0.53:53 "+name+" "+typ)
			if out, err = q.CombinedOutput(); err == nil {
				return string(out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("query %s %s: %v: %s", name, typ, err, out)
		return ""
	}
	if ans := dig("unknown-target.example", "MX"); !strings.Contains(ans, "smtp.unknown-target.example.") {
		t.Fatalf("MX answer: %q", ans)
	}
	if ans := dig("smtp.unknown-target.example", "A"); !strings.Contains(ans, "203.0.113.99") {
		t.Fatalf("A answer: %q", ans)
	}
	dnsEvents := func() []*event.DNS {
		var out []*event.DNS
		for _, ev := range readEvents(t, got) {
			if d, ok := ev.(*event.DNS); ok {
				out = append(out, d)
			}
		}
		return out
	}
	waitFor("dns events from dnstap", func() bool { return len(dnsEvents()) >= 2 })
	time.Sleep(100 * time.Millisecond) // the lookup strictly before the connect

	abs, _ := filepath.Abs(pcap)
	replayInto(t, ns, abs)
	waitFor("findings", func() bool { return len(classesByClient(t, got)) >= 2 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
	}

	for _, d := range dnsEvents() {
		if d.Client.Addr().String() != "10.20.1.5" || d.Server.String() != "10.20.0.53:53" || !d.Matched || d.Sensor != "lab" {
			t.Errorf("dns event %s %s: client %v server %v matched %v sensor %q", d.QName, d.QType, d.Client, d.Server, d.Matched, d.Sensor)
		}
	}
	var pairedMX bool
	for _, ev := range readEvents(t, got) {
		f, ok := ev.(*event.Finding)
		if !ok {
			continue
		}
		switch f.Server.Addr().String() {
		case "203.0.113.99":
			if f.Class != event.ClassDirectToMX || f.Pairing == nil || f.Pairing.Domain != "unknown-target.example" || f.Pairing.By != "self" {
				t.Errorf("connect to the MX: class %s, pairing %+v; want direct-to-mx paired with unknown-target.example (%s)", f.Class, f.Pairing, f.Reason)
			} else {
				pairedMX = true
			}
		case "198.51.100.99":
			if f.Class != event.ClassDirect25 {
				t.Errorf("connect to 198.51.100.99: class %s, want direct-25", f.Class)
			}
		}
	}
	if !pairedMX {
		t.Errorf("no finding for the connect to the MX:\n%s", log.String())
	}
	t.Logf("classes with dnstap: %v", classesByClient(t, got))
}

// readEvents decodes a JSON Lines events file.
func readEvents(t *testing.T, file string) []event.Event {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Event
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := event.Decode(line)
		if err != nil {
			// the last line may be partly flushed
			continue
		}
		out = append(out, ev)
	}
	return out
}

// TestCaptureDNSTapOnly: capture without an interface records the
// lookups a resolver reports over dnstap (no privileges needed), and
// stops cleanly on SIGTERM with the resolver still connected.
func TestCaptureDNSTapOnly(t *testing.T) {
	unbound := unboundWithDNSTap(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "tap.sock")
	got := filepath.Join(dir, "got.jsonl")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+strings.Join([]string{"capture", "--config", os.DevNull,
		"--dnstap", "unix:" + sock, "--events", got}, "\x1f"), "MXWATCH_METRICS_LISTEN=127.0.0.1:0", "MXWATCH_LIVE_DNSTAP_SOCKET_MODE=0600")
	log := startCapture(t, cmd)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, mode %v; want 0600", sock, err, fi)
	}

	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`server:
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  do-daemonize: no
  interface: 127.0.0.1
  port: %d
  do-ip6: no
  do-tcp: no
  module-config: "iterator"
  num-threads: 1
  local-zone: "dest.example." static
  local-data: "dest.example. 300 IN MX 10 mx.dest.example."
dnstap:
  dnstap-enable: yes
  dnstap-socket-path: %q
  dnstap-log-client-query-messages: yes
  dnstap-log-client-response-messages: yes
`, dir, port, sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	ub := exec.Command(unbound, "-d", "-c", conf)
	defer startUnbound(t, ub)()
	var answered bool
	for range 50 {
		q := exec.Command(os.Args[0])
		q.Env = append(os.Environ(), fmt.Sprintf("%s=127.0.0.1 127.0.0.1:%d dest.example MX", digEnv, port))
		if out, err := q.CombinedOutput(); err == nil && strings.Contains(string(out), "mx.dest.example.") {
			answered = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !answered {
		t.Fatal("unbound did not answer")
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(readEvents(t, got)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no event from dnstap:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The sensor's metrics: the dnstap counters and the processing lag
	// (wall clock minus the lookup's time when the detector took it:
	// seconds at most here).
	m := regexp.MustCompile(`msg="serving metrics" component=telemetry addr=(\S+)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", log.String())
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mxwatch_stage_events_total{drop="false",name="client_responses",stage="dnstap"} 1`,
		`mxwatch_stage_events_total{drop="false",name="client_queries",stage="dnstap"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	lag := regexp.MustCompile(`(?m)^mxwatch_live_processing_lag_seconds (\S+)$`).FindStringSubmatch(string(body))
	if lag == nil {
		t.Errorf("no processing lag gauge")
	} else if v, err := strconv.ParseFloat(lag[1], 64); err != nil || v <= 0 || v > 60 {
		t.Errorf("processing lag %q, want a few seconds at most", lag[1])
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, log.String())
	}
	evs := readEvents(t, got)
	d, ok := evs[0].(*event.DNS)
	if len(evs) != 1 || !ok || d.QName != "dest.example" || d.QType != "MX" || len(d.Answers) != 1 || d.Answers[0].Host != "mx.dest.example" {
		t.Fatalf("events %+v, want the one MX answer", evs)
	}
}

// unboundWithDNSTap returns the unbound binary, or skips the test when
// there is none built with dnstap.
func unboundWithDNSTap(t *testing.T) string {
	t.Helper()
	unbound, err := exec.LookPath("unbound")
	if err != nil {
		unbound = "/usr/sbin/unbound"
		if _, err := os.Stat(unbound); err != nil {
			t.Skip("needs unbound built with dnstap (Debian: apt-get install unbound)")
		}
	}
	if out, _ := exec.Command(unbound, "-V").CombinedOutput(); !bytes.Contains(out, []byte("dnstap")) {
		t.Skip("unbound was built without dnstap")
	}
	return unbound
}

// startUnbound starts ub and returns what stops it: SIGTERM, wait, and
// unbound's output in the log when the test failed.
func startUnbound(t *testing.T, ub *exec.Cmd) (stop func()) {
	t.Helper()
	var out syncBuffer
	ub.Stdout, ub.Stderr = &out, &out
	if err := ub.Start(); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = ub.Process.Signal(syscall.SIGTERM)
		_ = ub.Wait()
		if t.Failed() {
			t.Logf("unbound:\n%s", out.String())
		}
	}
}
