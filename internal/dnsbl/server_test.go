package dnsbl

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// spec is what the fake server answers for one name.
type spec struct {
	rcode       int      // dns.RcodeSuccess unless set
	a           []string // A records
	txt         []string // TXT records (each one string)
	truncateUDP bool     // over UDP answer with TC set and no records
	cname       string   // answer with a CNAME to this name first
}

// fakeZones returns the answers of the fake server, keyed by FQDN.
func fakeZones() map[string]spec {
	return map[string]spec{
		"1.2.0.192.bl.test.": {a: []string{"127.0.0.2"}, txt: []string{"listed: see https://bl.test/192.0.2.1"}},
		"3.2.0.192.bl.test.": {a: []string{"127.255.255.254"}},
		"4.2.0.192.bl.test.": {a: []string{"198.51.100.7"}},
		"5.2.0.192.bl.test.": {rcode: dns.RcodeServerFailure},
		"6.2.0.192.bl.test.": {a: []string{"127.0.0.3"}, txt: []string{"big answer"}, truncateUDP: true},
		"7.2.0.192.bl.test.": {rcode: dns.RcodeRefused},
		"8.2.0.192.bl.test.": {cname: "8.2.0.192.alias.test.", a: []string{"127.0.0.2", "127.0.0.4"}},
		"9.2.0.192.bl.test.": {a: []string{"127.0.0.2"}, txt: []string{"bad\x01text"}},
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test.": {
			a: []string{"127.0.0.2"}, txt: []string{"v6 listed"},
		},
	}
}

// fakeHandler answers from specs; names under silent.test get no answer,
// other names NXDOMAIN.
func fakeHandler(specs map[string]spec) dns.HandlerFunc {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		if len(q.Question) != 1 || strings.HasSuffix(q.Question[0].Name, "silent.test.") {
			return
		}
		qn := q.Question[0].Name
		m := new(dns.Msg)
		m.SetReply(q)
		s, ok := specs[strings.ToLower(qn)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case s.rcode != dns.RcodeSuccess:
			m.Rcode = s.rcode
		case s.truncateUDP && w.RemoteAddr().Network() == "udp":
			m.Truncated = true
		default:
			owner := qn
			if s.cname != "" {
				m.Answer = append(m.Answer, &dns.CNAME{
					Hdr:    dns.RR_Header{Name: qn, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60},
					Target: s.cname,
				})
				owner = s.cname
			}
			switch q.Question[0].Qtype {
			case dns.TypeA:
				for _, a := range s.a {
					m.Answer = append(m.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
						A:   net.ParseIP(a),
					})
				}
			case dns.TypeTXT:
				for _, t := range s.txt {
					m.Answer = append(m.Answer, &dns.TXT{
						Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
						Txt: []string{t},
					})
				}
			}
		}
		_ = w.WriteMsg(m)
	}
}

// startServer starts a DNS server on 127.0.0.1, UDP and TCP on the same
// free port, and returns its address. Cleanup shuts it down and waits for
// its goroutines.
func startServer(t *testing.T, h dns.Handler) string {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatalf("listen tcp on the udp port: %v", err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h},
		{Listener: ln, Handler: h},
	}
	var wg sync.WaitGroup
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		wg.Go(func() { errc <- srv.ActivateAndServe() })
		select {
		case <-started:
		case err := <-errc:
			t.Fatalf("start dns server: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			if err := srv.Shutdown(); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

// testZone is the fake listing zone.
func testZone() Zone {
	return Zone{
		Name:    "bl.test",
		List:    "test-bl",
		Codes:   map[string]string{"127.0.0.2": "test listing", "127.0.0.4": "test exploit"},
		Refused: map[string]string{"127.255.255.254": "refused: open resolver"},
		IPv6:    true,
	}
}

// mustNew returns a Checker or fails the test.
func mustNew(t *testing.T, cfg Config) *Checker {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// resultKey names a result in test messages.
func resultKey(r Result) string {
	return fmt.Sprintf("%v/%s", r.IP, r.Zone)
}
