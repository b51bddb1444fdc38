package smtp

import (
	"errors"
	"fmt"
)

// Config bounds what a Conn keeps. Start from DefaultConfig.
type Config struct {
	// MaxLineBytes is the longest command, reply or header line kept;
	// longer lines keep their first MaxLineBytes bytes, the rest up to the
	// line feed is discarded, flagged "line_too_long" and counted.
	MaxLineBytes int
	// MaxReplyLines is the number of lines kept of one multi-line reply;
	// further lines are dropped and flagged "reply_lines_truncated".
	MaxReplyLines int
	// MaxReplies is the number of replies kept in Session.Replies; further
	// replies are still matched but not kept ("replies_truncated").
	MaxReplies int
	// MaxRecipients is the number of RCPT TO kept per message; further ones
	// are counted in Message.RecipientsDropped.
	MaxRecipients int
	// MaxHeaderBytes is the number of bytes of a message's header block
	// that are parsed; the rest is flagged "header_too_large".
	MaxHeaderBytes int
	// MaxHeaderValue is the number of bytes kept of one header value such
	// as Subject.
	MaxHeaderValue int
	// MaxPendingBytes is the number of client bytes held while waiting for
	// the server's reply to DATA, AUTH or STARTTLS. Past it the reply is
	// assumed ("assumed_reply").
	MaxPendingBytes int
	// MaxExtensions is the number of EHLO keywords kept.
	MaxExtensions int
	// MaxPipeline is the number of commands that may wait for their reply
	// at once. Past it the oldest is given up (counted as unanswered and as
	// a pipeline overflow), which keeps client-only captures bounded.
	MaxPipeline int
}

// The errors Config.Validate wraps.
var (
	// ErrNotPositive reports a bound that must be positive.
	ErrNotPositive = errors.New("must be positive")
	// ErrTooSmall reports a bound too small to hold an SMTP command.
	ErrTooSmall = errors.New("too small")
)

// minLineBytes is the smallest MaxLineBytes accepted: room for a command
// verb and a short address.
const minLineBytes = 32

// DefaultConfig returns the configuration mxwatch uses unless told
// otherwise.
func DefaultConfig() Config {
	return Config{
		MaxLineBytes:    4096,
		MaxReplyLines:   64,
		MaxReplies:      1000,
		MaxRecipients:   1000,
		MaxHeaderBytes:  65536,
		MaxHeaderValue:  1024,
		MaxPendingBytes: 65536,
		MaxExtensions:   64,
		MaxPipeline:     4096,
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	for _, f := range c.fields() {
		if *f.v <= 0 {
			return fmt.Errorf("%s %d: %w", f.name, *f.v, ErrNotPositive)
		}
	}
	if c.MaxLineBytes < minLineBytes {
		return fmt.Errorf("max_line_bytes %d (minimum %d): %w", c.MaxLineBytes, minLineBytes, ErrTooSmall)
	}
	return nil
}

type configField struct {
	name string
	v    *int
}

func (c *Config) fields() []configField {
	return []configField{
		{"max_line_bytes", &c.MaxLineBytes},
		{"max_reply_lines", &c.MaxReplyLines},
		{"max_replies", &c.MaxReplies},
		{"max_recipients", &c.MaxRecipients},
		{"max_header_bytes", &c.MaxHeaderBytes},
		{"max_header_value", &c.MaxHeaderValue},
		{"max_pending_bytes", &c.MaxPendingBytes},
		{"max_extensions", &c.MaxExtensions},
		{"max_pipeline", &c.MaxPipeline},
	}
}

// sanitized returns c with every invalid bound replaced by its default, so
// that NewConn never fails or panics on a configuration that was not
// validated.
func (c Config) sanitized() Config {
	d := DefaultConfig()
	df := d.fields()
	for i, f := range c.fields() {
		if *f.v <= 0 {
			*f.v = *df[i].v
		}
	}
	if c.MaxLineBytes < minLineBytes {
		c.MaxLineBytes = minLineBytes
	}
	return c
}

// Options describe one connection.
type Options struct {
	// ImplicitTLS says the server port is an implicit-TLS port (465): TLS
	// is expected from the first byte.
	ImplicitTLS bool
	// Midstream says the capture joined the connection late (no SYN seen):
	// the first server reply may not be the greeting.
	Midstream bool
}
