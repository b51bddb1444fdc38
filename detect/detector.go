package detect

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxwatch/mxwatch/detect/inventory"
	"github.com/mxwatch/mxwatch/detect/replysig"
	"github.com/mxwatch/mxwatch/detect/spike"
	"github.com/mxwatch/mxwatch/event"
)

// Config configures a Detector.
type Config struct {
	Platform PlatformConfig
	Pairing  PairingConfig
	Spike    spike.Config
	// MaxOpenSessions bounds the sessions whose messages are held until
	// the session event arrives; the oldest are dropped beyond it, and
	// counted.
	MaxOpenSessions int
	// Sensor is copied into findings and alerts.
	Sensor string
}

// DefaultConfig returns the defaults of the example configuration.
func DefaultConfig() Config {
	return Config{
		Platform:        DefaultPlatformConfig(),
		Pairing:         DefaultPairingConfig(),
		Spike:           spike.DefaultConfig(),
		MaxOpenSessions: 100_000,
	}
}

// Tables are the data a Detector matches against. Nil fields get the
// embedded defaults (signatures, groups) or nothing (inventory).
type Tables struct {
	Signatures *replysig.Table
	Groups     *replysig.Groups
	Inventory  *inventory.Inventory
}

// Stats counts what the detector did and skipped.
type Stats struct {
	Findings        uint64
	ByClass         map[event.Class]uint64
	NotPlatform     uint64 // sessions from clients outside the platform networks
	MessagesOrphan  uint64 // messages whose session was dropped or never came
	SessionsDropped uint64 // open sessions dropped by MaxOpenSessions
	BlocklistHits   uint64
	Alerts          uint64
	Pairing         PairingStats
	Spike           spike.Stats
}

// Limits on what a finding carries.
const (
	maxScripts    = 8
	maxMsgIDHosts = 8
	maxRcptDoms   = 16
	maxHits       = 8
)

// sessionInfo is what the messages of an open session told.
type sessionInfo struct {
	messages, accepted, rejected, tempfailed, recipients int
	domains, scripts, msgIDHosts                         []string
	account                                              string
	headersSeen, relayHeader                             bool
}

// Detector turns the events of the capture layer into findings (one per
// outbound mail connection) and alerts. It is a pure function of the
// events and their packet times. Add and Flush must be called from one
// goroutine; SetInventory may be called from any.
type Detector struct {
	cfg      Config
	platform *platform
	mem      *Memory
	sigs     *replysig.Table
	groups   *replysig.Groups
	inv      atomic.Pointer[inventory.Inventory]
	spike    *spike.Detector

	open      map[string]*sessionInfo
	openOrder []string // session ids in arrival order, for the bound
	openHead  int

	alerts []*event.Alert
	stats  Stats
}

// New returns a Detector.
func New(cfg Config, t Tables) (*Detector, error) {
	p, err := compilePlatform(cfg.Platform)
	if err != nil {
		return nil, err
	}
	mem, err := NewMemory(cfg.Pairing, p.names)
	if err != nil {
		return nil, err
	}
	if cfg.MaxOpenSessions < 1 {
		return nil, fmt.Errorf("detect: max open sessions must be at least 1 (got %d)", cfg.MaxOpenSessions)
	}
	sc := cfg.Spike
	sc.Sensor = cfg.Sensor
	sp, err := spike.New(sc)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	d := &Detector{
		cfg: cfg, platform: p, mem: mem, sigs: t.Signatures, groups: t.Groups, spike: sp,
		open:  make(map[string]*sessionInfo),
		stats: Stats{ByClass: make(map[event.Class]uint64)},
	}
	if d.sigs == nil {
		d.sigs = replysig.Default()
	}
	if d.groups == nil {
		d.groups = replysig.DefaultGroups()
	}
	if t.Inventory != nil {
		d.inv.Store(t.Inventory)
	}
	return d, nil
}

// SetInventory replaces the inventory (hot reload); safe for concurrent
// use with Add.
func (d *Detector) SetInventory(inv *inventory.Inventory) { d.inv.Store(inv) }

// Reconfigure replaces the platform description and the reply tables
// while the detector runs (a configuration reload): connections that end
// from now on are classified with them. The pairing memory, open sessions
// and alert windows are kept; addresses learnt under names that are no
// longer relays or smarthosts stop counting as such at once, while names
// newly configured are learnt from the next answers that carry them.
// Nil tables keep the current ones (t.Inventory too). It must be called
// from the goroutine that calls Add; on error nothing changes.
func (d *Detector) Reconfigure(p PlatformConfig, t Tables) error {
	plat, err := compilePlatform(p)
	if err != nil {
		return err
	}
	d.cfg.Platform = p
	d.platform = plat
	d.mem.names = plat.names
	if t.Signatures != nil {
		d.sigs = t.Signatures
	}
	if t.Groups != nil {
		d.groups = t.Groups
	}
	if t.Inventory != nil {
		d.inv.Store(t.Inventory)
	}
	return nil
}

// Stats returns the counters.
func (d *Detector) Stats() Stats {
	s := d.stats
	s.ByClass = make(map[event.Class]uint64, len(d.stats.ByClass))
	for k, v := range d.stats.ByClass {
		s.ByClass[k] = v
	}
	s.Pairing = d.mem.Stats()
	s.Spike = d.spike.Stats()
	return s
}

// Add consumes one event and emits the findings and alerts it completes.
// Events must come in the order the capture layer emits them: DNS
// answers as they are seen, messages before their session.
func (d *Detector) Add(ev event.Event, emit func(event.Event)) {
	switch e := ev.(type) {
	case *event.DNS:
		d.mem.Add(e)
		d.advance(e.Time, emit)
	case *event.Message:
		d.addMessage(e)
		d.advance(e.End, emit)
	case *event.Session:
		f := d.classify(e)
		delete(d.open, e.ID)
		if f == nil {
			d.advance(e.End, emit)
			return
		}
		emit(f)
		d.alerts = d.spike.Observe(d.observation(f), d.alerts[:0])
		d.emitAlerts(emit)
		d.advance(e.End, emit)
	}
}

// Flush ends the input: partial windows are evaluated.
func (d *Detector) Flush(emit func(event.Event)) {
	for _, si := range d.open {
		d.stats.MessagesOrphan += uint64(si.messages)
	}
	clear(d.open)
	d.openOrder, d.openHead = nil, 0
	d.alerts = d.spike.Flush(d.alerts[:0])
	d.emitAlerts(emit)
}

func (d *Detector) advance(t time.Time, emit func(event.Event)) {
	if t.IsZero() {
		return
	}
	d.alerts = d.spike.Advance(t, d.alerts[:0])
	d.emitAlerts(emit)
}

func (d *Detector) emitAlerts(emit func(event.Event)) {
	for _, a := range d.alerts {
		d.stats.Alerts++
		emit(a)
	}
	clear(d.alerts)
	d.alerts = d.alerts[:0]
}

// addMessage folds a message into its open session.
func (d *Detector) addMessage(m *event.Message) {
	si, ok := d.open[m.Session]
	if !ok {
		si = &sessionInfo{}
		d.open[m.Session] = si
		d.openOrder = append(d.openOrder, m.Session)
		d.boundOpen()
	}
	si.messages++
	switch m.Outcome {
	case event.OutcomeAccepted:
		si.accepted++
	case event.OutcomeRejected:
		si.rejected++
	case event.OutcomeTempFail:
		si.tempfailed++
	}
	si.recipients += len(m.Recipients) + m.RecipientsDropped
	for _, r := range m.Recipients {
		if _, dom, ok := strings.Cut(r.Addr, "@"); ok && dom != "" {
			si.domains = addBounded(si.domains, strings.ToLower(dom), maxRcptDoms)
		}
	}
	inv := d.inv.Load()
	if m.PHPScriptPath != "" {
		s := "php:" + m.PHPScriptPath
		if m.PHPScriptUID != "" {
			s += " (uid " + m.PHPScriptUID + ")"
			if inv != nil && si.account == "" {
				if acct, ok := inv.AccountForUID(m.Client.Addr().Unmap(), m.PHPScriptUID); ok {
					si.account = acct
				}
			}
		}
		si.scripts = addBounded(si.scripts, s, maxScripts)
	}
	if m.PHPScript != "" {
		si.scripts = addBounded(si.scripts, "x-php-script:"+m.PHPScript, maxScripts)
	}
	if m.XMailer != "" {
		si.scripts = addBounded(si.scripts, "x-mailer:"+m.XMailer, maxScripts)
	}
	if m.UserAgent != "" {
		si.scripts = addBounded(si.scripts, "user-agent:"+m.UserAgent, maxScripts)
	}
	if m.MessageIDHost != "" {
		si.msgIDHosts = addBounded(si.msgIDHosts, m.MessageIDHost, maxMsgIDHosts)
	}
	if len(m.HeaderNames) > 0 {
		si.headersSeen = true
		for _, h := range d.platform.headers {
			if slices.Contains(m.HeaderNames, h) {
				si.relayHeader = true
			}
		}
	}
}

// boundOpen drops the oldest open sessions beyond MaxOpenSessions.
func (d *Detector) boundOpen() {
	for len(d.open) > d.cfg.MaxOpenSessions && d.openHead < len(d.openOrder) {
		id := d.openOrder[d.openHead]
		d.openOrder[d.openHead] = ""
		d.openHead++
		if si, ok := d.open[id]; ok {
			delete(d.open, id)
			d.stats.SessionsDropped++
			d.stats.MessagesOrphan += uint64(si.messages)
		}
	}
	if d.openHead > 1024 && d.openHead*2 > len(d.openOrder) {
		n := copy(d.openOrder, d.openOrder[d.openHead:])
		d.openOrder = d.openOrder[:n]
		d.openHead = 0
	}
}

func addBounded(list []string, s string, n int) []string {
	if len(list) >= n || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// classify makes the finding of a session, or returns nil for a client
// outside the platform.
func (d *Detector) classify(s *event.Session) *event.Finding {
	client, server := s.Client.Addr().Unmap(), s.Server.Addr().Unmap()
	if !d.platform.inside(client) {
		d.stats.NotPlatform++
		return nil
	}
	f := &event.Finding{
		Kind: event.KindFinding, Version: event.SchemaVersion, ID: s.ID, Sensor: s.Sensor,
		Start: s.Start, End: s.End, Client: s.Client, Server: s.Server, VLANs: s.VLANs,
		Handshake: s.Handshake, TLS: s.TLS, Auth: s.Auth != nil, Helo: s.Helo,
	}
	d.decide(f, s, client, server)
	d.attribute(f, client)
	if si := d.open[s.ID]; si != nil {
		f.Messages, f.Accepted, f.Rejected, f.TempFailed = si.messages, si.accepted, si.rejected, si.tempfailed
		f.Recipients, f.RecipientDomains = si.recipients, si.domains
		f.Scripts, f.MessageIDHosts = si.scripts, si.msgIDHosts
		if si.account != "" && f.Account == "" {
			f.Account = si.account
		}
		f.RelayBypass = f.Class.BlockedBy25() && len(d.platform.headers) > 0 && si.headersSeen && !si.relayHeader
	}
	for _, r := range s.Replies {
		if r.Code < 400 || len(f.Blocklist) == maxHits {
			continue
		}
		sig, ok := d.sigs.Match(r.Code, r.Enhanced, r.Text)
		if !ok {
			continue
		}
		d.stats.BlocklistHits++
		f.Blocklist = append(f.Blocklist, event.BlocklistHit{
			Signature: sig.ID, List: sig.List, Type: sig.Type, Reason: sig.Kind,
			Code: r.Code, Enhanced: r.Enhanced, Command: r.Command, Text: r.Text, Time: r.Time,
		})
	}
	// The group comes from the MX host the client looked up, else from a
	// name of the server (relay, smarthost, greeting), else from the
	// recipients' domain.
	mxHost, domain := cmp.Or(f.ServerName, normHost(s.Banner)), ""
	if f.Pairing != nil {
		mxHost, domain = f.Pairing.MXHost, f.Pairing.Domain
	} else if len(f.RecipientDomains) > 0 {
		domain = f.RecipientDomains[0]
	}
	f.Group, f.Sensitive = d.groups.Classify(mxHost, domain)
	d.stats.Findings++
	d.stats.ByClass[f.Class]++
	return f
}

// decide sets the class, confidence, reason and pairing.
func (d *Detector) decide(f *event.Finding, s *event.Session, client, server netip.Addr) {
	port := s.Server.Port()
	banner := normHost(s.Banner)
	named, _ := d.mem.Named(server, s.Start)
	switch {
	case d.platform.isRelay(client):
		f.Class, f.Confidence = event.ClassRelay, event.ConfidenceHigh
		f.Reason = "the client is a platform relay"
	case d.platform.isRelay(server):
		f.Class, f.Confidence = event.ClassRelay, event.ConfidenceHigh
		f.Reason = fmt.Sprintf("%v is a configured platform relay", server)
	case named != "" && d.platform.names.kind(named) == nameRelay:
		f.Class, f.Confidence, f.ServerName = event.ClassRelay, event.ConfidenceHigh, named
		f.Reason = fmt.Sprintf("%v is an address of the relay %s", server, named)
	case banner != "" && d.platform.names.kind(banner) == nameRelay:
		f.Class, f.Confidence, f.ServerName = event.ClassRelay, event.ConfidenceMedium, banner
		f.Reason = fmt.Sprintf("the server greets as the relay %s", banner)
	case port != 25:
		f.Class, f.Confidence = event.ClassSubmission, event.ConfidenceHigh
		if d.platform.submission[port] {
			f.Reason = fmt.Sprintf("port %d is a submission port", port)
		} else {
			f.Reason = fmt.Sprintf("port %d is not 25: a port-25 block does not touch it", port)
		}
	case s.Auth != nil:
		f.Class, f.Confidence = event.ClassExternalRelay25, event.ConfidenceHigh
		f.ServerName = cmp.Or(named, banner)
		f.Reason = fmt.Sprintf("AUTH %s on port 25 to a server outside the platform", s.Auth.Mechanism)
	case named != "" && d.platform.names.kind(named) == nameSmarthost:
		f.Class, f.Confidence, f.ServerName = event.ClassExternalRelay25, event.ConfidenceHigh, named
		f.Reason = fmt.Sprintf("%v is an address of the smarthost %s", server, named)
	case banner != "" && d.platform.names.kind(banner) == nameSmarthost:
		f.Class, f.Confidence, f.ServerName = event.ClassExternalRelay25, event.ConfidenceMedium, banner
		f.Reason = fmt.Sprintf("the server greets as the smarthost %s", banner)
	default:
		if m, ok := d.mem.Pair(client, server, s.Start); ok {
			f.Class, f.Confidence, f.Pairing = event.ClassDirectToMX, m.Confidence, m.Pairing
			f.ServerName = m.Pairing.MXHost
			p := m.Pairing
			switch p.By {
			case bySelf:
				f.Reason = fmt.Sprintf("MX of %s is %s (pref %d); this host looked it up %s before connecting", p.Domain, p.MXHost, p.MXPref, roundDelay(p.Delay))
			case byOther:
				f.Reason = fmt.Sprintf("%v is the MX %s of %s, as looked up by %v %s before", server, p.MXHost, p.Domain, p.LookupClient, roundDelay(p.Delay))
			default:
				f.Reason = fmt.Sprintf("this host resolved the guessed mail name %s %s before connecting", p.MXHost, roundDelay(p.Delay))
			}
			return
		}
		f.Class, f.Confidence = event.ClassDirect25, event.ConfidenceNone
		f.Reason = "port 25 to a server outside the platform; no MX lookup, AUTH or smarthost name pairs with it"
	}
}

func roundDelay(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// attribute adds customer and egress.
func (d *Detector) attribute(f *event.Finding, client netip.Addr) {
	if inv := d.inv.Load(); inv != nil {
		if e, ok := inv.Lookup(client); ok {
			f.Customer, f.Account, f.Cluster, f.Site = e.Customer, e.Account, e.Cluster, e.Site
		}
	}
	f.Egress = d.platform.egressOf(client)
}

// observation is what the spike detector sees of a finding.
func (d *Detector) observation(f *event.Finding) spike.Observation {
	// The session's end, not its start: the event arrives then, and the
	// spike detector's clock has moved there already (a session longer
	// than a window would otherwise count as late).
	o := spike.Observation{
		Time: f.End, Host: f.Client.Addr().Unmap(), Customer: f.Customer, Egress: f.Egress,
		Group: f.Group, Sensitive: f.Sensitive, Connections: 1, Messages: f.Messages,
		Rejections: len(f.Blocklist), Scripts: f.Scripts, Domains: f.RecipientDomains,
	}
	if f.Pairing != nil && len(o.Domains) == 0 {
		o.Domains = []string{f.Pairing.Domain}
	}
	for _, h := range f.Blocklist {
		o.RejectionLists = append(o.RejectionLists, h.List)
	}
	return o
}

// Counters reports the detector's counts for the summary.
func (d *Detector) Counters() []event.Counter {
	s := d.Stats()
	out := []event.Counter{
		{Stage: "detect", Name: "findings", Count: s.Findings},
		{Stage: "detect", Name: "not_platform", Count: s.NotPlatform},
		{Stage: "detect", Name: "blocklist_hits", Count: s.BlocklistHits},
		{Stage: "detect", Name: "alerts", Count: s.Alerts},
		{Stage: "detect", Name: "messages_without_session", Count: s.MessagesOrphan, Drop: true},
		{Stage: "detect", Name: "open_sessions_dropped", Count: s.SessionsDropped, Drop: true},
		{Stage: "pairing", Name: "dns_answers", Count: s.Pairing.Answers},
		{Stage: "pairing", Name: "mx_hosts", Count: s.Pairing.MXHosts},
		{Stage: "pairing", Name: "addresses", Count: s.Pairing.Addresses},
		{Stage: "pairing", Name: "expired", Count: s.Pairing.Expired},
		{Stage: "pairing", Name: "evicted", Count: s.Pairing.Evicted, Drop: true},
		{Stage: "alerts", Name: "observations", Count: s.Spike.Observations},
		{Stage: "alerts", Name: "late", Count: s.Spike.Late, Drop: true},
		{Stage: "alerts", Name: "keys_evicted", Count: s.Spike.Evicted, Drop: true},
		{Stage: "alerts", Name: "invalid", Count: s.Spike.Invalid, Drop: true},
		{Stage: "alerts", Name: "evidence_dropped", Count: s.Spike.EvidenceDropped, Drop: true},
		{Stage: "alerts", Name: "evidence_truncated", Count: s.Spike.Truncated},
	}
	for _, c := range event.Classes {
		out = append(out, event.Counter{Stage: "detect", Name: "class_" + string(c), Count: s.ByClass[c]})
	}
	return out
}
