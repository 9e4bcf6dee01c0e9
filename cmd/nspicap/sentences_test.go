package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/internal/testutil"
)

// TestSentenceRules reads every sentence of the verdict, every finding
// message and every anomaly message of every sample capture (with and
// without its keys or keytab), and of the scenarios below, and checks that none
// contradicts the report or itself: testutil.SentenceProblems (no sentence
// twice, no "only 0", agreement after "1", no "No ... problems found"
// after problems), and the rules that need the report's data
// (reportSentenceProblems).
func TestSentenceRules(t *testing.T) {
	extra := sentenceScenarios(t)
	files := captures(t)
	keytabs := map[string]string{}
	for _, f := range krbCaptures {
		keytabs[f] = loadManifest(t, f).KeytabFile
	}
	t.Chdir(testdataDir)
	type run struct{ name, file string }
	var runs []run
	for _, f := range files {
		runs = append(runs, run{f, f})
	}
	for _, f := range extra {
		runs = append(runs, run{filepath.Base(f), f})
	}
	for _, r := range runs {
		variants := [][]string{withKeys(t, r.name, []string{"analyze", "--format", "json", r.file})}
		if len(variants[0]) > 4 {
			variants = append(variants, []string{"analyze", "--format", "json", r.file})
		}
		if kt := keytabs[r.name]; kt != "" {
			variants = append(variants, []string{"analyze", "--format", "json", "--keytab", kt, r.file})
		}
		for _, args := range variants {
			out, errOut, code := nspicap(t, args...)
			if code != 0 {
				t.Errorf("%v: exit %d: %s", args, code, errOut)
				continue
			}
			var rep analyze.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if !strings.HasPrefix(r.file, r.name) {
				t.Logf("%s: verdict %q", r.name, rep.Verdict)
			}
			for _, p := range reportSentenceProblems(&rep) {
				t.Errorf("%v: %s", args, p)
			}
		}
	}
}

// reportSentenceProblems applies the sentence rules to a report: those of
// testutil.SentenceProblems, no rate per hour for a leak over less than 5
// minutes (from its first bind to the end of the capture), and no "could
// not log on" for a user whose later bind succeeded.
func reportSentenceProblems(r *analyze.Report) []string {
	problems := false
	var msgs []string
	for _, f := range r.Findings {
		msgs = append(msgs, f.Message)
		if f.Severity != analyze.SevInfo {
			problems = true
		}
	}
	for _, a := range r.Anomalies {
		msgs = append(msgs, a.Message)
	}
	out := testutil.SentenceProblems(r.Verdict, msgs, problems)

	var end time.Time
	for _, in := range r.Inputs {
		if in.LastTime.After(end) {
			end = in.LastTime
		}
	}
	firstBind := func(server, user string) time.Time {
		var t time.Time
		for _, s := range r.Sessions {
			if s.Server == server && strings.EqualFold(string(s.User), user) && (t.IsZero() || s.BindTime.Before(t)) {
				t = s.BindTime
			}
		}
		return t
	}
	for _, f := range r.Findings {
		if f.Kind != analyze.KindLeak || f.User == "" {
			continue
		}
		t0 := firstBind(string(f.Server), string(f.User))
		if t0.IsZero() || end.Sub(t0) >= 5*time.Minute {
			continue
		}
		if f.RatePerHour != 0 || f.LimitAt != nil || strings.Contains(f.Message, "sessions per hour") {
			out = append(out, fmt.Sprintf("leak of %s over %s given a rate per hour: %q", f.User, end.Sub(t0), f.Message))
		}
		for _, v := range r.Verdict {
			if strings.Contains(v, string(f.User)) && strings.Contains(v, "/hour") {
				out = append(out, fmt.Sprintf("verdict: leak of %s over %s given a rate per hour: %q", f.User, end.Sub(t0), v))
			}
		}
	}
	// Nor does a logon_failed finding tell to check the account of a user
	// who bound successfully after its last refusal.
	for _, f := range r.Findings {
		if f.Kind != analyze.KindLogonFailed || f.User == "" || !strings.Contains(f.Message, "Check the account") {
			continue
		}
		var last time.Time
		for _, ref := range r.Refusals {
			if ref.User == f.User && ref.Server == string(f.Server) && ref.Cause == analyze.CauseOther && ref.Time.After(last) {
				last = ref.Time
			}
		}
		for _, s := range r.Sessions {
			if !last.IsZero() && s.User == f.User && s.Server == string(f.Server) && s.BindTime.After(last) {
				out = append(out, fmt.Sprintf("finding: %q, but %s bound at %s after its last refusal", f.Message, s.User, s.BindTime))
				break
			}
		}
	}
	// A user refused (not for the session limit) who bound successfully
	// after the last refusal did not fail to log on.
	for _, v := range r.Verdict {
		if !strings.Contains(v, "could not log on:") && !strings.Contains(v, "could not log on on ") {
			continue
		}
		for _, ref := range r.Refusals {
			if ref.Cause != analyze.CauseOther || ref.User == "" || !strings.HasPrefix(v, string(ref.User)+" ") {
				continue
			}
			last := ref.Time
			for _, r2 := range r.Refusals {
				if r2.User == ref.User && r2.Server == ref.Server && r2.Time.After(last) {
					last = r2.Time
				}
			}
			for _, s := range r.Sessions {
				if s.User == ref.User && s.Server == ref.Server && s.BindTime.After(last) {
					out = append(out, fmt.Sprintf("verdict: %q, but %s bound at %s after its last refusal", v, s.User, s.BindTime))
					break
				}
			}
			break
		}
	}
	return out
}

// sentenceScenarios writes captures the samples do not hold: a leak of
// 45 binds in 0.6 s (a burst, not a rate per hour), and a user refused
// twice from two clients who then binds from the first one.
func sentenceScenarios(t *testing.T) []string {
	dir := t.TempDir()
	write := func(name string, build func(c *synth.Capture)) string {
		c := synth.NewCapture(name)
		build(c)
		data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".pcap")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	port := uint16(50000)
	open := func(c *synth.Capture, client netip.Addr, cr synth.Creds) *synth.RPC {
		port++
		cn := c.NewConn(netip.AddrPortFrom(client, port), netip.AddrPortFrom(synth.ServerV4, synth.NSPIPort))
		cn.Open()
		r := c.NewRPC(cn, 1)
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), Auth: synth.AuthNTLM, Creds: cr, Target: synth.DC01,
			NewAssoc: 0x1234 + uint32(port), SecAddr: fmt.Sprint(synth.NSPIPort), PadByte: 0x5c})
		return r
	}
	burst := write("leak-burst", func(c *synth.Capture) {
		r := open(c, netip.MustParseAddr("192.0.2.50"), synth.SvcCRM)
		for range 45 {
			r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
			c.Advance(12 * time.Millisecond)
		}
	})
	retry := write("logon-retry", func(c *synth.Capture) {
		r1 := open(c, netip.MustParseAddr("192.0.2.31"), synth.Bob)
		r1.NspiBind(synth.BindResult{Status: synth.StatusLogonFailed, ClientGUID: &synth.UUID{}})
		r2 := open(c, netip.MustParseAddr("192.0.2.32"), synth.Bob)
		r2.NspiBind(synth.BindResult{Status: synth.StatusLogonFailed, ClientGUID: &synth.UUID{}})
		c.Advance(time.Minute)
		h := r1.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
		r1.NspiUnbind(h, synth.StatusUnbindSuccess)
		r1.C.CloseFIN(synth.C2S)
	})
	return []string{burst, retry}
}
