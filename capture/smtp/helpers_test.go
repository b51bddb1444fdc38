package smtp

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// t0 is the packet time of the first step of a transcript.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// step is one event of a transcript: bytes of one direction, or a gap.
type step struct {
	client bool
	data   string
	gap    bool
	n      int // gap size (<= 0: unknown)
}

func cl(s string) step            { return step{client: true, data: s} }
func sv(s string) step            { return step{data: s} }
func gapC(n int) step             { return step{client: true, gap: true, n: n} }
func gapS(n int) step             { return step{gap: true, n: n} }
func at(i int) time.Time          { return t0.Add(time.Duration(i) * time.Second) }
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

// result is what a Conn produced for a transcript.
type result struct {
	sess  *event.Session
	msgs  []*event.Message
	stats Stats
	conn  *Conn
}

// splitter cuts the bytes of one step into the pieces given to Data.
type splitter func(b []byte) [][]byte

func whole(b []byte) [][]byte { return [][]byte{b} }

func byteByByte(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func randomSplits(seed uint64) splitter {
	r := rand.New(rand.NewPCG(seed, 7))
	return func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			n := 1 + r.IntN(min(len(b), 12))
			out = append(out, b[:n])
			b = b[n:]
		}
		return out
	}
}

// run feeds a transcript to a new Conn, one step per second of packet
// time, and closes it one second after the last step.
func run(tb testing.TB, cfg Config, opt Options, steps []step, split splitter) result {
	tb.Helper()
	if split == nil {
		split = whole
	}
	var res result
	c := NewConn(cfg, opt, func(m *event.Message) { res.msgs = append(res.msgs, m) })
	for i, s := range steps {
		if s.gap {
			c.Gap(s.client, s.n, at(i))
			continue
		}
		for _, p := range split([]byte(s.data)) {
			// The caller reuses its buffer: Data must not retain b.
			buf := []byte(string(p))
			c.Data(s.client, buf, at(i))
			for j := range buf {
				buf[j] = 'X'
			}
		}
	}
	c.Close(at(len(steps)))
	res.sess = &event.Session{}
	c.Fill(res.sess)
	res.stats = c.Stats()
	res.conn = c
	return res
}

// dump renders a result as JSON, for comparisons and failure messages.
func (r result) dump(tb testing.TB) string {
	tb.Helper()
	b, err := json.MarshalIndent(struct {
		Session  *event.Session
		Messages []*event.Message
		Stats    Stats
	}{r.sess, r.msgs, r.stats}, "", " ")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func (r result) msg(tb testing.TB, i int) *event.Message {
	tb.Helper()
	if i >= len(r.msgs) {
		tb.Fatalf("message %d not emitted; got %d:\n%s", i, len(r.msgs), r.dump(tb))
	}
	return r.msgs[i]
}

// replyCodes renders the replies as "CMD:code" in order.
func (r result) replyCodes() string {
	var parts []string
	for _, rp := range r.sess.Replies {
		parts = append(parts, fmt.Sprintf("%s:%d", rp.Command, rp.Code))
	}
	return strings.Join(parts, " ")
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}
