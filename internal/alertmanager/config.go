package alertmanager

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultRetries   = 3
	DefaultHold      = 15 * time.Minute
	DefaultQueueSize = 1000
	DefaultBatchSize = 64
)

// apiPath is appended to Config.URL.
const apiPath = "/api/v2/alerts"

// Sentinel errors.
var (
	// ErrInvalidConfig is wrapped by every error that Config.Validate,
	// NewClient and Payload return for a bad configuration.
	ErrInvalidConfig = errors.New("invalid config")

	// errNoClient is returned for the posts of a Sender made without a
	// Client.
	errNoClient = errors.New("alertmanager: sender has no client")
)

// Config configures a Client and the Sender built on it.
type Config struct {
	// URL is the base URL of the Alertmanager, e.g. http://127.0.0.1:9093
	// (a path prefix such as http://host/alertmanager is kept); the API
	// path /api/v2/alerts is appended. Scheme http or https, a host, no
	// query or fragment. User info, if any, is sent as basic auth and
	// redacted in errors.
	URL string
	// Timeout bounds each HTTP request (default 5s).
	Timeout time.Duration
	// Retries is how many times a request is repeated after a network
	// error, a timeout, a 5xx or a 429 answer, with exponential backoff
	// from 200ms capped at 5s. Zero means the default (3); a negative
	// value disables retries.
	Retries int
	// Hold is added to the wall-clock time of sending to make endsAt
	// (default 15m), so that replayed (old) alerts are still active and
	// visible after they are posted.
	Hold time.Duration
	// Labels are static labels added to every alert (env="prod"). Names
	// must be valid Prometheus label names and may not be one of the
	// labels the package sets itself; entries with an empty value are
	// omitted.
	Labels map[string]string
	// GeneratorURL, when set, is sent as every alert's generatorURL (a
	// Grafana dashboard, for example).
	GeneratorURL string
	// QueueSize bounds the Sender's queue (default 1000).
	QueueSize int
	// BatchSize is the number of alerts per POST the Sender makes
	// (default 64).
	BatchSize int
}

// reservedLabel reports whether the package sets the label name from
// each alert.
func reservedLabel(name string) bool {
	switch name {
	case "alertname", "severity", "scope", "source", "group", "metric", "rule",
		"customer", "host", "sensor":
		return true
	}
	return false
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	return c
}

// Validate reports whether c, after defaults, is usable. Errors wrap
// ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if _, err := endpoint(c.URL); err != nil {
		return err
	}
	switch {
	case c.Timeout < 0:
		return invalid("timeout %v is negative", c.Timeout)
	case c.QueueSize < 0:
		return invalid("queue size %d is negative", c.QueueSize)
	case c.BatchSize < 0:
		return invalid("batch size %d is negative", c.BatchSize)
	}
	return c.validatePayload()
}

// validatePayload checks the fields that Payload uses.
func (c Config) validatePayload() error {
	if c.Hold < 0 {
		return invalid("hold %v is negative", c.Hold)
	}
	for name := range c.Labels {
		if !validLabelName(name) {
			return invalid("label name %q is not a valid Prometheus label name", name)
		}
		if reservedLabel(name) {
			return invalid("label %q is set from each alert and cannot be static", name)
		}
	}
	return nil
}

// endpoint checks the base URL and returns the API endpoint.
func endpoint(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, invalid("url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: %w: url: %w", ErrInvalidConfig, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, invalid("url %q: scheme must be http or https", u.Redacted())
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, invalid("url %q: host required", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, invalid("url %q: query and fragment not allowed", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/") + apiPath
	u.RawPath = ""
	return u, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("alertmanager: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and does
// not start with "__" (reserved for Prometheus internals).
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '_', 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z':
		case '0' <= b && b <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
