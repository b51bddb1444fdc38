package dns

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/mxwatch/mxwatch/event"
)

// frame prefixes each message with its length.
func frame(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// feed gives the chunks to f and returns copies of the messages framed.
func feed(f *Framer, chunks ...[]byte) [][]byte {
	var out [][]byte
	for _, c := range chunks {
		f.Data(c, func(msg []byte) { out = append(out, bytes.Clone(msg)) })
	}
	return out
}

func TestFramer(t *testing.T) {
	small := []byte{0xab}
	mid := bytes.Repeat([]byte{1, 2, 3}, 100)
	huge := bytes.Repeat([]byte{7}, 65535)
	three := frame(small, mid, huge)

	tests := []struct {
		name   string
		chunks [][]byte
		gap    int // call Gap before chunk gap-1 (0: never)
		want   [][]byte
		stats  FramerStats // after Close
	}{
		{name: "several messages in one chunk", chunks: [][]byte{three},
			want: [][]byte{small, mid, huge}, stats: FramerStats{Messages: 3}},
		{name: "byte by byte", chunks: bytesOf(frame(small, mid)),
			want: [][]byte{small, mid}, stats: FramerStats{Messages: 2}},
		{name: "split inside the prefix", chunks: [][]byte{three[:1], three[1:]},
			want: [][]byte{small, mid, huge}, stats: FramerStats{Messages: 3}},
		{name: "empty chunks", chunks: [][]byte{nil, frame(small), {}},
			want: [][]byte{small}, stats: FramerStats{Messages: 1}},
		{name: "zero length drops the stream", chunks: [][]byte{frame(small), {0, 0, 0, 1, 0xab}, frame(small)},
			want: [][]byte{small}, stats: FramerStats{Messages: 1, Desync: 1, DiscardedBytes: 8}},
		{name: "zero length split", chunks: [][]byte{{0}, {0}, frame(small)},
			stats: FramerStats{Desync: 1, DiscardedBytes: 5}},
		{name: "gap inside a message", chunks: [][]byte{frame(small), frame(mid)[:10], frame(mid)[20:], frame(small)}, gap: 3,
			want: [][]byte{small}, stats: FramerStats{Messages: 1, Desync: 1, DiscardedBytes: 10 + 282 + 3}},
		{name: "gap between messages", chunks: [][]byte{frame(small), frame(small)}, gap: 2,
			want: [][]byte{small}, stats: FramerStats{Messages: 1, Desync: 1, DiscardedBytes: 3}},
		{name: "stream ends inside a message", chunks: [][]byte{frame(small), frame(mid)[:50]},
			want: [][]byte{small}, stats: FramerStats{Messages: 1, Truncated: 1, DiscardedBytes: 50}},
		{name: "stream ends inside the prefix", chunks: [][]byte{frame(small), {1}},
			want: [][]byte{small}, stats: FramerStats{Messages: 1, Truncated: 1, DiscardedBytes: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Framer
			var got [][]byte
			for i, c := range tc.chunks {
				if tc.gap == i+1 {
					f.Gap()
					f.Gap() // counted once
				}
				got = append(got, feed(&f, c)...)
			}
			f.Close()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %d messages %v, want %d", len(got), lens(got), len(tc.want))
			}
			if s := f.Stats(); s != tc.stats {
				t.Errorf("stats %+v, want %+v", s, tc.stats)
			}
			// After Close the Framer takes a new stream.
			if got := feed(&f, frame(small)); len(got) != 1 {
				t.Errorf("after Close: %d messages, want 1", len(got))
			}
		})
	}
}

// TestFramerSplitEverywhere splits one stream of two messages at every
// byte position.
func TestFramerSplitEverywhere(t *testing.T) {
	q := pack(t, newQuery(0x4c17, "mx.com.", mdns.TypeMX))
	r := pack(t, newReply(t, newQuery(0x4c17, "mx.com.", mdns.TypeMX), mdns.RcodeSuccess,
		[]string{"mx.com. 300 IN MX 10 cluster5.us.messagelabs.com."}, nil))
	stream := frame(q, r)
	for i := 0; i <= len(stream); i++ {
		var f Framer
		got := feed(&f, stream[:i], stream[i:])
		if !reflect.DeepEqual(got, [][]byte{q, r}) {
			t.Fatalf("split at %d: got %v, want lengths [%d %d]", i, lens(got), len(q), len(r))
		}
		if len(f.buf) != 0 || f.nhdr != 0 {
			t.Fatalf("split at %d: %d bytes left buffered", i, len(f.buf)+f.nhdr)
		}
	}
}

// TestFramerMemory checks that a Framer holds at most one message and
// lets go of a large buffer once the message is out.
func TestFramerMemory(t *testing.T) {
	huge := bytes.Repeat([]byte{7}, 65535)
	stream := frame(huge, huge, []byte{1})
	var f Framer
	var n int
	for i := 0; i < len(stream); i += 1000 {
		f.Data(stream[i:min(i+1000, len(stream))], func([]byte) { n++ })
		if cap(f.buf) > 65535 {
			t.Fatalf("at %d: buffer capacity %d", i, cap(f.buf))
		}
	}
	if n != 3 {
		t.Fatalf("framed %d messages, want 3", n)
	}
	if cap(f.buf) > retainBuf {
		t.Errorf("idle framer keeps %d bytes", cap(f.buf))
	}
}

// TestTrackerFramer checks that a tracker's Framer counts into its Stats
// and that framed messages pair like datagrams.
func TestTrackerFramer(t *testing.T) {
	tr, c := newTestTracker(t, DefaultConfig())
	cf, sf := tr.NewFramer(), tr.NewFramer()
	q := newQuery(7, "example.com.", mdns.TypeMX)
	r := newReply(t, q, mdns.RcodeSuccess, []string{"example.com. 60 IN MX 5 mx.example.net."}, nil)
	qs := frame(pack(t, q))
	rs := frame(pack(t, r))
	m := step{transport: "tcp"}.meta()
	cf.Data(qs[:5], func(b []byte) { tr.Message(b, m) })
	cf.Data(qs[5:], func(b []byte) { tr.Message(b, m) })
	m = step{transport: "tcp", fromServer: true}.meta()
	sf.Data(append(rs, 0, 0, 9), func(b []byte) { tr.Message(b, m) })
	cf.Data([]byte{0}, func([]byte) {})
	cf.Close()
	sf.Close()
	tr.Close()

	want := []event.DNS{{
		Time: t0, QueryTime: t0, Client: clientAddr, Server: serverAddr, Transport: "tcp",
		TxID: 7, QName: "example.com", QType: "MX", RCode: "NOERROR", Matched: true,
		Answers: []event.RR{mx("example.com", 60, 5, "mx.example.net")},
	}}
	if len(c.events) != 1 || !reflect.DeepEqual(*c.events[0], want[0]) {
		t.Errorf("events %v, want %v", c.events, want)
	}
	s := tr.Stats()
	if s.TCPMessages != 2 || s.TCPDesync != 1 || s.TCPDiscardedBytes != 4 || s.TCPTruncated != 1 || s.Matched != 1 {
		t.Errorf("stats %+v: want 2 tcp messages, 1 desync, 4 discarded bytes, 1 truncated, 1 matched", s)
	}
}

func bytesOf(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func lens(msgs [][]byte) []int {
	var out []int
	for _, m := range msgs {
		out = append(out, len(m))
	}
	return out
}
