package event

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	c, s := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("192.0.2.1:25")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := &Session{Kind: KindSession, Version: SchemaVersion, ID: "x", Client: c, Server: s, Start: t0, End: t0}
	tests := []struct {
		name string
		ev   Event
		want string // "" = valid
	}{
		{"session", good, ""},
		{"wrong kind", &Session{Kind: KindDNS, Version: SchemaVersion, ID: "x", Client: c, Server: s}, "kind"},
		{"old version", &Session{Kind: KindSession, Version: 0, ID: "x", Client: c, Server: s}, "schema version"},
		{"no id", &Session{Kind: KindSession, Version: SchemaVersion, Client: c, Server: s}, "missing id"},
		{"no endpoints", &Session{Kind: KindSession, Version: SchemaVersion, ID: "x"}, "endpoints"},
		{"end before start", &Session{Kind: KindSession, Version: SchemaVersion, ID: "x", Client: c, Server: s, Start: t0, End: t0.Add(-time.Second)}, "before start"},
		{"message", &Message{Kind: KindMessage, Version: SchemaVersion, ID: "x-0", Session: "x", Client: c, Server: s}, ""},
		{"message without session", &Message{Kind: KindMessage, Version: SchemaVersion, ID: "x-0", Client: c, Server: s}, "no session"},
		{"dns", &DNS{Kind: KindDNS, Version: SchemaVersion, ID: "d", Client: c, Server: s, QType: "MX"}, ""},
		{"dns without type", &DNS{Kind: KindDNS, Version: SchemaVersion, ID: "d", Client: c, Server: s}, "question type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ev.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one about %q", err, tt.want)
			}
		})
	}
}

// TestJSONShape pins the wire names that docs/events.md documents.
func TestJSONShape(t *testing.T) {
	c := netip.MustParseAddrPort("[2001:db8::1]:4000")
	d := &DNS{Kind: KindDNS, Version: 1, ID: "d", Client: c, Server: c, QType: "MX",
		Answers: []RR{{Name: "a", Type: "MX", Pref: 10, Host: "mx.a"}, {Name: "mx.a", Type: "A", Addr: netip.MustParseAddr("192.0.2.1")}}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"dns"`, `"v":1`, `"client":"[2001:db8::1]:4000"`, `"pref":10`, `"addr":"192.0.2.1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"query_time"`) || strings.Contains(string(b), `"addr":""`) {
		t.Errorf("zero fields not omitted: %s", b)
	}
	if d.EventKind() != KindDNS || d.ClientAddr() != c.Addr() {
		t.Error("Event methods")
	}
}
