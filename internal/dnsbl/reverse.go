package dnsbl

import (
	"net/netip"
	"strings"
)

// ReverseName returns the name asked of zone for ip: the four octets of an
// IPv4 address in reverse order ("1.2.0.192.zen.spamhaus.org." for
// 192.0.2.1), or the 32 nibbles of an IPv6 address in reverse order, in
// lower-case hex. An IPv4-mapped IPv6 address is treated as IPv4, and an
// IPv6 zone (scope) is ignored. The name is fully qualified. ReverseName
// returns "" for an invalid address.
func ReverseName(ip netip.Addr, zone string) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(64 + len(zone) + 1)
	if ip.Is4() {
		a := ip.As4()
		for i := len(a) - 1; i >= 0; i-- {
			writeUint8(&b, a[i])
			b.WriteByte('.')
		}
	} else {
		a := ip.As16()
		for i := len(a) - 1; i >= 0; i-- {
			b.WriteByte(hex[a[i]&0x0f])
			b.WriteByte('.')
			b.WriteByte(hex[a[i]>>4])
			b.WriteByte('.')
		}
	}
	zone = strings.TrimSuffix(zone, ".")
	if zone != "" {
		b.WriteString(zone)
		b.WriteByte('.')
	}
	return b.String()
}

// writeUint8 writes the decimal form of v.
func writeUint8(b *strings.Builder, v uint8) {
	if v >= 100 {
		b.WriteByte('0' + v/100)
	}
	if v >= 10 {
		b.WriteByte('0' + v/10%10)
	}
	b.WriteByte('0' + v%10)
}
