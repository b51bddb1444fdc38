package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// PairingConfig bounds what the pairing memory remembers of DNS answers.
type PairingConfig struct {
	// MinTTL and MaxTTL clamp the TTL of an answer into how long it pairs
	// with later connections. A script often connects seconds after its
	// lookup, but short TTLs (60 s is common for MX hosts behind load
	// balancers) must not let a connection a few minutes later escape;
	// very long TTLs must not pair a connection a day later.
	MinTTL time.Duration `mapstructure:"min_ttl"`
	MaxTTL time.Duration `mapstructure:"max_ttl"`
	// Linger keeps expired entries this much longer, for connections that
	// started while an entry was valid and whose session event arrives at
	// their end.
	Linger time.Duration `mapstructure:"linger"`
	// MaxEntries bounds the remembered facts (MX hosts, addresses); the
	// oldest are evicted beyond it, and counted.
	MaxEntries int `mapstructure:"max_entries"`
}

// DefaultPairingConfig returns the defaults documented in the example
// configuration.
func DefaultPairingConfig() PairingConfig {
	return PairingConfig{MinTTL: 10 * time.Minute, MaxTTL: 2 * time.Hour, Linger: 30 * time.Minute, MaxEntries: 1_000_000}
}

// Validate reports a configuration that cannot work.
func (c PairingConfig) Validate() error {
	switch {
	case c.MinTTL < 0 || c.MaxTTL <= 0:
		return fmt.Errorf("pairing: min_ttl must be >= 0 and max_ttl > 0 (got %v, %v)", c.MinTTL, c.MaxTTL)
	case c.MinTTL > c.MaxTTL:
		return fmt.Errorf("pairing: min_ttl %v exceeds max_ttl %v", c.MinTTL, c.MaxTTL)
	case c.Linger < 0:
		return fmt.Errorf("pairing: linger must be >= 0 (got %v)", c.Linger)
	case c.MaxEntries < 1:
		return fmt.Errorf("pairing: max_entries must be at least 1 (got %d)", c.MaxEntries)
	}
	return nil
}

// PairingStats counts what the memory learnt and forgot.
type PairingStats struct {
	Answers   uint64 // DNS answers read
	MXHosts   uint64 // MX records remembered
	Addresses uint64 // address facts remembered (self, other, names)
	Expired   uint64 // entries removed after their validity (and linger)
	Evicted   uint64 // entries removed early by MaxEntries
	Entries   int    // entries held now
}

// Ways an address was learnt (event.Pairing.Via).
const (
	viaAdditional = "additional"
	viaAnswer     = "answer"
	viaCNAME      = "cname"
)

// Who made the lookup (event.Pairing.By).
const (
	bySelf  = "self"
	byOther = "other"
	byGuess = "guess"
)

// fact is one thing a lookup taught: an address that a name resolves to
// for a reason, valid from at to until.
type fact struct {
	by         string
	domain     string
	mxHost     string
	pref       uint16
	at         time.Time // answer that made the fact (the MX answer for MX facts)
	until      time.Time
	resolver   netip.Addr
	lookupFrom netip.Addr
	via        string
	stamp      uint64 // insertion number, to match queue entries
}

func (f *fact) validAt(t time.Time) bool { return !f.at.After(t) && !f.until.Before(t) }

// factsPerKey bounds the facts kept for one (client, address): several
// domains can share an MX host.
const factsPerKey = 4

type pairKey struct{ client, addr netip.Addr }

type hostKey struct {
	client netip.Addr
	host   string
}

type mxFact struct {
	domain   string
	pref     uint16
	at       time.Time
	until    time.Time
	resolver netip.Addr
	stamp    uint64
}

// nameFact: an address that a configured name (relay, smarthost)
// resolved to, for any client.
type nameFact struct {
	name  string
	until time.Time
	stamp uint64
}

// Kinds of queue entries.
const (
	qSelf uint8 = iota
	qOther
	qHost
	qName
)

type queued struct {
	kind  uint8
	key   pairKey // qSelf: (client, addr); qOther, qName: (-, addr)
	host  hostKey
	drop  time.Time // when the entry is certainly dead
	stamp uint64
}

// Memory is what DNS answers taught each client: which addresses are MX
// targets of which domains, which addresses are guessed mail hosts, and
// which addresses configured relay and smarthost names resolve to. It
// expires by packet time and is bounded in size. Not safe for concurrent
// use.
type Memory struct {
	cfg   PairingConfig
	names *nameMatcher // relay and smarthost names to watch; may be nil

	self    map[pairKey][]fact
	other   map[netip.Addr]fact
	mxHosts map[hostKey]mxFact
	named   map[netip.Addr]nameFact

	queue fifo // insertion order
	stamp uint64
	now   time.Time
	stats PairingStats
}

// NewMemory returns an empty memory. names, if not nil, says which
// queried names are relays or smarthosts.
func NewMemory(cfg PairingConfig, names *nameMatcher) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Memory{
		cfg:     cfg,
		names:   names,
		self:    make(map[pairKey][]fact),
		other:   make(map[netip.Addr]fact),
		mxHosts: make(map[hostKey]mxFact),
		named:   make(map[netip.Addr]nameFact),
	}, nil
}

// Stats returns the counters.
func (m *Memory) Stats() PairingStats {
	s := m.stats
	s.Entries = m.queue.n
	return s
}

func (m *Memory) ttl(sec uint32) time.Duration {
	d := time.Duration(sec) * time.Second
	return min(max(d, m.cfg.MinTTL), m.cfg.MaxTTL)
}

// Add learns from one DNS answer.
func (m *Memory) Add(d *event.DNS) {
	if d.Time.After(m.now) {
		m.now = d.Time
	}
	m.expire()
	if d.RCode != "NOERROR" || len(d.Answers) == 0 {
		return
	}
	m.stats.Answers++
	client := d.Client.Addr().Unmap()
	resolver := d.Server.Addr().Unmap()
	switch d.QType {
	case "MX":
		m.addMX(d, client, resolver)
	case "A", "AAAA", "CNAME", "ANY":
		m.addAddress(d, client, resolver)
	}
}

// addMX remembers the MX hosts of an MX answer, and the addresses of
// those hosts that the answer carries.
func (m *Memory) addMX(d *event.DNS, client, resolver netip.Addr) {
	for _, rr := range d.Answers {
		if rr.Type != "MX" || rr.Host == "" || rr.Host == "." {
			continue
		}
		host := strings.ToLower(rr.Host)
		mf := mxFact{domain: d.QName, pref: rr.Pref, at: d.Time, until: d.Time.Add(m.ttl(rr.TTL)), resolver: resolver}
		m.putHost(hostKey{client, host}, mf)
		for _, a := range resolve(host, d.Answers, d.Additional) {
			via := viaAdditional
			if a.viaCNAME {
				via = viaCNAME
			}
			until := mf.until
			if u := d.Time.Add(m.ttl(a.ttl)); u.Before(until) {
				until = u
			}
			f := fact{by: bySelf, domain: d.QName, mxHost: host, pref: rr.Pref, at: d.Time, until: until, resolver: resolver, lookupFrom: client, via: via}
			m.putSelf(pairKey{client, a.addr}, f)
			m.putOther(a.addr, f)
		}
	}
}

// addAddress learns from an A/AAAA answer: addresses of MX hosts the
// client looked up before, of guessed mail names, and of relay and
// smarthost names.
func (m *Memory) addAddress(d *event.DNS, client, resolver netip.Addr) {
	addrs := resolve(d.QName, d.Answers, nil)
	if len(addrs) == 0 {
		return
	}
	name := d.QName
	mx, isMX := m.mxHosts[hostKey{client, name}]
	isMX = isMX && !mx.until.Before(d.Time)
	guessDomain, isGuess := guessedMailName(name)
	var watched nameKind
	if m.names != nil {
		watched = m.names.kind(name)
	}
	for _, a := range addrs {
		via := viaAnswer
		if a.viaCNAME {
			via = viaCNAME
		}
		until := d.Time.Add(m.ttl(a.ttl))
		if isMX {
			f := fact{by: bySelf, domain: mx.domain, mxHost: name, pref: mx.pref, at: mx.at, until: until, resolver: resolver, lookupFrom: client, via: via}
			if mx.until.Before(f.until) {
				f.until = mx.until
			}
			m.putSelf(pairKey{client, a.addr}, f)
			m.putOther(a.addr, f)
		} else if isGuess {
			m.putSelf(pairKey{client, a.addr}, fact{by: byGuess, domain: guessDomain, mxHost: name, at: d.Time, until: until, resolver: resolver, lookupFrom: client, via: via})
		}
		if watched != nameNone {
			m.putNamed(a.addr, nameFact{name: name, until: until})
		}
	}
}

// guessedMailName reports whether name is mail.D, smtp.D or mx.D, and D.
func guessedMailName(name string) (string, bool) {
	for _, p := range []string{"mail.", "smtp.", "mx."} {
		if d, ok := strings.CutPrefix(name, p); ok && strings.Contains(d, ".") {
			return d, true
		}
	}
	return "", false
}

type resolved struct {
	addr     netip.Addr
	ttl      uint32
	viaCNAME bool
}

// maxChain bounds CNAME chains (a loop ends there).
const maxChain = 8

// resolve finds the addresses of name in the records, following CNAMEs.
// The TTL of an address is the smallest along its chain.
func resolve(name string, sections ...[]event.RR) []resolved {
	cur, ttl, chained := name, uint32(1<<32-1), false
	var out []resolved
	for range maxChain {
		next := ""
		for _, sec := range sections {
			for i := range sec {
				rr := &sec[i]
				if !strings.EqualFold(rr.Name, cur) {
					continue
				}
				switch rr.Type {
				case "A", "AAAA":
					if rr.Addr.IsValid() {
						out = append(out, resolved{addr: rr.Addr.Unmap(), ttl: min(ttl, rr.TTL), viaCNAME: chained})
					}
				case "CNAME":
					if next == "" && rr.Host != "" {
						next = strings.ToLower(rr.Host)
						ttl = min(ttl, rr.TTL)
					}
				}
			}
		}
		if len(out) > 0 || next == "" || next == cur {
			return out
		}
		cur, chained = next, true
	}
	return out
}

// Match is what the memory knows about a connection from client to addr
// that started at start.
type Match struct {
	Pairing    *event.Pairing
	Confidence event.Confidence
}

// Pair returns the best evidence that addr is an MX target for a
// connection from client at start: the client's own lookup (high), a
// guessed mail name the client resolved (low), another client's lookup
// (medium), in that order of preference; the most recent lookup wins
// among equals. It reports false when nothing pairs.
func (m *Memory) Pair(client, addr netip.Addr, start time.Time) (Match, bool) {
	client, addr = client.Unmap(), addr.Unmap()
	var best *fact
	fs := m.self[pairKey{client, addr}]
	for i := range fs {
		f := &fs[i]
		if f.validAt(start) && (best == nil || rank(f.by) > rank(best.by) || (f.by == best.by && f.at.After(best.at))) {
			best = f
		}
	}
	conf := event.ConfidenceHigh
	if best != nil && best.by == byGuess {
		// Another client's MX lookup is better evidence than a guess.
		if o, ok := m.other[addr]; ok && o.validAt(start) && o.lookupFrom != client {
			o.by = byOther
			best = &o
		}
	}
	if best == nil {
		o, ok := m.other[addr]
		if !ok || !o.validAt(start) || o.lookupFrom == client {
			return Match{}, false
		}
		o.by = byOther
		best = &o
	}
	switch best.by {
	case byOther:
		conf = event.ConfidenceMedium
	case byGuess:
		conf = event.ConfidenceLow
	}
	p := &event.Pairing{
		By: best.by, Domain: best.domain, MXHost: best.mxHost, MXPref: best.pref,
		LookupTime: best.at, Delay: start.Sub(best.at), Resolver: best.resolver, Via: best.via,
	}
	if best.by == byOther {
		p.LookupClient = best.lookupFrom
	}
	return Match{Pairing: p, Confidence: conf}, true
}

func rank(by string) int {
	switch by {
	case bySelf:
		return 2
	case byGuess:
		return 1
	}
	return 0
}

// Named returns the configured relay or smarthost name that addr was
// resolved from and valid at t, if any.
func (m *Memory) Named(addr netip.Addr, t time.Time) (string, bool) {
	f, ok := m.named[addr.Unmap()]
	if !ok || f.until.Add(m.cfg.Linger).Before(t) {
		return "", false
	}
	return f.name, true
}

func (m *Memory) next() uint64 { m.stamp++; return m.stamp }

func (m *Memory) dropAt(until time.Time) time.Time { return until.Add(m.cfg.Linger) }

func (m *Memory) putSelf(k pairKey, f fact) {
	f.stamp = m.next()
	fs := m.self[k]
	// Replace a fact of the same domain and MX host, else the oldest when full.
	idx := -1
	for i := range fs {
		if fs[i].domain == f.domain && fs[i].mxHost == f.mxHost && fs[i].by == f.by {
			idx = i
			break
		}
	}
	switch {
	case idx >= 0:
		fs[idx] = f
	case len(fs) < factsPerKey:
		fs = append(fs, f)
		m.stats.Addresses++
	default:
		oldest := 0
		for i := range fs {
			if fs[i].at.Before(fs[oldest].at) {
				oldest = i
			}
		}
		fs[oldest] = f
	}
	m.self[k] = fs
	m.push(queued{kind: qSelf, key: k, drop: m.dropAt(f.until), stamp: f.stamp})
}

func (m *Memory) putOther(a netip.Addr, f fact) {
	f.stamp = m.next()
	if _, ok := m.other[a]; !ok {
		m.stats.Addresses++
	}
	m.other[a] = f
	m.push(queued{kind: qOther, key: pairKey{addr: a}, drop: m.dropAt(f.until), stamp: f.stamp})
}

func (m *Memory) putHost(k hostKey, f mxFact) {
	f.stamp = m.next()
	if _, ok := m.mxHosts[k]; !ok {
		m.stats.MXHosts++
	}
	m.mxHosts[k] = f
	m.push(queued{kind: qHost, host: k, drop: m.dropAt(f.until), stamp: f.stamp})
}

func (m *Memory) putNamed(a netip.Addr, f nameFact) {
	f.stamp = m.next()
	if _, ok := m.named[a]; !ok {
		m.stats.Addresses++
	}
	m.named[a] = f
	m.push(queued{kind: qName, key: pairKey{addr: a}, drop: m.dropAt(f.until), stamp: f.stamp})
}

func (m *Memory) push(q queued) {
	m.queue.push(q)
	for m.queue.n > m.cfg.MaxEntries {
		if m.remove(*m.queue.front()) {
			m.stats.Evicted++
		}
		m.queue.pop()
	}
}

// fifo is a queue in chunks of fixed size, so that it grows without
// copying what it holds and gives memory back as it drains.
type fifo struct {
	chunks [][]queued
	head   int // index of the front in chunks[0]
	n      int
	spare  []queued // one drained chunk kept for reuse
}

const fifoChunk = 1024

func (f *fifo) push(q queued) {
	last := len(f.chunks) - 1
	if last < 0 || len(f.chunks[last]) == fifoChunk {
		c := f.spare
		f.spare = nil
		if c == nil {
			c = make([]queued, 0, fifoChunk)
		}
		f.chunks = append(f.chunks, c)
		last++
	}
	f.chunks[last] = append(f.chunks[last], q)
	f.n++
}

// front returns the oldest entry; the queue must not be empty.
func (f *fifo) front() *queued { return &f.chunks[0][f.head] }

func (f *fifo) pop() {
	f.chunks[0][f.head] = queued{}
	f.head++
	f.n--
	if f.head == len(f.chunks[0]) && (f.head == fifoChunk || f.n == 0) {
		f.spare = f.chunks[0][:0]
		f.chunks[0] = nil
		f.chunks = f.chunks[1:]
		f.head = 0
	}
}

// expire removes entries whose validity and linger ended before now. The
// queue is in insertion order, not expiry order: an entry with a short TTL
// waits for the entries before it, at most MaxTTL, and MaxEntries bounds
// them all.
func (m *Memory) expire() {
	for m.queue.n > 0 {
		q := m.queue.front()
		if !q.drop.Before(m.now) {
			return
		}
		if m.remove(*q) {
			m.stats.Expired++
		}
		m.queue.pop()
	}
}

// remove deletes what q refers to, unless it was replaced since; it
// reports whether something was deleted.
func (m *Memory) remove(q queued) bool {
	switch q.kind {
	case qSelf:
		fs := m.self[q.key]
		for i := range fs {
			if fs[i].stamp == q.stamp {
				fs = append(fs[:i], fs[i+1:]...)
				if len(fs) == 0 {
					delete(m.self, q.key)
				} else {
					m.self[q.key] = fs
				}
				return true
			}
		}
	case qOther:
		if f, ok := m.other[q.key.addr]; ok && f.stamp == q.stamp {
			delete(m.other, q.key.addr)
			return true
		}
	case qHost:
		if f, ok := m.mxHosts[q.host]; ok && f.stamp == q.stamp {
			delete(m.mxHosts, q.host)
			return true
		}
	case qName:
		if f, ok := m.named[q.key.addr]; ok && f.stamp == q.stamp {
			delete(m.named, q.key.addr)
			return true
		}
	}
	return false
}
