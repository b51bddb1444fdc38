package detect

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// ReportConfig bounds the abuse report.
type ReportConfig struct {
	// Top is how many sources, scripts, domains ... each list shows.
	Top int
	// MaxSources bounds the hosts tracked one by one; findings of hosts
	// beyond it still count in the totals.
	MaxSources int
	// SourcesTop is how many sources Report lists; zero means Top.
	SourcesTop int
}

// DefaultReportConfig returns the defaults of `mxwatch analyze`.
func DefaultReportConfig() ReportConfig { return ReportConfig{Top: 10, MaxSources: 50_000} }

// Report is the abuse view of a capture: who sends mail how, what
// evidence there is, and who a port-25 block would affect.
type Report struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`

	Connections uint64       `json:"connections"`
	Messages    uint64       `json:"messages"`
	ByClass     []ClassCount `json:"by_class"`
	// Sources lists hosts, those a port-25 block affects first (worst
	// class first), then by messages.
	Sources []Source `json:"sources"`
	// SourcesTotal counts distinct hosts; SourcesUntracked those beyond
	// MaxSources (counted in totals, not listed).
	SourcesTotal     int `json:"sources_total"`
	SourcesUntracked int `json:"sources_untracked,omitempty"`

	Blocklist []NameCount `json:"blocklist_by_list"`
	Alerts    []AlertLine `json:"alerts"`
	AlertsAll int         `json:"alerts_total"`

	Impact Impact `json:"impact"`
}

// ClassCount counts connections, messages and hosts of one class.
type ClassCount struct {
	Class       event.Class `json:"class"`
	Connections uint64      `json:"connections"`
	Messages    uint64      `json:"messages"`
	Hosts       int         `json:"hosts,omitempty"`
}

// Source is one host of the platform.
type Source struct {
	Host     netip.Addr `json:"host"`
	Customer string     `json:"customer,omitempty"`
	Account  string     `json:"account,omitempty"`
	Cluster  string     `json:"cluster,omitempty"`
	Site     string     `json:"site,omitempty"`
	Egress   netip.Addr `json:"egress,omitzero"`

	First time.Time `json:"first_seen"`
	Last  time.Time `json:"last_seen"`

	// Class is the worst class of the host's connections (the one that
	// decides its action).
	Class       event.Class  `json:"class"`
	ByClass     []ClassCount `json:"by_class"`
	Connections uint64       `json:"connections"`
	Blocked     uint64       `json:"connects_not_completed"`
	Messages    uint64       `json:"messages"`
	Accepted    uint64       `json:"accepted"`
	Rejected    uint64       `json:"rejected"`
	TempFailed  uint64       `json:"tempfailed"`

	Scripts        []NameCount `json:"scripts,omitempty"`
	Helos          []NameCount `json:"helos,omitempty"`
	MessageIDHosts []NameCount `json:"message_id_hosts,omitempty"`
	RelayBypass    uint64      `json:"relay_bypass,omitempty"`

	// Direct-to-MX evidence.
	MXDomains    []NameCount   `json:"mx_domains,omitempty"`
	MXHosts      []NameCount   `json:"mx_hosts,omitempty"`
	DelayMin     time.Duration `json:"lookup_delay_min_ns,omitempty"`
	DelayMax     time.Duration `json:"lookup_delay_max_ns,omitempty"`
	ByConfidence []NameCount   `json:"by_confidence,omitempty"`
	// Providers are the servers of external relays on port 25.
	Providers []NameCount `json:"providers,omitempty"`
	Groups    []NameCount `json:"destination_groups,omitempty"`

	Blocklist []NameCount `json:"blocklist,omitempty"`
	Alerts    int         `json:"alerts,omitempty"`

	LikelySpam bool   `json:"likely_spam"`
	Action     string `json:"action"`
}

// AlertLine is one alert in the report.
type AlertLine struct {
	Time     time.Time      `json:"time"`
	Severity event.Severity `json:"severity"`
	Rule     string         `json:"rule"`
	Summary  string         `json:"summary"`
}

// Impact says who a block of outbound port 25 would affect.
type Impact struct {
	Hosts     int `json:"hosts"`
	Customers int `json:"customers"`
	// Messages is the mail of affected hosts on port 25, of Total mail
	// seen; Share is Messages/Total.
	Messages uint64  `json:"messages"`
	Total    uint64  `json:"total_messages"`
	Share    float64 `json:"share"`
	// LikelySpam counts affected hosts that look compromised: direct-to-MX,
	// blocklist rejections or alerts.
	LikelySpam int          `json:"likely_spam_hosts"`
	ByClass    []ClassCount `json:"by_class"`
}

type classAgg struct{ conns, msgs uint64 }

type sourceAgg struct {
	src                                     Source
	classes                                 map[event.Class]*classAgg
	scripts, helos, msgIDs, mxDoms, mxHosts map[string]uint64
	conf, providers, groups, lists          map[string]uint64
	delaySet                                bool
}

// Reporter aggregates findings and alerts into a Report. Memory is
// bounded by MaxSources and by the bounds on each finding.
type Reporter struct {
	cfg        ReportConfig
	first      time.Time
	last       time.Time
	conns      uint64
	msgs       uint64
	byClass    map[event.Class]*classAgg
	hostClass  map[event.Class]int
	sources    map[netip.Addr]*sourceAgg
	untracked  map[netip.Addr]struct{} // bounded like sources; beyond, only counted
	overflow   int
	lists      map[string]uint64
	alerts     []AlertLine
	alertsAll  int
	hostAlerts map[netip.Addr]int // bounded like sources
}

// NewReporter returns an empty Reporter.
func NewReporter(cfg ReportConfig) *Reporter {
	if cfg.Top < 1 {
		cfg.Top = DefaultReportConfig().Top
	}
	if cfg.MaxSources < 1 {
		cfg.MaxSources = DefaultReportConfig().MaxSources
	}
	return &Reporter{
		cfg: cfg, byClass: make(map[event.Class]*classAgg), hostClass: make(map[event.Class]int),
		sources: make(map[netip.Addr]*sourceAgg), untracked: make(map[netip.Addr]struct{}), lists: make(map[string]uint64),
		hostAlerts: make(map[netip.Addr]int),
	}
}

// Add takes findings and alerts; other events are ignored.
func (r *Reporter) Add(ev event.Event) {
	switch e := ev.(type) {
	case *event.Finding:
		r.finding(e)
	case *event.Alert:
		r.alertsAll++
		if len(r.alerts) < 1000 {
			r.alerts = append(r.alerts, AlertLine{Time: e.Time, Severity: e.Severity, Rule: e.Rule, Summary: e.Summary})
		}
		// Counted apart from the sources, so that an alert counts for its
		// host whether it comes before or after the host's findings.
		if h := e.Host.Unmap(); h.IsValid() && (len(r.hostAlerts) < r.cfg.MaxSources || r.hostAlerts[h] > 0) {
			r.hostAlerts[h]++
		}
	}
}

// bump adds n to *m's count of k, making the map on first use (most
// sources of a flood never fill most of their maps) and keeping at most
// 256 keys.
func bump(m *map[string]uint64, k string, n uint64) {
	if k == "" {
		return
	}
	if *m == nil {
		*m = make(map[string]uint64, 1)
	}
	if len(*m) < 256 || (*m)[k] > 0 {
		(*m)[k] += n
	}
}

func (r *Reporter) finding(f *event.Finding) {
	if r.first.IsZero() || f.Start.Before(r.first) {
		r.first = f.Start
	}
	if f.End.After(r.last) {
		r.last = f.End
	}
	msgs := uint64(f.Messages)
	r.conns++
	r.msgs += msgs
	ca := r.byClass[f.Class]
	if ca == nil {
		ca = &classAgg{}
		r.byClass[f.Class] = ca
	}
	ca.conns++
	ca.msgs += msgs
	for _, h := range f.Blocklist {
		bump(&r.lists, h.List, 1)
	}

	host := f.Client.Addr().Unmap()
	s := r.sources[host]
	if s == nil {
		if len(r.sources) >= r.cfg.MaxSources {
			if _, ok := r.untracked[host]; !ok {
				if len(r.untracked) < r.cfg.MaxSources {
					r.untracked[host] = struct{}{}
				} else {
					r.overflow++
				}
			}
			return
		}
		s = &sourceAgg{
			src:     Source{Host: host, First: f.Start},
			classes: make(map[event.Class]*classAgg, 1),
		}
		r.sources[host] = s
	}
	src := &s.src
	src.Customer = cmp.Or(f.Customer, src.Customer)
	src.Account = cmp.Or(f.Account, src.Account)
	src.Cluster = cmp.Or(f.Cluster, src.Cluster)
	src.Site = cmp.Or(f.Site, src.Site)
	if f.Egress.IsValid() {
		src.Egress = f.Egress
	}
	if f.Start.Before(src.First) {
		src.First = f.Start
	}
	if f.End.After(src.Last) {
		src.Last = f.End
	}
	c := s.classes[f.Class]
	if c == nil {
		c = &classAgg{}
		s.classes[f.Class] = c
		r.hostClass[f.Class]++
	}
	c.conns++
	c.msgs += msgs
	src.Connections++
	if f.Handshake != event.HandshakeCompleted && f.Handshake != event.HandshakeMidstream {
		src.Blocked++
	}
	src.Messages += msgs
	src.Accepted += uint64(f.Accepted)
	src.Rejected += uint64(f.Rejected)
	src.TempFailed += uint64(f.TempFailed)
	for _, sc := range f.Scripts {
		bump(&s.scripts, sc, 1)
	}
	bump(&s.helos, f.Helo, 1)
	for _, h := range f.MessageIDHosts {
		bump(&s.msgIDs, h, 1)
	}
	if f.RelayBypass {
		src.RelayBypass++
	}
	if p := f.Pairing; p != nil {
		bump(&s.mxDoms, p.Domain, 1)
		bump(&s.mxHosts, p.MXHost, 1)
		bump(&s.conf, string(f.Confidence), 1)
		if !s.delaySet || p.Delay < src.DelayMin {
			src.DelayMin = p.Delay
		}
		if !s.delaySet || p.Delay > src.DelayMax {
			src.DelayMax = p.Delay
		}
		s.delaySet = true
	}
	if f.Class == event.ClassExternalRelay25 {
		bump(&s.providers, cmp.Or(f.ServerName, f.Server.Addr().String()), 1)
	}
	bump(&s.groups, f.Group, 1)
	for _, h := range f.Blocklist {
		bump(&s.lists, h.List, 1)
	}
}

// severity orders classes by how much a port-25 block is about them.
func severity(c event.Class) int {
	switch c {
	case event.ClassDirectToMX:
		return 5
	case event.ClassDirect25:
		return 4
	case event.ClassExternalRelay25:
		return 3
	case event.ClassSubmission:
		return 2
	case event.ClassRelay:
		return 1
	}
	return 0
}

func topCounts(m map[string]uint64, n int) []NameCount {
	out := sortedCounts(m)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Report returns the report so far.
func (r *Reporter) Report() Report {
	rep := Report{
		First: r.first, Last: r.last, Connections: r.conns, Messages: r.msgs,
		SourcesTotal: len(r.sources) + len(r.untracked) + r.overflow, SourcesUntracked: len(r.untracked) + r.overflow,
		Blocklist: topCounts(r.lists, r.cfg.Top), AlertsAll: r.alertsAll,
	}
	for _, c := range event.Classes {
		if a := r.byClass[c]; a != nil {
			rep.ByClass = append(rep.ByClass, ClassCount{Class: c, Connections: a.conns, Messages: a.msgs, Hosts: r.hostClass[c]})
		}
	}
	all := make([]Source, 0, len(r.sources))
	imp := Impact{Total: r.msgs}
	customers := map[string]bool{}
	impClass := map[event.Class]*ClassCount{}
	for host, s := range r.sources {
		src := s.src
		src.Alerts = r.hostAlerts[host]
		for _, c := range event.Classes {
			if a := s.classes[c]; a != nil {
				src.ByClass = append(src.ByClass, ClassCount{Class: c, Connections: a.conns, Messages: a.msgs})
				if severity(c) > severity(src.Class) {
					src.Class = c
				}
			}
		}
		top := r.cfg.Top
		src.Scripts, src.Helos, src.MessageIDHosts = topCounts(s.scripts, top), topCounts(s.helos, top), topCounts(s.msgIDs, top)
		src.MXDomains, src.MXHosts, src.ByConfidence = topCounts(s.mxDoms, top), topCounts(s.mxHosts, top), topCounts(s.conf, top)
		src.Providers, src.Groups, src.Blocklist = topCounts(s.providers, top), topCounts(s.groups, top), topCounts(s.lists, top)
		src.LikelySpam = s.classes[event.ClassDirectToMX] != nil || len(s.lists) > 0 || src.Alerts > 0
		src.Action = action(&src)
		if src.Class.BlockedBy25() {
			imp.Hosts++
			if src.Customer != "" {
				customers[src.Customer] = true
			}
			if src.LikelySpam {
				imp.LikelySpam++
			}
			for _, c := range event.Classes {
				if a := s.classes[c]; a != nil && c.BlockedBy25() {
					imp.Messages += a.msgs
					cc := impClass[c]
					if cc == nil {
						cc = &ClassCount{Class: c}
						impClass[c] = cc
					}
					cc.Connections += a.conns
					cc.Messages += a.msgs
					cc.Hosts++
				}
			}
		}
		all = append(all, src)
	}
	slices.SortFunc(all, func(a, b Source) int {
		if c := cmp.Compare(severity(b.Class), severity(a.Class)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Messages, a.Messages); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Connections, a.Connections); c != 0 {
			return c
		}
		return a.Host.Compare(b.Host)
	})
	if n := cmp.Or(r.cfg.SourcesTop, r.cfg.Top); len(all) > n {
		all = all[:n]
	}
	rep.Sources = all
	imp.Customers = len(customers)
	if imp.Total > 0 {
		imp.Share = float64(imp.Messages) / float64(imp.Total)
	}
	for _, c := range event.Classes {
		if cc := impClass[c]; cc != nil {
			imp.ByClass = append(imp.ByClass, *cc)
		}
	}
	rep.Impact = imp
	alerts := slices.Clone(r.alerts)
	slices.SortStableFunc(alerts, func(a, b AlertLine) int { return a.Time.Compare(b.Time) })
	if len(alerts) > r.cfg.Top {
		alerts = alerts[:r.cfg.Top]
	}
	rep.Alerts = alerts
	return rep
}

// action says what the abuse desk should do about a source.
func action(s *Source) string {
	switch s.Class {
	case event.ClassDirectToMX:
		what := "a script sends straight to recipients' MX servers"
		if len(s.Scripts) > 0 {
			what += " (" + s.Scripts[0].Name + ")"
		}
		return "investigate and clean: " + what + "; a port-25 block stops it"
	case event.ClassDirect25:
		return "investigate: port-25 mail to servers that are neither MX targets nor known relays"
	case event.ClassExternalRelay25:
		via := "the provider"
		if len(s.Providers) > 0 {
			via = s.Providers[0].Name
		}
		return fmt.Sprintf("tell the customer to switch %s from port 25 to 587 (STARTTLS) or 465 (TLS)", via)
	}
	return "none: not affected by a port-25 block"
}
