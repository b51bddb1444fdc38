package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Consumer defaults.
const (
	DefaultGroupID        = "mxwatch-sink"
	DefaultDeadLetter     = "deadletter"
	DefaultMaxWait        = 500 * time.Millisecond
	DefaultFetchMaxBytes  = 16 << 20
	DefaultQueueCapacity  = 1000
	DefaultSessionTimeout = 30 * time.Second
)

// Headers the consumer adds to a dead-lettered message, so that the person
// looking at the dead-letter topic sees where it came from and why.
const (
	HeaderError     = "mxwatch-error"
	HeaderTopic     = "mxwatch-topic"
	HeaderPartition = "mxwatch-partition"
	HeaderOffset    = "mxwatch-offset"
)

// ConsumerConfig configures a Consumer. Brokers, TopicPrefix, TLS, SASL,
// DialTimeout, CreateTopics, Partitions and ReplicationFactor come from the
// embedded Config and mean what they mean for the producer.
type ConsumerConfig struct {
	Config
	// GroupID names the consumer group; sinks with the same group share
	// the partitions. Default "mxwatch-sink".
	GroupID string
	// DeadLetterTopic receives messages that cannot be stored. Default
	// <prefix>deadletter.
	DeadLetterTopic string
	// MaxWait is the longest one fetch waits at the broker for data.
	MaxWait time.Duration
	// FetchMaxBytes bounds one fetch response.
	FetchMaxBytes int
	// QueueCapacity bounds the messages fetched ahead of the caller.
	QueueCapacity int
	// SessionTimeout is the group session timeout: how long the group
	// waits for a silent member before its partitions move.
	SessionTimeout time.Duration
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	c.Config = c.Config.withDefaults()
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = c.TopicPrefix + DefaultDeadLetter
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.QueueCapacity == 0 {
		c.QueueCapacity = DefaultQueueCapacity
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	return c
}

// Validate reports whether the configuration (after defaults) is usable.
func (c ConsumerConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	switch {
	case c.MaxWait < 0 || c.FetchMaxBytes < 0 || c.QueueCapacity < 0 || c.SessionTimeout < 0:
		return fmt.Errorf("kafka: %w: negative consumer setting", ErrConfig)
	case c.SessionTimeout < 6*time.Second && c.SessionTimeout != 0:
		return fmt.Errorf("kafka: %w: session timeout %v below the brokers' usual minimum of 6s", ErrConfig, c.SessionTimeout)
	}
	for _, t := range c.Topics() {
		if t == c.DeadLetterTopic {
			return fmt.Errorf("kafka: %w: dead-letter topic %q is an event topic", ErrConfig, t)
		}
	}
	return nil
}

// ConsumerStats is a snapshot of a Consumer's counters.
type ConsumerStats struct {
	// Fetched counts messages handed to the caller; Committed the
	// messages whose offsets were committed.
	Fetched, Committed uint64
	// DeadLettered counts messages written to the dead-letter topic.
	DeadLettered uint64
	// CommitErrors and DeadLetterErrors count failed attempts.
	CommitErrors, DeadLetterErrors uint64
	// Rebalances counts group rebalances seen by the reader.
	Rebalances int64
}

// Consumer reads every event topic as a member of a consumer group and
// commits only what the caller says is stored. Messages of one partition
// arrive in offset order. Fetch, Commit and DeadLetter are meant for one
// goroutine; Stats is safe for concurrent use.
type Consumer struct {
	cfg ConsumerConfig
	log *slog.Logger
	r   *kafkago.Reader
	dlq *kafkago.Writer
	tr  *kafkago.Transport

	fetched, committed, deadLettered, commitErrors, dlqErrors atomic.Uint64
	rebalances                                                atomic.Int64
}

// NewConsumer checks (or creates, with CreateTopics) the event topics and
// the dead-letter topic, then joins the group. While the brokers cannot be
// reached it retries with backoff until ctx ends, logging each failure;
// missing topics without CreateTopics are an error (ErrMissingTopics). A
// nil logger discards.
func NewConsumer(ctx context.Context, cfg ConsumerConfig, logger *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "kafka-consumer")
	topics := append(cfg.Topics(), cfg.DeadLetterTopic)
	for wait := cfg.RetryBackoffMin; ; wait = min(2*wait, cfg.RetryBackoffMax) {
		err := ensureTopics(ctx, cfg.Config, topics, log)
		if err == nil {
			break
		}
		if errors.Is(err, ErrMissingTopics) || errors.Is(err, ErrConfig) {
			return nil, err
		}
		log.Warn("brokers not answering, retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("kafka: waiting for brokers: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	mech, _ := cfg.mechanism()
	dialer := &kafkago.Dialer{Timeout: cfg.DialTimeout, TLS: cfg.TLS, SASLMechanism: mech, ClientID: "mxwatch-sink", DualStack: true}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:        cfg.Brokers,
		GroupID:        cfg.GroupID,
		GroupTopics:    cfg.Topics(),
		Dialer:         dialer,
		QueueCapacity:  cfg.QueueCapacity,
		MinBytes:       1,
		MaxBytes:       cfg.FetchMaxBytes,
		MaxWait:        cfg.MaxWait,
		CommitInterval: 0, // synchronous: Commit returns when the broker has the offsets
		StartOffset:    kafkago.FirstOffset,
		SessionTimeout: cfg.SessionTimeout,
		ReadBackoffMin: cfg.RetryBackoffMin,
		ReadBackoffMax: cfg.RetryBackoffMax,
		// Partitions added to a topic are picked up.
		WatchPartitionChanges: true,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Warn(fmt.Sprintf(msg, args...))
		}),
	})
	codec, _ := cfg.compression()
	tr := &kafkago.Transport{DialTimeout: cfg.DialTimeout, ClientID: "mxwatch-sink", TLS: cfg.TLS, SASL: mech}
	dlq := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Topic:        cfg.DeadLetterTopic,
		Balancer:     &kafkago.Hash{},
		MaxAttempts:  cfg.MaxAttempts,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
		Compression:  codec,
		Transport:    tr,
	}
	return &Consumer{cfg: cfg, log: log, r: r, dlq: dlq, tr: tr}, nil
}

// Fetch returns the next message; it blocks until one arrives or ctx ends.
// A message is not committed until Commit is called with it.
func (c *Consumer) Fetch(ctx context.Context) (kafkago.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return m, fmt.Errorf("kafka: fetch: consumer closed: %w", err)
		}
		return m, fmt.Errorf("kafka: fetch: %w", err)
	}
	c.fetched.Add(1)
	return m, nil
}

// Commit commits the offsets of msgs (the highest per partition counts)
// and waits for the broker to confirm. After a rebalance the broker may
// refuse offsets of partitions this member no longer owns; those messages
// are delivered again to the new owner.
func (c *Consumer) Commit(ctx context.Context, msgs []kafkago.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		c.commitErrors.Add(1)
		return fmt.Errorf("kafka: commit %d offsets: %w", len(msgs), err)
	}
	c.committed.Add(uint64(len(msgs)))
	return nil
}

// DeadLetter writes m, with headers naming its origin and reason, to the
// dead-letter topic and waits for acks=all. The caller commits m only
// after this succeeded, so a poison message is never lost.
func (c *Consumer) DeadLetter(ctx context.Context, m kafkago.Message, reason error) error {
	why := "unknown"
	if reason != nil {
		why = reason.Error()
	}
	if len(why) > 1024 {
		why = why[:1024]
	}
	headers := append(m.Headers[:len(m.Headers):len(m.Headers)],
		kafkago.Header{Key: HeaderError, Value: []byte(why)},
		kafkago.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafkago.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafkago.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	out := kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers, Time: m.Time}
	if err := c.dlq.WriteMessages(ctx, out); err != nil {
		c.dlqErrors.Add(1)
		return fmt.Errorf("kafka: dead-letter %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	c.deadLettered.Add(1)
	return nil
}

// DeadLetterTopic is the topic DeadLetter writes to.
func (c *Consumer) DeadLetterTopic() string { return c.cfg.DeadLetterTopic }

// Stats returns a snapshot of the counters.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Fetched:          c.fetched.Load(),
		Committed:        c.committed.Load(),
		DeadLettered:     c.deadLettered.Load(),
		CommitErrors:     c.commitErrors.Load(),
		DeadLetterErrors: c.dlqErrors.Load(),
		// The reader's Stats reports counts since its previous call.
		Rebalances: c.rebalances.Add(c.r.Stats().Rebalances),
	}
}

// Close leaves the group and closes the connections. Messages fetched but
// not committed are delivered again, to this group's next member.
func (c *Consumer) Close() error {
	err := c.r.Close()
	if derr := c.dlq.Close(); err == nil {
		err = derr
	}
	c.tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("kafka: closing consumer: %w", err)
	}
	return nil
}
