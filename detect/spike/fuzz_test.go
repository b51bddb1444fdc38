package spike

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// fuzzOps decodes data into calls on a small detector: 6 bytes per call.
//
//	b0      call: low 3 bits 0-5 Observe, 6 Advance, 7 Flush; bit 7 an
//	        extreme time (zero, before 1970, after 2262, far future)
//	b1 b2   signed seconds to move the cursor time (backwards too)
//	b3      host (low 3 bits), bit 4 customer known, bit 5 egress known,
//	        bit 6 a long script name
//	b4      group (low 2 bits), bit 7 sensitive
//	b5      messages (signed), rejections (b5 >> 5), connections (b5 & 3)
func fuzzOps(t *testing.T, data []byte) ([]*event.Alert, Stats) {
	cfg := Config{
		Window: time.Minute, History: 3, Warmup: 2 * time.Minute, MinVolume: 2,
		Factor: 2, MADs: 1, CriticalFactor: 3, RejectionBurst: 2, OnlySensitive: true,
		Scopes: []string{ScopeHost, ScopeCustomer, ScopeEgress}, MaxKeys: 5, Sensor: "fuzz",
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"gmail", "microsoft", "other", ""}
	extremes := []time.Time{{}, time.Unix(-1, 0), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 1<<62)}
	cursor := t0
	var alerts []*event.Alert
	for len(data) >= 6 {
		op := data[:6]
		data = data[6:]
		cursor = cursor.Add(time.Duration(int16(binary.BigEndian.Uint16(op[1:3]))) * time.Second)
		at := cursor
		if op[0]&0x80 != 0 {
			at = extremes[int(op[1])%len(extremes)]
		}
		switch op[0] & 7 {
		case 6:
			alerts = d.Advance(at, alerts)
		case 7:
			alerts = d.Flush(alerts)
		default:
			o := Observation{
				Time:        at,
				Host:        netip.AddrFrom4([4]byte{10, 0, 0, op[3] & 7}),
				Group:       groups[op[4]&3],
				Sensitive:   op[4]&0x80 != 0,
				Connections: int(op[5] & 3),
				Messages:    int(int8(op[5])),
				Rejections:  int(op[5] >> 5),
				Scripts:     []string{"s" + string(rune('a'+op[3]&7))},
				Domains:     []string{groups[op[4]&3] + ".example", string(op)},
			}
			if op[3]&0x10 != 0 {
				o.Customer = "c" + string(rune('a'+op[3]&3))
			}
			if op[3]&0x20 != 0 {
				o.Egress = netip.AddrFrom4([4]byte{203, 0, 113, op[3] & 1})
			}
			if op[3]&0x40 != 0 {
				o.Scripts = append(o.Scripts, strings.Repeat(string(op), 40))
			}
			alerts = d.Observe(o, alerts)
		}
		if len(d.keys) > cfg.MaxKeys {
			t.Fatalf("%d keys, max %d", len(d.keys), cfg.MaxKeys)
		}
		if d.evEntries < 0 || d.evEntries > maxEvidenceTotal {
			t.Fatalf("evidence entries %d", d.evEntries)
		}
		if len(d.active) > 2*cfg.MaxKeys+17 || len(d.prevActive) > 2*cfg.MaxKeys+17 {
			t.Fatalf("active lists %d and %d long", len(d.active), len(d.prevActive))
		}
	}
	alerts = d.Flush(alerts)
	n := 0
	for st := d.lruHead; st != nil; st = st.next {
		if d.keys[st.key] != st {
			t.Fatalf("LRU holds %v, not in the map", st.key)
		}
		n++
	}
	if n != len(d.keys) {
		t.Fatalf("LRU has %d keys, map %d", n, len(d.keys))
	}
	for _, a := range alerts {
		if err := a.Validate(); err != nil {
			t.Fatalf("invalid alert %+v: %v", a, err)
		}
	}
	s := d.Stats()
	if s.Alerts != uint64(len(alerts)) {
		t.Fatalf("Stats.Alerts %d, returned %d", s.Alerts, len(alerts))
	}
	if s.Evicted == 0 {
		// Without eviction every (key, window, metric) alerts at most once.
		seen := make(map[string]bool)
		for _, a := range alerts {
			if seen[a.ID] {
				t.Fatalf("duplicate alert %s: %s", a.ID, a.Summary)
			}
			seen[a.ID] = true
		}
	}
	return alerts, s
}

func FuzzDetector(f *testing.F) {
	// A rejection burst, a spike after warm-up, late and extreme times.
	f.Add([]byte{
		0, 0, 1, 0x31, 0x80, 0x60, // host 1, customer, egress, gmail sensitive, 3 rejections
		0, 0, 10, 0x31, 0x80, 0x61,
		6, 0, 60, 0, 0, 0, // advance a minute
		0, 0, 200, 0x01, 0x80, 0x3c, // 60 messages after warm-up
		0, 0xff, 0xe0, 0x02, 0x01, 0x05, // 32 s back (late, counted)
		0, 0xff, 0x00, 0x02, 0x01, 0x05, // 256 s back (too late)
		0x80, 2, 0, 0x01, 0x80, 0x05, // extreme time
		7, 0, 0, 0, 0, 0, // flush
	})
	f.Add([]byte{0, 0, 0, 0x47, 0x83, 0x80, 0, 0, 1, 0x56, 0x82, 0xff, 0, 0, 1, 0x65, 0x81, 0x7f, 0, 0x7f, 0xff, 0x74, 0x80, 0x7f})
	f.Add([]byte{6, 0x7f, 0xff, 0, 0, 0, 6, 0x7f, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// 100 calls are plenty for a detector of 5 keys and 3 windows of
		// history; longer inputs only slow down minimisation.
		if len(data) > 600 {
			t.Skip("input longer than 100 calls")
		}
		a1, s1 := fuzzOps(t, data)
		a2, s2 := fuzzOps(t, data)
		if !reflect.DeepEqual(a1, a2) || s1 != s2 {
			t.Fatalf("two runs of the same input differ")
		}
	})
}
