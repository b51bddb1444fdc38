package pcapgen

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// HostileCase is one adversarial capture of the hostile corpus: traffic
// that is valid on the wire (or a file that is broken on purpose) and built
// to exhaust an analyzer's memory, time or parsers.
type HostileCase struct {
	// Name identifies the case ("syn-flood"); it is also the base of the
	// file name a test writes it to.
	Name string
	// Description says in one line what the capture holds.
	Description string
	// Count is how many times the case repeats its hostile unit by
	// default (the numbers of the issue: 1 000 000 RCPT, 10^6 SYNs, ...);
	// HostileOptions.Count overrides it. Zero for the cases without a
	// size (truncated and wrong-link files).
	Count int
	// Unit names what Count counts ("RCPT commands", "SYNs").
	Unit string

	build func(out io.Writer, opt HostileOptions, n int) error
}

// HostileOptions configure WriteHostile.
type HostileOptions struct {
	// Seed drives every random choice, as Options.Seed does.
	Seed int64
	// Count replaces the case's HostileCase.Count when positive, so that
	// tests can write smaller variants of the slow cases.
	Count int
}

// Hostile returns every hostile case, in a stable order.
//
// Each case is written by streaming: memory stays small whatever its
// Count (no case builds its packets before writing them; the largest
// single write is a 1 MB line). Every case that holds traffic also holds
// some legitimate mail, so that a test can check it is still seen.
func Hostile() []HostileCase {
	return []HostileCase{
		{Name: "long-line", Description: "SMTP with a 1 MB MAIL FROM command line, a 1 MB reply line and a 1 MB header line, then a normal message",
			Count: 1 << 20, Unit: "bytes per long line", build: hostileWriter(hostileLongLine)},
		{Name: "endless-reply", Description: "EHLO answered by a multi-line 250 reply of 2 M continuation lines, then a normal message",
			Count: 2_000_000, Unit: "reply lines", build: hostileWriter(hostileEndlessReply)},
		{Name: "many-rcpt", Description: "one transaction with 1 000 000 RCPT TO commands (pipelined, 1000 per write), each answered 250",
			Count: 1_000_000, Unit: "RCPT commands", build: hostileWriter(hostileManyRcpt)},
		{Name: "header-bomb", Description: "a message with 100 000 header lines, a header folded 10 000 times and a 1 MB encoded word",
			Count: 100_000, Unit: "header lines", build: hostileWriter(hostileHeaderBomb)},
		{Name: "dns-compression-loop", Description: "DNS responses whose names point to themselves, to each other, or down a 2000-pointer chain; then a valid MX lookup and send",
			Count: 3000, Unit: "malformed responses", build: hostileWriter(hostileCompressionLoop)},
		{Name: "cname-loop", Description: "a.test CNAME b.test CNAME a.test loops and 1000-long CNAME chains, then a send to the chain's end",
			Count: 1000, Unit: "CNAME records per chain", build: hostileWriter(hostileCNAMELoop)},
		{Name: "conflicting-overlap", Description: "SMTP sessions whose segments are re-sent with different bytes (same range, partial overlap, out of order); first copy wins",
			Count: 1000, Unit: "sessions", build: hostileWriter(hostileConflictingOverlap)},
		{Name: "syn-flood", Description: "10^6 SYNs to port 25 from random platform sources in 10.20.0.0/16, with direct-to-MX and relay sessions interleaved",
			Count: 1_000_000, Unit: "SYNs", build: hostileWriter(hostileSYNFlood)},
		{Name: "dns-flood", Description: "10^6 queries for random names (half NXDOMAIN, a quarter answered, a quarter unanswered), with MX lookups and sends interleaved",
			Count: 1_000_000, Unit: "queries", build: hostileWriter(hostileDNSFlood)},
		{Name: "million-flows", Description: "10^6 distinct TCP flows on ports 25 and 587, each captured mid-stream with a banner and an EHLO",
			Count: 1_000_000, Unit: "flows", build: hostileWriter(hostileMillionFlows)},
		{Name: "truncated-record", Description: "the direct-to-mx scenario cut in the middle of a packet record", build: hostileTruncated(false)},
		{Name: "truncated-header", Description: "the direct-to-mx scenario cut inside the 24-byte file header", build: hostileTruncated(true)},
		{Name: "wrong-link-80211", Description: "a pcap of link type 105 (IEEE 802.11), which analyzers of wired mirrors do not decode", build: hostileWrongLink},
		{Name: "wrong-link-lying", Description: "a pcap that says Ethernet (link type 1) but holds raw IP packets (the direct-to-mx scenario)", build: hostileLyingLink},
	}
}

// LookupHostile returns the hostile case called name.
func LookupHostile(name string) (HostileCase, bool) {
	for _, c := range Hostile() {
		if c.Name == name {
			return c, true
		}
	}
	return HostileCase{}, false
}

// WriteHostile writes the hostile case called name to out.
func WriteHostile(out io.Writer, name string, opt HostileOptions) error {
	c, ok := LookupHostile(name)
	if !ok {
		return fmt.Errorf("%w: hostile case %q", ErrUnknownScenario, name)
	}
	if opt.Count < 0 {
		return fmt.Errorf("%w: hostile count %d", ErrBadOptions, opt.Count)
	}
	n := c.Count
	if opt.Count > 0 {
		n = opt.Count
	}
	if err := c.build(out, opt, n); err != nil {
		return fmt.Errorf("hostile %s: %w", name, err)
	}
	return nil
}

// hostileWriter adapts a case that writes packets to a build function:
// an Ethernet pcap with microsecond timestamps.
func hostileWriter(f func(w *Writer, n int)) func(io.Writer, HostileOptions, int) error {
	return func(out io.Writer, opt HostileOptions, n int) error {
		w, err := New(out, Options{Seed: opt.Seed})
		if err != nil {
			return err
		}
		f(w, n)
		return w.Close()
	}
}

// hostileMX is the server of the hostile SMTP sessions, and the recipient
// domain of their messages.
var hostileMX = exampleNet

// hostileSession opens an SMTP session from web05 to the MX of example.net
// and says EHLO.
func hostileSession(w *Writer, opt ConnOptions) *smtpSession {
	s := w.smtpOpen(ap(web05, 0), ap(hostileMX.hosts[0].addrs[0], 25), Encap{}, opt, hostileMX.hosts[0].name)
	s.ehlo("web05.platform.example")
	return s
}

func hostileLongLine(w *Writer, n int) {
	long := strings.Repeat("A", n)
	s := hostileSession(w, ConnOptions{})
	// A 1 MB command line: the parser must cut it, not grow with it.
	s.cmd("MAIL FROM:<"+long+"@example.org>", "501 5.1.7 Bad sender address syntax")
	// A 1 MB reply line.
	s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok "+long)
	s.cmd("RCPT TO:<alice@example.net>", "250 2.1.5 Ok")
	s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	// A 1 MB header line inside an otherwise ordinary message.
	msg := "X-Long: " + long + "\n" + spamMessage(w, "alice@example.net")
	s.data(msg, "")
	s.quit()
}

func hostileEndlessReply(w *Writer, n int) {
	s := w.smtpOpen(ap(web05, 0), ap(hostileMX.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, hostileMX.hosts[0].name)
	s.c.Client("EHLO web05.platform.example\r\n")
	// The reply is written in chunks of 10 000 lines so that memory stays
	// small; on the wire it is one reply.
	var b strings.Builder
	for i := 0; i < n; i += 10000 {
		b.Reset()
		for j := i; j < min(i+10000, n); j++ {
			fmt.Fprintf(&b, "250-X-ENDLESS-%d\r\n", j)
		}
		s.c.Server(b.String())
	}
	s.c.Server("250 SMTPUTF8\r\n")
	s.mail("info@paket-zustellung.example", []string{"alice@example.net"}, spamMessage(w, "alice@example.net"), "")
	s.quit()
}

func hostileManyRcpt(w *Writer, n int) {
	s := hostileSession(w, ConnOptions{})
	s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok")
	const batch = 1000
	var cmds, replies strings.Builder
	for i := 0; i < n; i += batch {
		cmds.Reset()
		replies.Reset()
		for j := i; j < min(i+batch, n); j++ {
			fmt.Fprintf(&cmds, "RCPT TO:<user%d@example.net>\r\n", j)
			replies.WriteString("250 2.1.5 Ok\r\n")
		}
		s.c.Client(cmds.String())
		s.c.Server(replies.String())
	}
	s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	s.data(spamMessage(w, "undisclosed-recipients:;"), "")
	s.quit()
}

func hostileHeaderBomb(w *Writer, n int) {
	s := hostileSession(w, ConnOptions{})
	s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok")
	s.cmd("RCPT TO:<alice@example.net>", "250 2.1.5 Ok")
	s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	s.w.advance(time.Millisecond, 5*time.Millisecond)
	// The header block is written in pieces: n header lines, one header
	// folded 10 000 times, one encoded word of 1 MB, then an ordinary
	// message (whose own header lines follow the bomb).
	var b strings.Builder
	for i := 0; i < n; i += 5000 {
		b.Reset()
		for j := i; j < min(i+5000, n); j++ {
			fmt.Fprintf(&b, "X-Bomb-%d: %d\r\n", j, j)
		}
		s.c.Client(b.String())
	}
	b.Reset()
	b.WriteString("X-Folded: start")
	for i := 0; i < 10000; i++ {
		b.WriteString("\r\n\t fold")
	}
	b.WriteString("\r\n")
	s.c.Client(b.String())
	word := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("ü"), 1<<19))
	s.c.Client("Subject: =?UTF-8?B?" + word + "?=\r\n")
	s.c.Client(dotStuff(spamMessage(w, "alice@example.net")))
	s.w.advance(2*time.Millisecond, 30*time.Millisecond)
	s.reply(s.queued())
	s.quit()
}

// compressionLoops returns the three hostile responses to a query with
// the given ID: a question name that points to itself, an answer whose
// owner names point to each other, and a name that is a chain of 2000
// pointers each pointing to the one before it.
func compressionLoops(id uint16) [3][]byte {
	hdr := func(qd, an uint16) []byte {
		b := binary.BigEndian.AppendUint16(nil, id)
		b = binary.BigEndian.AppendUint16(b, 0x8180) // response, RD, RA
		b = binary.BigEndian.AppendUint16(b, qd)
		b = binary.BigEndian.AppendUint16(b, an)
		return append(b, 0, 0, 0, 0)
	}
	typeClass := []byte{0, 1, 0, 1} // A, IN
	// 1: the question name at offset 12 is a pointer to offset 12.
	self := append(hdr(1, 0), 0xc0, 12)
	self = append(self, typeClass...)
	// 2: a valid question "loop.test", then an answer whose owner is a
	// pointer to the next pointer, which points back.
	mutual := append(hdr(1, 1), 4, 'l', 'o', 'o', 'p', 4, 't', 'e', 's', 't', 0)
	mutual = append(mutual, typeClass...)
	at := len(mutual)
	mutual = append(mutual, 0xc0, byte(at+2), 0xc0, byte(at))
	mutual = append(mutual, typeClass...)
	mutual = append(mutual, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99)
	// 3: the question name is a pointer to the end of a chain of 2000
	// pointers, each to the one before it, that ends in the label "x"
	// after the question.
	chain := append(hdr(1, 0), 0, 0)
	chain = append(chain, typeClass...)
	prev := len(chain)
	chain = append(chain, 1, 'x', 0)
	for i := 0; i < 2000 && len(chain) < 0x3fff; i++ {
		off := len(chain)
		chain = append(chain, 0xc0|byte(prev>>8), byte(prev))
		prev = off
	}
	chain[12], chain[13] = 0xc0|byte(prev>>8), byte(prev)
	return [3][]byte{self, mutual, chain}
}

func hostileCompressionLoop(w *Writer, n int) {
	client := netip.AddrPortFrom(web10, 0)
	for i := 0; i < n; i++ {
		q := w.Query("loop.test", dns.TypeA)
		qb, err := q.Pack()
		if err != nil {
			w.fail(fmt.Errorf("pcapgen: pack DNS query: %w", err))
			return
		}
		c := w.ephemeral(client)
		w.advance(50*time.Microsecond, 500*time.Microsecond)
		w.UDP(c, resolver, Encap{}, qb)
		w.advance(200*time.Microsecond, 2*time.Millisecond)
		w.UDP(resolver, c, Encap{}, compressionLoops(q.Id)[i%3])
		if i%1000 == 999 {
			// The legitimate script keeps working during the attack.
			directSend(w, web05, resolver, Encap{}, gmail, true, false)
		}
	}
	directSend(w, web05, resolver, Encap{}, exampleNet, false, false)
}

func hostileCNAMELoop(w *Writer, n int) {
	// Loops of two and of three names.
	for _, loop := range [][]string{{"a.test", "b.test"}, {"x.test", "y.test", "z.test"}} {
		q := w.Query(loop[0], dns.TypeA)
		r := reply(q)
		for i, name := range loop {
			r.Answer = append(r.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: TTLAddr},
				Target: dns.Fqdn(loop[(i+1)%len(loop)]),
			})
		}
		r.Compress = true
		w.DNSExchange(ap(web05, 0), resolver, Encap{}, q, r, DNSOptions{})
	}
	// An MX whose host name starts a chain of n CNAMEs (over TCP: the
	// answer is too large for UDP), then a send to the chain's end.
	target := netip.MustParseAddr("192.0.2.77")
	qmx := w.Query("chain.test", dns.TypeMX)
	rmx := MXResponse(qmx, []MX{{Pref: 10, Host: "c0.chain.test"}}, nil)
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, qmx, rmx, DNSOptions{})
	chain := make([]string, n)
	for i := range chain {
		chain[i] = fmt.Sprintf("c%d.chain.test", i+1)
	}
	qa := w.Query("c0.chain.test", dns.TypeA)
	ra := CNAMEResponse(qa, chain, target)
	ra.Compress = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, qa, ra, DNSOptions{TCP: true})
	// The same chain closed into a loop: the last name points to the first.
	ql := w.Query("c0.chain.test", dns.TypeA)
	rl := CNAMEResponse(ql, append(chain, "c0.chain.test"))
	rl.Compress = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, ql, rl, DNSOptions{TCP: true})

	w.advance(200*time.Microsecond, 2*time.Millisecond)
	s := w.smtpOpen(ap(web05, 0), ap(target, 25), Encap{}, ConnOptions{}, "c1000.chain.test")
	s.ehlo("web05.platform.example")
	s.mail("info@paket-zustellung.example", []string{"bob@chain.test"}, spamMessage(w, "bob@chain.test"), "")
	s.quit()
}

// sendConflicting writes data from side as one segment and then, at the
// same sequence number, a segment of the same length with the bytes of
// other (cut or padded with '#'): what an evasion attempt or a broken
// middlebox sends. A receiver keeps the first copy.
func (c *Conn) sendConflicting(side int, data, other string) {
	if c.dead || !c.w.ok() {
		return
	}
	c.turn(side)
	seq := c.next[side]
	c.packet(side, tcpACK|tcpPSH, seq, []byte(data))
	c.w.advance(200*time.Microsecond, 2*time.Millisecond)
	c.packet(side, tcpACK|tcpPSH, seq, []byte(sameLength(other, len(data))))
	c.next[side] += uint32(len(data))
	c.seg++
	c.owe[1-side] = true
}

// sameLength returns s cut or padded with '#' to n bytes.
func sameLength(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat("#", n-len(s))
}

// turn advances the clock as Conn.send does when side writes after its
// peer.
func (c *Conn) turn(side int) {
	if c.last != side && c.last != -1 {
		c.wait(side)
	}
	c.last = side
}

// sendOverlapConflicting writes a from side as one segment, then a
// segment that starts halfway into a, carries different bytes for that
// half, and continues with b: the overlapped half is dropped (the first
// copy wins) and b is new data.
func (c *Conn) sendOverlapConflicting(side int, a, b string) {
	if c.dead || !c.w.ok() {
		return
	}
	c.turn(side)
	seq := c.next[side]
	c.packet(side, tcpACK, seq, []byte(a))
	half := len(a) / 2
	forged := strings.Repeat("#", len(a)-half) + b
	c.w.advance(200*time.Microsecond, 2*time.Millisecond)
	c.packet(side, tcpACK|tcpPSH, seq+uint32(half), []byte(forged))
	c.next[side] += uint32(len(a) + len(b))
	c.seg += 2
	c.owe[1-side] = true
}

// sendReorderedConflicting writes a and b from side with b first, then a
// forged copy of b (cut or padded to b's length), then a: the forged b
// arrives while the real one waits in the out-of-order buffer.
func (c *Conn) sendReorderedConflicting(side int, a, b, forgedB string) {
	if c.dead || !c.w.ok() {
		return
	}
	c.turn(side)
	seq := c.next[side]
	c.packet(side, tcpACK|tcpPSH, seq+uint32(len(a)), []byte(b))
	c.w.advance(10*time.Microsecond, 60*time.Microsecond)
	c.packet(side, tcpACK|tcpPSH, seq+uint32(len(a)), []byte(sameLength(forgedB, len(b))))
	c.w.advance(10*time.Microsecond, 60*time.Microsecond)
	c.packet(side, tcpACK, seq, []byte(a))
	c.next[side] += uint32(len(a) + len(b))
	c.seg += 2
	c.owe[1-side] = true
}

func hostileConflictingOverlap(w *Writer, n int) {
	for i := 0; i < n; i++ {
		if i > 0 {
			w.advance(time.Millisecond, 20*time.Millisecond)
		}
		s := hostileSession(w, ConnOptions{})
		// The first copy names alice; the forged copies name mallory,
		// so a test can tell which copy won.
		s.c.sendConflicting(clientSide, "MAIL FROM:<info@paket-zustellung.example>\r\n", "MAIL FROM:<mallory@evil.example.invalid>\r\n")
		s.reply("250 2.1.0 Ok")
		s.c.sendOverlapConflicting(clientSide, "RCPT TO:<alice@example.net>\r\n", "RCPT TO:<bob@example.net>\r\n")
		s.reply("250 2.1.5 Ok\n250 2.1.5 Ok")
		s.c.sendReorderedConflicting(clientSide, "RCPT TO:<carol@example.net>\r\n", "DATA\r\n", "QUIT\r\n")
		s.reply("250 2.1.5 Ok\n354 End data with <CR><LF>.<CR><LF>")
		s.data(spamMessage(w, "alice@example.net"), "")
		s.quit()
	}
}

// legitimate writes the mail the platform sends during a flood: web05's
// direct-to-MX send (MX lookup with glue, connect, message) and web10's
// message through the platform relay.
func legitimate(w *Writer, i int) {
	d := mixDomains[i%len(mixDomains)]
	directSend(w, web05, resolver, Encap{}, d, true, false)
	w.advance(time.Millisecond, 5*time.Millisecond)
	s := w.smtpOpen(ap(web10, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
	s.ehlo("web10.platform.example")
	s.mail("orders@lindenhof-shop.example", []string{"k.weber@example.org"}, relayMessage(w, "k.weber@example.org"), "")
	s.quit()
}

// floodSource returns a random platform address outside 10.20.0.0/20,
// where the scenarios' named hosts live.
func floodSource(w *Writer) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 20, byte(16 + w.intn(240)), byte(1 + w.intn(254))})
}

func hostileSYNFlood(w *Writer, n int) {
	every := max(n/8, 1)
	for i := 0; i < n; i++ {
		if i%every == every/2 {
			legitimate(w, i/every)
		}
		client := w.ephemeral(ap(floodSource(w), 0))
		server := ap(external(w, netip.IPv4Unspecified()), 25)
		c := &Conn{w: w, ep: [2]netip.AddrPort{client, server}, mss: 1460, last: -1}
		c.next[clientSide] = w.rng.Uint32()
		w.advance(time.Microsecond, 9*time.Microsecond)
		c.syn(clientSide, false)
	}
}

func hostileDNSFlood(w *Writer, n int) {
	every := max(n/8, 1)
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	label := make([]byte, 16)
	for i := 0; i < n; i++ {
		if i%every == every/2 {
			legitimate(w, i/every)
		}
		for j := range label {
			label[j] = alphabet[w.intn(len(alphabet))]
		}
		q := w.Query(string(label)+".flood.example", dns.TypeA)
		var r *dns.Msg
		switch w.intn(4) {
		case 0, 1:
			r = NXDomainResponse(q)
		case 2:
			r = AddrResponse(q, external(w, netip.IPv4Unspecified()))
		}
		// Written here rather than with DNSExchange, whose pauses are
		// those of one host: the flood sends about 40 000 queries per
		// second, so unanswered ones pile up faster than they time out.
		client := w.ephemeral(ap(floodSource(w), 0))
		qb, err := q.Pack()
		if err != nil {
			w.fail(fmt.Errorf("pcapgen: pack DNS query: %w", err))
			return
		}
		w.advance(time.Microsecond, 9*time.Microsecond)
		w.UDP(client, resolver, Encap{}, qb)
		if r == nil {
			continue
		}
		rb, err := r.Pack()
		if err != nil {
			w.fail(fmt.Errorf("pcapgen: pack DNS response: %w", err))
			return
		}
		w.advance(10*time.Microsecond, 30*time.Microsecond)
		w.UDP(resolver, client, Encap{}, rb)
	}
}

func hostileMillionFlows(w *Writer, n int) {
	const hosts = 65024 // 10.20.1.0 - 10.20.254.255
	every := max(n/8, 1)
	for i := 0; i < n; i++ {
		if i%every == every/2 {
			legitimate(w, i/every)
		}
		h := i % hosts
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 20, byte(1 + h/256), byte(h % 256)}), uint16(20000+i/hosts))
		if client.Addr() == web05 || client.Addr() == web10 {
			continue
		}
		port := uint16(25)
		if i%2 == 1 {
			port = 587
		}
		server := ap(external(w, netip.IPv4Unspecified()), port)
		c := w.TCP(client, server, Encap{}, ConnOptions{NoHandshake: true, RTT: 10 * time.Millisecond})
		c.Server("220 mx ESMTP\r\n")
		c.Client("EHLO flood\r\n")
	}
}

// hostileTruncated returns a build function writing the direct-to-mx
// scenario cut inside the file header, or in the middle of a packet record
// about two thirds into the file.
func hostileTruncated(inHeader bool) func(io.Writer, HostileOptions, int) error {
	return func(out io.Writer, opt HostileOptions, _ int) error {
		var buf bytes.Buffer
		s, _ := Lookup("direct-to-mx")
		s.Options.Seed = opt.Seed
		if err := WriteScenario(&buf, s); err != nil {
			return err
		}
		b := buf.Bytes()
		cut := 13
		if !inHeader {
			// Walk the records to the one two thirds in and cut halfway
			// into its data.
			off := 24
			for off+16 <= len(b) && off < 2*len(b)/3 {
				caplen := int(binary.LittleEndian.Uint32(b[off+8:]))
				if off+16+caplen >= 2*len(b)/3 {
					break
				}
				off += 16 + caplen
			}
			cut = off + 16 + int(binary.LittleEndian.Uint32(b[off+8:]))/2
		}
		_, err := out.Write(b[:cut])
		return err
	}
}

// hostileWrongLink writes a pcap of link type 105 (IEEE 802.11 without
// radiotap) holding data frames with an LLC/SNAP header and an IPv4
// payload.
func hostileWrongLink(out io.Writer, opt HostileOptions, _ int) error {
	if err := writePcapHeader(out, false, 105, DefaultSnapLen); err != nil {
		return err
	}
	ts := DefaultStart
	var rec []byte
	for i := 0; i < 100; i++ {
		frame := []byte{
			0x08, 0x01, 0, 0, // data frame, to DS
			0x00, 0x1c, 0x73, 0x20, 0x00, 0x01, // BSSID
			0x52, 0x54, 0x00, 0x00, 0x00, byte(i), // source
			0x00, 0x1c, 0x73, 0x20, 0x00, 0x01, // destination
			byte(i << 4), 0, // sequence control
			0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, // LLC/SNAP, IPv4
			0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 20, 1, 5, 192, 0, 2, 26,
		}
		rec = rec[:0]
		rec = binary.LittleEndian.AppendUint32(rec, uint32(ts.Unix()))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(ts.Nanosecond()/1000))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(frame)))
		rec = append(rec, frame...)
		if _, err := out.Write(rec); err != nil {
			return err
		}
		ts = ts.Add(time.Duration(1+opt.Seed%7) * time.Millisecond)
	}
	return nil
}

// hostileLyingLink writes the direct-to-mx scenario as raw IP packets
// under a header that claims Ethernet.
func hostileLyingLink(out io.Writer, opt HostileOptions, _ int) error {
	s, _ := Lookup("direct-to-mx")
	s.Options = Options{Link: Raw, Seed: opt.Seed}
	return WriteScenario(&linkPatch{w: out, link: uint32(Ethernet.LinkType())}, s)
}

// linkPatch passes a pcap file through, replacing the link type in its
// header (bytes 20 to 23, little endian).
type linkPatch struct {
	w    io.Writer
	off  int
	link uint32
}

func (p *linkPatch) Write(b []byte) (int, error) {
	var lt [4]byte
	binary.LittleEndian.PutUint32(lt[:], p.link)
	if p.off < 24 {
		c := bytes.Clone(b)
		for i := range c {
			if o := p.off + i; o >= 20 && o < 24 {
				c[i] = lt[o-20]
			}
		}
		b = c
	}
	n, err := p.w.Write(b)
	p.off += n
	return n, err
}
