package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwatch/mxwatch/event"
	"github.com/mxwatch/mxwatch/sink/clickhouse"
	"github.com/mxwatch/mxwatch/sink/clickhouse/chtest"
	"github.com/mxwatch/mxwatch/sink/kafka"
)

// syncBuffer collects log output from the loop's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countingSource counts the messages committed per topic.
type countingSource struct {
	Source
	mu        sync.Mutex
	committed map[string]int
}

func (c *countingSource) Commit(ctx context.Context, msgs []kafkago.Message) error {
	if err := c.Source.Commit(ctx, msgs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.committed[m.Topic]++
	}
	return nil
}

func (c *countingSource) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed[topic]
}

// pipeEvents returns n sessions and n DNS answers from a few clients,
// numbered from `from`.
func pipeEvents(from, n int) []event.Event {
	var evs []event.Event
	srv := netip.MustParseAddrPort("192.0.2.25:25")
	for i := from; i < from+n; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i%4)}), 40000)
		ts := t0.Add(time.Duration(i) * time.Second)
		evs = append(evs,
			&event.Session{Kind: event.KindSession, Version: event.SchemaVersion, ID: fmt.Sprintf("s-%06d", i),
				Sensor: "t", Start: ts, End: ts, Client: c, Server: srv, Helo: "h.example"},
			&event.DNS{Kind: event.KindDNS, Version: event.SchemaVersion, ID: fmt.Sprintf("d-%06d", i),
				Sensor: "t", Time: ts, Client: c, Server: netip.MustParseAddrPort("10.0.0.53:53"),
				TxID: uint16(i), QName: "example.org", QType: "MX"})
	}
	return evs
}

func chCount(t *testing.T, conn driver.Conn, q string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitUntil polls cond; the test's deadline bounds the wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestSchemaBrokenWhileSinkRuns runs the whole sink (kfake brokers, the
// kafka-go consumer group, this loop, the ClickHouse writer on the real
// server) and breaks a table's schema by hand while it runs. Outcome: the
// inserts fail as "schema" errors, counted by kind, logged as errors with
// ClickHouse's code and the advice to run `mxwatch migrate`; the loop
// reports Retrying (readiness false) and commits nothing; once the schema
// is repaired it continues and every count is exact.
func TestSchemaBrokenWhileSinkRuns(t *testing.T) {
	srv := chtest.Start(t)
	conn, err := chgo.Open(&chgo.Options{Addr: []string{srv.Addr}, ReadTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, tc := range []struct {
		name       string
		brk, fix   string // %[1]s is the database
		wantInLog  string // from ClickHouse or the driver
		wantCode   bool   // the error carries a ClickHouse code
		breakTable string
	}{
		{
			name: "column dropped",
			brk:  "ALTER TABLE %[1]s.dns_answers DROP COLUMN qtype",
			fix:  "ALTER TABLE %[1]s.dns_answers ADD COLUMN qtype String AFTER qname",
			// 16 NO_SUCH_COLUMN_IN_TABLE
			wantInLog: "code 16", wantCode: true, breakTable: "dns_answers",
		},
		{
			name:      "table renamed",
			brk:       "RENAME TABLE %[1]s.dns_answers TO %[1]s.dns_answers_moved",
			fix:       "RENAME TABLE %[1]s.dns_answers_moved TO %[1]s.dns_answers",
			wantInLog: "code 60", wantCode: true, breakTable: "dns_answers",
		},
		{
			name:      "column type changed",
			brk:       "ALTER TABLE %[1]s.dns_answers MODIFY COLUMN txid DateTime",
			fix:       "ALTER TABLE %[1]s.dns_answers MODIFY COLUMN txid UInt16",
			wantInLog: "txid", breakTable: "dns_answers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fmt.Sprintf("mxschema%d", i)
			chc := clickhouse.Config{Database: db}
			if _, err := clickhouse.Migrate(t.Context(), conn, chc); err != nil {
				t.Fatal(err)
			}
			kc := kafka.Config{}
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
				kfake.SeedTopics(2, append(kc.Topics(), "mxwatch.deadletter")...))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			brokers := cluster.ListenAddrs()
			pcfg := kafka.Config{Brokers: brokers, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 1,
				RetryBackoffMin: 10 * time.Millisecond, RetryBackoffMax: 100 * time.Millisecond, DialTimeout: time.Second}
			prod, err := kafka.NewProducer(t.Context(), pcfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close(context.Background())
			publish := func(evs []event.Event) {
				for _, ev := range evs {
					if err := prod.Publish(ev); err != nil {
						t.Fatal(err)
					}
				}
			}
			cons, err := kafka.NewConsumer(t.Context(), kafka.ConsumerConfig{Config: pcfg, GroupID: "schema-test",
				MaxWait: 50 * time.Millisecond, SessionTimeout: 6 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			src := &countingSource{Source: cons, committed: map[string]int{}}
			w := clickhouse.NewWriter(conn, chc)
			var logs syncBuffer
			in := New(src, w, Config{BatchSize: 40, BatchTimeout: 50 * time.Millisecond,
				RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- in.Run(ctx) }()
			stopped := false
			stop := func() error {
				if stopped {
					return nil
				}
				stopped = true
				cancel()
				return <-done
			}
			defer stop()

			first := pipeEvents(0, 60)
			publish(first)
			waitUntil(t, "first events committed", func() bool { return cons.Stats().Committed == uint64(len(first)) })

			if err := conn.Exec(t.Context(), fmt.Sprintf(tc.brk, db)); err != nil {
				t.Fatalf("break: %v", err)
			}
			second := pipeEvents(60, 60)
			publish(second)
			waitUntil(t, "schema errors", func() bool {
				st := in.Stats()
				return st.InsertErrorKinds["schema"] >= 3 && st.Retrying
			})
			st := in.Stats()
			// Batches without DNS answers are stored and committed; not
			// one DNS message is committed while its table is broken.
			if got := src.count("mxwatch.dns"); got != len(first)/2 {
				t.Errorf("committed %d DNS messages while the schema was broken, want the first %d", got, len(first)/2)
			}
			if st.InsertErrors != st.InsertErrorKinds["schema"] {
				t.Errorf("insert errors %d, of kind schema %d: want all schema (%v)", st.InsertErrors, st.InsertErrorKinds["schema"], st.InsertErrorKinds)
			}
			if ws := w.Stats(); ws.Errors[clickhouse.KindSchema] == 0 {
				t.Errorf("writer stats %+v: no schema errors counted", ws)
			}
			log := logs.String()
			for _, want := range []string{"level=ERROR", "kind=schema", "mxwatch migrate", tc.breakTable, tc.wantInLog} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, firstLines(log, 5))
				}
			}

			if i := strings.Index(log, "level=ERROR"); i >= 0 {
				t.Logf("logged: %s", firstLines(log[i:], 1))
			}
			if err := conn.Exec(t.Context(), fmt.Sprintf(tc.fix, db)); err != nil {
				t.Fatalf("repair: %v", err)
			}
			all := len(first) + len(second)
			waitUntil(t, "everything committed after the repair", func() bool { return cons.Stats().Committed == uint64(all) })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			st = in.Stats()
			if st.Retrying || st.Stored[event.KindDNS] != uint64(all/2) || st.Stored[event.KindSession] != uint64(all/2) {
				t.Errorf("stats %+v: want %d of each kind stored once, not retrying", st, all/2)
			}
			for _, q := range []string{
				"SELECT count() FROM %s.dns_answers FINAL",
				"SELECT uniqExact(id) FROM %s.dns_answers",
				"SELECT count() FROM %s.sessions FINAL",
			} {
				if n := chCount(t, conn, fmt.Sprintf(q, db)); n != uint64(all/2) {
					t.Errorf("%s = %d, want %d", fmt.Sprintf(q, db), n, all/2)
				}
			}
			// The sessions of the failing batches were inserted on every
			// attempt; FINAL collapses them, the raw rows show it.
			t.Logf("%s: %d insert errors; raw session rows %d for %d sessions", tc.name, st.InsertErrors,
				chCount(t, conn, fmt.Sprintf("SELECT count() FROM %s.sessions", db)), all/2)
		})
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
