//go:build libpcap

package pcaplive

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
	"golang.org/x/sys/unix"

	"github.com/mxwatch/mxwatch/capture"
)

// frame builds an Ethernet frame with optional VLAN tags around an IPv4
// packet of protocol proto (TCP or UDP with the given destination port,
// GRE, or a later IPv4 fragment of UDP).
func frame(t *testing.T, vlans []uint16, proto string, port uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth}
	if len(vlans) > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		for i, v := range vlans {
			next := layers.EthernetTypeDot1Q
			if i == len(vlans)-1 {
				next = layers.EthernetTypeIPv4
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: v, Type: next})
		}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IP{10, 20, 1, 5}, DstIP: net.IP{192, 0, 2, 10}}
	payload := gopacket.Payload("x")
	switch proto {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), SYN: true, Window: 1000}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip, tcp, payload)
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip, udp, payload)
	case "gre":
		ip.Protocol = layers.IPProtocolGRE
		ls = append(ls, ip, &layers.GRE{Protocol: layers.EthernetTypeIPv4}, payload)
	case "fragment":
		ip.Protocol = layers.IPProtocolUDP
		ip.FragOffset = 185
		ls = append(ls, ip, payload)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFilterInLibpcap compiles Filter's expression with libpcap and runs
// it over frames: what the engine needs is kept, the rest dropped.
func TestFilterInLibpcap(t *testing.T) {
	for _, tunnels := range []bool{false, true} {
		expr, err := Filter([]uint16{25, 465, 587}, []uint16{53}, tunnels)
		if err != nil {
			t.Fatal(err)
		}
		bpf, err := pcap.NewBPF(layers.LinkTypeEthernet, 65535, expr)
		if err != nil {
			t.Fatalf("libpcap rejects %q: %v", expr, err)
		}
		for _, tc := range []struct {
			name  string
			vlans []uint16
			proto string
			port  uint16
			keep  bool
		}{
			{"smtp", nil, "tcp", 25, true},
			{"submission behind a vlan", []uint16{120}, "tcp", 587, true},
			{"smtps behind qinq", []uint16{300, 120}, "tcp", 465, true},
			{"dns udp", nil, "udp", 53, true},
			{"dns tcp behind a vlan", []uint16{7}, "tcp", 53, true},
			{"https", nil, "tcp", 443, false},
			{"ntp behind a vlan", []uint16{7}, "udp", 123, false},
			{"later fragment", nil, "fragment", 0, true},
			{"gre", nil, "gre", 0, tunnels},
			{"vxlan", nil, "udp", 4789, tunnels},
		} {
			data := frame(t, tc.vlans, tc.proto, tc.port)
			ci := gopacket.CaptureInfo{CaptureLength: len(data), Length: len(data), Timestamp: time.Unix(0, 0)}
			if got := bpf.Matches(ci, data); got != tc.keep {
				t.Errorf("tunnels %v, %s: kept %v, want %v", tunnels, tc.name, got, tc.keep)
			}
		}
	}
}

// TestLiveLibpcap reads a veth in a network namespace of its own through
// libpcap with the filter: mail frames arrive, others do not; Stats counts;
// Close ends a waiting Next with io.EOF.
func TestLiveLibpcap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, raw sockets)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "mxw-pcap-" + hex.EncodeToString(b)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	ip("-n", ns, "link", "set", "veth0", "up")
	ip("-n", ns, "link", "set", "veth1", "up")

	// The test binary runs the body inside the namespace.
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestLiveLibpcapInNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), "MXWATCH_PCAPLIVE_NS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLiveLibpcapInNamespace") {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
}

// TestLiveLibpcapInNamespace is TestLiveLibpcap's body, run inside the
// namespace.
func TestLiveLibpcapInNamespace(t *testing.T) {
	if os.Getenv("MXWATCH_PCAPLIVE_NS") == "" {
		t.Skip("run by TestLiveLibpcap inside its namespace")
	}
	expr, err := Filter([]uint16{25}, []uint16{53}, false)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(Config{Interface: "veth1", Promiscuous: true, Filter: expr, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ifi, err := net.InterfaceByName("veth0")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(f []byte) {
		if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		send(frame(t, nil, "tcp", 443)) // filtered out in the kernel
		send(frame(t, nil, "tcp", 25))
	}
	got := 0
	deadline := time.Now().Add(5 * time.Second)
	for got < 10 && time.Now().Before(deadline) {
		f, err := src.Next()
		if errors.Is(err, capture.ErrIdle) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Link != 1 || len(f.Data) < 54 || f.Data[36] != 0 || f.Data[37] != 25 || f.Time.IsZero() {
			t.Fatalf("frame %d: link %d, %d bytes, dst port %d", got, f.Link, len(f.Data), int(f.Data[36])<<8|int(f.Data[37]))
		}
		got++
	}
	if got != 10 {
		t.Fatalf("%d mail frames, want 10", got)
	}
	st, err := src.Stats()
	if err != nil || st.Packets < 10 {
		t.Errorf("Stats %+v, %v: want at least the 10 kept", st, err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := src.Next(); !errors.Is(err, capture.ErrIdle) {
				done <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Next after Close: %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waits after Close")
	}
	if st2, _ := src.Stats(); st2.Packets < st.Packets {
		t.Errorf("Stats after Close %+v, before %+v", st2, st)
	}
}
