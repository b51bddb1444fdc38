package privacy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

var key = []byte("0123456789abcdef-test-key")

func sample() (*event.Message, *event.Session, *event.Finding, *event.Alert) {
	c, s := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("192.0.2.1:25")
	m := &event.Message{Kind: event.KindMessage, Version: event.SchemaVersion, ID: "m", Session: "s", Client: c, Server: s,
		MailFrom: "wordpress@shop.example", Subject: "Your invoice 4711",
		Recipients: []event.Recipient{{Addr: "Jane.Doe@Example.org", Code: 250}, {Addr: "<bob@example.net>", Code: 550}},
		Final:      &event.Reply{Command: "DATA", Code: 550, Text: "5.1.1 <jane.doe@example.org>: Recipient address rejected"}}
	se := &event.Session{Kind: event.KindSession, Version: event.SchemaVersion, ID: "s", Client: c, Server: s,
		Replies: []event.Reply{{Command: "RCPT", Code: 550, Text: "<bob@example.net> unknown user; see https://x.example/a@b"}}}
	fi := &event.Finding{Kind: event.KindFinding, Blocklist: []event.BlocklistHit{{Text: "blocked: rcpt bob@example.net from 203.0.113.10"}}}
	al := &event.Alert{Kind: event.KindAlert, TopRejections: []string{"550 jane.doe@example.org listed"}}
	return m, se, fi, al
}

func TestModes(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		rcpt0, rcpt1  string
		subject       string
		final, reply  string
		notContaining []string
	}{
		{name: "keep", cfg: Config{}, rcpt0: "Jane.Doe@Example.org", rcpt1: "<bob@example.net>", subject: "Your invoice 4711",
			final: "5.1.1 <jane.doe@example.org>: Recipient address rejected"},
		{name: "drop", cfg: Config{Recipients: Drop, Subjects: Drop}, rcpt0: "*@Example.org", rcpt1: "<*@example.net>", subject: "",
			final: "5.1.1 <*@example.org>: Recipient address rejected", notContaining: []string{"jane", "bob", "invoice"}},
		{name: "hash", cfg: Config{Recipients: Hash, Subjects: Hash, Key: key}, notContaining: []string{"jane", "Jane", "bob", "invoice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			m, se, fi, al := sample()
			for _, ev := range []event.Event{m, se, fi, al} {
				f.Apply(ev)
			}
			if tt.rcpt0 != "" && (m.Recipients[0].Addr != tt.rcpt0 || m.Recipients[1].Addr != tt.rcpt1) {
				t.Errorf("recipients %q %q", m.Recipients[0].Addr, m.Recipients[1].Addr)
			}
			if tt.name != "hash" && m.Subject != tt.subject {
				t.Errorf("subject %q, want %q", m.Subject, tt.subject)
			}
			if tt.final != "" && m.Final.Text != tt.final {
				t.Errorf("final %q, want %q", m.Final.Text, tt.final)
			}
			all := strings.Join([]string{m.Recipients[0].Addr, m.Recipients[1].Addr, m.Subject, m.Final.Text,
				se.Replies[0].Text, fi.Blocklist[0].Text, al.TopRejections[0]}, "\n")
			for _, s := range tt.notContaining {
				if strings.Contains(all, s) {
					t.Errorf("%q left in:\n%s", s, all)
				}
			}
			// Domains, the sender and non-address text stay.
			if !strings.Contains(all, "example.org") || m.MailFrom != "wordpress@shop.example" || !strings.Contains(fi.Blocklist[0].Text, "203.0.113.10") {
				t.Errorf("kept data lost:\n%s", all)
			}
		})
	}
}

// TestHashIsStable: the same address (in any case, in a recipient or in a
// reply text) gives the same token; another key gives another.
func TestHashIsStable(t *testing.T) {
	f, _ := New(Config{Recipients: Hash, Key: key})
	m, _, _, al := sample()
	f.Apply(m)
	f.Apply(al)
	tok := strings.TrimSuffix(m.Recipients[0].Addr, "@Example.org")
	if !strings.HasPrefix(tok, "h-") || len(tok) != 18 {
		t.Fatalf("token %q", m.Recipients[0].Addr)
	}
	if !strings.Contains(m.Final.Text, tok+"@example.org") || !strings.Contains(al.TopRejections[0], tok) {
		t.Errorf("token %s not reused: %q / %q", tok, m.Final.Text, al.TopRejections[0])
	}
	g, _ := New(Config{Recipients: Hash, Key: []byte("another-key-of-16+bytes")})
	m2, _, _, _ := sample()
	g.Apply(m2)
	if strings.HasPrefix(m2.Recipients[0].Addr, tok) {
		t.Error("another key gave the same token")
	}
	if st := f.Stats(); st.Hashed < 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "zero keeps", cfg: Config{}, ok: true},
		{name: "drop without key", cfg: Config{Recipients: Drop, Subjects: Drop}, ok: true},
		{name: "hash without key", cfg: Config{Subjects: Hash}},
		{name: "hash short key", cfg: Config{Recipients: Hash, Key: []byte("short")}},
		{name: "unknown mode", cfg: Config{Recipients: "scramble"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("Validate = %v", err)
			}
		})
	}
}

// FuzzText: reply texts are untrusted; rewriting must not panic and must
// leave no local part in drop mode.
func FuzzText(f *testing.F) {
	f.Add("550 <a@b.example> rejected")
	f.Add("@@@ x@ @y a@b@c")
	f.Add(strings.Repeat("a", 1000) + "@example.org")
	drop, _ := New(Config{Recipients: Drop})
	hash, _ := New(Config{Recipients: Hash, Key: key})
	f.Fuzz(func(t *testing.T, s string) {
		d := drop.text(s)
		_ = hash.text(s)
		for _, m := range addrRE.FindAllString(d, -1) {
			if !strings.HasPrefix(m, "*@") && !strings.Contains(m, "*@") {
				t.Fatalf("address %q left in %q (from %q)", m, d, s)
			}
		}
	})
}
