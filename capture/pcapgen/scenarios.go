package pcapgen

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Scenario is a named, small, realistic capture.
type Scenario struct {
	// Name identifies the scenario ("smtp-basic"); it is also the base of
	// the file name mxgen writes.
	Name string
	// Description says in one line what the capture shows.
	Description string
	// Build writes the scenario's packets and returns w.Err().
	Build func(w *Writer) error
	// Options are the writer options the scenario is written with.
	Options Options
}

// The cast of the scenarios: platform hosts in 10.20.0.0/16 and
// 2001:db8:14::/48, external servers in documentation ranges.
var (
	resolver   = netip.MustParseAddrPort("10.20.0.53:53")
	resolver6  = netip.MustParseAddrPort("[2001:db8:14::53]:53")
	relay      = netip.MustParseAddr("10.20.0.25")
	web05      = netip.MustParseAddr("10.20.1.5") // the compromised hosting host
	web05v6    = netip.MustParseAddr("2001:db8:14:1::5")
	web10      = netip.MustParseAddr("10.20.1.10")
	vps207     = netip.MustParseAddr("10.20.2.7")
	office314  = netip.MustParseAddr("10.20.3.14")
	smarthost  = netip.MustParseAddr("198.51.100.20")
	submission = netip.MustParseAddr("203.0.113.40")
	smtps      = netip.MustParseAddr("203.0.113.30")
	starttlsMX = netip.MustParseAddr("192.0.2.40")
)

// mxDomain is a recipient domain with its mail exchangers.
type mxDomain struct {
	domain string
	hosts  []mxHost
	rcpt   string // local part of the recipient
}

type mxHost struct {
	pref  uint16
	name  string
	addrs []netip.Addr
}

func (d mxDomain) mx() []MX {
	var out []MX
	for _, h := range d.hosts {
		out = append(out, MX{Pref: h.pref, Host: h.name})
	}
	return out
}

func (d mxDomain) glue() []dns.RR {
	var out []dns.RR
	for _, h := range d.hosts {
		out = append(out, AddrRRs(h.name, h.addrs...)...)
	}
	return out
}

var (
	gmail = mxDomain{domain: "gmail.com", rcpt: "jane.doe", hosts: []mxHost{
		{5, "gmail-smtp-in.l.google.com", []netip.Addr{netip.MustParseAddr("192.0.2.26"), netip.MustParseAddr("2001:db8:ff::1a")}},
		{10, "alt1.gmail-smtp-in.l.google.com", []netip.Addr{netip.MustParseAddr("192.0.2.27"), netip.MustParseAddr("2001:db8:ff::1b")}},
	}}
	outlook = mxDomain{domain: "outlook.com", rcpt: "m.rossi", hosts: []mxHost{
		{5, "outlook-com.olc.protection.outlook.com", []netip.Addr{netip.MustParseAddr("198.51.100.5"), netip.MustParseAddr("198.51.100.6")}},
	}}
	exampleNet = mxDomain{domain: "example.net", rcpt: "alice", hosts: []mxHost{
		{10, "mx1.example.net", []netip.Addr{netip.MustParseAddr("203.0.113.25")}},
		{20, "mx2.example.net", []netip.Addr{netip.MustParseAddr("203.0.113.26")}},
	}}
)

// scenarioSeed is the seed every scenario is written with.
const scenarioSeed = 1

// Scenarios returns every named scenario, in a stable order.
func Scenarios() []Scenario {
	list := []Scenario{
		{Name: "smtp-basic", Description: "EHLO, MAIL, RCPT, DATA with a dot-stuffed body line, 250, QUIT to the platform relay", Build: smtpBasic},
		{Name: "smtp-pipelining", Description: "PIPELINING: MAIL/RCPT/RCPT/DATA in one segment, the replies in one segment", Build: smtpPipelining},
		{Name: "smtp-bdat", Description: "CHUNKING: BDAT, BDAT, BDAT n LAST; then a message ending with BDAT 0 LAST", Build: smtpBDAT},
		{Name: "smtp-starttls", Description: "EHLO, STARTTLS, 220, then TLS records", Build: smtpStartTLS},
		{Name: "smtp-auth-25", Description: "A lookup of a smarthost, AUTH LOGIN on port 25 (334/334/235), one message", Build: smtpAuth25},
		{Name: "smtp-465", Description: "implicit TLS on port 465: ClientHello with SNI, handshake, application data", Build: smtp465},
		{Name: "smtp-587-submission", Description: "AUTH PLAIN on port 587, one message", Build: smtpSubmission},
		{Name: "smtp-multi", Description: "one session, three transactions, RSET between the first two", Build: smtpMulti},
		{Name: "smtp-rejections", Description: "550 5.1.1 RCPT, 554 5.7.1 Spamhaus after DATA, 421 4.7.0, a refused and an unanswered connect", Build: smtpRejections},
		{Name: "dns-mx-additional", Description: "MX lookup answered with 2 MX hosts and their A/AAAA records as additional records", Build: dnsMXAdditional},
		{Name: "dns-mx-noadditional", Description: "MX answer without additional records, then A lookups of the MX hosts", Build: dnsMXNoAdditional},
		{Name: "dns-mx-cname", Description: "MX host that is a CNAME: the A lookup is answered with a CNAME chain and an A record", Build: dnsMXCNAME},
		{Name: "dns-tcp", Description: "MX and A lookups over one TCP connection, the second query split across segments", Build: dnsTCP},
		{Name: "dns-truncated", Description: "UDP MX response with TC=1, then the retry over TCP", Build: dnsTruncated},
		{Name: "direct-to-mx", Description: "hosting host 10.20.1.5 looks up the MX of three domains and sends one message to each MX on port 25", Build: directToMX},
		{Name: "vlan", Description: "one MX lookup and SMTP session of direct-to-mx, 802.1Q VLAN 120", Build: encapScenario(Encap{VLANs: []uint16{120}}, false)},
		{Name: "qinq", Description: "one MX lookup and SMTP session of direct-to-mx, QinQ 300/120", Build: encapScenario(Encap{VLANs: []uint16{300, 120}}, false)},
		{Name: "gre", Description: "one MX lookup and SMTP session of direct-to-mx inside GRE (IPv4 over GRE over IPv4)", Build: encapScenario(Encap{Tunnel: GRE}, false)},
		{Name: "erspan2", Description: "one MX lookup and SMTP session of direct-to-mx inside ERSPAN type II, VLAN 120 on the mirrored frame", Build: encapScenario(Encap{Tunnel: ERSPAN2, VLANs: []uint16{120}, ID: 42}, false)},
		{Name: "erspan3", Description: "one MX lookup and SMTP session of direct-to-mx inside ERSPAN type III", Build: encapScenario(Encap{Tunnel: ERSPAN3, ID: 43}, false)},
		{Name: "vxlan", Description: "one MX lookup and SMTP session of direct-to-mx inside VXLAN (VNI 5020)", Build: encapScenario(Encap{Tunnel: VXLAN, ID: 5020}, false)},
		{Name: "ipv6", Description: "one MX lookup (AAAA glue) and SMTP session of direct-to-mx over IPv6", Build: encapScenario(Encap{}, true)},
		{Name: "ipv4-fragments", Description: "MX response with many MX hosts and A records, IPv4-fragmented", Build: ipv4Fragments},
		{Name: "tcp-out-of-order", Description: "SMTP session with two message segments swapped", Build: impaired("reorder")},
		{Name: "tcp-retransmission", Description: "SMTP session with a message segment retransmitted", Build: impaired("retransmit")},
		{Name: "tcp-lost-segment", Description: "SMTP session whose capture lacks one segment inside the message body", Build: impaired("drop")},
		{Name: "tcp-midstream", Description: "SMTP session captured from the middle: first packet is MAIL FROM, no handshake", Build: tcpMidstream},
		{Name: "tcp-overlap", Description: "SMTP session with a message segment re-sent overlapping the previous one", Build: impaired("overlap")},
		{Name: "link-sll", Description: "smtp-basic on Linux cooked capture v1 (LINKTYPE 113)", Build: smtpBasic, Options: Options{Link: LinuxSLL}},
		{Name: "link-sll2", Description: "smtp-basic on Linux cooked capture v2 (LINKTYPE 276)", Build: smtpBasic, Options: Options{Link: LinuxSLL2}},
		{Name: "link-raw", Description: "smtp-basic on raw IP (LINKTYPE 101)", Build: smtpBasic, Options: Options{Link: Raw}},
		{Name: "link-null", Description: "smtp-basic on BSD loopback (LINKTYPE 0)", Build: smtpBasic, Options: Options{Link: Null}},
		{Name: "format-pcapng", Description: "smtp-basic as pcapng", Build: smtpBasic, Options: Options{Format: Pcapng}},
		{Name: "format-nanosecond", Description: "smtp-basic as pcap with nanosecond timestamps", Build: smtpBasic, Options: Options{Format: PcapNano}},
		{Name: "format-gzip", Description: "smtp-basic as gzip-compressed pcap", Build: smtpBasic, Options: Options{Gzip: true}},
		{Name: "class-direct-25", Description: "port 25 without any lookup: one message to 203.0.113.99, then an unanswered connect to 198.51.100.99", Build: classDirect25},
		{Name: "class-relay-lookups", Description: "the platform relay 10.20.0.25 looks up the MX of gmail.com and delivers a message there", Build: classRelayLookups},
		{Name: "class-guessed-name", Description: "web05 resolves the guessed name mail.victim.example and sends to it on port 25", Build: classGuessedName},
		{Name: "class-other-client", Description: "web05 looks up the MX of example.net; web10 connects to that MX without a lookup of its own", Build: classOtherClient},
		{Name: "rejection-burst", Description: "web05 looks up the MX of example.net and sends 6 messages there, each refused with a Spamhaus listing", Build: rejectionBurst},
		{Name: "classes", Description: "every class in one capture: relay, submission, external relay on 25 (AUTH), direct-to-MX, direct-25", Build: classesAll},
	}
	for i := range list {
		list[i].Options.Seed = scenarioSeed
	}
	return list
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// WriteScenario writes s as a complete capture file to out.
func WriteScenario(out io.Writer, s Scenario) error {
	if s.Build == nil {
		return fmt.Errorf("%w: %q has no Build", ErrUnknownScenario, s.Name)
	}
	w, err := New(out, s.Options)
	if err != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	buildErr := s.Build(w)
	closeErr := w.Close()
	if buildErr != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, buildErr)
	}
	if closeErr != nil {
		return fmt.Errorf("scenario %s: %w", s.Name, closeErr)
	}
	return nil
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// lookupMX writes an MX lookup of d by client; withGlue puts the hosts'
// addresses in the additional section.
func lookupMX(w *Writer, client netip.Addr, dnsServer netip.AddrPort, e Encap, d mxDomain, withGlue bool) {
	q := w.Query(d.domain, dns.TypeMX)
	var extra []dns.RR
	if withGlue {
		extra = d.glue()
	}
	r := MXResponse(q, d.mx(), extra)
	r.Compress = true
	w.DNSExchange(ap(client, 0), dnsServer, e, q, r, DNSOptions{})
}

// lookupAddr writes an A (or AAAA) lookup of name answered with addrs.
func lookupAddr(w *Writer, client netip.Addr, dnsServer netip.AddrPort, e Encap, name string, qtype uint16, addrs ...netip.Addr) {
	q := w.Query(name, qtype)
	r := AddrResponse(q, addrs...)
	r.Compress = true
	w.DNSExchange(ap(client, 0), dnsServer, e, q, r, DNSOptions{})
}

// relayMessage is the everyday mail of a hosted web site through the
// platform relay.
func relayMessage(w *Writer, to string) string {
	return message{
		from:     `"Shop Lindenhof" <orders@lindenhof-shop.example>`,
		to:       to,
		subject:  "Bestellbestätigung Nr. 100231",
		date:     w.now,
		host:     "web10.platform.example",
		mailer:   "WooCommerce 8.8.3",
		received: "from web10.platform.example (web10.platform.example [10.20.1.10])\r\n\tby relay.platform.example (Postfix) with ESMTP id 4VfQ3x1Yz2z9rxL",
		body: "Guten Tag,\n\nvielen Dank für Ihre Bestellung 100231 (2 Artikel, 48,90 EUR).\n" +
			".htaccess-Hinweis: Diese Zeile beginnt mit einem Punkt und wird beim Senden verdoppelt.\n" +
			"Die Lieferung erfolgt in 2-3 Werktagen.\n\nFreundliche Grüße\nIhr Lindenhof-Team\n",
	}.render(w)
}

func smtpBasic(w *Writer) error {
	s := w.smtpOpen(ap(web10, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
	s.ehlo("web10.platform.example")
	s.mail("orders@lindenhof-shop.example", []string{"k.weber@example.org"}, relayMessage(w, "Karin Weber <k.weber@example.org>"), "")
	s.quit()
	return w.Err()
}

func smtpPipelining(w *Writer) error {
	s := w.smtpOpen(ap(web10, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
	s.ehlo("web10.platform.example")
	msg := message{
		from: "Vereinsvorstand <vorstand@tsv-musterstadt.example>", to: "Mitglieder <mitglieder@tsv-musterstadt.example>",
		subject: "Einladung zur Jahreshauptversammlung", date: w.now, host: "web10.platform.example",
		agent:    "Roundcube Webmail/1.6.6",
		received: "from [10.20.1.10] by relay.platform.example (Postfix) with ESMTPSA id 4VfQ41kLmN2z9s0",
		body:     "Liebe Mitglieder,\n\ndie Jahreshauptversammlung findet am 6. Juni um 19 Uhr statt.\n\nDer Vorstand\n",
	}.render(w)
	s.c.Client("MAIL FROM:<vorstand@tsv-musterstadt.example> BODY=8BITMIME\r\n" +
		"RCPT TO:<p.schmidt@example.org>\r\n" +
		"RCPT TO:<a.keller@example.net>\r\n" +
		"DATA\r\n")
	s.reply("250 2.1.0 Ok\n250 2.1.5 Ok\n250 2.1.5 Ok\n354 End data with <CR><LF>.<CR><LF>")
	s.data(msg, "")
	s.quit()
	return w.Err()
}

func smtpBDAT(w *Writer) error {
	s := w.smtpOpen(ap(web10, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
	s.ehlo("web10.platform.example")
	msg := message{
		from: "Newsletter <news@lindenhof-shop.example>", to: "k.weber@example.org",
		subject: "Neu im Sortiment: Sommertee", date: w.now, host: "web10.platform.example",
		mailer: "Mailchimp Transactional",
		body:   strings.Repeat("Unser Sommertee ist da: Minze, Zitronenverbene und Apfel.\n", 40),
	}.render(w)
	s.cmd("MAIL FROM:<news@lindenhof-shop.example> BODY=BINARYMIME", "250 2.1.0 Ok")
	s.cmd("RCPT TO:<k.weber@example.org>", "250 2.1.5 Ok")
	n := len(msg)
	cuts := []int{0, n / 3, 2 * n / 3, n}
	for i := 0; i < 3; i++ {
		chunk := msg[cuts[i]:cuts[i+1]]
		last := ""
		if i == 2 {
			last = " LAST"
		}
		s.c.Client(fmt.Sprintf("BDAT %d%s\r\n%s", len(chunk), last, chunk))
		if i < 2 {
			s.reply(fmt.Sprintf("250 2.0.0 Ok: %d octets received", len(chunk)))
		} else {
			s.reply(s.queued())
		}
	}
	msg2 := message{
		from: "Newsletter <news@lindenhof-shop.example>", to: "a.keller@example.net",
		subject: "Neu im Sortiment: Sommertee", date: w.now, host: "web10.platform.example",
		mailer: "Mailchimp Transactional", body: "Hallo Anna,\nunser Sommertee ist da.\n",
	}.render(w)
	s.cmd("MAIL FROM:<news@lindenhof-shop.example> BODY=BINARYMIME", "250 2.1.0 Ok")
	s.cmd("RCPT TO:<a.keller@example.net>", "250 2.1.5 Ok")
	s.c.Client(fmt.Sprintf("BDAT %d\r\n%s", len(msg2), msg2))
	s.reply(fmt.Sprintf("250 2.0.0 Ok: %d octets received", len(msg2)))
	s.c.Client("BDAT 0 LAST\r\n")
	s.reply(s.queued())
	s.quit()
	return w.Err()
}

// tlsSession writes a TLS handshake and application data of an SMTP
// dialogue whose cleartext sizes are sizes (client and server alternating,
// server first), then closes.
func tlsSession(w *Writer, c *Conn, sni string, sizes []int) {
	c.ClientBytes(clientHello(w, sni))
	hello := tlsRecords(w, 0x16, 122)
	hello = append(hello, 0x14, 3, 3, 0, 1, 1) // ChangeCipherSpec
	hello = append(hello, tlsRecords(w, 0x17, 2900+w.intn(1200))...)
	c.ServerBytes(hello)
	c.ClientBytes(append([]byte{0x14, 3, 3, 0, 1, 1}, tlsRecords(w, 0x17, 74)...))
	for i, n := range sizes {
		rec := tlsRecords(w, 0x17, n+22) // plaintext + AEAD tag + type byte
		if i%2 == 0 {
			c.ServerBytes(rec)
		} else {
			c.ClientBytes(rec)
		}
	}
	c.Close()
}

func smtpStartTLS(w *Writer) error {
	s := w.smtpOpen(ap(web10, 0), ap(starttlsMX, 25), Encap{}, ConnOptions{}, "mx.example.org")
	s.ehlo("web10.platform.example")
	s.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	// EHLO again, MAIL, RCPT, DATA, message, QUIT, all encrypted.
	tlsSession(w, s.c, "mx.example.org", []int{0, 30, 180, 46, 14, 33, 19, 6, 37, 2400, 40, 6, 14})
	return w.Err()
}

func smtp465(w *Writer) error {
	c := w.TCP(ap(office314, 0), ap(smtps, 465), Encap{}, ConnOptions{})
	tlsSession(w, c, "mail.example.org", []int{40, 28, 160, 40, 30, 48, 14, 40, 14, 19, 6, 37, 1900, 40, 6, 14})
	return w.Err()
}

func smtpAuth25(w *Writer) error {
	lookupAddr(w, vps207, resolver, Encap{}, "smtp.mailrelay.example", dns.TypeA, smarthost)
	s := w.smtpOpen(ap(vps207, 0), ap(smarthost, 25), Encap{}, ConnOptions{}, "smtp.mailrelay.example")
	s.ehlo("vps207.platform.example")
	s.authLogin("apikey-7731", "S3cr3t-relay-pass")
	msg := message{
		from: "Booking <booking@ferienhaus-alpen.example>", to: "gast@example.com",
		subject: "Ihre Buchung vom 14.05.", date: w.now, host: "vps207.platform.example",
		mailer:   "PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
		received: "from vps207.platform.example (vps207.platform.example [10.20.2.7])\r\n\tby smtp.mailrelay.example with ESMTPA id 7f3a2c",
		body:     "Sehr geehrter Gast,\n\nwir bestätigen Ihre Buchung vom 14.05. bis 21.05.\n",
	}.render(w)
	s.mail("booking@ferienhaus-alpen.example", []string{"gast@example.com"}, msg, "")
	s.quit()
	return w.Err()
}

func smtpSubmission(w *Writer) error {
	lookupAddr(w, office314, resolver, Encap{}, "smtp.example.com", dns.TypeA, submission)
	s := w.smtpOpen(ap(office314, 0), ap(submission, 587), Encap{}, ConnOptions{}, "smtp.example.com")
	s.ehlo("[10.20.3.14]")
	s.authPlain("lena@example.com", "correct horse battery staple")
	msg := message{
		from: "Lena Berg <lena@example.com>", to: "Tom Berg <tom@example.net>",
		subject: "Fotos vom Wochenende", date: w.now, host: "example.com",
		agent: "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.11.0",
		body:  "Hallo Tom,\n\nanbei der Link zu den Fotos.\n\nLena\n",
	}.render(w)
	s.mail("lena@example.com", []string{"tom@example.net"}, msg, "")
	s.quit()
	return w.Err()
}

func smtpMulti(w *Writer) error {
	s := w.smtpOpen(ap(web10, 0), ap(relay, 25), Encap{}, ConnOptions{}, "relay.platform.example")
	s.ehlo("web10.platform.example")
	for i, to := range []string{"k.weber@example.org", "p.schmidt@example.org", "a.keller@example.net"} {
		s.mail("orders@lindenhof-shop.example", []string{to}, relayMessage(w, to), "")
		if i == 0 {
			s.cmd("RSET", "250 2.0.0 Ok")
		}
	}
	s.quit()
	return w.Err()
}

// spamMessage is what the compromised script sends.
func spamMessage(w *Writer, to string) string {
	return message{
		from:     `"Paketdienst" <info@paket-zustellung.example>`,
		to:       to,
		subject:  "Ihr Paket wartet – Zustellung fehlgeschlagen ✉",
		date:     w.now,
		host:     "web05.platform.example",
		mailer:   "PHPMailer 6.8.1 (https://github.com/PHPMailer/PHPMailer)",
		script:   "1001:/home/acct/public_html/wp-content/x.php",
		received: "from web05.platform.example (localhost [127.0.0.1])\r\n\tby web05.platform.example with HTTP",
		body: "Sehr geehrter Kunde,\n\nIhr Paket konnte nicht zugestellt werden.\n" +
			"Bitte bestätigen Sie Ihre Adresse: http://paket-zustellung.example/track?id=DE8812\n",
	}.render(w)
}

func smtpRejections(w *Writer) error {
	s := w.smtpOpen(ap(web05, 0), ap(exampleNet.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, "mx1.example.net")
	s.ehlo("web05.platform.example")
	s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok")
	s.cmd("RCPT TO:<nobody@example.net>", "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table")
	s.cmd("RCPT TO:<alice@example.net>", "250 2.1.5 Ok")
	s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	s.data(spamMessage(w, "alice@example.net"), "554 5.7.1 Service unavailable; Client host [10.20.1.5] blocked using zen.spamhaus.org")
	s.quit()

	w.Sleep(800 * time.Millisecond)
	s = w.smtpOpen(ap(web05, 0), ap(outlook.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, "outlook-com.olc.protection.outlook.com")
	s.ehlo("web05.platform.example")
	s.cmd("MAIL FROM:<info@paket-zustellung.example>", "421 4.7.0 Temporary server error. Please try again later. PRX5 [outlook-com.olc.protection.outlook.com]")
	s.c.CloseBy(false)

	w.Sleep(600 * time.Millisecond)
	w.smtpOpen(ap(web05, 0), ap(gmail.hosts[1].addrs[0], 25), Encap{}, ConnOptions{Refused: true}, "alt1.gmail-smtp-in.l.google.com")
	w.Sleep(400 * time.Millisecond)
	w.smtpOpen(ap(web05, 0), ap(exampleNet.hosts[1].addrs[0], 25), Encap{}, ConnOptions{NoAnswer: true}, "mx2.example.net")
	return w.Err()
}

func dnsMXAdditional(w *Writer) error {
	lookupMX(w, web05, resolver, Encap{}, exampleNet, true)
	return w.Err()
}

func dnsMXNoAdditional(w *Writer) error {
	lookupMX(w, web05, resolver, Encap{}, exampleNet, false)
	for _, h := range exampleNet.hosts {
		lookupAddr(w, web05, resolver, Encap{}, h.name, dns.TypeA, h.addrs...)
	}
	return w.Err()
}

func dnsMXCNAME(w *Writer) error {
	d := mxDomain{domain: "example.com", hosts: []mxHost{{10, "mail.example.com", nil}}}
	lookupMX(w, web05, resolver, Encap{}, d, false)
	q := w.Query("mail.example.com", dns.TypeA)
	r := CNAMEResponse(q, []string{"mx.hosted-mail.example", "mx-pool.eu.hosted-mail.example"}, netip.MustParseAddr("198.51.100.77"))
	r.Compress = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, q, r, DNSOptions{})
	return w.Err()
}

func dnsTCP(w *Writer) error {
	c := w.TCP(ap(web05, 0), resolver, Encap{}, ConnOptions{})
	q1 := w.Query("example.net", dns.TypeMX)
	r1 := MXResponse(q1, exampleNet.mx(), nil)
	q2 := w.Query("mx1.example.net", dns.TypeA)
	r2 := AddrResponse(q2, exampleNet.hosts[0].addrs...)
	var frames [4][]byte
	for i, m := range []*dns.Msg{q1, r1, q2, r2} {
		b, err := TCPFrame(m)
		if err != nil {
			return err
		}
		frames[i] = b
	}
	c.ClientBytes(frames[0])
	c.ServerBytes(frames[1])
	c.ClientBytes(frames[2][:9]) // length prefix and part of the header
	c.ClientBytes(frames[2][9:])
	c.ServerBytes(frames[3])
	c.Close()
	return w.Err()
}

// bigMX is a domain with many mail exchangers, for truncation and
// fragmentation.
func bigMX() mxDomain {
	d := mxDomain{domain: "bulk-mail-provider.example"}
	for i := 0; i < 40; i++ {
		d.hosts = append(d.hosts, mxHost{
			pref: uint16(10 * (i/8 + 1)),
			name: fmt.Sprintf("mx%02d.inbound.bulk-mail-provider.example", i+1),
			addrs: []netip.Addr{
				netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)}),
				netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, byte(i + 1)}),
			},
		})
	}
	return d
}

func dnsTruncated(w *Writer) error {
	d := bigMX()
	q := w.Query(d.domain, dns.TypeMX)
	tc := reply(q)
	tc.Truncated = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, q, tc, DNSOptions{})
	full := MXResponse(q, d.mx(), d.glue())
	full.Compress = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, q, full, DNSOptions{TCP: true})
	return w.Err()
}

func ipv4Fragments(w *Writer) error {
	d := bigMX()
	q := w.Query(d.domain, dns.TypeMX)
	q.SetEdns0(4096, false)
	r := MXResponse(q, d.mx(), d.glue())
	r.SetEdns0(4096, false)
	r.Compress = true
	w.DNSExchange(ap(web05, 0), resolver, Encap{}, q, r, DNSOptions{FragmentMTU: 1500})
	return w.Err()
}

// directSend is one step of the spam script: find the MX of d (with or
// without glue, then A lookups) and deliver one message to the best MX.
func directSend(w *Writer, client netip.Addr, dnsServer netip.AddrPort, e Encap, d mxDomain, glue, v6 bool) {
	lookupMX(w, client, dnsServer, e, d, glue)
	best := d.hosts[0]
	pick := func(addrs []netip.Addr) netip.Addr {
		for _, a := range addrs {
			if a.Is6() == v6 {
				return a
			}
		}
		return netip.Addr{}
	}
	if !glue {
		qtype := dns.TypeA
		if v6 {
			qtype = dns.TypeAAAA
		}
		var addrs []netip.Addr
		for _, a := range best.addrs {
			if a.Is6() == v6 {
				addrs = append(addrs, a)
			}
		}
		w.advance(100*time.Microsecond, time.Millisecond)
		lookupAddr(w, client, dnsServer, e, best.name, qtype, addrs...)
	}
	w.advance(200*time.Microsecond, 2*time.Millisecond)
	s := w.smtpOpen(ap(client, 0), ap(pick(best.addrs), 25), e, ConnOptions{}, best.name)
	s.ehlo("web05.platform.example")
	rcpt := d.rcpt + "@" + d.domain
	s.mail("info@paket-zustellung.example", []string{rcpt}, spamMessage(w, rcpt), "")
	s.quit()
}

func directToMX(w *Writer) error {
	directSend(w, web05, resolver, Encap{}, gmail, true, false)
	w.Sleep(1200 * time.Millisecond)
	directSend(w, web05, resolver, Encap{}, outlook, false, false)
	w.Sleep(900 * time.Millisecond)
	directSend(w, web05, resolver, Encap{}, exampleNet, false, false)
	return w.Err()
}

// encapScenario returns the short direct-to-mx (one MX lookup and one SMTP
// session) under e, or over IPv6.
func encapScenario(e Encap, v6 bool) func(*Writer) error {
	return func(w *Writer) error {
		if v6 {
			directSend(w, web05v6, resolver6, e, gmail, true, true)
		} else {
			directSend(w, web05, resolver, e, gmail, true, false)
		}
		return w.Err()
	}
}

// impaired returns an SMTP session to an MX whose message body (sent with
// a 536-byte MSS, so it spans several segments) suffers kind.
func impaired(kind string) func(*Writer) error {
	return func(w *Writer) error {
		s := w.smtpOpen(ap(web05, 0), ap(exampleNet.hosts[0].addrs[0], 25), Encap{}, ConnOptions{MSS: 536}, "mx1.example.net")
		s.ehlo("web05.platform.example")
		s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok")
		s.cmd("RCPT TO:<alice@example.net>", "250 2.1.5 Ok")
		s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
		body := spamMessage(w, "alice@example.net") + strings.Repeat("Weitere Informationen finden Sie in Ihrem Kundenkonto.\n", 30)
		first := s.c.NextSegment()
		var im Impairments
		switch kind {
		case "reorder":
			im.Reorder = []int{first + 1}
		case "retransmit":
			im.Retransmit = []int{first + 2}
		case "drop":
			im.Drop = []int{first + 2}
		case "overlap":
			im.Overlap = []int{first + 2}
		}
		s.c.SetImpairments(im)
		s.data(body, "")
		s.c.SetImpairments(Impairments{})
		s.quit()
		return w.Err()
	}
}

func tcpMidstream(w *Writer) error {
	s := w.smtpOpen(ap(web05, 0), ap(exampleNet.hosts[0].addrs[0], 25), Encap{}, ConnOptions{NoHandshake: true}, "mx1.example.net")
	s.mail("info@paket-zustellung.example", []string{"alice@example.net"}, spamMessage(w, "alice@example.net"), "")
	s.quit()
	return w.Err()
}

func classDirect25(w *Writer) error {
	s := w.smtpOpen(ap(web05, 0), ap(netip.MustParseAddr("203.0.113.99"), 25), Encap{}, ConnOptions{}, "smtp.unknown-target.example")
	s.ehlo("web05.platform.example")
	s.mail("info@paket-zustellung.example", []string{"bob@unknown-target.example"}, spamMessage(w, "bob@unknown-target.example"), "")
	s.quit()
	w.Sleep(700 * time.Millisecond)
	w.smtpOpen(ap(web05, 0), ap(netip.MustParseAddr("198.51.100.99"), 25), Encap{}, ConnOptions{NoAnswer: true}, "")
	return w.Err()
}

func classRelayLookups(w *Writer) error {
	lookupMX(w, relay, resolver, Encap{}, gmail, true)
	w.advance(200*time.Microsecond, 2*time.Millisecond)
	s := w.smtpOpen(ap(relay, 0), ap(gmail.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, gmail.hosts[0].name)
	s.ehlo("relay.platform.example")
	to := "jane.doe@gmail.com"
	s.mail("orders@lindenhof-shop.example", []string{to}, relayMessage(w, to), "")
	s.quit()
	return w.Err()
}

func classGuessedName(w *Writer) error {
	victim := netip.MustParseAddr("203.0.113.77")
	lookupAddr(w, web05, resolver, Encap{}, "mail.victim.example", dns.TypeA, victim)
	w.advance(200*time.Microsecond, 2*time.Millisecond)
	s := w.smtpOpen(ap(web05, 0), ap(victim, 25), Encap{}, ConnOptions{}, "mail.victim.example")
	s.ehlo("web05.platform.example")
	s.mail("info@paket-zustellung.example", []string{"ceo@victim.example"}, spamMessage(w, "ceo@victim.example"), "")
	s.quit()
	return w.Err()
}

func classOtherClient(w *Writer) error {
	lookupMX(w, web05, resolver, Encap{}, exampleNet, true)
	w.Sleep(3 * time.Second)
	s := w.smtpOpen(ap(web10, 0), ap(exampleNet.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, exampleNet.hosts[0].name)
	s.ehlo("web10.platform.example")
	s.mail("info@paket-zustellung.example", []string{"alice@example.net"}, spamMessage(w, "alice@example.net"), "")
	s.quit()
	return w.Err()
}

func classesAll(w *Writer) error {
	steps := []func(*Writer) error{smtpBasic, smtpSubmission, smtpAuth25, directToMX, classDirect25}
	for i, step := range steps {
		if i > 0 {
			w.Sleep(time.Second)
		}
		if err := step(w); err != nil {
			return err
		}
	}
	return w.Err()
}

func rejectionBurst(w *Writer) error {
	lookupMX(w, web05, resolver, Encap{}, exampleNet, true)
	for i := range 6 {
		w.Sleep(2 * time.Second)
		s := w.smtpOpen(ap(web05, 0), ap(exampleNet.hosts[0].addrs[0], 25), Encap{}, ConnOptions{}, "mx1.example.net")
		s.ehlo("web05.platform.example")
		to := fmt.Sprintf("user%d@example.net", i)
		s.cmd("MAIL FROM:<info@paket-zustellung.example>", "250 2.1.0 Ok")
		s.cmd("RCPT TO:<"+to+">", "250 2.1.5 Ok")
		s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
		s.data(spamMessage(w, to), "554 5.7.1 Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.10")
		s.quit()
	}
	return w.Err()
}
