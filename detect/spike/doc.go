// Package spike owns streaming spike detection: it counts classified
// outbound mail connections per source and destination group in tumbling
// windows of packet time, learns a robust baseline per key, and raises
// event.Alert values when a source suddenly sends far more mail than usual
// towards blocklist-sensitive destinations ("spike"), or when it collects a
// burst of blocklist rejections ("rejections").
//
// The package is pure logic: no I/O, no goroutines, no wall clock. Time
// comes only from the observations and from Advance, so the same input
// always gives the same alerts, with the same IDs.
//
// # Keys, windows and metrics
//
// Every observation is counted under up to three keys (scope, source,
// group): the client host, its customer (when known) and its public egress
// address (when known), each with the destination group. Windows are
// tumbling and aligned to multiples of Config.Window since the Unix epoch,
// so that two sensors, or a replay and the live sensor, cut the same
// windows. Per key and window three metrics are counted: messages (mail
// transactions), connections (attempts, including those that carried no
// message: after port 25 is blocked, blocked attempts are how a compromised
// script keeps showing itself) and blocklist rejections.
//
// A window closes when packet time (the largest observation time, or the
// time given to Advance) reaches its end; its keys are evaluated at once.
// Observations up to one Window older than that clock are still counted in
// their (possibly closed) window, and that window is evaluated again for the
// key they touched; older ones are counted as Late and dropped. Flush
// evaluates the open window at the end of the input as it stands.
//
// # The spike rule
//
// For messages and connections, the baseline of a key is the median of its
// last History closed windows, and its spread the median absolute deviation
// (MAD) around that median. Windows without traffic count as zeros once the
// key has been seen; windows before its first observation do not exist for
// it, so a brand-new key has baseline 0. A window alerts when all of these
// hold:
//
//	observed >= MinVolume (connections: 2 x MinVolume)
//	observed >  Factor x median
//	observed >  median + MADs x MAD
//	the group is sensitive (unless OnlySensitive is false)
//	the window starts at least Warmup after the first observation
//
// Threshold in the alert is the largest of the three bounds. Severity is
// critical when observed exceeds CriticalFactor x max(median, floor /
// Factor), floor being the metric's MinVolume - so that a brand-new source
// just over the floor is a warning - and warning otherwise.
//
// The rejection rule needs no baseline and no warm-up: RejectionBurst or
// more blocklist rejections of one key in one window alert, towards any
// group; twice RejectionBurst is critical. Each (key, window, metric) alerts
// at most once.
//
// # Why these defaults
//
// Window 5m. Compromised scripts send in runs of minutes; a five-minute
// window holds enough connections to smooth per-connection noise while the
// alert still arrives within minutes of the start, about as fast as the
// large providers start deferring or rejecting. Five minutes is also the
// usual step of Grafana panels and Prometheus alert rules, so alerts line up
// with the dashboards.
//
// History 12. One hour of windows: enough samples for the median and MAD to
// be robust (up to five spike windows inside the history barely move the
// median of twelve), short enough to follow the daily rhythm of a host, and
// cheap: a key keeps History+2 windows of three 32-bit counters.
//
// Warmup 1h. History x Window: until a full history has been seen every key
// looks new (baseline 0) and would alert on its normal volume; after a
// restart the sensor stays quiet for an hour instead of paging for every
// busy host.
//
// MinVolume 20. Below 20 messages in five minutes (four a minute) a burst
// does little reputation damage, while small numbers give wild ratios (3
// messages against a baseline of 0.5 is "6x"). With a baseline of 0 this is
// the effective threshold for a new source. Connections use twice the
// floor because attempts are cheaper and retried: blocked or deferred
// connects repeat, and one message can take several connects.
//
// Factor 4. Legitimate traffic swings with the time of day and with
// newsletters by about two to three times; four times the median is clearly
// beyond that. The factor is what protects steady sources: a relay sending
// 500 messages every window has a tiny MAD, and without the factor it would
// alert at 520.
//
// MADs 6. For roughly normal noise the MAD is about 0.67 standard
// deviations, so six MADs are about four standard deviations, a one-sided
// chance of about 3e-5 per key and window; with thousands of keys and 288
// windows a day that still leaves few false alarms, and the factor must
// agree as well. The MAD bound is what protects bursty sources whose median
// is small next to their spread.
//
// CriticalFactor 10. An order of magnitude above normal is the pattern of a
// hijacked account (the usual compromise sends tens of times its normal
// volume); between Factor and CriticalFactor legitimate campaigns are common
// enough that the alert is a warning.
//
// RejectionBurst 5. A single rejection can be one recipient server's
// policy; five blocklist rejections within one window from one source mean
// the address is listed and the sender keeps going. A healthy sender gets
// none, so no baseline is needed. Zero disables the rule.
//
// OnlySensitive true. The harm the alerts guard against is the blocklist
// reputation of shared egress addresses at the providers that act on it;
// volume towards "other" destinations is noisier and less costly.
//
// Scopes host, customer, egress. The host finds a single compromised site,
// the customer a reseller spreading mail across hosts, and the egress the
// combined damage to a shared NAT address, which is what gets listed.
//
// MaxKeys 100000. A key costs about 500 bytes with History 12 (measured by
// BenchmarkKeyMemory), so the bound is about 50 MB: room for 10,000 hosts
// times a few sensitive groups times three scopes. Beyond it the least recently seen key is evicted and
// counted; an evicted key that comes back starts with an empty history.
//
// # Known limits
//
// A source that sends a batch less often than once per History windows (a
// daily newsletter of more than MinVolume messages) has a baseline of 0 at
// every batch and alerts each time; a longer History or a higher MinVolume
// trades that against memory and sensitivity. One observation with a time far
// in the future moves the clock, and everything after it is Late until real
// time catches up; Stats.Late shows it. A key evicted and seen again within
// the same window starts from zero and may alert for that window a second
// time.
//
// # Bounded memory
//
// Per key: a ring of History+2 windows of counters, and for the open and
// the previous window at most 16 distinct strings of each kind of evidence
// (scripts, recipient domains, rejection lists), each at most 128 bytes,
// and at most 262144 evidence strings across all keys. What does not fit is
// counted in Stats.EvidenceDropped and Stats.Truncated.
package spike
