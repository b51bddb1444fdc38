package inventory

import (
	"strings"
	"testing"
)

// checkInvariants asserts what must hold for any inventory Parse accepts.
func checkInvariants(t *testing.T, inv *Inventory) {
	t.Helper()
	if inv.Len() != inv.Stats().Entries {
		t.Fatalf("Len %d, Stats.Entries %d", inv.Len(), inv.Stats().Entries)
	}
	for i := range inv.entries.n {
		e := *inv.entries.at(int32(i))
		p := e.Prefix
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("entry %d has a non-canonical prefix %v", i, p)
		}
		// The network address of every entry finds an entry at least
		// as specific that contains it.
		got, ok := inv.Lookup(p.Addr())
		if !ok || got.Prefix.Bits() < p.Bits() || !got.Prefix.Contains(p.Addr()) {
			t.Fatalf("Lookup(%v) = %+v, %v; entry %+v", p.Addr(), got, ok, e)
		}
		for _, u := range e.UIDs {
			if !isUID(u) {
				t.Fatalf("entry %d has uid %q", i, u)
			}
			if _, ok := inv.AccountForUID(p.Addr(), u); !ok {
				t.Fatalf("uid %q of %v does not map", u, p)
			}
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		sampleCSV,
		"network\n10.0.0.0/8\n",
		"network,account,uids\n::1,a,1 2 3\n",
		"\xef\xbb\xbfIP,Customer\r\n# c\r\n10.0.0.1,\"a, b\"\r\n",
		"network,customer\n10.0.0.1,\"a\nb\"\n",
		"network\n10.0.0.1/24\n",
		"network\n::ffff:10.0.0.0/104\n10.0.0.0/8\n",
		"cidr,site\n0.0.0.0/0,x\n::/0,y\n",
		"network,custmer\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		inv, err := Parse(strings.NewReader(data), "csv")
		if err != nil {
			if inv != nil {
				t.Fatal("an error and an inventory")
			}
			return
		}
		checkInvariants(t, inv)
	})
}

func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{
		sampleYAML,
		"entries:\n  - network: 10.0.0.1\n    customer: x\n",
		"entries: [{network: '::1/128', account: a, uids: [1]}]",
		"entries:\n  - &e {network: 10.0.0.1}\n  - *e\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nentries: [*b]\n",
		"entries: !!map {}\n",
		"entries: []\n---\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		inv, err := Parse(strings.NewReader(data), "yaml")
		if err != nil {
			if inv != nil {
				t.Fatal("an error and an inventory")
			}
			return
		}
		checkInvariants(t, inv)
	})
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "::ffff:10.0.0.0/104", "2001:db8::/32", "fe80::1%eth0", "10.0.0.1/24", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() {
			t.Fatalf("ParsePrefix(%q) = %v", s, p)
		}
		var tb Table[int]
		if err := tb.Insert(p, 1); err != nil {
			t.Fatalf("Insert(%v): %v", p, err)
		}
		if _, q, ok := tb.Lookup(p.Addr()); !ok || q != p {
			t.Fatalf("Lookup(%v) = %v, %v", p.Addr(), q, ok)
		}
	})
}
