// Package capture reads packet captures and turns the TCP connections in them
// into ordered byte streams for the layers above. It is the only package
// linked into nspicap that imports gopacket (internal/synth, which writes the
// test captures, internal/bench/baseline and internal/bench/reasmcmp do too;
// TestImportDirection holds the list); addresses leave it as netip.AddrPort.
//
// # Input
//
// Run takes one or more files (or "-" for Options.Stdin) and reads them as
// one capture. The format is recognised by its first bytes, never by the file
// name:
//
//   - pcap (the libpcap format, draft-ietf-opsawg-pcap): magic a1b2c3d4 for
//     microsecond and a1b23c4d for nanosecond timestamps, in either byte order;
//   - pcapng (draft-ietf-opsawg-pcapng): several sections, each with its own
//     byte order, and several interfaces, each with its own link type and
//     timestamp resolution (if_tsresol);
//   - Microsoft Network Monitor 1.x ("RTSS") and 2.x ("GMBU", NetMon 2
//     and 3, editcap -F netmon2) .cap files: read through their frame
//     table, with per-frame media types and, from 2.3 on, per-frame UTC
//     times (netmon.go, which describes the layout);
//   - any of these compressed with gzip (RFC 1952).
//
// An ETW trace (.etl, from netsh trace or pktmon) is recognised by its
// first buffer header and refused with one line that says how to convert it
// (etl.go).
//
// The pcap file header is read with gopacket's pure-Go pcapgo reader and
// its records by pcaprec.go (which reads a record whose original length is
// below its captured length as tcpdump does, where pcapgo stops), through a
// bufio.Reader this package owns, so that it can look at each record header
// before the library reads the record (lengths read off the file never size
// an allocation; records over 256 KiB stop the file) and knows the byte
// offset of a record cut by the end of the file. pcapng is read by this
// package's own reader (pcapng.go, which says why), from the same buffer:
// every length in a block is bounded before it is used, a section holds at
// most 65536 interfaces, blocks nspicap does not use (name resolution,
// statistics, custom) are skipped by their length, and damage is reported
// at the offset of the block that holds it. Files are merged in
// timestamp order with a k-way merge that holds one packet per file (ties go
// to the file given first; a file's own order is always kept). Frames are
// numbered from 1 per file, counting every record as Wireshark does. A file
// that is not a regular file (a pipe, a FIFO) is read once (inputs.go).
//
// A file that cannot be read at all gets InputInfo.Err, a *FileError whose
// message is one lower-case line naming the file. Damage after the header
// (a cut record, a corrupt block, a broken gzip stream) keeps the packets
// read before and adds a warning.
//
// # Decoding
//
// decodePacket hand-decodes only what reassembly needs, without allocating:
// Ethernet with stacked 802.1Q / 802.1ad tags, Linux cooked capture v1 and
// v2, raw IP, BSD loopback (NULL, host byte order) and LOOP (network order),
// Linux NFLOG (the payload TLV); the packets of other link types are
// counted per file and interface and said in one warning each (linkskip.go);
// IPv4 (RFC 791: header length, total length to drop link padding), IPv6
// (RFC 8200: hop-by-hop, routing, destination options and fragment headers
// walked up to TCP); TCP (RFC 9293 section 3.1); UDP (RFC 768) to or from
// port 88 when Options.Datagrams is set. Fragments of IPv4 and IPv6
// datagrams that carry TCP are reassembled, and with Options.Datagrams those
// that carry UDP, kept until the first fragment shows whether a port is 88
// (defrag.go: bounded, 30 s of capture time, the segment or datagram at the
// frame of the fragment that completes it); fragments of anything else are
// skipped. When the snap length cut the
// payload, the captured bytes are delivered and the rest, known from the IP
// length, is reported as a Gap, or as a Cut to a handler that implements
// Cutter, so that the layers above can tell the snap length from lost
// packets. InputInfo.Cut and InputInfo.SnapLen count the records cut and
// the length they were cut to.
//
// # Reassembly
//
// Connections are keyed by the canonical 4-tuple. The client is the sender
// of the SYN when the handshake is in the capture, otherwise the side with
// the higher port (the first sender on a tie). Each direction tracks the
// next expected sequence number (modulo 2^32, RFC 9293 section 3.4):
// retransmissions and overlaps are trimmed, out-of-order segments are copied
// and delivered when the hole fills. A hole is declared lost, with a Gap,
// when the other side acknowledges past it, when more than
// Options.MaxBuffered bytes wait behind it, or when the connection ends.
// After FINs in both directions or a RST, or at the end of the input, the
// buffered bytes are flushed and End is called once; the 4-tuple is then
// remembered for 30 seconds of capture time (tombstoneTTL) so that final ACKs and stray
// retransmissions do not open a new connection, while a new SYN does.
// Options.MaxConns bounds the open connections; the longest idle one is
// ended with EndEvicted. Buffered segments are charged their bytes and a
// fixed overhead, against Options.MaxBuffered per direction and
// Options.MaxBufferedTotal over all connections.
//
// Several inputs are one capture, merged by timestamp (a k-way merge that
// holds one packet per input). Inputs are opened when the merge reaches
// their first packet and closed at their end (inputs.go), at most four at
// once, so that a ring buffer of any length is read one or two files at a
// time.
//
// Events are delivered packet by packet in capture order across all
// connections, since the layers above pair events by time.
//
// # The seam and slice ownership
//
// The types in types.go are the seam with the stream consumer: Factory is
// called on a connection's first SYN or data packet, and its StreamHandler
// then receives Data, Gap and End. The slice passed to Data is borrowed: it
// aliases either the reader's packet buffer (overwritten by the next packet)
// or this package's out-of-order buffer (freed after the call), so a handler
// that keeps bytes must copy them. A handler that returns false from Data
// opts out: the connection's later packets cost one map lookup and no call,
// End included. Panics in handlers are not recovered here.
package capture
