// Package detect owns the meaning of what the sensor saw: pairing of MX
// lookups with connections, classification, attribution, spike detection,
// and the in-memory aggregation that `mxwatch analyze` reports from.
//
// Everything here is a pure function of events and their packet
// timestamps: no I/O and no wall clock, so a replayed capture gives the
// same answer on every run.
package detect

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/mxwatch/mxwatch/event"
)

// SummaryConfig bounds the aggregation.
type SummaryConfig struct {
	// Top is how many rows each ranking keeps.
	Top int
	// Capacity is how many distinct keys (clients, domains, texts) each
	// ranking tracks; beyond it counts become estimates (flagged Exact=false).
	Capacity int
}

// DefaultSummaryConfig returns the defaults of `mxwatch analyze`.
func DefaultSummaryConfig() SummaryConfig {
	return SummaryConfig{Top: 10, Capacity: 10000}
}

// Summary is what `mxwatch analyze` reports about a capture.
type Summary struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`

	Sessions        uint64        `json:"sessions"`
	SessionsByPort  []PortOutcome `json:"sessions_by_port"`
	StartTLS        uint64        `json:"starttls"`
	ImplicitTLS     uint64        `json:"implicit_tls"`
	AuthSessions    uint64        `json:"auth_sessions"`
	SessionsWithGap uint64        `json:"sessions_with_gaps"`

	Messages          uint64      `json:"messages"`
	MessagesByOutcome []NameCount `json:"messages_by_outcome"`
	MessageBytes      uint64      `json:"message_bytes"`
	Recipients        uint64      `json:"recipients"`

	TopTalkers       []Talker    `json:"top_talkers"`
	TopDomains       []Domain    `json:"top_destination_domains"`
	TopRejections    []Rejection `json:"top_rejections"`
	DNSAnswers       uint64      `json:"dns_answers"`
	DNSByType        []NameCount `json:"dns_answers_by_type"`
	MXLookups        uint64      `json:"mx_lookups"`
	TopMXDomains     []MXDomain  `json:"top_mx_domains"`
	RankingsAreExact bool        `json:"rankings_exact"`

	// Counters are the pipeline's own counts: what each stage kept and
	// dropped, and why. Filled by the caller.
	Counters []event.Counter `json:"counters,omitempty"`
}

// PortOutcome counts sessions to one server port by handshake outcome.
type PortOutcome struct {
	Port     uint16      `json:"port"`
	Total    uint64      `json:"total"`
	Outcomes []NameCount `json:"outcomes"`
}

// NameCount is one row of a small breakdown.
type NameCount struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Talker is a client host ranked by its sessions.
type Talker struct {
	Client     netip.Addr `json:"client"`
	Sessions   uint64     `json:"sessions"`
	Messages   uint64     `json:"messages"`
	Recipients uint64     `json:"recipients"`
}

// Domain is a recipient domain ranked by recipients.
type Domain struct {
	Domain     string `json:"domain"`
	Recipients uint64 `json:"recipients"`
}

// Rejection is a 4xx/5xx reply text ranked by how often it was seen.
type Rejection struct {
	Command  string `json:"cmd"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text"`
	Count    uint64 `json:"count"`
}

// MXDomain is a domain whose MX records were looked up.
type MXDomain struct {
	Domain  string   `json:"domain"`
	Lookups uint64   `json:"lookups"`
	Hosts   []string `json:"hosts,omitempty"`
}

type rejectionKey struct {
	cmd      string
	code     int
	enhanced string
	text     string
}

// Aggregator builds a Summary from a stream of events in bounded memory.
// It is not safe for concurrent use.
type Aggregator struct {
	cfg      SummaryConfig
	s        Summary
	ports    map[uint16]map[event.Handshake]uint64
	outcomes map[string]uint64
	dnsTypes map[string]uint64
	talkers  *topK[netip.Addr]
	domains  *topK[string]
	rejects  *topK[rejectionKey]
	mx       *topK[string]
	mxHosts  map[string][]string // for the tracked MX domains only
}

// maxMXHosts bounds the MX host names remembered per domain.
const maxMXHosts = 8

// maxPorts bounds the distinct server ports broken down; more are folded
// into port 0.
const maxPorts = 64

// NewAggregator returns an empty aggregator.
func NewAggregator(cfg SummaryConfig) *Aggregator {
	if cfg.Top <= 0 {
		cfg.Top = DefaultSummaryConfig().Top
	}
	if cfg.Capacity < cfg.Top {
		cfg.Capacity = max(cfg.Top, DefaultSummaryConfig().Capacity)
	}
	return &Aggregator{
		cfg:      cfg,
		ports:    make(map[uint16]map[event.Handshake]uint64),
		outcomes: make(map[string]uint64),
		dnsTypes: make(map[string]uint64),
		talkers:  newTopK[netip.Addr](cfg.Capacity),
		domains:  newTopK[string](cfg.Capacity),
		rejects:  newTopK[rejectionKey](cfg.Capacity),
		mx:       newTopK[string](cfg.Capacity),
		mxHosts:  make(map[string][]string),
	}
}

func (a *Aggregator) seen(t time.Time) {
	if t.IsZero() {
		return
	}
	if a.s.First.IsZero() || t.Before(a.s.First) {
		a.s.First = t
	}
	if t.After(a.s.Last) {
		a.s.Last = t
	}
}

// Add accounts for one event.
func (a *Aggregator) Add(ev event.Event) {
	switch ev := ev.(type) {
	case *event.Session:
		a.session(ev)
	case *event.Message:
		a.message(ev)
	case *event.DNS:
		a.dns(ev)
	}
}

func (a *Aggregator) session(s *event.Session) {
	a.seen(s.Start)
	a.seen(s.End)
	a.s.Sessions++
	port := s.Server.Port()
	if _, ok := a.ports[port]; !ok && len(a.ports) >= maxPorts {
		port = 0
	}
	m := a.ports[port]
	if m == nil {
		m = make(map[event.Handshake]uint64)
		a.ports[port] = m
	}
	m[s.Handshake]++
	switch s.TLS {
	case event.TLSStartTLS:
		a.s.StartTLS++
	case event.TLSImplicit:
		a.s.ImplicitTLS++
	}
	if s.Auth != nil {
		a.s.AuthSessions++
	}
	if s.Gaps > 0 {
		a.s.SessionsWithGap++
	}
	a.talkers.add(s.Client.Addr(), 1)
	for _, r := range s.Replies {
		if r.Code >= 400 && r.Code < 600 {
			a.rejects.add(rejectionKey{r.Command, r.Code, r.Enhanced, firstLine(r.Text, 200)}, 1)
		}
	}
}

func (a *Aggregator) message(m *event.Message) {
	a.seen(m.Start)
	a.s.Messages++
	a.outcomes[m.Outcome]++
	a.s.MessageBytes += uint64(max(m.Size, 0))
	n := uint64(len(m.Recipients) + m.RecipientsDropped)
	a.s.Recipients += n
	e := a.talkers.add(m.Client.Addr(), 0)
	e.aux[0]++
	e.aux[1] += n
	for _, r := range m.Recipients {
		if d := domainOf(r.Addr); d != "" {
			a.domains.add(d, 1)
		}
	}
}

func (a *Aggregator) dns(d *event.DNS) {
	a.seen(d.Time)
	a.s.DNSAnswers++
	a.dnsTypes[d.QType]++
	if d.QType != "MX" {
		return
	}
	a.s.MXLookups++
	a.mx.add(d.QName, 1)
	hosts := a.mxHosts[d.QName]
	for _, rr := range d.Answers {
		if rr.Type == "MX" && len(hosts) < maxMXHosts && !slices.Contains(hosts, rr.Host) {
			hosts = append(hosts, rr.Host)
		}
	}
	if len(hosts) > 0 {
		a.mxHosts[d.QName] = hosts
	}
	if len(a.mxHosts) > 2*a.cfg.Capacity { // forget hosts of domains no longer tracked
		for k := range a.mxHosts {
			if _, ok := a.mx.index[k]; !ok {
				delete(a.mxHosts, k)
			}
		}
	}
}

// Summary returns the aggregate so far. counters are attached unchanged.
func (a *Aggregator) Summary(counters []event.Counter) Summary {
	s := a.s
	s.Counters = counters
	s.SessionsByPort = nil
	for port, m := range a.ports {
		po := PortOutcome{Port: port, Outcomes: sortedCounts(m)}
		for _, n := range m {
			po.Total += n
		}
		s.SessionsByPort = append(s.SessionsByPort, po)
	}
	slices.SortFunc(s.SessionsByPort, func(x, y PortOutcome) int { return cmp.Compare(x.Port, y.Port) })
	s.MessagesByOutcome = sortedCounts(a.outcomes)
	s.DNSByType = sortedCounts(a.dnsTypes)

	s.TopTalkers = nil
	for _, e := range a.talkers.top(a.cfg.Top, netip.Addr.Compare) {
		s.TopTalkers = append(s.TopTalkers, Talker{Client: e.key, Sessions: e.count, Messages: e.aux[0], Recipients: e.aux[1]})
	}
	s.TopDomains = nil
	for _, e := range a.domains.top(a.cfg.Top, strings.Compare) {
		s.TopDomains = append(s.TopDomains, Domain{Domain: e.key, Recipients: e.count})
	}
	s.TopRejections = nil
	for _, e := range a.rejects.top(a.cfg.Top, compareRejection) {
		k := e.key
		s.TopRejections = append(s.TopRejections, Rejection{Command: k.cmd, Code: k.code, Enhanced: k.enhanced, Text: k.text, Count: e.count})
	}
	s.TopMXDomains = nil
	for _, e := range a.mx.top(a.cfg.Top, strings.Compare) {
		s.TopMXDomains = append(s.TopMXDomains, MXDomain{Domain: e.key, Lookups: e.count, Hosts: a.mxHosts[e.key]})
	}
	s.RankingsAreExact = a.talkers.exact() && a.domains.exact() && a.rejects.exact() && a.mx.exact()
	return s
}

func compareRejection(x, y rejectionKey) int {
	return cmp.Or(cmp.Compare(x.code, y.code), strings.Compare(x.cmd, y.cmd),
		strings.Compare(x.enhanced, y.enhanced), strings.Compare(x.text, y.text))
}

// sortedCounts turns a map into rows, largest first, then by name.
func sortedCounts[K ~string](m map[K]uint64) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, v := range m {
		name := string(k)
		if name == "" {
			name = "none"
		}
		out = append(out, NameCount{Name: name, Count: v})
	}
	slices.SortFunc(out, func(x, y NameCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.Name, y.Name))
	})
	return out
}

// domainOf returns the lower-cased domain of a mailbox address, or "".
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 || i == len(addr)-1 {
		return ""
	}
	return strings.ToLower(strings.TrimRight(addr[i+1:], ">. "))
}

// firstLine returns the first line of s, cut to n bytes, with anything
// that is not printable replaced by '.', so that hostile reply texts cannot
// mess up a terminal.
func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	s = strings.ToValidUTF8(s, ".")
	s = strings.Map(func(r rune) rune {
		if unicode.IsGraphic(r) {
			return r
		}
		return '.'
	}, s)
	if cut {
		s += "..."
	}
	return s
}
