// Command readstage runs nspicap's reading stage alone on the files given
// (merged as one capture): the reading goroutines, the batches they hand
// over, link/IP/TCP decoding and the connection table, without reassembly,
// DCE/RPC or the analyzer. It prints the packets read. `make bench` times it
// next to the baseline reader and nspicap analyze, to show how much of
// nspicap's time the reading stage takes by itself.
package main

import (
	"fmt"
	"os"

	"github.com/nspicap/nspicap/internal/capture"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: readstage FILE...")
		os.Exit(2)
	}
	infos, st := capture.Run(os.Args[1:], capture.Options{})
	for _, in := range infos {
		if in.Err != nil {
			fmt.Fprintln(os.Stderr, "readstage:", in.Err)
			os.Exit(1)
		}
	}
	fmt.Println(st.Packets)
}
