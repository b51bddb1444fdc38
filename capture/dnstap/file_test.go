package dnstap

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// unboundFile was written by fstrm_capture from Debian's unbound 1.17.1
// (dnstap-log-client-query/response-messages) answering from local-data:
// MX example.test and A mx1.example.test, over UDP, then over TCP.
const unboundFile = "testdata/unbound-1.17.1-local-data.fstrm"

func collect(evs *[]*event.DNS) func(*event.DNS) {
	return func(d *event.DNS) { *evs = append(*evs, d) }
}

func TestReadFileUnbound(t *testing.T) {
	raw, err := os.ReadFile(unboundFile)
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.DNS
	st, err := ReadFile(bytes.NewReader(raw), Config{Sensor: "s1"}, collect(&evs))
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	server := netip.MustParseAddrPort("127.0.0.1:15353")
	mx := []event.RR{
		{Name: "example.test", Type: "MX", TTL: 300, Pref: 10, Host: "mx1.example.test"},
		{Name: "example.test", Type: "MX", TTL: 300, Pref: 20, Host: "mx2.example.test"},
	}
	a := []event.RR{{Name: "mx1.example.test", Type: "A", TTL: 300, Addr: netip.MustParseAddr("127.0.0.11")}}
	want := []struct {
		qname, qtype, transport string
		client                  netip.AddrPort
		answers                 []event.RR
	}{
		{"example.test", "MX", "udp", netip.MustParseAddrPort("127.0.0.1:57946"), mx},
		{"mx1.example.test", "A", "udp", netip.MustParseAddrPort("127.0.0.1:41225"), a},
		{"example.test", "MX", "tcp", netip.AddrPort{}, mx},
		{"mx1.example.test", "A", "tcp", netip.AddrPort{}, a},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	ids := map[string]bool{}
	for i, w := range want {
		d := evs[i]
		if err := d.Validate(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		ids[d.ID] = true
		if w.client.IsValid() && d.Client != w.client {
			t.Errorf("event %d: client %v, want %v", i, d.Client, w.client)
		}
		// unbound rotates RRsets: compare answers as sets.
		got := slices.Clone(d.Answers)
		slices.SortFunc(got, func(x, y event.RR) int { return int(x.Pref) - int(y.Pref) })
		if d.QName != w.qname || d.QType != w.qtype || d.Transport != w.transport || d.Server != server ||
			d.Client.Addr() != server.Addr() || !d.Matched || d.RCode != "NOERROR" || d.Sensor != "s1" ||
			!reflect.DeepEqual(got, w.answers) || d.QueryTime.IsZero() || d.Time.Before(d.QueryTime) {
			t.Errorf("event %d: %+v, want %+v", i, d, w)
		}
	}
	if len(ids) != len(want) {
		t.Errorf("%d distinct ids, want %d", len(ids), len(want))
	}
	first := time.Date(2026, 11, 27, 2, 59, 56, 378465000, time.UTC)
	if !evs[0].Time.Equal(first) {
		t.Errorf("first response time %v, want %v", evs[0].Time, first)
	}
	wantSt := Stats{Frames: 8, ControlFrames: 2, Messages: 8, ClientQueries: 4, ClientResponses: 4, Events: 4}
	gotSt := st
	gotSt.DNS = dnsZero
	if !reflect.DeepEqual(gotSt, wantSt) {
		t.Errorf("stats %+v, want %+v", gotSt, wantSt)
	}
	if st.DNS.Matched != 4 || st.DNS.Emitted != 4 || st.DNS.Unanswered != 0 || st.DNS.Malformed != 0 {
		t.Errorf("dns stats %+v", st.DNS)
	}

	// The same file cut short: the events before the cut, and an error.
	evs = nil
	st, err = ReadFile(bytes.NewReader(raw[:len(raw)-20]), Config{}, collect(&evs))
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(evs) != 3 || st.Truncated != 1 {
		t.Errorf("cut file: err %v, %d events, truncated %d; want unexpected EOF, 3, 1", err, len(evs), st.Truncated)
	}
}

var dnsZero = Stats{}.DNS

func TestReadFileCounts(t *testing.T) {
	qf, rf := clientPair(t, "r1", client4, 7, "example.com", "mx.example.com", t0)
	other := encodeDnstap(&Message{Type: ResolverQuery, QueryTime: t0})
	noMsg := encodeDnstap(&Message{Type: ClientResponse, QueryAddr: client4, ResponseAddr: resolver, ResponseTime: t0})
	notMessage := pbUint(nil, dnstapType, 2)
	_, lone := clientPair(t, "r1", client4, 8, "example.net", "mx.example.net", t0)
	frames := [][]byte{qf, rf, other, noMsg, notMessage, []byte("\xff"), lone}
	in := fsControl(nil, controlStart, ContentType)
	for _, f := range frames {
		in = fsData(in, f)
	}
	in = fsControl(in, controlStop)
	var evs []*event.DNS
	st, err := ReadFile(bytes.NewReader(in), Config{}, collect(&evs))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Frames: 7, ControlFrames: 2, Messages: 5, ClientQueries: 1, ClientResponses: 3,
		OtherTypes: 2, Malformed: 1, Incomplete: 1, Events: 2}
	got := st
	got.DNS = dnsZero
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats %+v\nwant  %+v", got, want)
	}
	if len(evs) != 2 || !evs[0].Matched || evs[1].Matched || evs[0].Client != client4 || evs[0].Server != resolver ||
		evs[0].QName != "example.com" || evs[0].Answers[0].Host != "mx.example.com" || evs[0].Transport != "udp" {
		t.Errorf("events %+v", evs)
	}
}

func TestScopeSeparatesIdentities(t *testing.T) {
	// The same client, port and txid logged by two resolvers: each
	// response pairs with its own resolver's query only.
	q1, _ := clientPair(t, "res-a", client4, 9, "example.com", "mx.example.com", t0)
	_, r2 := clientPair(t, "res-b", client4, 9, "example.com", "mx.example.com", t0)
	in := fsControl(nil, controlStart)
	in = fsControl(fsData(fsData(in, q1), r2), controlStop)
	var evs []*event.DNS
	if _, err := ReadFile(bytes.NewReader(in), Config{}, collect(&evs)); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Matched {
		t.Fatalf("events %+v, want one unmatched", evs)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "zero", cfg: Config{}, ok: true},
		{name: "default", cfg: DefaultConfig(), ok: true},
		{name: "negative frame size", cfg: Config{MaxFrameSize: -1}},
		{name: "huge frame size", cfg: Config{MaxFrameSize: 1<<30 + 1}},
		{name: "negative conns", cfg: Config{MaxConns: -1}},
		{name: "negative idle", cfg: Config{IdleTimeout: -time.Second}},
		{name: "socket mode with type bits", cfg: Config{SocketMode: os.ModeDir | 0o666}},
		{name: "bad dns", cfg: Config{DNS: func() Config { c := DefaultConfig(); c.DNS.MaxPending = -1; return c }().DNS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
