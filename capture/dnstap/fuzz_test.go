package dnstap

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/mxwatch/mxwatch/event"
)

// FuzzParseMessage checks that ParseMessage never panics, and that what
// it accepts survives a round trip through the test encoder unchanged.
func FuzzParseMessage(f *testing.F) {
	qf, rf := clientPair(f, "res", client4, 1, "example.com", "mx.example.com", t0)
	f.Add(qf)
	f.Add(rf)
	f.Add(encodeDnstap(&Message{Type: ResolverResponse, SocketFamily: FamilyINET6}))
	f.Add(pbUint(pbBytes(nil, dnstapMessage, nil), dnstapType, 2))
	f.Add([]byte{})
	f.Add([]byte{0x72, 0x80})
	if raw, err := os.ReadFile(unboundFile); err == nil {
		d := NewDecoder(bytes.NewReader(raw), nil, 0)
		for {
			b, err := d.Next()
			if err != nil {
				break
			}
			f.Add(bytes.Clone(b))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !reflect.DeepEqual(m, Message{}) {
				t.Fatalf("error %v with a non-zero message %+v", err, m)
			}
			return
		}
		if len(m.QueryMessage)+len(m.ResponseMessage)+len(m.Identity)+len(m.Version) > len(b) {
			t.Fatalf("message larger than its frame")
		}
		for _, a := range []struct{ ok, v4, v6 bool }{
			{m.QueryAddr.IsValid(), m.QueryAddr.Addr().Is4(), m.QueryAddr.Addr().Is6()},
			{m.ResponseAddr.IsValid(), m.ResponseAddr.Addr().Is4(), m.ResponseAddr.Addr().Is6()},
		} {
			if a.ok && !a.v4 && !a.v6 {
				t.Fatalf("address neither v4 nor v6: %+v", m)
			}
		}
		again, err := ParseMessage(encodeDnstap(&m))
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v\n%+v", err, m)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, m)
		}
	})
}

// FuzzDecoder gives arbitrary streams to the Decoder, both ways, and to
// ReadFile, and checks the limits and the counters.
func FuzzDecoder(f *testing.F) {
	qf, rf := clientPair(f, "res", client4, 1, "example.com", "mx.example.com", t0)
	uni := fsControl(nil, controlStart, ContentType)
	uni = fsControl(fsData(fsData(uni, qf), rf), controlStop)
	f.Add(uni)
	f.Add(append(fsControl(nil, controlReady, ContentType), uni...))
	f.Add(fsControl(fsData(fsControl(nil, controlStart), []byte("x")), controlStop))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 2})
	if raw, err := os.ReadFile(unboundFile); err == nil {
		f.Add(raw)
	}
	const maxFrame = 512
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bidi := range []bool{false, true} {
			var w *bytes.Buffer
			var d *Decoder
			if bidi {
				w = new(bytes.Buffer)
				d = NewDecoder(bytes.NewReader(b), w, maxFrame)
			} else {
				d = NewDecoder(bytes.NewReader(b), nil, maxFrame)
			}
			// Each frame takes at least four bytes of input, so a stream
			// that yields more frames than that is looping.
			for n := 0; ; n++ {
				if n > len(b)/4+1 {
					t.Fatalf("%d frames from %d bytes", n, len(b))
				}
				frame, err := d.Next()
				if err != nil {
					break
				}
				if len(frame) == 0 || len(frame) > maxFrame {
					t.Fatalf("frame of %d bytes", len(frame))
				}
			}
			if w != nil && w.Len() > 2*(12+8+len(ContentType)) {
				t.Fatalf("decoder wrote %d bytes", w.Len())
			}
		}

		var evs []*event.DNS
		st, err := ReadFile(bytes.NewReader(b), Config{MaxFrameSize: maxFrame}, func(d *event.DNS) { evs = append(evs, d) })
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrControl) &&
			!errors.Is(err, ErrContentType) && !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("ReadFile: unexpected error %v", err)
		}
		if st.Frames != st.Malformed+st.OtherTypes+st.ClientQueries+st.ClientResponses {
			t.Fatalf("frames not accounted for: %+v", st)
		}
		if st.DNS.Messages != st.ClientQueries+st.ClientResponses-st.Incomplete {
			t.Fatalf("messages not accounted for: %+v", st)
		}
		if st.Events != uint64(len(evs)) || st.Events != st.DNS.Emitted || st.DNS.Pending != 0 {
			t.Fatalf("events: %d emitted, stats %+v", len(evs), st)
		}
		for _, e := range evs {
			if err := e.Validate(); err != nil {
				t.Fatalf("invalid event: %v", err)
			}
		}
	})
}
