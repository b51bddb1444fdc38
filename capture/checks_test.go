package capture_test

import (
	"slices"
	"testing"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/event"
)

// expect is what a scenario's events must show. Zero fields are not
// checked, except the three counts, which always are.
type expect struct {
	sessions, messages, dns int
	handshakes              []event.Handshake // per session, in emission order
	outcomes                []string          // per message, in emission order
	tls                     event.TLSMode     // of the first session
	auth                    string            // "MECH/outcome" of the first session
	vlan                    []uint16          // on every event
	tunnel                  string            // on every session
	gaps                    int               // total over sessions
	method                  string            // of every message
	phpScript               bool              // every message has X-PHP-Originating-Script split
	mxHosts                 int               // MX records over all dns events
	transports              []string          // per dns event
	tc                      int               // dns events with TC set
	extra                   func(t *testing.T, e events, st capture.Stats)
}

func (x expect) check(t *testing.T, e events, st capture.Stats) {
	t.Helper()
	if len(e.sessions) != x.sessions || len(e.messages) != x.messages || len(e.dns) != x.dns {
		t.Fatalf("got %d sessions, %d messages, %d dns; want %d, %d, %d",
			len(e.sessions), len(e.messages), len(e.dns), x.sessions, x.messages, x.dns)
	}
	if x.handshakes != nil {
		var got []event.Handshake
		for _, s := range e.sessions {
			got = append(got, s.Handshake)
		}
		if !slices.Equal(got, x.handshakes) {
			t.Errorf("handshakes %v, want %v", got, x.handshakes)
		}
	}
	if x.outcomes != nil {
		var got []string
		for _, m := range e.messages {
			got = append(got, m.Outcome)
		}
		if !slices.Equal(got, x.outcomes) {
			t.Errorf("outcomes %v, want %v", got, x.outcomes)
		}
	}
	if x.tls != "" && e.sessions[0].TLS != x.tls {
		t.Errorf("tls %q, want %q", e.sessions[0].TLS, x.tls)
	}
	if x.auth != "" {
		a := e.sessions[0].Auth
		if a == nil || a.Mechanism+"/"+a.Outcome != x.auth {
			t.Errorf("auth %+v, want %s", a, x.auth)
		}
	}
	if x.vlan != nil {
		for _, s := range e.sessions {
			if !slices.Equal(s.VLANs, x.vlan) {
				t.Errorf("session vlan %v, want %v", s.VLANs, x.vlan)
			}
		}
		for _, d := range e.dns {
			if !slices.Equal(d.VLANs, x.vlan) {
				t.Errorf("dns vlan %v, want %v", d.VLANs, x.vlan)
			}
		}
	}
	if x.tunnel != "" {
		for _, s := range e.sessions {
			if s.Tunnel != x.tunnel {
				t.Errorf("tunnel %q, want %q", s.Tunnel, x.tunnel)
			}
		}
	}
	gaps := 0
	for _, s := range e.sessions {
		gaps += s.Gaps
	}
	if gaps != x.gaps {
		t.Errorf("gaps %d, want %d", gaps, x.gaps)
	}
	for _, m := range e.messages {
		if x.method != "" && m.Method != x.method {
			t.Errorf("message %d method %q, want %q", m.Index, m.Method, x.method)
		}
		if x.phpScript && (m.PHPScriptUID != "1001" || m.PHPScriptPath != "/home/acct/public_html/wp-content/x.php") {
			t.Errorf("message %d php script %q:%q", m.Index, m.PHPScriptUID, m.PHPScriptPath)
		}
	}
	mx, tc := 0, 0
	var transports []string
	for _, d := range e.dns {
		transports = append(transports, d.Transport)
		if d.TC {
			tc++
		}
		for _, rr := range d.Answers {
			if rr.Type == "MX" {
				mx++
			}
		}
	}
	if x.mxHosts != 0 && mx != x.mxHosts {
		t.Errorf("MX records %d, want %d", mx, x.mxHosts)
	}
	if x.transports != nil && !slices.Equal(transports, x.transports) {
		t.Errorf("dns transports %v, want %v", transports, x.transports)
	}
	if tc != x.tc {
		t.Errorf("TC responses %d, want %d", tc, x.tc)
	}
	if x.extra != nil {
		x.extra(t, e, st)
	}
}

var (
	completed  = event.HandshakeCompleted
	accepted   = event.OutcomeAccepted
	basic      = expect{sessions: 1, messages: 1, handshakes: []event.Handshake{completed}, outcomes: []string{accepted}, method: "DATA"}
	directPart = expect{sessions: 1, messages: 1, dns: 1, handshakes: []event.Handshake{completed}, outcomes: []string{accepted}, phpScript: true, mxHosts: 2}
	impaired   = expect{sessions: 1, messages: 1, handshakes: []event.Handshake{completed}, outcomes: []string{accepted}, phpScript: true,
		extra: func(t *testing.T, e events, _ capture.Stats) {
			if m := e.messages[0]; m.Size != 2488 || !m.Complete {
				t.Errorf("message size %d complete %v, want 2488 true", m.Size, m.Complete)
			}
		}}
)

func with(x expect, f func(*expect)) expect { f(&x); return x }

// scenarioChecks states, for every generated scenario, the facts its events
// must show.
var scenarioChecks = map[string]func(t *testing.T, e events, st capture.Stats){
	"smtp-basic": with(basic, func(x *expect) {
		x.extra = func(t *testing.T, e events, _ capture.Stats) {
			m := e.messages[0]
			if m.MailFrom != "orders@lindenhof-shop.example" || len(m.Recipients) != 1 || m.Recipients[0].Addr != "k.weber@example.org" {
				t.Errorf("envelope %q -> %+v", m.MailFrom, m.Recipients)
			}
			if m.Size != 819 || m.Subject != "Bestellbestätigung Nr. 100231" {
				t.Errorf("size %d subject %q", m.Size, m.Subject)
			}
			if s := e.sessions[0]; s.Banner == "" || s.HeloVerb != "EHLO" || !slices.Contains(s.Extensions, "PIPELINING") {
				t.Errorf("banner %q helo %q extensions %v", s.Banner, s.HeloVerb, s.Extensions)
			}
		}
	}).check,
	"smtp-pipelining": with(basic, func(x *expect) {
		x.extra = func(t *testing.T, e events, _ capture.Stats) {
			if n := len(e.messages[0].Recipients); n != 2 {
				t.Errorf("%d recipients, want 2", n)
			}
		}
	}).check,
	"smtp-bdat": expect{sessions: 1, messages: 2, outcomes: []string{accepted, accepted}, method: "BDAT",
		extra: func(t *testing.T, e events, _ capture.Stats) {
			if e.sessions[0].Commands["BDAT"] != 5 {
				t.Errorf("BDAT commands %d, want 5", e.sessions[0].Commands["BDAT"])
			}
			for _, m := range e.messages {
				if !m.Complete || m.Subject == "" {
					t.Errorf("message %d complete %v subject %q", m.Index, m.Complete, m.Subject)
				}
			}
		}}.check,
	"smtp-starttls":       expect{sessions: 1, tls: event.TLSStartTLS}.check,
	"smtp-auth-25":        expect{sessions: 1, messages: 1, dns: 1, auth: "LOGIN/success", outcomes: []string{accepted}}.check,
	"smtp-465":            expect{sessions: 1, tls: event.TLSImplicit}.check,
	"smtp-587-submission": expect{sessions: 1, messages: 1, dns: 1, auth: "PLAIN/success", outcomes: []string{accepted}}.check,
	"smtp-multi": expect{sessions: 1, messages: 3, outcomes: []string{accepted, accepted, accepted},
		extra: func(t *testing.T, e events, _ capture.Stats) {
			if e.sessions[0].Commands["RSET"] != 1 {
				t.Errorf("RSET %d, want 1", e.sessions[0].Commands["RSET"])
			}
		}}.check,
	"smtp-rejections": expect{sessions: 4, messages: 2,
		handshakes: []event.Handshake{completed, completed, event.HandshakeRefused, event.HandshakeNoAnswer},
		outcomes:   []string{event.OutcomeRejected, event.OutcomeTempFail},
		extra: func(t *testing.T, e events, _ capture.Stats) {
			m := e.messages[0]
			if m.Final == nil || m.Final.Code != 554 || m.Final.Enhanced != "5.7.1" || m.Final.Command != "EOD" {
				t.Errorf("final %+v, want 554 5.7.1 to EOD", m.Final)
			}
			if len(m.Recipients) != 2 || m.Recipients[0].Code != 550 || m.Recipients[0].Enhanced != "5.1.1" {
				t.Errorf("recipients %+v", m.Recipients)
			}
			if s := e.sessions[3]; s.SYNs != 3 {
				t.Errorf("unanswered attempt sent %d SYNs, want 3", s.SYNs)
			}
		}}.check,
	"dns-mx-additional": expect{dns: 1, mxHosts: 2, extra: func(t *testing.T, e events, _ capture.Stats) {
		if n := len(e.dns[0].Additional); n != 2 {
			t.Errorf("%d additional records, want 2", n)
		}
	}}.check,
	"dns-mx-noadditional": expect{dns: 3, mxHosts: 2}.check,
	"dns-mx-cname": expect{dns: 2, mxHosts: 1, extra: func(t *testing.T, e events, _ capture.Stats) {
		var types []string
		for _, rr := range e.dns[1].Answers {
			types = append(types, rr.Type)
		}
		if !slices.Equal(types, []string{"CNAME", "CNAME", "A"}) {
			t.Errorf("answer chain %v, want CNAME CNAME A", types)
		}
	}}.check,
	"dns-tcp":       expect{dns: 2, mxHosts: 2, transports: []string{"tcp", "tcp"}}.check,
	"dns-truncated": expect{dns: 2, tc: 1, transports: []string{"udp", "tcp"}}.check,
	"class-direct-25": expect{sessions: 2, messages: 1, outcomes: []string{accepted},
		handshakes: []event.Handshake{completed, event.HandshakeNoAnswer}, phpScript: true}.check,
	"class-relay-lookups": expect{sessions: 1, messages: 1, dns: 1, mxHosts: 2, outcomes: []string{accepted}, handshakes: []event.Handshake{completed}}.check,
	"class-guessed-name":  expect{sessions: 1, messages: 1, dns: 1, outcomes: []string{accepted}, phpScript: true}.check,
	"class-other-client":  expect{sessions: 1, messages: 1, dns: 1, mxHosts: 2, outcomes: []string{accepted}, phpScript: true}.check,
	"rejection-burst": expect{sessions: 6, messages: 6, dns: 1, mxHosts: 2,
		outcomes: slices.Repeat([]string{event.OutcomeRejected}, 6)}.check,
	"classes": expect{sessions: 8, messages: 7, dns: 7}.check,
	"direct-to-mx": expect{sessions: 3, messages: 3, dns: 5, outcomes: []string{accepted, accepted, accepted}, phpScript: true, mxHosts: 5,
		extra: func(t *testing.T, e events, _ capture.Stats) {
			for _, s := range e.sessions {
				if s.Client.Addr().String() != "10.20.1.5" || s.Server.Port() != 25 {
					t.Errorf("session %v -> %v", s.Client, s.Server)
				}
			}
		}}.check,
	"vlan":    with(directPart, func(x *expect) { x.vlan = []uint16{120} }).check,
	"qinq":    with(directPart, func(x *expect) { x.vlan = []uint16{300, 120} }).check,
	"gre":     with(directPart, func(x *expect) { x.tunnel = "gre" }).check,
	"erspan2": with(directPart, func(x *expect) { x.tunnel, x.vlan = "erspan2", []uint16{120} }).check,
	"erspan3": with(directPart, func(x *expect) { x.tunnel = "erspan3" }).check,
	"vxlan":   with(directPart, func(x *expect) { x.tunnel = "vxlan" }).check,
	"ipv6": with(directPart, func(x *expect) {
		x.extra = func(t *testing.T, e events, _ capture.Stats) {
			if !e.sessions[0].Client.Addr().Is6() {
				t.Errorf("client %v is not IPv6", e.sessions[0].Client)
			}
		}
	}).check,
	"ipv4-fragments": expect{dns: 1, extra: func(t *testing.T, e events, st capture.Stats) {
		if st.Defrag.Reassembled != 1 || len(e.dns[0].Answers) < 20 {
			t.Errorf("reassembled %d datagrams, %d answers", st.Defrag.Reassembled, len(e.dns[0].Answers))
		}
	}}.check,
	"tcp-out-of-order":   with(impaired, func(x *expect) {}).check,
	"tcp-retransmission": with(impaired, func(x *expect) {}).check,
	"tcp-overlap":        with(impaired, func(x *expect) {}).check,
	"tcp-lost-segment": with(impaired, func(x *expect) {
		x.gaps = 1
		x.extra = func(t *testing.T, e events, st capture.Stats) {
			m := e.messages[0]
			if !slices.Contains(m.Flags, "gap") || !m.Complete || st.TCP.GapBytes != 536 {
				t.Errorf("flags %v complete %v gap bytes %d, want gap, true, 536", m.Flags, m.Complete, st.TCP.GapBytes)
			}
		}
	}).check,
	"tcp-midstream":     expect{sessions: 1, messages: 1, handshakes: []event.Handshake{event.HandshakeMidstream}, outcomes: []string{accepted}}.check,
	"link-sll":          basic.check,
	"link-sll2":         basic.check,
	"link-raw":          basic.check,
	"link-null":         basic.check,
	"format-pcapng":     basic.check,
	"format-nanosecond": basic.check,
	"format-gzip":       basic.check,
}
