package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the layering honest: each package imports only
// the layers below it, only internal/capture reads packets with gopacket,
// only internal/report draws tables, and nothing links the cgo pcap package
// or tcpassembly.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	const mod = "github.com/nspicap/nspicap/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// allowed lists, per package, the module's packages and the third-party
	// modules it may import directly; the standard library is always allowed.
	allowed := map[string][]string{
		"dcerpc/ndr":        {},
		"ntlmssp":           {"golang.org/x/crypto/md4"},
		"dcerpc":            {"dcerpc/ndr", "ntlmssp"},
		"nspi":              {"dcerpc", "dcerpc/ndr"},
		"analyze":           {},
		"internal/report":   {"analyze", "github.com/olekukonko/tablewriter"},
		"internal/capture":  {"github.com/gopacket/gopacket", "github.com/klauspost/compress"},
		"internal/keys":     {"ntlmssp", "github.com/jcmturner/gokrb5/v8"},
		"internal/unseal":   {"dcerpc", "internal/keys", "ntlmssp", "github.com/jcmturner/gokrb5/v8"},
		"internal/pipeline": {"analyze", "dcerpc", "internal/capture", "internal/keys", "internal/report", "internal/unseal", "nspi", "emsmdb", "epm", "rfr"},
		"cmd/nspicap":       {"analyze", "dcerpc", "epm", "internal/keys", "internal/pipeline", "internal/report", "github.com/spf13/pflag", "github.com/schollz/progressbar/v3", "golang.org/x/term"},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkg := strings.TrimPrefix(f[0], mod)
		for _, d := range strings.Fields(f[2]) {
			if strings.HasPrefix(d, "github.com/gopacket/gopacket/pcap") && !strings.HasPrefix(d, "github.com/gopacket/gopacket/pcapgo") ||
				strings.Contains(d, "tcpassembly") {
				t.Errorf("%s links %s (cgo pcap or tcpassembly)", pkg, d)
			}
		}
		rules, ok := allowed[pkg]
		if !ok {
			continue
		}
		seen++
	imports:
		for _, d := range strings.Fields(f[1]) {
			first := d
			if i := strings.IndexByte(d, '/'); i >= 0 {
				first = d[:i]
			}
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			for _, a := range rules {
				if d == mod+a || d == a || strings.HasPrefix(d, a+"/") {
					continue imports
				}
			}
			t.Errorf("%s imports %s", pkg, d)
		}
	}
	if seen != len(allowed) {
		t.Errorf("checked %d packages, want %d", seen, len(allowed))
	}
}
