// Package event defines the facts that every stage of mxwatch exchanges:
// SMTP sessions, mail transactions (messages) and DNS answers.
//
// The types are plain structs with packet timestamps, netip addresses and
// small typed enums. They carry no behaviour beyond String and Validate, so
// that capture, detect and sink can share them without importing each other.
// Changing a field is a schema change: bump SchemaVersion, update
// docs/events.md, the sink mapping and the golden files in the same change.
package event

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// SchemaVersion is written into every event as "v". Consumers reject events
// whose version they do not know.
const SchemaVersion = 1

// Kind names an event type; it is the "kind" field of every event.
type Kind string

// The event kinds.
const (
	KindSession Kind = "session"
	KindMessage Kind = "message"
	KindDNS     Kind = "dns"
)

// Event is implemented by *Session, *Message and *DNS.
type Event interface {
	// EventKind reports the concrete kind.
	EventKind() Kind
	// ClientAddr is the address of the client side (the host inside the
	// platform for outbound mail, the resolver's client for DNS); sinks use it
	// as the partitioning key.
	ClientAddr() netip.Addr
	// Validate reports whether the event is well formed.
	Validate() error
}

// Handshake is the outcome of a TCP connection attempt as seen on the wire.
type Handshake string

// Handshake outcomes.
const (
	// HandshakeCompleted: SYN, SYN-ACK and the client's ACK (or data) seen.
	HandshakeCompleted Handshake = "completed"
	// HandshakeRefused: the server (or a firewall speaking for it) answered
	// the SYN with a RST.
	HandshakeRefused Handshake = "refused"
	// HandshakeNoAnswer: SYNs were sent and nothing came back.
	HandshakeNoAnswer Handshake = "no_answer"
	// HandshakeReset: the server answered with SYN-ACK but the attempt was
	// reset before the handshake completed.
	HandshakeReset Handshake = "reset"
	// HandshakeMidstream: the capture joined an established connection; the
	// handshake was not seen.
	HandshakeMidstream Handshake = "midstream"
)

// CloseReason says why a session event was emitted.
type CloseReason string

// Close reasons.
const (
	CloseFIN        CloseReason = "fin"         // both sides sent FIN (or one FIN and the flow went idle)
	CloseRST        CloseReason = "rst"         // a RST ended the connection
	CloseIdle       CloseReason = "idle"        // no packet for the idle timeout (packet time)
	CloseCaptureEnd CloseReason = "capture_end" // the input ended with the connection open
	CloseEvicted    CloseReason = "evicted"     // pushed out of the flow table by its size bound
)

// TLSMode says whether and how a session switched to TLS.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = ""         // cleartext throughout
	TLSStartTLS TLSMode = "starttls" // STARTTLS accepted with 220
	TLSImplicit TLSMode = "implicit" // TLS from the first byte (port 465)
)

// Reply is one complete (possibly multi-line) SMTP reply.
type Reply struct {
	// Time is the packet time of the reply's last line.
	Time time.Time `json:"time"`
	// Command is the verb the reply answered: "CONNECT" for the greeting,
	// "EHLO", "HELO", "MAIL", "RCPT", "DATA", "EOD" (end of message data),
	// "BDAT", "AUTH", "STARTTLS", "RSET", "QUIT", "NOOP", ... or "" when the
	// reply could not be matched to a command.
	Command string `json:"cmd"`
	// Code is the three-digit reply code.
	Code int `json:"code"`
	// Enhanced is the RFC 3463 enhanced status code ("5.7.1"), if present.
	Enhanced string `json:"enhanced,omitempty"`
	// Text is the reply text without code and enhanced code; the lines of a
	// multi-line reply are joined with "\n".
	Text string `json:"text"`
}

// Auth records an SMTP AUTH exchange. Credentials are never stored.
type Auth struct {
	Mechanism string `json:"mechanism"`
	// Outcome is "success" (235), "failure" (4xx/5xx), or "unknown".
	Outcome string `json:"outcome"`
	// Code is the final reply code, 0 if not seen.
	Code int `json:"code,omitempty"`
}

// Session is one TCP connection to a mail port.
type Session struct {
	Kind    Kind   `json:"kind"`
	Version int    `json:"v"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor,omitempty"`

	// Start is the time of the first packet of the connection, End of the last.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`

	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	// VLANs lists the 802.1Q tags of the packets, outermost first, across all
	// encapsulation layers.
	VLANs []uint16 `json:"vlan,omitempty"`
	// Tunnel names the encapsulations that were removed, outermost first,
	// joined with "/": "gre", "erspan2", "erspan3", "vxlan", "geneve", ...
	Tunnel string `json:"tunnel,omitempty"`

	Handshake Handshake   `json:"handshake"`
	Close     CloseReason `json:"close"`
	// SYNs counts the client's SYN packets (retransmitted SYNs are blocked
	// or unanswered attempts).
	SYNs int `json:"syns"`
	// ConnectRTT is the time from the first SYN to the SYN-ACK, if both seen.
	ConnectRTT time.Duration `json:"connect_rtt_ns,omitempty"`

	BytesToServer   uint64 `json:"bytes_c2s"`
	BytesToClient   uint64 `json:"bytes_s2c"`
	PacketsToServer uint64 `json:"pkts_c2s"`
	PacketsToClient uint64 `json:"pkts_s2c"`
	// Gaps counts holes in either direction's byte stream (data the sensor
	// never saw); GapBytes is their total size where known.
	Gaps     int    `json:"gaps,omitempty"`
	GapBytes uint64 `json:"gap_bytes,omitempty"`

	TLS TLSMode `json:"tls,omitempty"`
	// Banner is the first word of the server's greeting (its host name).
	Banner     string   `json:"banner,omitempty"`
	HeloVerb   string   `json:"helo_verb,omitempty"` // "EHLO" or "HELO" (last one sent)
	Helo       string   `json:"helo,omitempty"`      // the argument of the last EHLO/HELO
	Extensions []string `json:"extensions,omitempty"`
	Auth       *Auth    `json:"auth,omitempty"`

	// Commands counts client commands by verb ("OTHER" for unknown ones).
	Commands map[string]int `json:"commands,omitempty"`
	// Messages counts mail transactions (MAIL FROM seen) in the session.
	Messages int `json:"messages"`
	// Replies holds every server reply in order, up to the replies limit.
	Replies []Reply `json:"replies,omitempty"`

	// Flags lists anomalies and limits hit: "line_too_long",
	// "replies_truncated", "client_only", "server_only", "gap", ...
	Flags []string `json:"flags,omitempty"`
}

// Recipient is one RCPT TO command and the server's answer to it.
type Recipient struct {
	Addr     string `json:"addr"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
}

// Message is one mail transaction: MAIL FROM up to the end of the message
// data (or up to RSET, a failure, or the end of the session).
type Message struct {
	Kind    Kind   `json:"kind"`
	Version int    `json:"v"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor,omitempty"`
	// Session is the ID of the session event that carried the message.
	Session string `json:"session"`
	// Index is the 0-based number of the transaction within its session.
	Index int `json:"index"`

	Start  time.Time      `json:"start"` // MAIL FROM
	End    time.Time      `json:"end"`   // final reply or last event of the transaction
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	VLANs  []uint16       `json:"vlan,omitempty"`
	Helo   string         `json:"helo,omitempty"`

	MailFrom string `json:"mail_from"`
	// MailParams are the ESMTP parameters of MAIL FROM ("SIZE=1234", "BODY=8BITMIME").
	MailParams []string    `json:"mail_params,omitempty"`
	MailCode   int         `json:"mail_code,omitempty"`
	Recipients []Recipient `json:"rcpt,omitempty"`
	// RecipientsDropped counts RCPT TO commands beyond the recipients limit.
	RecipientsDropped int `json:"rcpt_dropped,omitempty"`

	// Method is "DATA" or "BDAT", empty if no data was sent.
	Method string `json:"method,omitempty"`
	// Size is the message size in bytes after dot-unstuffing (DATA) or the
	// sum of chunk sizes (BDAT), headers included.
	Size        int64 `json:"size"`
	HeaderBytes int   `json:"header_bytes,omitempty"`
	// Complete is true when the end of the message data was seen ("." or
	// BDAT ... LAST).
	Complete bool `json:"complete"`

	From          string `json:"from,omitempty"`
	ToCount       int    `json:"to_count,omitempty"`
	CcCount       int    `json:"cc_count,omitempty"`
	Subject       string `json:"subject,omitempty"`
	Date          string `json:"date,omitempty"`
	MessageID     string `json:"message_id,omitempty"`
	MessageIDHost string `json:"message_id_host,omitempty"`
	XMailer       string `json:"x_mailer,omitempty"`
	UserAgent     string `json:"user_agent,omitempty"`
	// PHPScriptUID and PHPScriptPath split X-PHP-Originating-Script ("UID:path").
	PHPScriptUID  string `json:"php_uid,omitempty"`
	PHPScriptPath string `json:"php_script,omitempty"`
	// PHPScript is the X-PHP-Script header (older PHP patches: "host/path for ip").
	PHPScript     string `json:"x_php_script,omitempty"`
	ReceivedCount int    `json:"received_count,omitempty"`
	// HeaderNames lists the names of the header fields present, lower
	// case, each once, in order of appearance, at most 32 (flag
	// "header_names_truncated" when more). Detection uses it to notice
	// mail that lacks the headers the platform relay adds.
	HeaderNames []string `json:"header_names,omitempty"`
	// FirstReceived is the earliest Received header (the last one in the
	// header block): the first hop of the message.
	FirstReceived string `json:"first_received,omitempty"`

	// Final is the reply to the end of data (or to the failing command that
	// ended the transaction).
	Final *Reply `json:"final,omitempty"`
	// Outcome: "accepted" (2xx after data), "rejected" (5xx), "tempfail"
	// (4xx), "aborted" (RSET or session end before data completed), or
	// "unknown" (no reply seen).
	Outcome string `json:"outcome"`

	Flags []string `json:"flags,omitempty"`
}

// Message outcomes.
const (
	OutcomeAccepted = "accepted"
	OutcomeRejected = "rejected"
	OutcomeTempFail = "tempfail"
	OutcomeAborted  = "aborted"
	OutcomeUnknown  = "unknown"
)

// RR is one resource record from a DNS answer or additional section.
type RR struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	// Pref and Host are set for MX records; Host is also the target of a CNAME.
	Pref uint16 `json:"pref,omitempty"`
	Host string `json:"host,omitempty"`
	// Addr is set for A and AAAA records.
	Addr netip.Addr `json:"addr,omitzero"`
}

// DNS is one answered DNS query (or a response whose query was not seen).
type DNS struct {
	Kind    Kind   `json:"kind"`
	Version int    `json:"v"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor,omitempty"`

	// Time is the packet time of the response; QueryTime that of the query
	// (zero when the query was not seen).
	Time      time.Time `json:"time"`
	QueryTime time.Time `json:"query_time,omitzero"`

	Client    netip.AddrPort `json:"client"`
	Server    netip.AddrPort `json:"server"`
	VLANs     []uint16       `json:"vlan,omitempty"`
	Transport string         `json:"transport"` // "udp" or "tcp"

	TxID  uint16 `json:"txid"`
	QName string `json:"qname"` // lower case, no trailing dot
	QType string `json:"qtype"`
	RCode string `json:"rcode"`
	TC    bool   `json:"tc,omitempty"`
	EDNS  bool   `json:"edns,omitempty"`
	// Matched is true when the query was seen and paired with this response.
	Matched bool `json:"matched"`

	Answers    []RR `json:"answers,omitempty"`
	Additional []RR `json:"additional,omitempty"`
}

// EventKind implements Event.
func (*Session) EventKind() Kind { return KindSession }

// EventKind implements Event.
func (*Message) EventKind() Kind { return KindMessage }

// EventKind implements Event.
func (*DNS) EventKind() Kind { return KindDNS }

// ClientAddr implements Event.
func (s *Session) ClientAddr() netip.Addr { return s.Client.Addr() }

// ClientAddr implements Event.
func (m *Message) ClientAddr() netip.Addr { return m.Client.Addr() }

// ClientAddr implements Event.
func (d *DNS) ClientAddr() netip.Addr { return d.Client.Addr() }

var errNoID = errors.New("missing id")

func validateCommon(kind, want Kind, version int, id string, client, server netip.AddrPort) error {
	switch {
	case kind != want:
		return fmt.Errorf("kind %q, want %q", kind, want)
	case version != SchemaVersion:
		return fmt.Errorf("schema version %d, want %d", version, SchemaVersion)
	case id == "":
		return errNoID
	case !client.IsValid() || !server.IsValid():
		return fmt.Errorf("invalid endpoints %v -> %v", client, server)
	}
	return nil
}

// Validate implements Event.
func (s *Session) Validate() error {
	if err := validateCommon(s.Kind, KindSession, s.Version, s.ID, s.Client, s.Server); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if s.End.Before(s.Start) {
		return fmt.Errorf("session %s: end %v before start %v", s.ID, s.End, s.Start)
	}
	return nil
}

// Validate implements Event.
func (m *Message) Validate() error {
	if err := validateCommon(m.Kind, KindMessage, m.Version, m.ID, m.Client, m.Server); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	if m.Session == "" {
		return fmt.Errorf("message %s: no session id", m.ID)
	}
	return nil
}

// Validate implements Event.
func (d *DNS) Validate() error {
	if err := validateCommon(d.Kind, KindDNS, d.Version, d.ID, d.Client, d.Server); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if d.QType == "" {
		return fmt.Errorf("dns %s: no question type", d.ID)
	}
	return nil
}

// Counter is one named count of a pipeline stage ("tcp", "gaps"), with the
// bytes it covers where that applies. Stages report their health as
// counters, so that drops are never silent.
type Counter struct {
	Stage string `json:"stage"`
	Name  string `json:"name"`
	Count uint64 `json:"count"`
	Bytes uint64 `json:"bytes,omitempty"`
	// Drop marks counters of things that were lost or skipped.
	Drop bool `json:"drop,omitempty"`
}
