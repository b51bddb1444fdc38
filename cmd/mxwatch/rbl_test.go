package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// fakeDNSBL serves the zone bl.test on a loopback UDP port: 203.0.113.10
// is listed (127.0.0.2 with a TXT reason), everything else is not.
func fakeDNSBL(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("bl.test.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if strings.EqualFold(q.Name, "10.113.0.203.bl.test.") {
			switch q.Qtype {
			case dns.TypeA:
				rr, _ := dns.NewRR(q.Name + " 60 IN A 127.0.0.2")
				m.Answer = append(m.Answer, rr)
			case dns.TypeTXT:
				rr, _ := dns.NewRR(q.Name + ` 60 IN TXT "listed for spam, see https://bl.test/lookup"`)
				m.Answer = append(m.Answer, rr)
			}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestRBLCheck(t *testing.T) {
	resolver := fakeDNSBL(t)
	events := filepath.Join(t.TempDir(), "listings.jsonl")
	base := []string{"--config", os.DevNull, "rbl", "check", "--resolver", resolver, "--zone", "bl.test"}

	code, out, errs := mxwatch(t, append(base, "--events", events, "203.0.113.10", "203.0.113.11")...)
	if code != exitListed {
		t.Fatalf("exit %d, want %d (listed): %s%s", code, exitListed, out, errs)
	}
	for _, want := range []string{"203.0.113.10", "listed", "127.0.0.2", "listed for spam", "203.0.113.11", "clean"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"kind":"alert"`); n != 1 || !strings.Contains(string(data), `"rule":"dnsbl"`) {
		t.Errorf("want one dnsbl alert event, got:\n%s", data)
	}

	if code, out, errs := mxwatch(t, append(base, "203.0.113.11")...); code != exitOK {
		t.Errorf("clean address: exit %d: %s%s", code, out, errs)
	}
	if code, _, errs := mxwatch(t, append(base, "not-an-ip")...); code != exitUsage || !strings.Contains(errs, "not an IP address") {
		t.Errorf("bad address: exit %d: %s", code, errs)
	}
	// Without arguments the egress addresses of the configuration are checked.
	t.Setenv("MXWATCH_PLATFORM_EGRESS", "10.0.0.0/8=203.0.113.10")
	if code, out, _ := mxwatch(t, base...); code != exitListed || !strings.Contains(out, "203.0.113.10") {
		t.Errorf("egress addresses: exit %d:\n%s", code, out)
	}
}
