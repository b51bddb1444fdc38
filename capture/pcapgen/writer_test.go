package pcapgen

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/miekg/dns"
)

var (
	cli  = netip.MustParseAddrPort("10.20.9.9:40000")
	srv  = netip.MustParseAddrPort("192.0.2.25:25")
	cli6 = netip.MustParseAddrPort("[2001:db8:14:9::9]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8:ff::25]:25")
)

// capture runs build on a fresh recording writer and returns the packets.
func capture(t *testing.T, opt Options, build func(w *Writer)) ([]record, *Writer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(&buf, opt)
	if err != nil {
		t.Fatal(err)
	}
	w.record = true
	build(w)
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := int64(buf.Len()); !opt.Gzip && got != w.Bytes() {
		t.Errorf("Bytes() = %d, file has %d", w.Bytes(), got)
	}
	return readCapture(t, buf.Bytes(), opt), w
}

type seg struct {
	fromClient bool
	seq        uint32 // relative to the side's first data byte
	n          int
}

// dataSegments lists the data segments of recs relative to each side's ISN.
func dataSegments(recs []record, client netip.AddrPort) []seg {
	var out []seg
	var base [2]uint32
	var have [2]bool
	for _, r := range recs {
		info := innerL4(r.p)
		if info.tcp == nil {
			continue
		}
		side := 1
		if info.key().src == client {
			side = 0
		}
		if info.tcp.SYN {
			base[side], have[side] = info.tcp.Seq+1, true
		}
		if pl := tcpPayload(info.tcp); len(pl) > 0 {
			if !have[side] {
				base[side], have[side] = info.tcp.Seq, true
			}
			out = append(out, seg{side == 0, info.tcp.Seq - base[side], len(pl)})
		}
	}
	return out
}

func TestConnImpairments(t *testing.T) {
	body := strings.Repeat("x", 1000) // 4 segments of 300, one of 100 with MSS 300
	tests := []struct {
		name string
		imp  Impairments
		want []seg
	}{
		{name: "none", want: []seg{{true, 0, 300}, {true, 300, 300}, {true, 600, 300}, {true, 900, 100}}},
		{name: "reorder", imp: Impairments{Reorder: []int{1}}, want: []seg{{true, 0, 300}, {true, 600, 300}, {true, 300, 300}, {true, 900, 100}}},
		{name: "reorder last is no-op", imp: Impairments{Reorder: []int{3}}, want: []seg{{true, 0, 300}, {true, 300, 300}, {true, 600, 300}, {true, 900, 100}}},
		{name: "retransmit", imp: Impairments{Retransmit: []int{2}}, want: []seg{{true, 0, 300}, {true, 300, 300}, {true, 600, 300}, {true, 600, 300}, {true, 900, 100}}},
		{name: "drop", imp: Impairments{Drop: []int{0}}, want: []seg{{true, 300, 300}, {true, 600, 300}, {true, 900, 100}}},
		{name: "overlap", imp: Impairments{Overlap: []int{1}}, want: []seg{{true, 0, 300}, {true, 300, 300}, {true, 150, 450}, {true, 600, 300}, {true, 900, 100}}},
		{name: "overlap first has no previous", imp: Impairments{Overlap: []int{0}}, want: []seg{{true, 0, 300}, {true, 300, 300}, {true, 600, 300}, {true, 900, 100}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, _ := capture(t, Options{Seed: 3}, func(w *Writer) {
				c := w.TCP(cli, srv, Encap{}, ConnOptions{MSS: 300, Impair: tt.imp})
				c.Client(body)
				c.Close()
			})
			if got := dataSegments(recs, cli); !slices.Equal(got, tt.want) {
				t.Errorf("segments\n got %v\nwant %v", got, tt.want)
			}
			streams := collectTCP(recs)
			data, missing, err := streams[flowKey{cli, srv}].reassemble()
			if err != nil {
				t.Fatal(err)
			}
			if tt.imp.Drop == nil && (missing != 0 || string(data) != body) {
				t.Errorf("reassembled %d bytes, %d missing", len(data), missing)
			}
		})
	}
}

func TestConnHandshakes(t *testing.T) {
	type flags struct{ syn, ack, rst, fin bool }
	tests := []struct {
		name string
		opt  ConnOptions
		want []flags // in capture order, with client data "hi" and Close
	}{
		{name: "normal", want: []flags{{syn: true}, {syn: true, ack: true}, {ack: true}, {ack: true}, {ack: true, fin: true}, {ack: true, fin: true}, {ack: true}}},
		{name: "refused", opt: ConnOptions{Refused: true}, want: []flags{{syn: true}, {rst: true, ack: true}}},
		{name: "no answer", opt: ConnOptions{NoAnswer: true}, want: []flags{{syn: true}, {syn: true}, {syn: true}}},
		{name: "midstream", opt: ConnOptions{NoHandshake: true}, want: []flags{{ack: true}, {ack: true, fin: true}, {ack: true, fin: true}, {ack: true}}},
	}
	for _, tt := range tests {
		for _, v6 := range []bool{false, true} {
			c, s := cli, srv
			if v6 {
				c, s = cli6, srv6
			}
			t.Run(tt.name+map[bool]string{false: "/v4", true: "/v6"}[v6], func(t *testing.T) {
				recs, _ := capture(t, Options{}, func(w *Writer) {
					conn := w.TCP(c, s, Encap{}, tt.opt)
					conn.Client("hi")
					conn.Close()
				})
				var got []flags
				for _, r := range recs {
					tc := innerL4(r.p).tcp
					got = append(got, flags{tc.SYN, tc.ACK, tc.RST, tc.FIN})
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("flags\n got %v\nwant %v", got, tt.want)
				}
				if tt.opt.NoAnswer {
					gap := recs[2].ci.Timestamp.Sub(recs[0].ci.Timestamp)
					if gap < 3*time.Second || gap > 4*time.Second {
						t.Errorf("SYN retries span %v, want about 3s", gap)
					}
				}
			})
		}
	}
}

func TestConnReset(t *testing.T) {
	recs, _ := capture(t, Options{}, func(w *Writer) {
		c := w.TCP(cli, srv, Encap{}, ConnOptions{})
		c.Server("220 hi\r\n")
		c.Reset(true)
		c.Client("ignored after reset")
	})
	last := innerL4(recs[len(recs)-1].p)
	if !last.tcp.RST || last.key().src != cli {
		t.Fatalf("last packet is not the client's RST")
	}
	if len(recs) != 5 {
		t.Errorf("%d packets, want 5 (nothing after RST)", len(recs))
	}
}

func TestDelayedAck(t *testing.T) {
	// Two writes in a row from the server: the client's delayed ACK for
	// the first comes before the second.
	recs, _ := capture(t, Options{}, func(w *Writer) {
		c := w.TCP(cli, srv, Encap{}, ConnOptions{})
		c.Server("220-first\r\n")
		c.Server("220 second\r\n")
		c.Close()
	})
	// SYN, SYN/ACK, ACK, data, ACK, data, FIN...
	ack := innerL4(recs[4].p)
	if ack.key().src != cli || len(tcpPayload(ack.tcp)) != 0 || !ack.tcp.ACK {
		t.Fatalf("packet 5 is not the client's pure ACK")
	}
	first := innerL4(recs[3].p).tcp
	if ack.tcp.Ack != first.Seq+uint32(len("220-first\r\n")) {
		t.Errorf("delayed ACK %d, want end of first write", ack.tcp.Ack)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		opt   Options
		build func(w *Writer)
		want  error
	}{
		{name: "mixed families", build: func(w *Writer) { w.TCP(cli, srv6, Encap{}, ConnOptions{}) }, want: ErrBadAddress},
		{name: "invalid address", build: func(w *Writer) { w.UDP(netip.AddrPort{}, srv, Encap{}, nil) }, want: ErrBadAddress},
		{name: "VLAN on raw", opt: Options{Link: Raw}, build: func(w *Writer) { w.UDP(cli, srv, Encap{VLANs: []uint16{5}}, []byte("x")) }, want: ErrLinkCannotCarry},
		{name: "three VLANs", build: func(w *Writer) { w.UDP(cli, srv, Encap{VLANs: []uint16{1, 2, 3}}, []byte("x")) }, want: ErrLinkCannotCarry},
		{name: "ARP on null", opt: Options{Link: Null}, build: func(w *Writer) { w.ARP(cli.Addr(), srv.Addr(), Encap{}) }, want: ErrLinkCannotCarry},
		{name: "ARP in GRE", build: func(w *Writer) { w.ARP(cli.Addr(), srv.Addr(), Encap{Tunnel: GRE}) }, want: ErrLinkCannotCarry},
		{name: "ARP for IPv6", build: func(w *Writer) { w.ARP(cli6.Addr(), srv6.Addr(), Encap{}) }, want: ErrBadAddress},
		{name: "bad tunnel", build: func(w *Writer) { w.UDP(cli, srv, Encap{Tunnel: Tunnel(99)}, nil) }, want: ErrBadOptions},
		{name: "nil query", build: func(w *Writer) { w.DNSExchange(cli, srv, Encap{}, nil, nil, DNSOptions{}) }, want: ErrBadOptions},
		{name: "tiny fragment MTU", build: func(w *Writer) {
			q := NewQuery(1, "example.com", dns.TypeMX)
			w.DNSExchange(cli, netip.MustParseAddrPort("10.20.0.53:53"), Encap{}, q, MXResponse(q, []MX{{10, "mx.example.com"}}, nil), DNSOptions{FragmentMTU: 24})
		}, want: ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := New(&buf, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			tt.build(w)
			if !errors.Is(w.Err(), tt.want) {
				t.Errorf("Err() = %v, want %v", w.Err(), tt.want)
			}
			n := w.Packets()
			w.UDP(cli, srv, Encap{}, []byte("after error"))
			if w.Packets() != n {
				t.Error("writer kept writing after an error")
			}
			if err := w.Close(); !errors.Is(err, tt.want) {
				t.Errorf("Close() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
	}{
		{"format", Options{Format: 7}},
		{"link", Options{Link: -1}},
		{"snaplen", Options{SnapLen: -5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(&bytes.Buffer{}, tt.opt); !errors.Is(err, ErrBadOptions) {
				t.Errorf("New() error %v, want ErrBadOptions", err)
			}
		})
	}
	if _, err := New(nil, Options{}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("New(nil) error %v", err)
	}
	w, _ := New(&bytes.Buffer{}, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close() = %v, want ErrClosed", err)
	}
	w.UDP(cli, srv, Encap{}, nil)
	if !errors.Is(w.Err(), ErrClosed) {
		t.Errorf("write after Close: %v", w.Err())
	}
}

func TestSnapLen(t *testing.T) {
	var buf bytes.Buffer
	w, err := New(&buf, Options{SnapLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	w.UDP(cli, srv, Encap{}, make([]byte, 500))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 64 || ci.Length != 14+20+8+500 {
		t.Errorf("captured %d of %d bytes", len(data), ci.Length)
	}
}

// TestNgHeader checks that the pcapng header written for link types that
// pcapgo cannot express matches pcapgo's own for one it can.
func TestNgHeader(t *testing.T) {
	var ours, theirs bytes.Buffer
	if err := writeNgHeader(&ours, 1, 1234); err != nil {
		t.Fatal(err)
	}
	ng, err := pcapgo.NewNgWriterInterface(&theirs, pcapgo.NgInterface{Name: ngInterfaceName, LinkType: layers.LinkTypeEthernet, SnapLength: 1234},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: ngApplication}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
		t.Errorf("pcapng header\n ours % x\ntheir % x", ours.Bytes(), theirs.Bytes())
	}
}

func TestFormatsAndLinks(t *testing.T) {
	for _, f := range []Format{PcapMicro, PcapNano, Pcapng} {
		for _, l := range []Link{Ethernet, LinuxSLL, LinuxSLL2, Raw, Null} {
			for _, gz := range []bool{false, true} {
				opt := Options{Format: f, Link: l, Gzip: gz}
				t.Run(f.String()+"/"+l.String()+map[bool]string{true: "/gz"}[gz], func(t *testing.T) {
					recs, _ := capture(t, opt, func(w *Writer) {
						w.UDP(cli, srv, Encap{}, []byte("v4"))
						w.UDP(cli6, srv6, Encap{}, []byte("v6"))
						w.Ping(cli.Addr(), srv.Addr(), Encap{Tunnel: VXLAN}, 1)
					})
					if len(recs) != 4 {
						t.Fatalf("%d packets", len(recs))
					}
					for i, want := range []string{"v4", "v6"} {
						info := innerL4(recs[i].p)
						if info.udp == nil || string(info.udp.Payload) != want {
							t.Errorf("packet %d: %v", i+1, recs[i].p.Layers())
						}
						checkChecksums(t, i+1, recs[i].p)
					}
					if recs[2].p.Layer(layers.LayerTypeICMPv4) == nil || recs[2].p.Layer(layers.LayerTypeVXLAN) == nil {
						t.Errorf("ping over VXLAN: %v", recs[2].p.Layers())
					}
				})
			}
		}
	}
}

func TestNoise(t *testing.T) {
	recs, _ := capture(t, Options{Seed: 9}, func(w *Writer) {
		w.HTTPS(netip.MustParseAddrPort("10.20.5.5:0"), netip.MustParseAddrPort("203.0.113.80:443"), Encap{}, 50000)
		w.QUIC(netip.MustParseAddrPort("10.20.5.5:0"), netip.MustParseAddrPort("203.0.113.81:443"), Encap{}, 20)
		w.NTP(netip.MustParseAddr("10.20.5.5"), netip.MustParseAddr("192.0.2.123"), Encap{})
		w.Ping(cli6.Addr(), srv6.Addr(), Encap{}, 2)
		w.ARP(netip.MustParseAddr("10.20.0.1"), netip.MustParseAddr("10.20.5.5"), Encap{VLANs: []uint16{7}})
	})
	var full, quic, ntp, icmp6, arp int
	for i, r := range recs {
		checkChecksums(t, i+1, r.p)
		info := innerL4(r.p)
		switch {
		case info.tcp != nil && len(tcpPayload(info.tcp)) == 1460:
			full++
		case info.udp != nil && (info.udp.DstPort == 443 || info.udp.SrcPort == 443):
			quic++
		case r.p.Layer(layers.LayerTypeNTP) != nil:
			ntp++
		case r.p.Layer(layers.LayerTypeICMPv6) != nil:
			icmp6++
		case r.p.Layer(layers.LayerTypeARP) != nil:
			arp++
			if r.p.Layer(layers.LayerTypeDot1Q) == nil {
				t.Error("ARP without its VLAN tag")
			}
		}
	}
	if full < 30 || quic != 23 || ntp != 2 || icmp6 != 4 || arp != 2 {
		t.Errorf("full-size TCP %d, QUIC %d, NTP %d, ICMPv6 %d, ARP %d", full, quic, ntp, icmp6, arp)
	}
	// The ClientHello is a well-formed TLS record carrying the SNI.
	streams := collectTCP(recs)
	hello, _, err := streams[flowKey{innerL4(recs[0].p).key().src, netip.MustParseAddrPort("203.0.113.80:443")}].reassemble()
	if err != nil || len(hello) < 5 || hello[0] != 0x16 || !bytes.Contains(hello, []byte("www.example.com")) {
		t.Errorf("ClientHello % x", hello[:min(len(hello), 16)])
	}
	if n := int(hello[3])<<8 | int(hello[4]); n+5 > len(hello) || hello[5] != 1 {
		t.Errorf("ClientHello record length %d", n)
	}
}

func TestMix(t *testing.T) {
	const size = 4_000_000
	var buf bytes.Buffer
	st, err := Mix(&buf, MixOptions{Options: Options{Seed: 1}, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != st.Bytes || st.Bytes < size || st.Bytes > size+70000 {
		t.Errorf("file %d bytes, stats %d, target %d", buf.Len(), st.Bytes, size)
	}
	recs := readCapture(t, buf.Bytes(), Options{})
	var dnsN, smtpN, noise, arp, icmp, udp443, tcp443, tcp80, full, mx int
	clients := map[netip.Addr]bool{}
	for i, r := range recs {
		if i > 0 && r.ci.Timestamp.Before(recs[i-1].ci.Timestamp) {
			t.Fatalf("packet %d: timestamp goes backwards", i+1)
		}
		info := innerL4(r.p)
		port := func(p uint16) bool {
			return (info.tcp != nil && (uint16(info.tcp.SrcPort) == p || uint16(info.tcp.DstPort) == p)) ||
				(info.udp != nil && (uint16(info.udp.SrcPort) == p || uint16(info.udp.DstPort) == p))
		}
		if isPlatform(info.src) {
			clients[info.src] = true
		}
		switch {
		case port(53):
			dnsN++
			if d, ok := r.p.Layer(layers.LayerTypeDNS).(*layers.DNS); ok && len(d.Questions) > 0 && d.Questions[0].Type == layers.DNSTypeMX {
				mx++
			}
		case port(25) || port(587) || port(465):
			smtpN++
		default:
			noise++
			switch {
			case r.p.Layer(layers.LayerTypeARP) != nil:
				arp++
			case r.p.Layer(layers.LayerTypeICMPv4) != nil || r.p.Layer(layers.LayerTypeICMPv6) != nil:
				icmp++
			case info.udp != nil && port(443):
				udp443++
			case info.tcp != nil && port(80):
				tcp80++
			case info.tcp != nil && port(443):
				tcp443++
				if len(tcpPayload(info.tcp)) == 1460 {
					full++
				}
			}
		}
	}
	total := len(recs)
	if total != st.Packets || dnsN != st.DNS || smtpN != st.SMTP || noise != st.Noise {
		t.Errorf("stats %+v disagree with the capture: %d packets, dns %d, smtp %d, noise %d", st, total, dnsN, smtpN, noise)
	}
	share := func(n int) float64 { return float64(n) / float64(total) }
	if s := share(dnsN); s < 0.04 || s > 0.065 {
		t.Errorf("DNS share %.3f, want about 0.05", s)
	}
	if s := share(smtpN); s < 0.012 || s > 0.03 {
		t.Errorf("SMTP share %.3f, want about 0.02", s)
	}
	if s := share(tcp443 + tcp80); s < 0.4 {
		t.Errorf("TCP 443 and 80 share %.3f, want the largest class", s)
	}
	if full < tcp443/4 || tcp80 == 0 || arp == 0 || icmp == 0 || udp443 == 0 || mx == 0 {
		t.Errorf("noise: full-size %d of %d TCP 443, TCP 80 %d, ARP %d, ICMP %d, UDP 443 %d; MX queries %d", full, tcp443, tcp80, arp, icmp, udp443, mx)
	}
	if len(clients) < 50 {
		t.Errorf("%d platform hosts, want many", len(clients))
	}
	// About 20000 packets per second of capture time.
	rate := float64(total) / st.Last.Sub(st.First).Seconds()
	if rate < 5000 || rate > 40000 {
		t.Errorf("%.0f packets/s of capture time, want about 20000", rate)
	}

	var again bytes.Buffer
	if _, err := Mix(&again, MixOptions{Options: Options{Seed: 1}, Size: size}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("same seed, different mix")
	}
	var other bytes.Buffer
	if _, err := Mix(&other, MixOptions{Options: Options{Seed: 2}, Size: 100000}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf.Bytes()[:100000], other.Bytes()[:100000]) {
		t.Error("different seed, same mix")
	}
}

func TestMixOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  MixOptions
	}{
		{"zero size", MixOptions{}},
		{"negative rate", MixOptions{Size: 1000, PacketRate: -1}},
		{"too many hosts", MixOptions{Size: 1000, Hosts: 70000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Mix(&bytes.Buffer{}, tt.opt); !errors.Is(err, ErrBadOptions) {
				t.Errorf("error %v, want ErrBadOptions", err)
			}
		})
	}
	// Other links and formats work, and links without ARP get none.
	for _, opt := range []Options{{Link: Null, Format: Pcapng}, {Link: LinuxSLL2, Gzip: true}} {
		var buf bytes.Buffer
		st, err := Mix(&buf, MixOptions{Options: opt, Size: 300000})
		if err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		if got := len(readCapture(t, buf.Bytes(), opt)); got != st.Packets {
			t.Errorf("%+v: read %d packets, wrote %d", opt, got, st.Packets)
		}
	}
}

// BenchmarkMix measures generation speed (bytes per second of output).
func BenchmarkMix(b *testing.B) {
	const size = 20_000_000
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Mix(discard{}, MixOptions{Options: Options{Seed: 1}, Size: size}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestTunnels(t *testing.T) {
	v6Outer := Encap{TunnelSrc: netip.MustParseAddr("2001:db8:fe::1"), TunnelDst: netip.MustParseAddr("2001:db8:fe::2")}
	for _, tun := range []Tunnel{GRE, ERSPAN2, ERSPAN3, VXLAN} {
		for _, outer6 := range []bool{false, true} {
			for _, inner6 := range []bool{false, true} {
				name := fmt.Sprintf("%v/outer6=%v/inner6=%v", tun, outer6, inner6)
				t.Run(name, func(t *testing.T) {
					e := Encap{Tunnel: tun, ID: 7}
					if tun != GRE {
						e.VLANs = []uint16{11, 22}
					}
					if outer6 {
						e.TunnelSrc, e.TunnelDst = v6Outer.TunnelSrc, v6Outer.TunnelDst
					}
					c, s := cli, srv
					if inner6 {
						c, s = cli6, srv6
					}
					recs, _ := capture(t, Options{}, func(w *Writer) { w.UDP(c, s, e, []byte("payload")) })
					if len(recs) != 1 {
						t.Fatalf("%d packets", len(recs))
					}
					r := recs[0]
					info := innerL4(r.p)
					if info.udp == nil || string(info.udp.Payload) != "payload" || info.src != c.Addr() {
						t.Fatalf("inner packet not found: %v", r.p.Layers())
					}
					checkChecksums(t, 1, r.outer)
					checkChecksums(t, 1, r.p)
					if tun != GRE && countLayers(r.p, layers.LayerTypeDot1Q) != 2 {
						t.Errorf("inner frame lacks its QinQ tags: %v", r.p.Layers())
					}
					want := layers.LayerTypeIPv4
					if outer6 {
						want = layers.LayerTypeIPv6
					}
					if r.outer.Layers()[1].LayerType() != want {
						t.Errorf("outer network layer %v, want %v", r.outer.Layers()[1].LayerType(), want)
					}
				})
			}
		}
	}
}
