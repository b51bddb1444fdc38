package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/mxwatch/mxwatch/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// These tests drive the loop with an in-memory source and store to pin
// its ordering, retry, dead-letter and shutdown logic exactly; the same
// loop against kfake and a real ClickHouse is tested in cmd/mxwatch
// (TestSinkEndToEnd and the fault tests) and in schema_test.go here.

type memSource struct {
	mu        sync.Mutex
	msgs      chan kafkago.Message
	committed map[int]int64 // partition -> highest committed offset
	dead      []kafkago.Message
	dlqFail   int // fail this many DeadLetter calls first
	commitErr int // fail this many Commit calls first
}

func newSource(msgs []kafkago.Message) *memSource {
	s := &memSource{msgs: make(chan kafkago.Message, len(msgs)), committed: map[int]int64{}}
	for _, m := range msgs {
		s.msgs <- m
	}
	return s
}

func (s *memSource) Fetch(ctx context.Context) (kafkago.Message, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-ctx.Done():
		return kafkago.Message{}, ctx.Err()
	}
}

func (s *memSource) Commit(_ context.Context, msgs []kafkago.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.commitErr > 0 {
		s.commitErr--
		return errors.New("rebalance in progress")
	}
	for _, m := range msgs {
		if o, ok := s.committed[m.Partition]; !ok || m.Offset > o {
			s.committed[m.Partition] = m.Offset
		}
	}
	return nil
}

func (s *memSource) DeadLetter(_ context.Context, m kafkago.Message, _ error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dlqFail > 0 {
		s.dlqFail--
		return errors.New("dead-letter topic unavailable")
	}
	s.dead = append(s.dead, m)
	return nil
}

func (s *memSource) committedOffsets() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps(s.committed)
}

func maps(m map[int]int64) map[int]int64 {
	out := make(map[int]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type memStore struct {
	mu      sync.Mutex
	ids     []string
	calls   int
	failFor int // fail this many Insert calls first
	onCall  func(n int)
}

func (s *memStore) Insert(_ context.Context, evs []event.Event) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	fail := s.failFor > 0
	if fail {
		s.failFor--
	}
	s.mu.Unlock()
	if s.onCall != nil {
		s.onCall(n)
	}
	if fail {
		return errors.New("connection refused")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		s.ids = append(s.ids, id(ev))
	}
	return nil
}

func (s *memStore) stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

func id(ev event.Event) string {
	switch e := ev.(type) {
	case *event.DNS:
		return e.ID
	case *event.Session:
		return e.ID
	}
	return "?"
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// msg returns a valid DNS event message for partition p, offset o.
func msg(t testing.TB, p int, o int64) kafkago.Message {
	d := &event.DNS{Kind: event.KindDNS, Version: event.SchemaVersion, ID: fmt.Sprintf("p%d-%d", p, o),
		Client: netip.MustParseAddrPort("10.0.0.1:5353"), Server: netip.MustParseAddrPort("10.0.0.53:53"),
		Time: t0, QName: "example.org", QType: "MX"}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return kafkago.Message{Topic: "mxwatch.dns", Partition: p, Offset: o, Value: b, HighWaterMark: 100}
}

func fastConfig() Config {
	return Config{BatchSize: 4, BatchTimeout: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond, ShutdownTimeout: time.Second}
}

// run runs the ingester until cond holds, then stops it and returns Run's
// error.
func run(t *testing.T, in *Ingester, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("condition not reached; stats %+v", in.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	return <-done
}

func TestInsertRetriesKeepOrderAndCommitAfterStore(t *testing.T) {
	var msgs []kafkago.Message
	var want []string
	for o := int64(0); o < 10; o++ {
		for p := 0; p < 2; p++ {
			msgs = append(msgs, msg(t, p, o))
			want = append(want, fmt.Sprintf("p%d-%d", p, o))
		}
	}
	src := newSource(msgs)
	store := &memStore{failFor: 3}
	// While the store fails, nothing may be committed.
	store.onCall = func(n int) {
		if n <= 3 && len(src.committedOffsets()) != 0 {
			t.Errorf("offsets committed before the first batch was stored: %v", src.committedOffsets())
		}
	}
	in := New(src, store, fastConfig())
	if err := run(t, in, func() bool { return in.Stats().Committed == uint64(len(msgs)) }); err != nil {
		t.Fatal(err)
	}
	if got := store.stored(); !slices.Equal(got, want) {
		t.Errorf("stored %v\nwant %v (fetch order, no gaps, no duplicates)", got, want)
	}
	st := in.Stats()
	if st.InsertErrors != 3 || st.Stored[event.KindDNS] != 20 || st.Batches != 5 {
		t.Errorf("stats %+v: want 3 insert errors, 20 stored dns, 5 batches", st)
	}
	if got := src.committedOffsets(); got[0] != 9 || got[1] != 9 {
		t.Errorf("committed %v, want offset 9 on both partitions", got)
	}
	if st.Lag != 2*(100-9-1) {
		t.Errorf("lag %d, want %d", st.Lag, 2*(100-9-1))
	}
}

func TestPoisonIsDeadLetteredAndPartitionContinues(t *testing.T) {
	poison := []kafkago.Message{
		{Topic: "mxwatch.dns", Partition: 0, Offset: 1, Value: []byte("not json")},
		{Topic: "mxwatch.dns", Partition: 0, Offset: 2, Value: []byte(`{"kind":"dns","v":99,"id":"x"}`)},
		{Topic: "mxwatch.dns", Partition: 0, Offset: 3, Value: []byte(`{"kind":"bogus","v":1}`)},
		{Topic: "mxwatch.dns", Partition: 0, Offset: 4, Value: []byte(`{"kind":"dns","v":1,"id":"x"}`)},
	}
	msgs := []kafkago.Message{msg(t, 0, 0)}
	msgs = append(msgs, poison...)
	msgs = append(msgs, msg(t, 0, 5), msg(t, 0, 6))
	src := newSource(msgs)
	src.dlqFail = 2 // the dead-letter topic is briefly unavailable
	store := &memStore{}
	in := New(src, store, fastConfig())
	if err := run(t, in, func() bool { return src.committedOffsets()[0] == 6 }); err != nil {
		t.Fatal(err)
	}
	if got, want := store.stored(), []string{"p0-0", "p0-5", "p0-6"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	var deadOffsets []int64
	for _, m := range src.dead {
		deadOffsets = append(deadOffsets, m.Offset)
	}
	if !slices.Equal(deadOffsets, []int64{1, 2, 3, 4}) {
		t.Errorf("dead-lettered offsets %v, want [1 2 3 4]", deadOffsets)
	}
	if st := in.Stats(); st.DeadLettered != 4 || st.DeadLetterErrors != 2 {
		t.Errorf("stats %+v: want 4 dead-lettered, 2 dead-letter errors", st)
	}
}

func TestCommitFailureIsNotFatal(t *testing.T) {
	src := newSource([]kafkago.Message{msg(t, 0, 0), msg(t, 0, 1)})
	src.commitErr = 1
	store := &memStore{}
	in := New(src, store, fastConfig())
	if err := run(t, in, func() bool { return in.Stats().Committed == 2 }); err != nil {
		t.Fatal(err)
	}
	if st := in.Stats(); st.CommitErrors != 1 {
		t.Errorf("commit errors %d, want 1", st.CommitErrors)
	}
}

// TestShutdownFlushesPartialBatch: a batch still filling when the context
// ends is stored and committed before Run returns nil.
func TestShutdownFlushesPartialBatch(t *testing.T) {
	src := newSource([]kafkago.Message{msg(t, 0, 0), msg(t, 0, 1)})
	store := &memStore{}
	cfg := fastConfig()
	cfg.BatchSize, cfg.BatchTimeout = 100, time.Hour
	in := New(src, store, cfg)
	if err := run(t, in, func() bool { return in.Stats().Fetched == 2 }); err != nil {
		t.Fatal(err)
	}
	if len(store.stored()) != 2 || src.committedOffsets()[0] != 1 {
		t.Errorf("after shutdown: stored %v, committed %v", store.stored(), src.committedOffsets())
	}
}

// TestShutdownWithStoreDown: when the store stays down past the shutdown
// timeout, Run says so and commits nothing.
func TestShutdownWithStoreDown(t *testing.T) {
	src := newSource([]kafkago.Message{msg(t, 0, 0)})
	store := &memStore{failFor: 1 << 30}
	cfg := fastConfig()
	cfg.ShutdownTimeout = 50 * time.Millisecond
	in := New(src, store, cfg)
	err := run(t, in, func() bool { return in.Stats().InsertErrors >= 2 })
	if !errors.Is(err, ErrFlush) {
		t.Fatalf("Run = %v, want ErrFlush", err)
	}
	if len(src.committedOffsets()) != 0 {
		t.Errorf("committed %v with nothing stored", src.committedOffsets())
	}
}

type failingSource struct{ *memSource }

func (*failingSource) Fetch(context.Context) (kafkago.Message, error) {
	return kafkago.Message{}, errors.New("group coordinator gone")
}

func TestSourceErrorEndsRun(t *testing.T) {
	in := New(&failingSource{newSource(nil)}, &memStore{}, fastConfig())
	if err := in.Run(context.Background()); err == nil {
		t.Fatal("Run returned nil on a failing source")
	}
}

type kindedErr struct{ kind string }

func (e kindedErr) Error() string     { return "insert failed: " + e.kind }
func (e kindedErr) ErrorKind() string { return e.kind }

// kindStore fails its first len(errs) inserts with errs, in order.
type kindStore struct {
	memStore
	errs []error
}

func (s *kindStore) Insert(ctx context.Context, evs []event.Event) error {
	s.mu.Lock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	return s.memStore.Insert(ctx, evs)
}

// TestInsertErrorKinds: store errors are counted by their kind, and the
// ones a person must fix (schema, access) are logged as errors; the batch
// is retried all the same and stored once the cause is gone.
func TestInsertErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errs      []error
		wantKinds map[string]uint64
		wantLevel string
	}{
		{name: "schema", errs: []error{kindedErr{"schema"}, fmt.Errorf("wrapped: %w", kindedErr{"schema"})},
			wantKinds: map[string]uint64{"schema": 2}, wantLevel: "level=ERROR"},
		{name: "access", errs: []error{kindedErr{"access"}}, wantKinds: map[string]uint64{"access": 1}, wantLevel: "level=ERROR"},
		{name: "outage then schema", errs: []error{kindedErr{"unavailable"}, errors.New("plain"), kindedErr{"schema"}},
			wantKinds: map[string]uint64{"unavailable": 1, "other": 1, "schema": 1}, wantLevel: "level=WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource([]kafkago.Message{msg(t, 0, 0), msg(t, 0, 1)})
			store := &kindStore{errs: tc.errs}
			var logs syncBuffer
			cfg := fastConfig()
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			in := New(src, store, cfg)
			if err := run(t, in, func() bool { return in.Stats().Committed == 2 }); err != nil {
				t.Fatal(err)
			}
			st := in.Stats()
			if st.InsertErrors != uint64(len(tc.errs)) || len(st.InsertErrorKinds) != len(tc.wantKinds) {
				t.Errorf("insert errors %d by kind %v, want %d: %v", st.InsertErrors, st.InsertErrorKinds, len(tc.errs), tc.wantKinds)
			}
			for k, n := range tc.wantKinds {
				if st.InsertErrorKinds[k] != n {
					t.Errorf("kind %s: %d, want %d", k, st.InsertErrorKinds[k], n)
				}
			}
			if !strings.Contains(logs.String(), tc.wantLevel) || len(store.stored()) != 2 || st.Retrying {
				t.Errorf("log lacks %s, or stored %v, retrying %v:\n%s", tc.wantLevel, store.stored(), st.Retrying, logs.String())
			}
		})
	}
}
