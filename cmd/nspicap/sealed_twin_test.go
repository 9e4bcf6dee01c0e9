package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/ntlmssp"
)

// twinReport is the part of `analyze --format json` that must not depend on
// whether the traffic was sealed, given the keys for every identity.
//
// Compared: verdict (every line), totals, users and clients (every counter,
// binds_inferred included, which must be 0 on both sides), refusals (server,
// client, user, auth, anonymous, ordinal, held, held_before_capture, cause)
// and findings (kind, severity, server, user, client, count, message).
//
// Ignored, because the two captures legitimately differ there or because
// they are not verdicts or counts: frame numbers (refusals' frame and
// reply_frame, findings' frames), times (refusals' time), inputs (file
// name, packet count, times), sessions and timeline (per-session handles,
// frames and times; their counts are in totals/users/clients), anomalies
// (decoding notes), and auth_level, which only calls carry (calls, not
// analyze, show it: privacy on one side, connect on the other).
type twinReport struct {
	Verdict  []string         `json:"verdict"`
	Totals   map[string]any   `json:"totals"`
	Users    []map[string]any `json:"users"`
	Clients  []map[string]any `json:"clients"`
	Refusals []twinRefusal    `json:"refusals"`
	Findings []twinFinding    `json:"findings"`
}

type twinRefusal struct {
	Server            string  `json:"server"`
	Client            string  `json:"client"`
	User              *string `json:"user"`
	Auth              string  `json:"auth"`
	Anonymous         bool    `json:"anonymous"`
	Ordinal           int     `json:"ordinal"`
	Held              int     `json:"held"`
	HeldBeforeCapture int     `json:"held_before_capture"`
	Cause             string  `json:"cause"`
}

type twinFinding struct {
	Kind     string  `json:"kind"`
	Severity string  `json:"severity"`
	Server   string  `json:"server"`
	User     *string `json:"user"`
	Client   string  `json:"client"`
	Count    int     `json:"count"`
	Message  string  `json:"message"`
}

// privateCopy copies a keys file of testdata to a mode-0600 file (git does
// not keep the mode, and nspicap warns about readable keys files).
func privateCopy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func twinAnalyze(t *testing.T, args ...string) twinReport {
	t.Helper()
	args = append([]string{"analyze", "--format", "json"}, args...)
	out, errOut, code := nspicap(t, args...)
	if code != 0 {
		t.Fatalf("nspicap %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	var r twinReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("nspicap %s: %v", strings.Join(args, " "), err)
	}
	// The twins are two files: the frame that named a user is compared
	// by number.
	for _, u := range r.Users {
		if f, ok := u["identity_frame"].(map[string]any); ok {
			delete(f, "file")
		}
	}
	return r
}

// sameAnalysis reports every compared part of twinReport that differs.
func sameAnalysis(t *testing.T, gotName, wantName string, got, want twinReport) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"verdict", got.Verdict, want.Verdict},
		{"totals", got.Totals, want.Totals},
		{"users", got.Users, want.Users},
		{"clients", got.Clients, want.Clients},
		{"refusals", got.Refusals, want.Refusals},
		{"findings", got.Findings, want.Findings},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			g, _ := json.MarshalIndent(c.got, "", " ")
			w, _ := json.MarshalIndent(c.want, "", " ")
			t.Errorf("%s differs between %s and %s:\n%s %s\n%s %s", c.name, gotName, wantName, gotName, g, wantName, w)
		}
	}
}

// TestSealedTwin is the "done when": with the keys of every
// identity, analyze gives on sealed-ntlm.pcap the same verdicts and counts
// as on its unsealed twin sealed-ntlm-clear.pcap (same conversations,
// handles and frame layout at auth level connect). sealed-ntlm.keys lacks
// ivan's key on purpose, so the comparison uses sealed-ntlm-all.keys.
func TestSealedTwin(t *testing.T) {
	kf := privateCopy(t, "sealed-ntlm-all.keys")
	_, errOut, _ := nspicap(t, "analyze", "--keys", kf, sealedPcap)
	if errOut != "" {
		t.Errorf("warnings with every key given:\n%s", errOut)
	}
	sealed := twinAnalyze(t, "--keys", kf, sealedPcap)
	clear := twinAnalyze(t, filepath.Join(testdataDir, "sealed-ntlm-clear.pcap"))
	if len(clear.Verdict) == 0 || len(clear.Users) != 2 || len(clear.Refusals) != 2 || len(clear.Findings) == 0 {
		t.Fatalf("the clear twin reports too little to compare: %+v", clear)
	}
	sameAnalysis(t, "the sealed capture with keys", "the clear twin", sealed, clear)
	if v, _ := sealed.Totals["binds_inferred"].(float64); v != 0 {
		t.Errorf("binds inferred with every key given: %v", sealed.Totals)
	}

	// With bob's key only, bob's rows still match the clear twin.
	partial := twinAnalyze(t, "--keys", filepath.Join(testdataDir, "sealed-ntlm.keys"), sealedPcap)
	for _, u := range partial.Users {
		if u["user"] != `CONTOSO\bob` {
			continue
		}
		for _, w := range clear.Users {
			if w["user"] == u["user"] && !reflect.DeepEqual(u, w) {
				t.Errorf("bob with his key: %v, clear twin: %v", u, w)
			}
		}
	}
}

// TestSealedNTLMv1 decrypts sealed-ntlmv1.pcap (NTLMv1 with extended
// session security: 24-byte NT responses, ESS, KEY_EXCH) end to end and
// checks it gives the statuses of its manifest, the analysis of the NTLMv2
// capture of the same conversations, and, when tshark is installed, the
// same decrypted statuses as tshark given bob's password.
func TestSealedNTLMv1(t *testing.T) {
	t.Parallel()
	const v1 = testdataDir + "/sealed-ntlmv1.pcap"
	raw, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	auths := 0
	for b := raw; ; {
		m := ntlmssp.Find(b)
		if m == nil {
			break
		}
		b = m[8:]
		msg, err := ntlmssp.Parse(m)
		if err != nil || msg.Type != ntlmssp.TypeAuthenticate {
			continue
		}
		auths++
		if msg.NtLen != 24 || msg.LmLen != 24 || msg.Flags&ntlmssp.FlagESS == 0 || msg.Flags&ntlmssp.FlagKeyExch == 0 {
			t.Errorf("AUTHENTICATE of %s: nt %d lm %d flags %#x, want NTLMv1-ESS with KEY_EXCH", msg.User, msg.NtLen, msg.LmLen, msg.Flags)
		}
	}
	if auths != 4 {
		t.Errorf("%d AUTHENTICATE messages, want 4", auths)
	}

	m := loadManifest(t, "sealed-ntlmv1.pcap")
	kf := privateCopy(t, m.KeysFile)
	out, errOut, code := nspicap(t, "calls", "--format", "jsonl", "--keys", kf, v1)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if errOut != `nspicap: warning: no key for CONTOSO\ivan: 13 calls stay sealed`+"\n" {
		t.Errorf("warnings:\n%s", errOut)
	}
	got := sealedCallLines(t, out)
	decrypted := 0
	for _, w := range m.NSPI {
		if w.Sealed != "key" {
			continue
		}
		c, ok := got[int64(w.RequestFrame)]
		if !ok && w.RequestFragments > 1 {
			continue // listed by its first frame; TestManifest checks it
		}
		if !ok || c.Sealed || c.StatusInferred || c.Status == nil || *c.Status != w.StatusHex {
			t.Errorf("frame %d %s: %+v, want decrypted %s", w.RequestFrame, w.Op, c, w.StatusHex)
			continue
		}
		decrypted++
	}
	if n := strings.Count(out, `"sealed":false`); n != 9 || decrypted < 6 {
		t.Errorf("%d calls decrypted (%d checked), want bob's 9", n, decrypted)
	}
	// The same conversations over NTLMv2 give the same analysis.
	sameAnalysis(t, "NTLMv1-ESS", "NTLMv2",
		twinAnalyze(t, "--keys", kf, v1),
		twinAnalyze(t, "--keys", filepath.Join(testdataDir, "sealed-ntlm.keys"), sealedPcap))
	// A wrong password is caught by the NT response check or the signature.
	wrong := filepath.Join(t.TempDir(), "wrong.keys")
	os.WriteFile(wrong, []byte(`CONTOSO\bob:wrong`+"\n"), 0o600)
	out, errOut, _ = nspicap(t, "calls", "--format", "jsonl", "--keys", wrong, v1)
	if !strings.Contains(errOut, `the key for CONTOSO\bob does not match`) || strings.Contains(out, `"sealed":false`) {
		t.Errorf("wrong key: %s", errOut)
	}

	if _, err := exec.LookPath("tshark"); err != nil {
		return
	}
	_, status := tsharkNSPI(t, v1, m.TsharkArgs)
	compared := 0
	for _, w := range m.NSPI {
		if w.Sealed != "key" || !w.TsharkStatus {
			continue
		}
		compared++
		if status[w.ReplyFrame] != w.StatusHex {
			t.Errorf("frame %d %s: tshark %q, want %s", w.ReplyFrame, w.Op, status[w.ReplyFrame], w.StatusHex)
		}
	}
	if compared < 5 {
		t.Errorf("only %d tshark statuses compared", compared)
	}
}
