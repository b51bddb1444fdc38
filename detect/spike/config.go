package spike

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors returned by New and Config.Validate; the returned errors wrap one
// of them with the offending value.
var (
	// ErrConfig reports a configuration value out of range.
	ErrConfig = errors.New("spike: invalid config")
	// ErrScope reports an unknown or repeated scope name.
	ErrScope = errors.New("spike: invalid scope")
)

// Scope names, as in Config.Scopes and event.Alert.Scope.
const (
	ScopeHost     = "host"
	ScopeCustomer = "customer"
	ScopeEgress   = "egress"
)

// Rule names, as in event.Alert.Rule.
const (
	RuleSpike      = "spike"
	RuleRejections = "rejections"
)

// Metric names, as in event.Alert.Metric.
const (
	MetricMessages    = "messages"
	MetricConnections = "connections"
	MetricRejections  = "rejections"
)

// Limits of the configuration values that would otherwise make memory or
// window arithmetic unbounded.
const (
	// MinWindow and MaxWindow bound Config.Window.
	MinWindow = time.Second
	MaxWindow = 24 * time.Hour
	// MaxHistory bounds Config.History: a week of five-minute windows.
	MaxHistory = 2016
)

// Config configures a Detector. The package documentation explains each
// default.
type Config struct {
	// Window is the length of the counting windows: tumbling, aligned to
	// multiples of Window since the Unix epoch. Default 5m.
	Window time.Duration
	// History is the number of closed windows in the baseline. Default 12.
	History int
	// Warmup is how much packet time must pass after the first observation
	// before spike alerts are raised. Default 1h.
	Warmup time.Duration
	// MinVolume is the smallest message count of a window that can alert;
	// the connections metric uses twice as much. Default 20.
	MinVolume float64
	// Factor: observed must exceed Factor x baseline median. Default 4.
	Factor float64
	// MADs: observed must also exceed median + MADs x MAD. Default 6.
	MADs float64
	// CriticalFactor: severity is critical above this multiple of the
	// baseline, warning below. Default 10.
	CriticalFactor float64
	// RejectionBurst is the number of blocklist rejections of one key in
	// one window that raises a "rejections" alert; 0 disables the rule.
	// Default 5.
	RejectionBurst int
	// OnlySensitive restricts spike alerts to blocklist-sensitive groups;
	// rejection bursts alert for any group. Default true.
	OnlySensitive bool
	// Scopes lists the sources counted: "host", "customer", "egress".
	// Default all three.
	Scopes []string
	// MaxKeys bounds the tracked (scope, source, group) keys; beyond it
	// the least recently seen key is evicted and counted. Default 100000.
	MaxKeys int
	// Sensor is copied into alerts.
	Sensor string
}

// DefaultConfig returns the defaults explained in the package
// documentation.
func DefaultConfig() Config {
	return Config{
		Window:         5 * time.Minute,
		History:        12,
		Warmup:         time.Hour,
		MinVolume:      20,
		Factor:         4,
		MADs:           6,
		CriticalFactor: 10,
		RejectionBurst: 5,
		OnlySensitive:  true,
		Scopes:         []string{ScopeHost, ScopeCustomer, ScopeEgress},
		MaxKeys:        100_000,
	}
}

// Validate reports the first value out of range.
func (c Config) Validate() error {
	_, err := c.scopes()
	if err != nil {
		return err
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Window < MinWindow || c.Window > MaxWindow:
		return fmt.Errorf("%w: window %v not in [%v, %v]", ErrConfig, c.Window, MinWindow, MaxWindow)
	case c.History < 1 || c.History > MaxHistory:
		return fmt.Errorf("%w: history %d not in [1, %d]", ErrConfig, c.History, MaxHistory)
	case c.Warmup < 0:
		return fmt.Errorf("%w: warmup %v is negative", ErrConfig, c.Warmup)
	case !finite(c.MinVolume) || c.MinVolume < 0:
		return fmt.Errorf("%w: min volume %v must be a finite number >= 0", ErrConfig, c.MinVolume)
	case !finite(c.Factor) || c.Factor < 1:
		return fmt.Errorf("%w: factor %v must be a finite number >= 1", ErrConfig, c.Factor)
	case !finite(c.MADs) || c.MADs < 0:
		return fmt.Errorf("%w: mads %v must be a finite number >= 0", ErrConfig, c.MADs)
	case !finite(c.CriticalFactor) || c.CriticalFactor < c.Factor:
		return fmt.Errorf("%w: critical factor %v must be finite and >= factor %v", ErrConfig, c.CriticalFactor, c.Factor)
	case c.RejectionBurst < 0:
		return fmt.Errorf("%w: rejection burst %d is negative", ErrConfig, c.RejectionBurst)
	case c.MaxKeys < 1:
		return fmt.Errorf("%w: max keys %d must be at least 1", ErrConfig, c.MaxKeys)
	}
	return nil
}

// scopes parses Scopes.
func (c Config) scopes() ([]scope, error) {
	if len(c.Scopes) == 0 {
		return nil, fmt.Errorf("%w: no scopes", ErrScope)
	}
	out := make([]scope, 0, len(c.Scopes))
	for _, name := range c.Scopes {
		var s scope
		switch name {
		case ScopeHost:
			s = scopeHost
		case ScopeCustomer:
			s = scopeCustomer
		case ScopeEgress:
			s = scopeEgress
		default:
			return nil, fmt.Errorf("%w: %q (want %s, %s or %s)", ErrScope, name, ScopeHost, ScopeCustomer, ScopeEgress)
		}
		for _, have := range out {
			if have == s {
				return nil, fmt.Errorf("%w: %q listed twice", ErrScope, name)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
