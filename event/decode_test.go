package event

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleEvents() []Event {
	c, s := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("192.0.2.1:25")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []Event{
		&Session{Kind: KindSession, Version: SchemaVersion, ID: "s", Client: c, Server: s, Start: t0, End: t0.Add(time.Second),
			Replies: []Reply{{Command: "RCPT", Code: 554, Enhanced: "5.7.1", Text: "listed"}}, Commands: map[string]int{"RCPT": 1}},
		&Message{Kind: KindMessage, Version: SchemaVersion, ID: "s-0", Session: "s", Client: c, Server: s,
			Recipients: []Recipient{{Addr: "a@example.org", Code: 250}}},
		&DNS{Kind: KindDNS, Version: SchemaVersion, ID: "d", Client: c, Server: s, QType: "MX",
			Answers: []RR{{Name: "example.org", Type: "MX", Pref: 10, Host: "mx.example.org"}}},
		&Finding{Kind: KindFinding, Version: SchemaVersion, ID: "s", Client: c, Server: s, Class: ClassDirectToMX,
			Confidence: ConfidenceHigh, Pairing: &Pairing{Domain: "example.org", Delay: 1250 * time.Millisecond}},
		&Alert{Kind: KindAlert, Version: SchemaVersion, ID: "a", Rule: "spike", Source: "10.0.0.1", Metric: "sessions",
			WindowStart: t0, Time: t0.Add(time.Minute), Severity: SeverityWarning, Host: c.Addr()},
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, ev := range sampleEvents() {
		t.Run(string(ev.EventKind()), func(t *testing.T) {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("round trip differs:\n got %#v\nwant %#v", got, ev)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrUndecodable},
		{"not json", `hello`, ErrUndecodable},
		{"array", `[1,2]`, ErrUndecodable},
		{"no version", `{"kind":"dns","id":"d"}`, ErrUndecodable},
		{"newer version", `{"kind":"dns","v":2,"id":"d"}`, ErrVersion},
		{"old version", `{"kind":"dns","v":0,"id":"d"}`, ErrVersion},
		{"unknown kind", `{"kind":"packet","v":1}`, ErrUnknownKind},
		{"bad field type", `{"kind":"dns","v":1,"id":"d","txid":"x"}`, ErrUndecodable},
		{"bad address", `{"kind":"dns","v":1,"id":"d","client":"nope"}`, ErrUndecodable},
		{"invalid", `{"kind":"dns","v":1,"id":"d"}`, ErrInvalid},
		{"huge", `{"kind":"dns","v":1,"id":"` + strings.Repeat("x", MaxEncodedSize) + `"}`, ErrUndecodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.want) || ev != nil {
				t.Errorf("Decode = %v, %v; want error %v", ev, err, tt.want)
			}
		})
	}
}

// FuzzDecode: the sink decodes whatever is in the topics; Decode must
// never panic, and what it accepts must be valid and re-encode to
// something it accepts again.
func FuzzDecode(f *testing.F) {
	for _, ev := range sampleEvents() {
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"dns","v":1}`))
	f.Add([]byte(`{"kind":"alert","v":1,"id":"a","rule":"r","source":"s","metric":"m","severity":"critical"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
	})
}
