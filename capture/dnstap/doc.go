// Package dnstap owns mxwatch's dnstap input: it receives dnstap messages
// from DNS resolvers over Frame Streams (a unix or TCP socket, or a file
// written by fstrm_capture or dnstap-ldns -w), decodes the dnstap protobuf
// by hand and turns the resolver's client traffic into event.DNS values
// through the same capture/dns Tracker the packet path uses.
//
// Hosting servers usually ask a local caching resolver, so their MX lookups
// never cross the mirror port. The resolver itself can report them: each
// dnstap CLIENT_QUERY and CLIENT_RESPONSE is one DNS message between a
// client (the hosting server) and the resolver, with both endpoints, the
// transport and the resolver's timestamp. Those two types are the only ones
// used; RESOLVER_*, AUTH_*, FORWARDER_* and the other types describe the
// resolver's own traffic towards other servers, which says nothing about
// which host asked, and are counted (Stats.OtherTypes) and skipped.
//
// Time is the resolver's timestamp carried in each message, never the
// local clock; the wall clock is read only to set socket deadlines.
// Each connection (one resolver, one clock) gets its own Tracker, and the
// Tracker's Scope is a hash of the dnstap identity, so that the queries of
// two resolvers never pair with each other's responses.
//
// Frame Streams (https://github.com/farsightsec/fstrm, the protocol, not
// the library) is handled in both forms: bidirectional on sockets (READY,
// ACCEPT with content type "protobuf:dnstap.Dnstap", START, data frames,
// STOP, FINISH) and unidirectional for files (START, data frames, STOP).
//
// All input is untrusted: frames are bounded in size (Config.MaxFrameSize),
// connections in number (Config.MaxConns) and idle time
// (Config.IdleTimeout), and every frame or connection that is refused,
// malformed or cut short is counted in Stats.
package dnstap
