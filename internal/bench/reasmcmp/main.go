package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nspicap/nspicap/internal/capture"
)

func main() {
	impl := flag.String("impl", "ours", "reassembler: ours (internal/capture) or gopacket (DecodingLayerParser + reassembly)")
	midstream := flag.Bool("midstream", true, "gopacket: start a direction without its SYN (Accept forces the start)")
	flushEvery := flag.Duration("flush", 0, "gopacket: call FlushCloseOlderThan every this much capture time (0: only FlushAll at the end)")
	idle := flag.Duration("idle", 2*time.Minute, "gopacket: with -flush, close connections idle this long")
	pagesConn := flag.Int("pages-conn", 0, "gopacket: MaxBufferedPagesPerConnection (0: unbounded)")
	pagesTotal := flag.Int("pages-total", 0, "gopacket: MaxBufferedPagesTotal (0: unbounded)")
	verbose := flag.Bool("v", false, "one line per stream")
	decodeOnly := flag.Bool("decode-only", false, "read and decode only: no reassembly (ours: capture.Run without a Factory)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: reasmcmp [-impl ours|gopacket] FILE...")
		os.Exit(2)
	}
	col := newFoldingCollector()
	if *verbose {
		col = newCollector(false)
	}
	start := time.Now()
	switch *impl {
	case "ours":
		var infos []capture.InputInfo
		var st capture.Stats
		if *decodeOnly {
			infos, st = capture.Run(flag.Args(), capture.Options{})
		} else {
			infos, st = runOurs(flag.Args(), col, capture.Options{})
		}
		for _, in := range infos {
			if in.Err != nil {
				fmt.Fprintln(os.Stderr, "reasmcmp:", in.Err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "ours: %d packets, %d TCP, %v\n", st.Packets, st.TCPPackets, time.Since(start))
	case "gopacket":
		if flag.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "reasmcmp: gopacket reads one file")
			os.Exit(2)
		}
		st, err := runGopacket(flag.Arg(0), col, gpOptions{Midstream: *midstream, FlushEvery: *flushEvery, Idle: *idle,
			MaxPagesConn: *pagesConn, MaxPagesTotal: *pagesTotal, DecodeOnly: *decodeOnly})
		if err != nil {
			fmt.Fprintln(os.Stderr, "reasmcmp:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "gopacket: %d packets, %d TCP, %v\n", st.Packets, st.TCP, time.Since(start))
	default:
		fmt.Fprintln(os.Stderr, "reasmcmp: -impl is ours or gopacket")
		os.Exit(2)
	}
	col.write(os.Stdout, *verbose)
}
