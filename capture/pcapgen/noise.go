package pcapgen

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// HTTPS writes a TLS-like TCP connection: a ClientHello, the server's
// handshake flight, a request, download bytes of application data in
// full-size segments, and a FIN close. Payloads after the record headers
// are random.
func (w *Writer) HTTPS(client, server netip.AddrPort, e Encap, download int) {
	c := w.TCP(client, server, e, ConnOptions{})
	c.ClientBytes(clientHello(w, "www.example.com"))
	c.ServerBytes(tlsRecords(w, 0x16, 2800+w.intn(1800)))
	c.ClientBytes(append(tlsRecords(w, 0x14, 1), tlsRecords(w, 0x17, 64+w.intn(400))...))
	if download > 0 {
		c.ServerBytes(tlsRecords(w, 0x17, download))
	}
	c.Close()
}

// HTTP writes a plain HTTP/1.1 exchange on one TCP connection: a browser's
// GET with the usual headers and an HTML page of about size bytes, as
// hosted websites serve them.
func (w *Writer) HTTP(client, server netip.AddrPort, e Encap, host string, size int) {
	c := w.TCP(client, server, e, ConnOptions{})
	path := fmt.Sprintf("/%s/page-%d.html", []string{"blog", "shop", "wp-content", "news", "img"}[w.intn(5)], w.intn(100000))
	c.ClientBytes([]byte("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" +
		"\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" +
		"\r\nAccept-Language: de,en-US;q=0.7,en;q=0.3\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"))
	body := htmlPage(w, size)
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: %s\r\nContent-Type: text/html; charset=utf-8\r\n"+
		"Content-Length: %d\r\nCache-Control: max-age=600\r\nConnection: close\r\n\r\n",
		w.Now().UTC().Format(http1Date), len(body))
	c.ServerBytes(append([]byte(head), body...))
	c.Close()
}

const http1Date = "Mon, 02 Jan 2006 15:04:05 GMT"

// htmlPage returns an HTML document of about n bytes.
func htmlPage(w *Writer, n int) []byte {
	words := []string{"hosting", "garden", "recipe", "travel", "photo", "update", "price", "contact", "about", "service"}
	out := []byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Welcome</title></head><body>\n")
	for len(out) < n {
		out = append(out, "<p>"...)
		for i := 0; i < 12; i++ {
			out = append(out, words[w.intn(len(words))]...)
			out = append(out, ' ')
		}
		out = append(out, "</p>\n"...)
	}
	return append(out, "</body></html>\n"...)
}

// tlsRecords returns n bytes (at least 6) of TLS 1.2-framed records of the
// given content type with random contents.
func tlsRecords(w *Writer, typ byte, n int) []byte {
	const maxRecord = 16384 + 5
	n = max(n, 6)
	out := make([]byte, 0, n)
	for n > 0 {
		size := min(n, maxRecord)
		if n-size > 0 && n-size < 6 {
			size -= 6
		}
		out = append(out, typ, 3, 3)
		out = binary.BigEndian.AppendUint16(out, uint16(size-5))
		out = append(out, w.randBytes(size-5)...)
		n -= size
	}
	return out
}

// clientHello returns a TLS 1.3-style ClientHello record with the server
// name sni: real framing (record, handshake, version, random, session ID,
// cipher suites, extensions with SNI), random where a client is random.
func clientHello(w *Writer, sni string) []byte {
	var ext []byte
	// server_name
	name := []byte(sni)
	sn := binary.BigEndian.AppendUint16(nil, uint16(len(name)+3))
	sn = append(sn, 0)
	sn = binary.BigEndian.AppendUint16(sn, uint16(len(name)))
	sn = append(sn, name...)
	ext = binary.BigEndian.AppendUint16(ext, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(sn)))
	ext = append(ext, sn...)
	// supported_versions: TLS 1.3, 1.2
	ext = append(ext, 0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03)
	// key_share: x25519 with a random key
	ext = append(ext, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20)
	ext = append(ext, w.randBytes(32)...)
	// padding to the usual 512-byte hello
	body := []byte{0x03, 0x03}
	body = append(body, w.randBytes(32)...)
	body = append(body, 32)
	body = append(body, w.randBytes(32)...)
	suites := []byte{0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30}
	body = binary.BigEndian.AppendUint16(body, uint16(len(suites)))
	body = append(body, suites...)
	body = append(body, 1, 0) // compression: null
	if pad := 508 - (len(body) + 2 + len(ext) + 4); pad > 4 {
		ext = append(ext, 0x00, 0x15)
		ext = binary.BigEndian.AppendUint16(ext, uint16(pad-4))
		ext = append(ext, make([]byte, pad-4)...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{0x16, 0x03, 0x01}
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}

// UDPExchange writes a request datagram and, if resp is not nil, the
// response one RTT later.
func (w *Writer) UDPExchange(client, server netip.AddrPort, e Encap, req, resp []byte) {
	client = w.ephemeral(client)
	w.advance(50*time.Microsecond, 500*time.Microsecond)
	w.UDP(client, server, e, req)
	if resp != nil {
		w.advance(2*time.Millisecond, 40*time.Millisecond)
		w.UDP(server, client, e, resp)
	}
}

// NTP writes an NTPv4 client request (mode 3) from port 123 to server port
// 123 and the server's reply (mode 4).
func (w *Writer) NTP(client, server netip.Addr, e Encap) {
	req := make([]byte, 48)
	req[0] = 0x23 // LI 0, version 4, mode 3
	copy(req[40:48], w.randBytes(8))
	resp := make([]byte, 48)
	resp[0] = 0x24 // mode 4
	resp[1] = 2    // stratum
	resp[2], resp[3] = 3, 0xe9
	copy(resp[12:16], []byte{192, 0, 2, 123})
	copy(resp[16:24], w.randBytes(8))
	copy(resp[24:32], req[40:48]) // origin = client's transmit
	copy(resp[32:48], w.randBytes(16))
	w.UDPExchange(netip.AddrPortFrom(client, 123), netip.AddrPortFrom(server, 123), e, req, resp)
}

// QUIC writes a QUIC-like UDP flow to server (usually port 443): a
// 1200-byte Initial from the client, the server's Initial/Handshake flight,
// then packets short-header packets, mostly full-size downloads.
func (w *Writer) QUIC(client, server netip.AddrPort, e Encap, packets int) {
	client = w.ephemeral(client)
	dcid := w.randBytes(8)
	long := func(typ byte, size int) []byte {
		b := []byte{0xc0 | typ<<4, 0, 0, 0, 1, 8}
		b = append(b, dcid...)
		b = append(b, 0)
		return append(b, w.randBytes(size-len(b))...)
	}
	short := func(size int) []byte {
		b := append([]byte{0x40 | byte(w.intn(4))}, dcid...)
		return append(b, w.randBytes(size-len(b))...)
	}
	w.advance(50*time.Microsecond, 500*time.Microsecond)
	w.UDP(client, server, e, long(0, 1200))
	w.advance(5*time.Millisecond, 40*time.Millisecond)
	w.UDP(server, client, e, long(0, 1200))
	w.advance(10*time.Microsecond, 60*time.Microsecond)
	w.UDP(server, client, e, long(2, 1000+w.intn(200)))
	for i := 0; i < packets; i++ {
		if w.intn(6) == 0 {
			w.advance(100*time.Microsecond, 2*time.Millisecond)
			w.UDP(client, server, e, short(30+w.intn(40)))
			continue
		}
		w.advance(10*time.Microsecond, 300*time.Microsecond)
		w.UDP(server, client, e, short(1252))
	}
}

// Ping writes count ICMP (or ICMPv6) echo requests from src to dst, one a
// second, each answered.
func (w *Writer) Ping(src, dst netip.Addr, e Encap, count int) {
	id := uint16(w.rng.Uint32())
	data := w.randBytes(56)
	for i := 0; i < count; i++ {
		if i > 0 {
			w.Sleep(time.Second)
		}
		w.advance(0, 200*time.Microsecond)
		seq := uint16(i + 1)
		w.echo(src, dst, e, id, seq, data, true)
		w.advance(500*time.Microsecond, 30*time.Millisecond)
		w.echo(dst, src, e, id, seq, data, false)
	}
}

func (w *Writer) echo(src, dst netip.Addr, e Encap, id, seq uint16, data []byte, request bool) {
	if src.Is4() {
		typ := uint8(layers.ICMPv4TypeEchoReply)
		if request {
			typ = layers.ICMPv4TypeEchoRequest
		}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
		w.sendIP(e, ipSpec{src: src, dst: dst, proto: layers.IPProtocolICMPv4, l4: icmp, payload: data})
		return
	}
	typ := uint8(layers.ICMPv6TypeEchoReply)
	if request {
		typ = layers.ICMPv6TypeEchoRequest
	}
	body := binary.BigEndian.AppendUint16(nil, id)
	body = binary.BigEndian.AppendUint16(body, seq)
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	w.sendIP(e, ipSpec{src: src, dst: dst, proto: layers.IPProtocolICMPv6, l4: icmp, payload: append(body, data...)})
}

// ARP writes a broadcast who-has for target from sender and target's
// reply. Both must be IPv4 and the link type must carry ARP (Ethernet or
// Linux cooked); otherwise the writer records ErrLinkCannotCarry.
func (w *Writer) ARP(sender, target netip.Addr, e Encap) {
	if !w.ok() {
		return
	}
	if !sender.Is4() || !target.Is4() {
		w.fail(fmt.Errorf("%w: ARP for %v from %v", ErrBadAddress, target, sender))
		return
	}
	if !w.canCarryARP() {
		w.fail(fmt.Errorf("%w: ARP on link %v", ErrLinkCannotCarry, w.opt.Link))
		return
	}
	smac, tmac := macFor(sender), macFor(target)
	req := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: smac, SourceProtAddress: sender.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	}
	w.advance(0, 200*time.Microsecond)
	w.sendFrame(e, smac, broadcast, layers.EthernetTypeARP, []gopacket.SerializableLayer{req}, true)
	rep := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply,
		SourceHwAddress: tmac, SourceProtAddress: target.AsSlice(),
		DstHwAddress: smac, DstProtAddress: sender.AsSlice(),
	}
	w.advance(50*time.Microsecond, 400*time.Microsecond)
	w.sendFrame(e, tmac, smac, layers.EthernetTypeARP, []gopacket.SerializableLayer{rep}, false)
}
