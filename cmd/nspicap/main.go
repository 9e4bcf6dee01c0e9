package main

import (
	"context"
	"os"
)

func main() {
	stop := startProfiles()
	code := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
