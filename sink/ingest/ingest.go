// Package ingest moves events from Kafka into a store (ClickHouse) at
// least once: it fetches a batch (bounded by size and time), decodes it,
// sends undecodable messages to a dead-letter topic, inserts the events,
// and only then commits the batch's offsets.
//
// Guarantees, and what they rest on:
//
//   - Nothing is lost: an offset is committed only after its event is
//     stored, or after the message is in the dead-letter topic (acks=all).
//     A crash between insert and commit delivers the batch again.
//   - Nothing is reordered within a partition: one goroutine holds one
//     batch at a time and retries it, whole and in fetch order, with
//     exponential backoff until the store takes it; nothing newer is
//     inserted meanwhile.
//   - Re-delivery does not double-count: event ids are deterministic, the
//     tables deduplicate by id (see sink/clickhouse), and reports count
//     with FINAL or uniqExact(id).
//   - A poison message (not JSON, unknown kind, other schema version,
//     invalid) never blocks its partition: it is dead-lettered, counted
//     and committed with its batch.
//   - A store that refuses a batch for a reason someone must fix (a table
//     whose schema was changed by hand: a "schema" KindedError) is not
//     skipped: the batch is retried with backoff, uncommitted, and every
//     failure is counted by kind and logged as an error with the store's
//     advice, until the cause is repaired.
//
// Shutdown: when the run context ends, the batch being collected is
// flushed and committed, given Config.ShutdownTimeout more to finish.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mxwatch/mxwatch/event"
)

// Defaults of Config.
const (
	DefaultBatchSize       = 5000
	DefaultBatchTimeout    = time.Second
	DefaultRetryMin        = 200 * time.Millisecond
	DefaultRetryMax        = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	commitAttempts         = 3
)

// Source is where messages come from: a Kafka consumer group member.
type Source interface {
	// Fetch blocks for the next message or until ctx ends.
	Fetch(ctx context.Context) (kafkago.Message, error)
	// Commit marks msgs (and everything before them in their partitions)
	// as processed.
	Commit(ctx context.Context, msgs []kafkago.Message) error
	// DeadLetter stores a message that cannot be processed, durably.
	DeadLetter(ctx context.Context, m kafkago.Message, reason error) error
}

// Store is where events go. Insert either stores all events or returns an
// error; storing some of them twice must be harmless (deduplication).
type Store interface {
	Insert(ctx context.Context, events []event.Event) error
}

// KindedError is implemented by store errors that say what kind of failure
// they are ("schema", "access", "unavailable", ...; see
// sink/clickhouse.ErrorKind). The kind labels the error counts and decides
// the log level: a "schema" or "access" error needs a person and is logged
// as an error, with the store's advice in its message; the batch is
// retried all the same, because retrying is the only choice that loses
// nothing once the cause is repaired.
type KindedError interface {
	error
	ErrorKind() string
}

// errorKind returns err's kind, or "other".
func errorKind(err error) string {
	var k KindedError
	if errors.As(err, &k) && k.ErrorKind() != "" {
		return k.ErrorKind()
	}
	return "other"
}

// Config tunes the loop. Zero values mean the defaults.
type Config struct {
	// BatchSize is the most messages in one insert; BatchTimeout the
	// longest the first message of a batch waits for the batch to fill.
	BatchSize    int
	BatchTimeout time.Duration
	// RetryMin and RetryMax bound the exponential backoff between
	// attempts to insert a batch or to dead-letter a message.
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout is how long the last batch may take to flush after
	// the run context ended.
	ShutdownTimeout time.Duration
	// Logger receives progress and failures; nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(DefaultRetryMax, c.RetryMin)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats is a snapshot of the loop's counters.
type Stats struct {
	// Fetched counts messages taken from the source.
	Fetched uint64
	// Stored counts events the store accepted, by kind (an event inserted
	// again after a failed attempt counts once).
	Stored map[event.Kind]uint64
	// Batches counts batches stored and committed.
	Batches uint64
	// InsertErrors counts failed insert attempts (each was retried);
	// InsertErrorKinds splits them by the kind the store gives its errors
	// (see KindedError; "other" when it gives none).
	InsertErrors     uint64
	InsertErrorKinds map[string]uint64
	// DeadLettered counts poison messages moved to the dead-letter topic;
	// DeadLetterErrors failed attempts to do so (each was retried).
	DeadLettered, DeadLetterErrors uint64
	// Committed counts messages whose offsets were committed;
	// CommitErrors commits that failed (their messages come again).
	Committed, CommitErrors uint64
	// Lag sums, over the partitions seen, the messages behind the
	// high-water mark at the last fetch.
	Lag int64
	// LastStored is when the last batch was stored (wall clock).
	LastStored time.Time
	// Retrying is true while a batch waits to be stored or dead-lettered
	// after a failure.
	Retrying bool
}

// Ingester runs the loop. Create it with New; Stats is safe to call while
// Run runs.
type Ingester struct {
	src   Source
	store Store
	cfg   Config
	log   *slog.Logger

	mu  sync.Mutex
	st  Stats
	lag map[tp]int64
}

type tp struct {
	topic     string
	partition int
}

// New returns an Ingester from src to store.
func New(src Source, store Store, cfg Config) *Ingester {
	cfg = cfg.withDefaults()
	return &Ingester{
		src: src, store: store, cfg: cfg, log: cfg.Logger.With("component", "ingest"),
		st:  Stats{Stored: map[event.Kind]uint64{}, InsertErrorKinds: map[string]uint64{}},
		lag: map[tp]int64{},
	}
}

// Stats returns a snapshot of the counters.
func (in *Ingester) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.st
	s.Stored = make(map[event.Kind]uint64, len(in.st.Stored))
	for k, v := range in.st.Stored {
		s.Stored[k] = v
	}
	s.InsertErrorKinds = make(map[string]uint64, len(in.st.InsertErrorKinds))
	for k, v := range in.st.InsertErrorKinds {
		s.InsertErrorKinds[k] = v
	}
	for _, l := range in.lag {
		s.Lag += l
	}
	return s
}

// ErrFlush is wrapped by Run's error when the last batch could not be
// stored before the shutdown timeout; its messages were not committed and
// will be delivered again.
var ErrFlush = errors.New("last batch not stored")

// Run moves batches until ctx ends, then flushes the batch in hand and
// returns nil. It returns an error when the source fails or when the last
// batch cannot be flushed in time (ErrFlush).
func (in *Ingester) Run(ctx context.Context) error {
	grace, cancel := graceContext(ctx, in.cfg.ShutdownTimeout)
	defer cancel()
	for {
		batch, err := in.collect(ctx)
		if len(batch) > 0 {
			if ferr := in.process(grace, batch); ferr != nil {
				return fmt.Errorf("ingest: %w (%d messages not committed; they will be delivered again): %w", ErrFlush, len(batch), ferr)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
}

// graceContext returns a context that ends d after ctx ends.
func graceContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var t *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		t = time.AfterFunc(d, cancel)
		mu.Unlock()
	})
	return g, func() {
		stop()
		mu.Lock()
		if t != nil {
			t.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// collect fetches one batch: it waits for a first message as long as ctx
// lasts, then fills the batch until it is full or BatchTimeout passed.
// It returns what it has with the error that ended it.
func (in *Ingester) collect(ctx context.Context) ([]kafkago.Message, error) {
	first, err := in.src.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]kafkago.Message, 1, min(in.cfg.BatchSize, 1024))
	batch[0] = first
	in.seen(first)
	fctx, cancel := context.WithTimeout(ctx, in.cfg.BatchTimeout)
	defer cancel()
	for len(batch) < in.cfg.BatchSize {
		m, err := in.src.Fetch(fctx)
		if err != nil {
			if ctx.Err() == nil && fctx.Err() != nil {
				break // the batch's time is up
			}
			return batch, err
		}
		in.seen(m)
		batch = append(batch, m)
	}
	return batch, nil
}

func (in *Ingester) seen(m kafkago.Message) {
	in.mu.Lock()
	in.st.Fetched++
	if m.HighWaterMark > 0 {
		in.lag[tp{m.Topic, m.Partition}] = max(0, m.HighWaterMark-m.Offset-1)
	}
	in.mu.Unlock()
}

// process decodes, dead-letters, stores and commits one batch. It returns
// an error only when ctx ended before the batch was stored.
func (in *Ingester) process(ctx context.Context, batch []kafkago.Message) error {
	evs := make([]event.Event, 0, len(batch))
	for _, m := range batch {
		ev, err := event.Decode(m.Value)
		if err == nil {
			evs = append(evs, ev)
			continue
		}
		in.log.Warn("poison message, dead-lettering", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		if err := in.retry(ctx, "dead-letter", func() error { return in.src.DeadLetter(ctx, m, err) }, &in.st.DeadLetterErrors); err != nil {
			return err
		}
		in.count(func(s *Stats) { s.DeadLettered++ })
	}
	if len(evs) > 0 {
		insert := func() error {
			err := in.store.Insert(ctx, evs)
			if err != nil {
				kind := errorKind(err)
				in.count(func(s *Stats) { s.InsertErrorKinds[kind]++ })
			}
			return err
		}
		if err := in.retry(ctx, "insert", insert, &in.st.InsertErrors); err != nil {
			return err
		}
	}
	in.count(func(s *Stats) {
		for _, ev := range evs {
			s.Stored[ev.EventKind()]++
		}
		s.Batches++
		s.LastStored = time.Now()
	})
	in.commit(ctx, batch)
	return nil
}

// retry calls f until it succeeds or ctx ends, backing off exponentially
// and counting failures in *failures.
func (in *Ingester) retry(ctx context.Context, what string, f func() error, failures *uint64) error {
	wait := in.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			if attempt > 1 {
				in.count(func(s *Stats) { s.Retrying = false })
				in.log.Info(what+" succeeded after retries", "attempts", attempt)
			}
			return nil
		}
		in.count(func(s *Stats) { *failures++; s.Retrying = true })
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		switch kind := errorKind(err); kind {
		case "schema", "access":
			// Not transient: someone has to act. Nothing is committed
			// meanwhile, so nothing is lost; the lag grows.
			in.log.Error(what+" rejected ("+kind+"), retrying until repaired; nothing is committed meanwhile",
				"kind", kind, "attempt", attempt, "retry_in", wait, "err", err)
		default:
			in.log.Warn(what+" failed, retrying", "kind", kind, "attempt", attempt, "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, in.cfg.RetryMax)
	}
}

// commit commits the batch, trying a few times. A commit that fails is
// not fatal: the stored events come again and deduplicate.
func (in *Ingester) commit(ctx context.Context, batch []kafkago.Message) {
	var err error
	for attempt := 0; attempt < commitAttempts && ctx.Err() == nil; attempt++ {
		if err = in.src.Commit(ctx, batch); err == nil {
			in.count(func(s *Stats) { s.Committed += uint64(len(batch)) })
			return
		}
		in.count(func(s *Stats) { s.CommitErrors++ })
		in.log.Warn("commit failed", "attempt", attempt+1, "messages", len(batch), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(in.cfg.RetryMin):
		}
	}
	in.log.Error("offsets not committed; the batch will be delivered again and deduplicated", "messages", len(batch), "err", err)
}

func (in *Ingester) count(f func(*Stats)) {
	in.mu.Lock()
	f(&in.st)
	in.mu.Unlock()
}
