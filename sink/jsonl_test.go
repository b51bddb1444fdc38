package sink

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

func TestJSONLRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	j, err := CreateJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 1, 10, 0, 0, 123, time.UTC)
	evs := []event.Event{
		&event.DNS{Kind: event.KindDNS, Version: 1, ID: "d1", Time: ts, QName: "example.org", QType: "MX",
			Client: netip.MustParseAddrPort("10.0.0.1:5000"), Server: netip.MustParseAddrPort("10.0.0.53:53"),
			Answers: []event.RR{{Name: "example.org", Type: "MX", Pref: 10, Host: "mx.example.org"}}},
		&event.Session{Kind: event.KindSession, Version: 1, ID: "s1", Start: ts, End: ts,
			Client: netip.MustParseAddrPort("[2001:db8::1]:40000"), Server: netip.MustParseAddrPort("[2001:db8::25]:25"),
			Replies: []event.Reply{{Code: 554, Text: "<html> & \"quotes\""}}},
	}
	for _, ev := range evs {
		if err := j.Write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j.Written() != 2 {
		t.Errorf("written %d, want 2", j.Written())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	var d event.DNS
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil {
		t.Fatal(err)
	}
	if d.QName != "example.org" || !d.Time.Equal(ts) || d.Answers[0].Host != "mx.example.org" {
		t.Errorf("round trip: %+v", d)
	}
	var s event.Session
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Client != netip.MustParseAddrPort("[2001:db8::1]:40000") || s.Replies[0].Text != "<html> & \"quotes\"" {
		t.Errorf("round trip: %+v", s)
	}
	if !strings.Contains(lines[1], "<html> &") {
		t.Errorf("HTML escaped in %s", lines[1])
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	w.n++
	return 0, errors.New("disk full")
}

// TestJSONLStickyError checks that a write error is reported, by Close at
// the latest, and that later writes fail fast.
func TestJSONLStickyError(t *testing.T) {
	fw := &failWriter{}
	j := NewJSONL("test", fw)
	big := &event.Session{Kind: event.KindSession, Version: 1, ID: strings.Repeat("x", 300<<10)}
	err := j.Write(big)
	if err == nil {
		err = j.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "test") {
		t.Fatalf("error %v, want one naming the file and the cause", err)
	}
	if err2 := j.Write(big); err2 == nil {
		t.Error("write after failure succeeded")
	}
}

func TestCreateJSONLError(t *testing.T) {
	if _, err := CreateJSONL(filepath.Join(t.TempDir(), "missing", "x.jsonl")); err == nil {
		t.Error("created a file in a missing directory")
	}
}

// TestJSONLFlush: Flush hands the buffered lines to the writer, and a
// failed flush is sticky like a failed write.
func TestJSONLFlush(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL("test", &buf)
	if err := j.Write(&event.Session{Kind: event.KindSession, Version: 1, ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("written before Flush: %q", buf.String())
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"id":"s1"`) || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("after Flush: %q", buf.String())
	}

	f := NewJSONL("test", &failWriter{})
	if err := f.Write(&event.Session{Kind: event.KindSession, Version: 1, ID: "s2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Flush error %v, want the writer's", err)
	}
	if err := f.Write(&event.Session{Kind: event.KindSession, Version: 1, ID: "s3"}); err == nil {
		t.Error("write after a failed flush succeeded")
	}
}
