// Package pcapfile owns reading packet capture files: classic pcap
// (microsecond and nanosecond timestamps, either byte order), pcapng (any
// byte order, several sections and interfaces), either of them optionally
// gzip-compressed, from a file or from standard input.
//
// The input is untrusted. Every length read from a file is checked before it
// is used, so that a small hostile file can neither make the reader
// allocate more than a fixed bound (a few MiB, independent of the lengths
// the file claims) nor loop forever nor panic. A file that ends in the middle
// of a record, or holds a record that breaks the format, stops reading with a
// *FormatError that names the file, the packet number and the byte offset,
// and matches ErrTruncated or ErrCorrupt with errors.Is.
//
// Reading is zero copy: the bytes of a Packet point into the reader's buffer
// and stay valid only until the next call to Next. Merge interleaves several
// readers in timestamp order with the same rule.
//
// Classic pcap files are parsed here with the checks and results of
// gopacket's pcapgo.Reader (a differential test and fuzz target hold the
// two to the same packets and the same verdicts on headers and records),
// but straight from the read buffer, because pcapgo copies every record, a
// third of the cost of reading, and because linking pcapgo brings in
// gopacket's layers package, whose initialisation adds about 30 ms to the
// start of every run. pcapng is decoded by a small strict reader of this
// package, because pcapgo's NgReader trusts block and snap lengths from the
// file.
//
// A Reader is a gopacket.PacketDataSource and ZeroCopyPacketDataSource,
// so gopacket's PacketSource and decoders can read any capture this
// package opens (pcapng, gzip, standard input) with its bounds.
//
// A Reader is not safe for concurrent use and starts no goroutines.
package pcapfile
