package smtp_test

import (
	"fmt"
	"time"

	"github.com/mxwatch/mxwatch/capture/smtp"
	"github.com/mxwatch/mxwatch/event"
)

// The TCP layer feeds both directions of a connection in packet-time
// order; messages are emitted as their outcome becomes known, and the
// session fields are filled after Close.
func Example() {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	c := smtp.NewConn(smtp.DefaultConfig(), smtp.Options{}, func(m *event.Message) {
		fmt.Println("message", m.Index, m.MailFrom, m.Recipients[0].Addr, m.Subject, m.Size, m.Outcome)
	})
	c.Data(false, []byte("220 mx.example.net ESMTP\r\n"), ts)
	c.Data(true, []byte("EHLO web01.example\r\n"), ts)
	c.Data(false, []byte("250-mx.example.net\r\n250 PIPELINING\r\n"), ts)
	c.Data(true, []byte("MAIL FROM:<www-data@web01.example>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"), ts)
	c.Data(false, []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"), ts)
	c.Data(true, []byte("Subject: hi\r\n\r\nbuy now\r\n.\r\nQUIT\r\n"), ts)
	c.Data(false, []byte("550 5.7.1 Message rejected as spam\r\n221 Bye\r\n"), ts)
	c.Close(ts)

	var s event.Session
	c.Fill(&s)
	fmt.Println("session", s.Banner, s.HeloVerb, s.Helo, s.Extensions, s.Commands)
	// Output:
	// message 0 www-data@web01.example victim@example.org hi 24 rejected
	// session mx.example.net EHLO web01.example [PIPELINING] map[DATA:1 EHLO:1 MAIL:1 QUIT:1 RCPT:1]
}
