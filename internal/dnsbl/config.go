package dnsbl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultRetries     = 1
	DefaultConcurrency = 8
)

// Limits on the configuration.
const (
	// MaxConcurrency bounds Config.Concurrency.
	MaxConcurrency = 256
	// MaxRetries bounds Config.Retries.
	MaxRetries = 10
)

// Sentinel errors. Errors of New wrap ErrInvalidConfig; the Err of a Result
// wraps one of the others (or the context's error).
var (
	// ErrInvalidConfig is wrapped by every error of New.
	ErrInvalidConfig = errors.New("dnsbl: invalid config")
	// ErrInvalidAddr is the Err of a Result for an address that is not a
	// valid IP address.
	ErrInvalidAddr = errors.New("dnsbl: invalid address")
	// ErrTimeout means no answer came within Config.Timeout, after every
	// retry.
	ErrTimeout = errors.New("dnsbl: query timed out")
	// ErrRcode means the resolver answered with an error rcode
	// (SERVFAIL, REFUSED, ...).
	ErrRcode = errors.New("dnsbl: resolver answered with an error")
	// ErrUnexpectedAnswer means an A record outside 127.0.0.0/8, which no
	// DNSBL returns: a resolver that rewrites NXDOMAIN is the usual cause.
	ErrUnexpectedAnswer = errors.New("dnsbl: unexpected answer (resolver hijacks NXDOMAIN?)")
	// ErrMismatch means the answer is not for the question asked.
	ErrMismatch = errors.New("dnsbl: answer does not match the question")
	// ErrExchange wraps network errors of a query.
	ErrExchange = errors.New("dnsbl: query failed")
)

// Config configures a Checker.
type Config struct {
	// Zones are the blocklists asked; DefaultZones gives the usual ones.
	// At least one is required, and zone names must be unique.
	Zones []Zone
	// Resolver is the "host:port" of the DNS server asked, e.g.
	// "127.0.0.1:53". Required. It is asked over UDP and, for truncated
	// answers, over TCP.
	Resolver string
	// Timeout bounds each query; 0 means DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times a query that timed out is sent again; 0
	// means DefaultRetries, a negative value means none.
	Retries int
	// Concurrency is the most queries in flight at once; 0 means
	// DefaultConcurrency.
	Concurrency int
}

// zone is a validated Zone with parsed code tables.
type zone struct {
	name    string // FQDN, lower case
	list    string
	codes   map[netip.Addr]string
	refused map[netip.Addr]string
	ipv6    bool
}

// settings is a validated Config with defaults applied.
type settings struct {
	zones       []zone
	resolver    string
	timeout     time.Duration
	retries     int
	concurrency int
}

// configError wraps ErrInvalidConfig with the name of the bad field.
func configError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// validate checks cfg and returns it with defaults applied.
func (cfg Config) validate() (settings, error) {
	s := settings{
		resolver:    cfg.Resolver,
		timeout:     cfg.Timeout,
		retries:     cfg.Retries,
		concurrency: cfg.Concurrency,
	}
	if err := validateResolver(cfg.Resolver); err != nil {
		return settings{}, err
	}
	switch {
	case s.timeout < 0:
		return settings{}, configError("Timeout", "negative (%s)", s.timeout)
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	}
	switch {
	case s.retries < 0:
		s.retries = 0
	case s.retries == 0:
		s.retries = DefaultRetries
	case s.retries > MaxRetries:
		return settings{}, configError("Retries", "%d is more than %d", s.retries, MaxRetries)
	}
	switch {
	case s.concurrency < 0:
		return settings{}, configError("Concurrency", "negative (%d)", s.concurrency)
	case s.concurrency == 0:
		s.concurrency = DefaultConcurrency
	case s.concurrency > MaxConcurrency:
		return settings{}, configError("Concurrency", "%d is more than %d", s.concurrency, MaxConcurrency)
	}
	if len(cfg.Zones) == 0 {
		return settings{}, configError("Zones", "no zone")
	}
	seen := make(map[string]bool, len(cfg.Zones))
	for i, z := range cfg.Zones {
		vz, err := z.validate(fmt.Sprintf("Zones[%d]", i))
		if err != nil {
			return settings{}, err
		}
		if seen[vz.name] {
			return settings{}, configError(fmt.Sprintf("Zones[%d].Name", i), "duplicate zone %q", z.Name)
		}
		seen[vz.name] = true
		s.zones = append(s.zones, vz)
	}
	return s, nil
}

// validateResolver checks a "host:port" resolver address.
func validateResolver(addr string) error {
	if addr == "" {
		return configError("Resolver", "required (host:port)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return configError("Resolver", "%q: %v", addr, err)
	}
	if host == "" {
		return configError("Resolver", "%q: no host", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return configError("Resolver", "%q: bad port %q", addr, port)
	}
	return nil
}

// validate checks z; field names it in errors ("Zones[2]").
func (z Zone) validate(field string) (zone, error) {
	name := strings.ToLower(strings.TrimSuffix(z.Name, "."))
	if name == "" {
		return zone{}, configError(field+".Name", "required")
	}
	if _, ok := dns.IsDomainName(name); !ok || strings.HasPrefix(name, ".") || strings.ContainsAny(name, " \t\\") {
		return zone{}, configError(field+".Name", "%q is not a domain name", z.Name)
	}
	// The longest query name is 32 IPv6 nibbles (64 bytes) plus the zone.
	if len(name)+64+1 > 253 {
		return zone{}, configError(field+".Name", "%q is too long", z.Name)
	}
	vz := zone{name: dns.Fqdn(name), list: z.List, ipv6: z.IPv6}
	if vz.list == "" {
		vz.list = name
	}
	var err error
	if vz.codes, err = parseCodes(field+".Codes", z.Codes); err != nil {
		return zone{}, err
	}
	if vz.refused, err = parseCodes(field+".Refused", z.Refused); err != nil {
		return zone{}, err
	}
	for a := range vz.refused {
		if _, ok := vz.codes[a]; ok {
			return zone{}, configError(field+".Refused", "%s is also in Codes", a)
		}
	}
	return vz, nil
}

// parseCodes parses a table of return addresses, which must be IPv4
// addresses in 127.0.0.0/8.
func parseCodes(field string, m map[string]string) (map[netip.Addr]string, error) {
	out := make(map[netip.Addr]string, len(m))
	for k, v := range m {
		a, err := netip.ParseAddr(k)
		if err != nil || !a.Is4() || !loopback.Contains(a) {
			return nil, configError(field, "%q is not an address in 127.0.0.0/8", k)
		}
		out[a] = v
	}
	return out, nil
}

// loopback is 127.0.0.0/8, where DNSBL return codes live.
var loopback = netip.MustParsePrefix("127.0.0.0/8")
