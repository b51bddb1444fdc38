// Package pcaplive reads a network interface through libpcap: the
// portable alternative to package afpacket for `mxwatch capture` on
// systems without AF_PACKET, or where an operator prefers libpcap's own
// capture path (PF_RING or DAG builds of libpcap, for instance).
//
// It needs cgo and libpcap's headers, so it is compiled only with the
// build tag libpcap (Debian: apt-get install libpcap-dev; go build -tags
// libpcap ./cmd/mxwatch). Without the tag, Open returns ErrUnsupported and
// the default build stays a static binary without libpcap.
//
// One Source is one libpcap handle: libpcap has no fanout, so the load
// is not shared between workers (run one sensor process per interface,
// or use afpacket). The kernel filter is a libpcap expression (Filter)
// equivalent to afpacket's MailDNSFilter: mail and DNS ports, behind up to
// two VLAN tags, IP fragments and, when asked, tunnels.
package pcaplive
