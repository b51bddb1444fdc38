package dashboards

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// The HTML reports are one self-contained file each: inline CSS, inline
// SVG charts, no script and no external reference of any kind, so that a
// manager can open them offline and nothing phones home. Every string
// from the data goes through html/template's escaping, after cell has
// turned its control characters into visible \x.. escapes.

const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1.05rem}
.meta{color:#666}.kpis{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}.kpi b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;display:block;overflow-x:auto}th,td{border-bottom:1px solid #e5e5e5;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}td.nw{white-space:nowrap}
.spam{color:#b00020;font-weight:600}.empty{padding:1rem;background:#f6f6f6;border-radius:6px}
svg{max-width:100%;height:auto;font:11px system-ui,sans-serif}.legend span{display:inline-block;margin-right:1rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
footer{margin-top:2rem;color:#888;font-size:.85rem}`

type htmlRect struct {
	X, Y, W, H float64
	Color      string
	Opacity    float64
	Title      string
}

type htmlText struct {
	X, Y   float64
	Anchor string
	Text   string
}

type htmlChart struct {
	ID, Label     string
	Width, Height int
	Rects         []htmlRect
	Texts         []htmlText
	Lines         []htmlRect // axis lines as thin rects
	Marks         []htmlRect // event lines (the block), drawn over the bars
}

type legendItem struct{ Name, Color string }

var funcs = template.FuncMap{
	"advice":   classAdvice,
	"customer": func(c string) string { return cell(false, customerName(c)) },
	"names":    func(rows []detect.NameCount, n int) string { return cell(false, names(rows, n)) },
	"clean":    func(s string) string { return cell(false, s) },
	"dest":     func(s detect.Source) []detect.NameCount { return destinations(&s) },
	"ts":       ts,
}

// The templates are parsed on first use: every mxwatch command links this
// package, few render HTML.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{clean .Title}}</title><style>` + css + `</style></head>
<body>
<h1>{{clean .Title}}</h1>
<p class="meta">{{.Meta}}{{if .Source}} Data: {{clean .Source}}.{{end}}</p>
{{template "body" .}}
<footer>{{if not .Generated.IsZero}}Generated {{.GeneratedText}} by mxwatch.{{end}}</footer>
</body></html>
{{define "chart"}}<svg id="{{.ID}}" role="img" aria-label="{{.Label}}" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}">
{{range .Lines}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="#999"/>
{{end}}{{range .Rects}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="{{.Color}}" fill-opacity="{{.Opacity}}"><title>{{clean .Title}}</title></rect>
{{end}}{{range .Marks}}<rect class="mark" x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="#222"><title>{{.Title}}</title></rect>
{{end}}{{range .Texts}}<text x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" text-anchor="{{.Anchor}}">{{.Text}}</text>
{{end}}</svg>{{end}}
{{define "legend"}}<p class="legend">{{range .}}<span><i style="background:{{.Color}}"></i>{{clean .Name}}</span>{{end}}</p>{{end}}
`))
})

var impactBody = sync.OnceValue(func() *template.Template {
	return template.Must(template.Must(page().Clone()).Parse(`{{define "body"}}{{with .R}}
<div class="kpis">
<div class="kpi"><b>{{.Totals.Hosts}}</b>hosts affected</div>
<div class="kpi"><b>{{.Totals.Customers}}</b>customers affected</div>
<div class="kpi"><b>{{printf "%.1f" $.SharePct}}%</b>of mail ({{.Totals.Messages}} of {{.Totals.Total}} messages)</div>
<div class="kpi"><b>{{.Totals.LikelySpam}}</b>of the hosts likely compromised</div>
</div>
{{if not .ByClass}}<p class="empty" id="no-findings">No findings in this window.</p>
{{else}}{{if eq .Totals.Hosts 0}}<p class="empty">No host seen in this window would be affected by a port-25 block.</p>{{end}}
{{if $.Timeline}}<h2>Mail over time by class</h2>
{{template "chart" $.Timeline}}{{template "legend" $.Legend}}{{end}}
{{if .Totals.ByClass}}<h2>Affected, by class</h2>
<table id="by-class"><tr><th>class</th><th>hosts</th><th>connections</th><th>messages</th><th>what to do</th></tr>
{{range .Totals.ByClass}}<tr><td>{{clean (printf "%s" .Class)}}</td><td class="n">{{.Hosts}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Messages}}</td><td>{{advice .Class}}</td></tr>
{{end}}</table>{{end}}
{{if .Customers}}<h2>Affected customers</h2>
<table id="customers"><tr><th>customer</th><th>hosts</th><th>port-25 messages</th><th>likely compromised hosts</th></tr>
{{range .Customers}}<tr><td>{{customer .Customer}}</td><td class="n">{{.Hosts}}</td><td class="n">{{.Messages}}</td><td class="n">{{.LikelySpamHosts}}</td></tr>
{{end}}</table>
<h2>Affected hosts, by customer</h2>
<table id="hosts"><tr><th>customer</th><th>host</th><th>class</th><th>connections</th><th>messages</th><th>accepted</th><th>rejected</th><th>destinations</th><th>scripts</th><th>blocklist</th><th>likely spam</th><th>first seen</th><th>last seen</th><th>action</th></tr>
{{range .Customers}}{{$c := .}}{{range .Sources}}<tr><td>{{customer $c.Customer}}</td><td class="nw">{{.Host}}</td><td class="nw">{{clean (printf "%s" .Class)}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Messages}}</td><td class="n">{{.Accepted}}</td><td class="n">{{.Rejected}}</td><td>{{names (dest .) 3}}</td><td>{{names .Scripts 2}}</td><td>{{names .Blocklist 3}}</td><td{{if .LikelySpam}} class="spam">yes{{else}}>no{{end}}</td><td class="nw">{{ts .First}}</td><td class="nw">{{ts .Last}}</td><td>{{clean .Action}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{if .SourcesUntracked}}<p>({{.SourcesUntracked}} hosts beyond the tracking bound are in the totals only.)</p>{{end}}
{{end}}{{end}}{{end}}`))
})

var enforcementBody = sync.OnceValue(func() *template.Template {
	return template.Must(template.Must(page().Clone()).Parse(`{{define "body"}}{{with .R}}
<div class="kpis">
<div class="kpi"><b>{{.Blocked.After}}</b>blocked attempts after (before: {{.Blocked.Before}})</div>
<div class="kpi"><b>{{.StillTryingTotal}}</b>hosts still trying</div>
</div>
{{if not $.BeforeAfter}}<p class="empty" id="no-findings">No findings in this window (neither before nor after the block).</p>
{{else}}<h2>Before and after the block</h2>
{{template "chart" $.BeforeAfter}}<p class="legend"><span><i style="background:#555;opacity:.45"></i>before (lighter)</span><span><i style="background:#555"></i>after</span></p>
{{if .ByClass}}<table id="by-class"><tr><th>class</th><th>connections before</th><th>after</th><th>messages before</th><th>after</th><th>hosts before</th><th>after</th></tr>
{{range .ByClass}}<tr><td>{{clean (printf "%s" .Class)}}</td><td class="n">{{.Connections.Before}}</td><td class="n">{{.Connections.After}}</td><td class="n">{{.Messages.Before}}</td><td class="n">{{.Messages.After}}</td><td class="n">{{.Hosts.Before}}</td><td class="n">{{.Hosts.After}}</td></tr>
{{end}}</table>{{end}}
{{if $.Timeline}}<h2>Mail over time by class</h2>
{{template "chart" $.Timeline}}{{template "legend" $.Legend}}{{end}}
<h2>Still trying after the block</h2>
{{if .StillTrying}}<table id="still-trying"><tr><th>host</th><th>customer</th><th>class</th><th>connections</th><th>not completed</th><th>messages</th><th>last seen</th><th>scripts</th><th>action</th></tr>
{{range .StillTrying}}<tr><td class="nw">{{.Host}}</td><td>{{customer .Customer}}</td><td class="nw">{{clean (printf "%s" .Class)}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Blocked}}</td><td class="n">{{.Messages}}</td><td class="nw">{{ts .Last}}</td><td>{{names .Scripts 2}}</td><td>{{clean .Action}}</td></tr>
{{end}}</table>{{else}}<p class="empty">No host connected to port 25 after the block.</p>{{end}}
<h2>Blocklist rejections</h2>
{{if .Rejections}}<table id="rejections"><tr><th>list or provider</th><th>before</th><th>after</th></tr>
{{range .Rejections}}<tr><td>{{clean .Name}}</td><td class="n">{{.Before}}</td><td class="n">{{.After}}</td></tr>{{end}}</table>{{else}}<p class="empty">No blocklist rejections in either window.</p>{{end}}
<h2>DNSBL listings of egress addresses</h2>
{{if .Listings}}<table id="listings"><tr><th>list</th><th>before</th><th>after</th></tr>
{{range .Listings}}<tr><td>{{clean .Name}}</td><td class="n">{{.Before}}</td><td class="n">{{.After}}</td></tr>{{end}}</table>{{else}}<p class="empty">No DNSBL listings recorded in either window.</p>{{end}}
{{end}}{{end}}{{end}}`))
})

type htmlPage struct {
	Title, Meta, Source string
	Generated           time.Time
	R                   any
	SharePct            float64
	Timeline            *htmlChart
	BeforeAfter         *htmlChart
	Legend              []legendItem
}

func (p htmlPage) GeneratedText() string { return ts(p.Generated) }

func impactHTML(w io.Writer, r *detect.ImpactReport, o RenderOptions) error {
	p := htmlPage{Title: o.Title, Source: o.Source, Generated: o.Generated, R: r, SharePct: 100 * r.Totals.Share,
		Meta: "Window: " + windowString(r.Window) + "."}
	p.Timeline, p.Legend = timelineChart(r.Timeline)
	if err := impactBody().ExecuteTemplate(w, "page", p); err != nil {
		return fmt.Errorf("dashboards: impact html: %w", err)
	}
	return nil
}

func enforcementHTML(w io.Writer, r *detect.EnforcementReport, o RenderOptions) error {
	p := htmlPage{Title: o.Title, Source: o.Source, Generated: o.Generated, R: r,
		Meta: fmt.Sprintf("Block at %s; before: %s; after: %s.", ts(r.At), windowString(r.Before), windowString(r.After))}
	p.Timeline, p.Legend = timelineChart(r.Timeline, timeMark{At: r.At, Label: "block"})
	p.BeforeAfter = beforeAfterChart(r)
	if err := enforcementBody().ExecuteTemplate(w, "page", p); err != nil {
		return fmt.Errorf("dashboards: enforcement html: %w", err)
	}
	return nil
}

const (
	chartW, chartH           = 960, 280
	padL, padR, padT, padB   = 56.0, 16.0, 20.0, 40.0
	plotW, plotH             = chartW - padL - padR, chartH - padT - padB
	minBarGap, beforeOpacity = 1.0, 0.45
	timeLabelLayout          = "2006-01-02 15:04"
	maxTimeLabels            = 6
	yTicks                   = 4
	otherColor               = "#8c8c8c"
)

// classColor gives each class its colour in every chart; a class this
// version does not know (from a newer report) is grey.
func classColor(c event.Class) string {
	if col, ok := classColors[c]; ok {
		return col
	}
	return otherColor
}

// classRank orders classes as the reports do; unknown ones go last.
func classRank(c event.Class) int {
	if i := slices.Index(event.Classes, c); i >= 0 {
		return i
	}
	return len(event.Classes)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, at least 4 so
// that the ticks of a count axis are whole numbers.
func niceMax(v float64) float64 {
	if !(v > yTicks) { // also NaN
		return yTicks
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// panel is one plot area of a chart, in chart coordinates.
type panel struct{ x, w float64 }

// axes draws a panel's axes, its count ticks and its unit.
func axes(c *htmlChart, pn panel, ymax float64, unit string) {
	c.Lines = append(c.Lines, htmlRect{X: pn.x, Y: padT, W: 1, H: plotH}, htmlRect{X: pn.x, Y: padT + plotH, W: pn.w, H: 1})
	for i := 0; i <= yTicks; i++ {
		v := ymax * float64(i) / yTicks
		y := padT + plotH - plotH*float64(i)/yTicks
		c.Texts = append(c.Texts, htmlText{X: pn.x - 6, Y: y + 4, Anchor: "end", Text: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	c.Texts = append(c.Texts, htmlText{X: pn.x - 6, Y: padT - 8, Anchor: "start", Text: unit})
}

// maxBars bounds the bars of the timeline chart: finer buckets are merged.
const maxBars = 120

// chartBuckets are the bucket sizes the chart may merge into; they nest
// like the report's own.
var chartBuckets = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// coarser returns tl with its points in time order, merged into the
// smallest bucket that keeps the span within maxBars bars. A report read
// back from JSON may hold anything: a bucket of zero or less is taken as
// one minute.
func coarser(tl detect.Timeline) detect.Timeline {
	if tl.Bucket <= 0 {
		tl.Bucket = time.Minute
	}
	pts := slices.Clone(tl.Points)
	slices.SortStableFunc(pts, func(a, b detect.TimePoint) int { return a.Start.Compare(b.Start) })
	if len(pts) == 0 {
		return detect.Timeline{Bucket: tl.Bucket}
	}
	span := pts[len(pts)-1].Start.Add(tl.Bucket).Sub(pts[0].Start)
	b := tl.Bucket
	for _, c := range chartBuckets {
		if span/b <= maxBars {
			break
		}
		if c > b && c%tl.Bucket == 0 {
			b = c
		}
	}
	out := detect.Timeline{Bucket: b}
	for _, p := range pts {
		start := p.Start.Truncate(b)
		if n := len(out.Points); n == 0 || !out.Points[n-1].Start.Equal(start) {
			out.Points = append(out.Points, detect.TimePoint{Start: start})
		}
		last := &out.Points[len(out.Points)-1]
	merge:
		for _, cc := range p.ByClass {
			for i := range last.ByClass {
				if last.ByClass[i].Class == cc.Class {
					last.ByClass[i].Connections += cc.Connections
					last.ByClass[i].Messages += cc.Messages
					continue merge
				}
			}
			last.ByClass = append(last.ByClass, detect.ClassCount{Class: cc.Class, Connections: cc.Connections, Messages: cc.Messages})
		}
	}
	for i := range out.Points {
		slices.SortStableFunc(out.Points[i].ByClass, func(a, b detect.ClassCount) int { return classRank(a.Class) - classRank(b.Class) })
	}
	return out
}

func bucketName(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// timeMark is a labelled vertical line on a time axis.
type timeMark struct {
	At    time.Time
	Label string
}

// timelineChart stacks the messages of each class in each bucket, on a
// time axis from the first bucket to the end of the last. It returns nil
// when there is nothing to draw.
func timelineChart(tl detect.Timeline, marks ...timeMark) (*htmlChart, []legendItem) {
	tl = coarser(tl)
	if len(tl.Points) == 0 {
		return nil, nil
	}
	c := &htmlChart{ID: "chart-timeline", Label: "messages over time by class", Width: chartW, Height: chartH}
	var ymax float64
	var classes []event.Class
	for _, pt := range tl.Points {
		var sum float64
		for _, cc := range pt.ByClass {
			sum += float64(cc.Messages)
			if !slices.Contains(classes, cc.Class) {
				classes = append(classes, cc.Class)
			}
		}
		ymax = max(ymax, sum)
	}
	ymax = niceMax(ymax)
	pn := panel{x: padL, w: plotW}
	axes(c, pn, ymax, "messages per "+bucketName(tl.Bucket))
	first, last := tl.Points[0].Start, tl.Points[len(tl.Points)-1].Start.Add(tl.Bucket)
	span := max(last.Sub(first).Seconds(), tl.Bucket.Seconds())
	xOf := func(t time.Time) float64 { return pn.x + pn.w*t.Sub(first).Seconds()/span }
	barW := max(pn.w*tl.Bucket.Seconds()/span-minBarGap, 1)
	for _, pt := range tl.Points {
		x := xOf(pt.Start)
		y := padT + plotH
		for _, cc := range pt.ByClass {
			h := plotH * float64(cc.Messages) / ymax
			y -= h
			c.Rects = append(c.Rects, htmlRect{X: x, Y: y, W: barW, H: h, Color: classColor(cc.Class), Opacity: 1,
				Title: fmt.Sprintf("%s, %s per %s: %d messages, %d connections", pt.Start.UTC().Format(timeLabelLayout), cell(false, string(cc.Class)),
					bucketName(tl.Bucket), cc.Messages, cc.Connections)})
		}
	}
	// Time labels at evenly spaced bucket boundaries, first and last included.
	n := min(maxTimeLabels, len(tl.Points)+1)
	steps := int64(last.Sub(first) / tl.Bucket)
	for i := range n {
		t := first.Add(time.Duration(steps*int64(i)/int64(max(n-1, 1))) * tl.Bucket)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case n - 1:
			anchor = "end"
		}
		x := xOf(t)
		c.Lines = append(c.Lines, htmlRect{X: x, Y: padT + plotH, W: 1, H: 4})
		c.Texts = append(c.Texts, htmlText{X: x, Y: chartH - padB + 18, Anchor: anchor, Text: t.UTC().Format(timeLabelLayout)})
	}
	c.Texts = append(c.Texts, htmlText{X: pn.x + pn.w, Y: chartH - 6, Anchor: "end", Text: "time (UTC)"})
	for _, m := range marks {
		if m.At.Before(first) || m.At.After(last) {
			continue
		}
		x := xOf(m.At)
		c.Marks = append(c.Marks, htmlRect{X: x, Y: padT, W: 1.5, H: plotH, Title: m.Label + " " + m.At.UTC().Format(timeLabelLayout)})
		c.Texts = append(c.Texts, htmlText{X: x + 4, Y: padT + 10, Anchor: "start", Text: m.Label})
	}
	slices.SortStableFunc(classes, func(a, b event.Class) int { return classRank(a) - classRank(b) })
	legend := make([]legendItem, 0, len(classes))
	for _, cl := range classes {
		legend = append(legend, legendItem{Name: cell(false, string(cl)), Color: classColor(cl)})
	}
	return c, legend
}

// beforeAfterChart draws two panels with their own scales: messages per
// class, and blocked attempts (port-25 connects that never completed);
// in each, a lighter bar (before) next to a full one (after). It returns
// nil when both windows are empty.
func beforeAfterChart(r *detect.EnforcementReport) *htmlChart {
	if len(r.ByClass) == 0 && r.Blocked.Before == 0 && r.Blocked.After == 0 {
		return nil
	}
	groups := make([]barGroup, 0, len(r.ByClass))
	for _, c := range r.ByClass {
		groups = append(groups, barGroup{cell(false, string(c.Class)), classColor(c.Class), c.Messages})
	}
	c := &htmlChart{ID: "chart-before-after", Label: "messages by class and blocked attempts, before and after the block", Width: chartW, Height: chartH}
	const gap = 90.0
	blockedW := plotW * 0.18
	bars(c, panel{x: padL, w: plotW - blockedW - gap}, groups, "messages")
	bars(c, panel{x: padL + plotW - blockedW, w: blockedW}, []barGroup{{"blocked attempts", "#555555", r.Blocked}}, "connects not completed")
	return c
}

// barGroup is one pair of before/after bars.
type barGroup struct {
	name, color string
	ba          detect.Change
}

// bars draws before/after pairs in a panel, with the value over each bar.
func bars(c *htmlChart, pn panel, groups []barGroup, unit string) {
	var ymax float64
	for _, g := range groups {
		ymax = max(ymax, float64(g.ba.Before), float64(g.ba.After))
	}
	ymax = niceMax(ymax)
	axes(c, pn, ymax, unit)
	if len(groups) == 0 {
		return
	}
	slot := pn.w / float64(len(groups))
	barW := slot * 0.3
	for i, g := range groups {
		x0 := pn.x + slot*float64(i) + slot*0.15
		for j, v := range []uint64{g.ba.Before, g.ba.After} {
			h := plotH * float64(v) / ymax
			op, when := beforeOpacity, "before"
			if j == 1 {
				op, when = 1, "after"
			}
			x := x0 + float64(j)*(barW+slot*0.1)
			c.Rects = append(c.Rects, htmlRect{X: x, Y: padT + plotH - h, W: barW, H: h, Color: g.color, Opacity: op,
				Title: fmt.Sprintf("%s %s: %d %s", g.name, when, v, unit)})
			c.Texts = append(c.Texts, htmlText{X: x + barW/2, Y: padT + plotH - h - 4, Anchor: "middle", Text: strconv.FormatUint(v, 10)})
		}
		c.Texts = append(c.Texts, htmlText{X: x0 + barW + slot*0.05, Y: chartH - padB + 18, Anchor: "middle", Text: g.name})
		c.Texts = append(c.Texts, htmlText{X: x0 + barW + slot*0.05, Y: chartH - padB + 32, Anchor: "middle", Text: "before | after"})
	}
}
