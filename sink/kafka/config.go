package kafka

import (
	"crypto/tls"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/mxwatch/mxwatch/event"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultTopicPrefix       = "mxwatch."
	DefaultBatchSize         = 500
	DefaultBatchTimeout      = 50 * time.Millisecond
	DefaultQueueSize         = 10000
	DefaultSpoolMaxBytes     = 1 << 30
	DefaultSpoolSegment      = 16 << 20
	DefaultMaxAttempts       = 3
	DefaultDialTimeout       = 5 * time.Second
	DefaultRetryBackoffMin   = 100 * time.Millisecond
	DefaultRetryBackoffMax   = 5 * time.Second
	DefaultPartitions        = 1
	DefaultReplicationFactor = 1
)

// SASL holds broker credentials.
type SASL struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string
	User      string
	Password  string
}

// Config configures a Producer. The zero value of every field except
// Brokers means its default.
type Config struct {
	// Brokers are the bootstrap addresses (host:port).
	Brokers []string
	// TopicPrefix is prepended to the event kind to name a topic:
	// <prefix>session, <prefix>message, <prefix>dns, <prefix>finding,
	// <prefix>alert. Default "mxwatch.".
	TopicPrefix string
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// BatchSize is the most messages in one write; BatchTimeout how long
	// the writer waits to fill a batch.
	BatchSize    int
	BatchTimeout time.Duration
	// Partitions and ReplicationFactor apply to topics the producer creates.
	Partitions        int
	ReplicationFactor int
	// CreateTopics creates missing topics; without it NewProducer fails
	// with ErrMissingTopics naming them.
	CreateTopics bool
	// QueueSize bounds the in-memory queue between Publish and the writer;
	// past it, events go to the spool.
	QueueSize int
	// SpoolDir holds the on-disk spool. Empty disables the spool: events
	// that cannot be delivered are dropped and counted.
	SpoolDir string
	// SpoolMaxBytes bounds the spool; when full, new events are dropped
	// and counted. SpoolSegmentBytes is the size at which a segment file
	// is closed and a new one started.
	SpoolMaxBytes     int64
	SpoolSegmentBytes int64
	// MaxAttempts is how often the kafka-go writer tries one batch;
	// RetryBackoffMin and RetryBackoffMax bound the producer's wait after
	// a failed batch before it tries again.
	MaxAttempts     int
	RetryBackoffMin time.Duration
	RetryBackoffMax time.Duration
	// DialTimeout bounds connecting to a broker.
	DialTimeout time.Duration
	// TLS enables TLS to the brokers.
	TLS *tls.Config
	// SASL enables SASL authentication.
	SASL *SASL
}

func (c Config) withDefaults() Config {
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.SpoolSegmentBytes == 0 {
		c.SpoolSegmentBytes = DefaultSpoolSegment
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBackoffMin == 0 {
		c.RetryBackoffMin = DefaultRetryBackoffMin
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = DefaultRetryBackoffMax
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

// Validate reports whether the configuration (after defaults) is usable.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("kafka: %w: no brokers", ErrConfig)
	case c.BatchSize < 0 || c.QueueSize < 0 || c.BatchTimeout < 0:
		return fmt.Errorf("kafka: %w: negative batch or queue size", ErrConfig)
	case c.Partitions < 0 || c.ReplicationFactor < 0:
		return fmt.Errorf("kafka: %w: negative partitions or replication factor", ErrConfig)
	case c.SpoolMaxBytes < 0 || c.SpoolSegmentBytes < 0:
		return fmt.Errorf("kafka: %w: negative spool size", ErrConfig)
	case c.MaxAttempts < 0 || c.RetryBackoffMin < 0 || c.RetryBackoffMax < c.RetryBackoffMin:
		return fmt.Errorf("kafka: %w: bad retry settings", ErrConfig)
	}
	if _, err := c.compression(); err != nil {
		return err
	}
	if _, err := c.mechanism(); err != nil {
		return err
	}
	return nil
}

func (c Config) compression() (compress.Compression, error) {
	switch c.Compression {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "snappy":
		return kafkago.Snappy, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "zstd":
		return kafkago.Zstd, nil
	}
	return 0, fmt.Errorf("kafka: %w: unknown compression %q", ErrConfig, c.Compression)
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	if c.SASL == nil {
		return nil, nil
	}
	switch c.SASL.Mechanism {
	case "plain":
		return plain.Mechanism{Username: c.SASL.User, Password: c.SASL.Password}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.SASL.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.SASL.User, c.SASL.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka: %w: sasl %s: %w", ErrConfig, c.SASL.Mechanism, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka: %w: unknown sasl mechanism %q", ErrConfig, c.SASL.Mechanism)
}

// Topic names the topic for events of kind k.
func (c Config) Topic(k event.Kind) string {
	return c.withDefaults().TopicPrefix + string(k)
}

// Topics lists the topics of every event kind.
func (c Config) Topics() []string {
	kinds := []event.Kind{event.KindSession, event.KindMessage, event.KindDNS, event.KindFinding, event.KindAlert}
	ts := make([]string, len(kinds))
	for i, k := range kinds {
		ts[i] = c.Topic(k)
	}
	return ts
}
