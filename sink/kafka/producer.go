// Package kafka owns publishing events to Kafka: the mapping of event kinds
// to topics, keys (the client address, so one source's events stay ordered
// and co-partitioned), topic creation, batching and retries, and a bounded
// on-disk spool that holds events while the brokers are unreachable.
//
// Data flow and drop policy: Publish encodes the event and appends it to a
// bounded in-memory queue; it never waits on the network. One goroutine
// writes the queue to Kafka in batches with RequiredAcks=all. When a batch
// fails (after the kafka-go writer's own attempts), that batch and
// everything queued behind it move to the spool and, until the spool is
// empty again, every new event goes to the spool too, so order is kept:
// the spool is drained, oldest first, before newer events. A full queue
// also spills to the spool. When the spool reaches its bound, or its file
// system is full (ENOSPC), new events are dropped and counted, with one log
// line when dropping starts and one when the spool takes events again; a
// record cut short by a full disk is removed from its segment, so what was
// spooled stays readable and is delivered in order. Delivery is at least
// once: a batch that failed part way is written again whole.
package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mxwatch/mxwatch/event"
)

// Errors returned by the producer.
var (
	// ErrConfig wraps configuration errors.
	ErrConfig = errors.New("invalid config")
	// ErrMissingTopics is returned by NewProducer when topics do not exist
	// and Config.CreateTopics is off; the message names them.
	ErrMissingTopics = errors.New("missing topics")
	// ErrClosed is returned by Publish and Close after Close.
	ErrClosed = errors.New("producer closed")
	// ErrDropped is returned by Publish when the event was dropped (queue
	// full and spool full or disabled). The drop is counted in Stats; the
	// caller may ignore the error.
	ErrDropped = errors.New("event dropped")
	// ErrNilEvent is returned by Publish for a nil event.
	ErrNilEvent = errors.New("nil event")

	errSpoolFull = errors.New("spool full")
	errNoSpace   = errors.New("spool file system full")
	errBadRecord = errors.New("bad spool record")
)

// Stats is a snapshot of the producer's counters.
type Stats struct {
	// Published counts events the brokers acknowledged.
	Published uint64
	// Spooled counts events written to the spool.
	Spooled uint64
	// SpoolBytes is the current size of the spool files.
	SpoolBytes int64
	// Dropped counts events lost: spool full, spool disabled, or an event
	// that could not be encoded.
	Dropped uint64
	// DroppedNoSpace counts the part of Dropped lost because the spool's
	// file system was full (ENOSPC or a quota) before the spool's bound.
	DroppedNoSpace uint64
	// Corrupt counts spool records skipped because of a bad CRC, a bad
	// payload or a torn tail.
	Corrupt uint64
	// Retries counts waits before writing a failed batch again.
	Retries uint64
	// Errors counts failed writes to Kafka and spool I/O errors.
	Errors uint64
}

type metrics struct {
	published, spooled, dropped, droppedNoSpace, corrupt, retries, errors atomic.Uint64
	spoolBytes                                                            atomic.Int64
}

// Producer publishes events to Kafka. Publish and Stats are safe for
// concurrent use; Close must be called once to flush and stop.
type Producer struct {
	cfg Config
	log *slog.Logger
	tr  *kafkago.Transport
	w   *kafkago.Writer
	m   metrics

	mu        sync.Mutex
	queue     []record
	spoolMode bool   // new events go to the spool
	sp        *spool // nil: spool disabled
	closed    bool
	dropping  bool   // drops since the last accepted event were logged
	dropRun   uint64 // events dropped since dropping began

	wake   chan struct{} // capacity 1
	stop   chan struct{} // closed by Close
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	topicsChecked bool // loop only
}

// NewProducer checks (or creates) the topics, opens the spool and starts
// the writer goroutine. If the brokers cannot be reached, it logs a
// warning and starts anyway: events go to the spool, and the topics are
// checked again before the first write. A nil logger discards.
func NewProducer(ctx context.Context, cfg Config, logger *slog.Logger) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	codec, _ := cfg.compression()
	mech, _ := cfg.mechanism()
	p := &Producer{
		cfg:  cfg,
		log:  logger.With("component", "kafka"),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	p.tr = &kafkago.Transport{
		DialTimeout: cfg.DialTimeout,
		MetadataTTL: 5 * time.Second,
		ClientID:    "mxwatch",
		TLS:         cfg.TLS,
		SASL:        mech,
	}
	p.w = &kafkago.Writer{
		Addr:            kafkago.TCP(cfg.Brokers...),
		Balancer:        &kafkago.Hash{},
		MaxAttempts:     cfg.MaxAttempts,
		WriteBackoffMin: cfg.RetryBackoffMin,
		WriteBackoffMax: cfg.RetryBackoffMax,
		BatchSize:       cfg.BatchSize,
		// The producer lingers itself (Config.BatchTimeout) and hands the
		// writer whole batches; a long writer timeout would delay every
		// partition's partial batch.
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
		Compression:  codec,
		Transport:    p.tr,
	}
	if cfg.SpoolDir != "" {
		sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, cfg.SpoolSegmentBytes, &p.m)
		if err != nil {
			return nil, err
		}
		p.sp = sp
		p.spoolMode = !sp.empty()
	}
	switch err := ensureTopics(ctx, cfg, cfg.Topics(), p.log); {
	case err == nil:
		p.topicsChecked = true
	case errors.Is(err, ErrMissingTopics) || errors.Is(err, ErrConfig):
		p.closeIO()
		return nil, err
	default:
		p.log.Warn("brokers unreachable, spooling until they answer", "err", err)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// Publish encodes ev and queues it for Kafka. It does not wait on the
// network; when the queue is full or the brokers are down it appends to the
// spool, and when that is full it drops the event, counts it and returns
// ErrDropped.
func (p *Producer) Publish(ev event.Event) error {
	if ev == nil {
		return fmt.Errorf("kafka: %w", ErrNilEvent)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		p.m.dropped.Add(1)
		return fmt.Errorf("kafka: encoding %s: %w", ev.EventKind(), err)
	}
	r := record{
		topic: p.cfg.TopicPrefix + string(ev.EventKind()),
		value: bytes.TrimSuffix(buf.Bytes(), []byte("\n")),
	}
	if a := ev.ClientAddr(); a.IsValid() {
		r.key = []byte(a.String())
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("kafka: %w", ErrClosed)
	}
	defer p.signal()
	if !p.spoolMode && len(p.queue) < p.cfg.QueueSize {
		p.queue = append(p.queue, r)
		p.noteAccepted()
		return nil
	}
	if p.sp == nil {
		err := errors.New("queue full and no spool")
		p.noteDrop(1, err)
		return fmt.Errorf("kafka: %w: %w", ErrDropped, err)
	}
	p.spoolMode = true
	if err := p.sp.append(r); err != nil {
		if !errors.Is(err, errSpoolFull) && !errors.Is(err, errNoSpace) {
			p.m.errors.Add(1)
		}
		p.noteDrop(1, err)
		return fmt.Errorf("kafka: %w: %w", ErrDropped, err)
	}
	p.m.spooled.Add(1)
	p.noteAccepted()
	return nil
}

// noteDrop counts n dropped events and logs once when dropping begins, not
// per event. Called with p.mu held.
func (p *Producer) noteDrop(n int, cause error) {
	if n <= 0 {
		return
	}
	p.m.dropped.Add(uint64(n))
	if errors.Is(cause, errNoSpace) {
		p.m.droppedNoSpace.Add(uint64(n))
	}
	p.dropRun += uint64(n)
	if p.dropping {
		return
	}
	p.dropping = true
	p.log.Error("dropping events until the spool drains (logged once; see the dropped counters)",
		"reason", cause.Error(), "spool_dir", p.cfg.SpoolDir, "spool_bytes", p.m.spoolBytes.Load(),
		"spool_max_bytes", p.cfg.SpoolMaxBytes)
}

// noteAccepted ends a run of drops with a log line saying how many were
// lost. Called with p.mu held.
func (p *Producer) noteAccepted() {
	if !p.dropping {
		return
	}
	p.log.Warn("spool accepts events again", "dropped", p.dropRun)
	p.dropping, p.dropRun = false, 0
}

func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (p *Producer) Stats() Stats {
	return Stats{
		Published:      p.m.published.Load(),
		Spooled:        p.m.spooled.Load(),
		SpoolBytes:     p.m.spoolBytes.Load(),
		Dropped:        p.m.dropped.Load(),
		Corrupt:        p.m.corrupt.Load(),
		DroppedNoSpace: p.m.droppedNoSpace.Load(),
		Retries:        p.m.retries.Load(),
		Errors:         p.m.errors.Load(),
	}
}

// Close stops accepting events and writes out the queue and the spool.
// When ctx ends first, what is still queued goes to the spool (to be sent
// by the next producer on the same SpoolDir) and ctx's error is returned.
// Close waits for its goroutines to end.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("kafka: %w", ErrClosed)
	}
	p.closed = true
	close(p.stop)
	p.mu.Unlock()

	var err error
	select {
	case <-p.done:
	case <-ctx.Done():
		err = fmt.Errorf("kafka: close: flush incomplete: %w", ctx.Err())
	}
	p.cancel()
	<-p.done
	if cerr := p.closeIO(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

func (p *Producer) closeIO() error {
	err := p.w.Close()
	if err != nil {
		err = fmt.Errorf("kafka: closing writer: %w", err)
	}
	p.tr.CloseIdleConnections()
	if p.sp != nil {
		if serr := p.sp.close(); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// run is the writer goroutine: it sends the queue and the spool, oldest
// first, until Close.
func (p *Producer) run() {
	defer close(p.done)
	var (
		pending   []record
		fromSpool bool
		spoolOff  int64
		backoff   time.Duration
	)
	defer func() { p.persist(pending, fromSpool) }()
	for {
		if pending == nil {
			var ok bool
			pending, fromSpool, spoolOff, ok = p.next()
			if !ok {
				return
			}
			if pending == nil {
				continue
			}
		}
		err := p.send(pending)
		if err == nil {
			p.m.published.Add(uint64(len(pending)))
			if fromSpool {
				p.mu.Lock()
				if cerr := p.sp.commit(spoolOff); cerr != nil {
					p.m.errors.Add(1)
					p.log.Error("spool", "err", cerr)
				}
				p.mu.Unlock()
			}
			pending, backoff = nil, 0
			continue
		}
		if p.ctx.Err() != nil {
			return
		}
		p.m.errors.Add(1)
		p.log.Warn("write failed", "events", len(pending), "err", err)
		if !fromSpool {
			p.mu.Lock()
			if p.sp != nil {
				p.spill(pending)
				pending = nil
			}
			p.mu.Unlock()
		}
		backoff = min(max(2*backoff, p.cfg.RetryBackoffMin), p.cfg.RetryBackoffMax)
		p.m.retries.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return
		}
		if fromSpool {
			// Read again from the spool: records appended since may fill
			// the batch, and nothing was consumed.
			pending = nil
		}
	}
}

// next picks the next batch: the queue first, then the spool. It waits
// (lingering up to BatchTimeout for a full batch) when there is nothing;
// ok is false when the producer is closing and everything is written.
func (p *Producer) next() (batch []record, fromSpool bool, off int64, ok bool) {
	var (
		linger  *time.Timer
		expired bool // the linger timer fired
	)
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	for {
		p.mu.Lock()
		closing := p.closed
		if n := len(p.queue); n > 0 {
			if n >= p.cfg.BatchSize || closing || expired {
				n = min(n, p.cfg.BatchSize)
				batch = p.queue[:n:n]
				p.queue = p.queue[n:]
				if len(p.queue) == 0 {
					p.queue = nil
				}
				p.mu.Unlock()
				return batch, false, 0, true
			}
			p.mu.Unlock()
			if linger == nil {
				linger = time.NewTimer(p.cfg.BatchTimeout)
			}
			select {
			case <-p.wake:
			case <-linger.C:
				expired = true
			case <-p.stop:
			case <-p.ctx.Done():
				return nil, false, 0, false
			}
			continue
		}
		if p.sp != nil && !p.sp.empty() {
			if !p.topicsChecked {
				p.mu.Unlock()
				return nil, false, 0, p.checkTopics()
			}
			recs, off, err := p.sp.peek(p.cfg.BatchSize)
			if err == nil && len(recs) == 0 {
				err = p.sp.commit(off)
			}
			p.mu.Unlock()
			if err != nil {
				p.m.errors.Add(1)
				p.log.Error("spool", "err", err)
				return nil, false, 0, p.sleep(p.cfg.RetryBackoffMax)
			}
			return recs, len(recs) > 0, off, true
		}
		p.spoolMode = false
		p.mu.Unlock()
		if closing {
			return nil, false, 0, false
		}
		select {
		case <-p.wake:
		case <-p.stop:
		case <-p.ctx.Done():
			return nil, false, 0, false
		}
	}
}

// checkTopics runs ensureTopics from the loop until it succeeds; false
// when the producer is stopping.
func (p *Producer) checkTopics() bool {
	ctx, cancel := context.WithTimeout(p.ctx, 2*p.cfg.DialTimeout)
	err := ensureTopics(ctx, p.cfg, p.cfg.Topics(), p.log)
	cancel()
	if err == nil {
		p.topicsChecked = true
		return true
	}
	p.m.errors.Add(1)
	p.log.Warn("checking topics", "err", err)
	return p.sleep(p.cfg.RetryBackoffMax)
}

func (p *Producer) sleep(d time.Duration) bool {
	p.m.retries.Add(1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// spill moves a failed batch and the queue behind it to the head of the
// spool and switches Publish to the spool. Called with p.mu held.
func (p *Producer) spill(batch []record) {
	recs := append(batch[:len(batch):len(batch)], p.queue...)
	p.queue = nil
	p.spoolMode = true
	dropped, err := p.sp.prepend(recs)
	if err != nil && !errors.Is(err, errNoSpace) {
		p.m.errors.Add(1)
		p.log.Error("spool", "err", err)
	}
	if err == nil {
		err = errSpoolFull
	}
	p.noteDrop(dropped, err)
	p.m.spooled.Add(uint64(len(recs) - dropped))
	if dropped < len(recs) {
		p.noteAccepted()
	}
}

// persist saves what is still in memory when the loop ends.
func (p *Producer) persist(pending []record, fromSpool bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fromSpool {
		pending = nil // still in the spool
	}
	if len(pending) == 0 && len(p.queue) == 0 {
		return
	}
	if p.sp == nil {
		p.noteDrop(len(pending)+len(p.queue), errors.New("closing with no spool"))
		p.queue = nil
		return
	}
	p.spill(pending)
}

func (p *Producer) send(recs []record) error {
	if !p.topicsChecked {
		if err := ensureTopics(p.ctx, p.cfg, p.cfg.Topics(), p.log); err != nil {
			return err
		}
		p.topicsChecked = true
	}
	msgs := make([]kafkago.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafkago.Message{Topic: r.topic, Key: r.key, Value: r.value}
	}
	if err := p.w.WriteMessages(p.ctx, msgs...); err != nil {
		return fmt.Errorf("kafka: writing %d messages: %w", len(msgs), err)
	}
	return nil
}

// ensureTopics finds which of topics do not exist and creates them
// (Config.CreateTopics) on the controller, or reports them.
func ensureTopics(ctx context.Context, cfg Config, topics []string, log *slog.Logger) error {
	// A transport of its own: a writer's would cache the metadata that
	// says the topics are missing.
	mech, _ := cfg.mechanism()
	tr := &kafkago.Transport{DialTimeout: cfg.DialTimeout, ClientID: "mxwatch", TLS: cfg.TLS, SASL: mech}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr, Timeout: 2 * cfg.DialTimeout}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka: metadata: %w", err)
	}
	have := make(map[string]bool, len(md.Topics))
	for _, t := range md.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			have[t.Name] = true
		}
	}
	var missing []string
	for _, t := range topics {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !cfg.CreateTopics {
		return fmt.Errorf("kafka: %w: %v (enable topic creation or create them)", ErrMissingTopics, missing)
	}
	return createTopics(ctx, cfg, missing, log)
}

func createTopics(ctx context.Context, cfg Config, topics []string, log *slog.Logger) error {
	mech, _ := cfg.mechanism()
	d := &kafkago.Dialer{Timeout: cfg.DialTimeout, TLS: cfg.TLS, SASLMechanism: mech, ClientID: "mxwatch"}
	conn, err := d.DialContext(ctx, "tcp", cfg.Brokers[0])
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("kafka: create topics: controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("kafka: create topics: controller %s:%d: %w", ctrl.Host, ctrl.Port, err)
	}
	defer cc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = cc.SetDeadline(dl)
	}
	cfgs := make([]kafkago.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafkago.TopicConfig{Topic: t, NumPartitions: cfg.Partitions, ReplicationFactor: cfg.ReplicationFactor}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("kafka: create topics %v: %w", topics, err)
	}
	log.Info("created topics", "topics", topics)
	return nil
}
