package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// publicDir holds real captures written by others (see its MANIFEST.md);
// it exists on the development machines, not in a user's clone.
const publicDir = "../../../shared/pcaps/public"

// TestPublicVerdicts classifies real third-party captures with the default
// configuration (no platform networks: every client counts as inside) and
// checks the verdicts we state for them, with the reason for each.
func TestPublicVerdicts(t *testing.T) {
	if _, err := os.Stat(publicDir); err != nil {
		t.Skipf("public captures not present (%v): they live next to the repository on development machines", err)
	}
	tests := []struct {
		file string
		// want lists "class/confidence group" per finding, sorted.
		want []string
		// lists are blocklist/provider hits expected over all findings.
		lists  []string
		reason string
	}{
		{"arkime--smtp-data-250.pcap", []string{"submission/high yahoo"}, nil,
			"AOL submission on 587 with AUTH; aol.com belongs to the yahoo group"},
		{"arkime--smtp-data-521.pcap", []string{"submission/high yahoo"}, []string{"yahoo"},
			"AOL submission on 587, message rejected with AOL's 521 'image puzzle' anti-spam policy text"},
		{"arkime--ntlm_synthetic.pcap", []string{"external-relay-25/high other"}, nil,
			"AUTH (NTLM) on port 25 to a server outside the platform: an external relay on 25"},
		{"suricata-verify--bug-3616-smtp.pcap", []string{"external-relay-25/high yahoo"}, nil,
			"the Wireshark sample: AUTH LOGIN on port 25 to Exim, recipients at yahoo"},
		{"zeek--smtp.pcap", []string{"direct-25/none yahoo", "external-relay-25/high yahoo"}, nil,
			"the Wireshark sample (AUTH on 25) and a second client without AUTH and without a lookup in the capture"},
		{"arkime--smtp-starttls.pcap", []string{"direct-25/none gmail"}, nil,
			"port 25 straight to a Google MX (greets as mx.google.com) without an MX lookup in the capture: direct-25, group gmail"},
		{"zeek--communityid_ipv6.pcap", []string{"direct-25/none gmail"}, nil,
			"IPv6 port 25 to a Google MX, no lookup in the capture"},
		{"suricata-verify--smtp-errors_smtperr.pcap", []string{"direct-25/none other", "direct-25/none other", "direct-25/none yahoo", "submission/high other"}, nil,
			"spam bots on port 25 to several MXs (no lookups captured) and one SMTPS connection on 465"},
		{"suricata-verify--smtp-tls-protodetect.pcap", []string{"submission/high other"}, nil,
			"implicit TLS on 465 is submission"},
		{"arkime--dns-mx.pcap", nil, nil, "DNS only: no connection, no finding"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			events := filepath.Join(dir, tt.file+".jsonl")
			code, _, errs := mxwatch(t, "analyze", "--config", os.DevNull, "--format", "none", "--events", events, filepath.Join(publicDir, tt.file))
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got, lists []string
			for _, fd := range readFindings(t, events) {
				got = append(got, fmt.Sprintf("%s/%s %s", fd.Class, fd.Confidence, fd.Group))
				for _, h := range fd.Blocklist {
					lists = append(lists, h.List)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("verdicts %q, want %q (%s)", got, tt.want, tt.reason)
			}
			if !slices.Equal(lists, tt.lists) {
				t.Errorf("blocklist hits %q, want %q (%s)", lists, tt.lists, tt.reason)
			}
		})
	}
}
