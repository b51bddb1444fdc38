package pcaplive

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnsupported is returned by Open in a build without the libpcap tag.
var ErrUnsupported = errors.New("pcaplive: this mxwatch was built without libpcap (build with -tags libpcap; Debian: apt-get install libpcap-dev)")

// Config configures a Source.
type Config struct {
	Interface   string
	SnapLen     int           // bytes kept per packet; default 262144
	Promiscuous bool          // put the interface in promiscuous mode
	BufferSize  int           // libpcap's kernel buffer in bytes; default 64 MiB
	Timeout     time.Duration // Next returns capture.ErrIdle after this long without a packet; default 200ms
	Filter      string        // libpcap filter expression; empty: none
}

// Defaults of the zero Config fields.
const (
	DefaultSnapLen    = 262144
	DefaultBufferSize = 64 << 20
	DefaultTimeout    = 200 * time.Millisecond
)

func (c Config) withDefaults() Config {
	if c.SnapLen == 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Stats are libpcap's counters (pcap_stats) of a Source.
type Stats struct {
	Packets uint64 // received by the filter
	Drops   uint64 // dropped for lack of buffer space
	IfDrops uint64 // dropped by the interface or its driver
}

// Filter returns a libpcap filter expression that keeps TCP with a
// source or destination port in mailPorts, TCP and UDP with one in
// dnsPorts, and IP fragments (later fragments carry no ports), untagged
// or behind one or two VLAN tags; with tunnels also GRE (and so ERSPAN),
// VXLAN (UDP 4789) and Geneve (UDP 6081), whose payloads carry mirrored
// frames. It is the expression equivalent of afpacket.MailDNSFilter.
func Filter(mailPorts, dnsPorts []uint16, tunnels bool) (string, error) {
	if len(mailPorts) == 0 && len(dnsPorts) == 0 {
		return "", errors.New("pcaplive: filter: no ports")
	}
	var terms []string
	for _, p := range mailPorts {
		terms = append(terms, fmt.Sprintf("tcp port %d", p))
	}
	for _, p := range dnsPorts {
		terms = append(terms, fmt.Sprintf("port %d", p))
	}
	terms = append(terms, "(ip[6:2] & 0x3fff != 0)", "(ip6 and ip6[6] == 44)")
	if tunnels {
		terms = append(terms, "ip proto 47", "ip6 proto 47", "udp port 4789", "udp port 6081")
	}
	inner := strings.Join(terms, " or ")
	// "vlan" moves libpcap's offsets past one tag for everything after it
	// in the expression, other branches of an "or" included: so the
	// branches nest, untagged first, then one tag, then two.
	return fmt.Sprintf("(%s) or (vlan and ((%s) or (vlan and (%s))))", inner, inner, inner), nil
}
