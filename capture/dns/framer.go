package dns

// retainBuf is the largest reassembly buffer a Framer keeps between
// messages; bigger ones are released so that idle streams stay small.
const retainBuf = 1 << 10

// Framer splits one direction of a DNS-over-TCP stream into messages
// (RFC 1035 section 4.2.2: each message is preceded by its length as two
// bytes, big endian). Messages that arrive whole are passed on without
// copying; one split across segments is reassembled, so a Framer holds at
// most one message (65535 bytes) plus its length.
//
// A gap in the stream or a length of zero loses the framing for good: the
// rest of the stream is discarded and counted. The zero value is ready to
// use and counts into its own FramerStats; a Framer from
// Tracker.NewFramer also counts into the tracker's Stats.
type Framer struct {
	t      *Tracker // also counts here, if not nil
	hdr    [2]byte  // length prefix being read
	nhdr   int      // bytes of hdr read; 2 while the body is read
	want   int      // body length of the message being assembled
	buf    []byte   // body bytes of that message read so far
	broken bool     // framing lost: discard everything
	stats  FramerStats
}

// NewFramer returns a Framer whose counters also go into the tracker's
// Stats (TCPMessages, TCPDesync, TCPDiscardedBytes, TCPTruncated).
func (t *Tracker) NewFramer() *Framer { return &Framer{t: t} }

// Data adds the next bytes of the stream and calls fn for every message
// they complete, in order. fn's msg is valid only during the call; fn must
// not call Data on the same Framer.
func (f *Framer) Data(b []byte, fn func(msg []byte)) {
	for len(b) > 0 {
		if f.broken {
			f.discard(len(b))
			return
		}
		if f.nhdr < 2 {
			if f.nhdr == 0 && len(b) >= 2 {
				n := int(b[0])<<8 | int(b[1])
				if n > 0 && len(b) >= 2+n {
					// The common case: a whole message in this segment.
					f.deliver(b[2:2+n], fn)
					b = b[2+n:]
					continue
				}
				f.hdr = [2]byte{b[0], b[1]}
				f.nhdr, b = 2, b[2:]
			} else {
				f.hdr[f.nhdr] = b[0]
				f.nhdr++
				b = b[1:]
				if f.nhdr < 2 {
					continue
				}
			}
			f.want = int(f.hdr[0])<<8 | int(f.hdr[1])
			if f.want == 0 {
				f.lose()
				continue
			}
			if cap(f.buf) < f.want {
				f.buf = make([]byte, 0, f.want)
			}
		}
		need := f.want - len(f.buf)
		if len(b) < need {
			f.buf = append(f.buf, b...)
			return
		}
		f.buf = append(f.buf, b[:need]...)
		b = b[need:]
		msg := f.buf
		f.nhdr, f.want = 0, 0
		f.buf = nil // fn may call Gap or Close
		f.deliver(msg, fn)
		if f.buf == nil && cap(msg) <= retainBuf {
			f.buf = msg[:0]
		}
	}
}

// Gap tells the Framer that bytes of the stream were lost: the framing is
// gone, and the rest of the stream is discarded (counted once as a
// desync).
func (f *Framer) Gap() {
	if !f.broken {
		f.lose()
	}
}

// Close ends the stream. A message left incomplete is counted as
// truncated. The Framer is then ready for a new stream.
func (f *Framer) Close() {
	if !f.broken && f.nhdr > 0 {
		f.stats.Truncated++
		if f.t != nil {
			f.t.stats.TCPTruncated++
		}
		f.discard(f.nhdr + len(f.buf))
	}
	t, stats := f.t, f.stats
	*f = Framer{t: t, stats: stats}
}

// Stats returns the Framer's counters.
func (f *Framer) Stats() FramerStats { return f.stats }

func (f *Framer) deliver(msg []byte, fn func([]byte)) {
	f.stats.Messages++
	if f.t != nil {
		f.t.stats.TCPMessages++
	}
	fn(msg)
}

// lose drops the framing and whatever was buffered.
func (f *Framer) lose() {
	f.broken = true
	f.stats.Desync++
	if f.t != nil {
		f.t.stats.TCPDesync++
	}
	f.discard(f.nhdr + len(f.buf))
	f.buf, f.nhdr, f.want = nil, 0, 0
}

func (f *Framer) discard(n int) {
	f.stats.DiscardedBytes += uint64(n)
	if f.t != nil {
		f.t.stats.TCPDiscardedBytes += uint64(n)
	}
}
