package kafka

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mxwatch/mxwatch/event"
)

func consumerConfig(brokers []string) ConsumerConfig {
	return ConsumerConfig{
		Config:         testConfig(brokers),
		GroupID:        "test-sink",
		MaxWait:        50 * time.Millisecond,
		SessionTimeout: 6 * time.Second,
	}
}

func newConsumer(t *testing.T, cfg ConsumerConfig) *Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := NewConsumer(ctx, cfg, nil)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return c
}

// fetchN fetches n messages and returns them, in fetch order.
func fetchN(t *testing.T, c *Consumer, n int) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []kafkago.Message
	for len(out) < n {
		m, err := c.Fetch(ctx)
		if err != nil {
			t.Fatalf("fetch after %d of %d: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// TestConsumerGroupCommit: a group member reads what the producer wrote,
// in order per partition; after it commits part and closes, the next
// member starts right after the committed offsets, and nothing more.
func TestConsumerGroupCommit(t *testing.T) {
	c, brokers := newCluster(t, seedTopics())
	defer c.Close()
	evs := makeEvents(0, 10) // 200 events
	p, err := NewProducer(t.Context(), testConfig(brokers), nil)
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, p, evs)
	closeProducer(t, p)

	cfg := consumerConfig(brokers)
	cfg.CreateTopics = true // the dead-letter topic is missing
	first := newConsumer(t, cfg)
	got := fetchN(t, first, 120)
	next := map[string]int64{}
	for _, m := range got {
		k := m.Topic + "/" + strconv.Itoa(m.Partition)
		if o, ok := next[k]; ok && m.Offset != o {
			t.Fatalf("%s: offset %d after %d", k, m.Offset, o-1)
		}
		next[k] = m.Offset + 1
		if _, err := event.Decode(m.Value); err != nil {
			t.Fatalf("decode %s: %v", m.Value, err)
		}
	}
	if err := first.Commit(t.Context(), got[:100]); err != nil {
		t.Fatal(err)
	}
	if st := first.Stats(); st.Fetched != 120 || st.Committed != 100 {
		t.Errorf("stats %+v", st)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// The second member must see the 100 uncommitted messages (the 20
	// fetched but not committed among them), each exactly once.
	second := newConsumer(t, cfg)
	defer second.Close()
	rest := fetchN(t, second, len(evs)-100)
	seen := map[string]bool{}
	for _, m := range got[:100] {
		seen[string(m.Value)] = true
	}
	for _, m := range rest {
		if seen[string(m.Value)] {
			t.Errorf("committed message delivered again: %s/%d@%d", m.Topic, m.Partition, m.Offset)
		}
		seen[string(m.Value)] = true
	}
	if len(seen) != len(evs) {
		t.Errorf("saw %d distinct events, want %d", len(seen), len(evs))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if m, err := second.Fetch(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("extra message %s/%d@%d (err %v)", m.Topic, m.Partition, m.Offset, err)
	}
}

func TestDeadLetterHeaders(t *testing.T) {
	c, brokers := newCluster(t, seedTopics())
	defer c.Close()
	cfg := consumerConfig(brokers)
	cfg.CreateTopics = true
	cons := newConsumer(t, cfg)
	defer cons.Close()
	in := kafkago.Message{Topic: "mxwatch.dns", Partition: 2, Offset: 41, Key: []byte("10.0.0.1"), Value: []byte("{garbage")}
	if err := cons.DeadLetter(t.Context(), in, errors.New("undecodable event")); err != nil {
		t.Fatal(err)
	}
	if cons.DeadLetterTopic() != "mxwatch.deadletter" {
		t.Errorf("dead-letter topic %q", cons.DeadLetterTopic())
	}
	// The topic has several partitions; a group reader reads them all.
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, GroupID: "dlq-check", Topic: "mxwatch.deadletter", MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	want := map[string]string{HeaderError: "undecodable event", HeaderTopic: "mxwatch.dns", HeaderPartition: "2", HeaderOffset: "41"}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q", k, h[k], v)
		}
	}
	if string(m.Value) != "{garbage" || string(m.Key) != "10.0.0.1" {
		t.Errorf("dead letter %q/%q, want the original key and value", m.Key, m.Value)
	}
	if st := cons.Stats(); st.DeadLettered != 1 {
		t.Errorf("dead-lettered %d", st.DeadLettered)
	}
}

func TestConsumerMissingTopics(t *testing.T) {
	c, brokers := newCluster(t)
	defer c.Close()
	_, err := NewConsumer(t.Context(), consumerConfig(brokers), nil)
	if !errors.Is(err, ErrMissingTopics) {
		t.Fatalf("NewConsumer = %v, want ErrMissingTopics", err)
	}
}

// TestConsumerWaitsForBrokers: with no broker answering, NewConsumer keeps
// trying until its context ends and then says why.
func TestConsumerWaitsForBrokers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := NewConsumer(ctx, consumerConfig([]string{refusedAddr(t)}), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewConsumer = %v, want a deadline error", err)
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	good := consumerConfig([]string{"127.0.0.1:9092"})
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*ConsumerConfig){
		"dead letter is an event topic": func(c *ConsumerConfig) { c.DeadLetterTopic = "mxwatch.dns" },
		"short session":                 func(c *ConsumerConfig) { c.SessionTimeout = time.Second },
		"negative wait":                 func(c *ConsumerConfig) { c.MaxWait = -1 },
		"no brokers":                    func(c *ConsumerConfig) { c.Brokers = nil },
	} {
		c := good
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", name, err)
		}
	}
}
