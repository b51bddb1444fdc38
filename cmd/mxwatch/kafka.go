package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/kafka"
)

type kafkaConfig struct {
	Brokers           []string      `mapstructure:"brokers"`
	TopicPrefix       string        `mapstructure:"topic_prefix"`
	Compression       string        `mapstructure:"compression"`
	BatchSize         int           `mapstructure:"batch_size"`
	BatchTimeout      time.Duration `mapstructure:"batch_timeout"`
	CreateTopics      bool          `mapstructure:"create_topics"`
	Partitions        int           `mapstructure:"partitions"`
	ReplicationFactor int           `mapstructure:"replication_factor"`
	SpoolDir          string        `mapstructure:"spool_dir"`
	SpoolMaxBytes     int64         `mapstructure:"spool_max_bytes"`
	TLS               kafkaTLS      `mapstructure:"tls"`
	SASL              kafkaSASL     `mapstructure:"sasl"`
}

type kafkaTLS struct {
	Enabled            bool   `mapstructure:"enabled"`
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

type kafkaSASL struct {
	Mechanism string `mapstructure:"mechanism"`
	User      string `mapstructure:"user"`
	Password  string `mapstructure:"password"`
}

func defaultKafkaConfig() kafkaConfig {
	return kafkaConfig{
		Brokers:           []string{},
		TopicPrefix:       kafka.DefaultTopicPrefix,
		Compression:       "snappy",
		BatchSize:         kafka.DefaultBatchSize,
		BatchTimeout:      kafka.DefaultBatchTimeout,
		CreateTopics:      true,
		Partitions:        6,
		ReplicationFactor: 1,
		SpoolMaxBytes:     kafka.DefaultSpoolMaxBytes,
	}
}

// producerConfig converts the kafka section. An empty spool_dir means
// mxwatch/spool under the user's cache directory.
func (f *fileConfig) producerConfig() (kafka.Config, error) {
	k := f.Kafka
	c := kafka.Config{
		Brokers: k.Brokers, TopicPrefix: k.TopicPrefix, Compression: k.Compression,
		BatchSize: k.BatchSize, BatchTimeout: k.BatchTimeout, CreateTopics: k.CreateTopics,
		Partitions: k.Partitions, ReplicationFactor: k.ReplicationFactor,
		SpoolDir: k.SpoolDir, SpoolMaxBytes: k.SpoolMaxBytes,
	}
	if c.SpoolDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return c, fmt.Errorf("kafka.spool_dir: not set and no cache directory: %w", err)
		}
		c.SpoolDir = filepath.Join(dir, "mxwatch", "spool")
	}
	if k.TLS.Enabled {
		t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.TLS.InsecureSkipVerify} //nolint:gosec // an explicit, documented option
		if k.TLS.CAFile != "" {
			pem, err := os.ReadFile(k.TLS.CAFile)
			if err != nil {
				return c, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return c, fmt.Errorf("kafka.tls.ca_file: %s holds no PEM certificate", k.TLS.CAFile)
			}
			t.RootCAs = pool
		}
		if k.TLS.CertFile != "" || k.TLS.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
			if err != nil {
				return c, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
			}
			t.Certificates = []tls.Certificate{cert}
		}
		c.TLS = t
	}
	if k.SASL.Mechanism != "" {
		c.SASL = &kafka.SASL{Mechanism: k.SASL.Mechanism, User: k.SASL.User, Password: k.SASL.Password}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// kafkaSink publishes events; its counters join the summary.
type kafkaSink struct {
	p *kafka.Producer
}

func (a *app) startKafka(ctx context.Context, cfg fileConfig) (*kafkaSink, error) {
	kc, err := cfg.producerConfig()
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("configuration: %w", err)}
	}
	p, err := kafka.NewProducer(ctx, kc, a.logger)
	if err != nil {
		return nil, &exitError{exitFailure, err}
	}
	a.logger.Debug("publishing to kafka", "brokers", kc.Brokers, "spool", kc.SpoolDir)
	return &kafkaSink{p: p}, nil
}

// publish hands an event to the producer. Drops (spool full) are counted
// by the producer and show in the summary, so the error is not needed
// here; after Close nothing is published any more.
func (k *kafkaSink) publish(ev event.Event) { _ = k.p.Publish(ev) }

// close flushes for at most a minute; what is left stays in the spool.
func (k *kafkaSink) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return k.p.Close(ctx)
}

func (k *kafkaSink) counters() []event.Counter {
	s := k.p.Stats()
	return []event.Counter{
		{Stage: "kafka", Name: "published", Count: s.Published},
		{Stage: "kafka", Name: "spooled", Count: s.Spooled},
		{Stage: "kafka", Name: "spool_bytes", Count: uint64(s.SpoolBytes)},
		{Stage: "kafka", Name: "dropped_spool_full", Count: s.Dropped, Drop: true},
		// The part of dropped_spool_full lost to a full disk (not the
		// spool's own bound): already counted above, so not a drop here.
		{Stage: "kafka", Name: "dropped_no_space", Count: s.DroppedNoSpace},
		{Stage: "kafka", Name: "spool_corrupt", Count: s.Corrupt, Drop: true},
		{Stage: "kafka", Name: "retries", Count: s.Retries},
		{Stage: "kafka", Name: "errors", Count: s.Errors},
	}
}
