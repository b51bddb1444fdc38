package inventory

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sampleCSV = `# platform inventory
network,customer,account,cluster,site,uids
10.0.0.0/8,,,,fra1,
10.20.0.0/16,,,shared-web,fra1,
10.20.1.0/24,acme,acme,shared-web,fra1,2001
10.20.1.5,lindenhof,lindenhof,shared-web,fra1,1001;1002

10.20.1.6,weber,weber,shared-web,fra1,1001 2001
2001:db8:20::/48,v6-customers,,shared-web,fra1,
2001:db8:20:1::5/128,lindenhof6,l6,shared-web,fra1,7
`

const sampleYAML = `# platform inventory
entries:
  - network: 10.0.0.0/8
    site: fra1
  - network: 10.20.0.0/16
    cluster: shared-web
    site: fra1
  - {network: 10.20.1.0/24, customer: acme, account: acme, cluster: shared-web, site: fra1, uids: [2001]}
  - network: 10.20.1.5
    customer: lindenhof
    account: lindenhof
    cluster: shared-web
    site: fra1
    uids: ["1001", 1002]
  - network: 10.20.1.6
    customer: weber
    account: weber
    cluster: shared-web
    site: fra1
    uids: "1001 2001"
  - network: "2001:db8:20::/48"
    customer: v6-customers
    cluster: shared-web
    site: fra1
  - network: 2001:db8:20:1::5/128
    customer: lindenhof6
    account: l6
    cluster: shared-web
    site: fra1
    uids: [7]
`

func mustParse(t testing.TB, data, format string) *Inventory {
	t.Helper()
	inv, err := Parse(strings.NewReader(data), format)
	if err != nil {
		t.Fatalf("Parse(%s): %v", format, err)
	}
	return inv
}

// TestLookup runs the same cases on the CSV and the YAML sample.
func TestLookup(t *testing.T) {
	for _, format := range []string{"csv", "yaml"} {
		data := map[string]string{"csv": sampleCSV, "yaml": sampleYAML}[format]
		inv := mustParse(t, data, format)
		if inv.Len() != 7 {
			t.Fatalf("%s: Len %d, want 7", format, inv.Len())
		}
		for _, tt := range []struct {
			name, ip               string
			prefix, customer, site string // prefix "" means no match
			cluster                string
		}{
			{"host entry wins", "10.20.1.5", "10.20.1.5/32", "lindenhof", "fra1", "shared-web"},
			{"/24 wins over /16", "10.20.1.7", "10.20.1.0/24", "acme", "fra1", "shared-web"},
			{"/16 wins over /8", "10.20.2.1", "10.20.0.0/16", "", "fra1", "shared-web"},
			{"/8", "10.99.0.1", "10.0.0.0/8", "", "fra1", ""},
			{"IPv4-mapped IPv6", "::ffff:10.20.1.5", "10.20.1.5/32", "lindenhof", "fra1", "shared-web"},
			{"IPv6 /128", "2001:db8:20:1::5", "2001:db8:20:1::5/128", "lindenhof6", "fra1", "shared-web"},
			{"IPv6 /48", "2001:db8:20:9::1", "2001:db8:20::/48", "v6-customers", "fra1", "shared-web"},
			{"no match v4", "192.0.2.1", "", "", "", ""},
			{"no match v6", "2001:db8:99::1", "", "", "", ""},
		} {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				e, ok := inv.Lookup(netip.MustParseAddr(tt.ip))
				if ok != (tt.prefix != "") {
					t.Fatalf("Lookup(%s) = %+v, %v", tt.ip, e, ok)
				}
				if !ok {
					if e.Prefix.IsValid() || e.Customer != "" {
						t.Errorf("no match returned %+v", e)
					}
					return
				}
				if e.Prefix.String() != tt.prefix || e.Customer != tt.customer || e.Site != tt.site || e.Cluster != tt.cluster {
					t.Errorf("Lookup(%s) = %+v", tt.ip, e)
				}
			})
		}
		if e, _ := inv.Lookup(netip.MustParseAddr("10.20.1.5")); !slices.Equal(e.UIDs, []string{"1001", "1002"}) || e.Account != "lindenhof" {
			t.Errorf("%s: entry %+v", format, e)
		}
	}
}

func TestAccountForUID(t *testing.T) {
	for _, format := range []string{"csv", "yaml"} {
		data := map[string]string{"csv": sampleCSV, "yaml": sampleYAML}[format]
		inv := mustParse(t, data, format)
		for _, tt := range []struct {
			name, ip, uid, want string // want "" means not found
		}{
			{"uid on the host's entry", "10.20.1.5", "1002", "lindenhof"},
			{"uid on a covering entry", "10.20.1.5", "2001", "acme"},
			{"host entry wins over covering one", "10.20.1.6", "2001", "weber"},
			{"uid of another host", "10.20.1.7", "1001", ""},
			{"unknown uid", "10.20.1.5", "9999", ""},
			{"empty uid", "10.20.1.5", "", ""},
			{"no entry lists uids", "10.99.0.1", "1001", ""},
			{"no entry at all", "192.0.2.1", "1001", ""},
			{"IPv4-mapped host", "::ffff:10.20.1.5", "1001", "lindenhof"},
			{"IPv6 host", "2001:db8:20:1::5", "7", "l6"},
		} {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				a, ok := inv.AccountForUID(netip.MustParseAddr(tt.ip), tt.uid)
				if ok != (tt.want != "") || a != tt.want {
					t.Errorf("AccountForUID(%s, %q) = %q, %v; want %q", tt.ip, tt.uid, a, ok, tt.want)
				}
			})
		}
	}
}

func TestNilInventory(t *testing.T) {
	var inv *Inventory
	if _, ok := inv.Lookup(netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("nil inventory matched")
	}
	if _, ok := inv.AccountForUID(netip.MustParseAddr("10.0.0.1"), "1"); ok {
		t.Error("nil inventory mapped a uid")
	}
	if inv.Len() != 0 || inv.Stats() != (Stats{}) {
		t.Error("nil inventory not empty")
	}
}

func TestInventoryLookupDoesNotAllocate(t *testing.T) {
	inv := mustParse(t, sampleCSV, "csv")
	a4, a6 := netip.MustParseAddr("10.20.1.5"), netip.MustParseAddr("2001:db8:20:1::5")
	if n := testing.AllocsPerRun(100, func() { inv.Lookup(a4); inv.Lookup(a6) }); n != 0 {
		t.Errorf("Lookup allocates %.1f times per run", n)
	}
}

func TestParseCSVLayout(t *testing.T) {
	for _, tt := range []struct {
		name  string
		data  string
		ip    string
		want  Entry
		stats Stats
	}{
		{
			name: "columns in any order, any case, aliases",
			data: "Site, CIDR ,Customer\nfra1,10.0.0.0/8,acme\n",
			ip:   "10.1.2.3", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Customer: "acme", Site: "fra1"},
			stats: Stats{Lines: 2, Entries: 1},
		},
		{
			name: "ip alias, short row",
			data: "IP,customer,account,cluster\n10.0.0.1\n",
			ip:   "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32")},
			stats: Stats{Lines: 2, Entries: 1},
		},
		{
			name: "prefix alias, comments, indented comment, blanks, CRLF, BOM",
			data: "\xef\xbb\xbf# top\r\n\r\nprefix,customer\r\n  # indented, \"quoted\r\n   \r\n10.0.0.1,a b\r\n",
			ip:   "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Customer: "a b"},
			stats: Stats{Lines: 6, Comments: 2, Blank: 2, Entries: 1},
		},
		{
			name: "quoted fields, uid separators",
			data: "network,customer,account,uids\n\"10.0.0.1\",\"Müller, Söhne\",mueller,\"1001; 1002,1003\t1004\"\n",
			ip:   "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Customer: "Müller, Söhne", Account: "mueller", UIDs: []string{"1001", "1002", "1003", "1004"}},
			stats: Stats{Lines: 2, Entries: 1, UIDs: 4},
		},
		{
			name: "no final newline",
			data: "network,customer\n10.0.0.1,x",
			ip:   "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Customer: "x"},
			stats: Stats{Lines: 2, Entries: 1},
		},
		{
			name: "IPv4-mapped network stored as IPv4",
			data: "network,customer\n::ffff:10.0.0.0/104,x\n",
			ip:   "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Customer: "x"},
			stats: Stats{Lines: 2, Entries: 1},
		},
		{
			name: "header only",
			data: "network\n",
			ip:   "10.0.0.1", stats: Stats{Lines: 1},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := mustParse(t, tt.data, "csv")
			e, _ := inv.Lookup(netip.MustParseAddr(tt.ip))
			if e.Prefix != tt.want.Prefix || e.Customer != tt.want.Customer || e.Account != tt.want.Account ||
				e.Cluster != tt.want.Cluster || e.Site != tt.want.Site || !slices.Equal(e.UIDs, tt.want.UIDs) {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, e, tt.want)
			}
			if inv.Stats() != tt.stats {
				t.Errorf("Stats %+v, want %+v", inv.Stats(), tt.stats)
			}
		})
	}
}

func TestParseYAMLLayout(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		n    int
		ip   string
		want Entry
	}{
		{"empty entries", "entries:\n", 0, "10.0.0.1", Entry{}},
		{"empty list", "entries: []\n", 0, "10.0.0.1", Entry{}},
		{"null values", "entries:\n  - network: 10.0.0.1\n    customer: ~\n    uids:\n", 1, "10.0.0.1",
			Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32")}},
		{"alias value", "entries:\n  - &e {network: 10.0.0.1, site: fra1}\n  - {network: 10.0.0.2, site: fra2}\n", 2, "10.0.0.1",
			Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32"), Site: "fra1"}},
		{"flow style, numbers as text", "entries: [{network: '10.0.0.0/8', customer: 42, account: 007, uids: [0, 65534]}]", 1, "10.9.9.9",
			Entry{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Customer: "42", Account: "007", UIDs: []string{"0", "65534"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Parse(strings.NewReader(tt.data), "yaml")
			if err != nil {
				t.Fatal(err)
			}
			if inv.Len() != tt.n {
				t.Errorf("Len %d, want %d", inv.Len(), tt.n)
			}
			e, _ := inv.Lookup(netip.MustParseAddr(tt.ip))
			if e.Prefix != tt.want.Prefix || e.Customer != tt.want.Customer || e.Account != tt.want.Account ||
				e.Site != tt.want.Site || !slices.Equal(e.UIDs, tt.want.UIDs) {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, e, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name, format, data string
		want               string // a substring of the error
		is                 error
	}{
		{"csv empty", "csv", "", "no header row", ErrFormat},
		{"csv only comments", "csv", "# a\n\n", "no header row", ErrFormat},
		{"missing header", "csv", "10.0.0.1,acme\n", `line 1: unknown column "10.0.0.1"`, ErrFormat},
		{"no network column", "csv", "customer,site\nx,y\n", "no network column", ErrFormat},
		{"unknown column", "csv", "network,Custmer\n10.0.0.1,x\n", `line 1: unknown column "Custmer"`, ErrFormat},
		{"empty column name", "csv", "network,customer,\n", "column 3 has no name", ErrFormat},
		{"column twice", "csv", "network,ip\n", `column "network" given twice`, ErrFormat},
		{"bad cidr", "csv", "network\n10.0.0.0/33\n", "line 2: network", ErrInvalidPrefix},
		{"bad address", "csv", "# c\nnetwork\n\n10.0.0.256\n", "line 4: network", ErrInvalidPrefix},
		{"empty network", "csv", "network,customer\n,acme\n", "line 2", ErrInvalidPrefix},
		{"host bits", "csv", "network\n10.0.0.1/24\n", "line 2: network \"10.0.0.1/24\": host bits set: 10.0.0.1/24 (did you mean 10.0.0.0/24?)", ErrHostBits},
		{"duplicate", "csv", "network,customer\n10.0.0.1,a\n# c\n10.0.0.1/32,b\n", "line 4: 10.0.0.1/32 is already defined at line 2", ErrDuplicate},
		{"duplicate via mapping", "csv", "network\n10.0.0.0/8\n::ffff:10.0.0.0/104\n", "line 3: 10.0.0.0/8 is already defined at line 2", ErrDuplicate},
		{"too many fields", "csv", "network\n10.0.0.1,x\n", "line 2: 2 fields, the header has 1", ErrFormat},
		{"bare quote", "csv", "network,customer\n10.0.0.1,a\"b\n", "line 2", ErrFormat},
		{"field spans lines", "csv", "network,customer\n10.0.0.1,\"a\nb\"\n", "line 2: a field spans lines", ErrFormat},
		{"quote closed on a comment line", "csv", "network,customer\n10.0.0.1,\"a\n# b\"\n", "line 2: extraneous", ErrFormat},
		{"uid not a number", "csv", "network,account,uids\n10.0.0.1,a,10x1\n", `line 2: uid "10x1"`, ErrFormat},
		{"uids without account", "csv", "network,uids\n10.0.0.1,1001\n", "line 2: uids [1001] need an account", ErrFormat},
		{"line too long", "csv", "network,customer\n10.0.0.1," + strings.Repeat("x", MaxLine) + "\n", "line 2 is longer than", ErrTooLarge},
		{"yaml empty", "yaml", "", "empty document", ErrFormat},
		{"yaml syntax", "yaml", "entries: [\n", "yaml", ErrFormat},
		{"yaml top-level list", "yaml", "- network: 10.0.0.1\n", "want a mapping", ErrFormat},
		{"yaml no entries", "yaml", "{}\n", `no "entries:" key`, ErrFormat},
		{"yaml unknown top key", "yaml", "entries: []\nentires: []\n", `line 2: unknown key "entires"`, ErrFormat},
		{"yaml entries not a list", "yaml", "entries: {network: 10.0.0.1}\n", "not a list", ErrFormat},
		{"yaml entry not a mapping", "yaml", "entries:\n  - 10.0.0.1\n", "entry 1 (line 2): not a mapping", ErrFormat},
		{"yaml unknown key", "yaml", "entries:\n  - network: 10.0.0.1\n    custmer: x\n", `entry 1 (line 2): line 3: unknown key "custmer"`, ErrFormat},
		{"yaml key twice", "yaml", "entries:\n  - {network: 10.0.0.1, network: 10.0.0.2}\n", "given twice", ErrFormat},
		{"yaml bad network", "yaml", "entries:\n  - network: 10.0.0.1\n  - network: nope\n", "entry 2 (line 3): network \"nope\"", ErrInvalidPrefix},
		{"yaml missing network", "yaml", "entries:\n  - customer: x\n", "entry 1 (line 2)", ErrInvalidPrefix},
		{"yaml list as value", "yaml", "entries:\n  - {network: 10.0.0.1, customer: [a]}\n", "customer: not a single value", ErrFormat},
		{"yaml uids mapping", "yaml", "entries:\n  - {network: 10.0.0.1, account: a, uids: {a: 1}}\n", "uids: not a list", ErrFormat},
		{"yaml duplicate", "yaml", "entries:\n  - network: 10.0.0.0/8\n  - network: 10.0.0.0/8\n", "entry 2 (line 3): 10.0.0.0/8 is already defined at entry 1 (line 2)", ErrDuplicate},
		{"yaml two documents", "yaml", "entries: []\n---\nentries: []\n", "more than one YAML document", ErrFormat},
		{"yaml alias at top level", "yaml", "base: &b fra1\nentries: []\n", `unknown key "base"`, ErrFormat},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.data), tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
		})
	}
	if _, err := Parse(strings.NewReader(""), "xml"); err == nil || !strings.Contains(err.Error(), `unknown inventory format "xml"`) {
		t.Errorf("xml: %v", err)
	}
}

// errReader fails after its data.
type errReader struct{ data string }

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestParseReadError(t *testing.T) {
	for _, format := range []string{"csv", "yaml"} {
		t.Run(format, func(t *testing.T) {
			_, err := Parse(&errReader{data: "network\n10.0.0.1\n"}, format)
			if err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestParseTooLarge feeds more than the real limits from a reader that
// makes the bytes up as it goes.
func TestParseTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("reads MaxBytes")
	}
	const fill = "# padding padding padding padding padding padding padding\n"
	for _, tt := range []struct {
		name, format, head string
		limit              int
	}{
		{"csv", "csv", "network\n", MaxBytes},
		{"yaml", "yaml", "entries:\n", MaxYAMLBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := io.MultiReader(strings.NewReader(tt.head), &repeatReader{line: fill, left: tt.limit/len(fill) + 2})
			_, err := Parse(r, tt.format)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", tt.limit)) {
				t.Errorf("error %v, want ErrTooLarge", err)
			}
		})
	}
}

// pad appends a comment line to s so that it is n bytes long.
func pad(s string, n int) string {
	return s + "#" + strings.Repeat(".", n-len(s)-2) + "\n"
}

func TestParseLimits(t *testing.T) {
	lim := limits{bytes: 40, yamlBytes: 80, entries: 2}
	const csv2 = "network\n10.0.0.1\n10.0.0.2\n"
	const yaml2 = "entries: [{network: 10.0.0.1}, {network: 10.0.0.2}]\n"
	for _, tt := range []struct {
		name, format, data string
		want               string // "" means accepted
	}{
		{"csv at the limits", "csv", pad(csv2, 40), ""},
		{"csv one byte more", "csv", pad(csv2, 41), "more than 40 bytes"},
		{"csv one entry more", "csv", csv2 + "10.0.0.3\n", "line 4: more than 2 entries"},
		{"yaml at the limits", "yaml", pad(yaml2, 80), ""},
		{"yaml one byte more", "yaml", pad(yaml2, 81), "more than 80 bytes"},
		{"yaml one entry more", "yaml", "entries: [{network: 1.0.0.1}, {network: 1.0.0.2}, {network: 1.0.0.3}]", "entry 3 (line 1): more than 2 entries"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(strings.NewReader(tt.data), tt.format, lim)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("len %d: %v", len(tt.data), err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("len %d: error %v, want ErrTooLarge with %q", len(tt.data), err, tt.want)
			}
		})
	}
}

type repeatReader struct {
	line string
	left int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off += c
		if r.off == len(r.line) {
			r.off = 0
			r.left--
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name, file, data string
		n                int
		err              string
	}{
		{"csv", "inv.csv", sampleCSV, 7, ""},
		{"upper-case extension", "INV.CSV", sampleCSV, 7, ""},
		{"yaml", "inv.yaml", sampleYAML, 7, ""},
		{"yml", "inv.yml", sampleYAML, 7, ""},
		{"unknown extension", "inv.txt", sampleCSV, 0, "unknown inventory format"},
		{"error names the file", "bad.csv", "network\nnope\n", 0, "bad.csv: inventory: line 2"},
		{"missing file", "", "", 0, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.csv")
			if tt.file != "" {
				path = write(tt.file, tt.data)
			}
			inv, err := ParseFile(path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || inv.Len() != tt.n {
				t.Fatalf("ParseFile: %v (Len %d, want %d)", err, inv.Len(), tt.n)
			}
		})
	}
}

// TestRepoInventory parses the project's example inventory.
func TestRepoInventory(t *testing.T) {
	inv, err := ParseFile("../../testdata/inventory.csv")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Len() == 0 {
		t.Fatal("empty")
	}
	if e, ok := inv.Lookup(netip.MustParseAddr("10.20.1.5")); !ok || e.Account != "lindenhof" {
		t.Errorf("10.20.1.5: %+v %v", e, ok)
	}
}

// bigCSV returns a header and n entries: /32, /24, /64 and /128 in turn.
// Entry i has customer "c<i>".
func bigCSV(n int) string {
	var b strings.Builder
	b.WriteString("network,customer,account,cluster,site,uids\n")
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "10.%d.%d.%d,c%d,a%d,k%d,s1,%d\n", i>>16&255, i>>8&255, i&255, i, i, i%50, 1000+i%100)
		case 1:
			j := i / 4
			fmt.Fprintf(&b, "172.%d.%d.0/24,c%d,,k1,s2,\n", 16+j>>8, j&255, i)
		case 2:
			fmt.Fprintf(&b, "2001:db8:%x:%x::/64,c%d,,k2,s3,\n", i>>16, i&0xffff, i)
		default:
			fmt.Fprintf(&b, "2001:db9:%x::%x/128,c%d,,k3,s3,\n", i>>16, i&0xffff, i)
		}
	}
	return b.String()
}

func TestParse100k(t *testing.T) {
	const n = 100_000
	inv := mustParse(t, bigCSV(n), "csv")
	if inv.Len() != n || inv.Stats().Entries != n || inv.Stats().Lines != n+1 {
		t.Fatalf("Len %d, Stats %+v", inv.Len(), inv.Stats())
	}
	for _, tt := range []struct {
		name, ip, customer, uidAccount string
	}{
		{"/32", "10.0.134.64", fmt.Sprintf("c%d", 134<<8|64), fmt.Sprintf("a%d", 134<<8|64)},
		{"/32 high", "10.1.134.156", "c99996", "a99996"},
		{"/24", "172.16.9.200", "c37", ""},
		{"/24 high", "172.17.0.1", "c1025", ""},
		{"/64", "2001:db8:0:86a2::1", fmt.Sprintf("c%d", 0x86a2), ""},
		{"/128", "2001:db9:1::7a3", "c67491", ""},
		{"/128 neighbour", "2001:db9:1::7a4", "", ""},
		{"outside", "192.0.2.1", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := inv.Lookup(netip.MustParseAddr(tt.ip))
			if ok != (tt.customer != "") || e.Customer != tt.customer {
				t.Errorf("Lookup(%s) = %+v %v, want %q", tt.ip, e, ok, tt.customer)
			}
			if tt.uidAccount != "" {
				uid := e.UIDs[0]
				if a, ok := inv.AccountForUID(netip.MustParseAddr(tt.ip), uid); !ok || a != tt.uidAccount {
					t.Errorf("AccountForUID(%s, %s) = %q %v, want %q", tt.ip, uid, a, ok, tt.uidAccount)
				}
			}
		})
	}
}

func BenchmarkParse100k(b *testing.B) {
	data := bigCSV(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(strings.NewReader(data), "csv"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	inv, err := Parse(strings.NewReader(bigCSV(100_000)), "csv")
	if err != nil {
		b.Fatal(err)
	}
	ips := []netip.Addr{
		netip.MustParseAddr("10.0.134.64"),        // /32
		netip.MustParseAddr("172.16.9.200"),       // /24
		netip.MustParseAddr("192.0.2.1"),          // miss
		netip.MustParseAddr("2001:db8:0:86a2::1"), // /64
		netip.MustParseAddr("2001:db9:1::7a3"),    // /128
		netip.MustParseAddr("::ffff:10.0.134.64"), // mapped
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inv.Lookup(ips[i%len(ips)])
		i++
	}
}
