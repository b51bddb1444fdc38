package pcapgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite testdata/scenarios.sha256")

func TestScenarioNamesStable(t *testing.T) {
	want := []string{
		"smtp-basic", "smtp-pipelining", "smtp-bdat", "smtp-starttls", "smtp-auth-25", "smtp-465",
		"smtp-587-submission", "smtp-multi", "smtp-rejections", "dns-mx-additional", "dns-mx-noadditional",
		"dns-mx-cname", "dns-tcp", "dns-truncated", "direct-to-mx", "vlan", "qinq", "gre", "erspan2",
		"erspan3", "vxlan", "ipv6", "ipv4-fragments", "tcp-out-of-order", "tcp-retransmission",
		"tcp-lost-segment", "tcp-midstream", "tcp-overlap", "link-sll", "link-sll2", "link-raw",
		"link-null", "format-pcapng", "format-nanosecond", "format-gzip",
		"class-direct-25", "class-relay-lookups", "class-guessed-name", "class-other-client", "rejection-burst", "classes",
	}
	var got []string
	for _, s := range Scenarios() {
		got = append(got, s.Name)
		if s.Description == "" || s.Build == nil {
			t.Errorf("%s: missing description or Build", s.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("scenario names:\n got %q\nwant %q", got, want)
	}
	if _, ok := Lookup("no-such-scenario"); ok {
		t.Error("Lookup found a scenario that does not exist")
	}
}

func TestDeterminism(t *testing.T) {
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := WriteScenario(&a, s); err != nil {
				t.Fatal(err)
			}
			if err := WriteScenario(&b, s); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("same seed, different bytes")
			}
			rec, _ := writeRecorded(t, s)
			if !bytes.Equal(a.Bytes(), rec) {
				t.Fatal("recording conns changed the output")
			}
			s.Options.Seed++
			var c bytes.Buffer
			if err := WriteScenario(&c, s); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(a.Bytes(), c.Bytes()) {
				t.Fatal("different seed, same bytes")
			}
		})
	}
}

// TestGolden pins the bytes of every scenario, so that a change to the
// committed demo captures is deliberate (go test -update rewrites it).
func TestGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range Scenarios() {
		var buf bytes.Buffer
		if err := WriteScenario(&buf, s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%x  %s%s\n", sha256.Sum256(buf.Bytes()), s.Name, s.Options.Ext())
	}
	path := filepath.Join("testdata", "scenarios.sha256")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("scenario bytes changed; if intended, run go test ./capture/pcapgen -run TestGolden -update\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestScenariosDecode(t *testing.T) {
	L := func(ts ...gopacket.LayerType) []gopacket.LayerType { return ts }
	eth, ip4, ip6, tcp, udp := layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeIPv6, layers.LayerTypeTCP, layers.LayerTypeUDP
	dot1q, gre := layers.LayerTypeDot1Q, layers.LayerTypeGRE
	tests := []struct {
		name string
		// every IP packet has at least these layers (with multiplicity);
		// every is checked on the outer decoding, inner on the unwrapped one.
		every, inner []gopacket.LayerType
		// some packet has each of these layers.
		some []gopacket.LayerType
		// minimum number of packets
		min int
	}{
		{name: "smtp-basic", every: L(eth, ip4, tcp), min: 15},
		{name: "smtp-pipelining", every: L(eth, ip4, tcp), min: 12},
		{name: "smtp-bdat", every: L(eth, ip4, tcp), min: 20},
		{name: "smtp-starttls", every: L(eth, ip4, tcp), min: 20},
		{name: "smtp-auth-25", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "smtp-465", every: L(eth, ip4, tcp), min: 20},
		{name: "smtp-587-submission", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 18},
		{name: "smtp-multi", every: L(eth, ip4, tcp), min: 30},
		{name: "smtp-rejections", every: L(eth, ip4, tcp), min: 30},
		{name: "dns-mx-additional", every: L(eth, ip4, udp, layers.LayerTypeDNS), min: 2},
		{name: "dns-mx-noadditional", every: L(eth, ip4, udp, layers.LayerTypeDNS), min: 6},
		{name: "dns-mx-cname", every: L(eth, ip4, udp, layers.LayerTypeDNS), min: 4},
		{name: "dns-tcp", every: L(eth, ip4, tcp), min: 10},
		{name: "dns-truncated", every: L(eth, ip4), some: L(udp, tcp), min: 10},
		{name: "direct-to-mx", every: L(eth, ip4), some: L(udp, layers.LayerTypeDNS, tcp), min: 60},
		{name: "vlan", every: L(eth, dot1q, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "qinq", every: L(eth, dot1q, dot1q, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "gre", every: L(eth, ip4, gre, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "erspan2", every: L(eth, ip4, gre, layers.LayerTypeERSPANII, eth, dot1q, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "erspan3", every: L(eth, ip4, gre), inner: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "vxlan", every: L(eth, ip4, udp, layers.LayerTypeVXLAN, eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "ipv6", every: L(eth, ip6), some: L(layers.LayerTypeDNS, tcp), min: 20},
		{name: "ipv4-fragments", every: L(eth, ip4), some: L(layers.LayerTypeDNS), min: 3},
		{name: "tcp-out-of-order", every: L(eth, ip4, tcp), min: 20},
		{name: "tcp-retransmission", every: L(eth, ip4, tcp), min: 20},
		{name: "tcp-lost-segment", every: L(eth, ip4, tcp), min: 20},
		{name: "tcp-midstream", every: L(eth, ip4, tcp), min: 10},
		{name: "tcp-overlap", every: L(eth, ip4, tcp), min: 20},
		{name: "link-sll", every: L(layers.LayerTypeLinuxSLL, ip4, tcp), min: 15},
		{name: "link-sll2", every: L(ip4, tcp), min: 15},
		{name: "link-raw", every: L(ip4, tcp), min: 15},
		{name: "link-null", every: L(layers.LayerTypeLoopback, ip4, tcp), min: 15},
		{name: "format-pcapng", every: L(eth, ip4, tcp), min: 15},
		{name: "format-nanosecond", every: L(eth, ip4, tcp), min: 15},
		{name: "format-gzip", every: L(eth, ip4, tcp), min: 15},
		{name: "class-direct-25", every: L(eth, ip4, tcp), min: 15},
		{name: "class-relay-lookups", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 15},
		{name: "class-guessed-name", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 15},
		{name: "class-other-client", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 15},
		{name: "rejection-burst", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 60},
		{name: "classes", every: L(eth, ip4), some: L(layers.LayerTypeDNS, tcp), min: 100},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			s := scenario(t, tt.name)
			var buf bytes.Buffer
			if err := WriteScenario(&buf, s); err != nil {
				t.Fatal(err)
			}
			recs := readCapture(t, buf.Bytes(), s.Options)
			if len(recs) < tt.min {
				t.Fatalf("%d packets, want at least %d", len(recs), tt.min)
			}
			found := map[gopacket.LayerType]bool{}
			subMicro := 0
			for i, r := range recs {
				if i > 0 && r.ci.Timestamp.Before(recs[i-1].ci.Timestamp) {
					t.Errorf("packet %d: timestamp goes backwards", i+1)
				}
				if r.ci.Timestamp.Nanosecond()%1000 != 0 {
					subMicro++
				}
				for _, l := range tt.every {
					if countLayers(r.outer, l) < countIn(tt.every, l) {
						t.Fatalf("packet %d: want %d %v layers, have %v", i+1, countIn(tt.every, l), l, r.outer.Layers())
					}
				}
				for _, l := range tt.inner {
					if countLayers(r.p, l) < countIn(tt.inner, l) {
						t.Fatalf("packet %d: inner: want %v, have %v", i+1, l, r.p.Layers())
					}
				}
				if f := r.p.Layer(gopacket.LayerTypeDecodeFailure); f != nil {
					info := innerL4(r.p)
					// gopacket decodes TCP port 53 as plain DNS, which the
					// length prefix of DNS over TCP defeats.
					if info.tcp == nil || (info.tcp.SrcPort != 53 && info.tcp.DstPort != 53) {
						t.Errorf("packet %d: decode failure: %v", i+1, f.(*gopacket.DecodeFailure).Error())
					}
				}
				for _, l := range r.p.Layers() {
					found[l.LayerType()] = true
				}
				checkChecksums(t, i+1, r.outer)
				if r.p != r.outer {
					checkChecksums(t, i+1, r.p)
				}
			}
			if nano := s.Options.Format != PcapMicro; nano != (subMicro > 0) {
				t.Errorf("%d packets with sub-microsecond timestamps in format %v", subMicro, s.Options.Format)
			}
			for _, l := range tt.some {
				if !found[l] {
					t.Errorf("no packet has a %v layer", l)
				}
			}
		})
	}
	for _, s := range Scenarios() {
		if !seen[s.Name] {
			t.Errorf("scenario %s has no decode test", s.Name)
		}
	}
}

func countIn(ls []gopacket.LayerType, l gopacket.LayerType) int {
	n := 0
	for _, x := range ls {
		if x == l {
			n++
		}
	}
	return n
}

// TestTCPTranscripts reassembles every TCP connection of every scenario in
// sequence order and compares it with what the simulator was asked to send;
// it also checks that acknowledgments never run ahead of the peer's data
// and that FINs sit at the end of the data.
func TestTCPTranscripts(t *testing.T) {
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			data, conns := writeRecorded(t, s)
			streams := collectTCP(readCapture(t, data, s.Options))
			for _, c := range conns {
				for side := range 2 {
					k := flowKey{c.ep[side], c.ep[1-side]}
					st := streams[k]
					want := c.sentData(side == clientSide)
					if st == nil {
						if len(want) > 0 {
							t.Errorf("%v: no packets, want %d bytes", k, len(want))
						}
						continue
					}
					got, missing, err := st.reassemble()
					if err != nil {
						t.Fatalf("%v: %v", k, err)
					}
					wantMissing := 0
					if s.Name == "tcp-lost-segment" && side == clientSide {
						wantMissing = 536
					}
					if missing != wantMissing {
						t.Errorf("%v: %d bytes missing, want %d", k, missing, wantMissing)
					}
					if len(got) != len(want) {
						t.Fatalf("%v: reassembled %d bytes, sent %d", k, len(got), len(want))
					}
					if missing == 0 && !bytes.Equal(got, want) {
						t.Errorf("%v: reassembled stream differs from the transcript", k)
					}
					if missing > 0 {
						for i := range got {
							if got[i] != 0 && got[i] != want[i] {
								t.Fatalf("%v: byte %d differs", k, i)
							}
						}
					}
					// The peer's ACKs never acknowledge more than was sent
					// (plus SYN and FIN), and never go backwards.
					peer := streams[flowKey{c.ep[1-side], c.ep[side]}]
					if peer == nil || !st.syn {
						continue
					}
					limit := st.synSeq + 1 + uint32(len(want))
					if st.fin {
						if st.finSeq != limit {
							t.Errorf("%v: FIN at %d, want %d", k, st.finSeq-st.synSeq, limit-st.synSeq)
						}
						limit++
					}
					for i, a := range peer.acks {
						if int32(a-limit) > 0 {
							t.Errorf("%v: ACK %d beyond sent data %d", k, a-st.synSeq, limit-st.synSeq)
						}
						if i > 0 && int32(a-peer.acks[i-1]) < 0 {
							t.Errorf("%v: ACK goes backwards", k)
						}
					}
				}
			}
		})
	}
}

// clientStreams returns the reassembled client-to-server bytes of every TCP
// connection to port in the scenario, concatenated.
func streamText(t *testing.T, name string, toServer bool, port uint16) string {
	t.Helper()
	s := scenario(t, name)
	var buf bytes.Buffer
	if err := WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	streams := collectTCP(readCapture(t, buf.Bytes(), s.Options))
	var keys []flowKey
	for k := range streams {
		if (toServer && k.dst.Port() == port) || (!toServer && k.src.Port() == port) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b flowKey) int {
		return strings.Compare(a.src.String()+a.dst.String(), b.src.String()+b.dst.String())
	})
	var out strings.Builder
	for _, k := range keys {
		b, _, err := streams[k].reassemble()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	return out.String()
}

func TestSMTPContent(t *testing.T) {
	tests := []struct {
		name     string
		toServer bool
		port     uint16
		want     []string
		wantNot  []string
	}{
		{name: "smtp-basic", toServer: true, port: 25, want: []string{
			"EHLO web10.platform.example\r\n", "MAIL FROM:<orders@lindenhof-shop.example>", "RCPT TO:<k.weber@example.org>\r\n",
			"DATA\r\n", "\r\n..htaccess-Hinweis", "Subject: =?UTF-8?b?", "Message-ID: <", "X-Mailer: WooCommerce", "Received: from",
			"Date: Tue, 14 May 2024 09:30:00 +0000", "\r\n.\r\nQUIT\r\n",
		}},
		{name: "smtp-basic", port: 25, want: []string{
			"220 relay.platform.example ESMTP", "250-relay.platform.example\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n" +
				"250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n", "354 ", "250 2.0.0 Ok: queued as ", "221 ",
		}},
		{name: "direct-to-mx", toServer: true, port: 25, want: []string{
			"X-PHP-Originating-Script: 1001:/home/acct/public_html/wp-content/x.php\r\n", "X-Mailer: PHPMailer",
			"RCPT TO:<jane.doe@gmail.com>", "RCPT TO:<m.rossi@outlook.com>", "RCPT TO:<alice@example.net>",
		}},
		{name: "smtp-pipelining", toServer: true, port: 25, want: []string{"MAIL FROM:<vorstand@tsv-musterstadt.example> BODY=8BITMIME\r\nRCPT TO:<p.schmidt@example.org>\r\nRCPT TO:<a.keller@example.net>\r\nDATA\r\n", "User-Agent: Roundcube"}},
		{name: "smtp-bdat", toServer: true, port: 25, want: []string{" LAST\r\n", "BDAT 0 LAST\r\n"}, wantNot: []string{"DATA\r\n"}},
		{name: "smtp-auth-25", toServer: true, port: 25, want: []string{"AUTH LOGIN\r\n"}},
		{name: "smtp-auth-25", port: 25, want: []string{"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "235 2.7.0"}},
		{name: "smtp-587-submission", toServer: true, port: 587, want: []string{"AUTH PLAIN AGxlbmFAZXhhbXBsZS5jb20A", "User-Agent: Mozilla/5.0"}},
		{name: "smtp-multi", toServer: true, port: 25, want: []string{"RSET\r\n"}},
		{name: "smtp-rejections", port: 25, want: []string{
			"550 5.1.1 <nobody@example.net>", "554 5.7.1 Service unavailable; Client host [10.20.1.5] blocked using zen.spamhaus.org\r\n", "421 4.7.0 ",
		}},
		{name: "smtp-starttls", toServer: true, port: 25, want: []string{"STARTTLS\r\n\x16\x03\x01"}},
		{name: "smtp-starttls", port: 25, want: []string{"220 2.0.0 Ready to start TLS\r\n\x16\x03\x03"}},
		{name: "smtp-465", toServer: true, port: 465, want: []string{"\x16\x03\x01", "mail.example.org"}, wantNot: []string{"EHLO"}},
		{name: "tcp-midstream", toServer: true, port: 25, want: []string{"MAIL FROM:"}, wantNot: []string{"EHLO"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.name, tt.toServer), func(t *testing.T) {
			text := streamText(t, tt.name, tt.toServer, tt.port)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("stream lacks %q", w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(text, w) {
					t.Errorf("stream has %q", w)
				}
			}
			if tt.name == "smtp-bdat" && tt.toServer {
				checkBDAT(t, text)
			}
		})
	}
	if n := strings.Count(streamText(t, "smtp-multi", true, 25), "MAIL FROM:"); n != 3 {
		t.Errorf("smtp-multi: %d transactions, want 3", n)
	}
}

// checkBDAT verifies that every BDAT command's size matches the bytes
// that follow it.
func checkBDAT(t *testing.T, text string) {
	t.Helper()
	chunks := 0
	for i := strings.Index(text, "BDAT "); i >= 0; {
		rest := text[i:]
		eol := strings.Index(rest, "\r\n")
		var n int
		if _, err := fmt.Sscanf(rest[:eol], "BDAT %d", &n); err != nil {
			t.Fatalf("bad BDAT line %q", rest[:eol])
		}
		chunks++
		next := i + eol + 2 + n
		j := strings.Index(text[next:], "BDAT ")
		if !strings.HasPrefix(text[next:], "MAIL") && !strings.HasPrefix(text[next:], "BDAT") && !strings.HasPrefix(text[next:], "QUIT") {
			t.Fatalf("BDAT %d not followed by a command: %q", n, text[next:min(next+20, len(text))])
		}
		if j < 0 {
			break
		}
		i = next + j
	}
	if chunks != 5 {
		t.Errorf("%d BDAT chunks, want 5", chunks)
	}
}

// dnsMessages returns the DNS messages of a scenario in capture order:
// UDP ones as they are (IPv4 fragments reassembled), TCP ones from the
// reassembled streams.
func dnsMessages(t *testing.T, name string) (udp, tcp []*dns.Msg) {
	t.Helper()
	s := scenario(t, name)
	var buf bytes.Buffer
	if err := WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	recs := readCapture(t, buf.Bytes(), s.Options)
	defrag := ip4defrag.NewIPv4Defragmenter()
	for i, r := range recs {
		info := innerL4(r.p)
		payload := []byte(nil)
		switch {
		case info.ip4 != nil && (info.ip4.Flags&layers.IPv4MoreFragments != 0 || info.ip4.FragOffset != 0):
			whole, err := defrag.DefragIPv4WithTimestamp(info.ip4, r.ci.Timestamp)
			if err != nil {
				t.Fatalf("packet %d: defrag: %v", i+1, err)
			}
			if whole == nil {
				continue
			}
			p := gopacket.NewPacket(whole.Payload, layers.LayerTypeUDP, gopacket.Default)
			u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if !ok {
				t.Fatalf("packet %d: reassembled datagram is not UDP", i+1)
			}
			if int(u.Length) != len(whole.Payload) {
				t.Fatalf("reassembled UDP length %d, have %d bytes", u.Length, len(whole.Payload))
			}
			payload = u.Payload
		case info.udp != nil && (info.udp.SrcPort == 53 || info.udp.DstPort == 53):
			payload = info.udp.Payload
		default:
			continue
		}
		m := new(dns.Msg)
		if err := m.Unpack(payload); err != nil {
			t.Fatalf("packet %d: DNS: %v", i+1, err)
		}
		udp = append(udp, m)
	}
	streams := collectTCP(recs)
	var keys []flowKey
	for k := range streams {
		if k.dst.Port() == 53 || k.src.Port() == 53 {
			keys = append(keys, k)
		}
	}
	toServer := func(k flowKey) int {
		if k.dst.Port() == 53 {
			return 0
		}
		return 1
	}
	slices.SortFunc(keys, func(a, b flowKey) int { return toServer(a) - toServer(b) }) // queries first
	for _, k := range keys {
		b, missing, err := streams[k].reassemble()
		if err != nil || missing != 0 {
			t.Fatalf("%v: %v, %d missing", k, err, missing)
		}
		for len(b) >= 2 {
			n := int(binary.BigEndian.Uint16(b))
			if len(b) < 2+n {
				t.Fatalf("%v: truncated DNS message", k)
			}
			m := new(dns.Msg)
			if err := m.Unpack(b[2 : 2+n]); err != nil {
				t.Fatalf("%v: DNS: %v", k, err)
			}
			tcp = append(tcp, m)
			b = b[2+n:]
		}
	}
	return udp, tcp
}

func TestDNSScenarios(t *testing.T) {
	count := func(rrs []dns.RR, typ uint16) int {
		n := 0
		for _, rr := range rrs {
			if rr.Header().Rrtype == typ {
				n++
			}
		}
		return n
	}
	t.Run("dns-mx-additional", func(t *testing.T) {
		udp, _ := dnsMessages(t, "dns-mx-additional")
		if len(udp) != 2 || !udp[1].Response || udp[1].Id != udp[0].Id {
			t.Fatalf("want query and response with the same ID, got %d messages", len(udp))
		}
		r := udp[1]
		if count(r.Answer, dns.TypeMX) != 2 || count(r.Extra, dns.TypeA) != 2 {
			t.Errorf("answer %v extra %v", r.Answer, r.Extra)
		}
	})
	t.Run("dns-mx-noadditional", func(t *testing.T) {
		udp, _ := dnsMessages(t, "dns-mx-noadditional")
		if len(udp) != 6 || len(udp[1].Extra) != 0 || count(udp[1].Answer, dns.TypeMX) != 2 {
			t.Fatalf("got %d messages", len(udp))
		}
		for i, name := range []string{"mx1.example.net.", "mx2.example.net."} {
			q, r := udp[2+2*i], udp[3+2*i]
			if q.Question[0].Name != name || q.Question[0].Qtype != dns.TypeA || count(r.Answer, dns.TypeA) != 1 {
				t.Errorf("lookup %d: %v / %v", i, q.Question, r.Answer)
			}
		}
	})
	t.Run("dns-mx-cname", func(t *testing.T) {
		udp, _ := dnsMessages(t, "dns-mx-cname")
		if len(udp) != 4 {
			t.Fatalf("got %d messages", len(udp))
		}
		r := udp[3]
		if count(r.Answer, dns.TypeCNAME) != 2 || count(r.Answer, dns.TypeA) != 1 {
			t.Fatalf("answer %v", r.Answer)
		}
		if r.Answer[2].Header().Name != r.Answer[1].(*dns.CNAME).Target {
			t.Errorf("A record not at the end of the chain: %v", r.Answer)
		}
	})
	t.Run("dns-tcp", func(t *testing.T) {
		_, tcp := dnsMessages(t, "dns-tcp")
		if len(tcp) != 4 {
			t.Fatalf("got %d TCP messages, want 4", len(tcp))
		}
		if tcp[0].Question[0].Qtype != dns.TypeMX || tcp[1].Question[0].Qtype != dns.TypeA {
			t.Errorf("queries %v %v", tcp[0].Question, tcp[1].Question)
		}
		if !tcp[2].Response || !tcp[3].Response {
			t.Error("server side does not hold the responses")
		}
	})
	t.Run("dns-truncated", func(t *testing.T) {
		udp, tcp := dnsMessages(t, "dns-truncated")
		if len(udp) != 2 || !udp[1].Truncated || len(udp[1].Answer) != 0 {
			t.Fatalf("UDP: %d messages", len(udp))
		}
		if len(tcp) != 2 || tcp[1].Truncated || count(tcp[1].Answer, dns.TypeMX) != 40 {
			t.Fatalf("TCP: %d messages", len(tcp))
		}
	})
	t.Run("ipv4-fragments", func(t *testing.T) {
		udp, _ := dnsMessages(t, "ipv4-fragments")
		if len(udp) != 2 {
			t.Fatalf("got %d messages", len(udp))
		}
		if r := udp[1]; count(r.Answer, dns.TypeMX) != 40 || count(r.Extra, dns.TypeA) != 40 || count(r.Extra, dns.TypeAAAA) != 40 {
			t.Errorf("response has %d answers, %d extra", len(r.Answer), len(r.Extra))
		}
	})
	t.Run("direct-to-mx", func(t *testing.T) {
		udp, _ := dnsMessages(t, "direct-to-mx")
		var mx []string
		for _, m := range udp {
			if !m.Response && m.Question[0].Qtype == dns.TypeMX {
				mx = append(mx, m.Question[0].Name)
			}
		}
		if !slices.Equal(mx, []string{"gmail.com.", "outlook.com.", "example.net."}) {
			t.Errorf("MX lookups %v", mx)
		}
	})
}

func TestFragmentsSplit(t *testing.T) {
	s := scenario(t, "ipv4-fragments")
	var buf bytes.Buffer
	if err := WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	frags := 0
	for _, r := range readCapture(t, buf.Bytes(), s.Options) {
		info := innerL4(r.p)
		if info.ip4.Flags&layers.IPv4MoreFragments != 0 || info.ip4.FragOffset != 0 {
			frags++
			if int(info.ip4.Length) > 1500 {
				t.Errorf("fragment of %d bytes exceeds the MTU", info.ip4.Length)
			}
		}
	}
	if frags < 2 {
		t.Errorf("%d fragments, want at least 2", frags)
	}
}

func TestEncapDetails(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, p gopacket.Packet)
	}{
		{"qinq", func(t *testing.T, p gopacket.Packet) {
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if eth.EthernetType != layers.EthernetTypeQinQ {
				t.Errorf("outer TPID %v, want 0x88a8", eth.EthernetType)
			}
			var vlans []uint16
			for _, l := range p.Layers() {
				if d, ok := l.(*layers.Dot1Q); ok {
					vlans = append(vlans, d.VLANIdentifier)
				}
			}
			if !slices.Equal(vlans, []uint16{300, 120}) {
				t.Errorf("VLANs %v", vlans)
			}
		}},
		{"erspan2", func(t *testing.T, p gopacket.Packet) {
			e := p.Layer(layers.LayerTypeERSPANII).(*layers.ERSPANII)
			if e.SessionID != 42 || e.Version != 1 {
				t.Errorf("ERSPAN session %d version %d", e.SessionID, e.Version)
			}
			if g := p.Layer(layers.LayerTypeGRE).(*layers.GRE); !g.SeqPresent {
				t.Error("GRE without sequence number")
			}
		}},
		{"erspan3", func(t *testing.T, p gopacket.Packet) {
			g := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
			if g.Protocol != 0x22eb || !g.SeqPresent || len(g.Payload) < 12 {
				t.Fatalf("GRE %v", g.Protocol)
			}
			h := g.Payload
			if h[0]>>4 != 2 || binary.BigEndian.Uint16(h[2:4])&0x3ff != 43 {
				t.Errorf("ERSPAN III header % x", h[:12])
			}
		}},
		{"vxlan", func(t *testing.T, p gopacket.Packet) {
			v := p.Layer(layers.LayerTypeVXLAN).(*layers.VXLAN)
			if v.VNI != 5020 || !v.ValidIDFlag {
				t.Errorf("VNI %d", v.VNI)
			}
		}},
		{"gre", func(t *testing.T, p gopacket.Packet) {
			if g := p.Layer(layers.LayerTypeGRE).(*layers.GRE); g.Protocol != layers.EthernetTypeIPv4 {
				t.Errorf("GRE protocol %v", g.Protocol)
			}
		}},
		{"link-null", func(t *testing.T, p gopacket.Packet) {
			if l := p.Layer(layers.LayerTypeLoopback).(*layers.Loopback); l.Family != layers.ProtocolFamilyIPv4 {
				t.Errorf("family %v", l.Family)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scenario(t, tt.name)
			var buf bytes.Buffer
			if err := WriteScenario(&buf, s); err != nil {
				t.Fatal(err)
			}
			for _, r := range readCapture(t, buf.Bytes(), s.Options) {
				tt.check(t, r.outer)
			}
		})
	}
}

// TestLinkSLL2Header checks the 20-byte header that gopacket cannot decode.
func TestLinkSLL2Header(t *testing.T) {
	s := scenario(t, "link-sll2")
	var buf bytes.Buffer
	if err := WriteScenario(&buf, s); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if lt := binary.LittleEndian.Uint32(data[20:24]); lt != 276 {
		t.Fatalf("file link type %d", lt)
	}
	frame := data[24+16:]
	if binary.BigEndian.Uint16(frame[0:2]) != 0x0800 || binary.BigEndian.Uint16(frame[8:10]) != 1 || frame[10] != 4 || frame[11] != 6 {
		t.Errorf("SLL2 header % x", frame[:20])
	}
}

// TestGzipStream checks that format-gzip is a valid gzip stream holding
// smtp-basic's bytes.
func TestGzipStream(t *testing.T) {
	var plain, gz bytes.Buffer
	if err := WriteScenario(&plain, scenario(t, "smtp-basic")); err != nil {
		t.Fatal(err)
	}
	if err := WriteScenario(&gz, scenario(t, "format-gzip")); err != nil {
		t.Fatal(err)
	}
	recs := readCapture(t, gz.Bytes(), Options{Gzip: true})
	if len(recs) != len(readCapture(t, plain.Bytes(), Options{})) {
		t.Error("gzip capture has a different number of packets")
	}
	if gz.Bytes()[0] != 0x1f || gz.Bytes()[1] != 0x8b {
		t.Error("not gzip")
	}
	if hex.EncodeToString(gz.Bytes()[4:8]) != "00000000" {
		t.Error("gzip header carries a modification time")
	}
}
