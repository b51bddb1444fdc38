package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestAnalyzeToKafka: analyze --kafka publishes every event, one topic per
// kind, keyed by client address, to a real Kafka protocol broker (kfake,
// in-process), read back with kafka-go.
func TestAnalyzeToKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	t.Setenv("MXWATCH_KAFKA_SPOOL_DIR", filepath.Join(t.TempDir(), "spool"))
	t.Setenv("MXWATCH_KAFKA_PARTITIONS", "1") // the topics are created by analyze; one partition to read back
	code, out, errs := mxwatch(t, "analyze", "--config", "testdata/platform.yaml", "--events", events,
		"--kafka", strings.Join(brokers, ","), "../../testdata/classes.pcap")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "kafka    published") {
		t.Errorf("summary lacks the kafka counters:\n%s", out)
	}
	data, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		for _, k := range []string{"session", "message", "dns", "finding", "alert"} {
			if strings.Contains(line, `"kind":"`+k+`"`) {
				want[k]++
			}
		}
	}
	for kind, n := range want {
		topic := "mxwatch." + kind
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
		got := 0
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for got < n {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				break
			}
			if !strings.Contains(string(m.Value), `"kind":"`+kind+`"`) || (kind != "alert" && len(m.Key) == 0) {
				t.Errorf("%s: message %s key %q", topic, m.Value, m.Key)
			}
			got++
		}
		cancel()
		r.Close()
		if got != n {
			t.Errorf("%s: read %d messages, analyze wrote %d events", topic, got, n)
		}
	}
	if len(want) < 4 {
		t.Errorf("only %d kinds of events: %v", len(want), want)
	}
}
