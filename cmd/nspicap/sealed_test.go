package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/ntlmssp"
)

// absTestdata is testdata's absolute path (tests may change directory).
var absTestdata, _ = filepath.Abs(testdataDir)

// manifestKeysFile returns the keys file a capture's manifest names
// (relative to testdata), or "".
func manifestKeysFile(t *testing.T, capture string) string {
	t.Helper()
	name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(capture), ".gz"), ".pcapng"), ".pcap")
	b, err := os.ReadFile(filepath.Join(absTestdata, name+".manifest.json"))
	if err != nil {
		return ""
	}
	var m synth.Manifest
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.KeysFile
}

// withKeys adds --keys for a capture whose manifest names a keys file (the
// golden outputs of sealed captures are those with the key).
func withKeys(t *testing.T, capture string, args []string) []string {
	kf := manifestKeysFile(t, capture)
	if kf == "" {
		return args
	}
	return append([]string{args[0], "--keys", kf}, args[1:]...)
}

// manifestKeys loads the keys file of a single generated capture.
func manifestKeys(t *testing.T, files []string) *keys.Store {
	t.Helper()
	if len(files) != 1 || filepath.Dir(files[0]) != filepath.Clean(testdataDir) {
		return nil
	}
	kf := manifestKeysFile(t, files[0])
	if kf == "" {
		return nil
	}
	s := &keys.Store{}
	if _, err := s.LoadKeysFile(filepath.Join(testdataDir, kf)); err != nil {
		t.Fatal(err)
	}
	return s
}

type callLine struct {
	Frame          int64   `json:"frame"`
	Op             string  `json:"op"`
	User           *string `json:"user"`
	AuthLevel      string  `json:"auth_level"`
	Sealed         bool    `json:"sealed"`
	Status         *string `json:"status"`
	StatusInferred bool    `json:"status_inferred"`
}

func sealedCallLines(t *testing.T, out string) map[int64]callLine {
	t.Helper()
	m := map[int64]callLine{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var c callLine
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		m[c.Frame] = c
	}
	return m
}

const sealedPcap = testdataDir + "/sealed-ntlm.pcap"

// TestSealedWithKey: bob's calls are decrypted and give the manifest's
// statuses; ivan's stay sealed, with his bind outcomes inferred and the
// warning of the issue.
func TestSealedWithKey(t *testing.T) {
	m := loadManifest(t, "sealed-ntlm.pcap")
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", "--keys", filepath.Join(testdataDir, m.KeysFile), sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := sealedCallLines(t, out)
	for _, w := range m.NSPI {
		c, ok := got[int64(w.RequestFrame)]
		if !ok {
			// calls are listed by their first request frame
			for _, x := range got {
				if x.Op == w.Op && x.Frame < int64(w.RequestFrame) && x.Frame >= int64(w.RequestFrame)-1 {
					c, ok = x, true
				}
			}
		}
		if !ok {
			t.Errorf("no call at frame %d (%s)", w.RequestFrame, w.Op)
			continue
		}
		if c.AuthLevel != "privacy" {
			t.Errorf("frame %d: auth level %s", w.RequestFrame, c.AuthLevel)
		}
		switch w.Sealed {
		case "key":
			if c.Sealed || c.Status == nil || *c.Status != w.StatusHex || c.StatusInferred {
				t.Errorf("frame %d %s: sealed %v status %v inferred %v, want decrypted %s", w.RequestFrame, w.Op, c.Sealed, str(c.Status), c.StatusInferred, w.StatusHex)
			}
		case "no-key":
			if !c.Sealed {
				t.Errorf("frame %d: ivan's call decrypted without his key", w.RequestFrame)
			}
			if w.Op == "NspiBind" {
				if c.Status == nil || *c.Status != w.StatusHex || !c.StatusInferred {
					t.Errorf("frame %d: NspiBind status %v inferred %v, want inferred %s", w.RequestFrame, str(c.Status), c.StatusInferred, w.StatusHex)
				}
			} else if c.Status != nil {
				t.Errorf("frame %d: status %s read from a sealed stub", w.RequestFrame, *c.Status)
			}
		default:
			t.Errorf("frame %d: manifest says the call is not sealed", w.RequestFrame)
		}
	}
	if !strings.Contains(errOut, `nspicap: warning: no key for CONTOSO\ivan: 13 calls stay sealed`+"\n") {
		t.Errorf("missing the no-key warning:\n%s", errOut)
	}
	if strings.Contains(errOut, "CONTOSO\\bob") {
		t.Errorf("warning about bob, whose key is given:\n%s", errOut)
	}
	// The analysis counts bob as it would on unsealed traffic.
	js, errOut, code := nspicap(t, "analyze", "--format", "json", "--keys", filepath.Join(testdataDir, m.KeysFile), sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Users []struct {
			User        *string `json:"user"`
			Binds       int     `json:"binds"`
			BindsOK     int     `json:"binds_ok"`
			LogonFailed int     `json:"binds_logon_failed"`
			Unbinds     int     `json:"unbinds"`
			Other       int     `json:"other_calls"`
		} `json:"users"`
		Anomalies []struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"anomalies"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range rep.Users {
		if u.User != nil && *u.User == `CONTOSO\bob` {
			found = true
			if u.Binds != 3 || u.BindsOK != 2 || u.LogonFailed != 1 || u.Unbinds != 2 || u.Other != 4 {
				t.Errorf("bob: %+v, want 3 binds, 2 ok, 1 LOGON_FAILED, 2 unbinds, 4 other calls", u)
			}
		}
	}
	if !found {
		t.Errorf("no row for CONTOSO\\bob: %s", js)
	}
	an := false
	for _, a := range rep.Anomalies {
		if a.Kind == "sealed_not_decrypted" && strings.Contains(a.Message, `no key for CONTOSO\ivan: 13 calls stay sealed`) {
			an = true
		}
	}
	if !an {
		t.Errorf("the report does not say which identity lacks a key: %+v", rep.Anomalies)
	}
}

// TestSealedWithoutKeys: every NspiBind outcome is inferred and labelled,
// nothing else has a status, and each identity is named with its count.
func TestSealedWithoutKeys(t *testing.T) {
	m := loadManifest(t, "sealed-ntlm.pcap")
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := sealedCallLines(t, out)
	for _, w := range m.NSPI {
		c := got[int64(w.RequestFrame)]
		if w.RequestFragments > 1 {
			continue // listed by its first frame
		}
		if !c.Sealed {
			t.Errorf("frame %d: not sealed", w.RequestFrame)
		}
		if w.Op == "NspiBind" {
			if c.Status == nil || *c.Status != w.StatusHex || !c.StatusInferred {
				t.Errorf("frame %d: NspiBind status %v inferred %v, want inferred %s", w.RequestFrame, str(c.Status), c.StatusInferred, w.StatusHex)
			}
		} else if c.Status != nil || c.StatusInferred {
			t.Errorf("frame %d: %s has status %s", w.RequestFrame, w.Op, *c.Status)
		}
	}
	for _, want := range []string{`no key for CONTOSO\bob: 9 calls stay sealed`, `no key for CONTOSO\ivan: 13 calls stay sealed`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	table, _, _ := nspicap(t, "calls", sealedPcap)
	if !strings.Contains(table, "inferred MAPI_E_LOGON_FAILED") || !strings.Contains(table, "inferred Success") {
		t.Errorf("the table does not mark inferred outcomes:\n%s", table)
	}
}

// TestSealedWrongKey: a wrong password gives one warning for the identity
// and no decoded status (never garbage decoded as NSPI).
func TestSealedWrongKey(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "wrong.keys")
	if err := os.WriteFile(kf, []byte("CONTOSO\\bob:not-"+synth.BobPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", "--keys", kf, sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(errOut, "the key for CONTOSO\\bob does not match: signature check failed\n"); n != 1 {
		t.Errorf("%d signature warnings for bob, want 1:\n%s", n, errOut)
	}
	for _, c := range sealedCallLines(t, out) {
		if !c.Sealed || c.Status != nil && !c.StatusInferred {
			t.Errorf("frame %d: decoded with a wrong key (sealed %v, status %s)", c.Frame, c.Sealed, str(c.Status))
		}
	}
	// The NT hash form of the right key works like the password.
	nt := ntlmssp.NTOWFv1(synth.BobPassword)
	if err := os.WriteFile(kf, []byte("# hash\nCONTOSO\\bob:nt:"+strings.ToUpper(hex.EncodeToString(nt[:]))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, _ = nspicap(t, "calls", "--format", "jsonl", "--keys", kf, sealedPcap)
	if strings.Contains(errOut, "CONTOSO\\bob") || strings.Count(out, `"sealed":false`) != 9 {
		t.Errorf("the nt: key did not decrypt bob's 9 calls:\n%s", errOut)
	}
}

// TestKeysFileMessages: bad lines are named by number and skipped; the file
// content never appears; an unreadable file is a usage error.
func TestKeysFileMessages(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "k")
	content := "# comment\n\n  \nCONTOSO\\bob " + synth.BobPassword + "\nbob:secret-one\nCONTOSO\\bob:nt:0123\nCONTOSO\\bob:\nCONTOSO\\bob:" + synth.BobPassword + "\n"
	if err := os.WriteFile(kf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := nspicap(t, "calls", "--keys", kf, sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"keys file " + kf + " can be read by other users (mode 0644); chmod 600 it",
		"keys file " + kf + ` line 4: no colon after the identity; want DOMAIN\user:password or DOMAIN\user:nt:<32 hex digits>; line skipped`,
		"keys file " + kf + ` line 5: the identity is not DOMAIN\user;`,
		"keys file " + kf + " line 6: an nt: key must have 32 hex digits; line skipped",
		"keys file " + kf + " line 7: empty password;",
	} {
		if !strings.Contains(errOut, "nspicap: warning: "+want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	for _, l := range []string{"line 1:", "line 2:", "line 3:", "line 8:"} {
		if strings.Contains(errOut, l) {
			t.Errorf("a good line is reported (%s):\n%s", l, errOut)
		}
	}
	for _, secret := range []string{synth.BobPassword, "secret-one", "0123"} {
		if strings.Contains(errOut, secret) {
			t.Errorf("key material %q printed:\n%s", secret, errOut)
		}
	}
	_, errOut, code = nspicap(t, "analyze", "--keys", filepath.Join(dir, "missing"), sealedPcap)
	if code != exitUsage || !strings.Contains(errOut, "keys file") {
		t.Errorf("missing keys file: exit %d: %s", code, errOut)
	}
	_, errOut, code = nspicap(t, "sessions", "--keytab", kf, sealedPcap)
	if code != exitUsage || !strings.Contains(errOut, "not an MIT keytab") {
		t.Errorf("bad keytab: exit %d: %s", code, errOut)
	}
}

// TestKeyNeverPrinted runs every command in every format with the key given
// as a password and as an NT hash, and looks for either in every output.
func TestKeyNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	nt := ntlmssp.NTOWFv1(synth.BobPassword)
	files := map[string]string{
		"pw.keys": "CONTOSO\\bob:" + synth.BobPassword + "\n",
		"nt.keys": "CONTOSO\\bob:nt:" + hex.EncodeToString(nt[:]) + "\n",
		// bad lines holding secrets, and a wrong key
		"bad.keys": "CONTOSO\\bob " + synth.BobPassword + "\nCONTOSO\\bob:nt:" + hex.EncodeToString(nt[:8]) + "\nCONTOSO\\ivan:" + synth.BobPassword + "x\n",
	}
	secrets := []string{synth.BobPassword, hex.EncodeToString(nt[:]), strings.ToUpper(hex.EncodeToString(nt[:])), hex.EncodeToString(nt[:8]), string(nt[:])}
	for name, content := range files {
		kf := filepath.Join(dir, name)
		if err := os.WriteFile(kf, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		store := &keys.Store{}
		store.LoadKeysFile(kf)
		for _, args := range [][]string{
			{"calls", "--format", "jsonl"}, {"calls", "--format", "csv"}, {"calls"},
			{"analyze", "--format", "json"}, {"analyze"}, {"sessions"}, {"sessions", "--format", "jsonl"},
		} {
			args = append(append(args, "--keys", kf), sealedPcap)
			out, errOut, _ := nspicap(t, args...)
			all := out + errOut
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("%s %v: key material printed", name, args)
				}
			}
			if store.Contains([]byte(all)) {
				t.Errorf("%s %v: a key of the store is in the output", name, args)
			}
		}
	}
}

// TestSealedTshark: tshark, given bob's password, decrypts the same NSPI
// opnums and statuses as nspicap given the keys file (TestTshark runs the
// same comparison on every capture; this one says so by name).
func TestSealedTshark(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	m := loadManifest(t, "sealed-ntlm.pcap")
	reqs, status := tsharkNSPI(t, sealedPcap, m.TsharkArgs)
	got, _ := runPipeline(t, sealedPcap)
	ours := decodedStatuses(got)
	decrypted := 0
	for _, w := range m.NSPI {
		if w.Sealed != "key" || !w.TsharkStatus {
			continue
		}
		decrypted++
		if status[w.ReplyFrame] != w.StatusHex || ours[w.ReplyFrame] != w.StatusHex {
			t.Errorf("frame %d %s: tshark %q, nspicap %q, want %s", w.ReplyFrame, w.Op, status[w.ReplyFrame], ours[w.ReplyFrame], w.StatusHex)
		}
		if reqs[w.RequestFrame] != int(w.Opnum) {
			t.Errorf("frame %d: tshark opnum %d, want %d", w.RequestFrame, reqs[w.RequestFrame], w.Opnum)
		}
	}
	if decrypted < 5 {
		t.Errorf("only %d decrypted statuses compared", decrypted)
	}
}

// decodedStatuses maps the frame that completed each answer to the MAPI
// status nspicap decoded there (inferred outcomes left out).
func decodedStatuses(got *collect) map[int]string {
	ours := map[int]string{}
	for _, c := range got.calls {
		if c.Raw.Response != nil && c.Row.Status != nil && !c.Row.StatusInferred {
			ours[int(c.Raw.Response.LastPos.Frame)] = *c.Row.Status
		}
	}
	return ours
}

// TestSealedFindingsLabelled: a logon_failed finding made of sealed binds
// whose outcome was inferred says so in its message, in status_inferred and
// in the verdict; one made of decoded binds does not.
func TestSealedFindingsLabelled(t *testing.T) {
	m := loadManifest(t, "sealed-ntlm.pcap")
	out, errOut, code := nspicap(t, "analyze", "-f", "json", "--keys", filepath.Join(testdataDir, m.KeysFile), sealedPcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r analyze.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if f.Kind != analyze.KindLogonFailed {
			continue
		}
		user := string(f.User)
		seen[user] = true
		inferred := user == `CONTOSO\ivan` // the user without a key
		if f.StatusInferred != inferred || strings.Contains(f.Message, "Inferred, not decoded") != inferred {
			t.Errorf("%s: status_inferred %v, message %q; want inferred %v", user, f.StatusInferred, f.Message, inferred)
		}
	}
	if !seen[`CONTOSO\ivan`] || !seen[`CONTOSO\bob`] {
		t.Fatalf("logon_failed findings for %v; want bob (decoded) and ivan (inferred)", seen)
	}
	labelled := 0
	for _, v := range r.Verdict {
		if strings.HasSuffix(v, "(inferred from sealed binds, not decoded).") {
			labelled++
			if !strings.HasPrefix(v, `CONTOSO\ivan`) {
				t.Errorf("verdict sentence labelled inferred: %q", v)
			}
		}
	}
	if labelled != 1 {
		t.Errorf("%d verdict sentences labelled inferred; want ivan's: %q", labelled, r.Verdict)
	}
}
