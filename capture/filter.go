package capture

import "time"

// Filter is the engine's first stage: it decodes a frame, removes the
// encapsulations, and drops what is neither mail nor DNS before any costly
// work, counting every packet under exactly one verdict. It keeps no
// per-flow state, so Run can put it on a goroutine of its own.
type Filter struct {
	dec   decoder
	stats FilterStats
}

// FilterStats counts what the filter saw.
type FilterStats struct {
	Packets       uint64
	Bytes         uint64
	Verdicts      [numVerdicts]Counter
	TimeBackwards uint64    // packets older than the newest before them
	First         time.Time // first packet
	Last          time.Time // newest packet
}

// Decode fills p from one frame and says what to do with it; p's slices
// point into data.
func (f *Filter) Decode(link uint32, data []byte, ts time.Time, p *Packet) Verdict {
	s := &f.stats
	s.Packets++
	s.Bytes += uint64(len(data))
	switch {
	case s.Packets == 1:
		s.First, s.Last = ts, ts
	case ts.After(s.Last):
		s.Last = ts
	case ts.Before(s.Last):
		s.TimeBackwards++
	}
	v := f.dec.decode(link, data, p)
	c := &s.Verdicts[v]
	c.Packets++
	c.Bytes += uint64(len(data))
	return v
}
