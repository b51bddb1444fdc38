package dashboards

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// Errors of WriteImpact and WriteEnforcement, returned wrapped.
var (
	// ErrUnknownFormat: the format is none of RolloutFormats (the error
	// names them).
	ErrUnknownFormat = errors.New("unknown report format")
	// ErrNoReport: the report is nil.
	ErrNoReport = errors.New("no report")
)

// RolloutFormats returns the formats WriteImpact and WriteEnforcement
// take.
func RolloutFormats() []string {
	return []string{FormatText, FormatMarkdown, FormatCSV, FormatJSON, FormatHTML}
}

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
	return fmt.Errorf("dashboards: %w %q (want one of %s)", ErrUnknownFormat, format, strings.Join(RolloutFormats(), ", "))
}

// WriteImpact writes the impact report ("who breaks if we block outbound
// port 25, and how do they fix it") in one of RolloutFormats: totals
// first, then each affected customer with its hosts, their evidence and
// the action.
//
// CSV has one row per affected host with the columns
//
//	customer     inventory customer ("" when the host is not in it)
//	host         the host's address
//	class        its worst class (the one that decides its action)
//	connections, messages, accepted, rejected
//	first_seen, last_seen   RFC 3339, UTC
//	destinations MX domains looked up, else destination groups; ";"-joined
//	scripts      sending scripts seen in headers; ";"-joined
//	blocklist    lists or providers that rejected its mail; ";"-joined
//	likely_spam  true or false
//	action       what to do; for external-relay-25 it names the provider
//
// Control characters in the data are written as \x.. escapes (JSON keeps
// them raw), and cells that start with = + - @ (or a tab or CR) get a
// leading ' so that a spreadsheet does not run them as formulas.
func WriteImpact(w io.Writer, r *detect.ImpactReport, format string, o RenderOptions) error {
	if r == nil {
		return fmt.Errorf("dashboards: impact: %w", ErrNoReport)
	}
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

// WriteEnforcement writes the enforcement report (before and after the
// block date) in one of RolloutFormats.
//
// CSV is in long form, with the columns section, name, metric, before,
// after, customer, class, last_seen, scripts. The sections, in order:
//
//	class             name = class; metrics connections, messages, hosts
//	blocked_attempts  name "port 25"; metric connections (connects that
//	                  never completed)
//	rejections        name = list or provider; metric count
//	listings          name = DNSBL; metric count (egress listings)
//	still_trying      name = host; metrics connections, not_completed,
//	                  messages (after the block, so before is empty); with
//	                  the host's customer, class, last_seen (RFC 3339) and
//	                  scripts (";"-joined)
//
// customer, class, last_seen and scripts are empty outside still_trying.
// Cells are cleaned and defused against formula injection as in
// WriteImpact.
func WriteEnforcement(w io.Writer, r *detect.EnforcementReport, format string, o RenderOptions) error {
	if r == nil {
		return fmt.Errorf("dashboards: enforcement: %w", ErrNoReport)
	}
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

// mdEscaper keeps data from turning into Markdown: table cells, links,
// emphasis, code spans or raw HTML.
var mdEscaper = strings.NewReplacer("\\", `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "[", `\[`, "]", `\]`,
	"<", "&lt;", ">", "&gt;")

// docWriter remembers the first write error and whether the output ends
// in a blank line, so that a Markdown table (which must follow one) gets
// exactly one.
type docWriter struct {
	errWriter
	tail [2]byte
}

func (d *docWriter) Write(b []byte) (int, error) {
	n, err := d.errWriter.Write(b)
	for _, c := range b[:n] {
		d.tail[0], d.tail[1] = d.tail[1], c
	}
	return n, err
}

func (d *docWriter) blank() bool { return d.tail == [2]byte{'\n', '\n'} }

// flush writes a table after a blank line.
func flush(dw *docWriter, tb *table) {
	if !dw.blank() {
		fmt.Fprint(dw, "\n")
	}
	tb.flush(dw)
}

// cell makes a value from the data safe to print: control characters
// (terminal escapes, line breaks) and invalid UTF-8 become \x.. or \u....
// escapes, and in Markdown the syntax characters are escaped.
func cell(md bool, s string) string {
	clean := true
	for i, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && n <= 1:
				fmt.Fprintf(&b, `\x%02x`, s[i])
			case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
				if r < 0x100 {
					fmt.Fprintf(&b, `\x%02x`, r)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			default:
				b.WriteString(s[i : i+n])
			}
			i += n
		}
		s = b.String()
	}
	if md {
		return mdEscaper.Replace(s)
	}
	return s
}

// header writes a section title after a blank line.
func header(dw *docWriter, md bool, level int, title string) {
	p := func(f string, a ...any) { fmt.Fprintf(dw, f, a...) }
	if md {
		if !dw.blank() {
			p("\n")
		}
		p("%s %s\n\n", strings.Repeat("#", level), title)
		return
	}
	under := "="
	if level > 2 {
		under = "-"
	}
	p("\n%s\n%s\n", title, strings.Repeat(under, len([]rune(title))))
}

func meta(p func(string, ...any), md bool, o RenderOptions, what string) {
	title := cell(md, o.Title)
	if md {
		p("# %s\n\n", title)
	} else {
		p("%s\n%s\n", title, strings.Repeat("=", len([]rune(title))))
	}
	p("%s", what)
	if o.Source != "" {
		p("Data: %s.\n", cell(md, o.Source))
	}
}

func footer(p func(string, ...any), o RenderOptions) {
	if !o.Generated.IsZero() {
		p("\nGenerated %s by mxwatch.\n", ts(o.Generated))
	}
}

func impactText(w io.Writer, r *detect.ImpactReport, md bool, o RenderOptions) error {
	dw := &docWriter{errWriter: errWriter{w: w}}
	p := func(f string, a ...any) { fmt.Fprintf(dw, f, a...) }
	meta(p, md, o, fmt.Sprintf("Window: %s.\n", windowString(r.Window)))
	t := r.Totals
	header(dw, md, 2, "Summary")
	if len(r.ByClass) == 0 {
		p("No findings in this window.\n")
		footer(p, o)
		return dw.err
	}
	if t.Hosts == 0 {
		p("No host seen in this window would be affected by a port-25 block (%d messages seen).\n", t.Total)
		footer(p, o)
		return dw.err
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
		tb.row(cell(md, string(c.Class)), c.Hosts, c.Connections, c.Messages, classAdvice(c.Class))
	}
	flush(dw, tb)
	header(dw, md, 2, "By customer")
	for _, c := range r.Customers {
		header(dw, md, 3, fmt.Sprintf("%s: %s, %s, likely compromised: %d", cell(md, customerName(c.Customer)), plural(c.Hosts, "host"), plural(int(c.Messages), "message"), c.LikelySpamHosts))
		tb.header("host", "class", "connections", "messages", "rejected", "destinations", "scripts", "blocklist", "first seen", "last seen")
		for _, s := range c.Sources {
			tb.row(s.Host, cell(md, string(s.Class)), s.Connections, s.Messages, s.Rejected, cell(md, names(destinations(&s), 3)),
				cell(md, names(s.Scripts, 2)), cell(md, names(s.Blocklist, 3)), ts(s.First), ts(s.Last))
		}
		flush(dw, tb)
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
	return dw.err
}

func enforcementText(w io.Writer, r *detect.EnforcementReport, md bool, o RenderOptions) error {
	dw := &docWriter{errWriter: errWriter{w: w}}
	p := func(f string, a ...any) { fmt.Fprintf(dw, f, a...) }
	meta(p, md, o, fmt.Sprintf("Block at %s; before: %s; after: %s.\n", ts(r.At), windowString(r.Before), windowString(r.After)))
	header(dw, md, 2, "Outbound mail by class")
	tb := newTable(md)
	if len(r.ByClass) == 0 {
		p("No outbound mail connections in either window.\n")
	} else {
		tb.header("class", "connections before", "after", "messages before", "after", "hosts before", "after")
		for _, c := range r.ByClass {
			tb.row(cell(md, string(c.Class)), c.Connections.Before, c.Connections.After, c.Messages.Before, c.Messages.After, c.Hosts.Before, c.Hosts.After)
		}
		flush(dw, tb)
	}
	p("\nBlocked attempts (port-25 connects that never completed): %d before, %d after.\n", r.Blocked.Before, r.Blocked.After)
	header(dw, md, 2, fmt.Sprintf("Still trying after the block (%s)", plural(r.StillTryingTotal, "host")))
	if len(r.StillTrying) == 0 {
		p("No host connected to port 25 after the block.\n")
	} else {
		tb.header("host", "customer", "class", "connections", "not completed", "messages", "last seen", "scripts")
		for _, s := range r.StillTrying {
			tb.row(s.Host, cell(md, customerName(s.Customer)), cell(md, string(s.Class)), s.Connections, s.Blocked, s.Messages, ts(s.Last), cell(md, names(s.Scripts, 2)))
		}
		flush(dw, tb)
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
		header(dw, md, 2, sec.title)
		if len(sec.rows) == 0 {
			p("%s\n", sec.none)
			continue
		}
		tb.header("list", "before", "after")
		for _, n := range sec.rows {
			tb.row(cell(md, n.Name), n.Before, n.After)
		}
		flush(dw, tb)
	}
	footer(p, o)
	return dw.err
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
			r[i] = csvSafe(cell(false, r[i]))
		}
		if err := cw.Write(r); err != nil {
			return fmt.Errorf("dashboards: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("dashboards: csv: %w", err)
	}
	return nil
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
		"destinations", "scripts", "blocklist", "likely_spam", "action"}}
	for _, c := range r.Customers {
		for _, s := range c.Sources {
			rows = append(rows, []string{c.Customer, s.Host.String(), string(s.Class), u(s.Connections), u(s.Messages), u(s.Accepted),
				u(s.Rejected), ts(s.First), ts(s.Last), allNames(destinations(&s)), allNames(s.Scripts), allNames(s.Blocklist),
				strconv.FormatBool(s.LikelySpam), s.Action})
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
