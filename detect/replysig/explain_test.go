package replysig

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name         string
		pasted       string
		wantCode     int
		wantEnhanced string
		wantID       string // "" = no match
		wantText     string // prefix of Text
		wantMeaning  string // substring of Meaning
		wantAdvice   string // substring of Advice
	}{
		{
			name: "plain pasted line",
			pasted: "550 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; " +
				"https://www.spamhaus.org/query/ip/192.0.2.7",
			wantCode: 550, wantEnhanced: "5.7.1", wantID: "spamhaus-zen",
			wantText:    "Service unavailable; Client host [192.0.2.7] blocked",
			wantMeaning: "listed on the spamhaus-zen blocklist",
			wantAdvice:  "check.spamhaus.org",
		},
		{
			name: "DSN excerpt",
			pasted: `Final-Recipient: rfc822; bob@example.com
Original-Recipient: rfc822;bob@example.com
Action: failed
Status: 5.7.1
Remote-MTA: dns; gmail-smtp-in.l.google.com
Diagnostic-Code: smtp; 550-5.7.1 [192.0.2.7      12] Our system has detected that
    this message is 550-5.7.1 likely unsolicited mail. To reduce the amount of
    spam sent to Gmail, 550-5.7.1 this message has been blocked. Please visit
    550-5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError
    550 5.7.1  for more information. x12si123.99 - gsmtp
`,
			wantCode: 550, wantEnhanced: "5.7.1", wantID: "gmail-550-unsolicited",
			wantText:    "[192.0.2.7 12] Our system has detected that",
			wantMeaning: "gmail refuses the mail because of the sender's poor IP or domain reputation",
		},
		{
			name:     "DSN without code in Diagnostic-Code uses Status",
			pasted:   "Status: 4.7.0\nDiagnostic-Code: X-Postfix; [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints\n",
			wantCode: 0, wantEnhanced: "4.7.0", wantID: "yahoo-tss04",
			wantText: "[TSS04] Messages from 192.0.2.7",
		},
		{
			name: "postfix bounce prose",
			pasted: `<bob@outlook.com>: host outlook-com.olc.protection.outlook.com[192.0.2.1] said:
    550 5.7.1 Unfortunately, messages from [192.0.2.7] weren't sent. Please
    contact your Internet service provider since part of their network is on our
    block list (S3140). You can also refer your provider to
    http://mail.live.com/mail/troubleshooting.aspx#errors. (in reply to MAIL
    FROM command)`,
			wantCode: 550, wantEnhanced: "5.7.1", wantID: "microsoft-s3140",
			wantText:    "Unfortunately, messages from [192.0.2.7]",
			wantMeaning: "network range",
		},
		{
			name:     "postfix prose on one line",
			pasted:   "host mx.example.org[192.0.2.1] said: 554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net (in reply to RCPT TO command)",
			wantCode: 554, wantEnhanced: "5.7.1", wantID: "spamcop",
			wantText: "Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net",
		},
		{
			name: "exim bounce",
			pasted: `This message was created automatically by mail delivery software.

  bob@yahoo.com
    host mta6.am0.yahoodns.net [192.0.2.1]
    SMTP error from remote mail server after pipelined MAIL FROM:<a@example.org> SIZE=1234:
    421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes
`,
			wantCode: 421, wantEnhanced: "4.7.0", wantID: "yahoo-tss04",
		},
		{
			name:     "quoted mail",
			pasted:   "> > 554-gmx.net (mxgmx114) Nemesis ESMTP Service not available\n> > 554-No SMTP service\n> > 554-IP address is black listed.\n> > 554 For explanation visit https://www.gmx.net/mail/senderguidelines?c=bl\n",
			wantCode: 554, wantID: "gmx-blacklisted",
			wantText: "gmx.net (mxgmx114) Nemesis ESMTP Service not available No SMTP service IP address is black listed.",
		},
		{
			name:     "in quotes",
			pasted:   `"421 Too many spams from your IP (192.0.2.7), please visit http://postmaster.free.fr/"`,
			wantCode: 421, wantID: "free-too-many-spams",
			wantText: "Too many spams from your IP (192.0.2.7), please visit http://postmaster.free.fr/",
		},
		{
			name:     "text without code",
			pasted:   "Client host [192.0.2.7] blocked using b.barracudacentral.org",
			wantCode: 0, wantID: "barracuda-brbl",
		},
		{
			name:     "unknown text",
			pasted:   "the weather is nice today",
			wantCode: 0, wantText: "the weather is nice today",
			wantMeaning: "no SMTP reply code",
			wantAdvice:  "paste the server's reply line",
		},
		{
			name:     "unknown permanent policy reply",
			pasted:   "550 5.7.1 Denied by local rule 17",
			wantCode: 550, wantEnhanced: "5.7.1",
			wantMeaning: "5.7.1: permanent failure, security or policy: delivery not authorized",
			wantAdvice:  "look the sending IP up on public blocklists",
		},
		{
			name:     "unknown temporary reply",
			pasted:   "451 4.3.0 Error: queue file write error",
			wantCode: 451, wantEnhanced: "4.3.0",
			wantMeaning: "451: local error in processing - temporary failure",
			wantAdvice:  "retries on its own",
		},
		{
			name:     "success",
			pasted:   "250 2.0.0 OK 1717000000 x12si123.99 - gsmtp",
			wantCode: 250, wantEnhanced: "2.0.0",
			wantMeaning: "success",
			wantAdvice:  "not a rejection",
		},
		{
			name:     "2xx with blocklist words does not match",
			pasted:   "250 blocked using zen.spamhaus.org",
			wantCode: 250,
		},
		{
			name:     "query refused is not a listing",
			pasted:   "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org; Error: open resolver; https://www.spamhaus.org/returnc/pub/203.0.113.53",
			wantCode: 554, wantEnhanced: "5.7.1", wantID: "spamhaus-query-refused",
			wantMeaning: "not a listing of the sender",
		},
		{
			name:     "empty",
			pasted:   "",
			wantCode: 0, wantAdvice: "No SMTP reply code found",
		},
	}
	tab := Default()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tab.Explain(tc.pasted)
			if e.Code != tc.wantCode || e.Enhanced != tc.wantEnhanced {
				t.Errorf("code, enhanced = %d %q, want %d %q", e.Code, e.Enhanced, tc.wantCode, tc.wantEnhanced)
			}
			if e.Matched != (tc.wantID != "") || e.Signature.ID != tc.wantID {
				t.Errorf("signature = %q (matched %v), want %q", e.Signature.ID, e.Matched, tc.wantID)
			}
			if !strings.HasPrefix(e.Text, tc.wantText) {
				t.Errorf("text = %q, want prefix %q", e.Text, tc.wantText)
			}
			if strings.Contains(e.Text, "in reply to") {
				t.Errorf("text keeps the (in reply to ...) trailer: %q", e.Text)
			}
			if !strings.Contains(e.Meaning, tc.wantMeaning) {
				t.Errorf("meaning = %q, want it to contain %q", e.Meaning, tc.wantMeaning)
			}
			if !strings.Contains(e.Advice, tc.wantAdvice) || e.Advice == "" {
				t.Errorf("advice = %q, want it to contain %q", e.Advice, tc.wantAdvice)
			}
		})
	}
}

func TestExplanationString(t *testing.T) {
	tab := Default()
	tests := []struct {
		name   string
		pasted string
		want   []string // lines, in order, as prefixes
	}{
		{
			name:   "matched",
			pasted: "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.7",
			want: []string{
				"reply:    554 5.7.1 Service unavailable;",
				"verdict:  blocklist spamcop (kind listed, signature spamcop)",
				"meaning:  the sending IP or a domain in the message is listed on the spamcop blocklist (554: transaction failed",
				"url:      https://www.spamcop.net/bl.shtml",
				"advice:   SpamCop users reported spam",
			},
		},
		{
			name:   "unmatched",
			pasted: "452 4.2.2 mailbox full",
			want: []string{
				"reply:    452 4.2.2 mailbox full",
				"verdict:  no known blocklist or provider signature",
				"meaning:  452: insufficient storage or too many recipients - temporary failure, the sender retries later; 4.2.2: persistent transient failure, mailbox: mailbox full",
				"advice:   Temporary failure",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(tab.Explain(tc.pasted).String(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("String() has %d lines, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("line %d = %q, want prefix %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestExplanationJSON(t *testing.T) {
	b, err := json.Marshal(Default().Explain("452 4.2.2 mailbox full"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"signature"`) {
		t.Errorf("unmatched explanation carries a signature: %s", b)
	}
	b, err = json.Marshal(Default().Explain("554 blocked using bl.spamcop.net"))
	if err != nil {
		t.Fatal(err)
	}
	var back Explanation
	if err := json.Unmarshal(b, &back); err != nil || back.Signature.ID != "spamcop" || back.Code != 554 {
		t.Errorf("JSON round trip = %+v, %v (from %s)", back, err, b)
	}
}
