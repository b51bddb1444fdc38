package dns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Config bounds a Tracker and chooses which answers become events.
// Start from DefaultConfig.
type Config struct {
	// KeepTypes lists the query types whose responses become events, by
	// name ("MX", "A", "AAAA", "CNAME", "ANY", "TXT", or "TYPE65" for a type
	// by number); case does not matter. "ANY" is the query type ANY (255);
	// "*" keeps every type. An empty list keeps nothing: the tracker then
	// only counts.
	KeepTypes []string
	// MaxPending bounds the outstanding queries remembered for pairing.
	// When the table is full the oldest query is evicted (Stats.Evicted).
	MaxPending int
	// QueryTimeout is how long, in packet time, a query waits for its
	// response before it is counted as unanswered (Stats.Unanswered).
	QueryTimeout time.Duration
	// MaxRecords bounds the records kept per section (answer, additional)
	// of one event; the rest are counted in Stats.RecordsDropped.
	MaxRecords int
}

// The errors Config.Validate and NewTracker wrap.
var (
	// ErrUnknownType reports a name in KeepTypes that is not a DNS type.
	ErrUnknownType = errors.New("unknown dns type")
	// ErrNotPositive reports a bound that must be positive.
	ErrNotPositive = errors.New("must be positive")
	// ErrNoEmit reports a nil emit function passed to NewTracker.
	ErrNoEmit = errors.New("nil emit function")
)

// DefaultConfig returns the configuration mxwatch uses unless told
// otherwise.
func DefaultConfig() Config {
	return Config{
		KeepTypes:    []string{"MX", "A", "AAAA", "CNAME"},
		MaxPending:   65536,
		QueryTimeout: 30 * time.Second,
		MaxRecords:   64,
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	if _, err := c.keepSet(); err != nil {
		return err
	}
	switch {
	case c.MaxPending <= 0:
		return fmt.Errorf("max_pending %d: %w", c.MaxPending, ErrNotPositive)
	case c.QueryTimeout <= 0:
		return fmt.Errorf("query_timeout %v: %w", c.QueryTimeout, ErrNotPositive)
	case c.MaxRecords <= 0:
		return fmt.Errorf("max_records %d: %w", c.MaxRecords, ErrNotPositive)
	}
	return nil
}

// typeSet is a set of DNS types: a bit per type, or all of them.
type typeSet struct {
	all  bool
	bits [1 << 16 / 64]uint64
}

func (s *typeSet) add(t uint16)      { s.bits[t>>6] |= 1 << (t & 63) }
func (s *typeSet) has(t uint16) bool { return s.all || s.bits[t>>6]&(1<<(t&63)) != 0 }

// keepSet parses KeepTypes.
func (c Config) keepSet() (*typeSet, error) {
	s := new(typeSet)
	for _, name := range c.KeepTypes {
		if strings.TrimSpace(name) == "*" {
			s.all = true
			continue
		}
		t, ok := parseType(name)
		if !ok {
			return nil, fmt.Errorf("keep_types: %q: %w", name, ErrUnknownType)
		}
		s.add(t)
	}
	return s, nil
}

// parseType maps a type name ("mx", "AAAA", "TYPE65") to its number.
func parseType(name string) (uint16, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if t, ok := mdns.StringToType[n]; ok {
		return t, true
	}
	if num, ok := strings.CutPrefix(n, "TYPE"); ok && num != "" {
		v, err := strconv.ParseUint(num, 10, 16)
		return uint16(v), err == nil
	}
	return 0, false
}
