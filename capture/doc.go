// Package capture owns packets: it turns the frames of a mirror port or a
// capture file into events. A Filter decodes each frame (link layer,
// VLAN tags, tunnels, IP, transport) without allocating and drops what is
// neither mail nor DNS before any costly work; the Engine reassembles IP
// fragments and TCP streams and runs the SMTP parser (capture/smtp) and
// the DNS tracker (capture/dns) behind them, emitting event.Session,
// event.Message and event.DNS values.
//
// Time is packet time only, every piece of state is bounded, and
// everything dropped is counted in Stats. capture knows nothing about
// verdicts: classification is the business of package detect.
package capture
