// Package privacy owns what mxwatch keeps of personal data in the events
// it emits: recipient local parts and subjects are kept, replaced by a
// keyed hash (HMAC-SHA-256, so the same address gives the same token and
// can be followed across events without being readable), or dropped.
// Domains, HELO names, script paths and everything detection needs are
// kept. Message bodies and AUTH credentials never reach an event in the
// first place (capture/smtp stores neither).
//
// Addresses inside server reply texts ("550 5.1.1 <jane@example.org>:
// Recipient address rejected") are treated like recipients, wherever they
// appear: session replies, a message's final reply, blocklist evidence of
// findings and the top rejections of alerts.
package privacy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/mxwatch/mxwatch/event"
)

// Mode says what happens to one kind of personal data.
type Mode string

// The modes.
const (
	Keep Mode = "keep"
	Hash Mode = "hash"
	Drop Mode = "drop"
)

// MinKeyBytes is the shortest HMAC key accepted.
const MinKeyBytes = 16

// ErrConfig wraps configuration errors.
var ErrConfig = errors.New("invalid privacy config")

// Config chooses the modes. The zero value keeps everything.
type Config struct {
	// Recipients applies to the local part of recipient addresses (and of
	// addresses in reply texts); the domain is always kept.
	Recipients Mode
	// Subjects applies to message subjects.
	Subjects Mode
	// Key is the HMAC key for Hash; required (at least MinKeyBytes) when
	// a mode is Hash. Keep it secret: with it, tokens can be confirmed
	// against guessed addresses.
	Key []byte
}

func (c Config) mode(m Mode) Mode {
	if m == "" {
		return Keep
	}
	return m
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	for name, m := range map[string]Mode{"recipients": c.Recipients, "subjects": c.Subjects} {
		switch c.mode(m) {
		case Keep, Drop:
		case Hash:
			if len(c.Key) < MinKeyBytes {
				return fmt.Errorf("%w: %s: hash needs a key of at least %d bytes (privacy.hmac_key or privacy.hmac_key_file)", ErrConfig, name, MinKeyBytes)
			}
		default:
			return fmt.Errorf("%w: %s: %q is not keep, hash or drop", ErrConfig, name, m)
		}
	}
	return nil
}

// Stats counts what the filter changed.
type Stats struct {
	Hashed, Dropped uint64
}

// Filter applies a Config to events. Apply is safe for concurrent use.
type Filter struct {
	rcpt, subj      Mode
	key             []byte
	hashed, dropped atomic.Uint64
}

// New returns a filter for cfg.
func New(cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Filter{rcpt: cfg.mode(cfg.Recipients), subj: cfg.mode(cfg.Subjects), key: append([]byte(nil), cfg.Key...)}, nil
}

// Stats returns a snapshot of the counters.
func (f *Filter) Stats() Stats {
	return Stats{Hashed: f.hashed.Load(), Dropped: f.dropped.Load()}
}

// Active reports whether the filter changes anything.
func (f *Filter) Active() bool { return f.rcpt != Keep || f.subj != Keep }

// Apply rewrites ev in place.
func (f *Filter) Apply(ev event.Event) {
	if !f.Active() {
		return
	}
	switch e := ev.(type) {
	case *event.Message:
		for i := range e.Recipients {
			e.Recipients[i].Addr = f.address(e.Recipients[i].Addr)
		}
		if e.Subject != "" {
			e.Subject = f.subject(e.Subject)
		}
		if e.Final != nil {
			e.Final.Text = f.text(e.Final.Text)
		}
	case *event.Session:
		for i := range e.Replies {
			e.Replies[i].Text = f.text(e.Replies[i].Text)
		}
	case *event.Finding:
		for i := range e.Blocklist {
			e.Blocklist[i].Text = f.text(e.Blocklist[i].Text)
		}
	case *event.Alert:
		for i := range e.TopRejections {
			e.TopRejections[i] = f.text(e.TopRejections[i])
		}
	}
}

func (f *Filter) token(kind, s string) string {
	m := hmac.New(sha256.New, f.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// address rewrites the local part of "local@domain" (angle brackets and
// all); strings without '@' are local parts only.
func (f *Filter) address(a string) string {
	if f.rcpt == Keep || a == "" {
		return a
	}
	open, close := "", ""
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		open, close, a = "<", ">", a[1:len(a)-1]
	}
	local, domain := a, ""
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		local, domain = a[:i], a[i:]
	}
	if local == "" {
		return open + a + close
	}
	switch f.rcpt {
	case Hash:
		f.hashed.Add(1)
		local = "h-" + f.token("local", strings.ToLower(local))
	default:
		f.dropped.Add(1)
		local = "*"
	}
	return open + local + domain + close
}

func (f *Filter) subject(s string) string {
	switch f.subj {
	case Hash:
		f.hashed.Add(1)
		return "h-" + f.token("subject", s)
	case Drop:
		f.dropped.Add(1)
		return ""
	}
	return s
}

// addrRE finds addresses in free text (reply texts).
var addrRE = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?`)

func (f *Filter) text(s string) string {
	if f.rcpt == Keep || !strings.Contains(s, "@") {
		return s
	}
	return addrRE.ReplaceAllStringFunc(s, f.address)
}
