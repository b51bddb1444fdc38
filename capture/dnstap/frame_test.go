package dnstap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
)

// readAll returns the data frames of a stream and the error that ended it.
func readAll(d *Decoder) ([][]byte, error) {
	var frames [][]byte
	for {
		b, err := d.Next()
		if err != nil {
			return frames, err
		}
		frames = append(frames, bytes.Clone(b))
	}
}

func TestDecoder(t *testing.T) {
	var (
		one, two = []byte("frame one"), []byte("second frame")
		ready    = fsControl(nil, controlReady, ContentType)
		start    = fsControl(nil, controlStart, ContentType)
		stop     = fsControl(nil, controlStop)
		accept   = fsControl(nil, controlAccept, ContentType)
		finish   = fsControl(nil, controlFinish)
		data     = fsData(fsData(nil, one), two)
	)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name      string
		in        []byte
		bidi      bool // give the decoder a writer
		maxFrame  int
		want      [][]byte
		wantErr   error // nil means io.EOF
		wantWrote []byte
		controls  uint64
	}{
		{
			name: "bidirectional handshake", bidi: true,
			in:   cat(ready, start, data, stop),
			want: [][]byte{one, two}, wantWrote: cat(accept, finish), controls: 3,
		},
		{
			name: "READY offering several content types", bidi: true,
			in:        cat(fsControl(nil, controlReady, "protobuf:other", ContentType), start, stop),
			wantWrote: cat(accept, finish), controls: 3,
		},
		{
			name: "READY and START without content type", bidi: true,
			in:   cat(fsControl(nil, controlReady), fsControl(nil, controlStart), data, stop),
			want: [][]byte{one, two}, wantWrote: cat(accept, finish), controls: 3,
		},
		{
			name: "unknown control field skipped", bidi: true,
			in: cat(fsControl(nil, controlReady, ContentType)[:4], func() []byte {
				body := binary.BigEndian.AppendUint32(nil, controlReady)
				body = binary.BigEndian.AppendUint32(body, 9)
				body = binary.BigEndian.AppendUint32(body, 3)
				body = append(body, "abc"...)
				body = binary.BigEndian.AppendUint32(body, fieldContentType)
				body = binary.BigEndian.AppendUint32(body, uint32(len(ContentType)))
				body = append(body, ContentType...)
				return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
			}(), start, stop),
			wantWrote: cat(accept, finish), controls: 3,
		},
		{
			name: "unidirectional", in: cat(start, data, stop, []byte("ignored after STOP")),
			want: [][]byte{one, two}, controls: 2,
		},
		{
			name: "READY offers another content type", bidi: true,
			in:      cat(fsControl(nil, controlReady, "protobuf:other"), start),
			wantErr: ErrContentType, controls: 1,
		},
		{
			name: "START names another content type", in: cat(fsControl(nil, controlStart, "x"), data),
			wantErr: ErrContentType, controls: 1,
		},
		{name: "data before START", in: cat(data, stop), wantErr: ErrControl},
		{name: "data before READY", bidi: true, in: cat(start, data), wantErr: ErrControl, controls: 1},
		{name: "READY on a unidirectional stream", in: cat(ready, start), wantErr: ErrControl, controls: 1},
		{name: "second START", in: cat(start, start), wantErr: ErrControl, controls: 2},
		{name: "FINISH from the sender", bidi: true, in: cat(ready, start, finish), wantErr: ErrControl, wantWrote: accept, controls: 3},
		{name: "unknown control type", in: cat(start, fsControl(nil, 77)), wantErr: ErrControl, controls: 2},
		{name: "control frame too short", in: []byte{0, 0, 0, 0, 0, 0, 0, 2, 0, 0}, wantErr: ErrControl},
		{name: "control frame too long", in: []byte{0, 0, 0, 0, 0, 0, 2, 1}, wantErr: ErrControl},
		{name: "control field overruns", in: cat(start[:4], []byte{0, 0, 0, 12, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 9}), wantErr: ErrControl, controls: 1},
		{name: "control field header cut", in: cat(start[:4], []byte{0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 1}), wantErr: ErrControl, controls: 1},
		{
			name: "oversize frame", maxFrame: len(one),
			in: cat(start, data, stop), want: [][]byte{one}, wantErr: ErrFrameTooLarge, controls: 1,
		},
		{name: "frame at the limit", maxFrame: len(two), in: cat(start, data, stop), want: [][]byte{one, two}, controls: 2},
		{name: "end without STOP", in: cat(start, data), want: [][]byte{one, two}, wantErr: io.ErrUnexpectedEOF, controls: 1},
		{name: "empty stream", in: nil, wantErr: io.ErrUnexpectedEOF},
		{name: "length cut", in: cat(start, data[:2]), wantErr: io.ErrUnexpectedEOF, controls: 1},
		{name: "frame cut", in: cat(start, data[:8]), wantErr: io.ErrUnexpectedEOF, controls: 1},
		{name: "control length cut", in: cat(start, stop[:6]), wantErr: io.ErrUnexpectedEOF, controls: 1},
		{name: "control frame cut", in: cat(start, stop[:9]), wantErr: io.ErrUnexpectedEOF, controls: 1},
		{name: "garbage", in: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantErr: ErrControl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w *bytes.Buffer
			var d *Decoder
			if tt.bidi {
				w = new(bytes.Buffer)
				d = NewDecoder(bytes.NewReader(tt.in), w, tt.maxFrame)
			} else {
				d = NewDecoder(bytes.NewReader(tt.in), nil, tt.maxFrame)
			}
			got, err := readAll(d)
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("error %v, want %v", err, wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("frames %q, want %q", got, tt.want)
			}
			if w != nil && !bytes.Equal(w.Bytes(), tt.wantWrote) {
				t.Errorf("wrote %x, want %x", w.Bytes(), tt.wantWrote)
			}
			if d.ControlFrames() != tt.controls {
				t.Errorf("ControlFrames() = %d, want %d", d.ControlFrames(), tt.controls)
			}
			if b, again := d.Next(); again != err {
				t.Errorf("Next after the end returned %q, %v; want the same error %v", b, again, err)
			}
		})
	}
}

var errWrite = errors.New("write failed")

// failAfter fails writes after the first n.
type failAfter struct{ n int }

func (w *failAfter) Write(b []byte) (int, error) {
	if w.n == 0 {
		return 0, errWrite
	}
	w.n--
	return len(b), nil
}

func TestDecoderWriteError(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		okWrite int
		wantErr error
	}{
		{name: "ACCEPT fails", in: fsControl(nil, controlReady, ContentType), wantErr: errWrite},
		{
			name:    "FINISH fails after STOP: the stream is still complete",
			in:      fsControl(fsControl(fsControl(nil, controlReady), controlStart), controlStop),
			okWrite: 1, wantErr: io.EOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(bytes.NewReader(tt.in), &failAfter{n: tt.okWrite}, 0)
			if _, err := d.Next(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Next: error %v, want %v", err, tt.wantErr)
			}
		})
	}
}
