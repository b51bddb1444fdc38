// Package afpacket owns live capture from a Linux network interface through
// an AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring, in pure
// Go (no cgo): the default CGO_ENABLED=0 build can capture.
//
// A Source implements capture.Source. Each Source owns one socket and one
// ring of Config.NumBlocks blocks of Config.BlockSize bytes, mapped into the
// process: BlockSize*NumBlocks bytes per socket (64 MiB with the defaults),
// so a sensor with a fanout group of N sockets maps N times that. The kernel
// fills a block with packets and hands it over when it is full or when
// Config.BlockTimeout has passed; Next walks the frames of a block in place
// and gives the block back to the kernel when it moves past its last frame.
// When no block is free, the kernel drops packets and counts them (Stats).
//
// Several Sources on the same interface can share a fanout group
// (PACKET_FANOUT) so that the kernel spreads the traffic over them, by flow
// hash (every packet of a flow reaches the same socket), round robin or CPU.
//
// A classic BPF filter (MailDNSFilter builds the one mxwatch uses) runs in
// the kernel before a packet is copied into the ring, so the ring holds only
// what the engine can use.
//
// Capabilities: opening a Source needs CAP_NET_RAW; Config.Promiscuous also
// needs CAP_NET_ADMIN. Errors caused by missing privileges say so.
//
// VLAN tags: the Linux receive path removes the outer 802.1Q/802.1ad tag of
// a frame before packet sockets see it and passes it beside the frame. The
// BPF filter therefore sees the frame without that tag; Next puts the tag
// back (the only case in which it copies the frame), so that the engine gets
// the frame as it was on the wire.
//
// The package starts no goroutines: Next blocks in poll(2) on the calling
// goroutine, and Close, from any goroutine, wakes it.
package afpacket
