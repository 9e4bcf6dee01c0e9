// Command reasmcmp measures nspicap's hand-written reading, link decoding
// and TCP reassembly (internal/capture) against the same job done with
// gopacket's DecodingLayerParser and reassembly.Assembler, for
// docs/reassembly.md. It is a comparison tool only: nothing of nspicap links
// it, and gopacket's reassembly package is imported here and nowhere else.
//
//	go run ./internal/bench/reasmcmp [-impl ours|gopacket] [-midstream] [-flush 0] [-v] FILE...
//
// Both sides hand every connection's bytes, per direction, to the same
// collector, which counts them and hashes them (CRC-32C, with a marker for
// each hole); the totals are printed, and with -v one line per stream, so
// that the two outputs can be compared with diff. Time it with
// /usr/bin/time -v for the wall time and the peak RSS.
//
// It implements no specification of its own: internal/capture and gopacket
// read the libpcap and pcapng formats (draft-ietf-opsawg-pcap,
// draft-ietf-opsawg-pcapng) and decode Ethernet, IPv4 (RFC 791), IPv6
// (RFC 8200) and TCP (RFC 9293).
package main
