package smtp

import (
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

// benchSession is a typical session of about 10 KB: greeting, EHLO,
// one message of three recipients with a 9 KB body, QUIT.
func benchSession() []step {
	var body strings.Builder
	body.WriteString(crlf(
		"Received: from web01.example (web01.example [192.0.2.7]) by relay.example with ESMTP id 1",
		"Date: Thu, 10 Apr 2025 12:00:00 -0000",
		"From: =?UTF-8?B?SsO8cmdlbg==?= <j@x.example>",
		"To: a@y.example, b@y.example, c@y.example",
		"Subject: =?UTF-8?Q?Monthly_report?=",
		"Message-ID: <20250410.1@web01.example>",
		"X-Mailer: PHPMailer 6.8.1",
		"X-PHP-Originating-Script: 1002:mailer.php",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		""))
	for body.Len() < 9000 {
		body.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	}
	body.WriteString("..a stuffed line\r\n")
	return join(greet(
		cl("MAIL FROM:<j@x.example> SIZE=9500\r\n"), sv("250 2.1.0 Ok\r\n"),
		cl("RCPT TO:<a@y.example>\r\n"), sv("250 2.1.5 Ok\r\n"),
		cl("RCPT TO:<b@y.example>\r\n"), sv("250 2.1.5 Ok\r\n"),
		cl("RCPT TO:<c@y.example>\r\n"), sv("250 2.1.5 Ok\r\n"),
		cl("DATA\r\n"), sv("354 End data with <CR><LF>.<CR><LF>\r\n"),
		cl(body.String()+".\r\n"), sv("250 2.0.0 Ok: queued as 4CDEB4BA92F9\r\n"),
		cl("QUIT\r\n"), sv("221 2.0.0 Bye\r\n"),
	))
}

// BenchmarkConn parses the session in segments of at most 1448 bytes.
func BenchmarkConn(b *testing.B) {
	type seg struct {
		client bool
		data   []byte
	}
	var segs []seg
	total := 0
	for _, s := range benchSession() {
		d := []byte(s.data)
		total += len(d)
		for len(d) > 0 {
			n := min(len(d), 1448)
			segs = append(segs, seg{s.client, d[:n]})
			d = d[n:]
		}
	}
	cfg := DefaultConfig()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	var msgs int
	for b.Loop() {
		c := NewConn(cfg, Options{}, func(*event.Message) { msgs++ })
		for i, s := range segs {
			c.Data(s.client, s.data, at(i))
		}
		c.Close(at(len(segs)))
		var sess event.Session
		c.Fill(&sess)
	}
	if msgs == 0 {
		b.Fatal("no message emitted")
	}
}
