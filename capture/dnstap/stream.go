package dnstap

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"

	"github.com/mxwatch/mxwatch/capture/dns"
	"github.com/mxwatch/mxwatch/event"
)

// Stats counts what the dnstap input received, used and dropped. Every
// frame and every connection that does not end cleanly is counted under
// one of the drop counters.
type Stats struct {
	// Conns counts accepted connections, Active those open now, Refused
	// those closed at once because MaxConns were open.
	Conns, Active, Refused uint64
	// Frames counts data frames, ControlFrames control frames (READY,
	// START, STOP, ...).
	Frames, ControlFrames uint64
	// Messages counts data frames that decoded as dnstap messages;
	// ClientQueries and ClientResponses those of type CLIENT_QUERY and
	// CLIENT_RESPONSE, which go to the Tracker.
	Messages, ClientQueries, ClientResponses uint64
	// OtherTypes counts messages of other types (RESOLVER_*, AUTH_*, ...)
	// and Dnstap frames that are not messages; skipped.
	OtherTypes uint64
	// Malformed counts data frames that are not valid dnstap protobuf;
	// skipped.
	Malformed uint64
	// Incomplete counts CLIENT_* messages that lack their DNS message, the
	// timestamp or an endpoint; skipped.
	Incomplete uint64
	// Oversize counts streams ended by a frame above MaxFrameSize,
	// ProtocolErrors streams ended by a bad or misplaced control frame or
	// a foreign content type, Truncated streams that ended without STOP
	// (closed by the peer, cut in a frame, or a read error), IdleTimeouts
	// connections closed by IdleTimeout. Connections closed because Serve
	// stopped are not counted.
	Oversize, ProtocolErrors, Truncated, IdleTimeouts uint64
	// Events counts the events passed to emit.
	Events uint64
	// DNS are the counters of the Trackers: of the open connections and of
	// all closed ones.
	DNS dns.Stats
}

// countEnd counts why a stream ended; err is what Decoder.Next returned.
func (s *Stats) countEnd(err error) {
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, ErrFrameTooLarge):
		s.Oversize++
	case errors.Is(err, ErrControl), errors.Is(err, ErrContentType):
		s.ProtocolErrors++
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.IdleTimeouts++
	default:
		s.Truncated++
	}
}

// stream turns the frames of one Frame Streams stream into Tracker input.
// The caller serialises its use and owns the Stats it points to.
type stream struct {
	tr       *dns.Tracker
	st       *Stats
	sensor   string
	emit     func(*event.DNS)
	identity string // of the message being handled
	scope    uint64 // hash of identity
	controls uint64 // Decoder.ControlFrames already counted
}

// newStream returns a stream with its own Tracker; cfg has its defaults.
func newStream(cfg Config, st *Stats, emit func(*event.DNS)) (*stream, error) {
	s := &stream{st: st, sensor: cfg.Sensor, emit: emit, scope: scopeOf("")}
	tr, err := dns.NewTracker(cfg.DNS, s.event)
	if err != nil {
		return nil, fmt.Errorf("dnstap: %w", err)
	}
	s.tr = tr
	return s, nil
}

// scopeOf hashes a dnstap identity into a Tracker scope.
func scopeOf(identity string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(identity))
	return h.Sum64()
}

// countControls adds the control frames d read since the last call.
func (s *stream) countControls(d *Decoder) {
	n := d.ControlFrames()
	s.st.ControlFrames += n - s.controls
	s.controls = n
}

// frame handles one data frame.
func (s *stream) frame(b []byte) {
	s.st.Frames++
	m, err := ParseMessage(b)
	switch {
	case errors.Is(err, ErrNotMessage):
		s.st.OtherTypes++
		return
	case err != nil:
		s.st.Malformed++
		return
	}
	s.st.Messages++
	var (
		msg  []byte
		meta dns.Meta
	)
	switch m.Type {
	case ClientQuery:
		s.st.ClientQueries++
		msg, meta = m.QueryMessage, dns.Meta{Time: m.QueryTime, Src: m.QueryAddr, Dst: m.ResponseAddr}
	case ClientResponse:
		s.st.ClientResponses++
		msg, meta = m.ResponseMessage, dns.Meta{Time: m.ResponseTime, Src: m.ResponseAddr, Dst: m.QueryAddr}
	default:
		s.st.OtherTypes++
		return
	}
	if len(msg) == 0 || meta.Time.IsZero() || !meta.Src.IsValid() || !meta.Dst.IsValid() {
		s.st.Incomplete++
		return
	}
	if m.Identity != s.identity {
		s.identity, s.scope = m.Identity, scopeOf(m.Identity)
	}
	meta.Scope = s.scope
	meta.Transport = m.Transport()
	s.tr.Message(msg, meta)
}

// event completes an event from the Tracker and passes it on.
func (s *stream) event(d *event.DNS) {
	d.Kind, d.Version, d.Sensor = event.KindDNS, event.SchemaVersion, s.sensor
	d.ID = eventID(s.sensor, s.identity, d)
	s.st.Events++
	s.emit(d)
}

// eventID derives a deterministic id from the sensor, the resolver's
// identity and the response, so that a replayed stream yields the same ids.
func eventID(sensor, identity string, d *event.DNS) string {
	h := sha256.New()
	for _, s := range []string{sensor, identity, string(event.KindDNS), d.QName, d.QType} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	b, _ := d.Client.MarshalBinary()
	h.Write(b)
	b, _ = d.Server.MarshalBinary()
	h.Write(b)
	var buf [10]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(d.Time.UnixNano()))
	binary.BigEndian.PutUint16(buf[8:], d.TxID)
	h.Write(buf[:])
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ReadFile reads a unidirectional Frame Streams file of dnstap frames (as
// written by fstrm_capture or dnstap-ldns -w) and passes the events it
// yields to emit, on the calling goroutine. Queries still pending at the
// end are counted as unanswered. It returns the counters and nil when the
// file ends with STOP, or the error that ended it (the events before it
// are emitted).
func ReadFile(r io.Reader, cfg Config, emit func(*event.DNS)) (Stats, error) {
	if emit == nil {
		return Stats{}, fmt.Errorf("dnstap: %w", ErrNoEmit)
	}
	if err := cfg.Validate(); err != nil {
		return Stats{}, fmt.Errorf("dnstap: %w", err)
	}
	cfg = cfg.withDefaults()
	var st Stats
	s, err := newStream(cfg, &st, emit)
	if err != nil {
		return Stats{}, err
	}
	d := NewDecoder(r, nil, cfg.MaxFrameSize)
	for {
		b, err := d.Next()
		s.countControls(d)
		if err != nil {
			st.countEnd(err)
			s.tr.Close()
			st.DNS = s.tr.Stats()
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, fmt.Errorf("dnstap: %w", err)
		}
		s.frame(b)
	}
}
