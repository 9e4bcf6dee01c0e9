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
