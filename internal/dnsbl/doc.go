// Package dnsbl owns asking DNS blocklists (DNSBLs) whether addresses are
// listed: the table of well-known zones and their return codes, the
// queries themselves (through github.com/miekg/dns against one configured
// resolver), the interpretation of the answers, and a plain-text table of
// the results. It backs `mxwatch rbl check`, which asks whether the
// platform's egress addresses are listed.
//
// # Queries
//
// For an address 192.0.2.1 and zone zen.spamhaus.org the Checker asks for
// the A records of 1.2.0.192.zen.spamhaus.org (IPv6 addresses are written
// as 32 reversed nibbles, and only asked of zones with Zone.IPv6 set). A
// query goes over UDP; a truncated answer is asked again over TCP; a query
// that times out is retried Config.Retries times. The answer means:
//
//	NXDOMAIN, or NOERROR without A records   clean
//	NOERROR, A records all in 127.0.0.0/8    listed, or refused when any
//	                                         record is in Zone.Refused
//	NOERROR, an A record outside 127/8       error (a resolver that
//	                                         rewrites NXDOMAIN)
//	SERVFAIL, REFUSED, other rcodes          error
//	timeout, network error                   error
//
// A refusal (for example Spamhaus answering 127.255.255.254 to queries
// that come through a public resolver) is not a listing: the check did not
// happen, and Result.Refused says so. For a listed address the Checker
// also asks for the TXT records of the same name, which usually carry the
// list's reason and removal URL; a failure of that second query leaves the
// listing in place and is only counted in Stats.
//
// # Untrusted answers
//
// Answers come from the network and are bounded before they are kept: at
// most 16 A records, and 8 TXT records of at most 512 bytes each; control
// characters and invalid UTF-8 are replaced by '?' before a TXT string is
// kept. Every record skipped, dropped or cut is counted in Stats.
//
// # Concurrency
//
// Check runs at most Config.Concurrency queries at once in goroutines that
// all end before it returns; it honours its context, and a Checker may be
// used by several goroutines at once.
package dnsbl
