// Command pcapread is the benchmark baseline: it reads every packet of its
// capture files with pcapgo's zero-copy reader (gzip-compressed files with
// the same decompressor as nspicap) and does nothing else but count them.
//
// It implements no specification: the file format is pcapgo's to read
// (libpcap's format, draft-ietf-opsawg-pcap section 4).
package main
