package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/dashboards"
	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
)

// rolloutFlags are the options of the impact and enforcement reports,
// shared by `report` (from ClickHouse) and `analyze --report` (from
// captures).
type rolloutFlags struct {
	from, to, at  string
	before, after string
	top           int
	format        string
	output        string
}

func (f *rolloutFlags) addWindow(fs interface {
	StringVar(*string, string, string, string)
}, impact, enforcement bool) {
	if impact {
		fs.StringVar(&f.from, "from", "", "impact: start of the window (2026-03-01, '2026-03-01 12:00', RFC 3339; UTC unless an offset is given)")
		fs.StringVar(&f.to, "to", "", "impact: end of the window, exclusive (same forms)")
	}
	if enforcement {
		fs.StringVar(&f.at, "at", "", "enforcement: when the block took effect (same forms)")
		fs.StringVar(&f.before, "before", "7d", "enforcement: length of the window before --at (7d, 36h, 90m)")
		fs.StringVar(&f.after, "after", "7d", "enforcement: length of the window after --at")
	}
}

// parseTime reads the time forms the flags document, in whole seconds.
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.Truncate(time.Second).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s: %q is not a date (2026-03-01, '2026-03-01 12:00', RFC 3339)", flag, s)
}

// parseDays reads a duration that may be given in days ("7d").
func parseDays(flag, s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days float64
		if days, err = strconv.ParseFloat(n, 64); err == nil {
			d = time.Duration(days * float64(24*time.Hour))
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s: %q is not a positive duration (7d, 36h, 90m)", flag, s)
	}
	return d.Truncate(time.Second), nil
}

// rollout is a report being built: events go in, a rendering comes out.
type rollout interface {
	Add(event.Event)
	// window is the time range whose findings and alerts the report needs.
	window() detect.Window
	write(w io.Writer, format string, o dashboards.RenderOptions) error
}

type impactRollout struct {
	*detect.ImpactBuilder
	w detect.Window
}

func (r impactRollout) window() detect.Window { return r.w }
func (r impactRollout) write(w io.Writer, format string, o dashboards.RenderOptions) error {
	rep := r.Report()
	return dashboards.WriteImpact(w, &rep, format, o)
}

type enforcementRollout struct{ *detect.EnforcementBuilder }

func (r enforcementRollout) window() detect.Window {
	before, after := r.Windows()
	return detect.Window{From: before.From, To: after.To}
}
func (r enforcementRollout) write(w io.Writer, format string, o dashboards.RenderOptions) error {
	rep := r.Report()
	return dashboards.WriteEnforcement(w, &rep, format, o)
}

// newRollout validates the flags of report kind and returns its builder.
func (f *rolloutFlags) newRollout(kind string, maxSources int) (rollout, error) {
	if formats := dashboards.RolloutFormats(); !slices.Contains(formats, f.format) {
		return nil, fmt.Errorf("--format: %q is not one of %s", f.format, strings.Join(formats, ", "))
	}
	cfg := detect.ReportConfig{Top: f.top, MaxSources: maxSources}
	switch kind {
	case "impact":
		from, err := parseTime("from", f.from)
		if err != nil {
			return nil, err
		}
		to, err := parseTime("to", f.to)
		if err != nil {
			return nil, err
		}
		if !from.IsZero() && !to.IsZero() && !to.After(from) {
			return nil, fmt.Errorf("--to (%s) is not after --from (%s)", f.to, f.from)
		}
		w := detect.Window{From: from, To: to}
		return impactRollout{detect.NewImpact(cfg, w), w}, nil
	case "enforcement":
		if f.at == "" {
			return nil, errors.New("--at is required: when the block took effect")
		}
		at, err := parseTime("at", f.at)
		if err != nil {
			return nil, err
		}
		before, err := parseDays("before", f.before)
		if err != nil {
			return nil, err
		}
		after, err := parseDays("after", f.after)
		if err != nil {
			return nil, err
		}
		return enforcementRollout{detect.NewEnforcement(cfg, at, before, after)}, nil
	}
	return nil, fmt.Errorf("--report: %q is neither impact nor enforcement", kind)
}

// writeRollout renders r to f.output (standard output when empty or "-").
func (a *app) writeRollout(r rollout, f *rolloutFlags, source string) error {
	out := a.stdout
	var file *os.File
	if f.output != "" && f.output != "-" {
		var err error
		if file, err = os.Create(f.output); err != nil {
			return &exitError{exitFailure, err}
		}
		out = file
	}
	err := r.write(out, f.format, dashboards.RenderOptions{Generated: time.Now().UTC().Truncate(time.Second), Source: source})
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("writing the report: %w", err)}
	}
	return nil
}

func (a *app) reportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Impact and enforcement reports from ClickHouse",
		Long: `report reads the findings and alerts that mxwatch sink stored in ClickHouse
(clickhouse.*) and writes one of the rollout reports:

  impact       before a port-25 block: every host the block would affect,
               grouped by customer, with its class, volume, destinations,
               scripts, blocklist evidence, first and last seen, and what
               to do (clean a compromised script; move an external relay to
               587/465 at the provider named); totals of customers and
               hosts affected and their share of the mail, of which likely
               spam.
  enforcement  after the block: volumes per class before and after --at,
               blocked attempts, hosts still trying (scripts to chase),
               blocklist rejections and DNSBL listings before and after.

The same reports come from captures with 'mxwatch analyze --report', with
the same numbers: both run the same aggregation over the same findings.
Formats: text, markdown, csv, json, and html (one self-contained file with
charts, for managers; no external assets).`,
		Example: `  mxwatch report impact --from 2026-02-01 --to 2026-03-01 --format html -o impact.html
  mxwatch report enforcement --at 2026-03-01 --before 14d --after 7d --format markdown`,
	}
	for _, kind := range []string{"impact", "enforcement"} {
		var f rolloutFlags
		sub := &cobra.Command{
			Use:  kind,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return a.reportFromClickHouse(cmd.Context(), kind, &f)
			},
		}
		if kind == "impact" {
			sub.Short = "Who a port-25 block would affect, by customer, and what each should do"
			sub.Example = `  mxwatch report impact --from 2026-02-01 --to 2026-03-01
  mxwatch report impact --from 2026-02-01 --format csv -o impact.csv`
		} else {
			sub.Short = "What changed after the port-25 block: before/after volumes, blocked attempts, hosts still trying"
			sub.Example = `  mxwatch report enforcement --at '2026-03-01 06:00' --before 7d --after 7d --format html -o enforcement.html`
		}
		fs := sub.Flags()
		f.addWindow(fs, kind == "impact", kind == "enforcement")
		fs.StringVar(&f.format, "format", "text", "report format: "+strings.Join(dashboards.RolloutFormats(), ", "))
		fs.StringVarP(&f.output, "output", "o", "", "write the report to this file (default: standard output)")
		fs.IntVar(&f.top, "top", 10, "rows in each list of a host (scripts, domains, ...)")
		cmd.AddCommand(sub)
	}
	return cmd
}

// reportTimeout bounds reading a report's findings from ClickHouse.
const reportTimeout = 10 * time.Minute

func (a *app) reportFromClickHouse(ctx context.Context, kind string, f *rolloutFlags) error {
	r, err := f.newRollout(kind, detect.DefaultReportConfig().MaxSources)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	chc := a.clickhouseConfig()
	conn, err := clickhouse.Dial(chc)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	w := r.window()
	var findings, alerts int
	err = clickhouse.ReadFindings(ctx, conn, chc, w.From, w.To, func(x *event.Finding) error {
		findings++
		r.Add(x)
		return nil
	})
	if err == nil {
		err = clickhouse.ReadAlerts(ctx, conn, chc, w.From, w.To, func(x *event.Alert) error {
			alerts++
			r.Add(x)
			return nil
		})
	}
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("report %s from %s on %s: %w", kind, chc.Database, chc.Addr, err)}
	}
	a.logger.Info("report read", "report", kind, "findings", findings, "alerts", alerts, "from", w.From, "to", w.To)
	return a.writeRollout(r, f, fmt.Sprintf("ClickHouse %s@%s", chc.Database, chc.Addr))
}
