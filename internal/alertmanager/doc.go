// Package alertmanager owns the delivery of mxwatch alerts to a Prometheus
// Alertmanager through its v2 API (POST /api/v2/alerts): the mapping of an
// *event.Alert to Alertmanager labels and annotations, an HTTP client with
// bounded retries, and a background Sender with a bounded queue so that the
// packet path never waits on Alertmanager.
//
// # Mapping
//
// Alertmanager identifies an alert by its label set and routes, groups and
// inhibits on labels, so labels hold only low-cardinality facts about the
// alert's source; the per-window evidence goes into annotations.
//
// Labels:
//
//	alertname  "MxwatchSpike" for Rule "spike", "MxwatchBlocklistRejections"
//	           for Rule "rejections", otherwise "Mxwatch" + CamelCase(Rule)
//	           ("slow-drip" becomes "MxwatchSlowDrip")
//	severity   Alert.Severity ("warning", "critical")
//	scope      Alert.Scope ("host", "customer", "egress")
//	source     Alert.Source
//	group      Alert.Group (destination group: "gmail", "microsoft", ...)
//	metric     Alert.Metric ("messages", "connections", "rejections")
//	rule       Alert.Rule
//	customer   Alert.Customer, when set
//	host       Alert.Host, when valid
//	sensor     Alert.Sensor, when set
//	...        every Config.Labels entry (env="prod", ...)
//
// A label whose value is empty after cleaning is omitted, never sent empty.
// Config.Labels may not reuse the names above (Config.Validate rejects
// them), so static labels never hide an alert's own.
//
// Annotations (omitted when empty):
//
//	summary         Alert.Summary
//	description     observed value vs baseline, threshold, window length and
//	                window start and end in RFC 3339 (UTC)
//	top_scripts     Alert.TopScripts joined with ", "
//	top_domains     Alert.TopDomains joined with ", "
//	top_rejections  Alert.TopRejections joined with ", "
//	mxwatch_id      Alert.ID
//
// The alert ID is an annotation, not a label: two windows of the same spike
// are one Alertmanager alert that stays firing, not two.
//
// startsAt is Alert.WindowStart (Alert.Time when WindowStart is zero, the
// sending time when both are), and endsAt is the wall-clock time of sending
// plus Config.Hold. Alert times are packet times, so an alert from a
// replayed capture starts in the past; endsAt keeps it active and visible
// for Hold after it was posted, and Alertmanager resolves it by itself
// unless mxwatch posts it again. A startsAt later than the sending time
// (a sensor clock ahead of this host's) is replaced by the sending time,
// because Alertmanager rejects alerts that end before they start; so is
// one before 1970 (a bogus packet time).
//
// # Untrusted values
//
// Alert fields carry text seen on the wire (scripts, domains, reply texts),
// so every label and annotation value is cleaned before it is sent: invalid
// UTF-8 becomes U+FFFD, control characters become spaces, surrounding space
// is trimmed, and values are cut at a rune boundary to 256 bytes (labels)
// or 2048 bytes (annotations), marked with "…". Lists keep their first 10
// entries. Each cut is counted in Stats.Truncated.
//
// # Time
//
// Everything in mxwatch runs on packet time, with one exception here:
// endsAt must be compared by Alertmanager with its own clock, so the
// Client reads the wall clock when it sends (and only then). Payload takes
// that time as an argument and is pure.
package alertmanager
