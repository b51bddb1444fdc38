package smtp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

// tcase is one transcript and what the parser must make of it.
type tcase struct {
	name  string
	cfg   func(*Config)
	opt   Options
	steps []step
	check func(t *testing.T, r result)
}

func (tc tcase) config() Config {
	cfg := DefaultConfig()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	return cfg
}

// greet is the start of most transcripts: greeting, EHLO and its reply.
func greet(steps ...step) []step {
	return append([]step{
		sv("220 mx.example.net ESMTP Postfix\r\n"),
		cl("EHLO client.example\r\n"),
		sv(crlf("250-mx.example.net", "250-PIPELINING", "250-SIZE 10240000", "250-CHUNKING", "250 8BITMIME")),
	}, steps...)
}

// mailTo sends one accepted transaction, one command and reply at a time.
func mailTo(from, to, data, final string) []step {
	return []step{
		cl("MAIL FROM:<" + from + ">\r\n"), sv("250 2.1.0 Ok\r\n"),
		cl("RCPT TO:<" + to + ">\r\n"), sv("250 2.1.5 Ok\r\n"),
		cl("DATA\r\n"), sv("354 End data with <CR><LF>.<CR><LF>\r\n"),
		cl(data + ".\r\n"), sv(final + "\r\n"),
	}
}

func join(parts ...[]step) []step { return slices.Concat(parts...) }

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqSlice[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func flagged(t *testing.T, what string, flags []string, want ...string) {
	t.Helper()
	for _, f := range want {
		if !hasFlag(flags, f) {
			t.Errorf("%s flags %q lack %q", what, flags, f)
		}
	}
}

func notFlagged(t *testing.T, what string, flags []string, unwanted ...string) {
	t.Helper()
	for _, f := range unwanted {
		if hasFlag(flags, f) {
			t.Errorf("%s flags %q have %q", what, flags, f)
		}
	}
}

func commands(t *testing.T, r result, want map[string]int) {
	t.Helper()
	if len(r.sess.Commands) != len(want) {
		t.Errorf("commands %v, want %v", r.sess.Commands, want)
		return
	}
	for k, v := range want {
		if r.sess.Commands[k] != v {
			t.Errorf("commands %v, want %v", r.sess.Commands, want)
			return
		}
	}
}

const simpleBody = "From: Alice <alice@example.org>\r\nSubject: hello\r\n\r\nHi Bob.\r\n"

// transcripts are the test cases; TestSplitInvariance and FuzzConn reuse
// them.
func transcripts() []tcase {
	longArg := strings.Repeat("h", 100)
	chunk1 := "Subject: chunked\r\nFrom: a@b.example\r\n"
	chunk2 := "\r\nQUIT\r\n.\r\nRCPT TO:<not@a.command>\r\n"
	bigHeader := "X-Pad: " + strings.Repeat("p", 50) + "\r\n"
	return []tcase{
		{
			name: "banner and quit",
			steps: []step{
				sv("220 mx1.example.net ESMTP Postfix\r\n"),
				cl("QUIT\r\n"), sv("221 2.0.0 Bye\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "banner", r.sess.Banner, "mx1.example.net")
				eq(t, "replies", r.replyCodes(), "CONNECT:220 QUIT:221")
				eq(t, "quit enhanced", r.sess.Replies[1].Enhanced, "2.0.0")
				eq(t, "quit text", r.sess.Replies[1].Text, "Bye")
				commands(t, r, map[string]int{"QUIT": 1})
				eq(t, "messages", r.sess.Messages, 0)
				eq(t, "emitted", len(r.msgs), 0)
				eq(t, "flags", len(r.sess.Flags), 0)
				eq(t, "unanswered", r.stats.UnansweredCommands, 0)
			},
		},
		{
			name: "multi-line greeting",
			steps: []step{
				sv("220-mx2.example.net ESMTP\r\n220-We do not authorize bulk mail.\r\n220 Go ahead\r\n"),
				cl("NOOP\r\n"), sv("250 2.0.0 Ok\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "banner", r.sess.Banner, "mx2.example.net")
				eq(t, "greeting text", r.sess.Replies[0].Text, "mx2.example.net ESMTP\nWe do not authorize bulk mail.\nGo ahead")
				eq(t, "replies", r.replyCodes(), "CONNECT:220 NOOP:250")
			},
		},
		{
			name: "ehlo with extensions",
			steps: []step{
				sv("220 mx.google.com ESMTP x\r\n"),
				cl("ehlo client.example\r\n"),
				sv(crlf("250-mx.google.com at your service", "250-size 35882577", "250-8BITMIME",
					"250-AUTH PLAIN LOGIN", "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250 CHUNKING")),
				cl("QUIT\r\n"), sv("221 closing\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "helo verb", r.sess.HeloVerb, "EHLO")
				eq(t, "helo", r.sess.Helo, "client.example")
				eqSlice(t, "extensions", r.sess.Extensions, []string{"SIZE 35882577", "8BITMIME", "AUTH PLAIN LOGIN",
					"STARTTLS", "ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING"})
				commands(t, r, map[string]int{"EHLO": 1, "QUIT": 1})
			},
		},
		{
			name: "helo fallback after rejected ehlo",
			steps: []step{
				sv("220 pigeon Sendmail 8.8.7\r\n"),
				cl("EHLO a.example\r\n"), sv("500 Command unrecognized\r\n"),
				cl("HELO b.example\r\n"), sv("250 pigeon Hello\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "helo verb", r.sess.HeloVerb, "HELO")
				eq(t, "helo", r.sess.Helo, "b.example")
				eq(t, "extensions", len(r.sess.Extensions), 0)
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:500 HELO:250")
				commands(t, r, map[string]int{"EHLO": 1, "HELO": 1})
			},
		},
		{
			name: "mail from variants",
			steps: greet(
				cl("MAIL FROM:<a@b.example> SIZE=123 BODY=8BITMIME\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Ok\r\n"),
				cl("MAIL FROM: <c@d.example>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Ok\r\n"),
				cl("mail from:e@f.example\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Ok\r\n"),
				cl("MAIL FROM:<>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("QUIT\r\n"), sv("221 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "messages", r.sess.Messages, 4)
				want := []string{"a@b.example", "c@d.example", "e@f.example", "<>"}
				for i, from := range want {
					m := r.msg(t, i)
					eq(t, "index", m.Index, i)
					eq(t, "mail from", m.MailFrom, from)
					eq(t, "mail code", m.MailCode, 250)
					eq(t, "outcome", m.Outcome, event.OutcomeAborted)
					eq(t, "helo", m.Helo, "client.example")
				}
				eqSlice(t, "params", r.msgs[0].MailParams, []string{"SIZE=123", "BODY=8BITMIME"})
				eq(t, "params of second", len(r.msgs[1].MailParams), 0)
				notFlagged(t, "rset message", r.msgs[0].Flags, "incomplete")
			},
		},
		{
			name: "rcpt to several and rejected",
			steps: greet(
				cl("MAIL FROM:<s@x.example>\r\n"), sv("250 Ok\r\n"),
				cl("RCPT TO:<one@y.example>\r\n"), sv("250 2.1.5 Ok\r\n"),
				cl("RCPT TO: <two@y.example> NOTIFY=NEVER\r\n"), sv("550 5.1.1 <two@y.example>: Recipient address rejected\r\n"),
				cl("RCPT TO:three@z.example\r\n"), sv("250 2.1.5 Ok\r\n"),
				cl("DATA\r\n"), sv("354 go\r\n"),
				cl(simpleBody+".\r\n"), sv("250 2.0.0 Ok: queued\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				want := []event.Recipient{
					{Addr: "one@y.example", Code: 250, Enhanced: "2.1.5"},
					{Addr: "two@y.example", Code: 550, Enhanced: "5.1.1"},
					{Addr: "three@z.example", Code: 250, Enhanced: "2.1.5"},
				}
				eqSlice(t, "recipients", m.Recipients, want)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
			},
		},
		{
			// A DNSBL refusal at RCPT, then QUIT (Postfix's
			// reject_rbl_client): the message was refused, not aborted.
			name: "every recipient refused then quit",
			steps: greet(
				cl("MAIL FROM:<s@x.example>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RCPT TO:<one@y.example>\r\n"),
				sv("554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using dnsbl.example.net\r\n"),
				cl("QUIT\r\n"), sv("221 2.0.0 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				if m.Final == nil {
					t.Fatal("no final reply")
				}
				eq(t, "final cmd", m.Final.Command, "RCPT")
				eq(t, "final code", m.Final.Code, 554)
				eq(t, "flags", strings.Join(m.Flags, ","), "")
			},
		},
		{
			name: "every recipient refused, 4xx, then rset",
			steps: greet(
				cl("MAIL FROM:<s@x.example>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RCPT TO:<one@y.example>\r\n"), sv("550 5.1.1 unknown\r\n"),
				cl("RCPT TO:<two@y.example>\r\n"), sv("450 4.7.1 greylisted\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Ok\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeTempFail)
				eq(t, "final code", m.Final.Code, 450)
			},
		},
		{
			name: "one recipient accepted, then quit before data",
			steps: greet(
				cl("MAIL FROM:<s@x.example>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RCPT TO:<one@y.example>\r\n"), sv("550 5.1.1 unknown\r\n"),
				cl("RCPT TO:<two@y.example>\r\n"), sv("250 2.1.5 Ok\r\n"),
				cl("QUIT\r\n"), sv("221 2.0.0 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				if m.Final != nil {
					t.Errorf("final %+v, want none", m.Final)
				}
			},
		},
		{
			name: "every recipient refused, session cut",
			steps: greet(
				cl("MAIL FROM:<s@x.example>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("RCPT TO:<one@y.example>\r\n"), sv("554 5.7.1 rejected\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "final code", m.Final.Code, 554)
			},
		},
		{
			name: "data with dot-unstuffing",
			steps: greet(mailTo("s@x.example", "r@y.example",
				"Subject: t\r\n\r\n..leading\r\n..\r\nplain\r\n...\r\n", "250 2.0.0 Ok: queued as 1")...),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				// "Subject: t\r\n" 12 + "\r\n" 2 + ".leading\r\n" 10 + ".\r\n" 3
				// + "plain\r\n" 7 + "..\r\n" 4
				eq(t, "size", m.Size, 38)
				eq(t, "header bytes", m.HeaderBytes, 12)
				eq(t, "complete", m.Complete, true)
				eq(t, "method", m.Method, "DATA")
				eq(t, "subject", m.Subject, "t")
				eq(t, "final cmd", m.Final.Command, "EOD")
				eq(t, "final code", m.Final.Code, 250)
				eq(t, "final text", m.Final.Text, "Ok: queued as 1")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 MAIL:250 RCPT:250 DATA:354 EOD:250")
			},
		},
		{
			name: "bare LF end of data",
			steps: []step{
				sv("220 lf.example\n"),
				cl("HELO x\n"), sv("250 ok\n"),
				cl("MAIL FROM:<a@b>\n"), sv("250 ok\n"),
				cl("RCPT TO:<c@d>\n"), sv("250 ok\n"),
				cl("DATA\n"), sv("354 go\n"),
				cl("Subject: lf\n\nhello\n.\nQUIT\n"), sv("250 +OK queued\n221 bye\n"),
			},
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 19) // "Subject: lf\n" 12 + "\n" 1 + "hello\n" 6
				eq(t, "header bytes", m.HeaderBytes, 12)
				eq(t, "complete", m.Complete, true)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "subject", m.Subject, "lf")
				commands(t, r, map[string]int{"HELO": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "QUIT": 1})
				eq(t, "replies", r.replyCodes(), "CONNECT:220 HELO:250 MAIL:250 RCPT:250 DATA:354 EOD:250 QUIT:221")
			},
		},
		{
			name: "bdat chunks and last",
			steps: greet(
				cl("MAIL FROM:<a@b.example>\r\n"), sv("250 Ok\r\n"),
				cl("RCPT TO:<c@d.example>\r\n"), sv("250 Ok\r\n"),
				cl("BDAT "+itoa(len(chunk1))+"\r\n"+chunk1), sv("250 2.0.0 Ok: 37 bytes\r\n"),
				cl("BDAT "+itoa(len(chunk2))+" LAST\r\n"+chunk2), sv("250 2.0.0 Ok: queued\r\n"),
				cl("QUIT\r\n"), sv("221 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "method", m.Method, "BDAT")
				eq(t, "size", m.Size, int64(len(chunk1)+len(chunk2)))
				eq(t, "header bytes", m.HeaderBytes, len(chunk1))
				eq(t, "complete", m.Complete, true)
				eq(t, "subject", m.Subject, "chunked")
				eq(t, "from", m.From, "a@b.example")
				eq(t, "final cmd", m.Final.Command, "BDAT")
				eq(t, "final text", m.Final.Text, "Ok: queued")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 1, "BDAT": 2, "QUIT": 1})
			},
		},
		{
			name: "bdat 0 last",
			steps: greet(
				cl("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 10\r\n0123456789BDAT 0 LAST\r\n"),
				sv("250 Ok\r\n250 Ok\r\n250 Ok 10\r\n250 Ok queued\r\n"),
				cl("MAIL FROM:<e@f.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 0 LAST\r\n"),
				sv("250 Ok\r\n250 Ok\r\n550 5.6.0 empty message\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 10)
				eq(t, "complete", m.Complete, true)
				eq(t, "final", m.Final.Text, "Ok queued")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				m = r.msg(t, 1)
				eq(t, "size", m.Size, 0)
				eq(t, "complete", m.Complete, true)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "final enhanced", m.Final.Enhanced, "5.6.0")
			},
		},
		{
			name: "bdat malformed",
			steps: greet(
				cl("MAIL FROM:<a@b.example>\r\n"), sv("250 Ok\r\n"),
				cl("BDAT x LAST\r\n"), sv("501 5.5.4 Syntax: BDAT count [LAST]\r\n"),
				cl("BDAT 99999999999999999999\r\n"), sv("501 5.5.4 Syntax\r\n"),
				cl("RSET\r\n"), sv("250 Ok\r\n"),
			),
			check: func(t *testing.T, r result) {
				flagged(t, "session", r.sess.Flags, "bdat_malformed")
				eq(t, "malformed", r.stats.BDATMalformed, 2)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "BDAT": 2, "RSET": 1})
				m := r.msg(t, 0)
				eq(t, "method", m.Method, "")
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 MAIL:250 BDAT:501 BDAT:501 RSET:250")
			},
		},
		{
			name: "rset aborts then new transaction",
			steps: join(greet(
				cl("MAIL FROM:<a@b.example>\r\n"), sv("250 Ok\r\n"),
				cl("RCPT TO:<c@d.example>\r\n"), sv("250 Ok\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Ok\r\n"),
			), mailTo("a@b.example", "c@d.example", simpleBody, "250 queued"),
				[]step{cl("RSET\r\n"), sv("250 Ok\r\n")}),
			check: func(t *testing.T, r result) {
				eq(t, "messages", r.sess.Messages, 2)
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				eq(t, "complete", m.Complete, false)
				eq(t, "final", m.Final == nil, true)
				m = r.msg(t, 1)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "index", m.Index, 1)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 2, "RCPT": 2, "DATA": 1, "RSET": 2})
			},
		},
		{
			name: "several transactions",
			steps: join(greet(),
				mailTo("a@x.example", "b@y.example", "Subject: one\r\n\r\n1\r\n", "250 queued 1"),
				mailTo("a@x.example", "c@y.example", "Subject: two\r\n\r\n2\r\n", "451 4.3.0 try later"),
				mailTo("a@x.example", "d@y.example", "Subject: three\r\n\r\n3\r\n", "554 5.7.1 spam"),
				[]step{cl("QUIT\r\n"), sv("221 Bye\r\n")}),
			check: func(t *testing.T, r result) {
				eq(t, "messages", r.sess.Messages, 3)
				for i, want := range []struct{ subject, outcome string }{
					{"one", event.OutcomeAccepted}, {"two", event.OutcomeTempFail}, {"three", event.OutcomeRejected},
				} {
					m := r.msg(t, i)
					eq(t, "index", m.Index, i)
					eq(t, "subject", m.Subject, want.subject)
					eq(t, "outcome", m.Outcome, want.outcome)
					eq(t, "final cmd", m.Final.Command, "EOD")
					eq(t, "start", m.Start, at(3+8*i))
					eq(t, "end", m.End, at(10+8*i))
				}
			},
		},
		{
			name: "pipelining",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\nSubject: p\r\n\r\nRCPT TO:<in@body.example>\r\nQUIT\r\n.\r\n"+
					"MAIL FROM:<c@x.example>\r\nRCPT TO:<d@y.example>\r\nDATA\r\nSubject: q\r\n\r\nbody2\r\n.\r\nQUIT\r\n"),
				sv("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 queued 1\r\n"),
				sv("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 queued 2\r\n221 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 MAIL:250 RCPT:250 DATA:354 EOD:250 MAIL:250 RCPT:250 DATA:354 EOD:250 QUIT:221")
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 2, "RCPT": 2, "DATA": 2, "QUIT": 1})
				for i, want := range []struct{ from, subject, final string }{
					{"a@x.example", "p", "queued 1"}, {"c@x.example", "q", "queued 2"},
				} {
					m := r.msg(t, i)
					eq(t, "from", m.MailFrom, want.from)
					eq(t, "subject", m.Subject, want.subject)
					eq(t, "final", m.Final.Text, want.final)
					eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
					eq(t, "recipients", len(m.Recipients), 1)
				}
				eq(t, "assumed", r.stats.AssumedReplies, 0)
			},
		},
		{
			name: "pipelined data rejected: held lines are commands",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\nRSET\r\n"),
				sv("250 Ok\r\n550 5.1.1 no such user\r\n554 5.5.1 Error: no valid recipients\r\n250 Ok\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "final cmd", m.Final.Command, "DATA")
				eq(t, "rcpt code", m.Recipients[0].Code, 550)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "RSET": 1})
			},
		},
		{
			name: "enhanced status codes",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("550-5.7.1 Service unavailable; client blocked\r\n550 5.7.1 see https://rbl.example/q\r\n"),
				cl("NOOP\r\n"), sv("250 5.1.1 class differs\r\n"),
				cl("NOOP\r\n"), sv("451 4.7.1\r\n"),
			),
			check: func(t *testing.T, r result) {
				rp := r.sess.Replies[2]
				eq(t, "enhanced", rp.Enhanced, "5.7.1")
				eq(t, "text", rp.Text, "Service unavailable; client blocked\nsee https://rbl.example/q")
				eq(t, "class mismatch", r.sess.Replies[3].Enhanced, "")
				eq(t, "class mismatch text", r.sess.Replies[3].Text, "5.1.1 class differs")
				eq(t, "bare", r.sess.Replies[4].Enhanced, "4.7.1")
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "mail code", m.MailCode, 550)
				eq(t, "final", m.Final.Enhanced, "5.7.1")
			},
		},
		{
			name: "starttls then tls",
			steps: greet(
				cl("STARTTLS\r\n"), sv("220 2.0.0 Ready to start TLS\r\n"),
				cl("\x16\x03\x01\x00\x05hello"), sv("\x16\x03\x03\x00\x02hi"),
				cl("\x17\x03\x03\x00\x10MAIL FROM:<x@y>\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSStartTLS)
				commands(t, r, map[string]int{"EHLO": 1, "STARTTLS": 1})
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 STARTTLS:220")
				eq(t, "tls bytes", r.stats.TLSBytesSkipped, 10+7+22)
				eq(t, "messages", r.sess.Messages, 0)
			},
		},
		{
			name: "starttls with pipelined client hello",
			steps: greet(
				cl("STARTTLS\r\n\x16\x03\x01\x00\x05hello"), sv("220 2.0.0 Ready\r\n\x16\x03\x03\x00\x02hi"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSStartTLS)
				eq(t, "tls bytes", r.stats.TLSBytesSkipped, 10+7)
				eq(t, "garbage", r.stats.ServerGarbage, 0)
			},
		},
		{
			name: "starttls then cleartext",
			steps: join(greet(
				cl("STARTTLS\r\n"), sv("220 2.0.0 Ready to start TLS\r\n"),
				cl("EHLO again.example\r\n"), sv("250-mx.example.net\r\n250 SIZE 5\r\n"),
			), mailTo("a@x.example", "b@y.example", simpleBody, "250 queued")),
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSStartTLS)
				flagged(t, "session", r.sess.Flags, "cleartext_after_starttls")
				eqSlice(t, "extensions", r.sess.Extensions, []string{"SIZE 5"})
				eq(t, "helo", r.sess.Helo, "again.example")
				commands(t, r, map[string]int{"EHLO": 2, "STARTTLS": 1, "MAIL": 1, "RCPT": 1, "DATA": 1})
				eq(t, "outcome", r.msg(t, 0).Outcome, event.OutcomeAccepted)
			},
		},
		{
			name: "starttls refused",
			steps: greet(
				cl("STARTTLS\r\n"), sv("454 4.7.0 TLS not available\r\n"),
				cl("QUIT\r\n"), sv("221 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSNone)
				commands(t, r, map[string]int{"EHLO": 1, "STARTTLS": 1, "QUIT": 1})
			},
		},
		{
			name: "implicit tls port",
			opt:  Options{ImplicitTLS: true},
			steps: []step{
				cl("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), sv("\x16\x03\x03\x00\x5a\x02"), cl("\x17\x03\x03\x00\x20EHLO x\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSImplicit)
				eq(t, "replies", len(r.sess.Replies), 0)
				eq(t, "commands", len(r.sess.Commands), 0)
				eq(t, "tls bytes", r.stats.TLSBytesSkipped, 11+6+13)
			},
		},
		{
			name: "tls client hello on port 25",
			steps: []step{
				cl("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), sv("\x16\x03\x03\x00\x5a\x02"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSImplicit)
				eq(t, "replies", len(r.sess.Replies), 0)
			},
		},
		{
			name: "implicit tls port with cleartext server",
			opt:  Options{ImplicitTLS: true},
			steps: []step{
				sv("220 smtps.example ESMTP\r\n"), cl("EHLO x\r\n"), sv("250 smtps.example\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSNone)
				eq(t, "banner", r.sess.Banner, "smtps.example")
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250")
			},
		},
		{
			name: "implicit tls port: greeting then client hello",
			opt:  Options{ImplicitTLS: true},
			steps: []step{
				sv("220 v02.example ESMTP Postfix\r\n"), cl("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\n\x03\x03\r\n"),
				sv("402 4.5.2 Error: command not recognized\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSImplicit)
				eq(t, "replies", len(r.sess.Replies), 0)
				eq(t, "banner", r.sess.Banner, "")
				flagged(t, "session", r.sess.Flags, "cleartext_greeting")
			},
		},
		{
			name: "auth plain with initial response",
			steps: join(greet(
				cl("AUTH PLAIN "+plainCred+"\r\n"), sv("235 2.7.0 Authentication successful\r\n"),
			), mailTo("a@x.example", "b@y.example", simpleBody, "250 queued")),
			check: func(t *testing.T, r result) {
				eq(t, "auth", *r.sess.Auth, event.Auth{Mechanism: "PLAIN", Outcome: "success", Code: 235})
				commands(t, r, map[string]int{"EHLO": 1, "AUTH": 1, "MAIL": 1, "RCPT": 1, "DATA": 1})
				eq(t, "auth lines", r.stats.AuthLines, 0)
			},
		},
		{
			name: "auth login",
			steps: join(greet(
				cl("AUTH LOGIN\r\n"), sv("334 VXNlcm5hbWU6\r\n"),
				cl(userCred+"\r\n"), sv("334 UGFzc3dvcmQ6\r\n"),
				cl(passCred+"\r\n"), sv("235 2.7.0 Authentication successful\r\n"),
			), mailTo("a@x.example", "b@y.example", simpleBody, "250 queued")),
			check: func(t *testing.T, r result) {
				eq(t, "auth", *r.sess.Auth, event.Auth{Mechanism: "LOGIN", Outcome: "success", Code: 235})
				eq(t, "auth lines", r.stats.AuthLines, 2)
				commands(t, r, map[string]int{"EHLO": 1, "AUTH": 1, "MAIL": 1, "RCPT": 1, "DATA": 1})
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 AUTH:334 AUTH:334 AUTH:235 MAIL:250 RCPT:250 DATA:354 EOD:250")
				eq(t, "challenge text", r.sess.Replies[2].Text, "")
			},
		},
		{
			name: "auth failed",
			steps: greet(
				cl("auth login "+userCred+"\r\n"), sv("334 UGFzc3dvcmQ6\r\n"),
				cl(passCred+"\r\n"), sv("535 5.7.8 Error: authentication failed\r\n"),
				cl("QUIT\r\n"), sv("221 Bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "auth", *r.sess.Auth, event.Auth{Mechanism: "LOGIN", Outcome: "failure", Code: 535})
				commands(t, r, map[string]int{"EHLO": 1, "AUTH": 1, "QUIT": 1})
			},
		},
		{
			name: "auth cancelled",
			steps: greet(
				cl("AUTH CRAM-MD5\r\n"), sv("334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=\r\n"),
				cl("*\r\n"), sv("501 5.7.0 Authentication aborted\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "auth", *r.sess.Auth, event.Auth{Mechanism: "CRAM-MD5", Outcome: "failure", Code: 501})
				eq(t, "auth lines", r.stats.AuthLines, 1)
			},
		},
		{
			name: "auth login client only",
			steps: []step{
				cl("EHLO c.example\r\nAUTH LOGIN\r\n" + userCred + "\r\n" + passCred + "\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n" + simpleBody + ".\r\nQUIT\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "auth", *r.sess.Auth, event.Auth{Mechanism: "LOGIN", Outcome: "unknown"})
				eq(t, "auth lines", r.stats.AuthLines, 2)
				commands(t, r, map[string]int{"EHLO": 1, "AUTH": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "QUIT": 1})
				flagged(t, "session", r.sess.Flags, "client_only", "assumed_reply")
				m := r.msg(t, 0)
				eq(t, "complete", m.Complete, true)
				eq(t, "outcome", m.Outcome, event.OutcomeUnknown)
			},
		},
		{
			name: "headers",
			steps: greet(mailTo("a@x.example", "b@y.example", crlf(
				"Received: from relay2.example (relay2.example [10.0.0.2])",
				"\tby mx.example.net with ESMTP id 2; Thu, 10 Apr 2025 12:02:00 -0000",
				"Received: from relay1.example by relay2.example; Thu, 10 Apr 2025 12:01:00 -0000",
				"Received: from [192.0.2.7] (helo=web01)",
				"    by relay1.example with esmtpa;",
				"    Thu, 10 Apr 2025 12:00:00 -0000",
				"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@x.example>",
				"To: Bob <b@y.example>, c@y.example",
				"Cc: cc0 <cc0@y.example>, \"Doe, Jane\" <cc1@y.example>,",
				" cc2@y.example",
				"Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_?=",
				"  =?UTF-8?B?S8O2bG4=?= and more",
				"Date: Thu, 10 Apr 2025 12:00:00 -0000",
				"Message-ID: <20250410.ABC@Web01.Example.COM>",
				"X-Mailer: PHPMailer 6.8.1 (https://github.com/PHPMailer/PHPMailer)",
				"user-agent: Mutt/2.2",
				"X-PHP-Originating-Script: 1002:mailer.php",
				"X-PHP-Script: www.example.org/wp/x.php for 198.51.100.7",
				"X-Unknown: =?KOI8-R?B?8NLJ18XU?=",
				"",
				"body",
			), "250 queued")...),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "from", m.From, "Jürgen Müller <j@x.example>")
				eq(t, "to", m.ToCount, 2)
				eq(t, "cc", m.CcCount, 3)
				eq(t, "subject", m.Subject, "Grüße aus Köln and more")
				eq(t, "date", m.Date, "Thu, 10 Apr 2025 12:00:00 -0000")
				eq(t, "message id", m.MessageID, "20250410.ABC@Web01.Example.COM")
				eq(t, "message id host", m.MessageIDHost, "web01.example.com")
				eq(t, "x-mailer", m.XMailer, "PHPMailer 6.8.1 (https://github.com/PHPMailer/PHPMailer)")
				eq(t, "user agent", m.UserAgent, "Mutt/2.2")
				eq(t, "php uid", m.PHPScriptUID, "1002")
				eq(t, "php path", m.PHPScriptPath, "mailer.php")
				eq(t, "php script", m.PHPScript, "www.example.org/wp/x.php for 198.51.100.7")
				eq(t, "received", m.ReceivedCount, 3)
				eq(t, "first received", m.FirstReceived, "from [192.0.2.7] (helo=web01) by relay1.example with esmtpa; Thu, 10 Apr 2025 12:00:00 -0000")
				eq(t, "header names", strings.Join(m.HeaderNames, ","), "received,from,to,cc,subject,date,message-id,x-mailer,user-agent,x-php-originating-script,x-php-script,x-unknown")
			},
		},
		{
			name: "limit: header names",
			steps: greet(mailTo("a@x.example", "b@y.example", func() string {
				var b strings.Builder
				for i := range 40 {
					fmt.Fprintf(&b, "X-H%d: v\r\nx-h%d: again\r\n", i, i)
				}
				b.WriteString("X-" + strings.Repeat("n", 70) + ": long\r\n\r\nbody\r\n")
				return b.String()
			}(), "250 queued")...),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "names", len(m.HeaderNames), 32)
				eq(t, "first", m.HeaderNames[0], "x-h0")
				eq(t, "last", m.HeaderNames[31], "x-h31")
				eq(t, "flag", strings.Join(m.Flags, ","), "header_names_truncated")
			},
		},
		{
			name:  "unknown charset stays raw",
			steps: greet(mailTo("a@x.example", "b@y.example", "Subject: =?KOI8-R?B?8NLJ18XU?=\r\nFrom: =?x-unknown?Q?abc?= <a@x.example>\r\n\r\nbody\r\n", "250 queued")...),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "subject", m.Subject, "=?KOI8-R?B?8NLJ18XU?=")
				eq(t, "from", m.From, "=?x-unknown?Q?abc?= <a@x.example>")
			},
		},
		{
			name: "limit: line",
			cfg:  func(c *Config) { c.MaxLineBytes = 32 },
			steps: []step{
				sv("220 mx.example ESMTP " + longArg + "\r\n"),
				cl("EHLO " + longArg + "\r\n"), sv("250 ok\r\n"),
				cl("QUIT\r\n"), sv("221 bye\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "helo", r.sess.Helo, strings.Repeat("h", 27))
				eq(t, "greeting text", r.sess.Replies[0].Text, "mx.example ESMTP "+strings.Repeat("h", 11))
				flagged(t, "session", r.sess.Flags, "line_too_long")
				eq(t, "lines too long", r.stats.LinesTooLong, 2)
				commands(t, r, map[string]int{"EHLO": 1, "QUIT": 1})
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 QUIT:221")
			},
		},
		{
			name: "limit: reply lines and extensions",
			cfg:  func(c *Config) { c.MaxReplyLines = 4; c.MaxExtensions = 2 },
			steps: greet(
				cl("QUIT\r\n"), sv("221 bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "ehlo text", r.sess.Replies[1].Text, "mx.example.net\nPIPELINING\nSIZE 10240000\nCHUNKING")
				eq(t, "reply lines dropped", r.stats.ReplyLinesDropped, 1)
				eqSlice(t, "extensions", r.sess.Extensions, []string{"PIPELINING", "SIZE 10240000"})
				eq(t, "extensions dropped", r.stats.ExtensionsDropped, 1)
				flagged(t, "session", r.sess.Flags, "reply_lines_truncated", "extensions_truncated")
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 QUIT:221")
			},
		},
		{
			name:  "limit: replies",
			cfg:   func(c *Config) { c.MaxReplies = 2 },
			steps: greet(mailTo("a@x.example", "b@y.example", simpleBody, "250 queued")...),
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250")
				eq(t, "dropped", r.stats.RepliesDropped, 4)
				eq(t, "counted", r.stats.Replies, 6)
				flagged(t, "session", r.sess.Flags, "replies_truncated")
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "final", m.Final.Text, "queued")
			},
		},
		{
			name: "limit: recipients",
			cfg:  func(c *Config) { c.MaxRecipients = 2 },
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\nRCPT TO:<4@y>\r\nDATA\r\n"),
				sv("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
				cl(simpleBody+".\r\n"), sv("250 queued\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "recipients", len(m.Recipients), 2)
				eq(t, "dropped", m.RecipientsDropped, 2)
				eq(t, "stats", r.stats.RecipientsDropped, 2)
				flagged(t, "message", m.Flags, "recipients_truncated")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 4, "DATA": 1})
			},
		},
		{
			name: "limit: header bytes",
			cfg:  func(c *Config) { c.MaxHeaderBytes = 128 },
			steps: greet(mailTo("a@x.example", "b@y.example",
				"From: a@x.example\r\n"+bigHeader+bigHeader+bigHeader+"Subject: late\r\n\r\nbody\r\n", "250 queued")...),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				flagged(t, "message", m.Flags, "header_too_large")
				eq(t, "overflows", r.stats.HeaderOverflows, 1)
				eq(t, "header bytes", m.HeaderBytes, 19+3*len(bigHeader)+15)
				eq(t, "from", m.From, "a@x.example")
				eq(t, "subject", m.Subject, "")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
			},
		},
		{
			name: "limit: pending bytes",
			cfg:  func(c *Config) { c.MaxPendingBytes = 64 },
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"+simpleBody+strings.Repeat("x", 100)+"\r\n.\r\n"),
				sv("250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"),
			),
			check: func(t *testing.T, r result) {
				flagged(t, "session", r.sess.Flags, "assumed_reply")
				eq(t, "overflows", r.stats.PendingOverflows, 1)
				eq(t, "assumed", r.stats.AssumedReplies, 1)
				m := r.msg(t, 0)
				flagged(t, "message", m.Flags, "assumed_reply")
				eq(t, "size", m.Size, int64(len(simpleBody)+102))
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 MAIL:250 RCPT:250 DATA:354 EOD:250")
			},
		},
		{
			name: "limit: pipeline",
			cfg:  func(c *Config) { c.MaxPipeline = 4 },
			steps: []step{
				cl("EHLO c\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "overflows", r.stats.PipelineOverflows, 5) // CONNECT + 4 commands given up
				eq(t, "unanswered", r.stats.UnansweredCommands, 8)
				flagged(t, "session", r.sess.Flags, "pipeline_overflow", "client_only")
				commands(t, r, map[string]int{"EHLO": 1, "NOOP": 6, "QUIT": 1})
			},
		},
		{
			name: "gap in a command line",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<c"), gapC(7), cl("d>\r\nRCPT TO:<e@f.example>\r\n"),
				sv("250 ok\r\n250 ok\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eqSlice(t, "recipients", m.Recipients, []event.Recipient{{Addr: "e@f.example", Code: 250}})
				flagged(t, "message", m.Flags, "gap")
				flagged(t, "session", r.sess.Flags, "gap")
				eq(t, "resyncs", r.stats.GapResyncs, 1)
				eq(t, "resync bytes", r.stats.ResyncBytes, 10+2)
				eq(t, "gaps", r.stats.Gaps, 1)
			},
		},
		{
			name: "gap followed by a command",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"), gapC(30), cl("DATA\r\n"),
				sv("354 go\r\n"), cl(simpleBody+".\r\n"), sv("250 queued\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "resyncs", r.stats.GapResyncs, 0)
				m := r.msg(t, 0)
				eq(t, "complete", m.Complete, true)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				flagged(t, "message", m.Flags, "gap")
			},
		},
		{
			name: "gap in a body",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("RCPT TO:<b@y.example>\r\n"), sv("250 ok\r\n"),
				cl("DATA\r\n"), sv("354 go\r\n"),
				cl("Subject: g\r\n\r\nline one\r\nli"), gapC(100), cl("ne two\r\nline three\r\n.\r\nQUIT\r\n"),
				sv("250 queued\r\n221 bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 12+2+10+2+100+8+12)
				eq(t, "complete", m.Complete, true)
				eq(t, "subject", m.Subject, "g")
				flagged(t, "message", m.Flags, "gap")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "QUIT": 1})
			},
		},
		{
			name: "gap in bdat data",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("BDAT 50 LAST\r\n"+strings.Repeat("a", 20)), gapC(30), cl("QUIT\r\n"),
				sv("250 queued\r\n221 bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 50)
				eq(t, "complete", m.Complete, true)
				flagged(t, "message", m.Flags, "gap")
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "BDAT": 1, "QUIT": 1})
			},
		},
		{
			name: "gap past bdat data",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("BDAT 20\r\n"+strings.Repeat("a", 10)), gapC(40), cl("xx\r\nRSET\r\n"),
				sv("250 ok\r\n250 ok\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 20)
				eq(t, "complete", m.Complete, false)
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				eq(t, "resyncs", r.stats.GapResyncs, 1)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "BDAT": 1, "RSET": 1})
			},
		},
		{
			name: "gap of unknown size in bdat data",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("BDAT 1000 LAST\r\n"+strings.Repeat("a", 10)), gapC(0), cl("aaaa\r\nQUIT\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "size", m.Size, 10)
				eq(t, "complete", m.Complete, false)
				flagged(t, "message", m.Flags, "gap")
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "BDAT": 1, "QUIT": 1})
			},
		},
		{
			name: "gap in a server reply",
			steps: greet(
				cl("NOOP\r\n"), sv("250-first\r\n25"), gapS(20), sv("0-cont\r\n250 end\r\n"),
				cl("QUIT\r\n"), sv("221 bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 NOOP:250 QUIT:221")
				eq(t, "noop text", r.sess.Replies[2].Text, "first\nend")
				eq(t, "resyncs", r.stats.GapResyncs, 1)
				flagged(t, "session", r.sess.Flags, "gap")
			},
		},
		{
			name: "client only",
			steps: []step{
				cl("EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n" + simpleBody + ".\r\n"),
				cl("MAIL FROM:<a@x.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\nSubject: two\r\n\r\nx\r\n.\r\nQUIT\r\n"),
			},
			check: func(t *testing.T, r result) {
				flagged(t, "session", r.sess.Flags, "client_only", "assumed_reply")
				eq(t, "replies", len(r.sess.Replies), 0)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 2, "RCPT": 2, "DATA": 2, "QUIT": 1})
				eq(t, "messages", r.sess.Messages, 2)
				for i, subject := range []string{"hello", "two"} {
					m := r.msg(t, i)
					eq(t, "complete", m.Complete, true)
					eq(t, "outcome", m.Outcome, event.OutcomeUnknown)
					eq(t, "subject", m.Subject, subject)
					eq(t, "final", m.Final == nil, true)
				}
				eq(t, "unanswered", r.stats.UnansweredCommands, 10) // with the two ends of data
			},
		},
		{
			name:  "server only",
			steps: []step{sv("220 lonely.example ESMTP\r\n")},
			check: func(t *testing.T, r result) {
				flagged(t, "session", r.sess.Flags, "server_only")
				eq(t, "banner", r.sess.Banner, "lonely.example")
			},
		},
		{
			name: "midstream start",
			opt:  Options{Midstream: true},
			steps: []step{
				sv("250 2.1.5 Ok\r\n"),
				cl("DATA\r\n"), sv("354 go\r\n"),
				cl(simpleBody + ".\r\n"), sv("250 queued\r\n"),
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), ":250 DATA:354 EOD:250 MAIL:250")
				eq(t, "unmatched", r.stats.UnmatchedReplies, 1)
				flagged(t, "session", r.sess.Flags, "unmatched_reply")
				eq(t, "banner", r.sess.Banner, "")
				eq(t, "messages", r.sess.Messages, 1)
				m := r.msg(t, 0)
				eq(t, "from", m.MailFrom, "a@x.example")
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				flagged(t, "message", m.Flags, "incomplete")
			},
		},
		{
			name:  "midstream inside tls",
			opt:   Options{Midstream: true},
			steps: []step{sv("\x17\x03\x03\x00\x20encrypted"), cl("\x17\x03\x03\x00\x10more")},
			check: func(t *testing.T, r result) {
				eq(t, "tls", r.sess.TLS, event.TLSImplicit)
				eq(t, "garbage", r.stats.ServerGarbage, 0)
				eq(t, "tls bytes", r.stats.TLSBytesSkipped, 14+9)
			},
		},
		{
			name: "midstream greeting",
			opt:  Options{Midstream: true},
			steps: []step{
				sv("220 late.example ESMTP\r\n"), cl("QUIT\r\n"), sv("221 bye\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 QUIT:221")
				eq(t, "banner", r.sess.Banner, "late.example")
				eq(t, "unmatched", r.stats.UnmatchedReplies, 0)
			},
		},
		{
			name: "client speaks before the greeting",
			steps: []step{
				cl("EHLO early.example\r\n"),
				sv("220 mx ESMTP\r\n250-mx\r\n250 PIPELINING\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250")
				eqSlice(t, "extensions", r.sess.Extensions, []string{"PIPELINING"})
			},
		},
		{
			name: "nested mail",
			steps: []step{
				sv("220 mail.example.com ESMTP Postfix\r\n"),
				cl("helo client.example.com\r\n"), sv("250 mail.example.com\r\n"),
				cl("mail from:<alice@example.com>\r\n"), sv("250 2.1.0 Ok\r\n"),
				cl("mail from:<bob@example.com>\r\n"), sv("503 5.5.1 Error: nested MAIL command\r\n"),
				cl("rcpt to:<bob@example.com>\r\n"), sv("250 2.1.5 Ok\r\n"),
				cl("data\r\n"), sv("354 End data with <CR><LF>.<CR><LF>\r\n"),
				cl(simpleBody + ".\r\n"), sv("250 2.0.0 Ok: queued as 4CDEB4BA92F9\r\n"),
				cl("QUIT\r\n"), sv("221 2.0.0 Bye\r\n"),
			},
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "from", m.MailFrom, "alice@example.com")
				eq(t, "index", m.Index, 0)
				eqSlice(t, "recipients", m.Recipients, []event.Recipient{{Addr: "bob@example.com", Code: 250, Enhanced: "2.1.5"}})
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				m = r.msg(t, 1)
				eq(t, "from", m.MailFrom, "bob@example.com")
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "final", m.Final.Command+" "+m.Final.Text, "MAIL Error: nested MAIL command")
				eq(t, "recipients", len(m.Recipients), 0)
			},
		},
		{
			name: "rejected mail and commands without a transaction",
			steps: greet(
				cl("MAIL FROM:<spam@x.example>\r\n"), sv("553 5.1.8 Domain of sender address does not exist\r\n"),
				cl("RCPT TO:<b@y.example>\r\n"), sv("503 5.0.0 Need MAIL before RCPT\r\n"),
				cl("DATA\r\n"), sv("503 5.0.0 Need MAIL command\r\n"),
				cl("RSET\r\n"), sv("250 2.0.0 Reset state\r\n"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "messages", len(r.msgs), 1)
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeRejected)
				eq(t, "mail code", m.MailCode, 553)
				eq(t, "final", m.Final.Command, "MAIL")
				eq(t, "recipients", len(m.Recipients), 0)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "RSET": 1})
			},
		},
		{
			name: "data refused keeps the transaction open",
			steps: greet(
				cl("MAIL FROM:<bob@example.org>\r\n"), sv("250 OK\r\n"),
				cl("DATA\r\n"), sv("503 valid RCPT command must precede DATA\r\n"),
				cl("Hello, Alice\r\n.\r\n"), sv("500 unrecognized command\r\n500 unrecognized command\r\n"),
				cl("MAIL FROM:<bob@example.org>\r\n"), sv("503 sender already given\r\n"),
				cl("RCPT TO:<alice@example.org>\r\n"), sv("250 Accepted\r\n"),
				cl("DATA\r\n"), sv("354 Enter message\r\n"),
				cl("Subject: x\r\n\r\nHello again\r\n.\r\n"), sv("250 OK id=1\r\n"),
			),
			check: func(t *testing.T, r result) {
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 2, "DATA": 2, "RCPT": 1, "OTHER": 2})
				m := r.msg(t, 0)
				eq(t, "outcome", m.Outcome, event.OutcomeAccepted)
				eq(t, "recipients", len(m.Recipients), 1)
				eq(t, "subject", m.Subject, "x")
				eq(t, "second", r.msg(t, 1).Outcome, event.OutcomeRejected)
			},
		},
		{
			name: "unterminated multi-line reply shifts pairing; 354 still opens the body",
			steps: []step{
				sv("220 smtp.example ESMTP\r\n"), cl("EHLO Simone\r\n"), sv("250-smtp001.example\r\n"),
				cl("MAIL FROM: <a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("RCPT TO: <b@y.example>\r\n"), sv("250 ok\r\n"),
				cl("DATA\r\n"), sv("354 Start mail input\r\n"),
				cl(simpleBody + ".\r\n"), sv("250 ok\r\n"),
				cl("QUIT\r\n"), sv("221 bye\r\n"),
			},
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 MAIL:250 RCPT:354 DATA:250 EOD:221")
				eq(t, "mismatches", r.stats.ReplyMismatches, 1)
				commands(t, r, map[string]int{"EHLO": 1, "MAIL": 1, "RCPT": 1, "DATA": 1, "QUIT": 1})
				m := r.msg(t, 0)
				eq(t, "complete", m.Complete, true)
				eq(t, "subject", m.Subject, "hello")
				flagged(t, "message", m.Flags, "reply_mismatch")
			},
		},
		{
			name: "close before the reply to data",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("RCPT TO:<b@y.example>\r\n"), sv("250 ok\r\n"),
				cl("DATA\r\n"+simpleBody+".\r\n"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "complete", m.Complete, true)
				eq(t, "outcome", m.Outcome, event.OutcomeUnknown)
				flagged(t, "message", m.Flags, "assumed_reply")
				eq(t, "assumed", r.stats.AssumedReplies, 1)
			},
		},
		{
			name: "session ends inside a body",
			steps: greet(
				cl("MAIL FROM:<a@x.example>\r\n"), sv("250 ok\r\n"),
				cl("RCPT TO:<b@y.example>\r\n"), sv("250 ok\r\n"),
				cl("DATA\r\n"), sv("354 go\r\n"),
				cl("Subject: cut\r\n\r\npartial li"),
			),
			check: func(t *testing.T, r result) {
				m := r.msg(t, 0)
				eq(t, "complete", m.Complete, false)
				eq(t, "outcome", m.Outcome, event.OutcomeAborted)
				flagged(t, "message", m.Flags, "incomplete")
				eq(t, "size", m.Size, 14+2+10)
				eq(t, "subject", m.Subject, "cut")
			},
		},
		{
			name: "garbage and empty lines",
			steps: greet(
				cl("\r\n"), sv("500 5.5.2 Error: bad syntax\r\n"),
				cl("\x01\x02\xff binary\r\n"), sv("500 5.5.1 Command unrecognized\r\n"),
				cl("XYZZY\r\n"), sv("502 5.5.2 Error: command not recognized\r\n"),
				sv("this is not a reply\r\n"),
				cl("QUIT\r\n"), sv("221 bye\r\n"),
			),
			check: func(t *testing.T, r result) {
				commands(t, r, map[string]int{"EHLO": 1, "OTHER": 2, "QUIT": 1})
				eq(t, "empty lines", r.stats.EmptyLines, 1)
				eq(t, "garbage", r.stats.ServerGarbage, 1)
				flagged(t, "session", r.sess.Flags, "server_garbage")
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 OTHER:500 OTHER:500 OTHER:502 QUIT:221")
			},
		},
		{
			name: "unterminated reply at close",
			steps: greet(
				cl("QUIT\r\n"), sv("221-closing\r\n221-really"),
			),
			check: func(t *testing.T, r result) {
				eq(t, "replies", r.replyCodes(), "CONNECT:220 EHLO:250 QUIT:221")
				eq(t, "text", r.sess.Replies[2].Text, "closing\nreally")
				eq(t, "unterminated", r.stats.UnterminatedReplies, 1)
				flagged(t, "session", r.sess.Flags, "reply_unterminated")
			},
		},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTranscripts(t *testing.T) {
	for _, tc := range transcripts() {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.config(), tc.opt, tc.steps, nil)
			tc.check(t, r)
			checkInvariants(t, tc.config(), r)
			if t.Failed() {
				t.Log(r.dump(t))
			}
		})
	}
}

// TestSplitInvariance feeds every transcript whole, byte by byte and in
// random pieces: the results must be identical.
func TestSplitInvariance(t *testing.T) {
	for _, tc := range transcripts() {
		t.Run(tc.name, func(t *testing.T) {
			want := run(t, tc.config(), tc.opt, tc.steps, nil).dump(t)
			splits := map[string]splitter{"byte by byte": byteByByte}
			for seed := range uint64(8) {
				splits["random "+itoa(int(seed))] = randomSplits(seed)
			}
			for name, split := range splits {
				if got := run(t, tc.config(), tc.opt, tc.steps, split).dump(t); got != want {
					t.Errorf("%s: result differs from whole steps:\n%s\nwant:\n%s", name, got, want)
				}
			}
		})
	}
}

// checkInvariants checks what must hold for every result.
func checkInvariants(t *testing.T, cfg Config, r result) {
	t.Helper()
	s := r.stats
	if int(s.Transactions) != r.sess.Messages || len(r.msgs) != r.sess.Messages || s.MessagesEmitted != s.Transactions {
		t.Errorf("transactions %d, session messages %d, emitted %d/%d", s.Transactions, r.sess.Messages, len(r.msgs), s.MessagesEmitted)
	}
	for i, m := range r.msgs {
		if m.Index != i {
			t.Errorf("message %d has index %d", i, m.Index)
		}
		switch m.Outcome {
		case event.OutcomeAccepted, event.OutcomeRejected, event.OutcomeTempFail, event.OutcomeAborted, event.OutcomeUnknown:
		default:
			t.Errorf("message %d outcome %q", i, m.Outcome)
		}
		if len(m.Recipients) > cfg.MaxRecipients || m.Size < 0 || m.End.Before(m.Start) {
			t.Errorf("message %d: %d recipients, size %d, %v..%v", i, len(m.Recipients), m.Size, m.Start, m.End)
		}
		if !slices.IsSorted(m.Flags) {
			t.Errorf("message %d flags not sorted: %q", i, m.Flags)
		}
	}
	if len(r.sess.Replies) > cfg.MaxReplies || uint64(len(r.sess.Replies))+s.RepliesDropped != s.Replies {
		t.Errorf("%d replies kept, %d dropped, %d counted", len(r.sess.Replies), s.RepliesDropped, s.Replies)
	}
	if !slices.IsSorted(r.sess.Flags) || len(slices.Compact(slices.Clone(r.sess.Flags))) != len(r.sess.Flags) {
		t.Errorf("session flags not sorted and unique: %q", r.sess.Flags)
	}
	n := 0
	for _, v := range r.sess.Commands {
		n += v
	}
	if uint64(n) != s.Commands {
		t.Errorf("commands %v, counted %d", r.sess.Commands, s.Commands)
	}
}
