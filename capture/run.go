package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Frame is one captured frame.
type Frame struct {
	Link uint32 // LINKTYPE_* of the frame
	Data []byte
	Time time.Time
}

// Source yields captured frames in capture order. Data returned by Next
// is valid until the next call; Next returns io.EOF at the end. A live
// source may return ErrIdle when no packet came for a while: Run then
// hands the packets it holds to the engine at once and calls Next again,
// so that events of a quiet link are not held back by batching.
type Source interface {
	Next() (Frame, error)
}

// ErrIdle is returned by a live Source's Next when no packet arrived
// within its idle timeout; it is not an error.
var ErrIdle = errors.New("capture: no packet yet")

// An IdleClock is a live Source whose frames carry wall-clock times (the
// kernel's receive timestamps). When it reports ErrIdle, Run advances the
// engine's packet time to IdleNow, so that what a quiet link left open
// still ends on time: a SYN that was never answered, a session that went
// silent, a DNS query without response.
type IdleClock interface {
	IdleNow() time.Time
}

// Batch sizes of Run: a batch is handed over when it holds this many kept
// packets or this many payload bytes.
const (
	batchPackets = 1024
	batchBytes   = 256 << 10
	batchesInUse = 4
)

// batch carries kept packets from the filter goroutine to the engine.
// Payloads are copied into arena, since the source reuses its buffers.
type batch struct {
	pkts     []Packet
	verdicts []Verdict
	ts       []time.Time
	now      []time.Time // newest packet time before each packet
	end      time.Time   // newest packet time when the batch was sent
	arena    []byte
	fstats   FilterStats // the filter's counters when the batch was sent
}

func (b *batch) reset() {
	b.pkts, b.verdicts, b.ts, b.now, b.arena = b.pkts[:0], b.verdicts[:0], b.ts[:0], b.now[:0], b.arena[:0]
}

// Run reads src to its end and processes every frame, with the filter on
// a goroutine of its own and the rest of the engine on the caller's: on a
// mirror port most packets are dropped by the filter, so reading and
// filtering overlap with reassembly and parsing. The events are those of
// calling Packet for every frame, in the same order. Run returns src's
// error, if it was not io.EOF, or ctx's error when ctx ends first; the
// engine is not closed, so Close and Stats report what was read either way.
func (e *Engine) Run(ctx context.Context, src Source) error {
	batches := make(chan *batch, batchesInUse)
	free := make(chan *batch, batchesInUse)
	for range batchesInUse {
		free <- &batch{
			pkts:     make([]Packet, 0, batchPackets),
			verdicts: make([]Verdict, 0, batchPackets),
			ts:       make([]time.Time, 0, batchPackets),
			now:      make([]time.Time, 0, batchPackets),
			arena:    make([]byte, 0, batchBytes+64<<10),
		}
	}
	var readErr error
	go func() { // owned by Run: ends at the end of src, on an error, or when ctx ends
		defer close(batches)
		readErr = e.filterLoop(ctx, src, batches, free)
	}()
	var published time.Time
	for b := range batches {
		for i := range b.pkts {
			e.Handle(&b.pkts[i], b.verdicts[i], b.ts[i], b.now[i])
		}
		e.Advance(b.end)
		if now := time.Now(); now.Sub(published) >= snapshotEvery {
			e.publish(b.fstats)
			published = now
		}
		b.reset()
		free <- b
	}
	return readErr
}

// snapshotEvery is how often (wall time) Run publishes the counters that
// Snapshot returns.
const snapshotEvery = 500 * time.Millisecond

// publish stores a copy of the counters for Snapshot; it runs on the
// engine's goroutine with the filter's counters as of the last batch.
func (e *Engine) publish(f FilterStats) {
	s := e.compose(&f)
	e.snapshot.Store(&s)
}

// Snapshot returns the counters as Run last published them (at most
// snapshotEvery old while Run runs); it is safe to call at any time from
// any goroutine, and returns zero Stats before the first batch.
func (e *Engine) Snapshot() Stats {
	if s := e.snapshot.Load(); s != nil {
		return *s
	}
	return Stats{}
}

// filterLoop runs the filter over src and sends what it keeps in batches.
func (e *Engine) filterLoop(ctx context.Context, src Source, batches, free chan *batch) error {
	b := <-free
	var idleNow time.Time // IdleClock's time at the last ErrIdle
	send := func() bool {
		b.end = e.filter.stats.Last
		if idleNow.After(b.end) {
			b.end = idleNow
		}
		b.fstats = e.filter.stats
		batches <- b
		select {
		case b = <-free:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var p Packet
	for n := uint64(0); ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			send()
			return fmt.Errorf("capture: %w", ctx.Err())
		}
		fr, err := src.Next()
		if errors.Is(err, ErrIdle) {
			if c, ok := src.(IdleClock); ok {
				idleNow = c.IdleNow()
			}
			if (len(b.pkts) > 0 || !idleNow.IsZero()) && !send() {
				return fmt.Errorf("capture: %w", ctx.Err())
			}
			idleNow = time.Time{}
			continue
		}
		if err != nil {
			send()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		v := e.filter.Decode(fr.Link, fr.Data, fr.Time, &p)
		if v != Keep && v != Fragment {
			continue
		}
		off := len(b.arena)
		b.arena = append(b.arena, p.Payload...)
		p.Payload = b.arena[off:len(b.arena):len(b.arena)]
		b.pkts = append(b.pkts, p)
		b.verdicts = append(b.verdicts, v)
		b.ts = append(b.ts, fr.Time)
		b.now = append(b.now, e.filter.stats.Last)
		if (len(b.pkts) >= batchPackets || len(b.arena) >= batchBytes) && !send() {
			return fmt.Errorf("capture: %w", ctx.Err())
		}
	}
}
