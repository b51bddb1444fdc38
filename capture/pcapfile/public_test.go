package pcapfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publicDir holds real third-party captures described by its MANIFEST.md.
// It sits beside the repository on development machines; a clone of the
// repository alone does not have it.
const publicDir = "../../../shared/pcaps/public"

// publicFiles copies the "packets" and "format / link type" columns of
// publicDir/MANIFEST.md (capinfos). Link types: 0 BSD loopback, 1
// Ethernet, 228 raw IPv4.
var publicFiles = []struct {
	name    string
	packets int
	format  string
	link    uint32
}{
	{name: "arkime--6-4-gre-ppp-udp-4-dns.pcap", packets: 2, format: "pcap", link: 1},
	{name: "arkime--arkime_synthetic.pcap", packets: 918, format: "pcap", link: 1},
	{name: "arkime--dns-mx.pcap", packets: 2, format: "pcap", link: 1},
	{name: "arkime--dns-tcp.pcap", packets: 20, format: "pcap", link: 1},
	{name: "arkime--dns-wiresharkrepo.pcap", packets: 38, format: "pcap", link: 1},
	{name: "arkime--ntlm_synthetic.pcap", packets: 218, format: "pcap", link: 1},
	{name: "arkime--smtp-data-250.pcap", packets: 30, format: "pcap", link: 1},
	{name: "arkime--smtp-data-521.pcap", packets: 38, format: "pcap", link: 1},
	{name: "arkime--smtp-decrypted.pcap", packets: 110, format: "pcap", link: 1},
	{name: "arkime--smtp-nospaces.pcap", packets: 19, format: "pcap", link: 1},
	{name: "arkime--smtp-originating.pcap", packets: 24, format: "pcap", link: 1},
	{name: "arkime--smtp-rcpt-553.pcap", packets: 16, format: "pcap", link: 1},
	{name: "arkime--smtp-starttls.pcap", packets: 36, format: "pcap", link: 1},
	{name: "arkime--socks5-smtp-503.pcap", packets: 20, format: "pcap", link: 1},
	{name: "arkime--v6.pcap", packets: 161, format: "pcap", link: 1},
	{name: "arkime--wireshark-bdat.pcap", packets: 20, format: "pcap", link: 1},
	{name: "chrissanders--dns_tcp.pcapng", packets: 14, format: "pcapng", link: 1},
	{name: "chrissanders--mail_receiver_server_3.pcapng", packets: 54, format: "pcapng", link: 1},
	{name: "chrissanders--mail_sender_attachment.pcapng", packets: 58, format: "pcapng", link: 1},
	{name: "chrissanders--mail_sender_client_1.pcapng", packets: 23, format: "pcapng", link: 1},
	{name: "chrissanders--mail_sender_server_2.pcapng", packets: 38, format: "pcapng", link: 1},
	{name: "dnscap--dnso1tcp.pcap", packets: 212, format: "pcap", link: 1},
	{name: "dnscap--frags.pcap", packets: 495, format: "pcap", link: 228},
	{name: "dnscap--vlan11.pcap", packets: 133, format: "pcap", link: 1},
	{name: "ipfixprobe--dns.pcap", packets: 16, format: "pcap", link: 1},
	{name: "ipfixprobe--vlan.pcap", packets: 6, format: "pcapng", link: 1},
	{name: "markofu-pcaps--HackChallenge_Cmas2011.pcap", packets: 1176, format: "pcap", link: 1},
	{name: "markofu-pcaps--evidence02.pcap", packets: 572, format: "pcap", link: 1},
	{name: "mercury--capture2.pcap", packets: 5617, format: "pcap", link: 1},
	{name: "mercury--smtp.pcap", packets: 9, format: "pcap", link: 1},
	{name: "ndpi--dns_exfiltration.pcap", packets: 300, format: "pcap", link: 1},
	{name: "ndpi--emotet.pcap", packets: 169, format: "pcap", link: 1},
	{name: "ndpi--smtp-starttls.pcap", packets: 69, format: "pcap", link: 1},
	{name: "ndpi--smtp.pcap", packets: 95, format: "pcap", link: 1},
	{name: "ndpi--smtps.pcapng", packets: 4, format: "pcapng", link: 1},
	{name: "ndpi--tk.pcap", packets: 6, format: "pcap", link: 1},
	{name: "ndpi--vxlan.pcap", packets: 127, format: "pcap", link: 1},
	{name: "pcapplusplus--Dns4.pcap", packets: 1, format: "pcap", link: 1},
	{name: "pcapplusplus--Smtp.pcap", packets: 8, format: "pcap", link: 1},
	{name: "suricata-verify--bug-3616-smtp.pcap", packets: 60, format: "pcap", link: 1},
	{name: "suricata-verify--detect-email-received.pcap", packets: 65, format: "pcap", link: 1},
	{name: "suricata-verify--dns-eve-type-filtering.pcap", packets: 14, format: "pcap", link: 1},
	{name: "suricata-verify--dns-tcp-multirequest-buffer.pcap", packets: 48, format: "pcap", link: 1},
	{name: "suricata-verify--dns-udp-google.com-a-aaaa-mx.pcap", packets: 6, format: "pcap", link: 1},
	{name: "suricata-verify--dns-with-additionals.pcap", packets: 2, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-127_smtp-interactive.pcap", packets: 31, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-130_smtp-rset-after-rcpt.pcap", packets: 27, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-132_smtp-nested-mail.pcap", packets: 23, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-133_smtp-out-of-order.pcap", packets: 25, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-135_smtp-multi-mail.pcap", packets: 39, format: "pcap", link: 1},
	{name: "suricata-verify--firewall-139_smtp-pipelined-post-data-mail-from.pcap", packets: 29, format: "pcap", link: 1},
	{name: "suricata-verify--issue-4220-01-ids_1flowB.pcap", packets: 1358, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-bdat-bad-tail-next-mail.pcap", packets: 17, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-bdat-zero-last-next-mail.pcap", packets: 27, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-bug-5981.pcap", packets: 47, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-data-rejected.pcap", packets: 199, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-errors_smtperr.pcap", packets: 158, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-no-helo-quit.pcap", packets: 11, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-pipelined-rset-after-complete.pcap", packets: 29, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-pipelining.pcap", packets: 18, format: "pcap", link: 0},
	{name: "suricata-verify--smtp-rejected-ehlo-preserves-envelope.pcap", packets: 23, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-rset.pcap", packets: 42, format: "pcap", link: 0},
	{name: "suricata-verify--smtp-startssl.pcap", packets: 38, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-tls-protodetect.pcap", packets: 7, format: "pcap", link: 1},
	{name: "suricata-verify--smtp-url-base64_smtp-url-b64.pcap", packets: 56, format: "pcap", link: 0},
	{name: "suricata-verify--vxlan-decoder-03_vxlan.pcap", packets: 100, format: "pcap", link: 1},
	{name: "zeek--communityid_ipv6.pcap", packets: 17, format: "pcap", link: 1},
	{name: "zeek--dns-two-responses.pcap", packets: 3, format: "pcap", link: 1},
	{name: "zeek--erspan.pcap", packets: 287, format: "pcap", link: 1},
	{name: "zeek--http_connect-with-smtp.pcap", packets: 30, format: "pcap", link: 1},
	{name: "zeek--ipv6-fragmented-dns.pcap", packets: 8, format: "pcap", link: 1},
	{name: "zeek--smtp-attachment-msg.pcap", packets: 17, format: "pcap", link: 1},
	{name: "zeek--smtp-mail-transactions-invalid.pcap", packets: 76, format: "pcap", link: 1},
	{name: "zeek--smtp-multi-addr.pcap", packets: 21, format: "pcap", link: 1},
	{name: "zeek--smtp-one-side-only.pcap", packets: 19, format: "pcap", link: 1},
	{name: "zeek--smtp.pcap", packets: 125, format: "pcap", link: 1},
	{name: "zeek--smtp_rfc3030-bdat-0-last.pcap", packets: 26, format: "pcap", link: 1},
	{name: "zeek--smtp_rfc3030-bdat-example1.pcap", packets: 28, format: "pcap", link: 1},
	{name: "zeek--smtp_rfc3030-bdat-multipart-chunked.pcap", packets: 184, format: "pcap", link: 1},
	{name: "zeek--smtp_rfc3030-bdat-nonascii.pcap", packets: 22, format: "pcap", link: 1},
	{name: "zeek--smtp_smtp-bdat-cmd-invalid.pcapng", packets: 66, format: "pcapng", link: 1},
	{name: "zeek--smtp_smtp-bdat-gap.pcap", packets: 40, format: "pcap", link: 1},
	{name: "zeek--smtp_smtp-bdat-pipeline-8bitmime.pcap", packets: 33, format: "pcap", link: 1},
	{name: "zeek--smtp_smtp-many-addresses.pcap", packets: 2508, format: "pcap", link: 1},
	{name: "zeek--tls_smtp-starttls.pcap", packets: 37, format: "pcap", link: 1},
	{name: "zeek--tunnels_geneve-vxlan-dns-truncated.pcap", packets: 2, format: "pcap", link: 1},
	{name: "zeek--tunnels_gre-over-udp-4754.pcap", packets: 14, format: "pcap", link: 1},
	{name: "zeek--tunnels_gre-sample.pcap", packets: 40, format: "pcap", link: 1},
	{name: "zeek--tunnels_vxlan-triple-v2.pcap", packets: 1, format: "pcap", link: 1},
}

func TestPublicCaptures(t *testing.T) {
	entries, err := os.ReadDir(publicDir)
	if os.IsNotExist(err) {
		t.Skipf("public captures not available: %s does not exist (it is outside the repository)", publicDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range publicFiles {
		listed[f.name] = true
	}
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasSuffix(n, ".md") && !strings.HasSuffix(n, ".tsv") && !listed[n] {
			t.Errorf("%s is not in the table of expected packet counts", n)
		}
	}
	for _, tt := range publicFiles {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(filepath.Join(publicDir, tt.name))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format() != tt.format && !(tt.format == "pcap" && r.Format() == "pcap-ns") {
				t.Errorf("format %q, want %q", r.Format(), tt.format)
			}
			n, links := 0, map[uint32]int{}
			for {
				p, err := r.Next()
				if err != nil {
					if err != io.EOF {
						t.Fatalf("after %d packets: %v", n, err)
					}
					break
				}
				n++
				links[p.LinkType]++
			}
			if n != tt.packets {
				t.Errorf("read %d packets, MANIFEST.md says %d", n, tt.packets)
			}
			if n > 0 && links[tt.link] != n {
				t.Errorf("link types %v, want all %d", links, tt.link)
			}
			done, total := r.Progress()
			if done != total {
				t.Errorf("Progress() = %d, %d at the end", done, total)
			}
		})
	}
}
