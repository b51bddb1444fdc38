package spike

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/event"
)

// evaluate applies the rules to st's window idx and appends an alert for
// every metric that fires and has not fired in that window before.
func (d *Detector) evaluate(st *state, idx int64, out []*event.Alert) []*event.Alert {
	w := &st.win[idx&1]
	if w.idx != idx {
		return out
	}
	for m := range numMetrics {
		if w.alerted&(1<<m) != 0 {
			continue
		}
		observed := float64(d.value(st, idx, m))
		if observed == 0 {
			continue
		}
		var threshold float64
		var critical bool
		median, mad := d.baseline(st, idx, m)
		if m == metricRejections {
			burst := float64(d.cfg.RejectionBurst)
			if burst == 0 || observed < burst {
				continue
			}
			threshold, critical = burst, observed >= 2*burst
		} else {
			if d.cfg.OnlySensitive && !st.sensitive {
				continue
			}
			if idx*d.window < d.warmEnd {
				continue
			}
			floor := d.cfg.MinVolume
			if m == metricConnections {
				floor *= 2
			}
			bound := max(d.cfg.Factor*median, median+d.cfg.MADs*mad)
			if observed < floor || observed <= bound {
				continue
			}
			threshold = max(bound, floor)
			critical = observed > d.cfg.CriticalFactor*max(median, floor/d.cfg.Factor)
		}
		w.alerted |= 1 << m
		d.stats.Alerts++
		out = append(out, d.alert(st, w, idx, m, observed, median, threshold, critical))
	}
	return out
}

// baseline returns the median and the median absolute deviation of metric
// m over the History windows before idx, counting windows without traffic
// as zeros from the key's first window on. Without such windows both are 0.
func (d *Detector) baseline(st *state, idx int64, m metric) (median, mad float64) {
	from := max(st.first, idx-int64(d.cfg.History))
	xs := d.scratch[:0]
	for w := from; w < idx; w++ {
		xs = append(xs, float64(d.value(st, w, m)))
	}
	if len(xs) == 0 {
		return 0, 0
	}
	median = medianOf(xs)
	for i, x := range xs {
		xs[i] = math.Abs(x - median)
	}
	mad = medianOf(xs)
	d.scratch = xs[:0]
	return median, mad
}

// medianOf sorts xs in place and returns its median.
func medianOf(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// alert builds the alert of metric m of st's window idx.
func (d *Detector) alert(st *state, w *window, idx int64, m metric, observed, median, threshold float64, critical bool) *event.Alert {
	start := time.Unix(0, idx*d.window).UTC()
	rule := RuleSpike
	if m == metricRejections {
		rule = RuleRejections
	}
	a := &event.Alert{
		Kind:        event.KindAlert,
		Version:     event.SchemaVersion,
		Sensor:      d.cfg.Sensor,
		Rule:        rule,
		Scope:       st.key.scope.String(),
		Group:       st.key.group,
		Metric:      m.String(),
		WindowStart: start,
		Time:        start.Add(d.cfg.Window),
		Window:      d.cfg.Window,
		Observed:    observed,
		Baseline:    median,
		Threshold:   threshold,
		Severity:    event.SeverityWarning,
	}
	if critical {
		a.Severity = event.SeverityCritical
	}
	subject := ""
	switch st.key.scope {
	case scopeHost:
		a.Source = st.key.addr.String()
		a.Host = st.key.addr
		a.Customer = st.customer
		subject = a.Source
	case scopeCustomer:
		a.Source = st.key.name
		a.Customer = st.key.name
		subject = "customer " + a.Source
	case scopeEgress:
		a.Source = st.key.addr.String()
		a.Customer = st.customer
		subject = "egress " + a.Source
	}
	a.ID = alertID(a)
	if w.ev != nil {
		a.TopScripts = top(w.ev[evScripts])
		a.TopDomains = top(w.ev[evDomains])
		a.TopRejections = top(w.ev[evRejections])
	}
	var b strings.Builder
	b.WriteString(subject)
	switch m {
	case metricMessages:
		b.WriteString(" sent " + num(observed) + " messages to ")
	case metricConnections:
		b.WriteString(" opened " + num(observed) + " connections to ")
	case metricRejections:
		b.WriteString(" got " + num(observed) + " blocklist rejections from ")
	}
	b.WriteString(a.Group + " in " + duration(d.cfg.Window))
	if m == metricRejections {
		b.WriteString(" (burst threshold " + num(threshold) + ")")
	} else {
		b.WriteString(" (baseline " + num(median) + ", threshold " + num(threshold) + ")")
	}
	a.Summary = b.String()
	return a
}

// alertID is the first 24 hex digits of the SHA-256 of
// rule|scope|source|group|metric|window start.
func alertID(a *event.Alert) string {
	h := sha256.New()
	for _, s := range []string{a.Rule, a.Scope, a.Source, a.Group, a.Metric} {
		h.Write([]byte(s))
		h.Write([]byte{'|'})
	}
	h.Write([]byte(a.WindowStart.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// top returns the names of the topN largest counts, ties by name.
func top(list []evCount) []string {
	if len(list) == 0 {
		return nil
	}
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, func(a, b evCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, min(topN, len(sorted)))
	for _, e := range sorted[:min(topN, len(sorted))] {
		out = append(out, e.name)
	}
	return out
}

// num formats v with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// duration formats whole hours as "1h" and whole minutes as "5m".
func duration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
