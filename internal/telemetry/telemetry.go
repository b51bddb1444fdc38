// Package telemetry exposes a running mxwatch process to Prometheus and to
// orchestrators: /metrics (prometheus/client_golang), /healthz (the process
// answers) and /readyz (it does its job: capturing, or consuming and
// storing).
//
// Every stage of mxwatch already reports its health as event.Counter
// values (what it kept, what it dropped and why). A Stages collector turns
// those into two metric families at scrape time, so a new counter in any
// stage is exported without code here:
//
//	mxwatch_stage_events_total{stage, name, drop}  counts
//	mxwatch_stage_bytes_total{stage, name, drop}   bytes, where the stage counts them
//
// Gauges (queue depths, lag, spool size) are registered by the caller
// with GaugeFunc.
package telemetry

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mxwatch/mxwatch/event"
)

// Stages collects event.Counter values from functions registered with Add.
type Stages struct {
	mu      sync.Mutex
	sources []func() []event.Counter
	events  *prometheus.Desc
	bytes   *prometheus.Desc
}

// NewStages returns an empty collector.
func NewStages() *Stages {
	labels := []string{"stage", "name", "drop"}
	return &Stages{
		events: prometheus.NewDesc("mxwatch_stage_events_total", "Things a pipeline stage counted (packets, flows, sessions, drops ...), by stage and name; drop=\"true\" marks what was lost or skipped.", labels, nil),
		bytes:  prometheus.NewDesc("mxwatch_stage_bytes_total", "Bytes a pipeline stage counted, by stage and name.", labels, nil),
	}
}

// Add registers a function that returns a stage's counters; it is called
// at every scrape and must be safe for concurrent use.
func (s *Stages) Add(f func() []event.Counter) {
	s.mu.Lock()
	s.sources = append(s.sources, f)
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *Stages) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.events
	ch <- s.bytes
}

// Collect implements prometheus.Collector. Counters with the same stage,
// name and drop flag from several sources are summed.
func (s *Stages) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	sources := append([]func() []event.Counter(nil), s.sources...)
	s.mu.Unlock()
	type key struct {
		stage, name string
		drop        bool
	}
	counts, bytes := map[key]uint64{}, map[key]uint64{}
	var order []key
	for _, f := range sources {
		for _, c := range f() {
			k := key{c.Stage, c.Name, c.Drop}
			if _, ok := counts[k]; !ok {
				order = append(order, k)
			}
			counts[k] += c.Count
			if c.Bytes > 0 {
				bytes[k] += c.Bytes
			}
		}
	}
	for _, k := range order {
		drop := fmt.Sprint(k.drop)
		ch <- prometheus.MustNewConstMetric(s.events, prometheus.CounterValue, float64(counts[k]), k.stage, k.name, drop)
		if b, ok := bytes[k]; ok {
			ch <- prometheus.MustNewConstMetric(s.bytes, prometheus.CounterValue, float64(b), k.stage, k.name, drop)
		}
	}
}

// Config configures the HTTP endpoint.
type Config struct {
	// Listen is host:port; empty disables the server. Bind to loopback
	// (127.0.0.1:9110) unless a scraper elsewhere needs it.
	Listen string
	// BearerToken, when set, is required on /metrics as
	// "Authorization: Bearer <token>". /healthz and /readyz stay open:
	// they reveal nothing but up or down.
	BearerToken string
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	cfg   Config
	reg   *prometheus.Registry
	ready func() error
	log   *slog.Logger
	srv   *http.Server
	ln    net.Listener
	done  chan struct{}
}

// New returns a server with a registry holding the Go and process
// collectors and stages. ready reports whether the process does its job
// (nil: ready); a nil ready is always ready.
func New(cfg Config, stages *Stages, ready func() error, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stages != nil {
		reg.MustRegister(stages)
	}
	return &Server{cfg: cfg, reg: reg, ready: ready, log: logger.With("component", "telemetry")}
}

// Registry is where callers register their own collectors and gauges.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// GaugeFunc registers a gauge whose value f returns at scrape time.
func (s *Server) GaugeFunc(name, help string, f func() float64) {
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Handler returns the HTTP handler (for tests and for embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}})
	mux.Handle("/metrics", s.auth(metrics))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.ready != nil {
			if err := s.ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func (s *Server) auth(h http.Handler) http.Handler {
	if s.cfg.BearerToken == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.BearerToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mxwatch"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn(strings.TrimSpace(fmt.Sprintln(v...))) }

// Start listens on cfg.Listen and serves in one goroutine, owned by the
// Server and stopped by Shutdown. With an empty Listen it does nothing.
func (s *Server) Start() error {
	if s.cfg.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("telemetry: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	s.log.Info("serving metrics", "addr", ln.Addr().String(), "auth", s.cfg.BearerToken != "")
	return nil
}

// Addr is the address the server listens on (after Start), or "".
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
