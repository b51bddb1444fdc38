package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/internal/telemetry"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
	"github.com/mxwatch/mxwatch/sink/ingest"
	"github.com/mxwatch/mxwatch/sink/kafka"
)

type sinkConfig struct {
	GroupID         string        `mapstructure:"group_id"`
	DeadLetterTopic string        `mapstructure:"dead_letter_topic"`
	BatchSize       int           `mapstructure:"batch_size"`
	BatchTimeout    time.Duration `mapstructure:"batch_timeout"`
	RetryMin        time.Duration `mapstructure:"retry_min"`
	RetryMax        time.Duration `mapstructure:"retry_max"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	Migrate         bool          `mapstructure:"migrate"`
	StatsInterval   time.Duration `mapstructure:"stats_interval"`
}

func defaultSinkConfig() sinkConfig {
	return sinkConfig{
		GroupID:         kafka.DefaultGroupID,
		BatchSize:       ingest.DefaultBatchSize,
		BatchTimeout:    ingest.DefaultBatchTimeout,
		RetryMin:        ingest.DefaultRetryMin,
		RetryMax:        ingest.DefaultRetryMax,
		ShutdownTimeout: ingest.DefaultShutdownTimeout,
		Migrate:         true,
		StatsInterval:   30 * time.Second,
	}
}

// testHookBeforeCommit, when set (by tests only), runs after a batch is
// stored and before its offsets are committed.
var testHookBeforeCommit func()

type hookedSource struct {
	ingest.Source
	before func()
}

func (h hookedSource) Commit(ctx context.Context, msgs []kafkago.Message) error {
	h.before()
	return h.Source.Commit(ctx, msgs)
}

func (a *app) sinkCommand() *cobra.Command {
	var (
		brokers   []string
		group     string
		batchSize int
	)
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Store events from Kafka in ClickHouse",
		Long: `sink reads every event topic (kafka.topic_prefix + session, message, dns,
finding, alert) as a member of the consumer group sink.group_id and inserts
the events into ClickHouse (clickhouse.*) in batches of at most
sink.batch_size events or sink.batch_timeout. It commits a batch's offsets
only after ClickHouse took it, so a crash delivers the batch again; event
ids are deterministic and the tables deduplicate them, so nothing is
counted twice. While ClickHouse is down the batch is retried with backoff
(sink.retry_min .. sink.retry_max) and nothing newer is inserted, so each
partition stays in order. Messages that cannot be decoded (not JSON,
unknown kind, another schema version) go to the dead-letter topic with
headers naming their origin and the reason, and are counted.

The schema is created or upgraded at start (sink.migrate). SIGINT or
SIGTERM stores and commits the batch in hand and exits 0; if ClickHouse
does not take it within sink.shutdown_timeout the exit status is 1 and the
batch is delivered again to the next sink.

Progress (events stored per kind, dead letters, retries, lag) is logged
every sink.stats_interval and at exit.`,
		Example: `  mxwatch sink --kafka kafka1:9092 --config /etc/mxwatch/mxwatch.yaml
  MXWATCH_KAFKA_BROKERS=kafka1:9092 MXWATCH_CLICKHOUSE_ADDR=ch1:9000 mxwatch sink`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Applied here rather than bound to viper: analyze binds
			// kafka.brokers to its own --kafka, and viper keeps one
			// flag per key.
			f := cmd.Flags()
			if f.Changed("kafka") {
				a.cfg.Kafka.Brokers = brokers
			}
			if f.Changed("group") {
				a.cfg.Sink.GroupID = group
			}
			if f.Changed("batch-size") {
				a.cfg.Sink.BatchSize = batchSize
			}
			return a.runSink(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&brokers, "kafka", nil, "Kafka brokers to read from (host:port, comma-separated; overrides kafka.brokers)")
	f.StringVar(&group, "group", "", "consumer group (overrides sink.group_id)")
	f.IntVar(&batchSize, "batch-size", 0, "events per insert (overrides sink.batch_size)")
	return cmd
}

func (a *app) consumerConfig() (kafka.ConsumerConfig, error) {
	pc, err := a.cfg.producerConfig()
	if err != nil {
		return kafka.ConsumerConfig{}, err
	}
	pc.SpoolDir = "" // the sink does not produce events
	s := a.cfg.Sink
	cc := kafka.ConsumerConfig{Config: pc, GroupID: s.GroupID, DeadLetterTopic: s.DeadLetterTopic}
	return cc, cc.Validate()
}

func (a *app) runSink(ctx context.Context) error {
	s := a.cfg.Sink
	if len(a.cfg.Kafka.Brokers) == 0 {
		return &exitError{exitUsage, errors.New("configuration: no Kafka brokers (set kafka.brokers, MXWATCH_KAFKA_BROKERS or --kafka)")}
	}
	if s.BatchSize < 0 || s.BatchTimeout < 0 || s.RetryMin < 0 || s.RetryMax < 0 || s.ShutdownTimeout < 0 || s.StatsInterval < 0 {
		return &exitError{exitUsage, errors.New("configuration: sink.* sizes and durations must not be negative")}
	}
	cc, err := a.consumerConfig()
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	c := a.cfg.ClickHouse
	chc := a.clickhouseConfig()
	conn, err := clickhouse.Dial(chc)
	if err != nil {
		return &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	defer conn.Close()
	if s.Migrate {
		if err := a.migrateWhenUp(ctx, conn, chc, s); err != nil {
			if ctx.Err() != nil {
				return nil // stopped before anything was read
			}
			return &exitError{exitFailure, err}
		}
	}

	cons, err := kafka.NewConsumer(ctx, cc, a.logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &exitError{exitFailure, err}
	}
	var src ingest.Source = cons
	if testHookBeforeCommit != nil {
		src = hookedSource{Source: cons, before: testHookBeforeCommit}
	}
	w := clickhouse.NewWriter(conn, chc)
	in := ingest.New(src, w, ingest.Config{
		BatchSize: s.BatchSize, BatchTimeout: s.BatchTimeout,
		RetryMin: s.RetryMin, RetryMax: s.RetryMax, ShutdownTimeout: s.ShutdownTimeout,
		Logger: a.logger,
	})
	stages := telemetry.NewStages()
	stages.Add(func() []event.Counter { return sinkCounters(in.Stats(), cons.Stats(), w.Stats()) })
	stopTelemetry, err := a.startTelemetry(stages, func() error {
		if in.Stats().Retrying {
			return errors.New("retrying a batch: ClickHouse or the dead-letter topic fails")
		}
		return nil
	}, func(s *telemetry.Server) {
		s.GaugeFunc("mxwatch_sink_lag_messages", "Messages behind the high-water marks of the partitions this sink reads.",
			func() float64 { return float64(in.Stats().Lag) })
		s.GaugeFunc("mxwatch_sink_last_stored_timestamp_seconds", "When the last batch was stored (Unix time; 0: none yet).",
			func() float64 {
				if t := in.Stats().LastStored; !t.IsZero() {
					return float64(t.UnixNano()) / 1e9
				}
				return 0
			})
	})
	if err != nil {
		_ = cons.Close()
		return err
	}
	defer stopTelemetry()
	a.logger.Info("sink started", "brokers", cc.Brokers, "group", cc.GroupID, "topics", strings.Join(cc.Topics(), ","),
		"dead_letter", cons.DeadLetterTopic(), "clickhouse", c.Addr, "database", c.Database, "batch_size", s.BatchSize)

	statsDone := make(chan struct{})
	stopStats := make(chan struct{})
	go func() { // owned here: stopped by closing stopStats below
		defer close(statsDone)
		if s.StatsInterval <= 0 {
			<-stopStats
			return
		}
		t := time.NewTicker(s.StatsInterval)
		defer t.Stop()
		var last uint64
		lastT := time.Now()
		for {
			select {
			case <-stopStats:
				return
			case now := <-t.C:
				st := in.Stats()
				n := total(st.Stored)
				a.logger.Info("sink progress", append(sinkAttrs(st, cons.Stats(), w.Stats()),
					"events_per_s", fmt.Sprintf("%.0f", float64(n-last)/now.Sub(lastT).Seconds()))...)
				last, lastT = n, now
			}
		}
	}()
	runErr := in.Run(ctx)
	close(stopStats)
	<-statsDone
	closeErr := cons.Close()
	level := slog.LevelInfo
	if runErr != nil {
		level = slog.LevelError
	}
	a.logger.Log(context.Background(), level, "sink stopped", sinkAttrs(in.Stats(), cons.Stats(), w.Stats())...)
	if runErr != nil {
		return &exitError{exitFailure, runErr}
	}
	if closeErr != nil {
		a.logger.Warn("closing the consumer", "err", closeErr)
	}
	return nil
}

// sinkCounters exports the sink's counters as stage counters (metrics).
func sinkCounters(st ingest.Stats, cs kafka.ConsumerStats, ws clickhouse.Stats) []event.Counter {
	out := []event.Counter{
		{Stage: "sink", Name: "fetched", Count: st.Fetched},
		{Stage: "sink", Name: "batches", Count: st.Batches},
		{Stage: "sink", Name: "committed", Count: st.Committed},
		{Stage: "sink", Name: "insert_errors", Count: st.InsertErrors},
		{Stage: "sink", Name: "commit_errors", Count: st.CommitErrors},
		{Stage: "sink", Name: "dead_lettered", Count: st.DeadLettered, Drop: true},
		{Stage: "sink", Name: "dead_letter_errors", Count: st.DeadLetterErrors},
		{Stage: "sink", Name: "rebalances", Count: uint64(max(cs.Rebalances, 0))},
		{Stage: "clickhouse", Name: "clamped_values", Count: ws.Clamped},
		{Stage: "clickhouse", Name: "failed_batches", Count: ws.FailedBatches},
	}
	for _, k := range []event.Kind{event.KindSession, event.KindMessage, event.KindDNS, event.KindFinding, event.KindAlert} {
		out = append(out, event.Counter{Stage: "sink", Name: "stored_" + string(k), Count: st.Stored[k]})
	}
	// Failed inserts by cause: a schema error needs `mxwatch migrate` (or
	// the manual change undone), access an account fix, unavailable waits.
	for _, k := range []string{"schema", "access", "unavailable", "server", "other"} {
		out = append(out, event.Counter{Stage: "sink", Name: "insert_errors_" + k, Count: st.InsertErrorKinds[k]})
	}
	return out
}

func total(m map[event.Kind]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func sinkAttrs(st ingest.Stats, cs kafka.ConsumerStats, ws clickhouse.Stats) []any {
	return []any{
		"fetched", st.Fetched, "stored", total(st.Stored),
		"sessions", st.Stored[event.KindSession], "messages", st.Stored[event.KindMessage],
		"dns", st.Stored[event.KindDNS], "findings", st.Stored[event.KindFinding], "alerts", st.Stored[event.KindAlert],
		"batches", st.Batches, "dead_lettered", st.DeadLettered,
		"insert_errors", st.InsertErrors, "insert_errors_schema", st.InsertErrorKinds["schema"], "commit_errors", st.CommitErrors,
		"committed", st.Committed, "lag", st.Lag, "rebalances", cs.Rebalances, "clamped_values", ws.Clamped,
	}
}

// migrateWhenUp applies the migrations, waiting with backoff for
// ClickHouse to answer.
func (a *app) migrateWhenUp(ctx context.Context, conn driver.Conn, chc clickhouse.Config, s sinkConfig) error {
	wait := max(s.RetryMin, 100*time.Millisecond)
	for {
		applied, err := clickhouse.Migrate(ctx, conn, chc)
		for _, name := range applied {
			a.logger.Info("applied migration", "name", name)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return fmt.Errorf("migrate %s on %s: %w", chc.Database, chc.Addr, err)
		}
		a.logger.Warn("ClickHouse not ready, retrying", "addr", chc.Addr, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, max(s.RetryMax, wait))
	}
}

// retryable tells a server that is not (yet) there from one that refused
// the schema: only the first is worth waiting for.
func retryable(err error) bool {
	var ex *chgo.Exception
	return !errors.As(err, &ex)
}
