package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sampleSummary() detect.Summary {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	return detect.Summary{
		First: t0, Last: t0.Add(90 * time.Second),
		Sessions: 4, StartTLS: 1, AuthSessions: 1, SessionsWithGap: 1,
		SessionsByPort: []detect.PortOutcome{
			{Port: 25, Total: 3, Outcomes: []detect.NameCount{{Name: "completed", Count: 2}, {Name: "refused", Count: 1}}},
			{Port: 587, Total: 1, Outcomes: []detect.NameCount{{Name: "completed", Count: 1}}},
		},
		Messages: 3, MessagesByOutcome: []detect.NameCount{{Name: "accepted", Count: 2}, {Name: "rejected", Count: 1}},
		MessageBytes: 123456, Recipients: 4,
		TopTalkers:    []detect.Talker{{Client: netip.MustParseAddr("10.20.1.5"), Sessions: 3, Messages: 2, Recipients: 3}},
		TopDomains:    []detect.Domain{{Domain: "gmail.com", Recipients: 3}},
		TopRejections: []detect.Rejection{{Command: "EOD", Code: 554, Enhanced: "5.7.1", Text: "blocked using zen.spamhaus.org", Count: 1}},
		DNSAnswers:    5, DNSByType: []detect.NameCount{{Name: "MX", Count: 3}, {Name: "A", Count: 2}},
		MXLookups: 3, TopMXDomains: []detect.MXDomain{{Domain: "gmail.com", Lookups: 2, Hosts: []string{"a.gmail.com"}}, {Domain: "nomx.example", Lookups: 1}},
		RankingsAreExact: true,
		Counters: []event.Counter{
			{Stage: "read", Name: "packets", Count: 100, Bytes: 20480},
			{Stage: "filter", Name: "malformed", Count: 0, Drop: true},
			{Stage: "tcp", Name: "gaps", Count: 1, Bytes: 536, Drop: true},
		},
	}
}

func TestWriteSummaryText(t *testing.T) {
	s := sampleSummary()
	var b bytes.Buffer
	if err := WriteSummaryText(&b, &s); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "summary.txt.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("text summary differs from %s (-update to rewrite):\n%s", golden, b.String())
	}
}

func TestWriteSummaryJSON(t *testing.T) {
	s := sampleSummary()
	var b bytes.Buffer
	if err := WriteSummaryJSON(&b, &s); err != nil {
		t.Fatal(err)
	}
	var back detect.Summary
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Sessions != 4 || back.TopTalkers[0].Client != s.TopTalkers[0].Client || len(back.Counters) != 3 {
		t.Errorf("round trip lost data: %+v", back)
	}
}

func TestBytesString(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := bytesString(in); got != want {
			t.Errorf("bytesString(%d) = %q, want %q", in, got, want)
		}
	}
}
