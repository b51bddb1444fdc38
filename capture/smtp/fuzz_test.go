package smtp

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// Fuzz input layout: the first byte chooses options (bit 0 ImplicitTLS,
// bit 1 Midstream, bit 2 small limits); then a sequence of operations,
// each one byte:
//
//	bit 7 set:   a gap of k*k bytes (k = bits 1-5; 0: unknown size)
//	bit 7 clear: bytes of data, 1 + bits 1-5 of them, taken from the input
//
// bit 0 is the direction (1: client) and bit 6 advances packet time.
const (
	fuzzGap     = 0x80
	fuzzTick    = 0x40
	fuzzMaxData = 32
)

// encodeFuzz turns a transcript into a fuzz input.
func encodeFuzz(opt Options, small bool, steps []step) []byte {
	var b0 byte
	if opt.ImplicitTLS {
		b0 |= 1
	}
	if opt.Midstream {
		b0 |= 2
	}
	if small {
		b0 |= 4
	}
	out := []byte{b0}
	for _, s := range steps {
		var dir byte
		if s.client {
			dir = 1
		}
		if s.gap {
			k := 0
			for k < 31 && k*k < s.n {
				k++
			}
			out = append(out, fuzzGap|fuzzTick|dir|byte(k)<<1)
			continue
		}
		data, tick := []byte(s.data), byte(fuzzTick)
		for len(data) > 0 {
			n := min(len(data), fuzzMaxData)
			out = append(out, tick|dir|byte(n-1)<<1)
			out = append(out, data[:n]...)
			data, tick = data[n:], 0
		}
	}
	return out
}

// smallConfig makes every limit easy to reach.
func smallConfig() Config {
	return Config{
		MaxLineBytes:    minLineBytes,
		MaxReplyLines:   3,
		MaxReplies:      5,
		MaxRecipients:   2,
		MaxHeaderBytes:  64,
		MaxHeaderValue:  8,
		MaxPendingBytes: 48,
		MaxExtensions:   2,
		MaxPipeline:     4,
	}
}

// FuzzConn feeds arbitrary transcripts and checks that the parser does not
// panic, keeps its buffers within the configured bounds, emits every
// transaction exactly once and does not touch a message after emitting it.
func FuzzConn(f *testing.F) {
	for _, tc := range transcripts() {
		f.Add(encodeFuzz(tc.opt, false, tc.steps))
		f.Add(encodeFuzz(tc.opt, true, tc.steps))
	}
	f.Add([]byte{})
	f.Add([]byte{3, 0x01, 0x16})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		opt := Options{ImplicitTLS: in[0]&1 != 0, Midstream: in[0]&2 != 0}
		cfg := DefaultConfig()
		if in[0]&4 != 0 {
			cfg = smallConfig()
		}
		in = in[1:]
		var msgs []*event.Message
		var snapshots []string
		c := NewConn(cfg, opt, func(m *event.Message) {
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatalf("marshal message: %v", err)
			}
			msgs = append(msgs, m)
			snapshots = append(snapshots, string(b))
		})
		ts := t0
		for len(in) > 0 {
			op := in[0]
			in = in[1:]
			if op&fuzzTick != 0 {
				ts = ts.Add(time.Second)
			}
			client := op&1 != 0
			k := int(op>>1) & 0x1f
			if op&fuzzGap != 0 {
				c.Gap(client, k*k, ts)
			} else {
				n := min(k+1, len(in))
				buf := append([]byte(nil), in[:n]...)
				c.Data(client, buf, ts)
				clear(buf) // Data must not retain b
				in = in[n:]
			}
			checkBounds(t, c)
		}
		c.Close(ts.Add(time.Second))
		checkBounds(t, c)
		sess := &event.Session{}
		c.Fill(sess)
		if _, err := json.Marshal(sess); err != nil {
			t.Fatalf("marshal session: %v", err)
		}
		checkInvariants(t, cfg, result{sess: sess, msgs: msgs, stats: c.Stats()})
		for i, m := range msgs {
			b, _ := json.Marshal(m)
			if string(b) != snapshots[i] {
				t.Fatalf("message %d changed after emit:\n%s\nwas\n%s", i, b, snapshots[i])
			}
		}
	})
}

// checkBounds checks that the Conn's memory stays within its limits.
func checkBounds(t *testing.T, c *Conn) {
	t.Helper()
	cfg := c.cfg
	line := cfg.MaxLineBytes + 2
	bound := cfg.MaxPendingBytes + 2*line + cfg.MaxReplyLines*line + cfg.MaxHeaderBytes + line
	if n := c.buffered(); n > bound {
		t.Fatalf("%d bytes buffered, bound %d", n, bound)
	}
	switch {
	case len(c.held) > cfg.MaxPendingBytes:
		t.Fatalf("%d bytes held", len(c.held))
	case len(c.marks) > maxMarks:
		t.Fatalf("%d marks", len(c.marks))
	case len(c.q)-c.qh > cfg.MaxPipeline:
		t.Fatalf("%d commands waiting", len(c.q)-c.qh)
	case len(c.txns) > cfg.MaxPipeline+maxOpenTxns+1:
		t.Fatalf("%d transactions alive", len(c.txns))
	case len(c.replies) > cfg.MaxReplies:
		t.Fatalf("%d replies", len(c.replies))
	case len(c.exts) > cfg.MaxExtensions:
		t.Fatalf("%d extensions", len(c.exts))
	case c.rep.lines > cfg.MaxReplyLines:
		t.Fatalf("%d reply lines", c.rep.lines)
	}
	for _, x := range c.txns {
		if alive(x) && len(x.m.Recipients) > cfg.MaxRecipients {
			t.Fatalf("%d recipients", len(x.m.Recipients))
		}
	}
}
