package analyze

import (
	"slices"
	"strings"
	"testing"
)

// cutID: a bind whose NTLM AUTHENTICATE the snap length cut, as the
// pipeline gives it: authenticated, no user, not anonymous, Cut.
func cutID(e *NSPICall) {
	e.User, e.Auth, e.AuthLevel, e.Anonymous, e.Cut = "", "ntlmssp", "connect", false, true
	e.Quality |= SnapCut
}

// TestSnapCutLeakNotAnonymous: sessions bound by users whose names the snap
// length cut and never unbound are a leak of an unidentified, authenticated
// user: never "anonymous"; the finding says the snap length cut the names
// and carries snap_cut in its evidence. Truly anonymous sessions still leak
// as anonymous.
func TestSnapCutLeakNotAnonymous(t *testing.T) {
	for _, cut := range []bool{true, false} {
		g := newGen()
		for i := 1; i <= 5; i++ {
			if cut {
				g.ok(uint64(i), cl1, srv1, "", i, cutID)
			} else {
				g.ok(uint64(i), cl1, srv1, "", i)
			}
		}
		r := g.report(50)
		leaks := findings(r, KindLeak)
		if len(leaks) != 1 {
			t.Fatalf("cut %v: leaks %+v", cut, r.Findings)
		}
		f := leaks[0]
		text := strings.Join(r.Verdict, " ") + " " + f.Message
		if anon := strings.Contains(strings.ToLower(text), "anonymous nspi sessions") || strings.Contains(f.Message, "Anonymous sessions"); anon == cut {
			t.Errorf("cut %v: said anonymous %v:\n%s", cut, anon, text)
		}
		if cut {
			if !strings.Contains(f.Message, "snap length cut the user name") || !slices.Contains(f.Evidence, "snap_cut") ||
				!strings.Contains(f.Message, "snap length cut packets behind it") {
				t.Errorf("cut: finding %+v", f)
			}
			if f.User != "" || !strings.Contains(strings.Join(r.Verdict, " "), "An unidentified user leaks NSPI sessions") {
				t.Errorf("cut: user %q, verdict %q", f.User, r.Verdict)
			}
		}
	}
}

// TestSnapCutRefusalNotAnonymous: a refused bind whose user name was cut is
// not an anonymous refusal (no "bound without credentials").
func TestSnapCutRefusalNotAnonymous(t *testing.T) {
	g := newGen()
	g.refused(1, cl1, srv1, "", cutID)
	r := g.report(50)
	for _, rf := range r.Refusals {
		if rf.Anonymous || rf.Cause == CauseAnonymous {
			t.Errorf("refusal %+v", rf)
		}
	}
	if v := strings.Join(r.Verdict, " "); strings.Contains(v, "without credentials") {
		t.Errorf("verdict %q", v)
	}
}

// TestSnapVerdict: inputs whose snap length cut calls add one verdict
// sentence that names the lengths, the calls and how to capture whole
// packets; inputs cut without calls touched, or whole, add none.
func TestSnapVerdict(t *testing.T) {
	g := newGen()
	g.ok(1, cl1, srv1, `CONTOSO\alice`, 1).unbind(1, cl1, srv1, `CONTOSO\alice`, 1)
	a := New(Options{Limit: 50})
	for _, e := range g.evs {
		a.Add(e)
	}
	for _, c := range []struct {
		ins  []Input
		want string
	}{
		{[]Input{{Path: "a"}}, ""},
		{[]Input{{Path: "a", SnapLen: 200}}, ""},
		{[]Input{{Path: "a", SnapLen: 200, CutCalls: 1}}, "snap length cut packets to 200 bytes and with them 1 DCE/RPC call:"},
		{[]Input{{Path: "a", SnapLen: 200, CutCalls: 3}, {Path: "b"}, {Path: "c", SnapLen: 96, CutCalls: 4}, {Path: "d", SnapLen: 200, CutCalls: 1}},
			"snap length cut packets to 96 and 200 bytes and with them 8 DCE/RPC calls:"},
		{[]Input{{Path: "a", SnapLen: 200, CutSMBMessages: 5}}, "snap length cut packets to 200 bytes and with them 5 SMB messages of named pipes (dropped"},
		{[]Input{{Path: "a", SnapLen: 200, CutCalls: 2, CutSMBMessages: 1}}, "with them 2 DCE/RPC calls and 1 SMB message of named pipes"},
	} {
		v := strings.Join(a.Report(c.ins).Verdict, " ")
		if c.want == "" {
			if strings.Contains(v, "snap length") {
				t.Errorf("%+v: verdict %q", c.ins, v)
			}
			continue
		}
		if !strings.Contains(v, c.want) || !strings.Contains(v, "tcpdump -s 0") || !strings.Contains(v, "packettruncatebytes") {
			t.Errorf("%+v: verdict %q, want %q", c.ins, v, c.want)
		}
	}
}

// TestNoticesAreNotAnomalies: notices (sealed calls, a short list) are kept
// with the anomalies but the verdict counts only the decoding anomalies.
func TestNoticesAreNotAnomalies(t *testing.T) {
	a := New(Options{Limit: 50})
	a.AddAnomaly(Anomaly{Kind: "sealed_not_decrypted", Count: 2, Message: "no key for X: 3 calls stay sealed", Notice: true})
	r := a.Report(nil)
	if v := strings.Join(r.Verdict, " "); strings.Contains(v, "anomalies") || len(r.Anomalies) != 1 || !r.Anomalies[0].Notice {
		t.Errorf("verdict %q, anomalies %+v", v, r.Anomalies)
	}
	a.AddAnomaly(Anomaly{Kind: "gap", Count: 3, Message: "10 bytes were not captured"})
	r = a.Report(nil)
	if v := strings.Join(r.Verdict, " "); !strings.Contains(v, "The capture had 3 decoding anomalies") {
		t.Errorf("verdict %q", v)
	}
}
