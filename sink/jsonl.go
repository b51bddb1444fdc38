// Package sink moves events out of the process: JSON Lines files (the
// embedded default), and in later stages Kafka and ClickHouse.
package sink

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mxwatch/mxwatch/event"
)

// JSONL writes events as JSON Lines: one object per line, in the order
// given. It is not safe for concurrent use. Write errors are sticky: after
// the first one every call returns it.
type JSONL struct {
	name   string
	w      *bufio.Writer
	closer io.Closer
	enc    *json.Encoder
	n      uint64
	err    error
}

// NewJSONL writes to w; name is used in error messages. Close flushes but
// does not close w.
func NewJSONL(name string, w io.Writer) *JSONL {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONL{name: name, w: bw, enc: enc}
}

// CreateJSONL creates (or truncates) the file at path.
func CreateJSONL(path string) (*JSONL, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	j := NewJSONL(path, f)
	j.closer = f
	return j, nil
}

// Flush writes what is buffered to the underlying writer, so that a
// reader of a live events file sees the events so far.
func (j *JSONL) Flush() error {
	if j.err != nil {
		return j.err
	}
	if err := j.w.Flush(); err != nil {
		j.err = fmt.Errorf("sink: writing %s: %w", j.name, err)
	}
	return j.err
}

// Write appends one event.
func (j *JSONL) Write(ev event.Event) error {
	if j.err != nil {
		return j.err
	}
	if err := j.enc.Encode(ev); err != nil {
		j.err = fmt.Errorf("sink: writing %s: %w", j.name, err)
		return j.err
	}
	j.n++
	return nil
}

// Written reports how many events were written.
func (j *JSONL) Written() uint64 { return j.n }

// Close flushes buffered events and closes the file it created.
func (j *JSONL) Close() error {
	err := j.err
	if ferr := j.w.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("sink: writing %s: %w", j.name, ferr)
	}
	if j.closer != nil {
		if cerr := j.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sink: closing %s: %w", j.name, cerr)
		}
	}
	return err
}
