package spike

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// BenchmarkObserve measures observations per second with 3 scopes, 2,000
// hosts, 200 customers, 8 egress addresses and 4 groups: one observation
// every 10 ms of packet time, so windows close as they would live.
func BenchmarkObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := []string{"gmail", "microsoft", "yahoo", "other"}
	customers := make([]string, 200)
	for i := range customers {
		customers[i] = "customer-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	const n = 1 << 14
	obs := make([]Observation, n)
	for i := range obs {
		h := rng.IntN(2000)
		obs[i] = Observation{
			Host:        netip.AddrFrom4([4]byte{10, 1, byte(h >> 8), byte(h)}),
			Customer:    customers[h%len(customers)],
			Egress:      netip.AddrFrom4([4]byte{203, 0, 113, byte(h % 8)}),
			Group:       groups[rng.IntN(len(groups))],
			Connections: 1,
			Messages:    1 + rng.IntN(3),
			Scripts:     []string{"php:/home/u/contact.php"},
			Domains:     []string{"gmail.com"},
		}
		obs[i].Sensitive = obs[i].Group != "other"
	}
	d := newDetector(b, nil)
	var alerts []*event.Alert
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		o := obs[i%n]
		o.Time = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		alerts = d.Observe(o, alerts[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkKeyMemory reports the heap bytes per tracked key (History 12,
// no evidence), the figure behind the MaxKeys default.
func BenchmarkKeyMemory(b *testing.B) {
	const keys = 50_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := newDetector(b, func(c *Config) { c.Scopes = []string{ScopeHost}; c.MaxKeys = keys })
		for i := range keys {
			d.Observe(Observation{
				Time: t0, Host: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
				Group: "gmail", Connections: 1, Messages: 1,
			}, nil)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "B/key")
		runtime.KeepAlive(d)
	}
}
