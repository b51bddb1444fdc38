package spike

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mxwatch/mxwatch/event"
)

// Bounds of what one key keeps; see "Bounded memory" in the package
// documentation.
const (
	// maxEvidencePerKind is the number of distinct strings of one kind of
	// evidence kept per key and window.
	maxEvidencePerKind = 16
	// maxEvidenceTotal is the number of evidence strings kept across all
	// keys and windows.
	maxEvidenceTotal = 1 << 18
	// maxStringLen bounds evidence strings, customer and group names, in
	// bytes.
	maxStringLen = 128
	// topN is the length of the Top* lists of an alert.
	topN = 5
	// maxFree bounds the recycled evidence tables.
	maxFree = 1024
)

// unknownGroup replaces an empty Observation.Group.
const unknownGroup = "unknown"

// Observation is one classified connection; the caller builds it from an
// event.Finding.
type Observation struct {
	// Time is the connection start (packet time). Observations arrive
	// roughly in time order: up to one Window older than the newest time
	// seen they are still counted in their window; older ones are counted as
	// Late and dropped.
	Time time.Time
	// Host is the client host.
	Host netip.Addr
	// Customer is the host's customer, "" if unknown.
	Customer string
	// Egress is the public egress address, invalid if unknown.
	Egress netip.Addr
	// Group is the destination group ("gmail", "other", ...).
	Group string
	// Sensitive says whether Group is blocklist-sensitive.
	Sensitive bool
	// Connections counts the connections observed, usually 1.
	Connections int
	// Messages counts the mail transactions of the connection.
	Messages int
	// Rejections counts the replies matched as blocklist or provider
	// rejections.
	Rejections int
	// Scripts names the scripts that sent the mail (evidence).
	Scripts []string
	// Domains are recipient domains (evidence).
	Domains []string
	// RejectionLists names the list or provider of each rejection
	// ("spamhaus-zen"), evidence.
	RejectionLists []string
}

// Stats counts what the detector did, dropped and truncated.
type Stats struct {
	// Observations counts calls to Observe.
	Observations uint64
	// Late counts observations more than one Window older than the newest
	// time seen; they were dropped.
	Late uint64
	// Invalid counts observations dropped because their time is outside
	// the representable range (before 1970 or after 2262) or no scope had
	// a source, negative counts (clamped to 0), and Advance calls with such
	// a time.
	Invalid uint64
	// Evicted counts keys evicted by MaxKeys.
	Evicted uint64
	// Keys is the number of keys tracked now (a gauge).
	Keys uint64
	// Alerts counts alerts returned.
	Alerts uint64
	// EvidenceDropped counts evidence strings not kept because a window's
	// table or the global evidence budget was full.
	EvidenceDropped uint64
	// Truncated counts evidence strings, customer and group names cut to
	// 128 bytes.
	Truncated uint64
}

// scope is a parsed Config.Scopes entry.
type scope uint8

const (
	scopeHost scope = iota + 1
	scopeCustomer
	scopeEgress
)

func (s scope) String() string {
	switch s {
	case scopeHost:
		return ScopeHost
	case scopeCustomer:
		return ScopeCustomer
	case scopeEgress:
		return ScopeEgress
	}
	return "unknown"
}

// metric indexes the counters of a window.
type metric uint8

const (
	metricMessages metric = iota
	metricConnections
	metricRejections
	numMetrics
)

func (m metric) String() string {
	switch m {
	case metricMessages:
		return MetricMessages
	case metricConnections:
		return MetricConnections
	case metricRejections:
		return MetricRejections
	}
	return "unknown"
}

// Evidence kinds.
const (
	evScripts = iota
	evDomains
	evRejections
	numEvidence
)

// key identifies one tracked series.
type key struct {
	scope scope
	addr  netip.Addr // host and egress scopes
	name  string     // customer scope
	group string
}

// window is the per-key state of the open or the previous window.
type window struct {
	idx     int64 // window index; noWindow when unused
	alerted uint8 // bit per metric
	ev      *evidence
}

const noWindow = math.MinInt64

// evidence holds the bounded evidence counters of one key and window.
type evidence [numEvidence][]evCount

type evCount struct {
	name string
	n    uint32
}

// state is one tracked key.
type state struct {
	key key
	// first and last are the first and newest window indexes with
	// traffic; ring holds the counters of windows last-History-1 .. last.
	first, last int64
	ring        []uint32
	win         [2]window
	// customer is the customer to report for host and egress keys;
	// mixed is set when an egress key saw more than one.
	customer  string
	mixed     bool
	sensitive bool
	dead      bool
	// prev and next link the LRU list; head is the most recently seen.
	prev, next *state
}

// Detector counts observations per key and window and raises alerts. It is
// not safe for concurrent use; the caller serialises calls.
type Detector struct {
	cfg      Config
	scopes   []scope
	window   int64 // Window in nanoseconds
	slots    int64 // History + 2
	keys     map[key]*state
	lruHead  *state
	lruTail  *state
	clockSet bool
	wm       int64 // newest packet time seen (ns since epoch)
	cur      int64 // index of the open window
	started  bool
	warmEnd  int64 // first observation + Warmup (ns), saturated
	// active lists the keys with traffic in the open window; prevActive
	// those with traffic in the previous window (for releasing evidence).
	active     []*state
	prevActive []*state
	evEntries  int
	free       []*evidence
	scratch    []float64
	stats      Stats
}

// New returns a Detector for cfg, or an error wrapping ErrConfig or
// ErrScope.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scopes, err := cfg.scopes()
	if err != nil {
		return nil, err
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)
	return &Detector{
		cfg:     cfg,
		scopes:  scopes,
		window:  int64(cfg.Window),
		slots:   int64(cfg.History) + 2,
		keys:    make(map[key]*state),
		scratch: make([]float64, 0, cfg.History),
	}, nil
}

// Stats returns a snapshot of the counters.
func (d *Detector) Stats() Stats {
	s := d.stats
	s.Keys = uint64(len(d.keys))
	return s
}

// Observe adds an observation. Windows that the observation's time closes
// are evaluated first; an observation for the previous window re-evaluates
// that window for the keys it touched. Alerts are appended to out, which is
// returned.
func (d *Detector) Observe(o Observation, out []*event.Alert) []*event.Alert {
	d.stats.Observations++
	ns, ok := nanos(o.Time, d.window)
	if !ok {
		d.stats.Invalid++
		return out
	}
	if d.clockSet && d.wm-ns > d.window {
		d.stats.Late++
		return out
	}
	var keys [3]key
	n := 0
	customer := d.clip(o.Customer)
	group := d.clip(o.Group)
	if group == "" {
		group = unknownGroup
	}
	for _, s := range d.scopes {
		k := key{scope: s, group: group}
		switch s {
		case scopeHost:
			if !o.Host.IsValid() {
				continue
			}
			k.addr = o.Host.Unmap().WithZone("")
		case scopeCustomer:
			if customer == "" {
				continue
			}
			k.name = customer
		case scopeEgress:
			if !o.Egress.IsValid() {
				continue
			}
			k.addr = o.Egress.Unmap().WithZone("")
		}
		keys[n] = k
		n++
	}
	if n == 0 {
		d.stats.Invalid++
		return out
	}
	out = d.clock(ns, out)
	if !d.started {
		d.started = true
		d.warmEnd = satAdd(ns, int64(d.cfg.Warmup))
	}
	var counts [numMetrics]uint32
	counts[metricMessages] = d.count(o.Messages)
	counts[metricConnections] = d.count(o.Connections)
	counts[metricRejections] = d.count(o.Rejections)

	idx := floorDiv(ns, d.window)
	var touched [3]*state
	for i, k := range keys[:n] {
		st := d.lookup(k)
		w := d.touch(st, idx)
		for m, c := range counts {
			p := &st.ring[d.slot(idx)*int64(numMetrics)+int64(m)]
			*p = satAdd32(*p, c)
		}
		st.sensitive = o.Sensitive
		switch k.scope {
		case scopeHost:
			if customer != "" {
				st.customer = customer
			}
		case scopeEgress:
			if customer != "" && !st.mixed {
				if st.customer == "" {
					st.customer = customer
				} else if st.customer != customer {
					st.customer, st.mixed = "", true
				}
			}
		}
		d.addEvidence(w, evScripts, o.Scripts)
		d.addEvidence(w, evDomains, o.Domains)
		d.addEvidence(w, evRejections, o.RejectionLists)
		touched[i] = st
	}
	if idx < d.cur {
		// Late but within one window: that window was already evaluated.
		for _, st := range touched[:n] {
			if !st.dead {
				out = d.evaluate(st, idx, out)
			}
		}
	}
	return out
}

// Advance moves packet time to now: every window that ended at or before
// now is closed and evaluated. Alerts are appended to out, which is
// returned.
func (d *Detector) Advance(now time.Time, out []*event.Alert) []*event.Alert {
	ns, ok := nanos(now, d.window)
	if !ok {
		d.stats.Invalid++
		return out
	}
	return d.clock(ns, out)
}

// Flush evaluates the open window as it stands, at the end of the input: a
// partial window alerts only if it already exceeds the thresholds. The
// window stays open; each (key, window, metric) still alerts at most once.
// Alerts are appended to out, which is returned.
func (d *Detector) Flush(out []*event.Alert) []*event.Alert {
	for _, st := range d.active {
		if !st.dead {
			out = d.evaluate(st, d.cur, out)
		}
	}
	return out
}

// clock moves the watermark to ns and closes the open window if ns is past
// its end.
func (d *Detector) clock(ns int64, out []*event.Alert) []*event.Alert {
	idx := floorDiv(ns, d.window)
	if !d.clockSet {
		d.clockSet, d.wm, d.cur = true, ns, idx
		return out
	}
	d.wm = max(d.wm, ns)
	if idx <= d.cur {
		return out
	}
	for _, st := range d.active {
		if !st.dead {
			out = d.evaluate(st, d.cur, out)
		}
	}
	// Evidence is kept for the open and the previous window only.
	keep := idx - 1
	for _, st := range d.prevActive {
		d.release(st, keep)
	}
	clear(d.prevActive)
	d.prevActive = d.prevActive[:0]
	if idx == d.cur+1 {
		d.prevActive, d.active = d.active, d.prevActive
	} else {
		for _, st := range d.active {
			d.release(st, keep)
		}
		clear(d.active)
		d.active = d.active[:0]
	}
	d.cur = idx
	return out
}

// lookup returns the state of k, creating it (and evicting the least
// recently seen key beyond MaxKeys), and marks it most recently seen.
func (d *Detector) lookup(k key) *state {
	if st, ok := d.keys[k]; ok {
		d.lruMoveFront(st)
		return st
	}
	for len(d.keys) >= d.cfg.MaxKeys && d.lruTail != nil {
		d.evict(d.lruTail)
	}
	k.name, k.group = strings.Clone(k.name), strings.Clone(k.group)
	st := &state{
		key:   k,
		first: noWindow,
		last:  noWindow,
		ring:  make([]uint32, d.slots*int64(numMetrics)),
		win:   [2]window{{idx: noWindow}, {idx: noWindow}},
	}
	d.keys[k] = st
	d.lruPushFront(st)
	return st
}

func (d *Detector) evict(st *state) {
	d.lruRemove(st)
	delete(d.keys, st.key)
	d.release(st, math.MaxInt64)
	st.dead = true
	d.stats.Evicted++
}

// touch records traffic of st in window idx (the open or the previous
// window), clearing the ring slots of the windows it skipped, and returns
// the window's per-key state.
func (d *Detector) touch(st *state, idx int64) *window {
	switch {
	case st.last == noWindow:
		st.first, st.last = idx, idx
	case idx > st.last:
		from := max(st.last+1, idx-d.slots+1)
		for w := from; w <= idx; w++ {
			clear(st.ring[d.slot(w)*int64(numMetrics):][:numMetrics])
		}
		st.last = idx
	case idx < st.first:
		st.first = idx
	}
	w := &st.win[idx&1]
	if w.idx != idx {
		d.releaseWindow(w)
		w.idx, w.alerted = idx, 0
		if idx == d.cur {
			d.active = d.appendLive(d.active, st)
		} else {
			d.prevActive = d.appendLive(d.prevActive, st)
		}
	}
	return w
}

// appendLive appends st to list, first dropping evicted keys when the list
// has grown past what live keys can explain (eviction churn).
func (d *Detector) appendLive(list []*state, st *state) []*state {
	if len(list) >= 2*d.cfg.MaxKeys+16 {
		list = slices.DeleteFunc(list, func(s *state) bool { return s.dead })
	}
	return append(list, st)
}

// release drops the evidence of st's windows before keep.
func (d *Detector) release(st *state, keep int64) {
	for i := range st.win {
		if st.win[i].idx < keep {
			d.releaseWindow(&st.win[i])
		}
	}
}

func (d *Detector) releaseWindow(w *window) {
	if w.ev == nil {
		return
	}
	for i := range w.ev {
		d.evEntries -= len(w.ev[i])
		clear(w.ev[i])
		w.ev[i] = w.ev[i][:0]
	}
	if len(d.free) < maxFree {
		d.free = append(d.free, w.ev)
	}
	w.ev = nil
}

// addEvidence counts each string of values in w's table of kind.
func (d *Detector) addEvidence(w *window, kind int, values []string) {
	for _, v := range values {
		if v == "" {
			continue
		}
		v = d.clip(v)
		if w.ev == nil {
			if n := len(d.free); n > 0 {
				w.ev, d.free = d.free[n-1], d.free[:n-1]
			} else {
				w.ev = new(evidence)
			}
		}
		list := w.ev[kind]
		found := false
		for i := range list {
			if list[i].name == v {
				list[i].n = satAdd32(list[i].n, 1)
				found = true
				break
			}
		}
		if found {
			continue
		}
		if len(list) >= maxEvidencePerKind || d.evEntries >= maxEvidenceTotal {
			d.stats.EvidenceDropped++
			continue
		}
		w.ev[kind] = append(list, evCount{name: strings.Clone(v), n: 1})
		d.evEntries++
	}
}

// clip cuts s to maxStringLen bytes at a rune boundary, counting the cut.
func (d *Detector) clip(s string) string {
	if len(s) <= maxStringLen {
		return s
	}
	d.stats.Truncated++
	n := maxStringLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// count converts an observation count, clamping negative values to 0
// (counted as invalid).
func (d *Detector) count(v int) uint32 {
	switch {
	case v < 0:
		d.stats.Invalid++
		return 0
	case uint64(v) > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}

// slot is the ring position of window idx.
func (d *Detector) slot(idx int64) int64 {
	s := idx % d.slots
	if s < 0 {
		s += d.slots
	}
	return s
}

func (d *Detector) value(st *state, idx int64, m metric) uint32 {
	return st.ring[d.slot(idx)*int64(numMetrics)+int64(m)]
}

func (d *Detector) lruPushFront(st *state) {
	st.prev, st.next = nil, d.lruHead
	if d.lruHead != nil {
		d.lruHead.prev = st
	}
	d.lruHead = st
	if d.lruTail == nil {
		d.lruTail = st
	}
}

func (d *Detector) lruRemove(st *state) {
	if st.prev != nil {
		st.prev.next = st.next
	} else {
		d.lruHead = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	} else {
		d.lruTail = st.prev
	}
	st.prev, st.next = nil, nil
}

func (d *Detector) lruMoveFront(st *state) {
	if d.lruHead == st {
		return
	}
	d.lruRemove(st)
	d.lruPushFront(st)
}

// nanos converts t to nanoseconds since the Unix epoch if it is within
// [1970, 2262) with room for one window after it.
func nanos(t time.Time, window int64) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	ns := t.UnixNano()
	if ns < 0 || ns > math.MaxInt64-window || !time.Unix(0, ns).Equal(t) {
		return 0, false
	}
	return ns, true
}

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func satAdd32(a, b uint32) uint32 {
	if a > math.MaxUint32-b {
		return math.MaxUint32
	}
	return a + b
}

// String describes the key for debugging.
func (k key) String() string {
	src := k.name
	if k.addr.IsValid() {
		src = k.addr.String()
	}
	return fmt.Sprintf("%s %s %s", k.scope, src, k.group)
}
