package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/pipeline"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/internal/testutil"
)

// Kerberos-sealed captures are checked here with their keytab (manifest
// keytab_file). TestGolden, TestManifest and TestTshark read every capture
// with its keys file only, so they see these captures as a user without
// the keytab would: no user, sealed calls, inferred bind outcomes.

// krbCaptures are the generated captures whose manifest names a keytab.
var krbCaptures = []string{"sealed-krb-aes.pcap", "sealed-krb-aes-clear.pcap", "sealed-krb-rc4.pcap"}

// keytabGoldens are the captures TestGoldenKerberos reads with their
// keytab: krbCaptures, and kerberos-pac.pcap, whose PACs only the keytab
// reads (its NTLM calls are outside TestKerberosManifest's premise).
var keytabGoldens = append(append([]string(nil), krbCaptures...), "kerberos-pac.pcap")

const (
	krbAES      = testdataDir + "/sealed-krb-aes.pcap"
	krbAESClear = testdataDir + "/sealed-krb-aes-clear.pcap"
	krbRC4      = testdataDir + "/sealed-krb-rc4.pcap"
)

// keytabOf returns the path of a capture's keytab (relative to the
// current directory, as testdataDir is).
func keytabOf(t *testing.T, capture string) string {
	t.Helper()
	m := loadManifest(t, filepath.Base(capture))
	if m.KeytabFile == "" {
		t.Fatalf("the manifest of %s names no keytab", capture)
	}
	return filepath.Join(testdataDir, m.KeytabFile)
}

func keytabStore(t *testing.T, path string) *keys.Store {
	t.Helper()
	s := &keys.Store{}
	if err := s.LoadKeytab(path); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGoldenKerberos is TestGolden for the Kerberos captures read with their
// keytab (golden files <capture>.keytab.<output>; go test -update rewrites
// them).
func TestGoldenKerberos(t *testing.T) {
	keytabs := map[string]string{}
	for _, f := range keytabGoldens {
		keytabs[f] = loadManifest(t, f).KeytabFile
	}
	t.Chdir(testdataDir)
	for _, f := range keytabGoldens {
		kt := keytabs[f]
		for _, c := range []struct {
			suffix string
			args   []string
		}{
			{"calls.jsonl", []string{"calls", "--format", "jsonl"}},
			{"analyze.json", []string{"analyze", "--format", "json"}},
			{"analyze.txt", []string{"analyze"}},
			{"sessions.txt", []string{"sessions"}},
		} {
			args := append(append(c.args, "--keytab", kt), f)
			out, errOut, code := nspicap(t, args...)
			if code != 0 {
				t.Errorf("%s: exit %d: %s", strings.Join(args, " "), code, errOut)
				continue
			}
			golden := filepath.Join("golden", f+".keytab."+c.suffix)
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Errorf("%v (run go test ./cmd/nspicap -run TestGolden -update)", err)
				continue
			}
			if out != string(want) {
				t.Errorf("nspicap %s differs from %s:\n%s", strings.Join(args, " "), golden, testutil.FirstDiff(string(want), out))
			}
		}
	}
}

// TestKerberosManifest is TestManifest with the keytab: every call whose
// manifest entry has a principal is named with it and, sealed or not,
// gives the manifest's status, fault and handle; the others stay sealed,
// with no status but an inferred NspiBind outcome.
func TestKerberosManifest(t *testing.T) {
	for _, f := range krbCaptures {
		t.Run(f, func(t *testing.T) {
			m := loadManifest(t, f)
			path := filepath.Join(testdataDir, f)
			got := &collect{}
			res := pipeline.Run([]string{path}, pipeline.Options{Rows: true, Keys: keytabStore(t, keytabOf(t, f))}, got)
			if in := res.Inputs[0]; in.Err != nil {
				t.Fatal(in.Err)
			}
			byFrame := map[int]*pipeline.Call{}
			for _, c := range got.calls {
				if c.Event != nil {
					byFrame[lastReqFrame(c)] = c
				}
			}
			named, sealed := 0, 0
			for _, w := range m.NSPI {
				c := byFrame[w.RequestFrame]
				if c == nil {
					t.Errorf("no NSPI call completed in frame %d (%s)", w.RequestFrame, w.Op)
					continue
				}
				row := c.Row
				if row.Opnum != w.Opnum || row.AuthLevel != map[bool]string{true: "privacy", false: "connect"}[w.Sealed != ""] {
					t.Errorf("frame %d: op %d level %s, want %d (sealed %q)", w.RequestFrame, row.Opnum, row.AuthLevel, w.Opnum, w.Sealed)
				}
				if w.Principal == "" {
					sealed++
					if row.User != nil || !row.Sealed || row.Decrypted || row.Status != nil && (!row.StatusInferred || w.Op != "NspiBind") {
						t.Errorf("frame %d: user %v sealed %v status %v: the keytab cannot decrypt this ticket", w.RequestFrame, str(row.User), row.Sealed, str(row.Status))
					}
					if w.Op == "NspiBind" && (row.Status == nil || *row.Status != w.StatusHex) {
						t.Errorf("frame %d: NspiBind inferred %v, want %s", w.RequestFrame, str(row.Status), w.StatusHex)
					}
					continue
				}
				named++
				if row.User == nil || *row.User != w.Principal {
					t.Errorf("frame %d: user %v, want %s", w.RequestFrame, str(row.User), w.Principal)
				}
				if row.Sealed || row.StatusInferred || row.Decrypted != (w.Sealed != "") {
					t.Errorf("frame %d: sealed %v decrypted %v inferred %v", w.RequestFrame, row.Sealed, row.Decrypted, row.StatusInferred)
				}
				switch w.Reply {
				case "response":
					if row.Status == nil || *row.Status != w.StatusHex {
						t.Errorf("frame %d %s: status %v, want %s", w.RequestFrame, w.Op, str(row.Status), w.StatusHex)
					}
					if r := c.Raw.Response; r == nil || int(r.LastPos.Frame) != w.ReplyFrame {
						t.Errorf("frame %d: reply completes in frame %v, want %d", w.RequestFrame, r, w.ReplyFrame)
					}
				case "fault":
					if row.Fault == nil || *row.Fault != w.StatusHex {
						t.Errorf("frame %d: fault %v, want %s", w.RequestFrame, str(row.Fault), w.StatusHex)
					}
				}
				if w.Op == "NspiBind" && w.Status == 0 && (!c.Event.HasHandle || fmt.Sprintf("%x", c.Event.Handle) != w.Handle) {
					t.Errorf("frame %d: handle %x, want %s", w.RequestFrame, c.Event.Handle, w.Handle)
				}
			}
			if named < 8 {
				t.Errorf("only %d calls named by the keytab (%d not)", named, sealed)
			}
		})
	}
}

// TestKerberosTwin is the "done when" for Kerberos: with the
// keytab, analyze gives on sealed-krb-aes.pcap (RFC 4121 wrap tokens, AES)
// the same verdicts and counts as on its unsealed twin, without a warning.
func TestKerberosTwin(t *testing.T) {
	kt := keytabOf(t, krbAES)
	if _, errOut, _ := nspicap(t, "analyze", "--keytab", kt, krbAES); errOut != "" {
		t.Errorf("warnings with the keytab given:\n%s", errOut)
	}
	sealed := twinAnalyze(t, "--keytab", kt, krbAES)
	clear := twinAnalyze(t, "--keytab", kt, krbAESClear)
	if len(clear.Verdict) == 0 || len(clear.Users) != 3 || len(clear.Refusals) != 2 || len(clear.Findings) == 0 {
		t.Fatalf("the clear twin reports too little to compare: %+v", clear)
	}
	for _, u := range clear.Users {
		if s, _ := u["user"].(string); !strings.HasSuffix(s, "@"+synth.KrbRealm) {
			t.Errorf("clear twin: user %v not named by the ticket", u["user"])
		}
	}
	sameAnalysis(t, "the sealed Kerberos capture with the keytab", "the clear twin", sealed, clear)
	if v, _ := sealed.Totals["binds_inferred"].(float64); v != 0 {
		t.Errorf("binds inferred with the keytab given: %v", sealed.Totals)
	}
	// Without the keytab the same capture gives honest, labelled
	// inferences: every bind outcome inferred, nobody named, each ticket
	// one account (alice's, bob's two, erin's: the generator gives every
	// bind a ticket of its own but erin's second bind, on the same
	// security context).
	none := twinAnalyze(t, krbAES)
	if v, _ := none.Totals["binds_inferred"].(float64); v != 5 || len(none.Users) != 4 {
		t.Errorf("without the keytab: totals %v users %v", none.Totals, none.Users)
	}
	for _, u := range none.Users {
		if tk, _ := u["ticket"].(string); u["user"] != nil || !strings.HasPrefix(tk, synth.KrbSvc.Principal+"#") {
			t.Errorf("without the keytab: row %v", u)
		}
	}
}

// TestKerberosWarnings: the documented warnings, once each: no keytab,
// a keytab whose key does not decrypt the tickets (frank's old kvno in
// sealed-krb-rc4.pcap; a keytab made from another password), and nothing
// decoded from a stub that was not decrypted.
func TestKerberosWarnings(t *testing.T) {
	const noKeytab = "nspicap: warning: 16 calls stay sealed under Kerberos without a known user: a keytab with the service key (--keytab) names the user\n"
	if _, errOut, _ := nspicap(t, "calls", krbAES); errOut != noKeytab {
		t.Errorf("without a keytab:\n%s", errOut)
	}
	const oldKvno = "nspicap: warning: 5 calls stay sealed under Kerberos: the keytab names their service but its keys do not decrypt their tickets (a wrong or outdated key: compare the tickets' kvno with the keytab's)\n"
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", "--keytab", keytabOf(t, krbRC4), krbRC4)
	if code != 0 || errOut != oldKvno {
		t.Errorf("exit %d, warnings:\n%s", code, errOut)
	}
	if n := strings.Count(out, `"decrypted":true`); n != 8 {
		t.Errorf("%d calls decrypted, want dave's and grace's 8", n)
	}

	wrong := synth.KrbSvc
	wrong.Password = "not the exchangeAB service's password"
	b, err := synth.KeytabBytes(wrong)
	if err != nil {
		t.Fatal(err)
	}
	kt := filepath.Join(t.TempDir(), "wrong.keytab")
	if err := os.WriteFile(kt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{krbAES, krbRC4} {
		out, errOut, _ := nspicap(t, "calls", "--format", "jsonl", "--keytab", kt, f)
		if strings.Count(errOut, "nspicap: warning: ") != 1 || !strings.Contains(errOut, "the keytab names their service but its keys do not decrypt their tickets") {
			t.Errorf("%s with a wrong keytab:\n%s", f, errOut)
		}
		for _, c := range sealedCallLines(t, out) {
			if !c.Sealed || c.User != nil || c.Status != nil && !c.StatusInferred {
				t.Errorf("%s frame %d: decoded with a wrong key (user %v, status %s)", f, c.Frame, str(c.User), str(c.Status))
			}
		}
	}
}

// TestKerberosKeyNeverPrinted runs every command in every format with the
// keytabs (and a wrong one) and looks for their keys, in hex or raw, and
// the synthetic service password in every output.
func TestKerberosKeyNeverPrinted(t *testing.T) {
	wrong := synth.KrbSvc
	wrong.Password = "a wrong synthetic password"
	b, err := synth.KeytabBytes(wrong)
	if err != nil {
		t.Fatal(err)
	}
	wrongKt := filepath.Join(t.TempDir(), "wrong.keytab")
	if err := os.WriteFile(wrongKt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ capture, keytab string }{
		{krbAES, keytabOf(t, krbAES)}, {krbAESClear, keytabOf(t, krbAES)}, {krbRC4, keytabOf(t, krbRC4)}, {krbAES, wrongKt},
	} {
		store := keytabStore(t, c.keytab)
		if store.Empty() {
			t.Fatal("empty keytab")
		}
		secrets := []string{synth.KrbSvc.Password, wrong.Password}
		for _, args := range [][]string{
			{"calls", "--format", "jsonl"}, {"calls", "--format", "csv"}, {"calls"},
			{"analyze", "--format", "json"}, {"analyze"}, {"sessions"}, {"sessions", "--format", "jsonl"},
		} {
			args = append(append(args, "--keytab", c.keytab), c.capture)
			out, errOut, _ := nspicap(t, args...)
			all := out + errOut
			if store.Contains([]byte(all)) {
				t.Errorf("%v: a key of the keytab is in the output", args)
			}
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(all), strings.ToLower(s)) {
					t.Errorf("%v: key material printed", args)
				}
			}
		}
	}
	// A damaged keytab is named, never quoted.
	raw, _ := os.ReadFile(keytabOf(t, krbAES))
	store := keytabStore(t, keytabOf(t, krbAES))
	for _, n := range []int{7, 40, len(raw) / 2} {
		cut := filepath.Join(t.TempDir(), "cut.keytab")
		os.WriteFile(cut, raw[:len(raw)-n], 0o600)
		out, errOut, code := nspicap(t, "calls", "--keytab", cut, krbAES)
		if code == exitUsage && !strings.Contains(errOut, "cut.keytab") || store.Contains([]byte(out+errOut)) ||
			strings.Contains(errOut, hex.EncodeToString(raw[len(raw)-n-8:len(raw)-n])) {
			t.Errorf("keytab cut by %d bytes: exit %d: %s", n, code, errOut)
		}
	}
}

// TestKerberosTshark cross-checks the Kerberos decryption with tshark's own
// (Wireshark 4.0 built with MIT Kerberos decrypts DCE/RPC Kerberos stubs,
// AES with header signing and RC4-HMAC, given -o kerberos.decrypt:TRUE -o
// kerberos.file:KEYTAB): the NSPI opnum of every request and the MAPI
// status of every response tshark decrypts are the manifest's and
// nspicap's. The options are the manifest's tshark_keytab_args, not its
// tshark_args: TestTshark reads captures without the keytab.
func TestKerberosTshark(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed")
	}
	for _, f := range []string{"sealed-krb-aes.pcap", "sealed-krb-rc4.pcap"} {
		t.Run(f, func(t *testing.T) {
			m := loadManifest(t, f)
			if len(m.TsharkKeytabArgs) == 0 {
				t.Fatal("no tshark_keytab_args in the manifest")
			}
			var args []string
			for _, a := range m.TsharkKeytabArgs {
				if k, v, ok := strings.Cut(a, "kerberos.file:"); ok && k == "" {
					a = "kerberos.file:" + filepath.Join(absTestdata, v)
				}
				args = append(args, a)
			}
			path := filepath.Join(testdataDir, f)
			reqs, status := tsharkNSPI(t, path, args)
			got := &collect{}
			pipeline.Run([]string{path}, pipeline.Options{Rows: true, Keys: keytabStore(t, keytabOf(t, f))}, got)
			ours := decodedStatuses(got)
			compared := 0
			for _, w := range m.NSPI {
				if reqs[w.RequestFrame] != int(w.Opnum) {
					t.Errorf("frame %d: tshark opnum %d, want %d", w.RequestFrame, reqs[w.RequestFrame], w.Opnum)
				}
				switch {
				case w.Principal == "":
					// Neither decrypts a ticket the keytab has no key for.
					if status[w.ReplyFrame] != "" || ours[w.ReplyFrame] != "" {
						t.Errorf("frame %d: decrypted without the key: tshark %q, nspicap %q", w.ReplyFrame, status[w.ReplyFrame], ours[w.ReplyFrame])
					}
				case w.TsharkStatus:
					compared++
					if status[w.ReplyFrame] != w.StatusHex || ours[w.ReplyFrame] != w.StatusHex {
						t.Errorf("frame %d %s: tshark %q, nspicap %q, want %s", w.ReplyFrame, w.Op, status[w.ReplyFrame], ours[w.ReplyFrame], w.StatusHex)
					}
				}
			}
			if compared < 6 {
				t.Errorf("only %d decrypted statuses compared with tshark", compared)
			}
			t.Logf("%d NSPI requests and %d decrypted statuses agree with tshark", len(reqs), compared)
		})
	}
}
