package dashboards

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// The HTML reports are one self-contained file each: inline CSS, inline
// SVG charts, no script and no external reference of any kind, so that a
// manager can open them offline and nothing phones home. Every string
// from the data goes through html/template's escaping.

const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1.05rem}
.meta{color:#666}.kpis{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.kpi{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}.kpi b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;display:block;overflow-x:auto}th,td{border-bottom:1px solid #e5e5e5;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
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
}

type legendItem struct{ Name, Color string }

var funcs = template.FuncMap{
	"advice":   classAdvice,
	"customer": customerName,
	"names":    names,
	"dest":     func(s detect.Source) []detect.NameCount { return destinations(&s) },
	"ts":       ts,
}

var page = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>` + css + `</style></head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{.Meta}}{{if .Source}} Data: {{.Source}}.{{end}}</p>
{{template "body" .}}
<footer>{{if not .Generated.IsZero}}Generated {{.GeneratedText}} by mxwatch.{{end}}</footer>
</body></html>
{{define "chart"}}<svg id="{{.ID}}" role="img" aria-label="{{.Label}}" viewBox="0 0 {{.Width}} {{.Height}}" width="{{.Width}}" height="{{.Height}}">
{{range .Lines}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="#999"/>
{{end}}{{range .Rects}}<rect x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" width="{{printf "%.1f" .W}}" height="{{printf "%.1f" .H}}" fill="{{.Color}}" fill-opacity="{{.Opacity}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Texts}}<text x="{{printf "%.1f" .X}}" y="{{printf "%.1f" .Y}}" text-anchor="{{.Anchor}}">{{.Text}}</text>
{{end}}</svg>{{end}}
{{define "legend"}}<p class="legend">{{range .}}<span><i style="background:{{.Color}}"></i>{{.Name}}</span>{{end}}</p>{{end}}
`))

var impactBody = template.Must(template.Must(page.Clone()).Parse(`{{define "body"}}{{with .R}}
<div class="kpis">
<div class="kpi"><b>{{.Totals.Hosts}}</b>hosts affected</div>
<div class="kpi"><b>{{.Totals.Customers}}</b>customers</div>
<div class="kpi"><b>{{printf "%.1f" $.SharePct}}%</b>of mail ({{.Totals.Messages}} of {{.Totals.Total}} messages)</div>
<div class="kpi"><b>{{.Totals.LikelySpam}}</b>likely compromised</div>
</div>
{{if eq .Totals.Hosts 0}}<p class="empty">No host seen in this window would be affected by a port-25 block.</p>{{end}}
<h2>Mail over time by class</h2>
{{if $.Timeline}}{{template "chart" $.Timeline}}{{template "legend" $.Legend}}{{else}}<p class="empty">No findings in this window.</p>{{end}}
{{if .Totals.ByClass}}<h2>Affected, by class</h2>
<table id="by-class"><tr><th>class</th><th>hosts</th><th>connections</th><th>messages</th><th>what to do</th></tr>
{{range .Totals.ByClass}}<tr><td>{{.Class}}</td><td class="n">{{.Hosts}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Messages}}</td><td>{{advice .Class}}</td></tr>
{{end}}</table>{{end}}
{{if .Customers}}<h2>Affected hosts by customer</h2>
<table id="customers"><tr><th>customer</th><th>host</th><th>class</th><th>connections</th><th>messages</th><th>rejected</th><th>destinations</th><th>scripts</th><th>blocklist</th><th>first seen</th><th>last seen</th><th>action</th></tr>
{{range .Customers}}{{$c := .}}{{range .Sources}}<tr><td>{{customer $c.Customer}}</td><td>{{.Host}}</td><td{{if .LikelySpam}} class="spam"{{end}}>{{.Class}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Messages}}</td><td class="n">{{.Rejected}}</td><td>{{names (dest .) 3}}</td><td>{{names .Scripts 2}}</td><td>{{names .Blocklist 3}}</td><td>{{ts .First}}</td><td>{{ts .Last}}</td><td>{{.Action}}</td></tr>
{{end}}{{end}}</table>{{end}}
{{end}}{{end}}`))

var enforcementBody = template.Must(template.Must(page.Clone()).Parse(`{{define "body"}}{{with .R}}
<div class="kpis">
<div class="kpi"><b>{{.Blocked.After}}</b>blocked attempts after (before: {{.Blocked.Before}})</div>
<div class="kpi"><b>{{.StillTryingTotal}}</b>hosts still trying</div>
</div>
{{if not .ByClass}}<p class="empty">No findings in either window.</p>{{end}}
<h2>Before and after, by class</h2>
{{if $.BeforeAfter}}{{template "chart" $.BeforeAfter}}<p class="legend"><span><i style="background:#999;opacity:.45"></i>before (lighter)</span><span><i style="background:#999"></i>after</span></p>{{end}}
{{if .ByClass}}<table id="by-class"><tr><th>class</th><th>connections before</th><th>after</th><th>messages before</th><th>after</th><th>hosts before</th><th>after</th></tr>
{{range .ByClass}}<tr><td>{{.Class}}</td><td class="n">{{.Connections.Before}}</td><td class="n">{{.Connections.After}}</td><td class="n">{{.Messages.Before}}</td><td class="n">{{.Messages.After}}</td><td class="n">{{.Hosts.Before}}</td><td class="n">{{.Hosts.After}}</td></tr>
{{end}}</table>{{end}}
<h2>Mail over time by class</h2>
{{if $.Timeline}}{{template "chart" $.Timeline}}{{template "legend" $.Legend}}{{else}}<p class="empty">No findings in these windows.</p>{{end}}
<h2>Still trying after the block</h2>
{{if .StillTrying}}<table id="still-trying"><tr><th>host</th><th>customer</th><th>class</th><th>connections</th><th>not completed</th><th>messages</th><th>last seen</th><th>scripts</th><th>action</th></tr>
{{range .StillTrying}}<tr><td>{{.Host}}</td><td>{{customer .Customer}}</td><td>{{.Class}}</td><td class="n">{{.Connections}}</td><td class="n">{{.Blocked}}</td><td class="n">{{.Messages}}</td><td>{{ts .Last}}</td><td>{{names .Scripts 2}}</td><td>{{.Action}}</td></tr>
{{end}}</table>{{else}}<p class="empty">No host connected to port 25 after the block.</p>{{end}}
<h2>Blocklist rejections</h2>
{{if .Rejections}}<table id="rejections"><tr><th>list or provider</th><th>before</th><th>after</th></tr>
{{range .Rejections}}<tr><td>{{.Name}}</td><td class="n">{{.Before}}</td><td class="n">{{.After}}</td></tr>{{end}}</table>{{else}}<p class="empty">No blocklist rejections in either window.</p>{{end}}
<h2>DNSBL listings of egress addresses</h2>
{{if .Listings}}<table id="listings"><tr><th>list</th><th>before</th><th>after</th></tr>
{{range .Listings}}<tr><td>{{.Name}}</td><td class="n">{{.Before}}</td><td class="n">{{.After}}</td></tr>{{end}}</table>{{else}}<p class="empty">No DNSBL listings recorded in either window.</p>{{end}}
{{end}}{{end}}`))

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
	return impactBody.ExecuteTemplate(w, "page", p)
}

func enforcementHTML(w io.Writer, r *detect.EnforcementReport, o RenderOptions) error {
	p := htmlPage{Title: o.Title, Source: o.Source, Generated: o.Generated, R: r,
		Meta: fmt.Sprintf("Block at %s; before: %s; after: %s.", ts(r.At), windowString(r.Before), windowString(r.After))}
	p.Timeline, p.Legend = timelineChart(r.Timeline)
	p.BeforeAfter = beforeAfterChart(r)
	return enforcementBody.ExecuteTemplate(w, "page", p)
}

const (
	chartW, chartH             = 960, 280
	padL, padR, padT, padB     = 56.0, 16.0, 16.0, 40.0
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	minBarGap, beforeOpacity   = 1.0, 0.45
	timeLabelLayout            = "2006-01-02 15:04"
	maxTimeLabels, yAxisLabels = 6, 4
)

// niceMax rounds v up to 1, 2 or 5 times a power of ten, at least 4 so
// that the four ticks of a count axis are whole numbers.
func niceMax(v float64) float64 {
	if v <= 4 {
		return 4
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func axes(c *htmlChart, ymax float64, unit string) {
	c.Lines = append(c.Lines, htmlRect{X: padL, Y: padT, W: 1, H: plotH}, htmlRect{X: padL, Y: padT + plotH, W: plotW, H: 1})
	for i := 0; i <= yAxisLabels; i++ {
		v := ymax * float64(i) / yAxisLabels
		y := padT + plotH - plotH*float64(i)/yAxisLabels
		c.Texts = append(c.Texts, htmlText{X: padL - 6, Y: y + 4, Anchor: "end", Text: fmt.Sprintf("%g", v)})
	}
	c.Texts = append(c.Texts, htmlText{X: 4, Y: padT - 4, Anchor: "start", Text: unit})
}

// maxBars bounds the bars of the timeline chart: finer buckets are merged.
const maxBars = 120

// chartBuckets are the bucket sizes the chart may merge into; they nest
// like the report's own.
var chartBuckets = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// coarser merges tl's points into the smallest bucket that keeps the span
// within maxBars bars.
func coarser(tl detect.Timeline) detect.Timeline {
	if len(tl.Points) == 0 {
		return tl
	}
	span := tl.Points[len(tl.Points)-1].Start.Add(tl.Bucket).Sub(tl.Points[0].Start)
	b := tl.Bucket
	for _, c := range chartBuckets {
		if c >= tl.Bucket && c%tl.Bucket == 0 {
			b = c
			if span/c <= maxBars {
				break
			}
		}
	}
	if b == tl.Bucket {
		return tl
	}
	out := detect.Timeline{Bucket: b}
	for _, p := range tl.Points {
		start := p.Start.Truncate(b)
		if n := len(out.Points); n == 0 || !out.Points[n-1].Start.Equal(start) {
			out.Points = append(out.Points, detect.TimePoint{Start: start})
		}
		last := &out.Points[len(out.Points)-1]
		for _, cc := range p.ByClass {
			found := false
			for i := range last.ByClass {
				if last.ByClass[i].Class == cc.Class {
					last.ByClass[i].Connections += cc.Connections
					last.ByClass[i].Messages += cc.Messages
					found = true
				}
			}
			if !found {
				last.ByClass = append(last.ByClass, detect.ClassCount{Class: cc.Class, Connections: cc.Connections, Messages: cc.Messages})
			}
		}
	}
	for i := range out.Points { // keep the report's class order
		slices.SortStableFunc(out.Points[i].ByClass, func(a, b detect.ClassCount) int {
			return slices.Index(event.Classes, a.Class) - slices.Index(event.Classes, b.Class)
		})
	}
	return out
}

func bucketName(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// timelineChart stacks connections per class in each bucket.
func timelineChart(tl detect.Timeline) (*htmlChart, []legendItem) {
	if len(tl.Points) == 0 {
		return nil, nil
	}
	tl = coarser(tl)
	c := &htmlChart{ID: "chart-timeline", Label: "connections over time by class", Width: chartW, Height: chartH}
	var ymax float64
	seen := map[event.Class]bool{}
	for _, pt := range tl.Points {
		var sum float64
		for _, cc := range pt.ByClass {
			sum += float64(cc.Connections)
			seen[cc.Class] = true
		}
		ymax = max(ymax, sum)
	}
	ymax = niceMax(ymax)
	axes(c, ymax, "connections per "+bucketName(tl.Bucket))
	// Buckets are placed on a time axis from the first to the last.
	first, last := tl.Points[0].Start, tl.Points[len(tl.Points)-1].Start.Add(tl.Bucket)
	span := last.Sub(first).Seconds()
	barW := max(plotW*tl.Bucket.Seconds()/span-minBarGap, 1)
	for _, pt := range tl.Points {
		x := padL + plotW*pt.Start.Sub(first).Seconds()/span
		y := padT + plotH
		for _, cc := range pt.ByClass {
			h := plotH * float64(cc.Connections) / ymax
			y -= h
			c.Rects = append(c.Rects, htmlRect{X: x, Y: y, W: barW, H: h, Color: classColors[cc.Class], Opacity: 1,
				Title: fmt.Sprintf("%s %s: %d connections, %d messages", pt.Start.UTC().Format(timeLabelLayout), cc.Class, cc.Connections, cc.Messages)})
		}
	}
	n := min(maxTimeLabels, len(tl.Points))
	for i := 0; i < n; i++ {
		t := first.Add(time.Duration(float64(last.Sub(first)) * float64(i) / float64(max(n-1, 1))))
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case n - 1:
			anchor = "end"
		}
		c.Texts = append(c.Texts, htmlText{X: padL + plotW*t.Sub(first).Seconds()/span, Y: chartH - padB + 16, Anchor: anchor, Text: t.UTC().Format(timeLabelLayout)})
	}
	var legend []legendItem
	for _, cl := range event.Classes {
		if seen[cl] {
			legend = append(legend, legendItem{Name: string(cl), Color: classColors[cl]})
		}
	}
	return c, legend
}

// beforeAfterChart draws, per class and for blocked attempts, a lighter
// bar (before) next to a full one (after), in connections.
func beforeAfterChart(r *detect.EnforcementReport) *htmlChart {
	type group struct {
		name   string
		color  string
		ba     detect.Change
		suffix string
	}
	var groups []group
	for _, c := range r.ByClass {
		groups = append(groups, group{string(c.Class), classColors[c.Class], c.Connections, ""})
	}
	groups = append(groups, group{"blocked attempts", "#555555", r.Blocked, ""})
	c := &htmlChart{ID: "chart-before-after", Label: "connections before and after the block, by class", Width: chartW, Height: chartH}
	var ymax float64
	for _, g := range groups {
		ymax = max(ymax, float64(g.ba.Before), float64(g.ba.After))
	}
	ymax = niceMax(ymax)
	axes(c, ymax, "connections")
	slot := plotW / float64(len(groups))
	barW := slot * 0.3
	for i, g := range groups {
		x0 := padL + slot*float64(i) + slot*0.15
		for j, v := range []uint64{g.ba.Before, g.ba.After} {
			h := plotH * float64(v) / ymax
			op, when := beforeOpacity, "before"
			if j == 1 {
				op, when = 1, "after"
			}
			x := x0 + float64(j)*(barW+slot*0.1)
			c.Rects = append(c.Rects, htmlRect{X: x, Y: padT + plotH - h, W: barW, H: h, Color: g.color, Opacity: op,
				Title: fmt.Sprintf("%s %s: %d", g.name, when, v)})
			c.Texts = append(c.Texts, htmlText{X: x + barW/2, Y: padT + plotH - h - 4, Anchor: "middle", Text: fmt.Sprint(v)})
		}
		c.Texts = append(c.Texts, htmlText{X: x0 + barW + slot*0.05, Y: chartH - padB + 16, Anchor: "middle", Text: g.name})
	}
	return c
}
