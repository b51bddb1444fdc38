package capture

import "github.com/mxwatch/mxwatch/event"

// Counters flattens the statistics into named counters, stage by stage, in
// the order a packet meets the stages. Drop counters are marked.
func (s *Stats) Counters() []event.Counter {
	var out []event.Counter
	add := func(stage, name string, n, bytes uint64, drop bool) {
		out = append(out, event.Counter{Stage: stage, Name: name, Count: n, Bytes: bytes, Drop: drop})
	}
	add("read", "packets", s.Packets, s.Bytes, false)
	add("read", "time_backwards", s.TimeBackwards, 0, false)
	for v := Verdict(0); v < numVerdicts; v++ {
		c := s.Verdicts[v]
		add("filter", v.String(), c.Packets, c.Bytes, v != Keep && v != Fragment)
	}
	d := &s.Defrag
	add("defrag", "fragments", d.Fragments, 0, false)
	add("defrag", "reassembled", d.Reassembled, 0, false)
	add("defrag", "expired", d.Expired, 0, true)
	add("defrag", "evicted", d.Evicted, 0, true)
	add("defrag", "invalid", d.Invalid+d.Oversize, 0, true)
	add("defrag", "overlaps", d.Overlaps, 0, false)

	t := &s.TCP
	add("tcp", "flows", t.Flows, 0, false)
	add("tcp", "midstream", t.Midstream, 0, false)
	add("tcp", "segments", t.Segments, 0, false)
	add("tcp", "out_of_order", t.OutOfOrder, 0, false)
	add("tcp", "retransmitted", t.Retransmitted, 0, false)
	add("tcp", "overlap_dropped", 0, t.OverlapBytes, false)
	add("tcp", "gaps", t.Gaps, t.GapBytes, true)
	add("tcp", "ignored_no_flow", t.NoFlow, 0, false)
	add("tcp", "closed_fin", t.ClosedFIN, 0, false)
	add("tcp", "closed_rst", t.ClosedRST, 0, false)
	add("tcp", "closed_idle", t.ClosedIdle, 0, false)
	add("tcp", "closed_capture_end", t.ClosedEnd, 0, false)
	add("tcp", "evicted", t.Evicted, 0, true)
	add("tcp", "buffer_evictions", t.BufferEvictions, 0, true)
	add("tcp", "reused", t.Reused, 0, false)

	m := &s.SMTP
	add("smtp", "sessions", s.Sessions, 0, false)
	add("smtp", "messages", s.Messages, 0, false)
	for _, c := range m.Counters() {
		add("smtp", c.Name, c.Count, 0, c.Drop)
	}

	n := &s.DNS
	add("dns", "messages", n.Messages, 0, false)
	add("dns", "queries", n.Queries, 0, false)
	add("dns", "responses", n.Responses, 0, false)
	add("dns", "matched", n.Matched, 0, false)
	add("dns", "unmatched_responses", n.UnmatchedResponses, 0, false)
	add("dns", "duplicate_queries", n.DuplicateQueries, 0, false)
	add("dns", "unanswered", n.Unanswered, 0, false)
	add("dns", "malformed", n.Malformed, 0, true)
	add("dns", "evicted", n.Evicted, 0, true)
	add("dns", "records_dropped", n.RecordsDropped, 0, true)
	add("dns", "tcp_desync", n.TCPDesync, 0, true)
	add("dns", "answers_kept", s.DNSAnswers, 0, false)
	return out
}
