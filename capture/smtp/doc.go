// Package smtp owns the SMTP dialogue of one TCP connection as mxwatch
// sees it on the wire: it reads the reassembled byte streams of both
// directions, pairs server replies with client commands, follows mail
// transactions (MAIL, RCPT, DATA, BDAT, RSET), AUTH and STARTTLS, and
// parses the header block of each message. It produces the SMTP fields of
// an event.Session and one event.Message per mail transaction.
//
// A Conn is fed by the TCP layer in packet-time order: Data for the bytes
// of either direction (chunks of any size; a line may be split across
// calls), Gap for bytes that were lost, and Close when the connection is
// over. Message events are passed to the emit function as soon as their
// outcome is known; Fill writes the session fields after Close.
//
// # Pairing and barriers
//
// Replies are matched to commands strictly in order (FIFO), as PIPELINING
// requires. Three commands change how the client's following bytes must be
// read: DATA (354 means a message body follows), AUTH (334 means an
// authentication response follows) and STARTTLS (220 means TLS follows).
// After each of them the client side pauses and holds its bytes until the
// server's answer is known. When the held bytes exceed
// Config.MaxPendingBytes, when the connection closes first, or when no
// server byte has been seen at all (a capture of the client side only),
// the answer is assumed: DATA is taken as accepted (354), AUTH responses
// are told from commands by their shape, and STARTTLS by whether the next
// client bytes are a TLS record. Every assumption is counted and flagged
// "assumed_reply".
//
// # Drop policy
//
// Memory per Conn is bounded by Config whatever the input: lines are cut
// at MaxLineBytes, multi-line replies at MaxReplyLines, kept replies at
// MaxReplies, recipients at MaxRecipients, the parsed header block at
// MaxHeaderBytes, held client bytes at MaxPendingBytes and commands
// waiting for a reply at MaxPipeline. Whatever is cut, skipped or assumed
// increments a counter in Stats and sets a flag on the session or message.
// Message bodies are never stored, and neither is anything the client sends
// while authenticating: AUTH records the mechanism and the outcome only.
package smtp
