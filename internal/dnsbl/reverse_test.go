package dnsbl

import (
	"net/netip"
	"testing"
)

func TestReverseName(t *testing.T) {
	tests := []struct {
		name string
		ip   netip.Addr
		zone string
		want string
	}{
		{name: "ipv4", ip: netip.MustParseAddr("192.0.2.1"), zone: "zen.spamhaus.org",
			want: "1.2.0.192.zen.spamhaus.org."},
		{name: "ipv4 fqdn zone", ip: netip.MustParseAddr("10.20.255.0"), zone: "bl.spamcop.net.",
			want: "0.255.20.10.bl.spamcop.net."},
		{name: "ipv4 no zone", ip: netip.MustParseAddr("203.0.113.99"), want: "99.113.0.203."},
		{name: "ipv6", ip: netip.MustParseAddr("2001:db8::1"), zone: "zen.spamhaus.org",
			want: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org."},
		{name: "ipv6 mixed digits, upper-case input", ip: netip.MustParseAddr("2A01:4F8:C0C:ABCD::FE"), zone: "x.test",
			want: "e.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.c.0.c.0.8.f.4.0.1.0.a.2.x.test."},
		{name: "ipv6 with scope", ip: netip.MustParseAddr("fe80::1%eth0"), zone: "x.test",
			want: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.x.test."},
		{name: "ipv4-mapped ipv6 is ipv4", ip: netip.MustParseAddr("::ffff:192.0.2.1"), zone: "zen.spamhaus.org",
			want: "1.2.0.192.zen.spamhaus.org."},
		{name: "invalid", ip: netip.Addr{}, zone: "zen.spamhaus.org", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReverseName(tt.ip, tt.zone); got != tt.want {
				t.Errorf("ReverseName(%v, %q) = %q, want %q", tt.ip, tt.zone, got, tt.want)
			}
		})
	}
}
