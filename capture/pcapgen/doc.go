// Package pcapgen writes synthetic packet captures whose content is known
// exactly, for the tests, fuzz seeds, benchmarks and demo captures of
// mxwatch.
//
// It owns three things:
//
//   - A Writer that frames IPv4/IPv6 packets for one link type (Ethernet,
//     Linux cooked v1/v2, raw IP, BSD loopback), optionally inside 802.1Q/QinQ
//     tags and GRE, ERSPAN type II/III or VXLAN tunnels, and writes them as
//     pcap (micro- or nanosecond), pcapng, optionally gzip-compressed.
//   - Traffic simulators on top of it: TCP connections with correct sequence
//     and acknowledgment numbers, segmentation and impairments (Conn), DNS
//     exchanges over UDP (optionally IPv4-fragmented) and TCP, and noise
//     (HTTPS-like TCP, QUIC- and NTP-like UDP, ICMP echo, ARP).
//   - Named scenarios (Scenarios, Lookup, WriteScenario): small realistic
//     captures of SMTP sessions and MX lookups, and Mix, a large streaming
//     capture for benchmarks.
//
// Everything is deterministic: the packets, their timestamps and every
// random choice derive from Options.Seed and Options.Start, so the same
// options always give byte-identical files. Time never comes from the wall
// clock; it advances by seeded deltas as packets are written.
//
// Addresses follow one convention: platform hosts live in 10.20.0.0/16 (and
// 2001:db8:14::/48 for IPv6), external servers in the documentation ranges
// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.
//
// The Writer is not safe for concurrent use; it starts no goroutines.
package pcapgen
