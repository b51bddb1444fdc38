package dnsbl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpSize is the EDNS0 buffer size advertised and read with.
const udpSize = 1232

// maxStaleReads bounds the UDP answers with a wrong ID read for one query.
const maxStaleReads = 16

// Result is the outcome of asking one zone about one address.
type Result struct {
	// IP is the address asked about (IPv4-mapped IPv6 addresses are
	// unmapped).
	IP netip.Addr
	// Zone is the zone name, without the trailing dot.
	Zone string
	// List is the zone's short name.
	List string
	// Listed is true when the zone lists IP.
	Listed bool
	// Refused is true when the zone refused to answer (a refusal code):
	// not a listing, but the check did not happen.
	Refused bool
	// Codes are the A records returned.
	Codes []netip.Addr
	// Meanings holds the meaning of each of Codes, from the zone's tables,
	// or "unknown code 127.0.0.9".
	Meanings []string
	// TXT holds the TXT records of a listing (the list's reason or URL),
	// cleaned of control characters.
	TXT []string
	// Err is set when the check is inconclusive: timeout, SERVFAIL,
	// network error, unexpected answer, cancelled context.
	Err error
}

// Status is "error", "refused", "listed" or "clean".
func (r *Result) Status() string {
	switch {
	case r.Err != nil:
		return "error"
	case r.Refused:
		return "refused"
	case r.Listed:
		return "listed"
	default:
		return "clean"
	}
}

// Listed reports whether any result is a listing.
func Listed(results []Result) bool {
	for i := range results {
		if results[i].Listed {
			return true
		}
	}
	return false
}

// Checker asks DNSBL zones about addresses. It is safe for concurrent use.
type Checker struct {
	s     settings
	udp   *dns.Client
	tcp   *dns.Client
	stats counters
}

// New returns a Checker for cfg, or an error wrapping ErrInvalidConfig that
// names the bad field.
func New(cfg Config) (*Checker, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Checker{
		s:   s,
		udp: &dns.Client{Net: "udp", Timeout: s.timeout, UDPSize: udpSize},
		tcp: &dns.Client{Net: "tcp", Timeout: s.timeout},
	}, nil
}

// Stats returns a snapshot of the Checker's counters.
func (c *Checker) Stats() Stats {
	return c.stats.snapshot()
}

// job is one (address, zone) check.
type job struct {
	ip netip.Addr
	z  *zone
}

// Check asks every zone about every address (IPv6 addresses only of zones
// with IPv6), with at most Config.Concurrency queries in flight, and
// returns the results sorted by address, then zone name. IPv4-mapped IPv6
// addresses are unmapped and duplicates asked once; an invalid address
// gets one Result with Err wrapping ErrInvalidAddr. When ctx ends, the
// checks not yet finished get an Err wrapping ctx.Err(), and Check returns
// without waiting for their answers.
func (c *Checker) Check(ctx context.Context, ips []netip.Addr) []Result {
	var results []Result
	var jobs []job
	seen := make(map[netip.Addr]bool, len(ips))
	for _, ip := range ips {
		if ip.IsValid() {
			ip = ip.Unmap().WithZone("")
		}
		if seen[ip] {
			c.stats.duplicateAddrs.Add(1)
			continue
		}
		seen[ip] = true
		if !ip.IsValid() {
			c.stats.invalidAddrs.Add(1)
			results = append(results, Result{Err: fmt.Errorf("%w: %v", ErrInvalidAddr, ip)})
			continue
		}
		for i := range c.s.zones {
			z := &c.s.zones[i]
			if ip.Is6() && !z.ipv6 {
				c.stats.skippedIPv6.Add(1)
				continue
			}
			jobs = append(jobs, job{ip: ip, z: z})
		}
	}

	checked := make([]Result, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c.s.concurrency, len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				checked[i] = c.check(ctx, jobs[i].ip, jobs[i].z)
			}
		})
	}
	wg.Wait()

	results = append(results, checked...)
	slices.SortStableFunc(results, func(a, b Result) int {
		return cmp.Or(a.IP.Compare(b.IP), strings.Compare(a.Zone, b.Zone))
	})
	return results
}

// check asks zone z about ip.
func (c *Checker) check(ctx context.Context, ip netip.Addr, z *zone) Result {
	c.stats.checks.Add(1)
	r := Result{IP: ip, Zone: strings.TrimSuffix(z.name, "."), List: z.list}
	qname := ReverseName(ip, z.name)
	m, err := c.exchange(ctx, qname, dns.TypeA)
	if err != nil {
		c.stats.errors.Add(1)
		r.Err = err
		return r
	}
	v, t := parseA(z, qname, m)
	c.stats.add(t)
	r.Listed, r.Refused, r.Codes, r.Meanings, r.Err = v.listed, v.refused, v.codes, v.meanings, v.err
	if r.Err != nil {
		c.stats.errors.Add(1)
		return r
	}
	if !r.Listed {
		return r
	}
	m, err = c.exchange(ctx, qname, dns.TypeTXT)
	if err != nil {
		c.stats.txtErrors.Add(1)
		return r
	}
	txt, t, err := parseTXT(qname, m)
	c.stats.add(t)
	if err != nil {
		c.stats.txtErrors.Add(1)
		return r
	}
	r.TXT = txt
	return r
}

// exchange asks the resolver (qname, qtype) over UDP, over TCP when the
// answer is truncated, and again after a timeout, up to the retries.
func (c *Checker) exchange(ctx context.Context, qname string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.SetEdns0(udpSize, false)
	var err error
	for attempt := 0; attempt <= c.s.retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dnsbl: query %s: %w", qname, err)
		}
		if attempt > 0 {
			c.stats.retries.Add(1)
		}
		var m *dns.Msg
		m, err = c.exchangeOnce(ctx, c.udp, q)
		if err == nil && m.Truncated {
			c.stats.tcpFallbacks.Add(1)
			m, err = c.exchangeOnce(ctx, c.tcp, q)
		}
		if err == nil {
			return m, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("dnsbl: query %s: %w", qname, ctxErr)
		}
		if !isTimeout(err) {
			return nil, fmt.Errorf("%w: %s: %w", ErrExchange, qname, err)
		}
	}
	return nil, fmt.Errorf("%w: %s after %d tries of %s", ErrTimeout, qname, c.s.retries+1, c.s.timeout)
}

// exchangeOnce sends q with client and reads its answer within the
// timeout. The connection's deadline is set before the context is watched,
// so a cancellation always moves it into the past and unblocks the read.
func (c *Checker) exchangeOnce(ctx context.Context, client *dns.Client, q *dns.Msg) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	conn, err := client.DialContext(qctx, c.s.resolver)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", client.Net, c.s.resolver, err)
	}
	defer conn.Close()
	conn.UDPSize = udpSize
	if deadline, ok := qctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(qctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	defer stop()

	c.stats.queries.Add(1)
	if err := conn.WriteMsg(q); err != nil {
		return nil, fmt.Errorf("send over %s: %w", client.Net, err)
	}
	for range maxStaleReads {
		m, err := conn.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("read over %s: %w", client.Net, err)
		}
		if m.Id == q.Id && m.Response {
			return m, nil
		}
		if client.Net == "tcp" {
			break
		}
		// A late answer to an earlier query on a reused port: read on.
	}
	return nil, fmt.Errorf("read over %s: %w", client.Net, dns.ErrId)
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
