package kafka

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwatch/mxwatch/event"
)

// mover moves the leadership of every event partition to the next of the
// cluster's nodes, round robin, and optionally moves the group
// coordinators.
type mover struct {
	c     *kfake.Cluster
	nodes []int32
	step  int
	moves int
}

func (m *mover) move(t *testing.T, coordinators bool) {
	t.Helper()
	m.step++
	for i, topic := range (Config{}).Topics() {
		for part := range int32(testPartitions) {
			node := m.nodes[(m.step+i+int(part))%len(m.nodes)]
			if err := m.c.MoveTopicPartition(topic, part, node); err != nil {
				t.Fatalf("move %s/%d to %d: %v", topic, part, node, err)
			}
			m.moves++
		}
	}
	if coordinators {
		m.c.RehashCoordinators()
	}
}

// idOf returns the id field of an encoded event.
func idOf(t *testing.T, value []byte) string {
	t.Helper()
	ev, err := event.Decode(value)
	if err != nil {
		t.Fatalf("decode %s: %v", value, err)
	}
	switch e := ev.(type) {
	case *event.Session:
		return e.ID
	case *event.Message:
		return e.ID
	case *event.DNS:
		return e.ID
	case *event.Finding:
		return e.ID
	case *event.Alert:
		return e.ID
	}
	t.Fatalf("unknown event %T", ev)
	return ""
}

// checkDeliveredAtLeastOnce reads what the brokers hold and asserts that
// want arrived at least once, in order per key (checkAtLeastOnceInOrder);
// it returns the number of copies.
func checkDeliveredAtLeastOnce(t *testing.T, brokers []string, want []event.Event) int {
	t.Helper()
	byKey := map[string][]string{}
	for topic, ms := range readAll(t, brokers, nil) {
		for _, g := range ms {
			byKey[topic+"/"+g.key] = append(byKey[topic+"/"+g.key], g.value)
		}
	}
	return checkAtLeastOnceInOrder(t, byKey, want)
}

// checkAtLeastOnceInOrder asserts that the messages of every topic and key,
// in the order given, hold every wanted event, no other, and, dropping
// copies of events seen before, in the order they were published.
func checkAtLeastOnceInOrder(t *testing.T, gotSeq map[string][]string, want []event.Event) (dups int) {
	t.Helper()
	wantSeq := map[string][]string{}
	for _, ev := range want {
		k := Config{}.Topic(ev.EventKind()) + "/" + ev.ClientAddr().String()
		wantSeq[k] = append(wantSeq[k], encode(t, ev))
	}
	for k, gs := range gotSeq {
		if _, ok := wantSeq[k]; !ok {
			t.Errorf("%s: %d messages, none published", k, len(gs))
		}
	}
	for k, ws := range wantSeq {
		seen := map[string]bool{}
		var firsts []string
		for _, g := range gotSeq[k] {
			if seen[g] {
				dups++
				continue
			}
			seen[g] = true
			firsts = append(firsts, g)
		}
		if len(firsts) != len(ws) {
			t.Errorf("%s: %d distinct messages, want %d", k, len(firsts), len(ws))
			continue
		}
		for i := range ws {
			if firsts[i] != ws[i] {
				t.Errorf("%s #%d out of order:\n got %s\nwant %s", k, i, firsts[i], ws[i])
				break
			}
		}
	}
	return dups
}

// TestPartitionsMove runs a three-node cluster and moves the leadership of
// every partition (and the group coordinator) while the producer publishes
// and again while a consumer group member consumes. Outcome: nothing is
// lost, copies only where a batch was written again (at least once: the
// distinct ids equal what was published), and per key the order holds.
func TestPartitionsMove(t *testing.T) {
	c, brokers := newCluster(t, kfake.NumBrokers(3), seedTopics())
	defer c.Close()
	m := &mover{c: c, nodes: []int32{0, 1, 2}}

	cfg := testConfig(brokers)
	cfg.SpoolDir = t.TempDir()
	cfg.MaxAttempts = 3
	p, err := NewProducer(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var published []event.Event
	const chunks = 10
	for i := range chunks {
		evs := makeEvents(i*5, 5) // 100 events
		publishAll(t, p, evs)
		published = append(published, evs...)
		// Move while this chunk is in flight; wait until it is written
		// before the next chunk, so that every chunk meets a move.
		m.move(t, false)
		want := uint64(len(published))
		waitFor(t, fmt.Sprintf("chunk %d published", i), func() bool { return p.Stats().Published >= want })
	}
	closeProducer(t, p)
	if st := p.Stats(); st.Dropped != 0 || st.SpoolBytes != 0 {
		t.Errorf("producer stats %+v: want nothing dropped or left", st)
	}

	dups := checkDeliveredAtLeastOnce(t, c.ListenAddrs(), published)
	t.Logf("producer: %d events, %d partition moves, %d copies written again", len(published), m.moves, dups)

	// A group member consumes and commits while the leaders move every
	// 100 messages, and the group coordinator every 300.
	ccfg := consumerConfig(brokers)
	ccfg.CreateTopics = true
	cons := newConsumer(t, ccfg)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	distinct := map[string]bool{}
	fetched := map[string][]string{}
	next := map[string]int64{}
	movesBefore := m.moves
	var commitErrs, rewinds int
	for n := 0; len(distinct) < len(published); n++ {
		msg, err := cons.Fetch(ctx)
		if err != nil {
			t.Fatalf("fetch after %d distinct of %d: %v", len(distinct), len(published), err)
		}
		tp := msg.Topic + "/" + strconv.Itoa(msg.Partition)
		if o, ok := next[tp]; ok && msg.Offset < o {
			rewinds++ // the member rejoined and resumed from its last commit
		}
		next[tp] = msg.Offset + 1
		k := msg.Topic + "/" + string(msg.Key)
		fetched[k] = append(fetched[k], string(msg.Value))
		distinct[idOf(t, msg.Value)+"/"+msg.Topic] = true
		if err := cons.Commit(ctx, []kafkago.Message{msg}); err != nil {
			commitErrs++ // refused while the coordinator moved: the message may come again
		}
		if n%100 == 99 {
			m.move(t, n%300 == 299)
		}
	}
	if err := cons.Close(); err != nil {
		t.Errorf("close consumer: %v", err)
	}
	if m.moves == movesBefore {
		t.Fatal("no partition moved while consuming")
	}
	dups = checkAtLeastOnceInOrder(t, fetched, published)
	t.Logf("consumer: %d partition moves, %d commits refused, %d rewinds, %d copies fetched again", m.moves-movesBefore, commitErrs, rewinds, dups)
	if len(distinct) != len(published) {
		t.Errorf("consumed %d distinct events, want %d", len(distinct), len(published))
	}
}
