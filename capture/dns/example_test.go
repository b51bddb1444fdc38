package dns_test

import (
	"fmt"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/capture/dns"
	"github.com/mxwatch/mxwatch/event"
)

func Example() {
	tr, err := dns.NewTracker(dns.DefaultConfig(), func(e *event.DNS) {
		fmt.Println(e.Client.Addr(), "asked", e.QType, e.QName, "->", e.RCode, "matched:", e.Matched)
		for _, rr := range e.Answers {
			fmt.Println("  answer", rr.Pref, rr.Host)
		}
		for _, rr := range e.Additional {
			fmt.Println("  additional", rr.Name, rr.Addr)
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	q := new(mdns.Msg)
	q.SetQuestion("Example.COM.", mdns.TypeMX)
	r := new(mdns.Msg)
	r.SetReply(q)
	mx, _ := mdns.NewRR("example.com. 300 IN MX 10 mx.example.net.")
	a, _ := mdns.NewRR("mx.example.net. 300 IN A 192.0.2.25")
	r.Answer, r.Extra = []mdns.RR{mx}, []mdns.RR{a}
	qb, _ := q.Pack()
	rb, _ := r.Pack()

	client := netip.MustParseAddrPort("192.0.2.10:40000")
	server := netip.MustParseAddrPort("192.0.2.53:53")
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tr.Message(qb, dns.Meta{Time: now, Src: client, Dst: server, Transport: "udp"})
	tr.Message(rb, dns.Meta{Time: now.Add(time.Millisecond), Src: server, Dst: client, Transport: "udp"})
	tr.Close()
	s := tr.Stats()
	fmt.Printf("MX queries %d / responses %d\n", s.QueriesByType["MX"], s.ResponsesByType["MX"])
	// Output:
	// 192.0.2.10 asked MX example.com -> NOERROR matched: true
	//   answer 10 mx.example.net
	//   additional mx.example.net 192.0.2.25
	// MX queries 1 / responses 1
}

func ExampleFramer() {
	var f dns.Framer
	stream := []byte{0, 3, 'a', 'b', 'c', 0, 2, 'd'}
	f.Data(stream[:4], func(msg []byte) { fmt.Printf("%s\n", msg) })
	f.Data(stream[4:], func(msg []byte) { fmt.Printf("%s\n", msg) })
	f.Data([]byte{'e'}, func(msg []byte) { fmt.Printf("%s\n", msg) })
	f.Close()
	fmt.Printf("%+v\n", f.Stats())
	// Output:
	// abc
	// de
	// {Messages:2 Desync:0 DiscardedBytes:0 Truncated:0}
}
