package smtp

import (
	"math/bits"
	"slices"
)

// flagSet is a set of anomaly flags of a session or a message.
type flagSet uint32

// The flags. Their names are in flagSet.name.
const (
	flagLineTooLong flagSet = 1 << iota
	flagServerGarbage
	flagRepliesTruncated
	flagReplyLinesTruncated
	flagReplyUnterminated
	flagUnmatchedReply
	flagReplyMismatch
	flagAssumedReply
	flagPipelineOverflow
	flagCleartextAfterStartTLS
	flagCleartextGreeting
	flagGap
	flagBDATMalformed
	flagExtensionsTruncated
	flagParamsTruncated
	flagHeaderTooLarge
	flagRecipientsTruncated
	flagIncomplete
	flagClientOnly
	flagServerOnly
	flagHeaderNamesTruncated
	numFlags = iota
)

func flagName(f flagSet) string {
	switch f {
	case flagLineTooLong:
		return "line_too_long"
	case flagServerGarbage:
		return "server_garbage"
	case flagRepliesTruncated:
		return "replies_truncated"
	case flagReplyLinesTruncated:
		return "reply_lines_truncated"
	case flagReplyUnterminated:
		return "reply_unterminated"
	case flagUnmatchedReply:
		return "unmatched_reply"
	case flagReplyMismatch:
		return "reply_mismatch"
	case flagAssumedReply:
		return "assumed_reply"
	case flagPipelineOverflow:
		return "pipeline_overflow"
	case flagCleartextAfterStartTLS:
		return "cleartext_after_starttls"
	case flagCleartextGreeting:
		return "cleartext_greeting"
	case flagGap:
		return "gap"
	case flagBDATMalformed:
		return "bdat_malformed"
	case flagExtensionsTruncated:
		return "extensions_truncated"
	case flagParamsTruncated:
		return "params_truncated"
	case flagHeaderTooLarge:
		return "header_too_large"
	case flagRecipientsTruncated:
		return "recipients_truncated"
	case flagIncomplete:
		return "incomplete"
	case flagClientOnly:
		return "client_only"
	case flagServerOnly:
		return "server_only"
	case flagHeaderNamesTruncated:
		return "header_names_truncated"
	}
	return ""
}

// appendTo appends the names of the flags in s to dst and returns dst
// sorted, without duplicates.
func (s flagSet) appendTo(dst []string) []string {
	for s != 0 {
		f := flagSet(1) << bits.TrailingZeros32(uint32(s))
		s &^= f
		dst = append(dst, flagName(f))
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}
