package analyze

import (
	"strings"
	"testing"
)

func inferredBind(ev *NSPICall) { ev.Quality, ev.Sealed = ev.Quality|StatusInferred, true }

// TestInferredLabelled: findings that rest on sealed binds whose outcome was
// inferred say so (status_inferred, a sentence in the message, a mark in
// the verdict); those on decoded binds do not.
func TestInferredLabelled(t *testing.T) {
	g := newGen()
	// carol leaks 6 sessions whose binds were inferred accepted, then is
	// refused (inferred) twice below the limit; dave leaks 6 decoded ones.
	for i := range 6 {
		g.ok(1, cl1, srv1, `CONTOSO\carol`, 100+i, inferredBind)
		g.ok(2, cl2, srv1, `CONTOSO\dave`, 200+i)
	}
	g.refused(1, cl1, srv1, `CONTOSO\carol`, inferredBind)
	g.refused(1, cl1, srv1, `CONTOSO\carol`, inferredBind)
	r := g.report(50)
	for _, f := range r.Findings {
		if f.Kind != KindLeak && f.Kind != KindLogonFailed {
			continue
		}
		inferred := f.User == `CONTOSO\carol`
		if f.StatusInferred != inferred || strings.Contains(f.Message, "Inferred, not decoded") != inferred {
			t.Errorf("%s %s: status_inferred %v; want %v: %s", f.Kind, f.User, f.StatusInferred, inferred, f.Message)
		}
	}
	if len(findings(r, KindLeak)) != 2 || len(findings(r, KindLogonFailed)) != 1 {
		t.Fatalf("findings %+v; want two leaks and carol's logon_failed", r.Findings)
	}
	labelled := 0
	for _, v := range r.Verdict {
		carol, mark := strings.HasPrefix(v, `CONTOSO\carol`), strings.HasSuffix(v, "(inferred from sealed binds, not decoded).")
		if carol != mark {
			t.Errorf("verdict sentence %q: labelled inferred iff it is carol's", v)
		}
		if mark {
			labelled++
		}
	}
	if labelled == 0 {
		t.Errorf("no verdict sentence for carol: %q", r.Verdict)
	}
}
