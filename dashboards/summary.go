// Package dashboards owns what people look at: the analyze summary and, in
// later stages, Grafana dashboards, alert rules and impact reports.
package dashboards

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
)

// WriteSummaryJSON writes s as indented JSON.
func WriteSummaryJSON(w io.Writer, s *detect.Summary) error { return WriteJSON(w, s) }

// WriteJSON writes v as indented JSON, without HTML escaping.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("dashboards: %w", err)
	}
	return nil
}

// WriteSummaryText writes s for a person at a terminal: what was seen,
// who talked most, where mail went, what was rejected, and what every
// stage of the pipeline kept and dropped.
func WriteSummaryText(w io.Writer, s *detect.Summary) error {
	ew := &errWriter{w: w}
	p := func(format string, args ...any) { fmt.Fprintf(ew, format, args...) }

	if s.First.IsZero() {
		p("Capture time: no events\n")
	} else {
		p("Capture time: %s .. %s (%s)\n", s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339), s.Last.Sub(s.First).Round(time.Second))
	}

	p("\nSMTP sessions: %d (STARTTLS %d, implicit TLS %d, AUTH %d, with gaps %d)\n",
		s.Sessions, s.StartTLS, s.ImplicitTLS, s.AuthSessions, s.SessionsWithGap)
	if len(s.SessionsByPort) > 0 {
		outcomes := []event.Handshake{event.HandshakeCompleted, event.HandshakeRefused, event.HandshakeNoAnswer, event.HandshakeReset, event.HandshakeMidstream}
		p("  %-6s %8s", "port", "total")
		for _, o := range outcomes {
			p(" %10s", o)
		}
		p("\n")
		for _, po := range s.SessionsByPort {
			port := fmt.Sprint(po.Port)
			if po.Port == 0 {
				port = "other"
			}
			p("  %-6s %8d", port, po.Total)
			for _, o := range outcomes {
				p(" %10d", countOf(po.Outcomes, string(o)))
			}
			p("\n")
		}
	}

	p("\nMessages: %d (%s), %s, %d recipients\n", s.Messages, joinCounts(s.MessagesByOutcome), bytesString(s.MessageBytes), s.Recipients)

	if len(s.TopTalkers) > 0 {
		p("\nTop talkers\n")
		p("  %-39s %9s %9s %10s\n", "client", "sessions", "messages", "recipients")
		for _, t := range s.TopTalkers {
			p("  %-39s %9d %9d %10d\n", t.Client, t.Sessions, t.Messages, t.Recipients)
		}
	}
	if len(s.TopDomains) > 0 {
		p("\nTop destination domains\n")
		p("  %-50s %10s\n", "domain", "recipients")
		for _, d := range s.TopDomains {
			p("  %-50s %10d\n", d.Domain, d.Recipients)
		}
	}
	if len(s.TopRejections) > 0 {
		p("\nTop rejections (4xx/5xx replies)\n")
		for _, r := range s.TopRejections {
			enh := ""
			if r.Enhanced != "" {
				enh = r.Enhanced + " "
			}
			p("  %6d  %d %s[%s] %s\n", r.Count, r.Code, enh, r.Command, r.Text)
		}
	}

	p("\nDNS answers kept: %d (%s); MX lookups: %d\n", s.DNSAnswers, joinCounts(s.DNSByType), s.MXLookups)
	if len(s.TopMXDomains) > 0 {
		for _, m := range s.TopMXDomains {
			hosts := strings.Join(m.Hosts, ", ")
			if hosts == "" {
				hosts = "(no MX records)"
			}
			p("  %6d  %s -> %s\n", m.Lookups, m.Domain, hosts)
		}
	}
	if !s.RankingsAreExact {
		p("\n(rankings are estimates: more distinct keys than the tracking capacity)\n")
	}

	if len(s.Counters) > 0 {
		p("\nPipeline counters (zero counters left out)\n")
		p("  %-8s %-22s %14s %10s\n", "stage", "counter", "count", "bytes")
		zero := 0
		for _, c := range s.Counters {
			if c.Count == 0 && c.Bytes == 0 {
				zero++
				continue
			}
			b, drop := "", ""
			if c.Bytes > 0 {
				b = bytesString(c.Bytes)
			}
			if c.Drop {
				drop = "  <- lost or skipped"
			}
			p("  %-8s %-22s %14d %10s%s\n", c.Stage, c.Name, c.Count, b, drop)
		}
		p("  (%d counters are zero)\n", zero)
	}
	return ew.err
}

func countOf(rows []detect.NameCount, name string) uint64 {
	for _, r := range rows {
		if r.Name == name {
			return r.Count
		}
	}
	return 0
}

func joinCounts(rows []detect.NameCount) string {
	if len(rows) == 0 {
		return "none"
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d", r.Name, r.Count)
	}
	return strings.Join(parts, ", ")
}

func bytesString(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}
