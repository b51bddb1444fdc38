package pcapfile

import (
	"bufio"
	"io"
)

// Read-ahead of a large capture file: a goroutine reads (and, for a
// compressed file, decompresses) the next chunks while the caller parses
// the current one, so that the read system calls and the inflating run on
// another core than the packet decoding. On the 1 GB benchmark capture the
// read system calls are about 100 ms of CPU, a third of the reading
// goroutine's time (README, Performance).
const (
	// aheadChunk is the data read into one chunk: the size of bufio's
	// buffer that worked best without read-ahead.
	aheadChunk = 1 << 20
	// aheadChunks is the number of chunks: one being parsed, the others
	// filled or being filled.
	aheadChunks = 3
	// aheadMinSize is the smallest file read ahead; for smaller ones the
	// goroutine is not worth its start.
	aheadMinSize = 4 << 20
	// maxEmptyReads is how many reads in a row may return nothing before
	// the source counts as broken (io.ErrNoProgress), as in bufio.
	maxEmptyReads = 100
)

// stream is the buffered capture data, with the part of bufio.Reader's
// interface the record parsers use: Peek, Discard, Read and Size. The
// unread bytes are buf[r:w]. Peek(n) for n up to Size returns them
// without copying; a record that straddles two chunks is made contiguous
// by copying its start into the head room in front of the next chunk's
// data.
//
// Without read-ahead (standard input, pipes, small files) it works like
// bufio.Reader, one Read of the source per fill. With read-ahead, a
// goroutine owned by the stream fills whole chunks; Close stops it.
type stream struct {
	src  io.Reader
	head int // largest Peek, and the head room of every chunk
	buf  []byte
	r, w int
	err  error // the source's error after buf[r:w] (io.EOF at the end); sticky

	// Read-ahead only.
	cur  *chunk
	full chan *chunk // filled chunks, in file order
	free chan *chunk // chunks the goroutine may fill
	stop chan struct{}
	done chan struct{}
}

// chunk is one read-ahead buffer: head room, then n bytes of data, which
// the source followed with err (nil while there is more).
type chunk struct {
	buf []byte
	n   int
	err error
}

// newStream buffers src. head is the largest Peek. With chunkSize > 0, a
// goroutine reads src from now on, chunkSize bytes at a time, and the
// caller must Close the stream before touching src again; with 0 the
// stream reads src itself.
func newStream(src io.Reader, head, chunkSize int) *stream {
	s := &stream{src: src, head: head}
	if chunkSize <= 0 {
		s.buf = make([]byte, head)
		return s
	}
	s.full = make(chan *chunk, aheadChunks)
	s.free = make(chan *chunk, aheadChunks)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	for range aheadChunks {
		s.free <- &chunk{buf: make([]byte, head+chunkSize)}
	}
	s.cur = <-s.free
	s.buf = s.cur.buf
	s.r, s.w = head, head
	go s.readAhead() // owned by s: ends at the source's error or end, or at Close
	return s
}

// readAhead fills free chunks from src in order until src fails or ends,
// or Close is called.
func (s *stream) readAhead() {
	defer close(s.done)
	for {
		var c *chunk
		select {
		case c = <-s.free:
		case <-s.stop:
			return
		}
		data := c.buf[s.head:]
		c.n, c.err = 0, nil
		for empty := 0; c.n < len(data) && c.err == nil; {
			m, err := s.src.Read(data[c.n:])
			c.n += m
			c.err = err
			if m == 0 && err == nil {
				if empty++; empty >= maxEmptyReads {
					c.err = io.ErrNoProgress
				}
			}
		}
		s.full <- c // never blocks: full has room for every chunk
		if c.err != nil {
			return
		}
	}
}

// Size returns the largest n Peek serves without bufio.ErrBufferFull.
func (s *stream) Size() int { return s.head }

// fill adds bytes after buf[r:w], or sets err.
func (s *stream) fill() {
	if s.cur != nil {
		s.next()
		return
	}
	// bufio's way: slide the unread bytes to the front, read once.
	if s.r > 0 {
		copy(s.buf, s.buf[s.r:s.w])
		s.w -= s.r
		s.r = 0
	}
	for i := 0; i < maxEmptyReads; i++ {
		m, err := s.src.Read(s.buf[s.w:])
		s.w += m
		if err != nil {
			s.err = err
			return
		}
		if m > 0 {
			return
		}
	}
	s.err = io.ErrNoProgress
}

// next moves to the next read-ahead chunk, carrying the unread bytes
// (fewer than head: fill is called only when a Peek of at most head bytes
// is short) over into its head room, and gives the current one back.
func (s *stream) next() {
	c := <-s.full
	left := s.w - s.r
	copy(c.buf[s.head-left:s.head], s.buf[s.r:s.w])
	s.free <- s.cur
	s.cur, s.buf = c, c.buf
	s.r, s.w = s.head-left, s.head+c.n
	s.err = c.err
}

// Peek returns the next n bytes without consuming them; they are valid
// until the next call. Like bufio.Reader's: fewer bytes come with the
// error that stopped the reading, and n > Size gives bufio.ErrBufferFull.
func (s *stream) Peek(n int) ([]byte, error) {
	if n > s.head {
		for s.w-s.r < s.head && s.err == nil {
			s.fill()
		}
		return s.buf[s.r:s.w], bufio.ErrBufferFull
	}
	for s.w-s.r < n && s.err == nil {
		s.fill()
	}
	if s.w-s.r < n {
		return s.buf[s.r:s.w], s.err
	}
	return s.buf[s.r : s.r+n], nil
}

// Discard skips the next n bytes and returns how many it skipped.
func (s *stream) Discard(n int) (int, error) {
	done := 0
	for {
		k := min(n-done, s.w-s.r)
		s.r += k
		done += k
		if done == n {
			return done, nil
		}
		if s.err != nil {
			return done, s.err
		}
		s.fill()
	}
}

// Read copies the next bytes into p.
func (s *stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for s.r == s.w {
		if s.err != nil {
			return 0, s.err
		}
		s.fill()
	}
	n := copy(p, s.buf[s.r:s.w])
	s.r += n
	return n, nil
}

// ended reports whether the source's error or end has been reached: from
// then on the read-ahead goroutine has stopped and the counters of the
// source may be read.
func (s *stream) ended() bool { return s.err != nil }

// Close stops the read-ahead goroutine and waits for it. The stream
// must not be used afterwards.
func (s *stream) Close() {
	if s == nil || s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
}
