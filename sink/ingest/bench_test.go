package ingest_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
	"github.com/mxwatch/mxwatch/sink/ingest"
	"github.com/mxwatch/mxwatch/sink/kafka"
)

// benchEvents returns n events in the proportions a sensor writes them
// (per session: about one message, one finding and ten DNS answers), with
// realistic field sizes.
func benchEvents(n int) []event.Event {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	evs := make([]event.Event, 0, n)
	for i := 0; len(evs) < n; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, byte(i >> 8 % 250), byte(i % 250)}), uint16(30000+i%30000))
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 200)}), 25)
		ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		id := fmt.Sprintf("bench-%08d", i)
		switch i % 13 {
		case 0:
			evs = append(evs, &event.Session{Kind: event.KindSession, Version: event.SchemaVersion, ID: id, Start: ts, End: ts.Add(time.Second),
				Client: c, Server: s, Handshake: event.HandshakeCompleted, Helo: "web05.platform.example", Banner: "220 mx.example.org ESMTP ready",
				Extensions: []string{"PIPELINING", "SIZE 52428800", "8BITMIME", "STARTTLS"}, Commands: map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 2, "DATA": 1, "QUIT": 1},
				Replies: []event.Reply{{Command: "MAIL", Code: 250, Enhanced: "2.1.0", Text: "Ok"}, {Command: "RCPT", Code: 250, Enhanced: "2.1.5", Text: "Ok"}, {Command: "DATA", Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4Xyz"}}})
		case 1:
			evs = append(evs, &event.Message{Kind: event.KindMessage, Version: event.SchemaVersion, ID: id + "-0", Session: id, Start: ts, End: ts,
				Client: c, Server: s, MailFrom: "wordpress@shop.example", Recipients: []event.Recipient{{Addr: "a@example.org", Code: 250}, {Addr: "b@example.org", Code: 250}},
				Subject: "Your order", MessageID: "<abc@shop.example>", MessageIDHost: "shop.example", XMailer: "PHPMailer 6.8", Outcome: "accepted"})
		case 2:
			evs = append(evs, &event.Finding{Kind: event.KindFinding, Version: event.SchemaVersion, ID: id, Start: ts, End: ts, Client: c, Server: s,
				Class: event.ClassDirectToMX, Confidence: event.ConfidenceHigh, Pairing: &event.Pairing{Domain: "example.org", MXHost: "mx.example.org", Delay: time.Second},
				Scripts: []string{"php:/home/acct/public_html/x.php"}, Messages: 1, Accepted: 1, Recipients: 2, RecipientDomains: []string{"example.org"}})
		default:
			evs = append(evs, &event.DNS{Kind: event.KindDNS, Version: event.SchemaVersion, ID: id, Time: ts, Client: c, Server: netip.MustParseAddrPort("10.20.0.53:53"),
				QName: "example.org", QType: "MX", RCode: "NOERROR", Transport: "udp", Matched: true,
				Answers:    []event.RR{{Name: "example.org", Type: "MX", TTL: 300, Pref: 10, Host: "mx.example.org"}},
				Additional: []event.RR{{Name: "mx.example.org", Type: "A", TTL: 300, Addr: s.Addr()}}})
		}
	}
	return evs
}

// BenchmarkSink measures the sink path, Kafka (kfake, in-process) to
// Debian's ClickHouse, for several batch sizes: each iteration reads the
// same events as a new consumer group and stores them. Reported:
// events/s. Run with
//
//	go test -run '^$' -bench BenchmarkSink -benchtime 3x ./sink/ingest/
func BenchmarkSink(b *testing.B) {
	const n = 50_000
	srv := chtest.Start(b)
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, kafka.Config{}.Topics()...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	brokers := cl.ListenAddrs()
	ctx := context.Background()
	p, err := kafka.NewProducer(ctx, kafka.Config{Brokers: brokers, QueueSize: n}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, ev := range benchEvents(n) {
		if err := p.Publish(ev); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	chc := clickhouse.Config{Addr: srv.Addr, Database: "mxbench"}
	conn, err := clickhouse.Dial(chc)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := clickhouse.Migrate(ctx, conn, chc); err != nil {
		b.Fatal(err)
	}
	group := 0
	for _, size := range []int{100, 1000, 5000, 20000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			var elapsed time.Duration
			for b.Loop() {
				group++
				cons, err := kafka.NewConsumer(ctx, kafka.ConsumerConfig{Config: kafka.Config{Brokers: brokers, CreateTopics: true},
					GroupID: fmt.Sprintf("bench-%d", group), MaxWait: 50 * time.Millisecond}, nil)
				if err != nil {
					b.Fatal(err)
				}
				in := ingest.New(cons, clickhouse.NewWriter(conn, chc), ingest.Config{BatchSize: size, BatchTimeout: 200 * time.Millisecond})
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- in.Run(rctx) }()
				// Joining the group is not the sink path: the clock
				// starts at the first message.
				for in.Stats().Fetched == 0 {
					time.Sleep(time.Millisecond)
				}
				start := time.Now()
				for stored(in) < n {
					time.Sleep(time.Millisecond)
				}
				elapsed += time.Since(start)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if err := cons.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

func stored(in *ingest.Ingester) int {
	var t uint64
	for _, v := range in.Stats().Stored {
		t += v
	}
	return int(t)
}
