package main

import (
	"encoding/csv"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nspicap/nspicap/internal/synth"
)

// forgedLine is what a name with a line break tried to add to the output.
const forgedLine = "FAKE VERDICT: everything is fine"

// hostileCreds are NTLM identities as a hostile client can send them:
// terminal escapes, a forged line, NUL and backspaces, C1 controls and a
// bidi override, and names a spreadsheet would run.
var hostileCreds = []synth.Creds{
	{Domain: "CONTOSO", User: "\x1b]0;pwned\x07eve"},
	{Domain: "CONTOSO", User: "mallory\r\n" + forgedLine},
	{Domain: "CONTOSO", User: "nul\x00byte\x08\x08\x7f"},
	{Domain: "CONTOSO", User: "evil\u202egnp.exe\u0085\u009b31m"},
	{Domain: "=cmd|' /C calc'!A0", User: "x"},
	{Domain: "=2+5", User: "y"},
	{Domain: "@SUM(A1)", User: "z"},
	{Domain: "-2+3", User: "w"},
}

// hostileConn opens a connection from client n to port and binds iface on
// it, as cr when cr has a user.
func hostileConn(c *synth.Capture, n byte, port uint16, iface synth.SyntaxID, cr synth.Creds) *synth.RPC {
	cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, n}), 50000+uint16(n)), netip.AddrPortFrom(namesServer, port))
	cn.Open()
	r := c.NewRPC(cn, 1)
	spec := synth.BindSpec{Contexts: synth.WindowsContexts(iface, 0), NewAssoc: 0x1000 + uint32(n), SecAddr: fmt.Sprint(port)}
	if cr.User != "" {
		spec.Auth, spec.Creds, spec.Target = synth.AuthNTLM, cr, synth.DC01
	}
	r.Bind(spec)
	return r
}

// hostileCapture: each hostile identity binds 5 times and never unbinds
// (with --limit 3 the last two are refused: findings, verdict and timeline
// name it); an Exchange store connect without authentication carries a
// user DN with escapes and invalid UTF-8; an RFR answer names a server
// with escapes; a sealed bind by a hostile identity stays sealed.
func hostileCapture(t *testing.T, dir, name string) string {
	t.Helper()
	c := synth.NewCapture("hostile")
	for i, cr := range hostileCreds {
		cr.Workstation = "WS01"
		r := hostileConn(c, byte(10+i), synth.NSPIPort, synth.SyntaxNSPI, cr)
		for j := range 5 {
			status := uint32(0)
			if j >= 3 {
				status = 0x80040111
			}
			r.NspiBind(synth.BindResult{Status: status, ClientGUID: &synth.UUID{}})
			c.Advance(time.Second)
		}
	}
	r := hostileConn(c, 40, synth.EMSMDBPort, synth.SyntaxEMSMDB, synth.Creds{})
	r.EcDoConnect(0, "/o=Contoso/cn=\x1b[2J\xff\xfe\n"+forgedLine, "Eve", 0)
	r = hostileConn(c, 41, synth.RFRPort, synth.SyntaxRFR, synth.Creds{})
	r.RfrGetNewDSA(0, "/o=Contoso/cn=eve", "dc\x1b]0;x\x07\r\n"+forgedLine)
	cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 42}), 50042), netip.AddrPortFrom(namesServer, synth.NSPIPort))
	cn.Open()
	r = c.NewRPC(cn, 1)
	r.SealedBind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), NewAssoc: 0x2000, SecAddr: fmt.Sprint(synth.NSPIPort),
		Auth: synth.AuthNTLM, Creds: synth.Creds{Domain: "CONTOSO", User: "sealed\x1b]0;t\x07\n" + forgedLine, Workstation: "WS01"}, Target: synth.DC01},
		synth.SealSpec{Password: "x", NoKey: true})
	r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCleanText fails when out holds a raw control character (but the
// line breaks of the output itself), a C1 control, a separator or bidi
// formatting character, or invalid UTF-8; or when the forged sentence
// starts a line.
func checkCleanText(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not valid UTF-8:\n%q", what, out)
	}
	for i, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f || r == utf8.RuneError ||
			r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(i-40, 0):min(i+40, len(out))])
			break
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.Trim(line, " |*\""), forgedLine) {
			t.Errorf("%s: a name forged a line: %q", what, line)
		}
	}
}

// checkStderr: every line of standard error is one message of nspicap's.
func checkStderr(t *testing.T, what, errOut string) {
	t.Helper()
	checkCleanText(t, what+" (stderr)", errOut)
	for _, line := range strings.Split(strings.TrimSuffix(errOut, "\n"), "\n") {
		if line != "" && !strings.HasPrefix(line, "nspicap") {
			t.Errorf("%s: a stderr line that is not a message of nspicap's: %q", what, line)
		}
	}
}

// TestHostileNamesCLI: names from the wire and a file name with control
// characters reach no text output raw: analyze (table), sessions and calls
// (table and csv), endpoints (table and csv), and standard error, with
// --keys (the no-key warning names a hostile identity). CSV cells that
// would start a formula are guarded.
func TestHostileNamesCLI(t *testing.T) {
	dir := t.TempDir()
	path := hostileCapture(t, dir, "hostile\n"+forgedLine+"\x1b]0;t\x07.pcap")
	keys := filepath.Join(dir, "bob.keys")
	if err := os.WriteFile(keys, []byte("CONTOSO\\bob:"+synth.BobPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outs, stdouts := map[string]string{}, map[string]string{}
	for _, args := range [][]string{
		{"analyze", "--limit", "3"}, {"sessions"}, {"sessions", "--format", "csv"}, {"calls"}, {"calls", "--format", "csv"},
		{"endpoints"}, {"endpoints", "--format", "csv"},
		{"analyze", "--limit", "3", "--keys", keys}, {"calls", "--keys", keys},
		// Two inputs: frames print with their file's name.
		{"analyze", "--limit", "3", path}, {"calls", path}, {"sessions", path},
	} {
		what := strings.Join(args, " ")
		out, errOut, code := nspicap(t, append(args, path)...)
		if code != exitOK && code != exitFindings {
			t.Fatalf("nspicap %s: exit %d: %q", what, code, errOut)
		}
		checkCleanText(t, what, out)
		checkStderr(t, what, errOut)
		outs[what], stdouts[what] = out+errOut, out
	}
	an := outs["analyze --limit 3"]
	for _, want := range []string{`CONTOSO\\x1b]0;pwned\x07eve`, `mallory\x0d\x0aFAKE`, `\u202egnp.exe`, "TIMELINE", "REFERRALS", `cn=\x1b[2`, `\xff\xfe`} {
		if !strings.Contains(an, want) {
			t.Errorf("analyze does not show %q:\n%s", want, an)
		}
	}
	if !strings.Contains(outs["analyze --limit 3 --keys "+keys], `nspicap: warning: no key for CONTOSO\sealed\x1b]0;t\x07\x0aFAKE VERDICT`) {
		t.Errorf("no escaped no-key warning:\n%s", outs["analyze --limit 3 --keys "+keys])
	}
	if !strings.Contains(outs["calls "+path], `hostile\x0aFAKE VERDICT`) {
		t.Errorf("calls of two files does not show the escaped file name:\n%s", outs["calls "+path])
	}
	for _, what := range []string{"sessions --format csv", "calls --format csv"} {
		recs, err := csv.NewReader(strings.NewReader(stdouts[what])).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		users := map[string]bool{}
		col := -1
		for i, h := range recs[0] {
			if h == "user" {
				col = i
			}
		}
		for _, rec := range recs[1:] {
			users[rec[col]] = true
		}
		for _, want := range []string{`'=cmd|' /C calc'!A0\x`, `'=2+5\y`, `'@SUM(A1)\z`, `'-2+3\w`} {
			if !users[want] {
				t.Errorf("%s: no user cell %q in %v", what, want, users)
			}
		}
	}
}

// TestFileNameOneLine: a file name with a line break and terminal escapes
// gives one line of error (it does not exist) or of warning (it is cut
// short), escaped.
func TestFileNameOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := "cap\n" + forgedLine + "\x1b]0;t\x07.pcap"
	_, errOut, code := nspicap(t, "analyze", filepath.Join(dir, "no", bad))
	if code != exitInput {
		t.Errorf("exit %d, want %d", code, exitInput)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `cap\x0aFAKE VERDICT: everything is fine\x1b]0;t\x07.pcap`) {
		t.Errorf("want one escaped line, got %q", errOut)
	}
	checkStderr(t, "missing file", errOut)

	// A keys file and a flag with a line break: one line each too.
	for _, args := range [][]string{{"analyze", "--keys", filepath.Join(dir, bad), "x.pcap"}, {"calls", "--no\n" + forgedLine, "x.pcap"}} {
		_, errOut, code := nspicap(t, args...)
		if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `\x0aFAKE VERDICT`) {
			t.Errorf("nspicap %q: exit %d, want %d and one escaped line, got %q", args, code, exitUsage, errOut)
		}
		checkStderr(t, "usage", errOut)
	}

	// A capture cut in its last packet: a warning names the file.
	path := hostileCapture(t, dir, bad)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"analyze", "sessions", "calls", "endpoints"} {
		out, errOut, _ := nspicap(t, cmd, path)
		checkStderr(t, cmd+" of a cut file", errOut)
		checkCleanText(t, cmd+" of a cut file", out)
		if !strings.Contains(errOut, `cap\x0aFAKE VERDICT`) {
			t.Errorf("%s: no warning names the cut file: %q", cmd, errOut)
		}
	}
}
