package dnsbl

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestCheck(t *testing.T) {
	addr := startServer(t, fakeHandler(fakeZones()))
	silent := Zone{Name: "silent.test", List: "silent", IPv6: true}
	v4only := Zone{Name: "v4only.test", List: "v4only"}

	tests := []struct {
		name         string
		zone         Zone
		ip           string
		wantN        int // number of results; 1 unless set to -1 for none
		status       string
		codes        []string
		meanings     []string
		txt          []string
		errIs        error
		errHas       string
		wantTCP      bool
		wantRetries  bool
		wantSkipped6 bool
	}{
		{name: "listed ipv4", zone: testZone(), ip: "192.0.2.1", status: "listed",
			codes: []string{"127.0.0.2"}, meanings: []string{"test listing"},
			txt: []string{"listed: see https://bl.test/192.0.2.1"}},
		{name: "clean nxdomain", zone: testZone(), ip: "192.0.2.2", status: "clean"},
		{name: "refused", zone: testZone(), ip: "192.0.2.3", status: "refused",
			codes: []string{"127.255.255.254"}, meanings: []string{"refused: open resolver"}},
		{name: "listed ipv6", zone: testZone(), ip: "2001:db8::1", status: "listed",
			codes: []string{"127.0.0.2"}, meanings: []string{"test listing"}, txt: []string{"v6 listed"}},
		{name: "ipv4-mapped ipv6 is ipv4", zone: testZone(), ip: "::ffff:192.0.2.1", status: "listed",
			codes: []string{"127.0.0.2"}, meanings: []string{"test listing"},
			txt: []string{"listed: see https://bl.test/192.0.2.1"}},
		{name: "answer outside 127/8", zone: testZone(), ip: "192.0.2.4", status: "error",
			codes: []string{"198.51.100.7"}, errIs: ErrUnexpectedAnswer, errHas: "hijacks NXDOMAIN"},
		{name: "servfail", zone: testZone(), ip: "192.0.2.5", status: "error", errIs: ErrRcode, errHas: "SERVFAIL"},
		{name: "refused rcode", zone: testZone(), ip: "192.0.2.7", status: "error", errIs: ErrRcode, errHas: "REFUSED"},
		{name: "truncated retried over tcp", zone: testZone(), ip: "192.0.2.6", status: "listed",
			codes: []string{"127.0.0.3"}, meanings: []string{"unknown code 127.0.0.3"}, txt: []string{"big answer"},
			wantTCP: true},
		{name: "cname chain", zone: testZone(), ip: "192.0.2.8", status: "listed",
			codes: []string{"127.0.0.2", "127.0.0.4"}, meanings: []string{"test listing", "test exploit"}},
		{name: "control characters in txt", zone: testZone(), ip: "192.0.2.9", status: "listed",
			codes: []string{"127.0.0.2"}, meanings: []string{"test listing"}, txt: []string{`bad\001text`}},
		{name: "server never answers", zone: silent, ip: "192.0.2.1", status: "error",
			errIs: ErrTimeout, wantRetries: true},
		{name: "ipv6 not asked of ipv4-only zone", zone: v4only, ip: "2001:db8::1", wantN: -1, wantSkipped6: true},
		{name: "ipv4 asked of ipv4-only zone", zone: v4only, ip: "192.0.2.1", status: "clean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, Config{
				Zones:    []Zone{tt.zone},
				Resolver: addr,
				Timeout:  100 * time.Millisecond,
				Retries:  1,
			})
			ip := netip.MustParseAddr(tt.ip)
			got := c.Check(t.Context(), []netip.Addr{ip})
			st := c.Stats()
			if tt.wantN == -1 {
				if len(got) != 0 {
					t.Fatalf("got %d results, want none: %+v", len(got), got)
				}
				if tt.wantSkipped6 && st.SkippedIPv6 != 1 {
					t.Errorf("SkippedIPv6 = %d, want 1", st.SkippedIPv6)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d results, want 1: %+v", len(got), got)
			}
			r := got[0]
			if r.IP != ip.Unmap() || r.Zone != tt.zone.Name || r.List != tt.zone.List {
				t.Errorf("result is for %v %q %q, want %v %q %q", r.IP, r.Zone, r.List, ip.Unmap(), tt.zone.Name, tt.zone.List)
			}
			if r.Status() != tt.status {
				t.Errorf("status %q, want %q (err %v)", r.Status(), tt.status, r.Err)
			}
			if tt.errIs == nil && r.Err != nil {
				t.Errorf("unexpected error: %v", r.Err)
			}
			if tt.errIs != nil && !errors.Is(r.Err, tt.errIs) {
				t.Errorf("err %v, want %v", r.Err, tt.errIs)
			}
			if tt.errHas != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errHas)) {
				t.Errorf("err %v does not contain %q", r.Err, tt.errHas)
			}
			var codes []string
			for _, a := range r.Codes {
				codes = append(codes, a.String())
			}
			if !slices.Equal(codes, tt.codes) {
				t.Errorf("codes %v, want %v", codes, tt.codes)
			}
			if !slices.Equal(r.Meanings, tt.meanings) {
				t.Errorf("meanings %q, want %q", r.Meanings, tt.meanings)
			}
			if !slices.Equal(r.TXT, tt.txt) {
				t.Errorf("txt %q, want %q", r.TXT, tt.txt)
			}
			if tt.wantTCP != (st.TCPFallbacks > 0) {
				t.Errorf("TCPFallbacks = %d, want fallback %v", st.TCPFallbacks, tt.wantTCP)
			}
			if tt.wantRetries != (st.Retries > 0) {
				t.Errorf("Retries = %d, want retries %v", st.Retries, tt.wantRetries)
			}
			if st.Checks != 1 {
				t.Errorf("Checks = %d, want 1", st.Checks)
			}
			wantErrs := uint64(0)
			if tt.errIs != nil {
				wantErrs = 1
			}
			if st.Errors != wantErrs {
				t.Errorf("Errors = %d, want %d", st.Errors, wantErrs)
			}
		})
	}
}

func TestCheckOrderAndDuplicates(t *testing.T) {
	addr := startServer(t, fakeHandler(fakeZones()))
	c := mustNew(t, Config{
		Zones:    []Zone{{Name: "z2.test"}, testZone(), {Name: "a1.test", IPv6: true}},
		Resolver: addr,
	})
	ips := []netip.Addr{
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("::ffff:192.0.2.1"),
		{},
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
	}
	got := c.Check(t.Context(), ips)
	var keys []string
	for _, r := range got {
		keys = append(keys, resultKey(r)+"="+r.Status())
	}
	want := []string{
		"invalid IP/=error",
		"192.0.2.1/a1.test=clean",
		"192.0.2.1/bl.test=listed",
		"192.0.2.1/z2.test=clean",
		"192.0.2.2/a1.test=clean",
		"192.0.2.2/bl.test=clean",
		"192.0.2.2/z2.test=clean",
		"2001:db8::1/a1.test=clean",
		"2001:db8::1/bl.test=listed",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("results\n got %q\nwant %q", keys, want)
	}
	if !errors.Is(got[0].Err, ErrInvalidAddr) {
		t.Errorf("invalid address err = %v, want ErrInvalidAddr", got[0].Err)
	}
	if !Listed(got) {
		t.Error("Listed = false, want true")
	}
	st := c.Stats()
	if st.DuplicateAddrs != 2 || st.InvalidAddrs != 1 || st.SkippedIPv6 != 1 || st.Checks != 8 {
		t.Errorf("stats %+v: want 2 duplicates, 1 invalid, 1 skipped IPv6, 8 checks", st)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int
	}{
		{name: "one at a time", limit: 1},
		{name: "three at a time", limit: 3},
	}
	for _, tt := range tests {
		limit := tt.limit
		t.Run(tt.name, func(t *testing.T) {
			var inflight, peak, total atomic.Int64
			next := fakeHandler(fakeZones())
			addr := startServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
				n := inflight.Add(1)
				total.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond) // hold the slot so queries overlap
				inflight.Add(-1)                 // before answering: the client may ask again at once
				next(w, q)
			}))
			zones := []Zone{testZone(), {Name: "a.test"}, {Name: "b.test"}, {Name: "c.test"}}
			c := mustNew(t, Config{Zones: zones, Resolver: addr, Concurrency: limit})
			var ips []netip.Addr
			for i := 1; i <= 8; i++ {
				ips = append(ips, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
			}
			got := c.Check(t.Context(), ips)
			if len(got) != len(ips)*len(zones) {
				t.Fatalf("got %d results, want %d", len(got), len(ips)*len(zones))
			}
			if p := peak.Load(); p > int64(limit) || p < 1 {
				t.Errorf("peak in-flight queries %d, limit %d", p, limit)
			}
			if q := c.Stats().Queries; uint64(total.Load()) != q {
				t.Errorf("server saw %d queries, checker counted %d", total.Load(), q)
			}
			t.Logf("peak %d of limit %d over %d queries", peak.Load(), limit, total.Load())
		})
	}
}

func TestCheckCancel(t *testing.T) {
	received := make(chan struct{}, 64)
	addr := startServer(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		received <- struct{}{} // and never answer
	}))
	tests := []struct {
		name      string
		cancelNow bool // cancel before Check; else after the first query arrives
	}{
		{name: "cancelled while waiting for answers"},
		{name: "cancelled before the check", cancelNow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An hour-long timeout: only cancellation can end this test in time.
			c := mustNew(t, Config{
				Zones:       []Zone{{Name: "silent.test"}, {Name: "silent2.test"}},
				Resolver:    addr,
				Timeout:     time.Hour,
				Concurrency: 2,
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelNow {
				cancel()
			}
			var wg sync.WaitGroup
			if !tt.cancelNow {
				wg.Go(func() {
					<-received
					cancel()
				})
			}
			ips := []netip.Addr{
				netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"),
			}
			got := c.Check(ctx, ips)
			wg.Wait()
			if len(got) != 6 {
				t.Fatalf("got %d results, want 6", len(got))
			}
			for _, r := range got {
				if !errors.Is(r.Err, context.Canceled) {
					t.Errorf("%s: err %v, want context.Canceled", resultKey(r), r.Err)
				}
			}
			if tt.cancelNow && c.Stats().Queries != 0 {
				t.Errorf("sent %d queries after cancellation", c.Stats().Queries)
			}
		})
	}
}

func TestListed(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		want    bool
	}{
		{name: "none", want: false},
		{name: "clean and refused", results: []Result{{}, {Refused: true}, {Err: ErrTimeout}}, want: false},
		{name: "one listed", results: []Result{{}, {Listed: true}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Listed(tt.results); got != tt.want {
				t.Errorf("Listed = %v, want %v", got, tt.want)
			}
		})
	}
}
