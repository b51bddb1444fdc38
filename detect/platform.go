package detect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mxwatch/mxwatch/detect/inventory"
)

// PlatformConfig describes the hosting platform: its networks, relays,
// submission ports, the smarthosts its customers may use, and its egress
// NAT. These are the `platform.*` configuration keys.
type PlatformConfig struct {
	// Networks are the platform's client networks (CIDRs or addresses).
	// Only connections from inside them are classified; empty means every
	// client is inside (convenient for a capture of unknown origin).
	Networks []string `mapstructure:"networks"`
	// Relays are the platform's own mail relays: addresses, CIDRs or host
	// names. A connection to a relay, and a relay's own outbound mail, is
	// class relay. Names match the server's banner and the addresses DNS
	// answers give for them.
	Relays []string `mapstructure:"relays"`
	// SubmissionPorts are ports of mail submission (class submission).
	// Every mail port other than 25 that is not listed is treated as
	// submission too, since a port-25 block does not touch it.
	SubmissionPorts []uint16 `mapstructure:"submission_ports"`
	// Smarthosts are names of outside relays that customers may use
	// ("smtp.sendgrid.net", or "*.example.com" for any name below it). A
	// port-25 connection to an address looked up under such a name, or
	// whose banner names one, is class external-relay-25.
	Smarthosts []string `mapstructure:"smarthosts"`
	// RelayHeaders are header fields that only the platform relay adds
	// (cPanel/Exim: "X-AntiAbuse", "X-Get-Message-Sender-Via"). Port-25
	// mail whose headers are visible and lack all of them bypassed the
	// relay. Empty disables the check.
	RelayHeaders []string `mapstructure:"relay_headers"`
	// Egress maps internal networks to the public address blocklists see:
	// "10.20.0.0/16=203.0.113.10". Longest prefix wins.
	Egress []string `mapstructure:"egress"`
}

// DefaultSmarthosts are well-known outside relays and email services
// that customers send through with credentials.
var DefaultSmarthosts = []string{
	"smtp.sendgrid.net", "smtp.mailgun.org", "smtp.eu.mailgun.org", "*.amazonaws.com",
	"smtp.office365.com", "smtp-mail.outlook.com", "smtp.gmail.com", "smtp-relay.gmail.com",
	"smtp.sparkpostmail.com", "smtp.postmarkapp.com", "in-v3.mailjet.com", "smtp-relay.brevo.com",
	"smtp-relay.sendinblue.com", "smtp.mandrillapp.com", "smtp.zoho.com", "smtp.zoho.eu",
	"smtp.mail.yahoo.com", "mail.smtp2go.com", "smtp.socketlabs.com", "smtp.elasticemail.com",
}

// DefaultPlatformConfig returns the defaults: no networks (every client
// inside), no relays, submission on 587 and 465, the well-known
// smarthosts, cPanel's relay headers.
func DefaultPlatformConfig() PlatformConfig {
	return PlatformConfig{
		Networks:        []string{},
		Relays:          []string{},
		Egress:          []string{},
		SubmissionPorts: []uint16{587, 465},
		Smarthosts:      slices.Clone(DefaultSmarthosts),
		RelayHeaders:    []string{"X-AntiAbuse", "X-Get-Message-Sender-Via", "X-Authenticated-Sender"},
	}
}

// platform is the compiled PlatformConfig.
type platform struct {
	all        bool // no networks configured
	networks   inventory.Table[struct{}]
	relays     inventory.Table[struct{}]
	names      *nameMatcher
	submission map[uint16]bool
	headers    []string // lower case
	egress     inventory.Table[netip.Addr]
}

// Validate reports the first entry of c that cannot be used.
func (c PlatformConfig) Validate() error {
	_, err := compilePlatform(c)
	return err
}

func compilePlatform(c PlatformConfig) (*platform, error) {
	p := &platform{all: len(c.Networks) == 0, submission: make(map[uint16]bool), names: &nameMatcher{}}
	for _, s := range c.Networks {
		pfx, err := inventory.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("platform.networks: %w", err)
		}
		if err := p.networks.Insert(pfx, struct{}{}); err != nil {
			return nil, fmt.Errorf("platform.networks: %w", err)
		}
	}
	for _, s := range c.Relays {
		if pfx, err := inventory.ParsePrefix(s); err == nil {
			if err := p.relays.Insert(pfx, struct{}{}); err != nil {
				return nil, fmt.Errorf("platform.relays: %w", err)
			}
			continue
		}
		name := normHost(s)
		if !validName(name) {
			return nil, fmt.Errorf("platform.relays: %q is neither an address, a CIDR nor a host name", s)
		}
		p.names.add(name, nameRelay)
	}
	for _, port := range c.SubmissionPorts {
		if port == 0 || port == 25 {
			return nil, fmt.Errorf("platform.submission_ports: %d is not a submission port", port)
		}
		p.submission[port] = true
	}
	for _, s := range c.Smarthosts {
		name := normHost(s)
		if !validName(strings.TrimPrefix(name, "*.")) {
			return nil, fmt.Errorf("platform.smarthosts: %q is not a host name or *.domain pattern", s)
		}
		p.names.add(name, nameSmarthost)
	}
	for _, h := range c.RelayHeaders {
		h = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(h, ":")))
		if h == "" || strings.ContainsAny(h, " \t:") {
			return nil, fmt.Errorf("platform.relay_headers: %q is not a header name", h)
		}
		p.headers = append(p.headers, h)
	}
	for _, s := range c.Egress {
		from, to, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("platform.egress: %q: want CIDR=ADDRESS, e.g. 10.20.0.0/16=203.0.113.10", s)
		}
		pfx, err := inventory.ParsePrefix(strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("platform.egress: %q: %w", s, err)
		}
		addr, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return nil, fmt.Errorf("platform.egress: %q: %w", s, err)
		}
		if err := p.egress.Insert(pfx, addr.Unmap()); err != nil {
			return nil, fmt.Errorf("platform.egress: %w", err)
		}
	}
	return p, nil
}

func (p *platform) inside(a netip.Addr) bool {
	if p.all {
		return true
	}
	_, _, ok := p.networks.Lookup(a.Unmap())
	return ok
}

func (p *platform) isRelay(a netip.Addr) bool {
	_, _, ok := p.relays.Lookup(a.Unmap())
	return ok
}

func (p *platform) egressOf(a netip.Addr) netip.Addr {
	e, _, ok := p.egress.Lookup(a.Unmap())
	if !ok {
		return netip.Addr{}
	}
	return e
}

type nameKind uint8

const (
	nameNone nameKind = iota
	nameRelay
	nameSmarthost
)

// nameMatcher knows relay names and smarthost names and patterns.
type nameMatcher struct {
	exact    map[string]nameKind
	suffixes []suffix // "*.example.com" as ".example.com"
}

type suffix struct {
	s    string
	kind nameKind
}

func (n *nameMatcher) add(name string, k nameKind) {
	if s, ok := strings.CutPrefix(name, "*"); ok {
		n.suffixes = append(n.suffixes, suffix{s, k})
		return
	}
	if n.exact == nil {
		n.exact = make(map[string]nameKind)
	}
	if _, ok := n.exact[name]; !ok {
		n.exact[name] = k
	}
}

// kind reports what name is, by exact name first, then by pattern.
func (n *nameMatcher) kind(name string) nameKind {
	name = normHost(name)
	if k, ok := n.exact[name]; ok {
		return k
	}
	for _, s := range n.suffixes {
		if strings.HasSuffix(name, s.s) && len(name) > len(s.s) {
			return s.kind
		}
	}
	return nameNone
}

// normHost returns a host name in lower case without a trailing dot.
func normHost(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// validName accepts what looks like a DNS host name.
func validName(s string) bool {
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
