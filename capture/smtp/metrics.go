package smtp

import "github.com/mxwatch/mxwatch/event"

// Stats counts what one Conn parsed, and everything it dropped, skipped,
// cut or assumed. The caller sums the Stats of its connections with Add.
type Stats struct {
	// Commands counts client command lines (Session.Commands);
	// EmptyLines blank client lines (answered by servers, not commands);
	// AuthLines authentication responses, consumed and never stored.
	Commands   uint64
	EmptyLines uint64
	AuthLines  uint64
	// Replies counts complete server replies. UnmatchedReplies those with
	// no command waiting for them; UnansweredCommands commands still
	// waiting at Close or given up by MaxPipeline (PipelineOverflows).
	Replies            uint64
	UnmatchedReplies   uint64
	UnansweredCommands uint64
	PipelineOverflows  uint64
	// ReplyMismatches counts 354 replies that answered DATA although FIFO
	// order gave them to an earlier command (a reply was lost or merged).
	ReplyMismatches uint64
	// ServerGarbage counts server lines that are not reply syntax;
	// UnterminatedReplies multi-line replies cut by the end of the
	// connection.
	ServerGarbage       uint64
	UnterminatedReplies uint64

	// LinesTooLong counts lines cut at MaxLineBytes; RepliesDropped
	// replies not kept past MaxReplies; ReplyLinesDropped lines past
	// MaxReplyLines; ExtensionsDropped EHLO keywords past MaxExtensions;
	// RecipientsDropped RCPT TO past MaxRecipients; ParamsDropped ESMTP
	// parameters past the per-command bound; HeaderOverflows header blocks
	// larger than MaxHeaderBytes.
	LinesTooLong      uint64
	RepliesDropped    uint64
	ReplyLinesDropped uint64
	ExtensionsDropped uint64
	RecipientsDropped uint64
	ParamsDropped     uint64
	HeaderOverflows   uint64

	// PendingOverflows counts times the client bytes held behind DATA, AUTH
	// or STARTTLS exceeded MaxPendingBytes; AssumedReplies replies assumed
	// (after an overflow, at Close, or with no server side captured).
	PendingOverflows uint64
	AssumedReplies   uint64

	// TLSBytesSkipped counts bytes after the switch to TLS (STARTTLS or
	// implicit TLS), never parsed.
	TLSBytesSkipped uint64
	// Gaps counts calls to Gap; GapResyncs lines discarded to find the
	// next line start after a gap, ResyncBytes their bytes (with the
	// partial line cut by the gap).
	Gaps        uint64
	GapResyncs  uint64
	ResyncBytes uint64
	// PartialLines counts unterminated client command lines at Close.
	PartialLines uint64
	// BDATMalformed counts BDAT commands whose size is not a number.
	BDATMalformed uint64
	// AfterClose counts bytes given after Close, ignored.
	AfterClose uint64

	// Transactions counts MAIL commands (each starts a message);
	// MessagesEmitted the messages passed to emit; MessageBytes the bytes
	// of message data seen (after dot-unstuffing).
	Transactions    uint64
	MessagesEmitted uint64
	MessageBytes    uint64
}

// Add adds the counters of o to s.
func (s *Stats) Add(o Stats) {
	s.Commands += o.Commands
	s.EmptyLines += o.EmptyLines
	s.AuthLines += o.AuthLines
	s.Replies += o.Replies
	s.UnmatchedReplies += o.UnmatchedReplies
	s.UnansweredCommands += o.UnansweredCommands
	s.PipelineOverflows += o.PipelineOverflows
	s.ReplyMismatches += o.ReplyMismatches
	s.ServerGarbage += o.ServerGarbage
	s.UnterminatedReplies += o.UnterminatedReplies
	s.LinesTooLong += o.LinesTooLong
	s.RepliesDropped += o.RepliesDropped
	s.ReplyLinesDropped += o.ReplyLinesDropped
	s.ExtensionsDropped += o.ExtensionsDropped
	s.RecipientsDropped += o.RecipientsDropped
	s.ParamsDropped += o.ParamsDropped
	s.HeaderOverflows += o.HeaderOverflows
	s.PendingOverflows += o.PendingOverflows
	s.AssumedReplies += o.AssumedReplies
	s.TLSBytesSkipped += o.TLSBytesSkipped
	s.Gaps += o.Gaps
	s.GapResyncs += o.GapResyncs
	s.ResyncBytes += o.ResyncBytes
	s.PartialLines += o.PartialLines
	s.BDATMalformed += o.BDATMalformed
	s.AfterClose += o.AfterClose
	s.Transactions += o.Transactions
	s.MessagesEmitted += o.MessagesEmitted
	s.MessageBytes += o.MessageBytes
}

// Counters flattens the statistics into named counters of stage "smtp";
// counters of things lost, skipped or cut are marked Drop.
func (s *Stats) Counters() []event.Counter {
	c := func(name string, n uint64, drop bool) event.Counter {
		return event.Counter{Stage: "smtp", Name: name, Count: n, Drop: drop}
	}
	return []event.Counter{
		c("commands", s.Commands, false),
		c("empty_lines", s.EmptyLines, false),
		c("auth_lines", s.AuthLines, false),
		c("replies", s.Replies, false),
		c("unmatched_replies", s.UnmatchedReplies, false),
		c("unanswered_commands", s.UnansweredCommands, false),
		c("pipeline_overflows", s.PipelineOverflows, true),
		c("reply_mismatches", s.ReplyMismatches, false),
		c("server_garbage", s.ServerGarbage, true),
		c("unterminated_replies", s.UnterminatedReplies, false),
		c("lines_too_long", s.LinesTooLong, true),
		c("replies_dropped", s.RepliesDropped, true),
		c("reply_lines_dropped", s.ReplyLinesDropped, true),
		c("extensions_dropped", s.ExtensionsDropped, true),
		c("recipients_dropped", s.RecipientsDropped, true),
		c("params_dropped", s.ParamsDropped, true),
		c("header_overflows", s.HeaderOverflows, true),
		c("pending_overflows", s.PendingOverflows, true),
		c("assumed_replies", s.AssumedReplies, false),
		c("tls_bytes_skipped", s.TLSBytesSkipped, false),
		c("gaps", s.Gaps, true),
		c("gap_resyncs", s.GapResyncs, true),
		c("resync_bytes", s.ResyncBytes, true),
		c("partial_lines", s.PartialLines, true),
		c("bdat_malformed", s.BDATMalformed, false),
		c("bytes_after_close", s.AfterClose, true),
		c("transactions", s.Transactions, false),
		c("messages_emitted", s.MessagesEmitted, false),
		c("message_bytes", s.MessageBytes, false),
	}
}
