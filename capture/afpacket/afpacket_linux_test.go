//go:build linux

package afpacket

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/mxwatch/mxwatch/capture"
)

// The lab: one network namespace made by the test with a veth pair
// veth0 (capture side) <-> veth1 (sender side), both inside it.
const (
	captureIf = "veth0"
	senderIf  = "veth1"
	// guard bounds how long a test waits for frames before it gives up and
	// fails; no assertion depends on it.
	guard = 20 * time.Second
)

// netns creates a network namespace with the veth pair, removed when the
// test ends, and returns its name. It skips the test unless it runs as
// root with ip(8).
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN) to create network namespaces and capture")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: needs ip(8) from iproute2 to create network namespaces")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "mxw-afp-" + hex.EncodeToString(rnd[:])
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	ip("-n", name, "link", "add", captureIf, "address", "02:00:00:00:00:01", "type", "veth",
		"peer", "name", senderIf, "address", "02:00:00:00:00:02")
	for _, dev := range []string{"lo", captureIf, senderIf} {
		if dev != "lo" {
			ip("-n", name, "link", "set", dev, "addrgenmode", "none") // no IPv6 link-local chatter
		}
		ip("-n", name, "link", "set", dev, "up")
	}
	return name
}

// inNetns runs fn on an OS thread that has entered the namespace. Sockets
// fn opens stay in the namespace. The thread is never unlocked, so it ends
// with its goroutine instead of going back to the runtime's pool.
func inNetns(t *testing.T, name string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + name)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// openIn opens a Source in the namespace and closes it when the test ends.
func openIn(t *testing.T, ns string, cfg Config) *Source {
	t.Helper()
	var src *Source
	inNetns(t, ns, func() (err error) {
		src, err = Open(cfg)
		return err
	})
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// sender sends raw frames out of veth1.
type sender struct {
	fd      int
	ifindex int
}

func newSender(t *testing.T, ns string) *sender {
	t.Helper()
	s := &sender{fd: -1}
	inNetns(t, ns, func() error {
		ifi, err := net.InterfaceByName(senderIf)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("sender socket: %w", err)
		}
		s.fd, s.ifindex = fd, ifi.Index
		return nil
	})
	t.Cleanup(func() { _ = unix.Close(s.fd) })
	return s
}

func (s *sender) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	for i, f := range frames {
		sa := unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6}
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(s.fd, f, 0, &sa); err != nil {
			t.Fatalf("send frame %d: %v", i, err)
		}
	}
}

// readN reads frames until it has n of them or the guard closes src;
// it returns copies.
func readN(t *testing.T, src *Source, n int) []capture.Frame {
	t.Helper()
	stop := time.AfterFunc(guard, func() { _ = src.Close() })
	defer stop.Stop()
	var got []capture.Frame
	for len(got) < n {
		f, err := src.Next()
		if err != nil {
			t.Fatalf("after %d of %d frames: Next: %v", len(got), n, err)
		}
		f.Data = bytes.Clone(f.Data)
		got = append(got, f)
	}
	return got
}

func mailFilter(t *testing.T) Config {
	t.Helper()
	filter, err := MailDNSFilter([]uint16{25, 465, 587}, []uint16{53}, false)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Interface: captureIf, Filter: filter, BlockTimeout: 5 * time.Millisecond, NumBlocks: 4}
}

func TestCaptureInNamespace(t *testing.T) {
	ns := netns(t)
	began := time.Now()
	cfg := mailFilter(t)
	cfg.Promiscuous = true
	src := openIn(t, ns, cfg)
	tx := newSender(t, ns)

	tagged := func(f []byte, tpid uint16, tci uint16) []byte { // f with a VLAN tag after the MAC addresses
		out := append([]byte(nil), f[:12]...)
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = binary.BigEndian.AppendUint16(out, tci)
		return append(out, f[12:]...)
	}
	var sent, want [][]byte
	for i := range 10 {
		sent = append(sent, tcp4(t, uint16(40000+i), 25))
	}
	for i := range 5 {
		sent = append(sent, udp4(t, uint16(41000+i), 53, []byte{byte(i), 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}))
	}
	for i := range 5 {
		sent = append(sent, tcp4(t, uint16(42000+i), 443))
	}
	sent = append(sent,
		tagged(tcp4(t, 43000, 25), uint16(layers.EthernetTypeDot1Q), 0x2064),
		tagged(tcp4(t, 43001, 587), uint16(layers.EthernetTypeQinQ), 0x0c8),
		tagged(tcp4(t, 43002, 443), uint16(layers.EthernetTypeDot1Q), 0x0064),
	)
	for _, f := range sent {
		if !isPort443(f) {
			want = append(want, f)
		}
	}
	tx.send(t, sent...)
	got := readN(t, src, len(want))
	sentAt := time.Now()
	for i, f := range got {
		if f.Link != 1 {
			t.Errorf("frame %d: Link %d, want 1", i, f.Link)
		}
		if !bytes.Equal(f.Data, want[i]) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, f.Data, want[i])
		}
		if f.Time.Before(began.Add(-time.Second)) || f.Time.After(sentAt.Add(time.Second)) {
			t.Errorf("frame %d: time %v outside [%v, %v]", i, f.Time, began, sentAt)
		}
		if isPort443(f.Data) {
			t.Errorf("frame %d: port 443 passed the filter", i)
		}
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Packets != uint64(len(want)) || st.Drops != 0 || st.BadFrames != 0 {
		t.Errorf("Stats = %+v, want %d packets, no drops", st, len(want))
	}
	t.Logf("sent %d frames, %d passed the filter, received %d; stats %+v", len(sent), len(want), len(got), st)

	// Close wakes a Next blocked in poll.
	res := make(chan error, 1)
	go func() {
		_, err := src.Next()
		res <- err
	}()
	time.Sleep(300 * time.Millisecond) // let Next reach poll; nothing is asserted on time
	closing := time.Now()
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("blocked Next after Close = %v, want io.EOF", err)
		}
		t.Logf("Close unblocked Next after %v", time.Since(closing))
	case <-time.After(guard):
		t.Fatal("Close did not unblock Next")
	}
	if _, err := src.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after Close = %v, want io.EOF", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if st2, err := src.Stats(); err != nil || st2.Packets != st.Packets {
		t.Errorf("Stats after Close = %+v, %v; want the totals %+v", st2, err, st)
	}
	t.Logf("integration test took %v", time.Since(began))
}

// isPort443 says whether an IPv4 TCP frame (with at most one tag) is to
// or from port 443.
func isPort443(f []byte) bool {
	off := 14
	if et := binary.BigEndian.Uint16(f[12:]); et == 0x8100 || et == 0x88a8 {
		off = 18
	}
	if len(f) < off+24 || f[off+9] != 6 {
		return false
	}
	l4 := off + int(f[off]&0xf)*4
	return binary.BigEndian.Uint16(f[l4:]) == 443 || binary.BigEndian.Uint16(f[l4+2:]) == 443
}

func TestOpenErrors(t *testing.T) {
	ns := netns(t)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no such interface", cfg: Config{Interface: "mxw-nosuch0"}, want: "mxw-nosuch0: interface index"},
		{name: "fanout group mode clash", cfg: Config{Interface: captureIf, Fanout: &Fanout{Group: 77, Mode: FanoutLB}},
			want: "veth0: join fanout group 77 (lb)"},
	}
	openIn(t, ns, Config{Interface: captureIf, Fanout: &Fanout{Group: 77, Mode: FanoutHash}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inNetns(t, ns, func() error {
				src, err := Open(tc.cfg)
				if err == nil {
					_ = src.Close()
					return fmt.Errorf("Open(%+v) succeeded", tc.cfg)
				}
				if !strings.Contains(err.Error(), tc.want) {
					return fmt.Errorf("Open error %q does not contain %q", err, tc.want)
				}
				return nil
			})
		})
	}
}

func TestCaptureFanout(t *testing.T) {
	ns := netns(t)
	const flows, perFlow = 20, 5
	cfg := mailFilter(t)
	var rnd [2]byte
	_, _ = rand.Read(rnd[:])
	cfg.Fanout = &Fanout{Group: binary.BigEndian.Uint16(rnd[:]), Mode: FanoutHash}
	srcs := []*Source{openIn(t, ns, cfg), openIn(t, ns, cfg)}
	tx := newSender(t, ns)

	var total atomic.Int64
	all := make(chan struct{})
	perSource := make([]map[uint16]int, len(srcs)) // source port -> frames
	var wg sync.WaitGroup
	for i, src := range srcs {
		perSource[i] = map[uint16]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := src.Next()
				if err != nil {
					return
				}
				perSource[i][binary.BigEndian.Uint16(f.Data[14+20:])]++
				if total.Add(1) == flows*perFlow {
					close(all)
				}
			}
		}()
	}
	for range perFlow {
		for flow := range flows {
			tx.send(t, tcp4(t, uint16(50000+flow), 25))
		}
	}
	select {
	case <-all:
	case <-time.After(guard):
		t.Errorf("received %d of %d frames", total.Load(), flows*perFlow)
	}
	var stats [2]Stats
	for i, src := range srcs {
		_ = src.Close()
		stats[i], _ = src.Stats()
	}
	wg.Wait()
	for flow := range flows {
		port := uint16(50000 + flow)
		a, b := perSource[0][port], perSource[1][port]
		if a+b != perFlow || (a != 0 && b != 0) {
			t.Errorf("flow %d: %d frames on source 0, %d on source 1; want all %d on one", flow, a, b, perFlow)
		}
	}
	if len(perSource[0]) == 0 || len(perSource[1]) == 0 {
		t.Errorf("flows per source: %d and %d; want both to get some", len(perSource[0]), len(perSource[1]))
	}
	if got := stats[0].Packets + stats[1].Packets; got != flows*perFlow {
		t.Errorf("Stats.Packets summed = %d, want %d", got, flows*perFlow)
	}
	t.Logf("sent %d frames of %d flows: source 0 got %d flows (%+v), source 1 got %d flows (%+v)",
		flows*perFlow, flows, len(perSource[0]), stats[0], len(perSource[1]), stats[1])
}

func TestCaptureDrops(t *testing.T) {
	ns := netns(t)
	const burst = 5000
	cfg := mailFilter(t)
	cfg.BlockSize, cfg.NumBlocks = os.Getpagesize(), 2
	src := openIn(t, ns, cfg)
	tx := newSender(t, ns)
	frame := tcp4(t, 40000, 25)
	for range burst {
		tx.send(t, frame)
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Drops == 0 && st.FreezeQueue == 0 {
		t.Errorf("Stats = %+v after a burst of %d frames into a 2-block ring; want drops", st, burst)
	}
	if st.Packets > burst {
		t.Errorf("Stats.Packets = %d, more than the %d sent", st.Packets, burst)
	}
	// What the ring holds is still readable, byte for byte.
	for _, f := range readN(t, src, 2) {
		if !bytes.Equal(f.Data, frame) {
			t.Errorf("frame after drops:\n got %x\nwant %x", f.Data, frame)
		}
	}
	t.Logf("burst of %d frames: stats %+v", burst, st)
}

func TestOpErrorPermission(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantHint bool
	}{
		{name: "eperm", err: unix.EPERM, wantHint: true},
		{name: "eacces", err: unix.EACCES, wantHint: true},
		{name: "enodev", err: unix.ENODEV, wantHint: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := opError("eth0", "socket", tc.err)
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), "eth0: socket") {
				t.Errorf("%q does not name the interface and step", err)
			}
			if got := strings.Contains(err.Error(), "CAP_NET_RAW"); got != tc.wantHint {
				t.Errorf("%q: capability hint %v, want %v", err, got, tc.wantHint)
			}
		})
	}
}

// TestCaptureRingWraps reads frame by frame from a ring of two one-page
// blocks, so that blocks are released and reused many times.
func TestCaptureRingWraps(t *testing.T) {
	ns := netns(t)
	const rounds, perRound = 50, 3
	cfg := mailFilter(t)
	cfg.BlockSize, cfg.NumBlocks = os.Getpagesize(), 2
	src := openIn(t, ns, cfg)
	tx := newSender(t, ns)
	for r := range rounds {
		var want [][]byte
		for i := range perRound {
			want = append(want, tcp4(t, uint16(40000+r), uint16([]int{25, 465, 587}[i])))
		}
		tx.send(t, want...)
		for i, f := range readN(t, src, perRound) {
			if !bytes.Equal(f.Data, want[i]) {
				t.Fatalf("round %d frame %d:\n got %x\nwant %x", r, i, f.Data, want[i])
			}
		}
	}
	st, err := src.Stats()
	if err != nil || st.Packets != rounds*perRound || st.Drops != 0 {
		t.Errorf("Stats = %+v, %v; want %d packets, no drops", st, err, rounds*perRound)
	}
	t.Logf("%d rounds of %d frames through a 2-block ring: stats %+v", rounds, perRound, st)
}
