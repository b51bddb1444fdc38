package inventory

import (
	"errors"
	"net/netip"
	"testing"
)

func mustTable(t testing.TB, prefixes ...string) *Table[string] {
	t.Helper()
	var tb Table[string]
	for _, s := range prefixes {
		if err := tb.Insert(netip.MustParsePrefix(s), s); err != nil {
			t.Fatalf("Insert(%s): %v", s, err)
		}
	}
	return &tb
}

func TestTableLongestPrefix(t *testing.T) {
	tb := mustTable(t,
		"10.0.0.0/8", "10.20.0.0/16", "10.20.1.0/24", "10.20.1.5/32",
		"0.0.0.0/0",
		"2001:db8::/32", "2001:db8:20::/48", "2001:db8:20:1::/64", "2001:db8:20:1::5/128",
		"::ffff:192.0.2.0/120", // IPv4-mapped: stored as 192.0.2.0/24
		"fe80::/64",
	)
	for _, tt := range []struct {
		name, addr string
		want       string // stored value = the prefix as inserted; "" for no match
		prefix     string // the matching prefix, as Lookup reports it
	}{
		{"/32 wins over /24, /16, /8", "10.20.1.5", "10.20.1.5/32", "10.20.1.5/32"},
		{"/24 wins over /16", "10.20.1.6", "10.20.1.0/24", "10.20.1.0/24"},
		{"/16 wins over /8", "10.20.2.1", "10.20.0.0/16", "10.20.0.0/16"},
		{"/8", "10.99.0.1", "10.0.0.0/8", "10.0.0.0/8"},
		{"default route", "203.0.113.9", "0.0.0.0/0", "0.0.0.0/0"},
		{"IPv4-mapped address is looked up as IPv4", "::ffff:10.20.1.5", "10.20.1.5/32", "10.20.1.5/32"},
		{"IPv4-mapped prefix matches IPv4", "192.0.2.77", "::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"IPv6 /128", "2001:db8:20:1::5", "2001:db8:20:1::5/128", "2001:db8:20:1::5/128"},
		{"IPv6 /64", "2001:db8:20:1::6", "2001:db8:20:1::/64", "2001:db8:20:1::/64"},
		{"IPv6 /48", "2001:db8:20:2::1", "2001:db8:20::/48", "2001:db8:20::/48"},
		{"IPv6 /32", "2001:db8:ffff::1", "2001:db8::/32", "2001:db8::/32"},
		{"IPv6 does not match IPv4 default", "2001:db9::1", "", ""},
		{"zone ignored", "fe80::1%eth0", "fe80::/64", "fe80::/64"},
		{"IPv4-compatible is IPv6", "::10.20.1.5", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, p, ok := tb.Lookup(netip.MustParseAddr(tt.addr))
			if ok != (tt.want != "") || v != tt.want {
				t.Fatalf("Lookup(%s) = %q, %v, %v; want %q", tt.addr, v, p, ok, tt.want)
			}
			if ok && p.String() != tt.prefix {
				t.Errorf("Lookup(%s) prefix %v, want %s", tt.addr, p, tt.prefix)
			}
		})
	}
	if _, _, ok := tb.Lookup(netip.Addr{}); ok {
		t.Error("the zero Addr matched")
	}
	if tb.Len() != 11 {
		t.Errorf("Len %d, want 11", tb.Len())
	}
}

func TestTableNoMatch(t *testing.T) {
	var empty Table[int]
	for _, tt := range []struct {
		name string
		tb   *Table[string]
		addr string
	}{
		{"empty table v4", &Table[string]{}, "10.0.0.1"},
		{"empty table v6", &Table[string]{}, "::1"},
		{"v4 outside", mustTable(t, "10.0.0.0/8"), "11.0.0.1"},
		{"v6 table, v4 address", mustTable(t, "::/0"), "10.0.0.1"},
		{"v4 table, v6 address", mustTable(t, "0.0.0.0/0"), "2001:db8::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v, p, ok := tt.tb.Lookup(netip.MustParseAddr(tt.addr)); ok {
				t.Errorf("Lookup(%s) = %q, %v", tt.addr, v, p)
			}
		})
	}
	if _, _, ok := empty.Lookup(netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("zero Table matched")
	}
}

func TestTableInsertErrors(t *testing.T) {
	tb := mustTable(t, "10.0.0.0/8", "2001:db8::/32")
	for _, tt := range []struct {
		name   string
		prefix netip.Prefix
		want   error
	}{
		{"invalid", netip.Prefix{}, ErrInvalidPrefix},
		{"host bits v4", netip.MustParsePrefix("10.0.0.1/24"), ErrHostBits},
		{"host bits v6", netip.MustParsePrefix("2001:db8::1/64"), ErrHostBits},
		{"duplicate", netip.MustParsePrefix("10.0.0.0/8"), ErrDuplicate},
		{"duplicate via IPv4 mapping", netip.MustParsePrefix("::ffff:10.0.0.0/104"), ErrDuplicate},
		{"duplicate v6", netip.MustParsePrefix("2001:db8::/32"), ErrDuplicate},
		{"IPv4-mapped shorter than /96", netip.MustParsePrefix("::ffff:0.0.0.0/95"), ErrInvalidPrefix},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tb.Insert(tt.prefix, "x")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Insert(%v) = %v, want %v", tt.prefix, err, tt.want)
			}
		})
	}
	if tb.Len() != 2 {
		t.Errorf("failed inserts changed Len to %d", tb.Len())
	}
	if v, _, _ := tb.Lookup(netip.MustParseAddr("10.1.2.3")); v != "10.0.0.0/8" {
		t.Errorf("failed duplicate insert replaced the value: %q", v)
	}
}

func TestTableGetCoveringAll(t *testing.T) {
	tb := mustTable(t, "10.0.0.0/8", "10.20.0.0/16", "10.20.1.5/32", "2001:db8::/32")
	for _, tt := range []struct {
		name, prefix string
		ok           bool
	}{
		{"exact", "10.20.0.0/16", true},
		{"mapped exact", "::ffff:10.20.0.0/112", true},
		{"contained but not stored", "10.20.1.0/24", false},
		{"host bits", "10.20.0.1/16", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tb.Get(netip.MustParsePrefix(tt.prefix)); ok != tt.ok {
				t.Errorf("Get(%s) ok=%v, want %v", tt.prefix, ok, tt.ok)
			}
		})
	}

	var got []string
	for p, v := range tb.Covering(netip.MustParseAddr("10.20.1.5")) {
		if p.String() != v {
			t.Errorf("Covering yielded %v with value %q", p, v)
		}
		got = append(got, v)
	}
	want := []string{"10.20.1.5/32", "10.20.0.0/16", "10.0.0.0/8"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("Covering = %v, want %v", got, want)
	}
	for range tb.Covering(netip.MustParseAddr("10.20.1.5")) {
		break // stopping early must not panic
	}

	n := 0
	for p, v := range tb.All() {
		if got, ok := tb.Get(p); !ok || got != v {
			t.Errorf("All yielded %v=%q, Get says %q %v", p, v, got, ok)
		}
		n++
	}
	if n != tb.Len() {
		t.Errorf("All yielded %d, Len %d", n, tb.Len())
	}
}

func TestTableLookupDoesNotAllocate(t *testing.T) {
	tb := mustTable(t, "10.0.0.0/8", "10.20.0.0/16", "2001:db8::/32", "2001:db8::5/128")
	addrs := []netip.Addr{
		netip.MustParseAddr("10.20.1.1"), netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("::ffff:10.1.1.1"), netip.MustParseAddr("2001:db8::5"),
		netip.MustParseAddr("fe80::1%eth0"),
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, a := range addrs {
			tb.Lookup(a)
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per run", allocs)
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		err            error
	}{
		{"v4 address", " 10.0.0.1 ", "10.0.0.1/32", nil},
		{"v6 address", "2001:db8::1", "2001:db8::1/128", nil},
		{"mapped address", "::ffff:10.0.0.1", "10.0.0.1/32", nil},
		{"v4 cidr", "10.0.0.0/8", "10.0.0.0/8", nil},
		{"mapped cidr", "::ffff:10.0.0.0/104", "10.0.0.0/8", nil},
		{"v6 cidr", "2001:db8::/32", "2001:db8::/32", nil},
		{"empty", "", "", ErrInvalidPrefix},
		{"garbage", "nope", "", ErrInvalidPrefix},
		{"bits too long", "10.0.0.0/33", "", ErrInvalidPrefix},
		{"host bits", "10.0.0.1/24", "", ErrHostBits},
		{"zone", "fe80::1%eth0", "", ErrInvalidPrefix},
		{"zone in cidr", "fe80::%eth0/64", "", ErrInvalidPrefix},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParsePrefix(%q) error %v, want %v", tt.in, err, tt.err)
			}
			if err == nil && p.String() != tt.want {
				t.Errorf("ParsePrefix(%q) = %v, want %s", tt.in, p, tt.want)
			}
		})
	}
}
