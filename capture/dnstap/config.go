package dnstap

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mxwatch/mxwatch/capture/dns"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxFrameSize = 256 << 10
	DefaultMaxConns     = 64
	DefaultIdleTimeout  = 10 * time.Minute
)

// maxFrameLimit is the largest MaxFrameSize accepted: a frame length is a
// uint32, and a gigabyte per connection is already more than any resolver
// sends.
const maxFrameLimit = 1 << 30

// The errors Config.Validate, Listen, Serve and ReadFile wrap.
var (
	// ErrConfig reports a Config value out of range.
	ErrConfig = errors.New("invalid dnstap config")
	// ErrNetwork reports a network other than "unix", "tcp", "tcp4" or
	// "tcp6".
	ErrNetwork = errors.New("unsupported network")
	// ErrNotSocket reports that a unix socket path exists and is not a
	// socket; Listen removes only stale sockets.
	ErrNotSocket = errors.New("path exists and is not a socket")
	// ErrInUse reports that another process accepts connections on a unix
	// socket path.
	ErrInUse = errors.New("socket in use")
	// ErrServing reports a second call to Serve.
	ErrServing = errors.New("listener already served")
	// ErrNoEmit reports a nil emit function.
	ErrNoEmit = errors.New("nil emit function")
)

// Config bounds the dnstap input. The zero value of each field means its
// default; DefaultConfig spells them out.
type Config struct {
	// Sensor is copied into the Sensor field of every event.
	Sensor string
	// MaxFrameSize bounds a data frame in bytes (default 256 KiB, at most
	// 1 GiB). A larger frame ends its connection (Stats.Oversize): the
	// stream cannot be resynchronised.
	MaxFrameSize int
	// MaxConns bounds the open connections (default 64). Connections
	// beyond it are closed at once (Stats.Refused).
	MaxConns int
	// IdleTimeout closes a connection that sent nothing for this long
	// (default 10 minutes; Stats.IdleTimeouts). Resolvers reconnect when
	// they next have something to log.
	IdleTimeout time.Duration
	// SocketMode, when not zero, is applied to a unix socket after it is
	// created, so that a resolver running as another user (unbound drops
	// to user "unbound") may connect: 0o666, or 0o660 with a shared group.
	SocketMode fs.FileMode
	// DNS configures the Tracker of each connection; the zero value means
	// dns.DefaultConfig(). Its MaxPending bounds each connection's pending
	// queries separately.
	DNS dns.Config
}

// DefaultConfig returns the configuration with every default spelled out.
func DefaultConfig() Config {
	return Config{
		MaxFrameSize: DefaultMaxFrameSize,
		MaxConns:     DefaultMaxConns,
		IdleTimeout:  DefaultIdleTimeout,
		DNS:          dns.DefaultConfig(),
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	switch {
	case c.MaxFrameSize < 0 || c.MaxFrameSize > maxFrameLimit:
		return fmt.Errorf("max_frame_size %d not in 0..%d: %w", c.MaxFrameSize, maxFrameLimit, ErrConfig)
	case c.MaxConns < 0:
		return fmt.Errorf("max_conns %d is negative: %w", c.MaxConns, ErrConfig)
	case c.IdleTimeout < 0:
		return fmt.Errorf("idle_timeout %v is negative: %w", c.IdleTimeout, ErrConfig)
	case c.SocketMode&^fs.ModePerm != 0:
		return fmt.Errorf("socket_mode %v has more than permission bits: %w", c.SocketMode, ErrConfig)
	}
	if err := c.withDefaults().DNS.Validate(); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	return nil
}

// withDefaults replaces zero values with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.DNS.KeepTypes == nil && c.DNS.MaxPending == 0 && c.DNS.QueryTimeout == 0 && c.DNS.MaxRecords == 0 {
		c.DNS = d.DNS
	}
	return c
}
