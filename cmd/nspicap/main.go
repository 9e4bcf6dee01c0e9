// Command nspicap reads packet captures and explains why MAPI clients fail to
// log on: NSPI address-book sessions that are bound and never unbound, and
// the MAPI_E_LOGON_FAILED answers that follow.
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
