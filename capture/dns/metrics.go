package dns

import (
	"maps"

	mdns "github.com/miekg/dns"
)

// Stats is a snapshot of a Tracker's counters. Every message that is not
// turned into an event, and every query that never meets its response, is
// counted under one of the drop counters.
type Stats struct {
	// Messages counts the messages given to Tracker.Message.
	Messages uint64
	// Queries and Responses count messages (QR=0, QR=1) whose header and
	// first question could be read, including those cut short after the
	// question (which are also Malformed).
	Queries   uint64
	Responses uint64
	// Malformed counts messages that did not decode completely: shorter
	// than a header, rejected by the decoder, or holding fewer questions
	// or records than the header announces (cut by a snap length).
	// They make no event, but a response whose question could be read
	// still settles its pending query.
	Malformed uint64
	// NoQuestion counts well-formed messages without a question, which
	// cannot be paired (some FORMERR responses); skipped.
	NoQuestion uint64
	// NotQuery counts messages with an opcode other than QUERY (NOTIFY,
	// UPDATE, ...); skipped.
	NotQuery uint64

	// Matched counts responses paired with their query;
	// UnmatchedResponses those whose query was not seen, already answered,
	// or had timed out.
	Matched            uint64
	UnmatchedResponses uint64
	// DuplicateQueries counts retransmissions of a query still pending.
	DuplicateQueries uint64
	// Unanswered counts queries that timed out (QueryTimeout, packet time)
	// or were still pending at Close.
	Unanswered uint64
	// Evicted counts pending queries pushed out by MaxPending.
	Evicted uint64
	// Pending is the number of queries waiting for a response.
	Pending uint64

	// NotKept counts complete responses whose question type is not in
	// KeepTypes (no event).
	NotKept uint64
	// Emitted counts events passed to emit.
	Emitted uint64
	// RecordsDropped counts records left out of events by MaxRecords.
	RecordsDropped uint64

	// TCPMessages counts messages framed by the tracker's Framers;
	// TCPDesync streams whose framing was lost (a gap or a zero length)
	// and dropped from there on; TCPDiscardedBytes the bytes not framed
	// because of that; TCPTruncated streams that ended inside a message.
	// Only Framers made with Tracker.NewFramer count here.
	TCPMessages       uint64
	TCPDesync         uint64
	TCPDiscardedBytes uint64
	TCPTruncated      uint64

	// QueriesByType and ResponsesByType count Queries and Responses by the
	// type of their first question ("MX", "A", "TYPE65534").
	QueriesByType   map[string]uint64
	ResponsesByType map[string]uint64
}

// Add adds the counters of o to s.
func (s *Stats) Add(o Stats) {
	s.Messages += o.Messages
	s.Queries += o.Queries
	s.Responses += o.Responses
	s.Malformed += o.Malformed
	s.NoQuestion += o.NoQuestion
	s.NotQuery += o.NotQuery
	s.Matched += o.Matched
	s.UnmatchedResponses += o.UnmatchedResponses
	s.DuplicateQueries += o.DuplicateQueries
	s.Unanswered += o.Unanswered
	s.Evicted += o.Evicted
	s.Pending += o.Pending
	s.NotKept += o.NotKept
	s.Emitted += o.Emitted
	s.RecordsDropped += o.RecordsDropped
	s.TCPMessages += o.TCPMessages
	s.TCPDesync += o.TCPDesync
	s.TCPDiscardedBytes += o.TCPDiscardedBytes
	s.TCPTruncated += o.TCPTruncated
	s.QueriesByType = addCounts(s.QueriesByType, o.QueriesByType)
	s.ResponsesByType = addCounts(s.ResponsesByType, o.ResponsesByType)
}

func addCounts(dst, src map[string]uint64) map[string]uint64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		return maps.Clone(src)
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// typeCounts converts counts keyed by type number to counts keyed by name.
func typeCounts(m map[uint16]uint64) map[string]uint64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(m))
	for t, n := range m {
		out[mdns.Type(t).String()] += n
	}
	return out
}

// FramerStats counts what one Framer did.
type FramerStats struct {
	// Messages counts the messages passed to fn.
	Messages uint64
	// Desync counts losses of framing (a gap, or a length of zero); the
	// rest of the stream is discarded.
	Desync uint64
	// DiscardedBytes counts the stream bytes (length prefixes included)
	// not passed on in a message: buffered at a loss of framing, received
	// after it, or left over at Close.
	DiscardedBytes uint64
	// Truncated counts streams that ended (Close) inside a message.
	Truncated uint64
}
