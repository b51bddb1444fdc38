package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

var dt0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func dat(sec float64) time.Time { return dt0.Add(time.Duration(sec * float64(time.Second))) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// hostPort joins a host address and a port.
func hostPort(host string, port uint16) netip.AddrPort { return netip.AddrPortFrom(addr(host), port) }

const resolver = "10.0.0.53:53"

// mx is an MX answer: domain's MX hosts, with glue in the additional
// section when glue is set ("host=addr").
func dmx(client string, sec float64, domain string, ttl uint32, hosts []string, glue ...string) *event.DNS {
	d := &event.DNS{Kind: event.KindDNS, Version: 1, ID: fmt.Sprint("mx-", client, sec, domain), Time: dat(sec),
		Client: hostPort(client, 40000), Server: ap(resolver), QName: domain, QType: "MX", RCode: "NOERROR", Matched: true}
	for i, h := range hosts {
		d.Answers = append(d.Answers, event.RR{Name: domain, Type: "MX", TTL: ttl, Pref: uint16(10 * (i + 1)), Host: h})
	}
	for _, g := range glue {
		name, a, _ := strings.Cut(g, "=")
		typ := "A"
		if strings.Contains(a, ":") {
			typ = "AAAA"
		}
		d.Additional = append(d.Additional, event.RR{Name: name, Type: typ, TTL: ttl, Addr: addr(a)})
	}
	return d
}

// a is an A/AAAA answer for name; chain holds "name>target" CNAMEs,
// addrs the final addresses.
func a(client string, sec float64, name string, ttl uint32, chain []string, addrs ...string) *event.DNS {
	d := &event.DNS{Kind: event.KindDNS, Version: 1, ID: fmt.Sprint("a-", client, sec, name), Time: dat(sec),
		Client: hostPort(client, 40001), Server: ap(resolver), QName: name, QType: "A", RCode: "NOERROR", Matched: true}
	last := name
	for _, c := range chain {
		from, to, _ := strings.Cut(c, ">")
		d.Answers = append(d.Answers, event.RR{Name: from, Type: "CNAME", TTL: ttl, Host: to})
		last = to
	}
	for _, s := range addrs {
		typ := "A"
		if strings.Contains(s, ":") {
			typ, d.QType = "AAAA", "AAAA"
		}
		d.Answers = append(d.Answers, event.RR{Name: last, Type: typ, TTL: ttl, Addr: addr(s)})
	}
	return d
}

type sessOpt func(*event.Session)

func withAuth(s *event.Session) {
	s.Auth = &event.Auth{Mechanism: "LOGIN", Outcome: "success", Code: 235}
}
func withBanner(b string) sessOpt             { return func(s *event.Session) { s.Banner = b } }
func withHandshake(h event.Handshake) sessOpt { return func(s *event.Session) { s.Handshake = h } }
func withReply(code int, enh, text string) sessOpt {
	return func(s *event.Session) {
		s.Replies = append(s.Replies, event.Reply{Command: "RCPT", Code: code, Enhanced: enh, Text: text})
	}
}

func dsession(id, client, server string, sec float64, opts ...sessOpt) *event.Session {
	c := hostPort(client, 51000)
	srv := netip.MustParseAddrPort(server)
	s := &event.Session{Kind: event.KindSession, Version: 1, ID: id, Start: dat(sec), End: dat(sec + 2),
		Client: c, Server: srv, Handshake: event.HandshakeCompleted}
	for _, o := range opts {
		o(s)
	}
	return s
}

func newDetector(t *testing.T, mod func(*Config)) *Detector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Platform.Networks = []string{"10.20.0.0/16", "2001:db8:20::/48"}
	cfg.Platform.Relays = []string{"10.20.0.25", "relay.platform.example"}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(cfg, Tables{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// run feeds events and returns the findings by session id.
func run(t *testing.T, d *Detector, evs ...event.Event) map[string]*event.Finding {
	t.Helper()
	out := map[string]*event.Finding{}
	emit := func(ev event.Event) {
		if err := ev.Validate(); err != nil {
			t.Errorf("invalid event: %v", err)
		}
		if f, ok := ev.(*event.Finding); ok {
			out[f.ID] = f
		}
	}
	for _, ev := range evs {
		d.Add(ev, emit)
	}
	d.Flush(emit)
	return out
}

func TestClassification(t *testing.T) {
	const web, web2, relay = "10.20.1.5", "10.20.1.6", "10.20.0.25"
	gmx := []string{"gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com"}
	tests := []struct {
		name   string
		mod    func(*Config)
		events []event.Event
		want   map[string]string // session id -> "class/confidence[/by/domain/mxhost/via]"
	}{
		{
			name: "own MX lookup with glue, then connect",
			events: []event.Event{
				dmx(web, 0, "gmail.com", 300, gmx, "gmail-smtp-in.l.google.com=192.0.2.26", "alt1.gmail-smtp-in.l.google.com=192.0.2.27"),
				dsession("s1", web, "192.0.2.26:25", 0.4),
				dsession("s2", web, "192.0.2.27:25", 0.5),
			},
			want: map[string]string{
				"s1": "direct-to-mx/high/self/gmail.com/gmail-smtp-in.l.google.com/additional",
				"s2": "direct-to-mx/high/self/gmail.com/alt1.gmail-smtp-in.l.google.com/additional",
			},
		},
		{
			name: "lookup after connect does not pair",
			events: []event.Event{
				dmx(web, 5, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				// The session started before the lookup; its event comes at its end.
				dsession("s1", web, "192.0.2.26:25", 1),
			},
			want: map[string]string{"s1": "direct-25/none"},
		},
		{
			name: "expired lookup does not pair",
			mod:  func(c *Config) { c.Pairing.MinTTL, c.Pairing.MaxTTL = time.Minute, 10*time.Minute },
			events: []event.Event{
				dmx(web, 0, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				dsession("s1", web, "192.0.2.26:25", 301),
			},
			want: map[string]string{"s1": "direct-25/none"},
		},
		{
			name: "short TTL is stretched to min_ttl",
			events: []event.Event{
				dmx(web, 0, "example.org", 30, []string{"mx.example.org"}, "mx.example.org=198.51.100.10"),
				dsession("s1", web, "198.51.100.10:25", 120),
			},
			want: map[string]string{"s1": "direct-to-mx/high/self/example.org/mx.example.org/additional"},
		},
		{
			name: "MX without glue, then the A lookup",
			events: []event.Event{
				dmx(web, 0, "example.org", 300, []string{"mx1.example.org", "mx2.example.org"}),
				a(web, 0.1, "mx2.example.org", 300, nil, "198.51.100.12"),
				dsession("s1", web, "198.51.100.12:25", 0.3),
			},
			want: map[string]string{"s1": "direct-to-mx/high/self/example.org/mx2.example.org/answer"},
		},
		{
			name: "MX host behind a CNAME chain",
			events: []event.Event{
				dmx(web, 0, "example.net", 300, []string{"mail.example.net"}),
				a(web, 0.1, "mail.example.net", 300, []string{"mail.example.net>mx.hosting.example", "mx.hosting.example>lb7.hosting.example"}, "203.0.113.40"),
				dsession("s1", web, "203.0.113.40:25", 0.2),
			},
			want: map[string]string{"s1": "direct-to-mx/high/self/example.net/mail.example.net/cname"},
		},
		{
			name: "IPv6 glue and client",
			events: []event.Event{
				dmx("2001:db8:20::5", 0, "example.com", 3600, []string{"mx.example.com"}, "mx.example.com=2001:db8:99::25"),
				dsession("s1", "2001:db8:20::5", "[2001:db8:99::25]:25", 1),
			},
			want: map[string]string{"s1": "direct-to-mx/high/self/example.com/mx.example.com/additional"},
		},
		{
			name: "another client's lookup gives medium confidence",
			events: []event.Event{
				dmx(web, 0, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				dsession("s1", web2, "192.0.2.26:25", 3),
			},
			want: map[string]string{"s1": "direct-to-mx/medium/other/gmail.com/gmail-smtp-in.l.google.com/additional"},
		},
		{
			name: "guessed mail name gives low confidence",
			events: []event.Event{
				a(web, 0, "mail.victim.example", 300, nil, "203.0.113.77"),
				dsession("s1", web, "203.0.113.77:25", 0.2),
			},
			want: map[string]string{"s1": "direct-to-mx/low/guess/victim.example/mail.victim.example/answer"},
		},
		{
			name: "relay doing its own MX lookups is relay",
			events: []event.Event{
				dmx(relay, 0, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				dsession("s1", relay, "192.0.2.26:25", 0.3),
			},
			want: map[string]string{"s1": "relay/high"},
		},
		{
			name: "client to the relay, by address and by name",
			events: []event.Event{
				dsession("s1", web, "10.20.0.25:25", 1),
				a(web2, 2, "relay.platform.example", 300, nil, "10.20.0.26"),
				dsession("s2", web2, "10.20.0.26:25", 3),
				dsession("s3", web, "10.20.0.27:25", 4, withBanner("relay.platform.example")),
			},
			want: map[string]string{"s1": "relay/high", "s2": "relay/high", "s3": "relay/medium"},
		},
		{
			name: "AUTH on port 25 is an external relay",
			events: []event.Event{
				dmx(web, 0, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				dsession("s1", web, "198.51.100.200:25", 1, withAuth),
				// AUTH beats pairing.
				dsession("s2", web, "192.0.2.26:25", 1, withAuth),
			},
			want: map[string]string{"s1": "external-relay-25/high", "s2": "external-relay-25/high"},
		},
		{
			name: "smarthost resolved by name",
			events: []event.Event{
				a(web, 0, "smtp.sendgrid.net", 300, nil, "198.51.100.150"),
				dsession("s1", web, "198.51.100.150:25", 1),
				dsession("s2", web, "198.51.100.151:25", 1, withBanner("smtp.mailgun.org")),
			},
			want: map[string]string{"s1": "external-relay-25/high", "s2": "external-relay-25/medium"},
		},
		{
			name: "submission ports",
			events: []event.Event{
				dsession("s1", web, "198.51.100.150:587", 1),
				dsession("s2", web, "198.51.100.150:465", 1),
				dsession("s3", web, "198.51.100.150:2525", 1),
			},
			want: map[string]string{"s1": "submission/high", "s2": "submission/high", "s3": "submission/high"},
		},
		{
			name: "connect that never completes keeps its class",
			events: []event.Event{
				dmx(web, 0, "gmail.com", 300, gmx[:1], "gmail-smtp-in.l.google.com=192.0.2.26"),
				dsession("s1", web, "192.0.2.26:25", 0.5, withHandshake(event.HandshakeNoAnswer)),
				dsession("s2", web, "192.0.2.99:25", 0.5, withHandshake(event.HandshakeRefused)),
			},
			want: map[string]string{"s1": "direct-to-mx/high/self/gmail.com/gmail-smtp-in.l.google.com/additional", "s2": "direct-25/none"},
		},
		{
			name: "client outside the platform gets no finding",
			events: []event.Event{
				dsession("s1", "192.0.2.200", "198.51.100.1:25", 1),
				dsession("s2", web, "198.51.100.1:25", 1),
			},
			want: map[string]string{"s2": "direct-25/none"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, newDetector(t, tt.mod), tt.events...)
			if len(got) != len(tt.want) {
				t.Errorf("%d findings, want %d", len(got), len(tt.want))
			}
			for id, want := range tt.want {
				f := got[id]
				if f == nil {
					t.Errorf("%s: no finding", id)
					continue
				}
				g := string(f.Class) + "/" + string(f.Confidence)
				if f.Pairing != nil && strings.Count(want, "/") > 1 {
					p := f.Pairing
					g += "/" + p.By
					if strings.Count(want, "/") > 2 {
						g += "/" + p.Domain + "/" + p.MXHost + "/" + p.Via
					}
				}
				if g != want {
					t.Errorf("%s: %s (%s), want %s", id, g, f.Reason, want)
				}
				if f.Reason == "" {
					t.Errorf("%s: no reason", id)
				}
			}
		})
	}
}

func TestPairingDelayAndResolver(t *testing.T) {
	d := newDetector(t, nil)
	got := run(t, d,
		dmx("10.20.1.5", 0, "example.org", 300, []string{"mx.example.org"}, "mx.example.org=198.51.100.10"),
		dsession("s1", "10.20.1.5", "198.51.100.10:25", 1.25))
	p := got["s1"].Pairing
	if p == nil || p.Delay != 1250*time.Millisecond || p.Resolver != addr("10.0.0.53") || !p.LookupTime.Equal(dt0) || p.MXPref != 10 {
		t.Fatalf("pairing %+v", p)
	}
	if !strings.Contains(got["s1"].Reason, "1.25s") {
		t.Errorf("reason %q lacks the delay", got["s1"].Reason)
	}
}

func TestPairingBounded(t *testing.T) {
	d := newDetector(t, func(c *Config) { c.Pairing.MaxEntries = 100 })
	emit := func(event.Event) {}
	for i := range 1000 {
		d.Add(dmx("10.20.1.5", float64(i), fmt.Sprintf("d%d.example", i), 300, []string{fmt.Sprintf("mx.d%d.example", i)},
			fmt.Sprintf("mx.d%d.example=198.51.%d.%d", i, i/250, i%250)), emit)
	}
	st := d.Stats().Pairing
	if st.Entries > 100 || st.Evicted == 0 {
		t.Fatalf("entries %d, evicted %d", st.Entries, st.Evicted)
	}
	// The newest lookups still pair.
	got := run(t, d, dsession("s1", "10.20.1.5", "198.51.3.249:25", 999.5))
	if got["s1"].Class != event.ClassDirectToMX {
		t.Errorf("newest lookup lost: %s", got["s1"].Class)
	}
}

func TestPairingExpires(t *testing.T) {
	d := newDetector(t, func(c *Config) {
		c.Pairing.MinTTL, c.Pairing.MaxTTL, c.Pairing.Linger = time.Minute, 10*time.Minute, time.Minute
	})
	emit := func(event.Event) {}
	d.Add(dmx("10.20.1.5", 0, "example.org", 300, []string{"mx.example.org"}, "mx.example.org=198.51.100.10"), emit)
	if d.Stats().Pairing.Entries == 0 {
		t.Fatal("nothing remembered")
	}
	// A later answer moves packet time past validity and linger.
	d.Add(&event.DNS{Kind: event.KindDNS, Version: 1, ID: "x", Time: dat(400), Client: ap("10.20.1.9:1"), Server: ap(resolver), QName: "x.example", QType: "A", RCode: "NXDOMAIN"}, emit)
	st := d.Stats().Pairing
	if st.Entries != 0 || st.Expired == 0 {
		t.Fatalf("entries %d, expired %d after expiry", st.Entries, st.Expired)
	}
}

func TestFindingEvidence(t *testing.T) {
	d := newDetector(t, func(c *Config) {
		c.Platform.Egress = []string{"10.20.0.0/16=203.0.113.10"}
	})
	const web = "10.20.1.5"
	msg := &event.Message{Kind: event.KindMessage, Version: 1, ID: "s1-0", Session: "s1", Client: ap(web + ":51000"), Server: ap("192.0.2.26:25"),
		Start: dat(1), End: dat(1.5), Outcome: event.OutcomeRejected, PHPScriptUID: "1002", PHPScriptPath: "/home/shop/public_html/wp-content/x.php",
		XMailer: "PHPMailer 6.1.7", MessageIDHost: "shop.example", HeaderNames: []string{"from", "to", "subject", "x-php-originating-script"},
		Recipients: []event.Recipient{{Addr: "a@gmail.com", Code: 250}, {Addr: "b@Gmail.com", Code: 250}, {Addr: "c@yahoo.com", Code: 250}}}
	got := run(t, d,
		dmx(web, 0, "gmail.com", 300, []string{"gmail-smtp-in.l.google.com"}, "gmail-smtp-in.l.google.com=192.0.2.26"),
		msg,
		dsession("s1", web, "192.0.2.26:25", 0.8, withReply(550, "5.7.1", "Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.10")))
	f := got["s1"]
	if f == nil {
		t.Fatal("no finding")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"class", f.Class, event.ClassDirectToMX},
		{"egress", f.Egress, addr("203.0.113.10")},
		{"group", f.Group, "gmail"},
		{"sensitive", f.Sensitive, true},
		{"messages", f.Messages, 1},
		{"rejected", f.Rejected, 1},
		{"recipients", f.Recipients, 3},
		{"domains", strings.Join(f.RecipientDomains, ","), "gmail.com,yahoo.com"},
		{"scripts", strings.Join(f.Scripts, ","), "php:/home/shop/public_html/wp-content/x.php (uid 1002),x-mailer:PHPMailer 6.1.7"},
		{"msgid hosts", strings.Join(f.MessageIDHosts, ","), "shop.example"},
		{"relay bypass", f.RelayBypass, true},
		{"blocklist hits", len(f.Blocklist), 1},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(f.Blocklist) == 1 && (f.Blocklist[0].Type != "blocklist" || !strings.Contains(f.Blocklist[0].List, "spamhaus")) {
		t.Errorf("blocklist hit %+v", f.Blocklist[0])
	}
}

func TestRelayHeadersPresentIsNoBypass(t *testing.T) {
	d := newDetector(t, nil)
	msg := &event.Message{Kind: event.KindMessage, Version: 1, ID: "s1-0", Session: "s1", Client: ap("10.20.1.5:51000"), Server: ap("198.51.100.1:25"),
		Outcome: event.OutcomeAccepted, HeaderNames: []string{"from", "x-antiabuse"}}
	got := run(t, d, msg, dsession("s1", "10.20.1.5", "198.51.100.1:25", 0))
	if got["s1"].RelayBypass {
		t.Error("relay header present, but bypass reported")
	}
	// STARTTLS hides headers: no bypass verdict, but attribution stays.
	d = newDetector(t, nil)
	got = run(t, d, dsession("s2", "10.20.1.5", "198.51.100.1:25", 0))
	if got["s2"].RelayBypass {
		t.Error("no headers seen, but bypass reported")
	}
}

func TestPlatformConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*PlatformConfig)
		want string
	}{
		{"bad network", func(c *PlatformConfig) { c.Networks = []string{"10.0.0.0/33"} }, "platform.networks"},
		{"bad relay", func(c *PlatformConfig) { c.Relays = []string{"not a name!"} }, "platform.relays"},
		{"port 25 as submission", func(c *PlatformConfig) { c.SubmissionPorts = []uint16{25} }, "platform.submission_ports"},
		{"bad smarthost", func(c *PlatformConfig) { c.Smarthosts = []string{"*"} }, "platform.smarthosts"},
		{"bad egress", func(c *PlatformConfig) { c.Egress = []string{"10.0.0.0/8"} }, "CIDR=ADDRESS"},
		{"bad egress address", func(c *PlatformConfig) { c.Egress = []string{"10.0.0.0/8=x"} }, "platform.egress"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg.Platform)
			_, err := New(cfg, Tables{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}

// TestDetectorSpikeReplay replays three hours of steady mail from two
// hosts to Gmail, then a burst from one: the detector's findings feed the
// spike detector, which alerts within one window of the burst and never
// before it; the steady relay-like host never alerts.
func TestDetectorSpikeReplay(t *testing.T) {
	d := newDetector(t, nil)
	var alerts []*event.Alert
	emit := func(ev event.Event) {
		if err := ev.Validate(); err != nil {
			t.Errorf("invalid event: %v", err)
		}
		if a, ok := ev.(*event.Alert); ok {
			alerts = append(alerts, a)
		}
	}
	n := 0
	send := func(host string, sec float64) {
		n++
		id := fmt.Sprintf("s%d", n)
		m := &event.Message{Kind: event.KindMessage, Version: 1, ID: id + "-0", Session: id, Client: hostPort(host, 51000),
			Server: ap("192.0.2.26:25"), Start: dat(sec), End: dat(sec + 0.5), Outcome: event.OutcomeAccepted,
			Recipients: []event.Recipient{{Addr: "x@gmail.com", Code: 250}}, PHPScriptPath: "/home/u/mailer.php"}
		d.Add(m, emit)
		d.Add(dsession(id, host, "192.0.2.26:25", sec, withBanner("mx.google.com")), emit)
	}
	const spikeAt = 3 * 3600
	for sec := 0.0; sec < spikeAt+1200; sec += 30 {
		send("10.20.1.7", sec) // steady: 10 messages per 5 minutes, all along
		if int(sec)%150 == 0 {
			send("10.20.1.5", sec+1) // quiet: 2 per window
		}
		if sec >= spikeAt {
			for i := range 6 { // 12 per 30 s = 120 per window
				send("10.20.1.5", sec+2+float64(i))
				send("10.20.1.5", sec+2.5+float64(i))
			}
		}
	}
	d.Flush(emit)
	var first *event.Alert
	for _, a := range alerts {
		if a.Time.Before(dat(spikeAt)) {
			t.Errorf("alert before the spike: %s", a.Summary)
		}
		if a.Host == addr("10.20.1.7") {
			t.Errorf("the steady host alerted: %s", a.Summary)
		}
		if a.Scope == "host" && a.Host == addr("10.20.1.5") && a.Metric == "messages" && first == nil {
			first = a
		}
	}
	if first == nil {
		t.Fatalf("no message spike alert for 10.20.1.5 (%d alerts)", len(alerts))
	}
	if first.Time.After(dat(spikeAt).Add(5*time.Minute)) || first.Group != "gmail" || first.Severity != event.SeverityCritical {
		t.Errorf("first alert %s at %v (group %s, %s), want within a window of %v", first.Summary, first.Time, first.Group, first.Severity, dat(spikeAt))
	}
	if len(first.TopScripts) == 0 {
		t.Errorf("alert without script evidence: %+v", first)
	}
}

func TestPlatformNetworkHostBits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Platform.Networks = []string{"10.20.1.5/16"}
	if _, err := New(cfg, Tables{}); err == nil || !strings.Contains(err.Error(), "10.20.0.0/16") {
		t.Errorf("host bits accepted or error without the fix: %v", err)
	}
}

func TestFIFO(t *testing.T) {
	var f fifo
	next, want := uint64(0), uint64(0)
	// Pushes and pops in uneven batches across chunk boundaries.
	for round := range 50 {
		for range 1 + round*97%3000 {
			next++
			f.push(queued{stamp: next})
		}
		for range round * 89 % 2500 {
			if f.n == 0 {
				break
			}
			want++
			if got := f.front().stamp; got != want {
				t.Fatalf("round %d: front %d, want %d", round, got, want)
			}
			f.pop()
		}
		if f.n != int(next-want) {
			t.Fatalf("round %d: n %d, want %d", round, f.n, next-want)
		}
		if len(f.chunks) > f.n/fifoChunk+2 {
			t.Fatalf("round %d: %d chunks for %d entries", round, len(f.chunks), f.n)
		}
	}
}

// TestReconfigure changes the platform while the detector runs: sessions
// that end afterwards are classified with the new description, the
// pairing memory survives, and a bad description changes nothing.
func TestReconfigure(t *testing.T) {
	d := newDetector(t, nil)
	got := map[string]*event.Finding{}
	emit := func(ev event.Event) {
		if f, ok := ev.(*event.Finding); ok {
			got[f.ID] = f
		}
	}
	d.Add(dmx("10.20.1.5", 0, "dest.example", 300, []string{"mx.dest.example"}, "mx.dest.example=192.0.2.10"), emit)
	d.Add(dsession("before", "10.20.1.5", "192.0.2.10:25", 1), emit)
	d.Add(a("10.20.1.6", 1.5, "out.relay.example", 300, nil, "198.51.100.7"), emit)
	d.Add(dsession("smarthost-before", "10.20.1.6", "198.51.100.7:25", 2), emit)

	bad := d.cfg.Platform
	bad.Networks = []string{"10.20.0.0/33"}
	if err := d.Reconfigure(bad, Tables{}); err == nil {
		t.Fatal("Reconfigure accepted a bad network")
	}
	p := d.cfg.Platform
	p.Relays = append(p.Relays[:len(p.Relays):len(p.Relays)], "10.20.1.5")
	p.Smarthosts = []string{"out.relay.example"}
	if err := d.Reconfigure(p, Tables{}); err != nil {
		t.Fatal(err)
	}
	d.Add(dsession("after", "10.20.1.5", "192.0.2.10:25", 10), emit)
	d.Add(a("10.20.1.6", 10.5, "out.relay.example", 300, nil, "198.51.100.7"), emit)
	d.Add(dsession("smarthost-after", "10.20.1.6", "198.51.100.7:25", 11), emit)
	// The MX fact learnt before the reload still pairs a third host.
	d.Add(dsession("paired-after", "10.20.1.7", "192.0.2.10:25", 12), emit)
	d.Flush(emit)

	for _, tc := range []struct {
		id   string
		want event.Class
	}{
		{"before", event.ClassDirectToMX},
		{"smarthost-before", event.ClassDirect25},
		{"after", event.ClassRelay},
		{"smarthost-after", event.ClassExternalRelay25},
		{"paired-after", event.ClassDirectToMX},
	} {
		f := got[tc.id]
		if f == nil {
			t.Errorf("%s: no finding", tc.id)
			continue
		}
		if f.Class != tc.want {
			t.Errorf("%s: class %s, want %s (%s)", tc.id, f.Class, tc.want, f.Reason)
		}
	}
}
