package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/capture"
	"github.com/mxwatch/mxwatch/capture/afpacket"
	"github.com/mxwatch/mxwatch/capture/dnstap"
	"github.com/mxwatch/mxwatch/capture/pcaplive"
	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/internal/telemetry"
	"github.com/mxwatch/mxwatch/sink"
)

type liveConfig struct {
	Interface    string        `mapstructure:"interface"`
	Source       string        `mapstructure:"source"`
	Workers      int           `mapstructure:"workers"`
	BlockSize    int           `mapstructure:"block_size"`
	NumBlocks    int           `mapstructure:"num_blocks"`
	BlockTimeout time.Duration `mapstructure:"block_timeout"`
	Promiscuous  bool          `mapstructure:"promiscuous"`
	FanoutGroup  int           `mapstructure:"fanout_group"`
	Tunnels      bool          `mapstructure:"tunnels"`
	Events       string        `mapstructure:"events"`
	QueueSize    int           `mapstructure:"queue_size"`
	User         string        `mapstructure:"user"`
	DNSTap       dnstapConfig  `mapstructure:"dnstap"`
}

type dnstapConfig struct {
	Listen       []string      `mapstructure:"listen"`
	SocketMode   string        `mapstructure:"socket_mode"`
	MaxConns     int           `mapstructure:"max_conns"`
	MaxFrameSize int           `mapstructure:"max_frame_size"`
	IdleTimeout  time.Duration `mapstructure:"idle_timeout"`
}

func defaultLiveConfig() liveConfig {
	return liveConfig{Source: "afpacket", Workers: 1, BlockSize: afpacket.DefaultBlockSize, NumBlocks: afpacket.DefaultNumBlocks,
		BlockTimeout: afpacket.DefaultBlockTimeout, Promiscuous: true, Tunnels: true, QueueSize: 10000,
		DNSTap: dnstapConfig{Listen: []string{}, SocketMode: "0660", MaxConns: dnstap.DefaultMaxConns, MaxFrameSize: dnstap.DefaultMaxFrameSize,
			IdleTimeout: dnstap.DefaultIdleTimeout}}
}

func (a *app) captureCommand() *cobra.Command {
	var iface, events string
	var taps []string
	var workers int
	var brokers []string
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Live sensor: capture mail and DNS on a mirror port (AF_PACKET) and detect direct-to-MX sending",
		Long: `capture reads a network interface fed by a switch mirror port (SPAN/TAP)
with AF_PACKET (a TPACKET_V3 ring per worker; several workers share the
load through PACKET_FANOUT, each flow staying on one worker), keeps only
mail and DNS in the kernel (a VLAN- and tunnel-aware BPF filter), and runs
the same reassembly, parsing and detection as analyze. Events go to Kafka
(kafka.brokers) and/or a JSON Lines file (live.events).

The workers' events meet in one detector, so a host's MX lookup and its
later port-25 connect are paired even when fanout put them on different
workers (the lookup's flow and the connect's flow hash differently).

Hosting servers usually ask a local caching resolver, so their MX lookups
may never cross the mirror port. With --dnstap (live.dnstap.listen) the
sensor also accepts dnstap (Frame Streams) from the platform's resolvers
on a unix or TCP socket and turns their CLIENT_QUERY/CLIENT_RESPONSE
messages into the same dns events, so a lookup through the resolver pairs
with the connect seen on the mirror. capture can run on dnstap alone
(no -i) to record lookups.

Needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode): start it with
those capabilities as an unprivileged user (the systemd unit in
deploy/mxwatch-capture.service does), or start it as root with live.user
set: it switches to that user once the sockets and outputs are open,
before the first packet is parsed.
Kernel ring drops are counted (metrics stage "capture"). SIGHUP reads the
configuration again and applies, without losing state, what can change
live: log.level, platform.* (networks, relays, smarthosts, submission
ports, relay headers, egress), detect.signatures, detect.groups and
privacy.*; the inventory file is reloaded whenever it changes. Other
changed keys are logged as needing a restart; a broken file is logged and
the running configuration stays. SIGINT or SIGTERM stops capturing,
flushes the sessions in progress, delivers the events and exits 0.`,
		Example: `  mxwatch capture -i eth1 --kafka kafka1:9092
  mxwatch capture -i eth1 --workers 4 --events /var/lib/mxwatch/events.jsonl
  MXWATCH_METRICS_LISTEN=127.0.0.1:9110 mxwatch capture -i eth1
  mxwatch capture -i eth1 --dnstap unix:/run/mxwatch/dnstap.sock --dnstap tcp:0.0.0.0:6000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if f.Changed("interface") {
				a.cfg.Live.Interface = iface
			}
			if f.Changed("workers") {
				a.cfg.Live.Workers = workers
			}
			if f.Changed("events") {
				a.cfg.Live.Events = events
			}
			if f.Changed("kafka") {
				a.cfg.Kafka.Brokers = brokers
			}
			if f.Changed("dnstap") {
				a.cfg.Live.DNSTap.Listen = taps
			}
			return a.runCapture(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&iface, "interface", "i", "", "network interface to capture on (overrides live.interface)")
	f.IntVar(&workers, "workers", 0, "capture workers sharing the interface through fanout (overrides live.workers)")
	f.StringVarP(&events, "events", "e", "", "also write events as JSON Lines to this file (overrides live.events)")
	f.StringSliceVar(&brokers, "kafka", nil, "publish events to these Kafka brokers (overrides kafka.brokers)")
	f.StringSliceVar(&taps, "dnstap", nil, "also take DNS from resolvers' dnstap on these sockets: unix:/path or tcp:host:port (overrides live.dnstap.listen)")
	return cmd
}

// liveStats is what the capture loop shares with metrics and readiness.
type liveStats struct {
	events, queueFull, reorderOverflow atomic.Uint64
	reloads, reloadErrors              atomic.Uint64
	// lag is how old (wall clock minus packet time) the last event was
	// when the detector took it, in nanoseconds.
	lag        atomic.Int64
	handledAt  atomic.Int64 // wall clock of that, Unix nanoseconds
	lastPacket atomic.Int64 // wall clock, Unix nanoseconds
}

func (a *app) runCapture(ctx context.Context) error {
	cfg := a.cfg
	lc := cfg.Live
	switch {
	case lc.Interface == "" && len(lc.DNSTap.Listen) == 0:
		return &exitError{exitUsage, errors.New("configuration: no interface (-i IFACE or live.interface) and no dnstap input (--dnstap or live.dnstap.listen)")}
	case lc.Workers < 1 || lc.Workers > 64:
		return &exitError{exitUsage, fmt.Errorf("configuration: live.workers %d: want 1 to 64", lc.Workers)}
	case lc.QueueSize < 1:
		return &exitError{exitUsage, errors.New("configuration: live.queue_size must be positive")}
	}
	priv, ccfg, err := cfg.captureSetup()
	if err != nil {
		return err
	}
	if _, err := lc.DNSTap.config(cfg); err != nil {
		return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	mailPorts := append(append([]uint16(nil), ccfg.MailPorts...), ccfg.ImplicitTLSPorts...)
	workers := lc.Workers
	if lc.Interface == "" { // dnstap only
		workers = 0
	}
	switch lc.Source {
	case "afpacket":
	case "pcap":
		if workers > 1 {
			return &exitError{exitUsage, fmt.Errorf("configuration: live.workers %d: libpcap (live.source pcap) has no fanout; use 1, or afpacket", workers)}
		}
	default:
		return &exitError{exitUsage, fmt.Errorf("configuration: live.source %q: want afpacket or pcap", lc.Source)}
	}
	var sources []liveInput
	closeSources := func() {
		for _, s := range sources {
			_ = s.Close()
		}
	}
	for i := 0; i < workers; i++ {
		s, err := openLiveInput(lc, mailPorts, ccfg.DNSPorts)
		if err != nil {
			closeSources()
			return err
		}
		sources = append(sources, s)
	}
	defer closeSources()
	taps, err := a.openDNSTap(lc.DNSTap, cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, l := range taps {
			_ = l.Close()
		}
	}()
	// The sockets are open: nothing below needs privileges.

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	det, err := a.newDetector(runCtx, cfg)
	if err != nil {
		return err
	}
	var jsonl *sink.JSONL
	if lc.Events != "" {
		if jsonl, err = sink.CreateJSONL(lc.Events); err != nil {
			return &exitError{exitFailure, err}
		}
	}
	var ks *kafkaSink
	if len(cfg.Kafka.Brokers) > 0 {
		if ks, err = a.startKafka(ctx, cfg); err != nil {
			return err
		}
	}
	var alerts alertSink = noAlerts{}
	if cfg.Alerts.Alertmanager.URL != "" {
		s, err := a.startAlertmanager(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.close()
		alerts = s
	}
	if jsonl == nil && ks == nil {
		a.logger.Warn("events go nowhere: set kafka.brokers or live.events; only metrics and alerts are produced")
	}

	var st liveStats
	engines := make([]*capture.Engine, len(sources))
	queue := make(chan event.Event, lc.QueueSize)
	for i := range sources {
		eng, err := capture.NewEngine(ccfg, func(ev event.Event) {
			st.events.Add(1)
			select {
			case queue <- ev:
			default:
				// The detector is behind: wait rather than lose the event;
				// the kernel ring absorbs the pause and counts what it drops.
				st.queueFull.Add(1)
				queue <- ev
			}
		})
		if err != nil {
			return &exitError{exitUsage, err}
		}
		engines[i] = eng
	}

	// The detector is not safe for concurrent use: its goroutine publishes
	// its counters for the metrics.
	var detCounters atomic.Pointer[[]event.Counter]
	stages := telemetry.NewStages()
	stages.Add(func() []event.Counter {
		var out []event.Counter
		for _, s := range sources {
			ks, _ := s.Stats()
			out = append(out,
				event.Counter{Stage: "capture", Name: "ring_packets", Count: ks.Packets},
				event.Counter{Stage: "capture", Name: "kernel_drops", Count: ks.Drops, Drop: true},
				event.Counter{Stage: "capture", Name: "freeze_queue", Count: ks.FreezeQueue},
				event.Counter{Stage: "capture", Name: "bad_frames", Count: ks.BadFrames, Drop: true})
		}
		for _, e := range engines {
			snap := e.Snapshot()
			out = append(out, snap.Counters()...)
		}
		if c := detCounters.Load(); c != nil {
			out = append(out, *c...)
		}
		for _, l := range taps {
			out = append(out, dnstapCounters(l.Stats())...)
		}
		out = append(out, event.Counter{Stage: "live", Name: "events", Count: st.events.Load()},
			event.Counter{Stage: "live", Name: "queue_full_waits", Count: st.queueFull.Load()},
			event.Counter{Stage: "live", Name: "reorder_overflow", Count: st.reorderOverflow.Load(), Drop: true},
			event.Counter{Stage: "live", Name: "config_reloads", Count: st.reloads.Load()},
			event.Counter{Stage: "live", Name: "config_reload_errors", Count: st.reloadErrors.Load()})
		if ks != nil {
			out = append(out, ks.counters()...)
		}
		return out
	})
	started := time.Now()
	stopTelemetry, err := a.startTelemetry(stages, func() error {
		last := st.lastPacket.Load()
		if len(sources) == 0 { // dnstap only: resolvers connect when they have something to say
			return nil
		}
		if last == 0 && time.Since(started) > time.Minute || last != 0 && time.Since(time.Unix(0, last)) > time.Minute {
			return errors.New("no packet for a minute")
		}
		return nil
	}, func(s *telemetry.Server) {
		s.GaugeFunc("mxwatch_live_queue_events", "Events waiting for the detector.", func() float64 { return float64(len(queue)) })
		s.GaugeFunc("mxwatch_live_processing_lag_seconds",
			"Wall clock minus the packet time of the last event the detector took (includes the 2 s reorder slack; grows when the sensor falls behind).",
			func() float64 { return liveLag(&st, len(queue), time.Now()).Seconds() })
		if ks != nil {
			s.GaugeFunc("mxwatch_kafka_spool_bytes", "Bytes of events waiting in the Kafka spool.", func() float64 { return float64(ks.p.Stats().SpoolBytes) })
			s.GaugeFunc("mxwatch_kafka_spool_max_bytes", "Bound of the Kafka spool.", func() float64 { return float64(cfg.Kafka.SpoolMaxBytes) })
		}
	})
	if err != nil {
		return err
	}
	defer stopTelemetry()

	// Every socket and output is open: give up root before the first
	// packet is parsed.
	if uid, gid, err := dropPrivileges(lc.User); err != nil {
		return &exitError{exitFailure, err}
	} else if lc.User != "" {
		a.logger.Info("privileges dropped", "user", lc.User, "uid", uid, "gid", gid)
	}

	// The detector: one goroutine owns it and every output.
	var writeErr error
	out := func(ev event.Event) {
		if ks != nil {
			ks.publish(ev)
		}
		if al, ok := ev.(*event.Alert); ok {
			alerts.send(al)
		}
		if jsonl != nil && writeErr == nil {
			writeErr = jsonl.Write(ev)
		}
	}
	// Workers emit events as their flows end, each at its own pace: a
	// host's DNS answer may reach the detector after the session it led
	// to when the two flows are on different workers. The detector's
	// goroutine therefore releases events in the order of their packet
	// time, once every worker has read past that time (plus reorderSlack
	// for the batches in flight); idle workers count as being at the
	// present.
	progress := make([]atomic.Int64, len(sources))
	// SIGHUP: the configuration is read again; the detector's goroutine
	// applies what can change live.
	updates := make(chan *liveUpdate)
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		a.watchReload(runCtx, updates, func() { st.reloadErrors.Add(1) })
	}()
	defer func() { stopRun(); <-reloadDone }()
	detDone := make(chan struct{})
	go func() {
		defer close(detDone)
		var published time.Time
		var flushed uint64 // events in the file at its last flush
		ro := newReorder(liveReorderMax)
		handle := func(ev event.Event) {
			priv.Apply(ev)
			out(ev)
			det.Add(ev, out)
			now := time.Now()
			if t := emitTime(ev); !t.IsZero() {
				st.lag.Store(int64(now.Sub(t)))
			}
			st.handledAt.Store(now.UnixNano())
			if now.Sub(published) > time.Second {
				c := det.Counters()
				detCounters.Store(&c)
				published = now
			}
		}
		watermark := func() time.Time {
			w := int64(math.MaxInt64)
			for i := range progress {
				w = min(w, progress[i].Load())
			}
			return time.Unix(0, w).Add(-reorderSlack)
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for open := true; open; {
			select {
			case ev, ok := <-queue:
				if !ok {
					open = false
					break
				}
				ro.push(ev, handle)
			case u := <-updates:
				if err := det.Reconfigure(u.platform, u.tables); err != nil { // validated: should not happen
					st.reloadErrors.Add(1)
					a.logger.Error("configuration reload failed; the running configuration stays", "err", err)
					break
				}
				priv = u.priv
				st.reloads.Add(1)
				a.logReload(u)
			case <-tick.C:
				// A live events file is readable as it grows: flushed
				// every tick (100 ms) that follows a write.
				if jsonl != nil && writeErr == nil && jsonl.Written() != flushed {
					flushed = jsonl.Written()
					writeErr = jsonl.Flush()
				}
			}
			ro.release(watermark(), handle)
			st.reorderOverflow.Store(ro.overflow)
		}
		ro.release(time.Unix(0, math.MaxInt64), handle)
		st.reorderOverflow.Store(ro.overflow)
		det.Flush(out)
		c := det.Counters()
		detCounters.Store(&c)
	}()

	a.logger.Info("capturing", "interface", lc.Interface, "workers", len(sources), "ring_bytes_per_worker", lc.BlockSize*lc.NumBlocks,
		"dnstap", lc.DNSTap.Listen, "kafka", cfg.Kafka.Brokers, "events", lc.Events)
	// A worker or dnstap listener that fails stops the whole capture: a
	// sensor that silently lost half its input is worse than a restart.
	failed := make(chan struct{})
	var failOnce sync.Once
	fail := func() { failOnce.Do(func() { close(failed) }) }
	var wg, tapWG sync.WaitGroup
	errs := make([]error, len(sources)+len(taps))
	for i := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = engines[i].Run(runCtx, &liveSource{src: sources[i], st: &st, progress: &progress[i]})
			engines[i].Close() // flushes the sessions in progress
			if errs[i] != nil && ctx.Err() == nil {
				fail()
			}
		}()
	}
	// dnstap events join the engines' events; the reorder stage puts
	// them in packet-time order, so a lookup through the resolver pairs
	// with the connect seen on the mirror.
	tapCtx, stopTaps := context.WithCancel(ctx)
	defer stopTaps()
	for i, l := range taps {
		tapWG.Add(1)
		go func() {
			defer tapWG.Done()
			err := l.Serve(tapCtx, func(d *event.DNS) {
				st.events.Add(1)
				queue <- d
			})
			if err != nil {
				errs[len(sources)+i] = err
				fail()
			}
		}()
	}
	select {
	case <-ctx.Done():
		a.logger.Info("stopping: flushing sessions and events")
	case <-failed:
		a.logger.Error("an input failed; stopping: flushing sessions and events")
	}
	closeSources() // unblocks Next: the engines end with io.EOF
	stopTaps()
	wg.Wait()
	tapWG.Wait()
	close(queue)
	<-detDone

	var closeErr error
	if jsonl != nil {
		closeErr = jsonl.Close()
	}
	if ks != nil {
		if err := ks.close(); err != nil {
			a.logger.Warn("kafka: not everything was delivered; the rest stays in the spool", "err", err)
		}
	}
	var packets, drops uint64
	for _, s := range sources {
		k, _ := s.Stats()
		packets, drops = packets+k.Packets, drops+k.Drops
	}
	a.logger.Info("capture stopped", "packets", packets, "kernel_drops", drops, "events", st.events.Load())
	// Every non-zero counter of the run, summed over the workers, as
	// analyze prints them: what was dropped, evicted and cut, and why.
	var final []event.Counter
	for _, e := range engines {
		fs := e.Stats()
		final = append(final, fs.Counters()...)
	}
	if c := detCounters.Load(); c != nil {
		final = append(final, *c...)
	}
	for _, l := range taps {
		final = append(final, dnstapCounters(l.Stats())...)
	}
	a.logger.Info("final counters", counterAttrs(final)...)
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
			return &exitError{exitFailure, err}
		}
	}
	if writeErr != nil {
		return &exitError{exitFailure, writeErr}
	}
	if closeErr != nil {
		return &exitError{exitFailure, closeErr}
	}
	return nil
}

// liveSource notes how far in packet time its worker has read (for the
// reorder stage) and when packets arrive (for readiness).
type liveSource struct {
	src      liveInput
	st       *liveStats
	progress *atomic.Int64
	n        uint64
}

func (l *liveSource) Next() (capture.Frame, error) {
	f, err := l.src.Next()
	switch {
	case err == nil:
		l.progress.Store(f.Time.UnixNano())
		if l.n++; l.n&255 == 1 {
			l.st.lastPacket.Store(time.Now().UnixNano())
		}
	case errors.Is(err, capture.ErrIdle):
		// Nothing is waiting in this worker's ring: it is at the present.
		l.progress.Store(time.Now().UnixNano())
	default: // closed or failed: it will emit only its flush
		l.progress.Store(math.MaxInt64)
	}
	return f, err
}

// IdleNow implements capture.IdleClock: AF_PACKET timestamps are wall
// clock, so a quiet link's connections expire by the clock.
func (l *liveSource) IdleNow() time.Time { return time.Now() }

// Bounds of the reorder stage.
const (
	reorderSlack   = 2 * time.Second
	liveReorderMax = 200_000
)

// reorder holds events in a min-heap by the packet time at which they
// were complete, and releases them in that order.
type reorder struct {
	h        eventHeap
	max      int
	seq      uint64
	overflow uint64
}

func newReorder(max int) *reorder { return &reorder{max: max} }

// emitTime is the packet time at which an engine emits ev.
func emitTime(ev event.Event) time.Time {
	switch e := ev.(type) {
	case *event.Session:
		return e.End
	case *event.Message:
		return e.End
	case *event.DNS:
		return e.Time
	}
	return time.Time{}
}

func (r *reorder) push(ev event.Event, handle func(event.Event)) {
	if len(r.h) >= r.max { // bounded: the oldest goes out early, counted
		r.overflow++
		handle(heap.Pop(&r.h).(heldEvent).ev)
	}
	r.seq++
	heap.Push(&r.h, heldEvent{t: emitTime(ev), seq: r.seq, ev: ev})
}

func (r *reorder) release(watermark time.Time, handle func(event.Event)) {
	for len(r.h) > 0 && !r.h[0].t.After(watermark) {
		handle(heap.Pop(&r.h).(heldEvent).ev)
	}
}

type heldEvent struct {
	t   time.Time
	seq uint64 // keeps arrival order among equal times
	ev  event.Event
}

type eventHeap []heldEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].t.Equal(h[j].t) {
		return h[i].t.Before(h[j].t)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(heldEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// openDNSTap opens the dnstap sockets of live.dnstap.listen: "unix:PATH"
// or "tcp:HOST:PORT".
func (a *app) openDNSTap(c dnstapConfig, cfg fileConfig) ([]*dnstap.Listener, error) {
	tc, err := c.config(cfg)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	var out []*dnstap.Listener
	for _, addr := range c.Listen {
		network, address, _ := strings.Cut(addr, ":")
		l, err := dnstap.Listen(network, address, tc)
		if err != nil {
			for _, l := range out {
				_ = l.Close()
			}
			code := exitFailure
			if errors.Is(err, dnstap.ErrConfig) || errors.Is(err, dnstap.ErrNetwork) {
				code = exitUsage
			}
			return nil, &exitError{code, err}
		}
		a.logger.Info("dnstap: listening", "addr", l.Addr().String(), "network", network)
		out = append(out, l)
	}
	return out, nil
}

// config checks c and returns the listeners' configuration.
func (c dnstapConfig) config(cfg fileConfig) (dnstap.Config, error) {
	mode, err := strconv.ParseUint(c.SocketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return dnstap.Config{}, fmt.Errorf("live.dnstap.socket_mode %q: want octal permissions such as 0660", c.SocketMode)
	}
	for _, addr := range c.Listen {
		network, address, ok := strings.Cut(addr, ":")
		if !ok || address == "" || network != "unix" && network != "tcp" {
			return dnstap.Config{}, fmt.Errorf("live.dnstap.listen %q: want unix:/path/to/socket or tcp:host:port", addr)
		}
	}
	tc := dnstap.Config{Sensor: cfg.Sensor, MaxFrameSize: c.MaxFrameSize, MaxConns: c.MaxConns, IdleTimeout: c.IdleTimeout,
		SocketMode: fs.FileMode(mode), DNS: cfg.captureConfig().DNS}
	if err := tc.Validate(); err != nil {
		return dnstap.Config{}, fmt.Errorf("live.dnstap: %w", err)
	}
	return tc, nil
}

// dnstapCounters are a dnstap listener's counters for the metrics.
func dnstapCounters(s dnstap.Stats) []event.Counter {
	c := func(name string, n uint64, drop bool) event.Counter {
		return event.Counter{Stage: "dnstap", Name: name, Count: n, Drop: drop}
	}
	return []event.Counter{
		c("connections", s.Conns, false), c("refused", s.Refused, true),
		c("frames", s.Frames, false), c("messages", s.Messages, false),
		c("client_queries", s.ClientQueries, false), c("client_responses", s.ClientResponses, false),
		c("other_types", s.OtherTypes, false), c("malformed", s.Malformed, true), c("incomplete", s.Incomplete, true),
		c("oversize", s.Oversize, true), c("protocol_errors", s.ProtocolErrors, true), c("truncated", s.Truncated, false),
		c("idle_timeouts", s.IdleTimeouts, false), c("events", s.Events, false),
		c("dns_malformed", s.DNS.Malformed, true), c("dns_unmatched_responses", s.DNS.UnmatchedResponses, false),
	}
}

// counterAttrs sums counters by stage and name and returns the non-zero
// ones as log attributes "stage.name", in first-seen order.
func counterAttrs(cs []event.Counter) []any {
	sum := map[string]uint64{}
	var order []string
	for _, c := range cs {
		k := c.Stage + "." + c.Name
		if _, ok := sum[k]; !ok {
			order = append(order, k)
		}
		sum[k] += c.Count
	}
	var out []any
	for _, k := range order {
		if sum[k] != 0 {
			out = append(out, k, sum[k])
		}
	}
	return out
}

// liveInput is a capture source of the live sensor: an AF_PACKET ring
// (the default) or a libpcap handle (live.source pcap, in builds with the
// libpcap tag).
type liveInput interface {
	Next() (capture.Frame, error)
	Close() error
	Stats() (afpacket.Stats, error)
}

// openLiveInput opens one worker's source with the kernel filter for the
// mail and DNS ports.
func openLiveInput(lc liveConfig, mailPorts, dnsPorts []uint16) (liveInput, error) {
	if lc.Source == "pcap" {
		expr, err := pcaplive.Filter(mailPorts, dnsPorts, lc.Tunnels)
		if err != nil {
			return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
		}
		src, err := pcaplive.Open(pcaplive.Config{Interface: lc.Interface, Promiscuous: lc.Promiscuous,
			BufferSize: lc.BlockSize * lc.NumBlocks, Filter: expr})
		if err != nil {
			code := exitFailure
			if errors.Is(err, pcaplive.ErrUnsupported) {
				code = exitUsage
			}
			return nil, &exitError{code, err}
		}
		return pcapInput{src}, nil
	}
	filter, err := afpacket.MailDNSFilter(mailPorts, dnsPorts, lc.Tunnels)
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	group := uint16(lc.FanoutGroup)
	if group == 0 {
		group = uint16(os.Getpid())
	}
	ac := afpacket.Config{Interface: lc.Interface, BlockSize: lc.BlockSize, NumBlocks: lc.NumBlocks, BlockTimeout: lc.BlockTimeout,
		Promiscuous: lc.Promiscuous, Filter: filter, ReturnIdle: true, PollTimeout: 200 * time.Millisecond}
	if lc.Workers > 1 {
		ac.Fanout = &afpacket.Fanout{Group: group, Mode: afpacket.FanoutHash, Defrag: true}
	}
	src, err := afpacket.Open(ac)
	if err != nil {
		code := exitFailure
		if errors.Is(err, afpacket.ErrInvalidConfig) {
			code = exitUsage
		}
		return nil, &exitError{code, err}
	}
	return src, nil
}

// pcapInput reports libpcap's counters as the ring's: received packets,
// and drops for lack of buffer space plus those of the interface.
type pcapInput struct{ *pcaplive.Source }

func (p pcapInput) Stats() (afpacket.Stats, error) {
	st, err := p.Source.Stats()
	return afpacket.Stats{Packets: st.Packets, Drops: st.Drops + st.IfDrops}, err
}

// liveLag is the processing lag the metrics report: how old the last
// event was when the detector took it; while events wait in the queue
// and the detector has taken none for longer than that, the time since
// it last took one (a stuck detector shows as a growing lag); and 0 once
// the link has been quiet for a while with nothing waiting, so that an
// old value does not stand for an idle sensor.
func liveLag(st *liveStats, queued int, now time.Time) time.Duration {
	lag := time.Duration(st.lag.Load())
	at := st.handledAt.Load()
	if at == 0 {
		return 0
	}
	since := now.Sub(time.Unix(0, at))
	switch {
	case queued > 0 && since > lag:
		return since
	case queued == 0 && since > 10*time.Second:
		return 0
	}
	return lag
}
