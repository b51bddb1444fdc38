package dashboards

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// Report formats of WriteReport.
const (
	FormatText     = "text"
	FormatMarkdown = "markdown"
)

// WriteReport writes the abuse view for a terminal (FormatText) or as
// Markdown (FormatMarkdown): mail by class, then the sources with their
// evidence, then who a port-25 block would affect and what each should do.
func WriteReport(w io.Writer, r *detect.Report, format string) error {
	md := format == FormatMarkdown
	ew := &errWriter{w: w}
	p := func(format string, args ...any) { fmt.Fprintf(ew, format, args...) }
	h := func(title string) {
		if md {
			p("\n## %s\n\n", title)
		} else {
			p("\n%s\n%s\n", title, strings.Repeat("=", len(title)))
		}
	}
	table := newTable(md)

	h("Outbound mail by class")
	if r.Connections == 0 {
		p("No outbound mail connections from the platform networks.\n")
	} else {
		table.header("class", "connections", "messages", "hosts", "port-25 block")
		for _, c := range r.ByClass {
			table.row(string(c.Class), c.Connections, c.Messages, c.Hosts, blockWord(c.Class))
		}
		table.flush(ew)
	}

	if len(r.Sources) > 0 {
		title := "Sources"
		if r.SourcesTotal > len(r.Sources) {
			title = fmt.Sprintf("Sources (top %d of %d)", len(r.Sources), r.SourcesTotal)
		}
		h(title)
		for i, s := range r.Sources {
			writeSource(ew, p, md, i+1, &s)
		}
		if r.SourcesUntracked > 0 {
			p("(%d hosts beyond the tracking bound are in the totals only)\n", r.SourcesUntracked)
		}
	}

	if len(r.Blocklist) > 0 {
		h("Blocklist and provider rejections")
		table.header("list or provider", "replies")
		for _, b := range r.Blocklist {
			table.row(b.Name, b.Count)
		}
		table.flush(ew)
	}

	if r.AlertsAll > 0 {
		h(fmt.Sprintf("Alerts (%d)", r.AlertsAll))
		for _, a := range r.Alerts {
			bullet(p, md)
			p("%s %s [%s] %s\n", a.Time.UTC().Format(time.RFC3339), a.Severity, a.Rule, a.Summary)
		}
		if r.AlertsAll > len(r.Alerts) {
			p("(%d more in the events)\n", r.AlertsAll-len(r.Alerts))
		}
	}

	h("If outbound port 25 were blocked")
	imp := r.Impact
	if imp.Hosts == 0 {
		p("Nobody seen in this capture would be affected.\n")
	} else {
		p("%s", plural(imp.Hosts, "host"))
		if imp.Customers > 0 {
			p(" of %s", plural(imp.Customers, "customer"))
		}
		p(" would be affected, %d of them likely compromised (direct-to-MX, blocklist rejections or alerts).\n", imp.LikelySpam)
		p("Their port-25 mail: %d of %d messages seen (%.1f%%).\n", imp.Messages, imp.Total, 100*imp.Share)
		table.header("class", "hosts", "connections", "messages", "what to do")
		for _, c := range imp.ByClass {
			table.row(string(c.Class), c.Hosts, c.Connections, c.Messages, classAdvice(c.Class))
		}
		table.flush(ew)
		p("\n")
		for _, s := range r.Sources {
			if !s.Class.BlockedBy25() {
				continue
			}
			bullet(p, md)
			p("%s: %s\n", who(&s), s.Action)
		}
	}
	return ew.err
}

func writeSource(ew *errWriter, p func(string, ...any), md bool, n int, s *detect.Source) {
	if md {
		p("### %d. %s\n\n", n, who(s))
	} else {
		p("\n%d. %s\n", n, who(s))
	}
	line := func(label, format string, args ...any) {
		if md {
			p("- **%s**: %s\n", label, fmt.Sprintf(format, args...))
		} else {
			p("   %-16s %s\n", label+":", fmt.Sprintf(format, args...))
		}
	}
	classes := make([]string, 0, len(s.ByClass))
	for _, c := range s.ByClass {
		classes = append(classes, fmt.Sprintf("%s %d", c.Class, c.Connections))
	}
	line("class", "%s (connections: %s)", s.Class, strings.Join(classes, ", "))
	line("seen", "%s .. %s", s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339))
	msgs := fmt.Sprintf("%d (accepted %d, rejected %d, deferred %d)", s.Messages, s.Accepted, s.Rejected, s.TempFailed)
	if s.Blocked > 0 {
		msgs += fmt.Sprintf("; %d connects never completed", s.Blocked)
	}
	line("messages", "%s", msgs)
	if s.Egress.IsValid() {
		line("egress", "%s", s.Egress)
	}
	if len(s.Scripts) > 0 {
		line("scripts", "%s", joinCounts(s.Scripts))
	}
	if len(s.Helos) > 0 {
		line("helo", "%s", joinCounts(s.Helos))
	}
	if len(s.MessageIDHosts) > 0 {
		line("message-id host", "%s", joinCounts(s.MessageIDHosts))
	}
	if s.RelayBypass > 0 {
		line("relay bypass", "%d connections carried mail without the relay's headers", s.RelayBypass)
	}
	if len(s.MXDomains) > 0 {
		line("MX lookups", "%s", joinCounts(s.MXDomains))
		line("MX hosts", "%s", joinCounts(s.MXHosts))
		line("lookup→connect", "%s .. %s (confidence: %s)", s.DelayMin.Round(time.Millisecond), s.DelayMax.Round(time.Millisecond), joinCounts(s.ByConfidence))
	}
	if len(s.Providers) > 0 {
		line("relays on 25", "%s", joinCounts(s.Providers))
	}
	if len(s.Groups) > 0 {
		line("destinations", "%s", joinCounts(s.Groups))
	}
	if len(s.Blocklist) > 0 {
		line("blocklisted", "%s", joinCounts(s.Blocklist))
	}
	if s.Alerts > 0 {
		line("alerts", "%d", s.Alerts)
	}
	line("action", "%s", s.Action)
	if md {
		p("\n")
	}
}

// who names a source: host, then customer and account when known.
func who(s *detect.Source) string {
	parts := []string{s.Host.String()}
	if s.Customer != "" {
		parts = append(parts, "customer "+s.Customer)
	}
	if s.Account != "" {
		parts = append(parts, "account "+s.Account)
	}
	if s.Cluster != "" {
		parts = append(parts, "cluster "+s.Cluster)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func blockWord(c event.Class) string {
	if c.BlockedBy25() {
		return "affected"
	}
	return "not affected"
}

func classAdvice(c event.Class) string {
	switch c {
	case event.ClassDirectToMX:
		return "investigate and clean the sending scripts"
	case event.ClassDirect25:
		return "investigate: neither MX targets nor known relays"
	case event.ClassExternalRelay25:
		return "move to port 587 or 465 at the same provider"
	}
	return ""
}

func bullet(p func(string, ...any), md bool) {
	if md {
		p("- ")
	} else {
		p("  * ")
	}
}

// table renders aligned plain-text columns or a Markdown table.
type table struct {
	md   bool
	rows [][]string
}

func newTable(md bool) *table { return &table{md: md} }

func (t *table) header(cols ...string) { t.rows = [][]string{cols} }

func (t *table) row(vals ...any) {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = fmt.Sprint(v)
	}
	t.rows = append(t.rows, r)
}

func (t *table) flush(w io.Writer) {
	defer func() { t.rows = nil }()
	if len(t.rows) == 0 {
		return
	}
	if t.md {
		for i, r := range t.rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
			if i == 0 {
				fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(r)))
			}
		}
		return
	}
	width := make([]int, len(t.rows[0]))
	for _, r := range t.rows {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		b.WriteString(" ")
		for i, c := range r {
			pad := width[i] - len([]rune(c))
			if i > 0 && i < len(r)-1 && isNumber(c) {
				b.WriteString(" " + strings.Repeat(" ", pad) + c)
			} else {
				b.WriteString(" " + c + strings.Repeat(" ", pad))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
