package dnsbl

import "sync/atomic"

// Stats counts what a Checker did, and everything it skipped, dropped or
// cut. It is a snapshot; counters only grow.
type Stats struct {
	// Checks is the number of (address, zone) checks made.
	Checks uint64
	// Queries is the number of queries sent (UDP and TCP, A and TXT).
	Queries uint64
	// Retries is the number of queries sent again after a timeout.
	Retries uint64
	// TCPFallbacks is the number of truncated UDP answers asked again
	// over TCP.
	TCPFallbacks uint64
	// Errors is the number of checks that ended with Result.Err.
	Errors uint64
	// TXTErrors is the number of TXT queries of listed addresses that
	// failed; the listing stands.
	TXTErrors uint64
	// InvalidAddrs is the number of invalid addresses given to Check.
	InvalidAddrs uint64
	// DuplicateAddrs is the number of addresses given to Check more than
	// once (after unmapping IPv4-mapped IPv6); each is checked once.
	DuplicateAddrs uint64
	// SkippedIPv6 is the number of (IPv6 address, zone) pairs not asked
	// because the zone has no IPv6 data.
	SkippedIPv6 uint64
	// SkippedRecords is the number of answer records ignored: not A (or
	// TXT) records, or not for the name asked.
	SkippedRecords uint64
	// DroppedCodes is the number of A records dropped beyond maxCodes.
	DroppedCodes uint64
	// DroppedTXT is the number of TXT records dropped beyond maxTXT.
	DroppedTXT uint64
	// TruncatedTXT is the number of TXT strings cut to maxTXTLen bytes.
	TruncatedTXT uint64
}

// counters are the live counterparts of Stats.
type counters struct {
	checks, queries, retries, tcpFallbacks, errors, txtErrors atomic.Uint64
	invalidAddrs, duplicateAddrs, skippedIPv6, skippedRecords atomic.Uint64
	droppedCodes, droppedTXT, truncatedTXT                    atomic.Uint64
}

// snapshot returns the current values.
func (c *counters) snapshot() Stats {
	return Stats{
		Checks:         c.checks.Load(),
		Queries:        c.queries.Load(),
		Retries:        c.retries.Load(),
		TCPFallbacks:   c.tcpFallbacks.Load(),
		Errors:         c.errors.Load(),
		TXTErrors:      c.txtErrors.Load(),
		InvalidAddrs:   c.invalidAddrs.Load(),
		DuplicateAddrs: c.duplicateAddrs.Load(),
		SkippedIPv6:    c.skippedIPv6.Load(),
		SkippedRecords: c.skippedRecords.Load(),
		DroppedCodes:   c.droppedCodes.Load(),
		DroppedTXT:     c.droppedTXT.Load(),
		TruncatedTXT:   c.truncatedTXT.Load(),
	}
}

// add adds the counts of a parse, which keeps its own tally so that it
// can run without a Checker (in fuzz tests).
func (c *counters) add(t tally) {
	c.skippedRecords.Add(t.skippedRecords)
	c.droppedCodes.Add(t.droppedCodes)
	c.droppedTXT.Add(t.droppedTXT)
	c.truncatedTXT.Add(t.truncatedTXT)
}

// tally counts what one answer lost.
type tally struct {
	skippedRecords, droppedCodes, droppedTXT, truncatedTXT uint64
}
