package dnsbl

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// tableResults covers every status and cell kind of WriteTable.
func tableResults() []Result {
	a := netip.MustParseAddr
	return []Result{
		{Err: fmt.Errorf("%w: invalid IP", ErrInvalidAddr)},
		{IP: a("192.0.2.1"), Zone: "zen.spamhaus.org", List: "spamhaus-zen", Listed: true,
			Codes:    []netip.Addr{a("127.0.0.2"), a("127.0.0.4")},
			Meanings: []string{"SBL: Spamhaus Block List", "XBL: exploited host (CBL)"},
			TXT:      []string{"https://check.spamhaus.org/sbl/query/SBL1", "second\treason"}},
		{IP: a("192.0.2.1"), Zone: "bl.spamcop.net", List: "spamcop"},
		{IP: a("192.0.2.1"), Zone: "bl.mailspike.net", List: "mailspike", Listed: true,
			Codes: []netip.Addr{a("127.0.0.99")}, Meanings: []string{"unknown code 127.0.0.99"}},
		{IP: a("192.0.2.2"), Zone: "zen.spamhaus.org", List: "spamhaus-zen", Refused: true,
			Codes:    []netip.Addr{a("127.255.255.254")},
			Meanings: []string{"refused: query through a public/open resolver or unattributable rDNS"}},
		{IP: a("192.0.2.2"), Zone: "b.barracudacentral.org", List: "barracuda",
			Err: fmt.Errorf("%w: 2.2.0.192.b.barracudacentral.org. after 2 tries of 2s", ErrTimeout)},
		{IP: a("2001:db8::1"), Zone: "zen.spamhaus.org", List: "spamhaus-zen",
			Err: errors.New("multi\nline error")},
	}
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name    string
		results []Result
		golden  string
	}{
		{name: "every status", results: tableResults(), golden: "table.golden"},
		{name: "no results", results: nil, golden: "table-empty.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTable(&buf, tt.results); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create): %v", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("table differs from %s:\n got:\n%s\nwant:\n%s", path, buf.Bytes(), want)
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableError(t *testing.T) {
	err := WriteTable(failWriter{}, tableResults())
	if err == nil {
		t.Fatal("WriteTable to a failing writer returned nil")
	}
}
