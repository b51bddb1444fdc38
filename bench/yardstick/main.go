// Command yardstick is the speed reference for mxwatch analyze: it only
// reads a capture with gopacket's pcapgo zero-copy reader and parses the
// Ethernet, 802.1Q, IPv4/IPv6 and TCP/UDP headers of every packet down to
// the 5-tuple, which it folds into a checksum so that nothing is optimised
// away. Whatever mxwatch does beyond that (tunnels, reassembly, SMTP and
// DNS parsing, events) is its cost over this floor.
//
// Two parsers are available: -parser dlp uses gopacket's
// DecodingLayerParser (gopacket's fast path), -parser raw reads the header
// fields at fixed offsets by hand (the fastest honest floor).
//
//	go run ./bench/yardstick -parser raw big.pcap
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	parser := flag.String("parser", "raw", "header parser: raw (by hand) or dlp (gopacket DecodingLayerParser)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: yardstick [-parser raw|dlp] FILE.pcap\n\nReads a classic pcap file and parses every packet to its 5-tuple.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *parser); err != nil {
		fmt.Fprintln(os.Stderr, "yardstick:", err)
		os.Exit(1)
	}
}

func run(path, parser string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var parse func([]byte) uint64
	switch parser {
	case "raw":
		parse = raw
	case "dlp":
		parse = newDLP()
	default:
		return fmt.Errorf("unknown parser %q", parser)
	}
	start := time.Now()
	var packets, bytes, sum, tuples uint64
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: packet %d: %w", path, packets+1, err)
		}
		packets++
		bytes += uint64(len(data))
		if h := parse(data); h != 0 {
			tuples++
			sum += h
		}
	}
	el := time.Since(start).Seconds()
	fmt.Printf("packets=%d bytes=%d tuples=%d checksum=%x seconds=%.3f packets_per_s=%.0f MB_per_s=%.1f\n",
		packets, bytes, tuples, sum, el, float64(packets)/el, float64(bytes)/el/1e6)
	return nil
}

// raw parses Ethernet, up to two VLAN tags, IPv4 or IPv6 (no extension
// headers) and the TCP/UDP ports, returning a hash of the 5-tuple or 0.
func raw(b []byte) uint64 {
	if len(b) < 14 {
		return 0
	}
	et := binary.BigEndian.Uint16(b[12:14])
	b = b[14:]
	for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ {
		if len(b) < 4 {
			return 0
		}
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	var h uint64 = 14695981039346656037
	var proto byte
	switch et {
	case 0x0800:
		if len(b) < 20 {
			return 0
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return 0
		}
		proto = b[9]
		h = mix(h, uint64(binary.BigEndian.Uint32(b[12:16])))
		h = mix(h, uint64(binary.BigEndian.Uint32(b[16:20])))
		b = b[ihl:]
	case 0x86dd:
		if len(b) < 40 {
			return 0
		}
		proto = b[6]
		h = mix(h, binary.BigEndian.Uint64(b[8:16])^binary.BigEndian.Uint64(b[16:24]))
		h = mix(h, binary.BigEndian.Uint64(b[24:32])^binary.BigEndian.Uint64(b[32:40]))
		b = b[40:]
	default:
		return 0
	}
	if (proto != 6 && proto != 17) || len(b) < 4 {
		return 0
	}
	return mix(h, uint64(proto)<<32|uint64(binary.BigEndian.Uint32(b[0:4])))
}

func mix(h, v uint64) uint64 { return (h ^ v) * 1099511628211 }

// newDLP returns a parser built on gopacket's DecodingLayerParser.
func newDLP() func([]byte) uint64 {
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		payload gopacket.Payload
	)
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &payload)
	p.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	return func(b []byte) uint64 {
		_ = p.DecodeLayers(b, &decoded)
		var net, tr gopacket.Flow
		var haveNet, haveTr bool
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				net, haveNet = ip4.NetworkFlow(), true
			case layers.LayerTypeIPv6:
				net, haveNet = ip6.NetworkFlow(), true
			case layers.LayerTypeTCP:
				tr, haveTr = tcp.TransportFlow(), true
			case layers.LayerTypeUDP:
				tr, haveTr = udp.TransportFlow(), true
			}
		}
		if !haveNet || !haveTr {
			return 0
		}
		return mix(net.FastHash(), tr.FastHash()) | 1
	}
}
