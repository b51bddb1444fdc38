package pcapgen

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/netip"
	"strings"
	"time"
)

// ehloExtensions is what the generated servers announce after EHLO.
var ehloExtensions = []string{
	"PIPELINING", "SIZE 52428800", "STARTTLS", "AUTH PLAIN LOGIN",
	"CHUNKING", "8BITMIME", "ENHANCEDSTATUSCODES",
}

// smtpSession drives one SMTP dialogue over a Conn: every client line is
// answered by the server, as a real exchange would be.
type smtpSession struct {
	w      *Writer
	c      *Conn
	server string // the server's host name, for the banner and replies
	client netip.Addr
}

// smtpOpen connects and reads the banner. A Refused or NoAnswer opt leaves
// a session whose calls write nothing.
func (w *Writer) smtpOpen(client, server netip.AddrPort, e Encap, opt ConnOptions, serverName string) *smtpSession {
	s := &smtpSession{w: w, c: w.TCP(client, server, e, opt), server: serverName, client: client.Addr()}
	if !opt.NoHandshake {
		s.c.Server(banner(w, serverName) + "\r\n")
	}
	return s
}

// banner returns the 220 greeting a server of that name would send.
func banner(w *Writer, name string) string {
	switch {
	case strings.HasSuffix(name, ".google.com"):
		return fmt.Sprintf("220 mx.google.com ESMTP %08x.%d - gsmtp", w.rng.Uint32(), 40+w.intn(60))
	case strings.HasSuffix(name, ".outlook.com"):
		return "220 " + name + " Microsoft ESMTP MAIL Service ready at " + w.now.Format(time.RFC1123Z)
	}
	return "220 " + name + " ESMTP Postfix"
}

// cmd writes a client command line (CRLF added) and the server's reply
// (CRLF added to every line).
func (s *smtpSession) cmd(line, reply string) {
	s.c.Client(line + "\r\n")
	s.reply(reply)
}

// reply writes a server reply; lines are separated by "\n" in text.
func (s *smtpSession) reply(text string) {
	if text == "" {
		return
	}
	s.c.Server(strings.ReplaceAll(text, "\n", "\r\n") + "\r\n")
}

// ehlo writes EHLO and the multi-line 250 listing ehloExtensions.
func (s *smtpSession) ehlo(name string) {
	greeting := s.server
	if strings.HasSuffix(s.server, ".google.com") {
		greeting = fmt.Sprintf("mx.google.com at your service, [%v]", s.client)
	}
	s.cmd("EHLO "+name, ehloReply(greeting))
}

func ehloReply(server string) string {
	lines := append([]string{server}, ehloExtensions...)
	for i := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = "250" + sep + lines[i]
	}
	return strings.Join(lines, "\n")
}

// queued returns a Postfix-style "queued as" reply with a seeded queue ID.
func (s *smtpSession) queued() string {
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
	id := make([]byte, 12)
	for i := range id {
		id[i] = alphabet[s.w.intn(len(alphabet))]
	}
	return "250 2.0.0 Ok: queued as 4V" + string(id)
}

// mail sends one transaction with MAIL, RCPT per recipient, DATA and the
// dot-stuffed message; dataReply is the reply to the end of data ("" means
// queued).
func (s *smtpSession) mail(from string, to []string, msg, dataReply string) {
	s.cmd("MAIL FROM:<"+from+"> SIZE="+fmt.Sprint(len(msg)), "250 2.1.0 Ok")
	for _, r := range to {
		s.cmd("RCPT TO:<"+r+">", "250 2.1.5 Ok")
	}
	s.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	s.data(msg, dataReply)
}

// data writes the message body of DATA and the reply to its end.
func (s *smtpSession) data(msg, dataReply string) {
	s.w.advance(time.Millisecond, 5*time.Millisecond)
	s.c.Client(dotStuff(msg))
	if dataReply == "" {
		dataReply = s.queued()
	}
	s.w.advance(2*time.Millisecond, 30*time.Millisecond)
	s.reply(dataReply)
}

// quit writes QUIT, 221 and closes the connection.
func (s *smtpSession) quit() {
	s.cmd("QUIT", "221 2.0.0 Bye")
	s.c.Close()
}

// dotStuff returns msg in DATA form: CRLF line endings, lines starting with
// "." doubled, terminated by CRLF.CRLF.
func dotStuff(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	msg = strings.TrimSuffix(msg, "\n")
	lines := strings.Split(msg, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.String()
}

// authLogin writes an AUTH LOGIN exchange (334, 334, 235).
func (s *smtpSession) authLogin(user, pass string) {
	s.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	s.cmd(base64.StdEncoding.EncodeToString([]byte(user)), "334 UGFzc3dvcmQ6")
	s.cmd(base64.StdEncoding.EncodeToString([]byte(pass)), "235 2.7.0 Authentication successful")
}

// authPlain writes AUTH PLAIN with an initial response.
func (s *smtpSession) authPlain(user, pass string) {
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	s.cmd("AUTH PLAIN "+cred, "235 2.7.0 Authentication successful")
}

// message is an RFC 5322 message to generate.
type message struct {
	from, to string
	subject  string // encoded per RFC 2047 when not ASCII
	date     time.Time
	host     string // the Message-ID's and Received's host
	mailer   string // X-Mailer value; empty for none
	agent    string // User-Agent value; empty for none
	script   string // X-PHP-Originating-Script value; empty for none
	received string // the "from ... by ..." part of a Received header; empty for none
	body     string
}

// render returns the message with CRLF line endings and a seeded
// Message-ID.
func (m message) render(w *Writer) string {
	date := m.date.Format(time.RFC1123Z)
	var b strings.Builder
	hdr := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	if m.received != "" {
		hdr("Received", m.received+";\r\n\t"+date)
	}
	if m.script != "" {
		hdr("X-PHP-Originating-Script", m.script)
	}
	hdr("Date", date)
	hdr("From", m.from)
	hdr("To", m.to)
	subject := m.subject
	if !isASCII(subject) {
		subject = mime.BEncoding.Encode("UTF-8", subject)
	}
	hdr("Subject", subject)
	hdr("Message-ID", fmt.Sprintf("<%016x.%d@%s>", w.rng.Uint64(), m.date.Unix(), m.host))
	if m.mailer != "" {
		hdr("X-Mailer", m.mailer)
	}
	if m.agent != "" {
		hdr("User-Agent", m.agent)
	}
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=UTF-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(m.body, "\n", "\r\n"))
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
