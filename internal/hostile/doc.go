// Package hostile owns the end-to-end test of "mxwatch analyze" against
// the adversarial captures of pcapgen.Hostile: 1 MB SMTP lines, endless
// multi-line replies, a million RCPT, header bombs, DNS compression and
// CNAME loops, conflicting TCP retransmissions, SYN and DNS floods, a
// million flows, truncated files and wrong link types.
//
// The test builds the mxwatch binary and a generator (testdata/gen, built
// without the race detector so that writing 10^6 packets stays fast),
// writes each capture into a temporary directory, runs analyze on it as a
// child process and checks, per case: the exit status and message, the
// child's peak RSS against a bound, that the child ends (it is killed
// after a time limit), the anomaly counters of the JSON summary, and that
// the legitimate mail hidden in the floods is still classified. The
// package has no code outside its tests.
package hostile
