package event

import (
	"fmt"
	"net/netip"
	"time"
)

// The event kinds that detection adds.
const (
	KindFinding Kind = "finding"
	KindAlert   Kind = "alert"
)

// Class is the verdict on one outbound mail connection
// (../docs/DESIGN.md, "Classification").
type Class string

// The classes, in the order reports list them.
const (
	// ClassRelay: the server is a configured platform relay.
	ClassRelay Class = "relay"
	// ClassSubmission: a submission port (587, 465 or configured).
	ClassSubmission Class = "submission"
	// ClassExternalRelay25: port 25 to a server outside the platform that
	// the client authenticates to, or that is a known smarthost.
	ClassExternalRelay25 Class = "external-relay-25"
	// ClassDirectToMX: port 25 to an address that MX lookups name.
	ClassDirectToMX Class = "direct-to-mx"
	// ClassDirect25: port 25 elsewhere, no pairing, no AUTH.
	ClassDirect25 Class = "direct-25"
)

// Classes lists every class in report order.
var Classes = []Class{ClassRelay, ClassSubmission, ClassExternalRelay25, ClassDirectToMX, ClassDirect25}

// BlockedBy25 reports whether a block of outbound port 25 breaks mail of
// this class.
func (c Class) BlockedBy25() bool {
	return c == ClassExternalRelay25 || c == ClassDirectToMX || c == ClassDirect25
}

// Confidence grades how strong the evidence of a class is.
type Confidence string

// Confidence levels.
const (
	// ConfidenceHigh: configuration says so (relay, submission port,
	// smarthost), AUTH was seen, or the client's own MX lookup named the
	// address.
	ConfidenceHigh Confidence = "high"
	// ConfidenceMedium: another client's MX lookup named the address.
	ConfidenceMedium Confidence = "medium"
	// ConfidenceLow: the client looked up a guessed mail name (mail.D,
	// smtp.D, mx.D) that resolved to the address.
	ConfidenceLow Confidence = "low"
	// ConfidenceNone: nothing paired (direct-25).
	ConfidenceNone Confidence = "none"
)

// Pairing is the DNS evidence of a direct-to-MX verdict: the lookup that
// named the address the client connected to.
type Pairing struct {
	// By is "self" (the client's own lookup), "other" (another client's)
	// or "guess" (the client's A/AAAA lookup of mail.D, smtp.D or mx.D).
	By string `json:"by"`
	// Domain is the domain whose MX was looked up (the guessed domain for
	// "guess").
	Domain string `json:"domain"`
	// MXHost and MXPref are the MX record that led to the address.
	MXHost string `json:"mx_host"`
	MXPref uint16 `json:"mx_pref"`
	// LookupTime is the packet time of the DNS answer; Delay the time
	// from that answer to the connection's first packet.
	LookupTime time.Time     `json:"lookup_time"`
	Delay      time.Duration `json:"delay_ns"`
	// Resolver is the DNS server that answered; LookupClient the host that
	// asked (another host for "other").
	Resolver     netip.Addr `json:"resolver,omitzero"`
	LookupClient netip.Addr `json:"lookup_client,omitzero"`
	// Via says how the address was learnt: "additional" (glue in the MX
	// answer), "answer" (a later A/AAAA answer), "cname" (through a CNAME
	// chain).
	Via string `json:"via"`
}

// BlocklistHit is a server reply that a blocklist or provider signature
// matched.
type BlocklistHit struct {
	// Signature is the id of the matching signature.
	Signature string `json:"signature"`
	// List is the blocklist ("spamhaus-zen", "barracuda") or provider
	// ("gmail", "microsoft") the signature belongs to.
	List string `json:"list"`
	// Type is "blocklist" (an RBL/DNSBL listing) or "provider" (a mailbox
	// provider's reputation or policy rejection).
	Type string `json:"type"`
	// Reason is the signature's kind: "listed", "reputation",
	// "rate-limit", "policy", "authentication", ...
	Reason string `json:"reason"`
	// Code, Enhanced and Text are from the reply; Command is what it
	// answered.
	Code     int       `json:"code"`
	Enhanced string    `json:"enhanced,omitempty"`
	Command  string    `json:"cmd,omitempty"`
	Text     string    `json:"text"`
	Time     time.Time `json:"time"`
}

// Finding is the verdict on one outbound mail connection, with its
// evidence. There is exactly one per session event whose client is inside
// the platform networks; its ID is the session's ID.
type Finding struct {
	Kind    Kind   `json:"kind"`
	Version int    `json:"v"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor,omitempty"`

	// Start and End are the session's.
	Start  time.Time      `json:"start"`
	End    time.Time      `json:"end"`
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	VLANs  []uint16       `json:"vlan,omitempty"`

	Class      Class      `json:"class"`
	Confidence Confidence `json:"confidence"`
	// Reason is one line an analyst can read: why this class.
	Reason string `json:"reason"`
	// Pairing is set for direct-to-mx.
	Pairing *Pairing `json:"pairing,omitempty"`
	// ServerName is a name the client's lookups gave the server (MX host,
	// smarthost or relay name), if any.
	ServerName string `json:"server_name,omitempty"`

	Handshake Handshake `json:"handshake"`
	TLS       TLSMode   `json:"tls,omitempty"`
	Auth      bool      `json:"auth,omitempty"`
	Helo      string    `json:"helo,omitempty"`

	// Attribution from the inventory and configuration.
	Customer string     `json:"customer,omitempty"`
	Account  string     `json:"account,omitempty"`
	Cluster  string     `json:"cluster,omitempty"`
	Site     string     `json:"site,omitempty"`
	Egress   netip.Addr `json:"egress,omitzero"`

	// Scripts names what sent the mail, most specific first:
	// "php:/home/u/public_html/x.php", "x-mailer:PHPMailer 6.1",
	// "user-agent:...".
	Scripts []string `json:"scripts,omitempty"`
	// MessageIDHosts are the host parts of the messages' Message-Ids.
	MessageIDHosts []string `json:"message_id_hosts,omitempty"`
	// RelayBypass is true when mail on port 25 lacks the headers that only
	// the platform relay adds.
	RelayBypass bool `json:"relay_bypass,omitempty"`

	// Group is the destination group of the server ("gmail",
	// "microsoft", "other"); Sensitive whether that group is
	// blocklist-sensitive.
	Group     string `json:"group"`
	Sensitive bool   `json:"sensitive,omitempty"`

	// Messages counts mail transactions, by outcome; Recipients the RCPT
	// TO commands; RecipientDomains the distinct recipient domains.
	Messages         int      `json:"messages"`
	Accepted         int      `json:"accepted"`
	Rejected         int      `json:"rejected"`
	TempFailed       int      `json:"tempfailed"`
	Recipients       int      `json:"recipients"`
	RecipientDomains []string `json:"rcpt_domains,omitempty"`

	Blocklist []BlocklistHit `json:"blocklist,omitempty"`
}

// Severity grades an alert.
type Severity string

// Alert severities.
const (
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Alert reports a spike: traffic of one source towards one destination
// group in one window far above its learned baseline, or a burst of
// blocklist rejections.
type Alert struct {
	Kind    Kind   `json:"kind"`
	Version int    `json:"v"`
	ID      string `json:"id"`
	Sensor  string `json:"sensor,omitempty"`

	// Rule is "spike" (volume against baseline) or "rejections" (burst of
	// blocklist rejections).
	Rule string `json:"rule"`
	// Scope is what Source names: "host", "customer" or "egress".
	Scope  string `json:"scope"`
	Source string `json:"source"`
	// Host is the source host when Scope is "host" (the partition key).
	Host     netip.Addr `json:"host,omitzero"`
	Customer string     `json:"customer,omitempty"`
	Group    string     `json:"group"`
	// Metric is "messages", "connections" or "rejections".
	Metric string `json:"metric"`

	// WindowStart and Time bound the window (packet time); Window is its
	// length.
	WindowStart time.Time     `json:"window_start"`
	Time        time.Time     `json:"time"`
	Window      time.Duration `json:"window_ns"`
	Observed    float64       `json:"observed"`
	Baseline    float64       `json:"baseline"`
	// Threshold is the value the observation had to exceed.
	Threshold float64  `json:"threshold"`
	Severity  Severity `json:"severity"`
	Summary   string   `json:"summary"`

	// The top evidence in the window.
	TopScripts    []string `json:"top_scripts,omitempty"`
	TopDomains    []string `json:"top_domains,omitempty"`
	TopRejections []string `json:"top_rejections,omitempty"`
}

// EventKind implements Event.
func (*Finding) EventKind() Kind { return KindFinding }

// EventKind implements Event.
func (*Alert) EventKind() Kind { return KindAlert }

// ClientAddr implements Event.
func (f *Finding) ClientAddr() netip.Addr { return f.Client.Addr() }

// ClientAddr implements Event: the host for host alerts, the zero Addr
// (no key) for customer and egress alerts.
func (a *Alert) ClientAddr() netip.Addr { return a.Host }

// Validate implements Event.
func (f *Finding) Validate() error {
	if err := validateCommon(f.Kind, KindFinding, f.Version, f.ID, f.Client, f.Server); err != nil {
		return fmt.Errorf("finding: %w", err)
	}
	switch f.Class {
	case ClassRelay, ClassSubmission, ClassExternalRelay25, ClassDirectToMX, ClassDirect25:
	default:
		return fmt.Errorf("finding %s: unknown class %q", f.ID, f.Class)
	}
	if f.Class == ClassDirectToMX && f.Pairing == nil {
		return fmt.Errorf("finding %s: direct-to-mx without pairing", f.ID)
	}
	return nil
}

// Validate implements Event.
func (a *Alert) Validate() error {
	switch {
	case a.Kind != KindAlert:
		return fmt.Errorf("alert: kind %q, want %q", a.Kind, KindAlert)
	case a.Version != SchemaVersion:
		return fmt.Errorf("alert: schema version %d, want %d", a.Version, SchemaVersion)
	case a.ID == "":
		return fmt.Errorf("alert: %w", errNoID)
	case a.Rule == "" || a.Source == "" || a.Metric == "":
		return fmt.Errorf("alert %s: rule, source and metric are required", a.ID)
	case a.Time.Before(a.WindowStart):
		return fmt.Errorf("alert %s: window ends before it starts", a.ID)
	case a.Severity != SeverityWarning && a.Severity != SeverityCritical:
		return fmt.Errorf("alert %s: unknown severity %q", a.ID, a.Severity)
	}
	return nil
}
