// Command bench generates nspicap's benchmark captures (once, cached in a
// git-ignored folder), runs nspicap and a baseline reader on them several
// times, and prints a table of throughput, peak memory and the ratio of
// nspicap's time to the baseline's. `make bench` runs it.
//
//	go run ./internal/bench [-dir .bench] [-size 1024] [-runs 3] [-quick] [-huge] [-only NAME]
//
// It implements no specification. The captures it writes are classic
// libpcap files (draft-ietf-opsawg-pcap, section 4: microsecond time
// stamps, link type 1, Ethernet) whose DCE/RPC, NSPI and EMSMDB bytes are
// replayed from the sample captures of testdata (internal/synth builds
// those after [MS-RPCE], [MS-OXNSPI] and [MS-OXCRPC]).
package main
