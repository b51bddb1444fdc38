package dnstap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ContentType is the Frame Streams content type of dnstap data frames.
const ContentType = "protobuf:dnstap.Dnstap"

// Frame Streams control frame types.
const (
	controlAccept = 1
	controlStart  = 2
	controlStop   = 3
	controlReady  = 4
	controlFinish = 5

	fieldContentType = 1 // the only control field Frame Streams defines
)

// maxControlSize bounds a control frame; Frame Streams implementations use
// 512 bytes.
const maxControlSize = 512

// The errors Decoder.Next wraps.
var (
	// ErrFrameTooLarge reports a data frame longer than the decoder's
	// limit (Config.MaxFrameSize); the stream cannot continue.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrControl reports a malformed control frame, or one that is not
	// allowed where it came (a data frame before START, a second START, a
	// READY on a unidirectional stream, ...).
	ErrControl = errors.New("bad control frame")
	// ErrContentType reports a stream whose READY or START frame names
	// content types, none of them ContentType.
	ErrContentType = errors.New("content type is not " + ContentType)
)

// decoder states.
const (
	stateReady   = iota // bidirectional: waiting for READY
	stateStart          // waiting for START
	stateData           // data frames until STOP
	stateStopped        // STOP seen (and FINISH sent): the stream is over
)

// Decoder reads a Frame Streams stream of dnstap frames. Given a writer
// (the other direction of a connection) it speaks the bidirectional
// protocol: it waits for READY, answers ACCEPT with ContentType, waits for
// START, returns data frames and answers STOP with FINISH. Without a
// writer it reads a unidirectional stream (START, data frames, STOP), as
// fstrm_capture and dnstap-ldns -w write to files.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	r        *bufio.Reader
	w        io.Writer
	maxFrame int
	state    int
	hdr      [4]byte
	buf      []byte
	ctrl     [maxControlSize]byte
	controls uint64
	err      error // sticky: the error that ended the stream
}

// NewDecoder returns a Decoder reading r. w may be nil (unidirectional).
// maxFrameSize bounds a data frame; values below 1 mean
// DefaultMaxFrameSize.
func NewDecoder(r io.Reader, w io.Writer, maxFrameSize int) *Decoder {
	if maxFrameSize < 1 {
		maxFrameSize = DefaultMaxFrameSize
	}
	d := &Decoder{r: bufio.NewReaderSize(r, 16<<10), w: w, maxFrame: maxFrameSize, state: stateStart}
	if w != nil {
		d.state = stateReady
	}
	return d
}

// ControlFrames returns the number of control frames read so far. Next
// handles control frames itself, so the count moves when it returns.
func (d *Decoder) ControlFrames() uint64 { return d.controls }

// Next returns the next data frame. The slice is valid until the next
// call. At the end of the stream (STOP; on a bidirectional stream FINISH
// is then written, and a failure to write it ignored) it returns io.EOF;
// a stream that ends anywhere else returns an error wrapping
// io.ErrUnexpectedEOF. Every other error
// (ErrFrameTooLarge, ErrControl, ErrContentType, or the reader's or
// writer's) ends the stream too. Once Next returned an error, it returns
// the same error again.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	b, err := d.next()
	if err != nil {
		d.err = err
	}
	return b, err
}

func (d *Decoder) next() ([]byte, error) {
	for {
		if d.state == stateStopped {
			return nil, io.EOF
		}
		n, err := d.readUint32(d.hdr[:4])
		if err != nil {
			return nil, err
		}
		if n != 0 {
			if d.state != stateData {
				return nil, fmt.Errorf("fstrm: data frame before START: %w", ErrControl)
			}
			if int64(n) > int64(d.maxFrame) {
				return nil, fmt.Errorf("fstrm: data frame of %d bytes, limit %d: %w", n, d.maxFrame, ErrFrameTooLarge)
			}
			if cap(d.buf) < int(n) { // grow geometrically, up to the limit
				d.buf = make([]byte, min(max(int(n), 2*cap(d.buf)), d.maxFrame))
			}
			b := d.buf[:n]
			if _, err := io.ReadFull(d.r, b); err != nil {
				return nil, fmt.Errorf("fstrm: data frame: %w", eofUnexpected(err))
			}
			return b, nil
		}
		if err := d.control(); err != nil {
			return nil, err
		}
	}
}

// control reads and acts on one control frame (its escape is read).
func (d *Decoder) control() error {
	n, err := d.readUint32(d.hdr[:4])
	if err != nil {
		return eofUnexpected(err)
	}
	if n < 4 || n > maxControlSize {
		return fmt.Errorf("fstrm: control frame of %d bytes: %w", n, ErrControl)
	}
	b := d.ctrl[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return fmt.Errorf("fstrm: control frame: %w", eofUnexpected(err))
	}
	d.controls++
	typ := binary.BigEndian.Uint32(b)
	types, matched, err := contentTypes(b[4:])
	if err != nil {
		return fmt.Errorf("fstrm: control frame type %d: %w", typ, err)
	}
	switch {
	case typ == controlReady && d.state == stateReady:
		if types > 0 && !matched {
			return fmt.Errorf("fstrm: READY offers %d other content types: %w", types, ErrContentType)
		}
		d.state = stateStart
		return d.write(controlAccept)
	case typ == controlStart && d.state == stateStart:
		if types > 0 && !matched {
			return fmt.Errorf("fstrm: START: %w", ErrContentType)
		}
		d.state = stateData
		return nil
	case typ == controlStop && d.state == stateData:
		// The stream is complete. FINISH is a courtesy: unbound closes a
		// unix socket right after STOP, so failing to send it is no error.
		d.state = stateStopped
		if d.w != nil {
			_ = d.write(controlFinish)
		}
		return nil
	}
	return fmt.Errorf("fstrm: unexpected control frame type %d: %w", typ, ErrControl)
}

// contentTypes walks the fields of a control frame: it counts the content
// types and reports whether one of them is ContentType. Unknown field
// types are skipped. A READY or START without content types accepts any,
// as in the reference implementation.
func contentTypes(b []byte) (n int, matched bool, err error) {
	for len(b) > 0 {
		if len(b) < 8 {
			return 0, false, fmt.Errorf("field header of %d bytes: %w", len(b), ErrControl)
		}
		typ, l := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		b = b[8:]
		if uint64(l) > uint64(len(b)) {
			return 0, false, fmt.Errorf("field of %d bytes in %d: %w", l, len(b), ErrControl)
		}
		if typ == fieldContentType {
			n++
			matched = matched || string(b[:l]) == ContentType
		}
		b = b[l:]
	}
	return n, matched, nil
}

// write sends a control frame with the dnstap content type.
func (d *Decoder) write(typ uint32) error {
	var f [12 + 8 + len(ContentType)]byte
	b := f[:]
	if typ == controlFinish { // FINISH carries no fields
		b = f[:12]
	}
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	binary.BigEndian.PutUint32(b[8:], typ)
	if len(b) > 12 {
		binary.BigEndian.PutUint32(b[12:], fieldContentType)
		binary.BigEndian.PutUint32(b[16:], uint32(len(ContentType)))
		copy(b[20:], ContentType)
	}
	if _, err := d.w.Write(b); err != nil {
		return fmt.Errorf("fstrm: writing control frame type %d: %w", typ, err)
	}
	return nil
}

// readUint32 reads a big-endian uint32 into b. A stream that ends cleanly
// before the first byte ends with io.EOF, but only where STOP was seen;
// elsewhere that is io.ErrUnexpectedEOF.
func (d *Decoder) readUint32(b []byte) (uint32, error) {
	if _, err := io.ReadFull(d.r, b); err != nil {
		return 0, fmt.Errorf("fstrm: %w", eofUnexpected(err))
	}
	return binary.BigEndian.Uint32(b), nil
}

// eofUnexpected turns io.EOF into io.ErrUnexpectedEOF: Next returns io.EOF
// only after STOP.
func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
