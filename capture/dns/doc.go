// Package dns owns DNS as mxwatch sees it on the wire: it decodes DNS
// messages with github.com/miekg/dns, pairs each response with the query
// it answers, and turns the answers the sensor keeps (MX, A, AAAA and
// CNAME by default) into event.DNS values. It also frames DNS over TCP
// (RFC 1035 section 4.2.2: a two-byte length before each message).
//
// A Tracker receives one DNS message at a time, already cut out of its UDP
// datagram or TCP stream, together with the packet's time and endpoints
// (Meta). Queries are remembered, keyed by scope, client, server,
// transaction id and question, until their response arrives, their packet
// time runs out (Config.QueryTimeout) or the table is full
// (Config.MaxPending). Time is always packet time: replaying a capture
// gives the same events and counters on every run.
//
// Nothing is dropped silently: malformed messages, unanswered and evicted
// queries, records beyond Config.MaxRecords and TCP framing errors are all
// counted in Stats.
//
// Neither Tracker nor Framer is safe for concurrent use; one goroutine
// feeds each of them, and the emit callback runs on that goroutine.
package dns
