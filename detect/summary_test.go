package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func session(client, server string, hs event.Handshake, replies ...event.Reply) *event.Session {
	return &event.Session{Kind: event.KindSession, Start: t0, End: t0.Add(time.Second),
		Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), Handshake: hs, Replies: replies}
}

func message(client, outcome string, size int64, rcpts ...string) *event.Message {
	m := &event.Message{Kind: event.KindMessage, Start: t0, Client: netip.MustParseAddrPort(client), Outcome: outcome, Size: size}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, event.Recipient{Addr: r})
	}
	return m
}

func mx(client, name string, hosts ...string) *event.DNS {
	d := &event.DNS{Kind: event.KindDNS, Time: t0, Client: netip.MustParseAddrPort(client), QName: name, QType: "MX"}
	for _, h := range hosts {
		d.Answers = append(d.Answers, event.RR{Name: name, Type: "MX", Host: h})
	}
	return d
}

func TestAggregator(t *testing.T) {
	rej := event.Reply{Command: "EOD", Code: 554, Enhanced: "5.7.1", Text: "blocked using zen.spamhaus.org\nsee https://www.spamhaus.org"}
	evs := []event.Event{
		mx("10.0.0.5:1000", "gmail.com", "a.gmail.com", "b.gmail.com"),
		mx("10.0.0.5:1001", "gmail.com", "a.gmail.com"),
		message("10.0.0.5:4000", event.OutcomeAccepted, 100, "x@Gmail.com", "y@gmail.com"),
		message("10.0.0.5:4000", event.OutcomeRejected, 50, "z@outlook.com"),
		session("10.0.0.5:4000", "192.0.2.1:25", event.HandshakeCompleted, rej),
		session("10.0.0.5:4001", "192.0.2.1:25", event.HandshakeRefused),
		session("10.0.0.6:4000", "192.0.2.2:587", event.HandshakeCompleted),
		&event.DNS{Kind: event.KindDNS, Time: t0, QType: "A", QName: "a.gmail.com"},
	}
	a := NewAggregator(SummaryConfig{Top: 5, Capacity: 100})
	for _, ev := range evs {
		a.Add(ev)
	}
	s := a.Summary([]event.Counter{{Stage: "read", Name: "packets", Count: 9}})
	checks := []struct {
		name      string
		got, want any
	}{
		{"sessions", s.Sessions, uint64(3)},
		{"ports", fmt.Sprint(s.SessionsByPort), "[{25 2 [{completed 1} {refused 1}]} {587 1 [{completed 1}]}]"},
		{"messages", s.Messages, uint64(2)},
		{"outcomes", fmt.Sprint(s.MessagesByOutcome), "[{accepted 1} {rejected 1}]"},
		{"bytes", s.MessageBytes, uint64(150)},
		{"recipients", s.Recipients, uint64(3)},
		{"top talker", fmt.Sprint(s.TopTalkers[0]), "{10.0.0.5 2 2 3}"},
		{"talkers", len(s.TopTalkers), 2},
		{"domains", fmt.Sprint(s.TopDomains), "[{gmail.com 2} {outlook.com 1}]"},
		{"rejections", fmt.Sprint(s.TopRejections), "[{EOD 554 5.7.1 blocked using zen.spamhaus.org 1}]"},
		{"mx lookups", s.MXLookups, uint64(2)},
		{"mx domains", fmt.Sprint(s.TopMXDomains), "[{gmail.com 2 [a.gmail.com b.gmail.com]}]"},
		{"dns by type", fmt.Sprint(s.DNSByType), "[{MX 2} {A 1}]"},
		{"exact", s.RankingsAreExact, true},
		{"counters", len(s.Counters), 1},
		{"first", s.First, t0},
		{"last", s.Last, t0.Add(time.Second)},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestTopKBounded feeds many distinct keys and a few heavy ones: memory
// stays at the capacity, the heavy hitters are found, and the result says
// it is an estimate.
func TestTopKBounded(t *testing.T) {
	k := newTopK[int](50)
	for i := range 100000 {
		k.add(i, 1)
		if i%10 == 0 {
			k.add(-1, 1)
		}
		if i%20 == 0 {
			k.add(-2, 1)
		}
	}
	if len(k.index) != 50 || len(k.heap) != 50 {
		t.Fatalf("tracking %d/%d keys, want 50", len(k.index), len(k.heap))
	}
	top := k.top(2, func(a, b int) int { return a - b })
	if top[0].key != -1 || top[1].key != -2 {
		t.Errorf("top keys %d, %d; want -1, -2", top[0].key, top[1].key)
	}
	if top[0].count < 10000 || top[0].count-top[0].err > 10000 {
		t.Errorf("count of -1 is %d (overestimate at most %d), true count 10000", top[0].count, top[0].err)
	}
	if k.exact() {
		t.Error("exact() after replacements")
	}
}

func TestTopKExactBelowCapacity(t *testing.T) {
	k := newTopK[string](10)
	for i, key := range []string{"a", "b", "a", "c", "a", "b"} {
		k.add(key, uint64(i%2+1))
	}
	var got []string
	for _, e := range k.top(3, func(a, b string) int {
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	}) {
		got = append(got, fmt.Sprintf("%s=%d", e.key, e.count))
	}
	if want := []string{"b=4", "a=3", "c=2"}; !slices.Equal(got, want) || !k.exact() {
		t.Errorf("got %v (exact %v), want %v", got, k.exact(), want)
	}
}

func TestFirstLine(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain", "550 no such user", 100, "550 no such user"},
		{"multi-line", "first\nsecond", 100, "first"},
		{"control bytes", "bad\x1b[31mred\x00", 100, "bad.[31mred."},
		{"invalid utf8", "a\xffb", 100, "a.b"},
		{"long", "0123456789", 5, "01234..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstLine(tt.in, tt.n); got != tt.want {
				t.Errorf("firstLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
