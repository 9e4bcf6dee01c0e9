package analyze

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const svc = `CONTOSO\svc-crm`

type sessWant struct {
	handle   int
	end      string
	endFrame int64 // 0: null
}

type tcase struct {
	name     string
	limit    int
	build    func(g *gen)
	users    map[string]Counters // "server|user"
	clients  map[string]Counters // "server|client"
	totals   *Counters
	sessions []sessWant
	// kinds: "kind/severity[/cause]" of every finding, in report order.
	kinds    []string
	refusals []string // "cause/held/before"
	verdict  []string // substrings of the verdict, in order
}

func TestAnalyzer(t *testing.T) {
	cases := []tcase{
		{
			name: "bind then unbind",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).use(1, cl1, srv1, svc, 1).unbind(1, cl1, srv1, svc, 1).end(1, cl1, srv1, HowFIN)
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, Unbinds: 1, OtherCalls: 1, PeakConcurrent: 1}},
			clients:  map[string]Counters{"10.0.0.1|10.0.1.5": {Binds: 1, BindsOK: 1, Unbinds: 1, OtherCalls: 1, PeakConcurrent: 1}},
			totals:   &Counters{Binds: 1, BindsOK: 1, Unbinds: 1, OtherCalls: 1, PeakConcurrent: 1},
			sessions: []sessWant{{1, EndUnbind, 5}},
			kinds:    nil,
			verdict:  []string{"No NSPI problems found."},
		},
		{
			name: "unbind on another connection of the association",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).use(2, cl1b, srv1, svc, 1).unbind(2, cl1b, srv1, svc, 1).
					end(1, cl1, srv1, HowFIN).end(2, cl1b, srv1, HowFIN)
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, Unbinds: 1, OtherCalls: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndUnbind, 5}},
			verdict:  []string{"No NSPI problems found."},
		},
		{
			name: "session ends when the last connection that used it closes",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).use(2, cl1b, srv1, svc, 1). // frames 1-4
											end(1, cl1, srv1, HowFIN). // 5: conn 2 still uses the handle
											end(2, cl1b, srv1, HowRST) // 6
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, OtherCalls: 1, ClosedWithoutUnbind: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndConnectionClosed, 6}},
		},
		{
			name: "end of capture does not end a session",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).end(1, cl1, srv1, HowEndOfCapture)
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, OpenAtEnd: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndOpenAtEnd, 0}},
		},
		{
			name: "unbind of an unknown handle",
			build: func(g *gen) {
				g.unbind(1, cl1, srv1, svc, 7)
			},
			users:   map[string]Counters{"10.0.0.1|" + svc: {Unbinds: 1}},
			kinds:   []string{"unbind_unknown_handle/info"},
			verdict: []string{"No NSPI problems found.", "opened before the capture"},
		},
		{
			name: "unbind twice",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).unbind(1, cl1, srv1, svc, 1).
					call(OpClose, 1, cl1, srv1, svc, UnbindFailure, 1)
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, Unbinds: 2, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndUnbind, 3}},
			kinds:    []string{"unbind_unknown_handle/warning"},
			verdict:  []string{"1 NspiUnbind by " + svc + " from 10.0.1.5 to 10.0.0.1 named 1 context handle that was not open"},
		},
		{
			name: "refused bind after the user's sessions dropped by RST",
			build: func(g *gen) {
				for i := 1; i <= 5; i++ {
					g.ok(1, cl1, srv1, svc, i)
				}
				g.end(1, cl1, srv1, HowRST)
				g.refused(2, cl1b, srv1, svc)
			},
			users: map[string]Counters{"10.0.0.1|" + svc: {Binds: 6, BindsOK: 5, BindsLogonFailed: 1, ClosedWithoutUnbind: 5, PeakConcurrent: 5}},
			sessions: []sessWant{{1, EndConnectionClosed, 11}, {2, EndConnectionClosed, 11}, {3, EndConnectionClosed, 11},
				{4, EndConnectionClosed, 11}, {5, EndConnectionClosed, 11}},
			kinds:    []string{"logon_failed/error/other", "leak/warning"},
			refusals: []string{"other/0/0"},
			verdict:  []string{svc + " could not log on", svc + " leaks NSPI sessions: 6 binds, 0 unbinds, up to 5 held at once until their connection closed."},
		},
		{
			name: "two servers",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).ok(2, cl1b, srv2, svc, 1).ok(2, cl1b, srv2, svc, 2).
					unbind(1, cl1, srv1, svc, 1).unbind(2, cl1b, srv2, svc, 1).unbind(2, cl1b, srv2, svc, 2)
			},
			users: map[string]Counters{
				"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, Unbinds: 1, PeakConcurrent: 1},
				"10.0.0.2|" + svc: {Binds: 2, BindsOK: 2, Unbinds: 2, PeakConcurrent: 2},
			},
			clients: map[string]Counters{
				"10.0.0.1|10.0.1.5": {Binds: 1, BindsOK: 1, Unbinds: 1, PeakConcurrent: 1},
				"10.0.0.2|10.0.1.5": {Binds: 2, BindsOK: 2, Unbinds: 2, PeakConcurrent: 2},
			},
			totals:   &Counters{Binds: 3, BindsOK: 3, Unbinds: 3, PeakConcurrent: 3},
			sessions: []sessWant{{1, EndUnbind, 7}, {1, EndUnbind, 9}, {2, EndUnbind, 11}},
		},
		{
			name: "two users on one client, user names compared without case",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, `CONTOSO\alice`, 1).ok(2, cl1b, srv1, `CONTOSO\bob`, 2).
					use(3, cl1, srv1, `contoso\ALICE`, 1).
					unbind(1, cl1, srv1, `CONTOSO\alice`, 1).end(2, cl1b, srv1, HowFIN)
			},
			users: map[string]Counters{
				`10.0.0.1|CONTOSO\alice`: {Binds: 1, BindsOK: 1, Unbinds: 1, OtherCalls: 1, PeakConcurrent: 1},
				`10.0.0.1|CONTOSO\bob`:   {Binds: 1, BindsOK: 1, ClosedWithoutUnbind: 1, PeakConcurrent: 1},
			},
			clients: map[string]Counters{
				"10.0.0.1|10.0.1.5": {Binds: 2, BindsOK: 2, Unbinds: 1, OtherCalls: 1, ClosedWithoutUnbind: 1, PeakConcurrent: 2},
			},
			sessions: []sessWant{{1, EndUnbind, 7}, {2, EndConnectionClosed, 9}},
		},
		{
			name: "anonymous then authenticated, as Outlook does",
			build: func(g *gen) {
				g.refused(1, cl1, srv1, "").end(1, cl1, srv1, HowFIN).
					ok(2, cl1b, srv1, `CONTOSO\alice`, 1).unbind(2, cl1b, srv1, `CONTOSO\alice`, 1)
			},
			users: map[string]Counters{
				"10.0.0.1|":              {Binds: 1, BindsLogonFailed: 1},
				`10.0.0.1|CONTOSO\alice`: {Binds: 1, BindsOK: 1, Unbinds: 1, PeakConcurrent: 1},
			},
			kinds:    []string{"logon_failed/info/anonymous"},
			refusals: []string{"anonymous/0/0"},
			verdict:  []string{"No NSPI problems found: 1 NspiBind without credentials was refused as expected"},
		},
		{
			name: "anonymous without retry",
			build: func(g *gen) {
				g.refused(1, cl1, srv1, "").end(1, cl1, srv1, HowFIN).refused(2, cl2, srv1, "", anonFlag)
			},
			kinds:   []string{"logon_failed/warning/anonymous", "logon_failed/warning/anonymous"},
			verdict: []string{"10.0.1.5 bound without credentials and was refused", "10.0.1.6 bound without credentials"},
		},
		{
			name: "steady refusals below 80% are the limit",
			build: func(g *gen) {
				for i := 1; i <= 20; i++ {
					g.ok(1, cl1, srv1, svc, i)
				}
				for i := 0; i < 3; i++ {
					g.refused(1, cl1, srv1, svc)
				}
			},
			refusals: []string{"session_limit/20/0", "session_limit/20/0", "session_limit/20/0"},
			kinds:    []string{"leak/error", "session_limit/error/session_limit"},
			verdict:  []string{svc + " leaks NSPI sessions: 23 binds, 0 unbinds; binds were refused from the 21st on (limit 50)."},
		},
		{
			name: "sessions bound before the capture count toward the limit",
			build: func(g *gen) {
				for i := 100; i < 110; i++ {
					g.use(1, cl1, srv1, svc, i)
				}
				for i := 1; i <= 30; i++ {
					g.ok(1, cl1, srv1, svc, i)
					g.unbind(1, cl1, srv1, svc, i)
					g.ok(1, cl1, srv1, svc, 1000+i)
				}
				g.refused(1, cl1, srv1, svc)
			},
			refusals: []string{"session_limit/30/10"},
			kinds:    []string{"leak/error", "session_limit/error/session_limit", "session_before_capture/info"},
			verdict:  []string{svc + " leaks NSPI sessions: 61 binds, 30 unbinds; binds were refused from the 61st on (limit 50).", "opened before the capture"},
		},
		{
			name: "fault and other status on NspiBind",
			build: func(g *gen) {
				g.bind(1, cl1, srv1, svc, 0, 0, fault(5)).bind(1, cl1, srv1, svc, 0x80070005, 0)
			},
			users:   map[string]Counters{"10.0.0.1|" + svc: {Binds: 2, BindsFailedOther: 2}},
			kinds:   []string{"bind_failed/warning"},
			verdict: []string{"2 NspiBind calls by " + svc + " from 10.0.1.5 to 10.0.0.1 failed other than by a logon refusal (0x80070005 MAPI_E_NO_ACCESS ×1, fault 0x00000005 ERROR_ACCESS_DENIED ×1)."},
		},
		{
			name: "unanswered calls",
			build: func(g *gen) {
				g.bind(1, cl1, srv1, svc, 0, 0, unanswered).end(1, cl1, srv1, HowRST).
					ok(2, cl2, srv1, svc, 1).use(2, cl2, srv1, svc, 1, unanswered).end(2, cl2, srv1, HowEndOfCapture)
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 2, BindsOK: 1, BindsUnknown: 1, OtherCalls: 1, OpenAtEnd: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndOpenAtEnd, 0}},
			kinds:    []string{"unanswered_call/warning", "unanswered_call/info"},
		},
		{
			name: "sealed calls",
			build: func(g *gen) {
				g.bind(1, cl1, srv1, svc, 0, 0, sealed).use(1, cl1, srv1, svc, 0, sealed)
			},
			users:   map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsUnknown: 1, OtherCalls: 1}},
			kinds:   []string{"sealed_calls/info"},
			verdict: []string{"No NSPI problems found.", "encrypted"},
		},
		{
			name: "unbind answered with a fault keeps the session",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).call(OpClose, 1, cl1, srv1, svc, 0, 1, fault(0x1c00001a))
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, Unbinds: 1, OpenAtEnd: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndOpenAtEnd, 0}},
			kinds:    []string{"unbind_failed/warning"},
		},
		{
			name: "call after unbind",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).unbind(1, cl1, srv1, svc, 1).use(1, cl1, srv1, svc, 1)
			},
			kinds: []string{"call_after_end/warning"},
		},
		{
			name: "stale handle refused after the connection closed",
			build: func(g *gen) {
				g.ok(1, cl1, srv1, svc, 1).end(1, cl1, srv1, HowFIN).use(2, cl1b, srv1, svc, 1, fault(0x1c00001a))
			},
			users:    map[string]Counters{"10.0.0.1|" + svc: {Binds: 1, BindsOK: 1, OtherCalls: 1, ClosedWithoutUnbind: 1, PeakConcurrent: 1}},
			sessions: []sessWant{{1, EndConnectionClosed, 3}},
			kinds:    []string{"call_after_end/info"},
			verdict:  []string{"No NSPI problems found."},
		},
		{
			name: "no traffic",
			build: func(g *gen) {
			},
			verdict: []string{"No NSPI traffic found."},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen()
			tc.build(g)
			limit := tc.limit
			if limit == 0 {
				limit = 50
			}
			r := g.report(limit)
			check(t, r, tc)
		})
	}
}

func check(t *testing.T, r *Report, tc tcase) {
	t.Helper()
	for k, want := range tc.users {
		sv, u, _ := strings.Cut(k, "|")
		row := userRow(r, sv, u)
		if row == nil {
			t.Errorf("no user row %q", k)
			continue
		}
		if row.Counters != want {
			t.Errorf("user %q:\n got %+v\nwant %+v", k, row.Counters, want)
		}
	}
	for k, want := range tc.clients {
		sv, c, _ := strings.Cut(k, "|")
		row := clientRow(r, sv, c)
		if row == nil {
			t.Errorf("no client row %q", k)
			continue
		}
		if row.Counters != want {
			t.Errorf("client %q:\n got %+v\nwant %+v", k, row.Counters, want)
		}
	}
	if tc.totals != nil && r.Totals != *tc.totals {
		t.Errorf("totals:\n got %+v\nwant %+v", r.Totals, *tc.totals)
	}
	if tc.sessions != nil {
		var got []sessWant
		for _, s := range r.Sessions {
			var w sessWant
			for i := 1; i < 2000; i++ {
				if s.Handle == hexs(hd(i)) {
					w.handle = i
					break
				}
			}
			w.end = s.End
			if s.EndFrame != nil {
				w.endFrame = s.EndFrame.Frame
			}
			got = append(got, w)
		}
		if !reflect.DeepEqual(got, tc.sessions) {
			t.Errorf("sessions:\n got %+v\nwant %+v", got, tc.sessions)
		}
	}
	var kinds []string
	for _, f := range r.Findings {
		k := f.Kind + "/" + f.Severity
		if f.Cause != "" {
			k += "/" + f.Cause
		}
		kinds = append(kinds, k)
		if len(f.Frames) == 0 {
			t.Errorf("finding %s without frames", k)
		}
		if f.Message == "" {
			t.Errorf("finding %s without message", k)
		}
	}
	if !reflect.DeepEqual(kinds, tc.kinds) {
		t.Errorf("findings:\n got %q\nwant %q", kinds, tc.kinds)
		for _, f := range r.Findings {
			t.Logf("  %s: %s", f.Kind, f.Message)
		}
	}
	if tc.refusals != nil {
		var got []string
		for _, rf := range r.Refusals {
			got = append(got, rf.Cause+"/"+strconv.Itoa(rf.Held)+"/"+strconv.Itoa(rf.HeldBeforeCapture))
		}
		if !reflect.DeepEqual(got, tc.refusals) {
			t.Errorf("refusals: got %q, want %q", got, tc.refusals)
		}
	}
	v := strings.Join(r.Verdict, "\n")
	pos := 0
	for _, want := range tc.verdict {
		i := strings.Index(v[pos:], want)
		if i < 0 {
			t.Errorf("verdict lacks %q (in order):\n%s", want, v)
			break
		}
		pos += i + len(want)
	}
}

func hexs(h [20]byte) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 40)
	for i, c := range h {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b)
}

// leakToLimit is the story of the issue: a service account binds 60 times
// and never unbinds; the DC refuses its binds from the 51st on. Alice
// behaves; Bob's Outlook binds anonymously first.
func leakToLimit() *gen {
	g := newGen()
	g.step = time.Minute
	alice, bob := `CONTOSO\alice`, `CONTOSO\bob`
	g.refused(1, cl2, srv1, "").end(1, cl2, srv1, HowFIN).ok(2, cl2, srv1, bob, 500).use(2, cl2, srv1, bob, 500)
	for i := 1; i <= 60; i++ {
		if i <= 50 {
			g.ok(uint64(10+i), cl1, srv1, svc, i).use(uint64(10+i), cl1, srv1, svc, i)
		} else {
			g.refused(uint64(10+i), cl1, srv1, svc)
		}
		if i%10 == 0 {
			g.ok(3, cl2, srv1, alice, 600+i).use(3, cl2, srv1, alice, 600+i).unbind(3, cl2, srv1, alice, 600+i)
		}
	}
	g.unbind(2, cl2, srv1, bob, 500)
	return g
}

func TestLeakToLimit(t *testing.T) {
	r := leakToLimit().report(50)
	lim := findings(r, KindSessionLimit)
	if len(lim) != 1 || lim[0].User != svc {
		t.Fatalf("session_limit findings: %+v", lim)
	}
	f := lim[0]
	if f.Count != 10 || len(f.Frames) != 10 || f.Severity != SevError {
		t.Errorf("session_limit: count %d, %d frames, %s", f.Count, len(f.Frames), f.Severity)
	}
	for _, want := range []string{"NSPI max sessions per user", `HKLM\System\CurrentControlSet\Services\NTDS\Parameters`, "NspiUnbind", "51st"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("session_limit message lacks %q: %s", want, f.Message)
		}
	}
	for _, rf := range r.Refusals {
		if rf.User == svc && (rf.Cause != CauseSessionLimit || rf.Held != 50) {
			t.Errorf("refusal %+v", rf)
		}
		if rf.User == "" && rf.Cause != CauseAnonymous {
			t.Errorf("refusal %+v", rf)
		}
	}
	for _, f := range r.Findings {
		if f.User != svc && f.Severity != SevInfo {
			t.Errorf("unexpected finding for %q: %s %s: %s", f.User, f.Kind, f.Severity, f.Message)
		}
	}
	leak := findings(r, KindLeak)
	if len(leak) != 1 || leak[0].User != svc || leak[0].Count != 50 || len(leak[0].Frames) != 11 {
		t.Fatalf("leak findings: %+v", leak)
	}
	if !strings.Contains(leak[0].Message, "the first 10 and the last of 50") {
		t.Errorf("leak message: %s", leak[0].Message)
	}
	want := svc + " leaks NSPI sessions: 60 binds, 0 unbinds; binds were refused from the 51st on (limit 50)."
	if len(r.Verdict) != 1 || r.Verdict[0] != want {
		t.Errorf("verdict = %q, want %q", r.Verdict, want)
	}
	if !strings.Contains(f.Message, "while it held 50 sessions (limit 50)") {
		t.Errorf("session_limit message: %s", f.Message)
	}
	u := userRow(r, "10.0.0.1", svc)
	if want := (Counters{Binds: 60, BindsOK: 50, BindsLogonFailed: 10, OtherCalls: 50, OpenAtEnd: 50, PeakConcurrent: 50}); u.Counters != want {
		t.Errorf("svc row %+v", u.Counters)
	}
	if r.Totals.PeakConcurrent != 52 {
		t.Errorf("total peak %d", r.Totals.PeakConcurrent)
	}
}

func TestLeakProjection(t *testing.T) {
	g := newGen()
	g.step = 30 * time.Second // one bind (two frames) a minute
	for i := 1; i <= 20; i++ {
		g.ok(1, cl1, srv1, svc, i)
	}
	r := g.report(50)
	leak := findings(r, KindLeak)
	if len(leak) != 1 || leak[0].Severity != SevWarning {
		t.Fatalf("leak: %+v", r.Findings)
	}
	f := leak[0]
	if f.RatePerHour != 60 {
		t.Errorf("rate %v, want 60", f.RatePerHour)
	}
	last := g.t
	if f.LimitAt == nil || !f.LimitAt.Equal(last.Add(30*time.Minute)) {
		t.Errorf("limit at %v, want %v", f.LimitAt, last.Add(30*time.Minute))
	}
	want := svc + " leaks NSPI sessions: 20 binds, 0 unbinds, 20 still open at the end; at 60 sessions/hour it reaches the limit of 50 in about 30 minutes."
	if r.Verdict[0] != want {
		t.Errorf("verdict %q\nwant    %q", r.Verdict[0], want)
	}
}

func TestPoolIsNotALeakBelowThreshold(t *testing.T) {
	g := newGen()
	g.ok(1, cl1, srv1, svc, 1).ok(1, cl1, srv1, svc, 2)
	r := g.report(50)
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
}

func TestDeterministicJSON(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		r := leakToLimit().report(50)
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatal("report JSON differs between runs")
		}
	}
}

func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasAll(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	set := map[string]bool{}
	for _, k := range got {
		set[k] = true
	}
	for _, k := range want {
		if !set[k] {
			t.Errorf("%s: no %q in %q", what, k, got)
		}
	}
}

func TestJSONNames(t *testing.T) {
	g := leakToLimit()
	g.end(11, cl1, srv1, HowFIN)
	r := g.report(50)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "report", keys(t, b), "schema", "version", "inputs", "limit", "totals", "users", "clients", "sessions", "findings", "anomalies", "verdict")
	if string(top["schema"]) != `"nspicap/report/v1"` {
		t.Errorf("schema %s", top["schema"])
	}
	counters := []string{"binds", "binds_ok", "binds_logon_failed", "binds_failed_other", "unbinds", "other_calls", "open_at_end", "closed_without_unbind", "peak_concurrent"}
	hasAll(t, "totals", keys(t, top["totals"]), counters...)
	first := func(name string) json.RawMessage {
		var l []json.RawMessage
		if err := json.Unmarshal(top[name], &l); err != nil || len(l) == 0 {
			t.Fatalf("%s: %v (%d)", name, err, len(l))
		}
		return l[0]
	}
	hasAll(t, "inputs", keys(t, first("inputs")), "path", "format", "packets", "first_time", "last_time", "warnings")
	hasAll(t, "users", keys(t, first("users")), append([]string{"server", "user"}, counters...)...)
	hasAll(t, "clients", keys(t, first("clients")), append([]string{"server", "client"}, counters...)...)
	hasAll(t, "sessions", keys(t, first("sessions")), "server", "client", "user", "handle", "bind_frame", "bind_time", "end", "end_frame", "end_time")
	hasAll(t, "findings", keys(t, first("findings")), "kind", "severity", "server", "user", "client", "frames", "message")

	var s Session
	if err := json.Unmarshal(first("sessions"), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Handle) != 40 || s.Client != "10.0.1.6:50001" || s.Server != "10.0.0.1" {
		t.Errorf("session %+v", s)
	}
	// The anonymous user row has user null.
	var users []map[string]json.RawMessage
	_ = json.Unmarshal(top["users"], &users)
	nulls := 0
	for _, u := range users {
		if string(u["user"]) == "null" {
			nulls++
		}
	}
	if nulls != 1 {
		t.Errorf("%d user rows with user null, want 1", nulls)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("report does not read back: %v", err)
	}
}

func TestAnomaliesAndInputs(t *testing.T) {
	a := New(Options{})
	a.AddAnomaly(Anomaly{Kind: "tcp_gap", Count: 2, Message: "bytes missing"})
	a.AddAnomaly(Anomaly{Kind: "dcerpc_bad_frag", Message: "bad fragment"})
	a.AddAnomaly(Anomaly{Kind: "tcp_gap", Count: 3, Message: "other text"})
	loc := time.FixedZone("X", 3600)
	r := a.Report([]Input{{Path: "a.pcap", FirstTime: time.Date(2025, 1, 1, 10, 0, 0, 0, loc)}})
	if r.Limit != 50 {
		t.Errorf("limit %d", r.Limit)
	}
	want := []Anomaly{{Kind: "dcerpc_bad_frag", Count: 1, Message: "bad fragment"}, {Kind: "tcp_gap", Count: 5, Message: "bytes missing"}}
	if !reflect.DeepEqual(r.Anomalies, want) {
		t.Errorf("anomalies %+v", r.Anomalies)
	}
	if r.Inputs[0].FirstTime.Location() != time.UTC || r.Inputs[0].Warnings == nil {
		t.Errorf("input %+v", r.Inputs[0])
	}
	if !strings.Contains(strings.Join(r.Verdict, " "), "6 decoding anomalies") {
		t.Errorf("verdict %q", r.Verdict)
	}
}
