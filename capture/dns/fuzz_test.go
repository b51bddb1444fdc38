package dns

import (
	"bytes"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// fuzzSeeds returns well-formed messages to start from.
func fuzzSeeds(tb testing.TB) [][]byte {
	q := newQuery(0x4c17, "Mx.Com.", mdns.TypeMX)
	r := newReply(tb, q, mdns.RcodeSuccess, []string{
		"mx.com. 300 IN MX 10 cluster5.us.messagelabs.com.",
		"mx.com. 300 IN CNAME a.b.",
		`mx.com. 300 IN TYPE65534 \# 1 00`,
	}, []string{
		"cluster5.us.messagelabs.com. 300 IN A 65.61.188.4",
		"cluster5.us.messagelabs.com. 300 IN AAAA 2001:db8::1",
		"cluster5.us.messagelabs.com. 300 IN A 65.61.188.5",
	})
	r.SetEdns0(4096, true)
	r.Compress = true
	nx := newReply(tb, q, mdns.RcodeNameError, nil, nil)
	nx.Truncated = true
	a := newQuery(1, ".", mdns.TypeA)
	full := pack(tb, r)
	return [][]byte{pack(tb, q), full, full[:len(full)-5], pack(tb, nx), pack(tb, a), {}, make([]byte, 12)}
}

// FuzzMessage gives arbitrary bytes to Tracker.Message as a query and as
// a response, in both directions, and checks the events and counters.
func FuzzMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := DefaultConfig()
		cfg.KeepTypes = []string{"*"}
		cfg.MaxPending = 2
		cfg.MaxRecords = 2
		tr, c := newTestTracker(t, cfg)
		// The same bytes with the QR bit cleared and set, so that the
		// fuzzer's messages pair with themselves.
		q, r := bytes.Clone(b), bytes.Clone(b)
		if len(b) > 2 {
			q[2] &^= 0x80
			r[2] |= 0x80
		}
		vlans := make([]uint16, 2)
		for i, in := range [][]byte{q, q, r, r, b} {
			vlans[0], vlans[1] = 1, 2
			m := step{at: time.Duration(i) * time.Second, fromServer: i >= 2, vlans: vlans}.meta()
			orig := bytes.Clone(in)
			tr.Message(in, m)
			vlans[0] = 99 // the caller reuses its buffer
			if !bytes.Equal(in, orig) {
				t.Fatalf("Message modified its input")
			}
		}
		tr.Expire(t0.Add(time.Hour))
		tr.Close()
		s := tr.Stats()
		if s.Messages != 5 || s.Emitted != uint64(len(c.events)) || s.Pending != 0 {
			t.Fatalf("stats %+v with %d events", s, len(c.events))
		}
		if s.Matched+s.UnmatchedResponses != s.Responses || s.Queries+s.Responses > s.Messages {
			t.Fatalf("inconsistent stats %+v", s)
		}
		for _, e := range c.events {
			checkEvent(t, e, cfg.MaxRecords)
		}
	})
}

func checkEvent(t *testing.T, e *event.DNS, maxRecords int) {
	t.Helper()
	if !e.Client.IsValid() || !e.Server.IsValid() || e.QType == "" || e.RCode == "" || e.Transport == "" {
		t.Fatalf("incomplete event %+v", e)
	}
	if e.Matched == e.QueryTime.IsZero() {
		t.Fatalf("matched %v with query time %v", e.Matched, e.QueryTime)
	}
	if len(e.VLANs) != 2 || e.VLANs[0] != 1 {
		t.Fatalf("vlans %v not copied", e.VLANs)
	}
	if len(e.Answers) > maxRecords || len(e.Additional) > maxRecords {
		t.Fatalf("%d answers and %d additional records, limit %d", len(e.Answers), len(e.Additional), maxRecords)
	}
	names := []string{e.QName}
	for _, rr := range append(append([]event.RR(nil), e.Answers...), e.Additional...) {
		if rr.Type == "OPT" || rr.Type == "" {
			t.Fatalf("record type %q kept", rr.Type)
		}
		names = append(names, rr.Name, rr.Host)
	}
	for _, n := range names {
		if n != strings.ToLower(n) || (len(n) > 1 && strings.HasSuffix(n, ".") && !strings.HasSuffix(n, `\.`)) {
			t.Fatalf("name %q not normalised", n)
		}
	}
}

// FuzzFramer frames a stream fed whole and fed in the chunks the second
// input describes; both must give the same messages and counters, and the
// Framer must never hold more than one message.
func FuzzFramer(f *testing.F) {
	msgs := fuzzSeeds(f)
	f.Add(frame(msgs[0], msgs[1]), []byte{1, 2, 3})
	f.Add(frame(msgs[1], msgs[2], msgs[3]), []byte{0, 200, 7})
	f.Add(append(frame(msgs[0]), 0, 0, 1, 2), []byte{})
	f.Add([]byte{0xff, 0xff, 1, 2, 3}, []byte{4})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		var whole, split Framer
		want := feed(&whole, stream)

		var got [][]byte
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(int(cuts[i]), n)
			}
			if i < len(cuts) && cuts[i] == 255 {
				n = min(len(rest), 70000) // big chunks too
			}
			got = append(got, feed(&split, rest[:n])...)
			rest = rest[n:]
			if len(split.buf) > 65535 || cap(split.buf) > 65535 || split.nhdr > 2 {
				t.Fatalf("framer holds %d bytes (cap %d)", len(split.buf), cap(split.buf))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("split: %d messages, whole: %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("message %d differs", i)
			}
			if len(got[i]) == 0 {
				t.Fatalf("empty message %d framed", i)
			}
		}
		whole.Close()
		split.Close()
		ws, ss := whole.Stats(), split.Stats()
		if ws != ss {
			t.Fatalf("stats differ: whole %+v, split %+v", ws, ss)
		}
		var framed uint64
		for _, m := range want {
			framed += uint64(len(m)) + 2
		}
		if framed+ws.DiscardedBytes != uint64(len(stream)) {
			t.Fatalf("%d bytes framed + %d discarded != %d in", framed, ws.DiscardedBytes, len(stream))
		}
	})
}
