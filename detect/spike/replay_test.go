package spike

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// sender describes the generated traffic of one host towards one group.
type sender struct {
	host     netip.Addr
	customer string
	egress   netip.Addr
	group    string
	// conns is the mean number of connections per 5-minute window; each
	// window draws uniformly within ±jitter of it. msgs draws the messages
	// of each connection uniformly in [msgs[0], msgs[1]].
	conns  int
	jitter int
	msgs   [2]int
	script string
}

// generate returns the observations of s from `from` to `to`, at rate
// times the normal connection rate, with timestamps spread uniformly
// within each window. The generator is deterministic for a given rng.
func (s sender) generate(rng *rand.Rand, from, to time.Time, rate int) []Observation {
	const w = 5 * time.Minute
	var out []Observation
	for start := from; start.Before(to); start = start.Add(w) {
		span := min(w, to.Sub(start))
		n := s.conns + rng.IntN(2*s.jitter+1) - s.jitter
		n = n * rate * int(span) / int(w)
		for range n {
			out = append(out, Observation{
				Time:        start.Add(time.Duration(rng.Int64N(int64(span)))),
				Host:        s.host,
				Customer:    s.customer,
				Egress:      s.egress,
				Group:       s.group,
				Sensitive:   s.group != "other",
				Connections: 1,
				Messages:    s.msgs[0] + rng.IntN(s.msgs[1]-s.msgs[0]+1),
				Scripts:     []string{s.script},
				Domains:     []string{s.group + ".example"},
			})
		}
	}
	return out
}

// byTime sorts observations by time (then host, for equal times).
func byTime(obs []Observation) []Observation {
	slices.SortStableFunc(obs, func(a, b Observation) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return a.Host.Compare(b.Host)
	})
	return obs
}

// spikeScenario: three hosts with steady noisy traffic for 3h (plus steady
// traffic to a non-sensitive group), then host A sends 30 times its volume
// for 20 minutes from 3h02m, then everyone is back to normal until 4h30m.
func spikeScenario(seed uint64) (obs []Observation, spikeStart, spikeEnd time.Time) {
	rng := rand.New(rand.NewPCG(seed, 1))
	egress := netip.MustParseAddr("203.0.113.1")
	senders := []sender{
		{host: hostA, customer: "acme", egress: egress, group: "gmail", conns: 15, jitter: 5, msgs: [2]int{1, 3}, script: "php:/home/acme/public_html/contact.php"},
		{host: hostB, customer: "bravo", egress: egress, group: "gmail", conns: 12, jitter: 6, msgs: [2]int{1, 4}, script: "php:/home/bravo/wp/wp-mail.php"},
		{host: hostC, customer: "charlie", egress: egress, group: "microsoft", conns: 20, jitter: 8, msgs: [2]int{1, 2}, script: "x-mailer:PHPMailer 6.1"},
		{host: hostC, customer: "charlie", egress: egress, group: "other", conns: 30, jitter: 15, msgs: [2]int{1, 3}, script: "x-mailer:PHPMailer 6.1"},
	}
	end := t0.Add(4*time.Hour + 30*time.Minute)
	spikeStart = t0.Add(3*time.Hour + 2*time.Minute)
	spikeEnd = spikeStart.Add(20 * time.Minute)
	for _, s := range senders {
		obs = append(obs, s.generate(rng, t0, end, 1)...)
	}
	// 29 more times host A's normal rate during the spike: 30x in total.
	spam := senders[0]
	spam.script = "php:/home/acme/public_html/wp-content/uploads/x.php"
	obs = append(obs, spam.generate(rng, spikeStart, spikeEnd, 29)...)
	return byTime(obs), spikeStart, spikeEnd
}

func TestReplaySpike(t *testing.T) {
	obs, spikeStart, spikeEnd := spikeScenario(42)
	d := newDetector(t, nil)
	alerts := replay(t, d, obs)
	if len(alerts) == 0 {
		t.Fatal("no alerts for a 30x spike")
	}
	w := 5 * time.Minute
	first := make(map[string]*event.Alert) // by scope, messages metric
	for _, a := range alerts {
		switch {
		case a.Scope == ScopeHost && a.Source == hostA.String():
		case a.Scope == ScopeCustomer && a.Source == "acme":
		case a.Scope == ScopeEgress && a.Source == "203.0.113.1":
		default:
			t.Errorf("alert for a quiet source: %s", a.Summary)
			continue
		}
		// The baseline period is quiet for everyone: every alert is in a
		// window that overlaps the spike.
		if !a.Time.After(spikeStart) || !a.WindowStart.Before(spikeEnd) {
			t.Errorf("alert outside the spike %v..%v: %s at %v", spikeStart, spikeEnd, a.Summary, a.WindowStart)
		}
		if a.Rule != RuleSpike || a.Group != "gmail" {
			t.Errorf("alert %s: rule %q group %q, want spike towards gmail", a.Summary, a.Rule, a.Group)
		}
		if a.Scope == ScopeHost && a.Severity != event.SeverityCritical {
			t.Errorf("host alert at 30x is %s: %s", a.Severity, a.Summary)
		}
		if a.Metric == MetricMessages && first[a.Scope] == nil {
			first[a.Scope] = a
		}
	}
	for _, scope := range []string{ScopeHost, ScopeCustomer, ScopeEgress} {
		a := first[scope]
		if a == nil {
			t.Errorf("no %s messages alert", scope)
			continue
		}
		// Within one window of the spike's start: the window holding it.
		if a.Time.After(spikeStart.Add(w)) {
			t.Errorf("first %s alert only at %v, spike began %v", scope, a.Time, spikeStart)
		}
		if len(a.TopScripts) == 0 || a.TopScripts[0] != "php:/home/acme/public_html/wp-content/uploads/x.php" {
			t.Errorf("%s alert: top script %q, want the spamming script", scope, a.TopScripts)
		}
		t.Logf("%s: %s [%s]", scope, a.Summary, a.Severity)
	}
}

// TestReplayDeterministic replays the same input twice and expects
// identical alerts, IDs included; other noise must give other alerts, or
// the comparison proves nothing.
func TestReplayDeterministic(t *testing.T) {
	tests := []struct {
		name  string
		seeds [2]uint64
		same  bool
	}{
		{"same input", [2]uint64{7, 7}, true},
		{"other noise", [2]uint64{7, 8}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs [2][]*event.Alert
			for i, seed := range tt.seeds {
				obs, _, _ := spikeScenario(seed)
				runs[i] = replay(t, newDetector(t, nil), obs)
			}
			if len(runs[0]) == 0 {
				t.Fatal("no alerts to compare")
			}
			if got := reflect.DeepEqual(runs[0], runs[1]); got != tt.same {
				t.Errorf("runs equal = %v, want %v", got, tt.same)
			}
		})
	}
}

// TestReplayRelay: a steady high-volume relay (500 messages per window
// ±10%) for 6 hours raises nothing; the same relay with one window at 5x
// does alert, so the quiet result is not for want of volume.
func TestReplayRelay(t *testing.T) {
	relay := sender{
		host: netip.MustParseAddr("10.0.0.25"), customer: "platform", egress: netip.MustParseAddr("203.0.113.25"),
		group: "gmail", conns: 50, jitter: 0, msgs: [2]int{9, 11}, script: "relay",
	}
	tests := []struct {
		name  string
		burst int // rate of the window at 5h, 1 for none
		want  int
	}{
		{"steady", 1, 0},
		// messages and connections, for host, customer and egress.
		{"one window at 5x", 5, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			burstAt := t0.Add(5 * time.Hour)
			obs := relay.generate(rng, t0, burstAt, 1)
			obs = append(obs, relay.generate(rng, burstAt, burstAt.Add(5*time.Minute), tt.burst)...)
			obs = append(obs, relay.generate(rng, burstAt.Add(5*time.Minute), t0.Add(6*time.Hour), 1)...)
			msgs := make(map[int64]int)
			for _, o := range obs {
				msgs[o.Time.Unix()/300] += o.Messages
			}
			for w, n := range msgs {
				if (n < 450 || n > 550) && w != burstAt.Unix()/300 {
					t.Fatalf("generator: window %d has %d messages, want 500 ±10%%", w, n)
				}
			}
			d := newDetector(t, nil)
			alerts := replay(t, d, byTime(obs))
			if len(alerts) != tt.want {
				t.Fatalf("%d alerts %q, want %d", len(alerts), summaries(alerts), tt.want)
			}
			for _, a := range alerts {
				if !a.WindowStart.Equal(burstAt) {
					t.Errorf("alert %s at %v, want the 5x window", a.Summary, a.WindowStart)
				}
			}
			if s := d.Stats(); s.Observations != uint64(len(obs)) || s.Late != 0 || s.Keys != 3 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestOutOfOrderReplay shuffles the spike scenario within one window of
// disorder: the alerts are the same as in order (up to when they are
// emitted), because late observations are still counted in their window.
func TestOutOfOrderReplay(t *testing.T) {
	obs, _, _ := spikeScenario(42)
	inOrder := replay(t, newDetector(t, nil), obs)
	// Delay every other observation by up to 4 minutes: each arrives after
	// some later ones, at most one window late.
	rng := rand.New(rand.NewPCG(9, 9))
	type arrival struct {
		at time.Time
		o  Observation
	}
	arr := make([]arrival, len(obs))
	for i, o := range obs {
		arr[i] = arrival{o.Time, o}
		if i%2 == 1 {
			arr[i].at = o.Time.Add(time.Duration(rng.Int64N(int64(4 * time.Minute))))
		}
	}
	slices.SortStableFunc(arr, func(a, b arrival) int { return a.at.Compare(b.at) })
	shuffled := make([]Observation, len(arr))
	for i, a := range arr {
		shuffled[i] = a.o
	}
	d := newDetector(t, nil)
	got := replay(t, d, shuffled)
	if d.Stats().Late != 0 {
		t.Fatalf("%d late observations", d.Stats().Late)
	}
	key := func(a *event.Alert) string { return a.ID }
	slices.SortFunc(inOrder, func(a, b *event.Alert) int { return cmp.Compare(key(a), key(b)) })
	slices.SortFunc(got, func(a, b *event.Alert) int { return cmp.Compare(key(a), key(b)) })
	if len(got) != len(inOrder) {
		t.Fatalf("%d alerts out of order, %d in order:\n%q\n%q", len(got), len(inOrder), summaries(got), summaries(inOrder))
	}
	for i := range got {
		if got[i].ID != inOrder[i].ID {
			t.Errorf("alert %d: %s, in order %s", i, got[i].Summary, inOrder[i].Summary)
		}
	}
}
