package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// recorder is a connHandler that writes down what it was given.
type recorder struct {
	c2s, s2c strings.Builder
	log      []string
	closed   int
}

func (r *recorder) Data(fromClient bool, b []byte, _ time.Time) {
	if fromClient {
		r.c2s.Write(b)
	} else {
		r.s2c.Write(b)
	}
}

func (r *recorder) Gap(fromClient bool, n int, _ time.Time) {
	dir := "s2c"
	if fromClient {
		dir = "c2s"
		fmt.Fprintf(&r.c2s, "[gap %d]", n)
	} else {
		fmt.Fprintf(&r.s2c, "[gap %d]", n)
	}
	r.log = append(r.log, fmt.Sprintf("gap %s %d", dir, n))
}

func (r *recorder) Close(time.Time) { r.closed++ }

type finished struct {
	f      *flow
	reason event.CloseReason
}

// tcpHarness drives a flowTable with hand-made segments.
type tcpHarness struct {
	t     *testing.T
	table *flowTable
	recs  map[flowKey]*recorder
	done  []finished
	now   time.Time
}

func newTCPHarness(t *testing.T, cfg TCPConfig) *tcpHarness {
	h := &tcpHarness{t: t, recs: map[flowKey]*recorder{}, now: time.Unix(1700000000, 0).UTC()}
	h.table = newFlowTable(cfg, newPortSet([]uint16{25}), func(f *flow) {
		r := &recorder{}
		h.recs[f.key] = r
		f.handler = r
	}, func(f *flow, reason event.CloseReason) {
		h.done = append(h.done, finished{f, reason})
	})
	return h
}

var (
	cliAddr = netip.MustParseAddrPort("10.20.1.5:40000")
	srvAddr = netip.MustParseAddrPort("192.0.2.25:25")
)

// seg sends one segment; dir "c" is client to server.
func (h *tcpHarness) seg(dir string, flags uint8, seq, ack uint32, data string) {
	h.t.Helper()
	h.now = h.now.Add(time.Millisecond)
	p := &Packet{Proto: ipProtoTCP, Flags: flags, Seq: seq, Ack: ack, Payload: []byte(data)}
	src, dst := cliAddr, srvAddr
	if dir == "s" {
		src, dst = srvAddr, cliAddr
	}
	p.Src, p.SrcPort, p.Dst, p.DstPort = src.Addr(), src.Port(), dst.Addr(), dst.Port()
	h.table.packet(p, h.now)
}

func (h *tcpHarness) rec() *recorder {
	for _, r := range h.recs {
		return r
	}
	h.t.Fatal("no flow was created")
	return nil
}

// handshake opens a connection with ISNs 100 (client) and 500 (server).
func (h *tcpHarness) handshake() {
	h.seg("c", tcpSYN, 100, 0, "")
	h.seg("s", tcpSYN|tcpACK, 500, 101, "")
	h.seg("c", tcpACK, 101, 501, "")
}

func defaultTCP() TCPConfig { return DefaultConfig().TCP }

func TestFlowTableStreams(t *testing.T) {
	const A = tcpACK
	tests := []struct {
		name      string
		steps     func(h *tcpHarness)
		c2s, s2c  string
		handshake event.Handshake
		reason    event.CloseReason // "" = still open
		gaps      int
	}{
		{
			name: "in order with fin",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("s", A, 501, 101, "220 hi\r\n")
				h.seg("c", A, 101, 509, "EHLO x\r\n")
				h.seg("c", A|tcpFIN, 109, 509, "")
				h.seg("s", A|tcpFIN, 509, 110, "")
			},
			c2s: "EHLO x\r\n", s2c: "220 hi\r\n", handshake: event.HandshakeCompleted, reason: event.CloseFIN,
		},
		{
			name: "out of order",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A, 104, 501, "DEF")
				h.seg("c", A, 101, 501, "ABC")
				h.seg("c", A, 107, 501, "GHI")
			},
			c2s: "ABCDEFGHI", handshake: event.HandshakeCompleted,
		},
		{
			name: "retransmission and overlap, first copy wins",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A, 101, 501, "ABCD")
				h.seg("c", A, 101, 501, "ABCD")
				h.seg("c", A, 103, 501, "XXEF") // overlaps CD, conflicting
				h.seg("c", A, 107, 501, "G")
			},
			c2s: "ABCDEFG", handshake: event.HandshakeCompleted,
		},
		{
			name: "lost segment proven by ack",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A, 101, 501, "MAIL FROM:<a@b>\r\n") // 17 bytes: 101..117
				// "RCPT TO:<c@d>\r\n" (15 bytes at 118) lost on the mirror
				h.seg("s", A, 501, 133, "250 ok\r\n")
				h.seg("c", A, 133, 509, "DATA\r\n")
			},
			c2s: "MAIL FROM:<a@b>\r\n[gap 15]DATA\r\n", s2c: "250 ok\r\n", handshake: event.HandshakeCompleted, gaps: 1,
		},
		{
			name: "late segment fills hole before ack evidence is used",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A, 104, 501, "DEF")
				h.seg("s", A, 501, 107, "") // server acked everything
				h.seg("c", A, 101, 501, "ABC")
			},
			c2s: "ABCDEF", handshake: event.HandshakeCompleted,
		},
		{
			name: "midstream join",
			steps: func(h *tcpHarness) {
				h.seg("c", A, 9000, 7000, "RCPT TO:<x@y>\r\n")
				h.seg("s", A, 7000, 9015, "250 ok\r\n")
			},
			c2s: "RCPT TO:<x@y>\r\n", s2c: "250 ok\r\n", handshake: event.HandshakeMidstream,
		},
		{
			name: "midstream server first",
			steps: func(h *tcpHarness) {
				h.seg("s", A, 7000, 9000, "250 ok\r\n")
				h.seg("c", A, 9000, 7008, "QUIT\r\n")
			},
			c2s: "QUIT\r\n", s2c: "250 ok\r\n", handshake: event.HandshakeMidstream,
		},
		{
			name: "refused",
			steps: func(h *tcpHarness) {
				h.seg("c", tcpSYN, 100, 0, "")
				h.seg("s", tcpRST|A, 0, 101, "")
			},
			handshake: event.HandshakeRefused, reason: event.CloseRST,
		},
		{
			name: "reset during handshake",
			steps: func(h *tcpHarness) {
				h.seg("c", tcpSYN, 100, 0, "")
				h.seg("s", tcpSYN|A, 500, 101, "")
				h.seg("c", tcpRST, 101, 0, "")
			},
			handshake: event.HandshakeReset, reason: event.CloseRST,
		},
		{
			name: "reset after data",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("s", A, 501, 101, "220 hi\r\n")
				h.seg("c", tcpRST|A, 101, 509, "")
			},
			s2c: "220 hi\r\n", handshake: event.HandshakeCompleted, reason: event.CloseRST,
		},
		{
			name: "half close keeps the other direction",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A|tcpFIN, 101, 501, "QUIT\r\n")
				h.seg("s", A, 501, 108, "221 bye\r\n")
				h.seg("s", A|tcpFIN, 510, 108, "")
			},
			c2s: "QUIT\r\n", s2c: "221 bye\r\n", handshake: event.HandshakeCompleted, reason: event.CloseFIN,
		},
		{
			name: "data in fin after hole",
			steps: func(h *tcpHarness) {
				h.handshake()
				h.seg("c", A|tcpFIN, 104, 501, "DEF")
				h.seg("c", A, 101, 501, "ABC")
				h.seg("s", A|tcpFIN, 501, 108, "")
			},
			c2s: "ABCDEF", handshake: event.HandshakeCompleted, reason: event.CloseFIN,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTCPHarness(t, defaultTCP())
			tt.steps(h)
			r := h.rec()
			var f *flow
			reason := event.CloseReason("")
			if len(h.done) > 0 {
				f, reason = h.done[0].f, h.done[0].reason
			} else {
				for _, x := range h.table.m {
					f = x
				}
			}
			if got := r.c2s.String(); got != tt.c2s {
				t.Errorf("client stream %q, want %q", got, tt.c2s)
			}
			if got := r.s2c.String(); got != tt.s2c {
				t.Errorf("server stream %q, want %q", got, tt.s2c)
			}
			if got := f.handshake(); got != tt.handshake {
				t.Errorf("handshake %q, want %q", got, tt.handshake)
			}
			if reason != tt.reason {
				t.Errorf("close reason %q, want %q", reason, tt.reason)
			}
			if f.gaps != tt.gaps {
				t.Errorf("gaps %d, want %d", f.gaps, tt.gaps)
			}
			if f.client != cliAddr {
				t.Errorf("client %v, want %v", f.client, cliAddr)
			}
			if tt.reason != "" && r.closed != 1 {
				t.Errorf("handler closed %d times, want 1", r.closed)
			}
		})
	}
}

func TestFlowTableTimeouts(t *testing.T) {
	cfg := defaultTCP()
	h := newTCPHarness(t, cfg)
	h.seg("c", tcpSYN, 100, 0, "") // never answered
	h.now = h.now.Add(cfg.HandshakeTimeout + time.Second)
	h.table.sweep(h.now)
	if len(h.done) != 1 || h.done[0].reason != event.CloseIdle || h.done[0].f.handshake() != event.HandshakeNoAnswer {
		t.Fatalf("unanswered SYN: got %+v", h.done)
	}
	if h.done[0].f.syns != 1 {
		t.Errorf("syns %d, want 1", h.done[0].f.syns)
	}

	h = newTCPHarness(t, cfg)
	h.handshake()
	h.now = h.now.Add(cfg.HandshakeTimeout * 2) // longer than a handshake may take, shorter than idle
	h.table.sweep(h.now)
	if len(h.done) != 0 {
		t.Fatalf("established flow closed after %v", cfg.HandshakeTimeout*2)
	}
	h.now = h.now.Add(cfg.IdleTimeout)
	h.table.sweep(h.now)
	if len(h.done) != 1 || h.done[0].reason != event.CloseIdle {
		t.Fatalf("idle flow not closed: %+v", h.done)
	}

	// A hole nobody acknowledges is declared lost after the reorder timeout.
	h = newTCPHarness(t, cfg)
	h.handshake()
	h.seg("c", tcpACK, 104, 501, "DEF")
	h.now = h.now.Add(cfg.ReorderTimeout + time.Second)
	h.table.sweep(h.now)
	if got := h.rec().c2s.String(); got != "[gap 3]DEF" {
		t.Errorf("after reorder timeout: %q", got)
	}
}

func TestFlowTableBounds(t *testing.T) {
	cfg := defaultTCP()
	cfg.MaxFlows = 3
	cfg.MaxFlowBufferedBytes = 10
	cfg.MaxBufferedBytes = 15
	h := newTCPHarness(t, cfg)
	// Five connection attempts from different ports: two are evicted.
	for i := range 5 {
		p := &Packet{Proto: ipProtoTCP, Flags: tcpSYN, Seq: 1, Src: cliAddr.Addr(), SrcPort: uint16(1000 + i), Dst: srvAddr.Addr(), DstPort: 25}
		h.now = h.now.Add(time.Millisecond)
		h.table.packet(p, h.now)
	}
	if got := len(h.table.m); got != 3 {
		t.Errorf("table holds %d flows, want 3", got)
	}
	if h.table.stats.Evicted != 2 || len(h.done) != 2 || h.done[0].reason != event.CloseEvicted {
		t.Errorf("evicted %d (%d finished), want 2", h.table.stats.Evicted, len(h.done))
	}
	if h.done[0].f.client.Port() != 1000 {
		t.Errorf("evicted port %d first, want the oldest (1000)", h.done[0].f.client.Port())
	}

	// Per-flow buffer bound: out-of-order data beyond it forces a gap.
	h = newTCPHarness(t, cfg)
	h.handshake()
	h.seg("c", tcpACK, 111, 501, "0123456789")
	h.seg("c", tcpACK, 121, 501, "abc")
	if got := h.rec().c2s.String(); got != "[gap 10]0123456789abc" {
		t.Errorf("per-flow bound: %q", got)
	}
	if h.table.buffered != 0 {
		t.Errorf("%d bytes still counted as buffered", h.table.buffered)
	}
}

// TestFlowTableReuse checks that a new SYN on a still-open tuple starts a
// new connection.
func TestFlowTableReuse(t *testing.T) {
	h := newTCPHarness(t, defaultTCP())
	h.handshake()
	h.seg("c", tcpACK, 101, 501, "A")
	h.seg("c", tcpSYN, 90000, 0, "")
	if len(h.done) != 1 || h.table.stats.Reused != 1 || len(h.table.m) != 1 {
		t.Fatalf("reuse: done %d, reused %d, flows %d", len(h.done), h.table.stats.Reused, len(h.table.m))
	}
}

// FuzzFlowTable drives the flow table with segments decoded from the fuzz
// input (6 bytes each: direction+flags, sequence offset, length) and checks
// the bookkeeping: no panic, buffer accounting back to zero once every
// flow is closed, and never more bytes delivered than the segments held.
func FuzzFlowTable(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0x10, 0, 1, 0, 0, 8, 0x10, 0, 20, 0, 0, 8})
	f.Add([]byte{0x10, 0, 50, 0, 0, 30, 0x10, 0, 0, 0, 0, 20, 0x90, 0, 10, 0, 0, 9, 0x11, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := defaultTCP()
		cfg.MaxFlowBufferedBytes = 64
		cfg.MaxBufferedBytes = 100
		cfg.MaxFlows = 2
		h := newTCPHarness(t, cfg)
		payload := []byte(strings.Repeat("0123456789", 30))
		sent := 0
		for len(in) >= 6 {
			b := in[:6]
			in = in[6:]
			dir := "c"
			if b[0]&0x80 != 0 {
				dir = "s"
			}
			flags := b[0] & 0x1f
			seq := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			n := int(b[5]) % len(payload)
			sent += n
			h.seg(dir, flags, 1000+seq, 1000+uint32(b[4])*7, string(payload[:n]))
			if h.table.buffered > cfg.MaxBufferedBytes+len(payload) {
				t.Fatalf("buffered %d beyond bound", h.table.buffered)
			}
			if b[4]&0x40 != 0 {
				h.now = h.now.Add(time.Duration(b[4]) * time.Second)
				h.table.sweep(h.now)
			}
		}
		h.table.closeAll()
		if h.table.buffered != 0 || h.table.buffering.Len() != 0 || len(h.table.m) != 0 {
			t.Fatalf("after closeAll: buffered %d in %d flows, %d flows", h.table.buffered, h.table.buffering.Len(), len(h.table.m))
		}
		got := 0
		for _, r := range h.recs {
			got += len(stripGaps(r.c2s.String())) + len(stripGaps(r.s2c.String()))
		}
		if got > sent {
			t.Fatalf("delivered %d bytes of %d sent", got, sent)
		}
	})
}

func stripGaps(s string) string {
	for {
		i := strings.Index(s, "[gap ")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], ']')
		s = s[:i] + s[i+j+1:]
	}
}
