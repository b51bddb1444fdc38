package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/pcapfile"
	"github.com/mxwatch/mxwatch/dashboards"
	"github.com/mxwatch/mxwatch/detect"
	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink"
)

func (a *app) analyzeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze FILE...",
		Short: "Analyze capture files: who sends mail how, direct-to-MX evidence, port-25 block impact",
		Long: `analyze reads pcap or pcapng files (gzip-compressed or not; "-" is standard
input), reassembles every TCP connection to a mail port and every DNS
exchange, classifies every outbound mail connection of the platform
(relay, submission, external-relay-25, direct-to-mx, direct-25) by pairing
each host's MX lookups with its later port-25 connects, and prints:

  - a summary of the traffic: sessions by port and handshake outcome,
    messages accepted and rejected, top talkers and destination domains,
    rejection texts, MX lookups, and what each stage kept and dropped;
  - the abuse view: per source host (customer, scripts) its classes, the
    direct-to-MX evidence (domains, MX hosts, lookup delays), blocklist
    rejections and alerts; then who a port-25 block would affect and what
    each should do.

The platform's networks, relays, smarthosts and egress NAT, the inventory
of customers and the alert thresholds come from the configuration (see
"mxwatch config example"). Several files are read as one capture, merged
in timestamp order. With --events the session, message, dns, finding and
alert events are written as JSON Lines ("-" for standard output; the
report then goes to standard error). With --kafka (or kafka.brokers) every
event is also published to Kafka, one topic per kind; when the brokers are
unreachable events wait in a bounded spool on disk (kafka.spool_dir).

With --report impact or --report enforcement, the output is that rollout
report instead (see "mxwatch report --help"; --format may then also be csv
or html), computed exactly as "mxwatch report" computes it from ClickHouse.

A truncated or corrupt file ends the run: the summary of what was read is
printed, the error says which file and where, and the exit code is 1.`,
		Example: `  mxwatch analyze testdata/direct-to-mx.pcap
  mxwatch analyze --events events.jsonl mirror-*.pcap.gz
  tcpdump -w - -i eth1 port 25 or port 53 | mxwatch analyze --events - -
  mxwatch analyze --format markdown --config platform.yaml mirror.pcap > report.md
  mxwatch analyze --mail-ports 25,465,587,2525 --format json capture.pcapng
  mxwatch analyze --kafka kafka1:9092,kafka2:9092 mirror.pcap
  mxwatch analyze --report impact --format html mirror-*.pcap.gz > impact.html
  mxwatch analyze --report enforcement --at 2026-03-01 --before 7d --after 7d week1.pcap week2.pcap`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.analyze(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.report, "report", "", "instead of the summary, write the rollout report: impact or enforcement (as 'mxwatch report' does from ClickHouse)")
	a.rollout.addWindow(f, true, true)
	f.StringP("events", "e", "", `write events as JSON Lines to this file ("-" for standard output)`)
	f.String("format", "text", "report format: text, markdown, json, or none (with --report also csv and html)")
	f.Int("top", 10, "rows in each ranking of the report")
	f.String("progress", "auto", "progress on standard error: auto (when it is a terminal), always, never")
	f.StringSlice("kafka", nil, "publish events to these Kafka brokers (host:port, comma-separated; sets kafka.brokers)")
	f.UintSlice("mail-ports", nil, "TCP ports of mail servers (default 25,465,587)")
	f.StringVar(&a.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file (for performance work)")
	f.StringVar(&a.memProfile, "memprofile", "", "write a Go heap profile, taken when the input ends (state still open), to this file")
	must(a.v.BindPFlag("analyze.events", f.Lookup("events")))
	must(a.v.BindPFlag("analyze.format", f.Lookup("format")))
	must(a.v.BindPFlag("analyze.top", f.Lookup("top")))
	must(a.v.BindPFlag("analyze.progress", f.Lookup("progress")))
	must(a.v.BindPFlag("capture.mail_ports", f.Lookup("mail-ports")))
	must(a.v.BindPFlag("kafka.brokers", f.Lookup("kafka")))
	return cmd
}

// progress is what the packet loop shares with the progress printer.
type progress struct {
	packets atomic.Uint64
	done    atomic.Int64
	total   atomic.Int64
}

func (a *app) analyze(ctx context.Context, paths []string) error {
	cfg := a.cfg
	var roll rollout
	if a.report != "" {
		a.rollout.format, a.rollout.top = cfg.Analyze.Format, cfg.Analyze.Top
		if a.rollout.format != "none" {
			var err error
			if roll, err = a.rollout.newRollout(a.report, detect.DefaultReportConfig().MaxSources); err != nil {
				return &exitError{exitUsage, err}
			}
		}
	} else {
		switch cfg.Analyze.Format {
		case "text", "markdown", "json", "none":
		default:
			return &exitError{exitUsage, fmt.Errorf("--format: %q is not text, markdown, json or none (csv and html are for --report)", cfg.Analyze.Format)}
		}
	}
	priv, ccfg, err := cfg.captureSetup()
	if err != nil {
		return err
	}
	stdinUsed := 0
	for _, p := range paths {
		if p == "-" {
			stdinUsed++
		}
	}
	if stdinUsed > 1 {
		return &exitError{exitUsage, errors.New(`standard input ("-") can be read only once`)}
	}

	readers := make([]*pcapfile.Reader, 0, len(paths))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, p := range paths {
		r, err := pcapfile.Open(p)
		if err != nil {
			return &exitError{exitFailure, err}
		}
		a.logger.Debug("opened capture", "file", p, "format", r.Format())
		readers = append(readers, r)
	}

	summaryOut := a.stdout
	var events *sink.JSONL
	if cfg.Analyze.Events != "" {
		if cfg.Analyze.Events == "-" {
			events = sink.NewJSONL("standard output", a.stdout)
			summaryOut = a.stderr
		} else {
			var err error
			if events, err = sink.CreateJSONL(cfg.Analyze.Events); err != nil {
				return &exitError{exitFailure, err}
			}
		}
	}

	// The inventory reloader lives as long as this run.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	det, err := a.newDetector(runCtx, cfg)
	if err != nil {
		return err
	}
	agg := detect.NewAggregator(detect.SummaryConfig{Top: cfg.Analyze.Top, Capacity: detect.DefaultSummaryConfig().Capacity})
	rep := detect.NewReporter(detect.ReportConfig{Top: cfg.Analyze.Top})
	var writeErr error
	var alerts alertSink = noAlerts{}
	if cfg.Alerts.Alertmanager.URL != "" {
		s, err := a.startAlertmanager(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.close()
		alerts = s
	}
	var ks *kafkaSink
	if len(cfg.Kafka.Brokers) > 0 {
		if ks, err = a.startKafka(ctx, cfg); err != nil {
			return err
		}
	}
	out := func(ev event.Event) {
		if ks != nil {
			ks.publish(ev)
		}
		agg.Add(ev)
		rep.Add(ev)
		if roll != nil {
			roll.Add(ev)
		}
		if al, ok := ev.(*event.Alert); ok {
			alerts.send(al)
		}
		if events != nil && writeErr == nil {
			writeErr = events.Write(ev)
		}
	}
	engine, err := capture.NewEngine(ccfg, func(ev event.Event) {
		// Personal data is rewritten before anything sees the event;
		// the detector's findings and alerts derive from rewritten data.
		priv.Apply(ev)
		out(ev)
		det.Add(ev, out)
	})
	if err != nil {
		return &exitError{exitUsage, err}
	}

	if a.cpuProfile != "" {
		pf, err := os.Create(a.cpuProfile)
		if err != nil {
			return &exitError{exitFailure, err}
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return &exitError{exitFailure, err}
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	var prog progress
	stopProgress := a.startProgress(cfg.Analyze.Progress, &prog)
	interrupted, readErr := readAll(ctx, readers, engine, &prog)
	if a.memProfile != "" {
		if err := writeHeapProfile(a.memProfile); err != nil {
			return &exitError{exitFailure, err}
		}
	}
	engine.Close()
	det.Flush(out)
	stopProgress()

	stats := engine.Stats()
	var closeErr error
	if events != nil {
		closeErr = events.Close()
	}
	counters := append(stats.Counters(), det.Counters()...)
	if priv.Active() {
		ps := priv.Stats()
		counters = append(counters, event.Counter{Stage: "privacy", Name: "hashed", Count: ps.Hashed},
			event.Counter{Stage: "privacy", Name: "dropped", Count: ps.Dropped})
	}
	if ks != nil {
		if err := ks.close(); err != nil {
			a.logger.Warn("kafka: not everything was delivered; the rest stays in the spool and is sent by the next run", "err", err)
		}
		counters = append(counters, ks.counters()...)
	}
	var err2 error
	format := cfg.Analyze.Format
	if a.report != "" {
		format = "none"
		if roll != nil {
			err2 = roll.write(summaryOut, cfg.Analyze.Format, dashboards.RenderOptions{
				Generated: time.Now().UTC().Truncate(time.Second), Source: "captures: " + strings.Join(paths, ", ")})
		}
	}
	// The summary and the report are built only to be printed.
	var (
		summary detect.Summary
		report  detect.Report
	)
	if format != "none" {
		summary = agg.Summary(counters)
		if !stats.First.IsZero() { // the capture's time span, not only the events'
			summary.First, summary.Last = stats.First, stats.Last
		}
		report = rep.Report()
	}
	switch format {
	case "text", "markdown":
		if cfg.Analyze.Format == "markdown" {
			_, err2 = fmt.Fprintf(summaryOut, "# mxwatch analyze\n\n```\n")
		}
		if err := dashboards.WriteSummaryText(summaryOut, &summary); err != nil && err2 == nil {
			err2 = err
		}
		if cfg.Analyze.Format == "markdown" {
			fmt.Fprintf(summaryOut, "```\n")
		}
		if err := dashboards.WriteReport(summaryOut, &report, cfg.Analyze.Format); err != nil && err2 == nil {
			err2 = err
		}
	case "json":
		err2 = dashboards.WriteJSON(summaryOut, struct {
			Summary *detect.Summary `json:"summary"`
			Report  *detect.Report  `json:"report"`
		}{&summary, &report})
	}
	if err2 != nil && writeErr == nil {
		writeErr = err2
	}
	a.logger.Debug("analyze finished", "packets", stats.Packets, "sessions", stats.Sessions,
		"messages", stats.Messages, "dns_answers", stats.DNSAnswers, "events_written", written(events))

	switch {
	case readErr != nil:
		return &exitError{exitFailure, fmt.Errorf("%w (the summary above covers the %d packets read before it)", readErr, stats.Packets)}
	case stats.Packets > 0 && stats.Verdict(capture.DropLinkType).Packets == stats.Packets:
		// Nothing in the input could be decoded: say so rather than print
		// an empty report as if the capture held no mail.
		links := make([]string, 0, len(readers))
		for _, r := range readers {
			links = append(links, fmt.Sprint(r.LinkType()))
		}
		return &exitError{exitFailure, fmt.Errorf("no packet could be decoded: link type %s is not supported "+
			"(Ethernet 1, BSD loopback 0, raw IP 101/228/229, Linux cooked 113/276 are)", strings.Join(slices.Compact(links), ", "))}
	case writeErr != nil:
		return &exitError{exitFailure, writeErr}
	case closeErr != nil:
		return &exitError{exitFailure, closeErr}
	case interrupted:
		return &exitError{exitInterrupted, errors.New("interrupted; the summary covers what was read")}
	}
	return nil
}

func written(j *sink.JSONL) uint64 {
	if j == nil {
		return 0
	}
	return j.Written()
}

// mergeSource adapts the merged capture files to capture.Source, and
// publishes progress every 4096 packets. It runs on the engine's filter
// goroutine.
type mergeSource struct {
	merge   *pcapfile.Merge
	readers []*pcapfile.Reader
	prog    *progress
	n       uint64
}

func (m *mergeSource) Next() (capture.Frame, error) {
	var (
		p   pcapfile.Packet
		err error
	)
	if len(m.readers) == 1 { // nothing to merge
		p, err = m.readers[0].Next()
	} else {
		p, _, err = m.merge.Next()
	}
	if err != nil {
		return capture.Frame{}, err
	}
	m.n++
	if m.n&4095 == 0 {
		m.publish()
	}
	return capture.Frame{Link: p.LinkType, Data: p.Data, Time: p.Time}, nil
}

func (m *mergeSource) publish() {
	m.prog.packets.Store(m.n)
	var done, total int64
	for _, r := range m.readers {
		d, t := r.Progress()
		done += d
		if t < 0 || total < 0 {
			total = -1
		} else {
			total += t
		}
	}
	m.prog.done.Store(done)
	m.prog.total.Store(total)
}

// readAll feeds every packet of the readers, merged by time, through the
// engine. It stops at the first read error or when ctx is done.
func readAll(ctx context.Context, readers []*pcapfile.Reader, engine *capture.Engine, prog *progress) (interrupted bool, err error) {
	err = engine.Run(ctx, &mergeSource{merge: pcapfile.NewMerge(readers), readers: readers, prog: prog})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return true, nil
	}
	return false, err
}

// progressInterval is how often progress is printed (wall time).
var progressInterval = 2 * time.Second

// startProgress prints progress to standard error every progressInterval,
// when mode asks for it. The returned function stops it and
// waits for the printer to end.
func (a *app) startProgress(mode string, prog *progress) func() {
	switch mode {
	case "never":
		return func() {}
	case "always":
	default: // auto
		fi, err := os.Stderr.Stat()
		if err != nil || fi.Mode()&os.ModeCharDevice == 0 || a.stderr != os.Stderr {
			return func() {}
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				pk := prog.packets.Load()
				d, tot := prog.done.Load(), prog.total.Load()
				pct := ""
				if tot > 0 {
					pct = fmt.Sprintf("%5.1f%%, ", 100*float64(d)/float64(tot))
				}
				fmt.Fprintf(a.stderr, "mxwatch: %s%d packets, %.0f packets/s, %.1f MB/s\n",
					pct, pk, float64(pk)/el, float64(d)/el/1e6)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// writeYAML prints a settings map with durations in their readable form.
func writeYAML(w io.Writer, settings map[string]any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(readable(settings)); err != nil {
		return err
	}
	return enc.Close()
}

func readable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = readable(x)
		}
		return out
	case time.Duration:
		return v.String()
	}
	return v
}

// writeHeapProfile writes the live heap (after a collection) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
