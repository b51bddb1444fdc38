package dashboards

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// More formats of the rollout reports (besides FormatText and
// FormatMarkdown).
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
	FormatHTML = "html"
)

// RolloutFormats lists the formats WriteImpact and WriteEnforcement take.
var RolloutFormats = []string{FormatText, FormatMarkdown, FormatCSV, FormatJSON, FormatHTML}

// RenderOptions are what a rendering says about itself.
type RenderOptions struct {
	// Title replaces the report's default title.
	Title string
	// Generated is shown in the footer; the caller passes the wall clock.
	Generated time.Time
	// Source says where the data came from ("ClickHouse mxwatch@ch1:9000",
	// "captures: a.pcap").
	Source string
}

func badFormat(format string) error {
	return fmt.Errorf("unknown report format %q (want one of %s)", format, strings.Join(RolloutFormats, ", "))
}

// WriteImpact writes the impact report. CSV has one row per affected host
// with the columns customer, host, class, connections, messages,
// accepted, rejected, first_seen, last_seen (RFC 3339, UTC), destinations
// (MX domains, else destination groups; ";"-separated), scripts,
// blocklist, providers, likely_spam, action.
func WriteImpact(w io.Writer, r *detect.ImpactReport, format string, o RenderOptions) error {
	if o.Title == "" {
		o.Title = "Port-25 block: who would be affected"
	}
	switch format {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return impactCSV(w, r)
	case FormatHTML:
		return impactHTML(w, r, o)
	case FormatText, FormatMarkdown:
		return impactText(w, r, format == FormatMarkdown, o)
	}
	return badFormat(format)
}

// WriteEnforcement writes the enforcement report. CSV is in long form with
// the columns section, name, metric, before, after, customer, class,
// last_seen, scripts: sections "class" (metrics connections, messages,
// hosts), "blocked_attempts", "rejections" and "listings" (by list), and
// "still_trying" (one row per host and metric connections / messages /
// not_completed, with its customer, class, last seen and scripts; before
// is empty there).
func WriteEnforcement(w io.Writer, r *detect.EnforcementReport, format string, o RenderOptions) error {
	if o.Title == "" {
		o.Title = "Port-25 block: before and after"
	}
	switch format {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return enforcementCSV(w, r)
	case FormatHTML:
		return enforcementHTML(w, r, o)
	case FormatText, FormatMarkdown:
		return enforcementText(w, r, format == FormatMarkdown, o)
	}
	return badFormat(format)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func windowString(w detect.Window) string {
	from, to := ts(w.From), ts(w.To)
	switch {
	case from == "" && to == "":
		return "all data"
	case from == "":
		return "until " + to
	case to == "":
		return "from " + from
	}
	return from + " to " + to
}

func names(rows []detect.NameCount, n int) string {
	var out []string
	for i, r := range rows {
		if i == n {
			out = append(out, fmt.Sprintf("+%d more", len(rows)-n))
			break
		}
		out = append(out, r.Name)
	}
	return strings.Join(out, "; ")
}

// destinations are a source's MX domains, or its destination groups.
func destinations(s *detect.Source) []detect.NameCount {
	if len(s.MXDomains) > 0 {
		return s.MXDomains
	}
	return s.Groups
}

func customerName(c string) string {
	if c == "" {
		return "(not in the inventory)"
	}
	return c
}

var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")

// flush writes a table; in Markdown after a blank line, which a table
// needs to start.
func flush(ew *errWriter, tb *table, md bool) {
	if md {
		fmt.Fprint(ew, "\n")
	}
	tb.flush(ew)
}

// cell makes a value safe in a Markdown table cell or heading.
func cell(md bool, s string) string {
	if md {
		return mdEscaper.Replace(s)
	}
	return s
}

func header(p func(string, ...any), md bool, level int, title string) {
	if md {
		p("\n%s %s\n\n", strings.Repeat("#", level), title)
		return
	}
	under := "="
	if level > 2 {
		under = "-"
	}
	p("\n%s\n%s\n", title, strings.Repeat(under, len([]rune(title))))
}

func meta(p func(string, ...any), md bool, o RenderOptions, what string) {
	if md {
		p("# %s\n\n", o.Title)
	} else {
		p("%s\n%s\n", o.Title, strings.Repeat("=", len([]rune(o.Title))))
	}
	p("%s", what)
	if o.Source != "" {
		p("Data: %s.\n", o.Source)
	}
}

func footer(p func(string, ...any), o RenderOptions) {
	if !o.Generated.IsZero() {
		p("\nGenerated %s by mxwatch.\n", ts(o.Generated))
	}
}

func impactText(w io.Writer, r *detect.ImpactReport, md bool, o RenderOptions) error {
	ew := &errWriter{w: w}
	p := func(f string, a ...any) { fmt.Fprintf(ew, f, a...) }
	meta(p, md, o, fmt.Sprintf("Window: %s.\n", windowString(r.Window)))
	t := r.Totals
	header(p, md, 2, "Summary")
	if t.Hosts == 0 {
		p("No host seen in this window would be affected by a port-25 block (%d messages seen).\n", t.Total)
		footer(p, o)
		return ew.err
	}
	p("%s", plural(t.Hosts, "host"))
	if t.Customers > 0 {
		p(" of %s", plural(t.Customers, "customer"))
	}
	p(" would be affected; likely compromised (direct-to-MX, blocklist rejections or alerts): %d.\n", t.LikelySpam)
	p("Their port-25 mail: %d of %d messages seen (%.1f%%).\n", t.Messages, t.Total, 100*t.Share)
	tb := newTable(md)
	tb.header("class", "hosts", "connections", "messages", "what to do")
	for _, c := range t.ByClass {
		tb.row(string(c.Class), c.Hosts, c.Connections, c.Messages, classAdvice(c.Class))
	}
	flush(ew, tb, md)
	header(p, md, 2, "By customer")
	for _, c := range r.Customers {
		header(p, md, 3, fmt.Sprintf("%s: %s, %s, likely compromised: %d", cell(md, customerName(c.Customer)), plural(c.Hosts, "host"), plural(int(c.Messages), "message"), c.LikelySpamHosts))
		tb.header("host", "class", "connections", "messages", "rejected", "destinations", "scripts", "blocklist", "first seen", "last seen")
		for _, s := range c.Sources {
			tb.row(s.Host, s.Class, s.Connections, s.Messages, s.Rejected, cell(md, names(destinations(&s), 3)),
				cell(md, names(s.Scripts, 2)), cell(md, names(s.Blocklist, 3)), ts(s.First), ts(s.Last))
		}
		flush(ew, tb, md)
		p("\n")
		for _, s := range c.Sources {
			bullet(p, md)
			p("%s: %s\n", s.Host, cell(md, s.Action))
		}
	}
	if r.SourcesUntracked > 0 {
		p("\n(%d hosts beyond the tracking bound are in the totals only.)\n", r.SourcesUntracked)
	}
	footer(p, o)
	return ew.err
}

func enforcementText(w io.Writer, r *detect.EnforcementReport, md bool, o RenderOptions) error {
	ew := &errWriter{w: w}
	p := func(f string, a ...any) { fmt.Fprintf(ew, f, a...) }
	meta(p, md, o, fmt.Sprintf("Block at %s; before: %s; after: %s.\n", ts(r.At), windowString(r.Before), windowString(r.After)))
	header(p, md, 2, "Outbound mail by class")
	tb := newTable(md)
	if len(r.ByClass) == 0 {
		p("No outbound mail connections in either window.\n")
	} else {
		tb.header("class", "connections before", "after", "messages before", "after", "hosts before", "after")
		for _, c := range r.ByClass {
			tb.row(string(c.Class), c.Connections.Before, c.Connections.After, c.Messages.Before, c.Messages.After, c.Hosts.Before, c.Hosts.After)
		}
		flush(ew, tb, md)
	}
	p("\nBlocked attempts (port-25 connects that never completed): %d before, %d after.\n", r.Blocked.Before, r.Blocked.After)
	header(p, md, 2, fmt.Sprintf("Still trying after the block (%s)", plural(r.StillTryingTotal, "host")))
	if len(r.StillTrying) == 0 {
		p("No host connected to port 25 after the block.\n")
	} else {
		tb.header("host", "customer", "class", "connections", "not completed", "messages", "last seen", "scripts")
		for _, s := range r.StillTrying {
			tb.row(s.Host, cell(md, customerName(s.Customer)), s.Class, s.Connections, s.Blocked, s.Messages, ts(s.Last), cell(md, names(s.Scripts, 2)))
		}
		flush(ew, tb, md)
		p("\n")
		for _, s := range r.StillTrying {
			bullet(p, md)
			p("%s: %s\n", s.Host, cell(md, s.Action))
		}
	}
	for _, sec := range []struct {
		title string
		rows  []detect.NameChange
		none  string
	}{
		{"Blocklist and provider rejections", r.Rejections, "No blocklist rejections in either window."},
		{"DNSBL listings of egress addresses", r.Listings, "No DNSBL listings recorded (mxwatch rbl check --events) in either window."},
	} {
		header(p, md, 2, sec.title)
		if len(sec.rows) == 0 {
			p("%s\n", sec.none)
			continue
		}
		tb.header("list", "before", "after")
		for _, n := range sec.rows {
			tb.row(cell(md, n.Name), n.Before, n.After)
		}
		flush(ew, tb, md)
	}
	footer(p, o)
	return ew.err
}

// csvSafe defuses cells a spreadsheet would run as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	for _, r := range rows {
		for i := range r {
			r[i] = csvSafe(r[i])
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

func allNames(rows []detect.NameCount) string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return strings.Join(out, ";")
}

func impactCSV(w io.Writer, r *detect.ImpactReport) error {
	rows := [][]string{{"customer", "host", "class", "connections", "messages", "accepted", "rejected", "first_seen", "last_seen",
		"destinations", "scripts", "blocklist", "providers", "likely_spam", "action"}}
	for _, c := range r.Customers {
		for _, s := range c.Sources {
			rows = append(rows, []string{c.Customer, s.Host.String(), string(s.Class), u(s.Connections), u(s.Messages), u(s.Accepted),
				u(s.Rejected), ts(s.First), ts(s.Last), allNames(destinations(&s)), allNames(s.Scripts), allNames(s.Blocklist),
				allNames(s.Providers), strconv.FormatBool(s.LikelySpam), s.Action})
		}
	}
	return writeCSV(w, rows)
}

func enforcementCSV(w io.Writer, r *detect.EnforcementReport) error {
	rows := [][]string{{"section", "name", "metric", "before", "after", "customer", "class", "last_seen", "scripts"}}
	for _, c := range r.ByClass {
		for _, m := range []struct {
			name string
			ch   detect.Change
		}{{"connections", c.Connections}, {"messages", c.Messages}, {"hosts", c.Hosts}} {
			rows = append(rows, []string{"class", string(c.Class), m.name, u(m.ch.Before), u(m.ch.After), "", "", "", ""})
		}
	}
	rows = append(rows, []string{"blocked_attempts", "port 25", "connections", u(r.Blocked.Before), u(r.Blocked.After), "", "", "", ""})
	for _, sec := range []struct {
		name string
		rows []detect.NameChange
	}{{"rejections", r.Rejections}, {"listings", r.Listings}} {
		for _, n := range sec.rows {
			rows = append(rows, []string{sec.name, n.Name, "count", u(n.Before), u(n.After), "", "", "", ""})
		}
	}
	for _, s := range r.StillTrying {
		for _, m := range []struct {
			name string
			v    uint64
		}{{"connections", s.Connections}, {"not_completed", s.Blocked}, {"messages", s.Messages}} {
			rows = append(rows, []string{"still_trying", s.Host.String(), m.name, "", u(m.v), s.Customer, string(s.Class), ts(s.Last), allNames(s.Scripts)})
		}
	}
	return writeCSV(w, rows)
}

// classColors gives each class one colour in every chart.
var classColors = map[event.Class]string{
	event.ClassRelay:           "#4e79a7",
	event.ClassSubmission:      "#59a14f",
	event.ClassExternalRelay25: "#f28e2b",
	event.ClassDirectToMX:      "#e15759",
	event.ClassDirect25:        "#b07aa1",
}
