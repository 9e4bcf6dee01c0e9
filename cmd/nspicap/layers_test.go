package main

import (
	"os/exec"
	"strings"
	"testing"
)

// gopacketImporters are the only packages that may import gopacket directly:
// internal/capture reads packets; internal/synth writes the generated
// captures (gopacket's layers serialise the frames) and
// internal/bench/baseline is the plain pcapgo reader the reading stage is
// measured against. internal/bench, internal/pipeline and cmd/nspicap link
// gopacket only through capture or synth.
var gopacketImporters = map[string]bool{"internal/capture": true, "internal/synth": true, "internal/bench/baseline": true, "internal/bench/reasmcmp": true}

// TestImportDirection keeps the layering honest: every package of the module
// is listed (a new package fails until it is added), each imports only the
// layers below it, only gopacketImporters import gopacket, only
// internal/report draws tables, and nothing links the cgo pcap package or
// tcpassembly.
func TestImportDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	const mod = "github.com/nspicap/nspicap/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// allowed lists, for every package of the module, the module's packages
	// and the third-party modules it may import directly; the standard
	// library is always allowed.
	allowed := map[string][]string{
		"dcerpc/ndr":        {},
		"ntlmssp":           {"golang.org/x/crypto/md4"},
		"dcerpc":            {"dcerpc/ndr", "ntlmssp"},
		"nspi":              {"dcerpc", "dcerpc/ndr"},
		"emsmdb":            {"dcerpc", "dcerpc/ndr"},
		"epm":               {"dcerpc", "dcerpc/ndr"},
		"rfr":               {"dcerpc", "dcerpc/ndr"},
		"smb":               {"ntlmssp"},
		"rpch":              {"ntlmssp"},
		"kerberos":          {"dcerpc/ndr", "ntlmssp", "github.com/jcmturner/gofork", "github.com/jcmturner/gokrb5/v8"},
		"analyze":           {"dcerpc", "nspi", "emsmdb"}, // the names of statuses and faults
		"internal/safetext": {},
		"internal/report":   {"analyze", "internal/safetext", "github.com/olekukonko/tablewriter"},
		"internal/capture":  {"github.com/gopacket/gopacket", "github.com/klauspost/compress"},
		"internal/keys":     {"ntlmssp", "internal/safetext", "github.com/jcmturner/gokrb5/v8"},
		"internal/unseal":   {"dcerpc", "internal/keys", "kerberos", "ntlmssp", "github.com/jcmturner/gokrb5/v8"},
		"internal/pipeline": {"analyze", "dcerpc", "internal/capture", "internal/keys", "internal/report", "internal/unseal", "nspi", "emsmdb", "epm", "rfr", "smb", "ntlmssp", "rpch", "kerberos"},
		"internal/evidence": {"analyze", "internal/capture"},
		"internal/redact":   {"analyze", "internal/report"},
		"cmd/nspicap":       {"analyze", "dcerpc", "epm", "internal/capture", "internal/evidence", "internal/keys", "internal/pipeline", "internal/redact", "internal/report", "internal/safetext", "github.com/spf13/pflag", "github.com/schollz/progressbar/v3", "golang.org/x/term"},
		// Test data and measurement, never linked into nspicap.
		"internal/testutil":        {},
		"internal/synth":           {"github.com/gopacket/gopacket", "github.com/jcmturner/gofork", "github.com/jcmturner/gokrb5/v8", "golang.org/x/crypto/md4"},
		"internal/bench":           {"internal/capture", "internal/synth"},
		"internal/bench/baseline":  {"github.com/gopacket/gopacket/pcapgo", "github.com/klauspost/compress"},
		"internal/bench/readstage": {"internal/capture"},
		// The measurement of our reassembly against gopacket's (docs/reassembly.md).
		"internal/bench/reasmcmp": {"internal/capture", "github.com/gopacket/gopacket"},
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
			t.Errorf("package %s is not in TestImportDirection's list: add it with the imports it may have", pkg)
			continue
		}
		seen++
	imports:
		for _, d := range strings.Fields(f[1]) {
			if strings.HasPrefix(d, "github.com/gopacket/gopacket") && !gopacketImporters[pkg] {
				t.Errorf("%s imports %s: only %v may import gopacket", pkg, d, gopacketImporters)
			}
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
		t.Errorf("checked %d packages, want %d: the list names a package that is gone", seen, len(allowed))
	}
}
