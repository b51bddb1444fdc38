package clickhouse

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

func TestMapperClamps(t *testing.T) {
	tests := []struct {
		name        string
		msg         event.Message
		wantClamped uint64
		wantDomain  string
	}{
		{name: "clean", msg: event.Message{MailFrom: "a@Example.NET", MailCode: 250, Start: time.Unix(1, 0)}, wantDomain: "example.net"},
		{name: "negative counts", msg: event.Message{MailFrom: "<b@x.org>", ToCount: -1, Index: -5}, wantClamped: 2, wantDomain: "x.org"},
		{name: "code too large", msg: event.Message{MailFrom: "none", MailCode: 70000}, wantClamped: 1},
		{name: "before 1970", msg: event.Message{Start: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, wantClamped: 1},
		{name: "recipient code", msg: event.Message{Recipients: []event.Recipient{{Addr: "x@y.z", Code: -3}}}, wantClamped: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &mapper{f: FeaturesFor(Version{18, 16, 1})}
			row := m.messageRow(&tc.msg)
			if n := len(row); n != 46 {
				t.Fatalf("row has %d values, want 46 (the column list)", n)
			}
			if m.clamped != tc.wantClamped {
				t.Errorf("clamped = %d, want %d", m.clamped, tc.wantClamped)
			}
			if got := row[13]; got != tc.wantDomain {
				t.Errorf("mail_from_domain = %q, want %q", got, tc.wantDomain)
			}
		})
	}
}

func TestRowWidths(t *testing.T) {
	m := &mapper{f: FeaturesFor(Version{24, 8, 0})}
	ap := netip.MustParseAddrPort("10.0.0.1:25")
	tests := []struct {
		name string
		row  []any
		cols string
	}{
		{name: "sessions", row: m.sessionRow(&event.Session{Client: ap, Commands: map[string]int{"RCPT": 2, "EHLO": 1}}), cols: sessionCols},
		{name: "messages", row: m.messageRow(&event.Message{Client: ap}), cols: messageCols},
		{name: "dns", row: m.dnsRow(&event.DNS{Answers: []event.RR{{Name: "a", Type: "A", Addr: netip.MustParseAddr("192.0.2.1")}}}), cols: dnsCols},
		{name: "findings", row: m.findingRow(&event.Finding{Pairing: &event.Pairing{MXHost: "mx"}}), cols: findingCols},
		{name: "alerts", row: m.alertRow(&event.Alert{}), cols: alertCols},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := 1
			for _, c := range tc.cols {
				if c == ',' {
					want++
				}
			}
			if len(tc.row) != want {
				t.Fatalf("row has %d values, column list %d", len(tc.row), want)
			}
		})
	}
	// Zero address in an IPv6 column is "::", command map sorted by verb.
	row := m.sessionRow(&event.Session{Commands: map[string]int{"RCPT": 2, "EHLO": 1}})
	if row[4] != "::" {
		t.Errorf("zero client = %v, want ::", row[4])
	}
	if v := row[28].([]string); len(v) != 2 || v[0] != "EHLO" || v[1] != "RCPT" {
		t.Errorf("command verbs = %v", v)
	}
}
