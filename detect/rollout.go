package detect

import (
	"cmp"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// The rollout reports answer the two questions of a port-25 block: who
// breaks if we block (ImpactReport, before the rollout) and what changed
// once we did (EnforcementReport). Both are built from findings and
// alerts by the same code whether the events come from captures (analyze
// --report) or from ClickHouse (mxwatch report), so both paths give the
// same numbers.

// Window is a half-open time range [From, To); a zero bound is open.
type Window struct {
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
}

// Contains reports whether t is inside the window.
func (w Window) Contains(t time.Time) bool {
	return (w.From.IsZero() || !t.Before(w.From)) && (w.To.IsZero() || t.Before(w.To))
}

// Timeline counts connections and messages per class in time buckets.
// The bucket grows (1m, 5m, 15m, 1h, 6h, 1d) to keep at most
// MaxTimelinePoints points, whatever the span.
type Timeline struct {
	Bucket time.Duration `json:"bucket_ns"`
	Points []TimePoint   `json:"points"`
}

// TimePoint is one bucket of a Timeline.
type TimePoint struct {
	Start   time.Time    `json:"start"`
	ByClass []ClassCount `json:"by_class"`
}

// MaxTimelinePoints bounds a Timeline.
const MaxTimelinePoints = 400

var bucketSizes = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// timeline accumulates a Timeline in bounded memory.
type timeline struct {
	size    int // index into bucketSizes
	buckets map[int64]map[event.Class]*classAgg
}

func newTimeline() *timeline {
	return &timeline{buckets: map[int64]map[event.Class]*classAgg{}}
}

func (t *timeline) key(ts time.Time) int64 {
	return ts.UnixNano() - ts.UnixNano()%int64(bucketSizes[t.size])
}

func (t *timeline) add(ts time.Time, c event.Class, msgs uint64) {
	k := t.key(ts)
	if ts.UnixNano() < 0 {
		k = 0 // before 1970: one bucket, no negative modulo games
	}
	b := t.buckets[k]
	if b == nil {
		for len(t.buckets) >= MaxTimelinePoints && t.size < len(bucketSizes)-1 {
			t.coarsen()
			k = t.key(ts)
		}
		if b = t.buckets[k]; b == nil {
			b = map[event.Class]*classAgg{}
			t.buckets[k] = b
		}
	}
	a := b[c]
	if a == nil {
		a = &classAgg{}
		b[c] = a
	}
	a.conns++
	a.msgs += msgs
}

// coarsen moves to the next bucket size; the sizes nest, so buckets merge
// exactly.
func (t *timeline) coarsen() {
	t.size++
	old := t.buckets
	t.buckets = make(map[int64]map[event.Class]*classAgg, len(old))
	for k, b := range old {
		nk := k - k%int64(bucketSizes[t.size])
		nb := t.buckets[nk]
		if nb == nil {
			nb = map[event.Class]*classAgg{}
			t.buckets[nk] = nb
		}
		for c, a := range b {
			na := nb[c]
			if na == nil {
				na = &classAgg{}
				nb[c] = na
			}
			na.conns += a.conns
			na.msgs += a.msgs
		}
	}
}

func (t *timeline) result() Timeline {
	out := Timeline{Bucket: bucketSizes[t.size]}
	keys := make([]int64, 0, len(t.buckets))
	for k := range t.buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := TimePoint{Start: time.Unix(0, k).UTC()}
		for _, c := range event.Classes {
			if a := t.buckets[k][c]; a != nil {
				p.ByClass = append(p.ByClass, ClassCount{Class: c, Connections: a.conns, Messages: a.msgs})
			}
		}
		out.Points = append(out.Points, p)
	}
	return out
}

// ImpactReport says, before a rollout, who a block of outbound port 25
// would affect, grouped by customer, and what each should do.
type ImpactReport struct {
	Window Window `json:"window"`
	// First and Last are the times of the first and last finding seen.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Totals: affected hosts and customers, their port-25 mail and its
	// share of all mail, likely-spam hosts, per class.
	Totals Impact `json:"totals"`
	// ByClass counts all connections and messages, affected or not.
	ByClass []ClassCount `json:"by_class"`
	// Customers lists the affected customers, most affected mail first;
	// hosts not in the inventory are grouped under Customer "".
	Customers []CustomerImpact `json:"customers"`
	// SourcesUntracked counts hosts beyond ReportConfig.MaxSources:
	// counted in the totals, not listed.
	SourcesUntracked int `json:"sources_untracked,omitempty"`
	// Timeline is mail volume over time by class.
	Timeline Timeline `json:"timeline"`
}

// CustomerImpact is one customer's affected hosts.
type CustomerImpact struct {
	Customer string `json:"customer"`
	Hosts    int    `json:"hosts"`
	// Messages is the affected hosts' mail in classes a block stops.
	Messages        uint64 `json:"messages"`
	LikelySpamHosts int    `json:"likely_spam_hosts"`
	// Sources are the affected hosts (worst class first), each with its
	// evidence and action.
	Sources []Source `json:"sources"`
}

// ImpactBuilder builds an ImpactReport from findings (and alerts, which
// mark hosts as likely spam) inside a window.
type ImpactBuilder struct {
	w   Window
	r   *Reporter
	tl  *timeline
	max int
}

// NewImpact returns a builder for events inside w. cfg.Top bounds the
// lists of each source (scripts, domains ...); every affected source is
// listed, up to cfg.MaxSources.
func NewImpact(cfg ReportConfig, w Window) *ImpactBuilder {
	if cfg.MaxSources < 1 {
		cfg.MaxSources = DefaultReportConfig().MaxSources
	}
	rc := cfg
	rc.SourcesTop = cfg.MaxSources
	return &ImpactBuilder{w: w, r: NewReporter(rc), tl: newTimeline(), max: cfg.MaxSources}
}

// Add takes findings and alerts inside the window; others are ignored.
func (b *ImpactBuilder) Add(ev event.Event) {
	switch e := ev.(type) {
	case *event.Finding:
		if !b.w.Contains(e.Start) {
			return
		}
		b.tl.add(e.Start, e.Class, uint64(e.Messages))
		b.r.Add(e)
	case *event.Alert:
		if b.w.Contains(e.Time) {
			b.r.Add(e)
		}
	}
}

// Report returns the report of what was added.
func (b *ImpactBuilder) Report() ImpactReport {
	rep := b.r.Report()
	out := ImpactReport{
		Window: b.w, First: rep.First, Last: rep.Last, Totals: rep.Impact, ByClass: rep.ByClass,
		SourcesUntracked: rep.SourcesUntracked, Timeline: b.tl.result(),
	}
	byCust := map[string]*CustomerImpact{}
	for _, s := range rep.Sources {
		if !s.Class.BlockedBy25() {
			continue
		}
		c := byCust[s.Customer]
		if c == nil {
			c = &CustomerImpact{Customer: s.Customer}
			byCust[s.Customer] = c
		}
		c.Hosts++
		for _, cc := range s.ByClass {
			if cc.Class.BlockedBy25() {
				c.Messages += cc.Messages
			}
		}
		if s.LikelySpam {
			c.LikelySpamHosts++
		}
		c.Sources = append(c.Sources, s)
	}
	for _, c := range byCust {
		out.Customers = append(out.Customers, *c)
	}
	slices.SortFunc(out.Customers, func(a, b CustomerImpact) int {
		if c := cmp.Compare(b.Messages, a.Messages); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Hosts, a.Hosts); c != 0 {
			return c
		}
		return cmp.Compare(a.Customer, b.Customer)
	})
	return out
}

// EnforcementReport compares the windows before and after a block took
// effect.
type EnforcementReport struct {
	At     time.Time `json:"at"`
	Before Window    `json:"before"`
	After  Window    `json:"after"`
	// ByClass compares connections, messages and hosts per class.
	ByClass []ClassChange `json:"by_class"`
	// Blocked compares connects that never completed (no answer, reset):
	// after the block, these are the attempts it stopped.
	Blocked Change `json:"blocked_attempts"`
	// StillTrying lists hosts that still connect to port 25 after the
	// block (in classes it stops), worst first: compromised scripts to
	// chase, or customers who have not moved to 587/465.
	StillTrying      []Source `json:"still_trying"`
	StillTryingTotal int      `json:"still_trying_total"`
	// Rejections compares blocklist rejections by list.
	Rejections []NameChange `json:"rejections"`
	// Listings compares DNSBL listings of egress addresses (alerts of
	// `mxwatch rbl check --events`) by list.
	Listings []NameChange `json:"listings"`
	// Timeline is mail volume over time by class, across both windows.
	Timeline Timeline `json:"timeline"`
}

// Change is a count before and after.
type Change struct {
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
}

// ClassChange compares one class.
type ClassChange struct {
	Class       event.Class `json:"class"`
	Connections Change      `json:"connections"`
	Messages    Change      `json:"messages"`
	Hosts       Change      `json:"hosts"`
}

// NameChange compares one named count.
type NameChange struct {
	Name   string `json:"name"`
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
}

// EnforcementBuilder builds an EnforcementReport.
type EnforcementBuilder struct {
	at            time.Time
	before, after Window
	rb, ra        *Reporter
	blocked       Change
	listings      map[string]*NameChange
	tl            *timeline
	top           int
}

// RuleDNSBL is the rule of the alerts `mxwatch rbl check --events` writes:
// one per listing, Group naming the list.
const RuleDNSBL = "dnsbl"

// NewEnforcement returns a builder comparing [at-before, at) with
// [at, at+after). cfg.Top bounds each source's lists; every host still
// trying is listed up to cfg.MaxSources.
func NewEnforcement(cfg ReportConfig, at time.Time, before, after time.Duration) *EnforcementBuilder {
	if cfg.MaxSources < 1 {
		cfg.MaxSources = DefaultReportConfig().MaxSources
	}
	rc := cfg
	rc.SourcesTop = cfg.MaxSources
	return &EnforcementBuilder{
		at: at, before: Window{From: at.Add(-before), To: at}, after: Window{From: at, To: at.Add(after)},
		rb: NewReporter(rc), ra: NewReporter(rc), listings: map[string]*NameChange{}, tl: newTimeline(), top: cfg.Top,
	}
}

// Windows returns the before and after windows.
func (b *EnforcementBuilder) Windows() (before, after Window) { return b.before, b.after }

// Add takes findings and alerts inside either window.
func (b *EnforcementBuilder) Add(ev event.Event) {
	var t time.Time
	switch e := ev.(type) {
	case *event.Finding:
		t = e.Start
	case *event.Alert:
		t = e.Time
	default:
		return
	}
	var r *Reporter
	after := false
	switch {
	case b.before.Contains(t):
		r = b.rb
	case b.after.Contains(t):
		r, after = b.ra, true
	default:
		return
	}
	switch e := ev.(type) {
	case *event.Finding:
		b.tl.add(e.Start, e.Class, uint64(e.Messages))
		if e.Handshake != event.HandshakeCompleted && e.Handshake != event.HandshakeMidstream && e.Server.Port() == 25 {
			if after {
				b.blocked.After++
			} else {
				b.blocked.Before++
			}
		}
	case *event.Alert:
		if e.Rule == RuleDNSBL {
			name := cmp.Or(e.Group, "unknown")
			nc := b.listings[name]
			if nc == nil {
				if len(b.listings) >= 256 {
					name = "other"
					nc = b.listings[name]
				}
				if nc == nil {
					nc = &NameChange{Name: name}
					b.listings[name] = nc
				}
			}
			if after {
				nc.After++
			} else {
				nc.Before++
			}
		}
	}
	r.Add(ev)
}

// Report returns the comparison.
func (b *EnforcementBuilder) Report() EnforcementReport {
	before, after := b.rb.Report(), b.ra.Report()
	out := EnforcementReport{At: b.at, Before: b.before, After: b.after, Blocked: b.blocked, Timeline: b.tl.result()}
	cls := map[event.Class]*ClassChange{}
	for i, rep := range []Report{before, after} {
		for _, c := range rep.ByClass {
			cc := cls[c.Class]
			if cc == nil {
				cc = &ClassChange{Class: c.Class}
				cls[c.Class] = cc
			}
			set := func(ch *Change, v uint64) {
				if i == 0 {
					ch.Before = v
				} else {
					ch.After = v
				}
			}
			set(&cc.Connections, c.Connections)
			set(&cc.Messages, c.Messages)
			set(&cc.Hosts, uint64(c.Hosts))
		}
	}
	for _, c := range event.Classes {
		if cc := cls[c]; cc != nil {
			out.ByClass = append(out.ByClass, *cc)
		}
	}
	for _, s := range after.Sources {
		if s.Class.BlockedBy25() {
			out.StillTrying = append(out.StillTrying, s)
		}
	}
	out.StillTryingTotal = len(out.StillTrying)
	out.Rejections = changes(topCounts(b.rb.lists, len(b.rb.lists)), topCounts(b.ra.lists, len(b.ra.lists)))
	for _, nc := range b.listings {
		out.Listings = append(out.Listings, *nc)
	}
	sortChanges(out.Listings)
	return out
}

func changes(before, after []NameCount) []NameChange {
	m := map[string]*NameChange{}
	for i, rows := range [][]NameCount{before, after} {
		for _, r := range rows {
			nc := m[r.Name]
			if nc == nil {
				nc = &NameChange{Name: r.Name}
				m[r.Name] = nc
			}
			if i == 0 {
				nc.Before = r.Count
			} else {
				nc.After = r.Count
			}
		}
	}
	out := make([]NameChange, 0, len(m))
	for _, nc := range m {
		out = append(out, *nc)
	}
	sortChanges(out)
	return out
}

func sortChanges(s []NameChange) {
	slices.SortFunc(s, func(a, b NameChange) int {
		if c := cmp.Compare(b.Before+b.After, a.Before+a.After); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}
