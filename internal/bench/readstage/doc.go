// Command readstage runs nspicap's reading stage alone on the files given
// (merged as one capture): the reading goroutines, the batches they hand
// over, link/IP/TCP decoding and the connection table, without reassembly,
// DCE/RPC or the analyzer. It prints the packets read. `make bench` times it
// next to the baseline reader and nspicap analyze, to show how much of
// nspicap's time the reading stage takes by itself.
//
// It implements no specification of its own: internal/capture reads the
// libpcap and pcapng formats (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
// and decodes Ethernet, IPv4 (RFC 791), IPv6 (RFC 8200) and TCP (RFC 9293)
// headers.
package main
