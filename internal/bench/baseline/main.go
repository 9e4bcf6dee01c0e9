package main

import (
	"bufio"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"os"

	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	var n int64
	for _, p := range os.Args[1:] {
		c, err := count(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pcapread:", p+":", err)
			os.Exit(1)
		}
		n += c
	}
	fmt.Println(n)
}

func count(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return 0, err
		}
		r = bufio.NewReaderSize(z, 1<<20)
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		_, _, err := pr.ZeroCopyReadPacketData()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
