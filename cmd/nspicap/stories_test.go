package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/nspicap/nspicap/analyze"
)

func analyzeJSON(t *testing.T, capture string, extra ...string) *analyze.Report {
	t.Helper()
	args := append([]string{"analyze", "--format", "json"}, extra...)
	out, errOut, code := nspicap(t, append(args, filepath.Join(testdataDir, capture))...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r analyze.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestLeakToLimitStory: the service account that binds 60 times without
// unbinding, refused from the 51st bind on, gets session_limit and leak
// findings; nobody else gets any error or warning.
func TestLeakToLimitStory(t *testing.T) {
	r := analyzeJSON(t, "leak-to-limit.pcap")
	kinds := map[string]bool{}
	for _, f := range r.Findings {
		if f.Severity == "info" {
			continue
		}
		if string(f.User) != `CONTOSO\svc-crm` {
			t.Errorf("finding %s for %q, want only CONTOSO\\svc-crm", f.Kind, f.User)
		}
		kinds[f.Kind] = true
		if len(f.Frames) == 0 {
			t.Errorf("finding %s has no frames", f.Kind)
		}
	}
	if !kinds["session_limit"] || !kinds["leak"] {
		t.Errorf("findings %v, want session_limit and leak", kinds)
	}
	var svc *analyze.UserRow
	for i := range r.Users {
		if r.Users[i].User == `CONTOSO\svc-crm` {
			svc = &r.Users[i]
		}
	}
	if svc == nil || svc.Binds != 60 || svc.BindsOK != 50 || svc.BindsLogonFailed != 10 || svc.Unbinds != 0 || svc.PeakConcurrent != 50 || svc.OpenAtEnd != 50 {
		t.Errorf("svc-crm counters %+v", svc)
	}
	for _, ref := range r.Refusals {
		if ref.Cause != "session_limit" || ref.Held != 50 || ref.Ordinal < 51 {
			t.Errorf("refusal %+v", ref)
		}
	}
	if len(r.Refusals) != 10 {
		t.Errorf("%d refusals, want 10", len(r.Refusals))
	}
	// With a higher limit the same refusals are no longer at the limit.
	r = analyzeJSON(t, "leak-to-limit.pcap", "--limit", "500")
	for _, ref := range r.Refusals {
		if ref.Cause == "session_limit" && ref.Held >= 400 {
			t.Errorf("refusal at %d held classified as the limit of 500", ref.Held)
		}
	}
}

// TestOutlookStory: Outlook's unauthenticated first bind is refused; that is
// classified anonymous and raises no error or warning.
func TestOutlookStory(t *testing.T) {
	r := analyzeJSON(t, "outlook-anon-first.pcap")
	if len(r.Refusals) != 1 || r.Refusals[0].Cause != "anonymous" || !r.Refusals[0].Anonymous {
		t.Fatalf("refusals %+v", r.Refusals)
	}
	for _, f := range r.Findings {
		if f.Severity != "info" {
			t.Errorf("finding %s %s: %s", f.Severity, f.Kind, f.Message)
		}
	}
	if r.Totals.BindsOK != 1 || r.Totals.Unbinds != 1 {
		t.Errorf("totals %+v", r.Totals)
	}
}

// TestConnCloseStory: sessions ended by FIN and RST without NspiUnbind are
// connection_closed; the unbind on another connection of the association
// group ends erin's session.
func TestConnCloseStory(t *testing.T) {
	r := analyzeJSON(t, "conn-close.pcap")
	ends := map[string][]string{}
	for _, s := range r.Sessions {
		ends[string(s.User)] = append(ends[string(s.User)], s.End)
	}
	if e := ends[`CONTOSO\bob`]; len(e) != 1 || e[0] != "connection_closed" {
		t.Errorf("bob: %v", e)
	}
	if e := ends[`CONTOSO\erin`]; len(e) != 1 || e[0] != "unbind" {
		t.Errorf("erin: %v", e)
	}
	if e := ends[`CONTOSO\alice`]; len(e) != 2 || e[0] != "connection_closed" || e[1] != "unbind" {
		t.Errorf("alice: %v", e)
	}
}
