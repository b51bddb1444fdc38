package alertmanager

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/mxwatch/mxwatch/event"
)

// Stats is a snapshot of a Sender's counters. After Close returns,
// Queued = Sent + Failed + the alerts that Close could not post (which
// are also counted in Dropped).
type Stats struct {
	// Queued counts alerts that Send accepted.
	Queued uint64
	// Sent counts alerts that Alertmanager accepted (2xx).
	Sent uint64
	// Failed counts alerts posted but not accepted: Alertmanager refused
	// them (4xx), or the request still failed after its retries.
	Failed uint64
	// Dropped counts alerts not delivered for want of room or time:
	// refused by Send (queue full, Sender closed, nil alert), or still
	// queued, or being posted, when Close's context ended.
	Dropped uint64
	// Retries counts repeated requests (not alerts).
	Retries uint64
	// Truncated counts label and annotation values (and lists) of sent
	// alerts that were cut to their bound (see the package doc).
	Truncated uint64
}

// Sender posts alerts in the background so that the packet path never
// blocks on Alertmanager: Send only puts an alert on a bounded queue, and
// one goroutine, started by Start and stopped by Close, takes batches of
// up to Config.BatchSize alerts off the queue and posts them with the
// Client. Send and Stats are safe for concurrent use; Start and Close may
// each be called once (later calls do nothing).
type Sender struct {
	client *Client
	log    *slog.Logger
	queue  chan *event.Alert
	batch  int

	// mu guards the fields below; Send holds it for reading so that no
	// alert is queued after Close has marked the Sender closed.
	mu      sync.RWMutex
	started bool
	closed  bool
	cancel  context.CancelFunc // ends the goroutine's context
	stop    chan struct{}      // closed by Close
	done    chan struct{}      // closed by the goroutine when it returns

	// pending is a batch the goroutine took off the queue but could not
	// post because its context ended; the goroutine writes it before it
	// closes done, Close reads it after.
	pending []*event.Alert
	// warned is the Dropped count last logged (goroutine only).
	warned uint64

	queued, sent, failed, dropped, retries, truncated atomic.Uint64
}

// NewSender returns a Sender posting with c, whose Config gives the queue
// and batch sizes. A nil logger discards.
func NewSender(c *Client, logger *slog.Logger) *Sender {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := Config{}.WithDefaults()
	if c != nil {
		cfg = c.cfg
	}
	return &Sender{
		client: c,
		log:    logger.With("component", "alertmanager"),
		queue:  make(chan *event.Alert, max(cfg.QueueSize, 1)),
		batch:  max(cfg.BatchSize, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// Start starts the goroutine that posts queued alerts. It returns at once;
// the goroutine runs until ctx ends or Close is called. When ctx ends
// first, alerts still queued (and a batch cut short) wait for Close to
// flush them.
func (s *Sender) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx)
}

// Send queues a for posting without blocking. It returns false, counting
// the alert in Dropped, when the queue is full, the Sender is closed or a
// is nil.
func (s *Sender) Send(a *event.Alert) bool {
	if a == nil {
		s.dropped.Add(1)
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return false
	}
	s.queued.Add(1) // first, so that Sent never runs ahead of Queued
	select {
	case s.queue <- a:
		return true
	default:
		s.queued.Add(^uint64(0))
		s.dropped.Add(1)
		return false
	}
}

// Close stops the goroutine and flushes what is queued, both bounded by
// ctx: it lets a post in progress finish, then posts the rest in batches
// (also when Start was never called, or its context has ended). When ctx
// ends it cuts the post in progress short and counts it, and what is
// still queued, as Dropped. Close returns an error when some alerts were
// not delivered. Send refuses alerts once Close has begun; later calls of
// Close return nil.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()

	if started {
		close(s.stop)
		select {
		case <-s.done:
		case <-ctx.Done():
			s.cancel()
			<-s.done
		}
		s.cancel()
	}

	var (
		total, lost int
		first       error
	)
	batch := s.pending
	s.pending = nil
	for {
		batch = s.fill(batch)
		if len(batch) == 0 {
			break
		}
		total += len(batch)
		if err := ctx.Err(); err != nil {
			s.dropped.Add(uint64(len(batch)))
			lost += len(batch)
			if first == nil {
				first = fmt.Errorf("alertmanager: flushing: %w", err)
			}
		} else if err := s.post(ctx, batch); err != nil {
			if ctx.Err() != nil {
				s.dropped.Add(uint64(len(batch)))
			} else {
				s.failed.Add(uint64(len(batch)))
			}
			lost += len(batch)
			if first == nil {
				first = err
			}
		}
		clear(batch)
		batch = batch[:0]
	}
	if lost > 0 {
		return fmt.Errorf("alertmanager: close: %d of %d queued alerts not delivered: %w", lost, total, first)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Queued:    s.queued.Load(),
		Sent:      s.sent.Load(),
		Failed:    s.failed.Load(),
		Dropped:   s.dropped.Load(),
		Retries:   s.retries.Load(),
		Truncated: s.truncated.Load(),
	}
}

// run is the goroutine: it posts batches until ctx ends or Close.
func (s *Sender) run(ctx context.Context) {
	defer close(s.done)
	batch := make([]*event.Alert, 0, s.batch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case a := <-s.queue:
			batch = s.fill(append(batch, a))
			err := s.post(ctx, batch)
			if err != nil && ctx.Err() != nil {
				s.pending = batch // Close posts it again
				return
			}
			if err != nil {
				s.failed.Add(uint64(len(batch)))
				s.log.Error("posting alerts failed", "alerts", len(batch), "err", err)
			}
			clear(batch)
			batch = batch[:0]
			s.warnDrops()
		}
	}
}

// fill adds queued alerts to batch, without waiting, up to the batch size.
func (s *Sender) fill(batch []*event.Alert) []*event.Alert {
	for len(batch) < s.batch {
		select {
		case a := <-s.queue:
			batch = append(batch, a)
		default:
			return batch
		}
	}
	return batch
}

// post posts one batch and counts the outcome, except failures, which the
// caller counts.
func (s *Sender) post(ctx context.Context, batch []*event.Alert) error {
	if s.client == nil {
		return errNoClient
	}
	res, err := s.client.post(ctx, batch)
	if res.attempts > 1 {
		s.retries.Add(uint64(res.attempts - 1))
	}
	if err != nil {
		return err
	}
	s.sent.Add(uint64(len(batch)))
	s.truncated.Add(uint64(res.truncated))
	return nil
}

// warnDrops logs when Send has dropped alerts since the last warning; the
// goroutine calls it after each post, so a full queue is reported about
// once per post rather than once per alert.
func (s *Sender) warnDrops() {
	if d := s.dropped.Load(); d > s.warned {
		s.log.Warn("alerts dropped: queue full or sender closed", "dropped", d-s.warned, "dropped_total", d)
		s.warned = d
	}
}
