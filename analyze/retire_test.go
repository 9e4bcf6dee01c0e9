package analyze

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/testutil"
)

// cohorts generates users that come, do their work and never return: at
// most `window` at a time, each on its own client and connection. Kinds of
// user, by u%8: 0 leaks until the DC refuses it at the limit, 1 leaks and
// its connection closes, 2 is refused below the limit (account trouble),
// 3 binds anonymously first (refused) then with credentials, 4 unbinds a
// handle twice, 5 uses a handle bound before the capture, the others bind,
// call and unbind cleanly.
func cohorts(seed int64, users, window, limit int) *gen {
	g := newGen()
	rng := rand.New(rand.NewSource(seed))
	type actor struct {
		u     int
		c, s  netip.AddrPort
		conn  uint64
		steps []func()
	}
	var live []*actor
	next := 0
	newActor := func() *actor {
		u := next
		next++
		a := &actor{u: u, conn: uint64(u + 1),
			c: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(u >> 8), byte(u)}), uint16(40000+u%20000)),
			s: []netip.AddrPort{srv1, srv2}[u%2]}
		user := fmt.Sprintf(`CONTOSO\User%05d`, u)
		h := func(i int) int { return u*64 + i + 1 }
		add := func(f func()) { a.steps = append(a.steps, f) }
		switch u % 8 {
		case 0:
			for i := range limit {
				add(func() { g.ok(a.conn, a.c, a.s, user, h(i)) })
			}
			for range 3 {
				add(func() { g.refused(a.conn, a.c, a.s, user) })
			}
			add(func() { g.end(a.conn, a.c, a.s, HowRST) })
		case 1:
			for i := range 5 {
				add(func() { g.ok(a.conn, a.c, a.s, user, h(i)) })
			}
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		case 2:
			for range 4 {
				add(func() { g.refused(a.conn, a.c, a.s, user) })
			}
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		case 3:
			add(func() { g.refused(a.conn, a.c, a.s, "") })
			add(func() { g.ok(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.unbind(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		case 4:
			add(func() { g.ok(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.unbind(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.unbind(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		case 5:
			add(func() { g.use(a.conn, a.c, a.s, user, h(9)) })
			add(func() { g.unbind(a.conn, a.c, a.s, user, h(9)) })
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		default:
			add(func() { g.ok(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.use(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.unbind(a.conn, a.c, a.s, user, h(0)) })
			add(func() { g.end(a.conn, a.c, a.s, HowFIN) })
		}
		return a
	}
	for next < users || len(live) > 0 {
		for len(live) < window && next < users {
			live = append(live, newActor())
		}
		i := rng.Intn(len(live))
		a := live[i]
		a.steps[0]()
		a.steps = a.steps[1:]
		if len(a.steps) == 0 {
			live = append(live[:i], live[i+1:]...)
		}
	}
	return g
}

func analyzeWith(g *gen, o Options) (*Analyzer, *Report) {
	a := New(o)
	for _, e := range g.evs {
		a.Add(e)
	}
	return a, a.Report([]Input{{Path: g.file, Format: "pcapng", Packets: g.frame}})
}

// withoutRetireNote drops the verdict's sentence about retired rows.
func withoutRetireNote(v []string) []string {
	var out []string
	for _, s := range v {
		if !strings.HasPrefix(s, "The capture has more users or clients than nspicap follows at once") {
			out = append(out, s)
		}
	}
	return out
}

// TestRetireSameReport: with users that do not come back, retiring rows
// under a small --max-rows gives the report of an Analyzer that keeps every
// row, but for the sentence that says rows were retired.
func TestRetireSameReport(t *testing.T) {
	const limit = 10
	g := cohorts(7, 900, 12, limit)
	_, full := analyzeWith(g, Options{Limit: limit})
	a, small := analyzeWith(g, Options{Limit: limit, MaxRows: 40})
	if a.nspi.rt.nUsers == 0 || a.nspi.rt.nClients == 0 || a.nspi.rt.rounds < 10 {
		t.Fatalf("no retirement happened: %d user rows, %d client rows, %d sweeps", a.nspi.rt.nUsers, a.nspi.rt.nClients, a.nspi.rt.rounds)
	}
	if len(a.nspi.users) > 40 || len(a.nspi.clients) > 40 {
		t.Errorf("tables hold %d users, %d clients; want at most 40 each", len(a.nspi.users), len(a.nspi.clients))
	}
	if !hasPrefix(small.Verdict, "The capture has more users or clients than nspicap follows at once (--max-rows 40)") {
		t.Errorf("the verdict does not say rows were retired: %q", small.Verdict[len(small.Verdict)-1])
	}
	small.Verdict = withoutRetireNote(small.Verdict)
	if !reflect.DeepEqual(full.Verdict, small.Verdict) {
		t.Errorf("verdicts differ:\nfull  %q\nsmall %q", head(full.Verdict), head(small.Verdict))
	}
	// Retired rows beyond --max-rows are counted, not listed: the rows
	// listed are rows of the full report, in its order.
	if err := subsequence(full.Users, small.Users); err != "" {
		t.Errorf("users: %s", err)
	}
	if err := subsequence(full.Clients, small.Clients); err != "" {
		t.Errorf("clients: %s", err)
	}
	if len(small.Users) < 40 || len(small.Clients) < 40 {
		t.Errorf("%d users and %d clients listed; want at least 40 each", len(small.Users), len(small.Clients))
	}
	for _, c := range []struct {
		name        string
		full, small any
	}{
		{"totals", full.Totals, small.Totals},
		{"findings", full.Findings, small.Findings},
		{"refusals", full.Refusals, small.Refusals},
		{"sessions", full.Sessions, small.Sessions},
		{"timeline", full.Timeline, small.Timeline},
		{"anomalies", full.Anomalies, small.Anomalies},
	} {
		jf, _ := json.Marshal(c.full)
		js, _ := json.Marshal(c.small)
		if string(jf) != string(js) {
			t.Errorf("%s differ with retirement: %s", c.name, firstDiff(c.full, c.small))
		}
	}
	// The findings must be there at all: every kind the cohorts make.
	for _, k := range []string{KindSessionLimit, KindLeak, KindLogonFailed, KindUnbindUnknownHandle, KindSessionBeforeCapture} {
		if len(findings(full, k)) == 0 {
			t.Errorf("no %s finding: the workload does not exercise it", k)
		}
	}
}

func hasPrefix(v []string, p string) bool {
	for _, s := range v {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func head(v []string) []string {
	if len(v) > 6 {
		return v[:6]
	}
	return v
}

// TestRetireListsAndFindingsBounded: beyond --max-rows retired rows are
// counted, not listed, and beyond --max-findings the least severe findings
// of retired rows make room for the more severe.
func TestRetireListsAndFindingsBounded(t *testing.T) {
	const limit = 6
	g := cohorts(11, 2000, 8, limit)
	a, r := analyzeWith(g, Options{Limit: limit, MaxRows: 50, MaxFindings: 100})
	if len(r.Users) > 2*50 || len(r.Clients) > 2*50 {
		t.Errorf("%d user rows and %d client rows listed; want at most 100 each", len(r.Users), len(r.Clients))
	}
	if r.Totals.Binds == 0 || r.Totals.BindsLogonFailed == 0 {
		t.Fatalf("totals lost: %+v", r.Totals)
	}
	if len(a.nspi.rt.findings) > 100 || len(a.nspi.rt.dropped) == 0 {
		t.Errorf("%d retired findings kept, %v dropped; want at most 100 kept and some dropped", len(a.nspi.rt.findings), a.nspi.rt.dropped)
	}
	for _, f := range a.nspi.rt.findings {
		if f.Severity == SevInfo && a.nspi.rt.dropped[KindSessionLimit]+a.nspi.rt.dropped[KindLeak] > 0 {
			t.Fatalf("an info finding was kept while errors were dropped: %v", a.nspi.rt.dropped)
		}
	}
	if !hasPrefix(r.Verdict, "The report leaves out ") {
		t.Errorf("the verdict does not say findings were left out")
	}
	// With room for more findings than the verdict names, the verdict
	// names maxVerdictProblems of them and says how many more there are.
	_, r = analyzeWith(g, Options{Limit: limit, MaxRows: 50, MaxFindings: 1000})
	n := 0
	for _, s := range r.Verdict {
		if strings.HasPrefix(s, "And ") && strings.HasSuffix(s, "more: see the findings.") {
			n++
		}
	}
	if len(r.Findings) <= maxVerdictProblems || len(r.Verdict) > maxVerdictProblems+8 || n != 1 {
		t.Errorf("%d findings, verdict of %d sentences (%d 'And N more'); want more than %d findings, at most %d problems and one 'And N more'", len(r.Findings), len(r.Verdict), n, maxVerdictProblems, maxVerdictProblems)
	}
}

// TestRetireMemoryBounded: the live heap after a million events of users
// that never return stays the same whether there are 20 000 or 200 000 of
// them.
func TestRetireMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	heap := func(users int) uint64 {
		g := cohorts(3, users, 16, 8)
		evs := g.evs
		g.evs = nil
		a := New(Options{Limit: 8, MaxRows: 2000, MaxFindings: 500, MaxSessions: 1000, MaxRefusals: 1000})
		for _, e := range evs {
			a.Add(e)
		}
		evs = nil
		return liveHeap(a)
	}
	// Ten times the users, both far beyond MaxRows; the full sizes with
	// NSPICAP_SLOW_TESTS=1 (they catch a smaller growth per user).
	n := testutil.Size(10000, 20000)
	small, big := heap(n), heap(10*n)
	t.Logf("live heap: %d MiB at %d users, %d MiB at %d", small>>20, n, big>>20, 10*n)
	if big > small*3/2+(4<<20) {
		t.Errorf("live heap grows with users: %d MiB at %d, %d MiB at %d", small>>20, n, big>>20, 10*n)
	}
}

// firstDiff describes the first element where two slices (or values) differ.
func firstDiff(x, y any) string {
	vx, vy := reflect.ValueOf(x), reflect.ValueOf(y)
	if vx.Kind() != reflect.Slice {
		return fmt.Sprintf("\nfull  %+v\nsmall %+v", x, y)
	}
	for i := 0; i < vx.Len() && i < vy.Len(); i++ {
		if !reflect.DeepEqual(vx.Index(i).Interface(), vy.Index(i).Interface()) {
			return fmt.Sprintf("at %d of %d/%d:\nfull  %+v\nsmall %+v", i, vx.Len(), vy.Len(), vx.Index(i).Interface(), vy.Index(i).Interface())
		}
	}
	return fmt.Sprintf("lengths %d and %d", vx.Len(), vy.Len())
}

// subsequence: every element of sub is in full, in the same order.
func subsequence[T any](full, sub []T) string {
	i := 0
	for j, x := range sub {
		for i < len(full) && !reflect.DeepEqual(full[i], x) {
			i++
		}
		if i == len(full) {
			return fmt.Sprintf("row %d of %d (%+v) is not in the full report after the rows before it", j, len(sub), x)
		}
		i++
	}
	return ""
}

// handle32 gives a call the context handle n (beyond the 16 bits of hd).
func handle32(n int) mod {
	return func(ev *NSPICall) {
		ev.HasHandle = true
		ev.Handle = hd(1)
		ev.Handle[4], ev.Handle[5], ev.Handle[6], ev.Handle[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	}
}

// holders: n users, each on its own client, bind once and keep the session
// (then, when calls, use it and unbind it after all have bound).
func holders(n int, calls bool) *gen {
	g := newGen()
	addr := func(u int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}), 40000)
	}
	user := func(u int) string { return fmt.Sprintf(`CONTOSO\Holder%06d`, u) }
	for u := range n {
		g.ok(uint64(u+1), addr(u), srv1, user(u), 1, handle32(u+1))
	}
	if calls {
		for u := range n {
			g.use(uint64(u+1), addr(u), srv1, user(u), 1, handle32(u+1))
			g.unbind(uint64(u+1), addr(u), srv1, user(u), 1, handle32(u+1))
		}
	}
	return g
}

// TestRetireHoldingSessions: when the rows hold sessions, rows beyond
// --max-rows go all the same, their sessions counted as open at the end and
// forgotten; the verdict says so, later calls on those sessions are not
// taken for sessions bound before the capture, and memory stays bounded.
func TestRetireHoldingSessions(t *testing.T) {
	const n, rows = 2000, 500 // at most 4×rows sessions forgotten are recognised
	a, r := analyzeWith(holders(n, false), Options{MaxRows: rows})
	if r.Totals.Binds != n || r.Totals.OpenAtEnd != n {
		t.Errorf("totals %+v; want %d binds, all open at the end", r.Totals, n)
	}
	// Once a user's sessions are forgotten its client row holds none: it
	// goes as a quiet row.
	if a.nspi.rt.forcedUsers == 0 || len(a.nspi.users) > rows || len(a.nspi.clients) > rows || len(a.nspi.open) > rows {
		t.Errorf("%d/%d rows forced out, %d users, %d clients, %d open sessions followed; want user rows forced out and at most %d of each",
			a.nspi.rt.forcedUsers, a.nspi.rt.forcedClients, len(a.nspi.users), len(a.nspi.clients), len(a.nspi.open), rows)
	}
	open := 0
	for _, u := range r.Users {
		open += u.OpenAtEnd
	}
	if len(r.Users) > 2*rows || open != len(r.Users) {
		t.Errorf("%d user rows listed, %d sessions open in them; want at most %d rows, each with its session", len(r.Users), open, 2*rows)
	}
	if !hasPrefix(r.Verdict, "The capture has more users or clients than nspicap follows at once (--max-rows 500)") ||
		!strings.Contains(strings.Join(r.Verdict, " "), "were retired while they held sessions") {
		t.Errorf("the verdict does not say rows were retired with their sessions: %q", r.Verdict)
	}

	// The same users then use and unbind their sessions: those forgotten
	// are counted, not taken for sessions bound before the capture.
	a, r = analyzeWith(holders(n, true), Options{MaxRows: rows})
	if a.nspi.rt.forgottenCalls == 0 {
		t.Errorf("no call on a forgotten session counted")
	}
	for _, k := range []string{KindSessionBeforeCapture, KindUnbindUnknownHandle, KindCallAfterEnd} {
		if f := findings(r, k); len(f) != 0 {
			t.Errorf("%d %s findings for calls on forgotten sessions: %s", len(f), k, f[0].Message)
		}
	}

	// Memory: 10 000 and 100 000 users holding sessions take the same heap.
	heap := func(users int) uint64 {
		g := newGen()
		a := New(Options{MaxRows: 1000, MaxSessions: 1000, MaxRefusals: 1000})
		for u := range users {
			c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}), 40000)
			g.ok(uint64(u+1), c, srv1, fmt.Sprintf(`CONTOSO\H%06d`, u), 1, handle32(u+1))
			// The capture layer stops following a connection beyond
			// --max-conns: its sessions stay open.
			g.end(uint64(u+1), c, srv1, HowEvicted)
			for _, e := range g.evs {
				a.Add(e)
			}
			g.evs = g.evs[:0]
		}
		return liveHeap(a)
	}
	small, big := heap(10000), heap(100000)
	t.Logf("live heap: %d MiB at 10k users holding sessions, %d MiB at 100k", small>>20, big>>20)
	if big > small*3/2+(4<<20) {
		t.Errorf("live heap grows with users holding sessions: %d MiB at 10k, %d MiB at 100k", small>>20, big>>20)
	}
}

// liveHeap is the heap in use after a collection, with a alive.
func liveHeap(a *Analyzer) uint64 {
	h := testutil.HeapAfterGC()
	runtime.KeepAlive(a)
	return h
}

// TestRetireRandomStreams: random streams (random_test.go) under tiny
// --max-rows, where rows holding sessions are retired too: no panic, the
// counts of calls are those of the unbounded analyzer, the peak no higher,
// the report is deterministic and the tables stay within their bounds.
func TestRetireRandomStreams(t *testing.T) {
	t.Parallel()
	for seed := int64(0); seed < 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 50+rng.Intn(1500))
		limit := 2 + rng.Intn(8)
		rows := 1 + int(seed%3)
		run := func(o Options) (*Analyzer, *Report) {
			a := New(o)
			for _, e := range evs {
				a.Add(e)
			}
			return a, a.Report(nil)
		}
		_, full := run(Options{Limit: limit})
		a, small := run(Options{Limit: limit, MaxRows: rows, MaxFindings: 3})
		_, again := run(Options{Limit: limit, MaxRows: rows, MaxFindings: 3})
		if reportJSON(t, small) != reportJSON(t, again) {
			t.Fatalf("seed %d: two runs differ\n%s", seed, diffReports(reportJSON(t, small), reportJSON(t, again)))
		}
		f, s := full.Totals, small.Totals
		if f.Binds != s.Binds || f.BindsOK != s.BindsOK || f.BindsLogonFailed != s.BindsLogonFailed ||
			f.Unbinds != s.Unbinds || f.OtherCalls != s.OtherCalls || s.PeakConcurrent > f.PeakConcurrent {
			t.Fatalf("seed %d, --max-rows %d: totals differ\nfull  %+v\nsmall %+v", seed, rows, f, s)
		}
		if len(a.nspi.users) > rows || len(a.nspi.clients) > rows || len(a.nspi.rt.findings) > 3 || len(small.Users) > 2*rows+len(a.nspi.users) {
			t.Fatalf("seed %d: %d users, %d clients, %d retired findings, %d rows listed over --max-rows %d",
				seed, len(a.nspi.users), len(a.nspi.clients), len(a.nspi.rt.findings), len(small.Users), rows)
		}
	}
}

// TestKeepRetiredFindings: the retired findings kept beyond --max-findings
// are those of a plain scan (the last kept finding of the lowest severity
// makes room for a more severe one), on random streams of severities.
func TestKeepRetiredFindings(t *testing.T) {
	sevs := []string{SevError, SevWarning, SevInfo}
	for seed := int64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		max := 1 + rng.Intn(20)
		var rt retired
		var ref []*Finding
		refDropped := map[string]int{}
		for i := 0; i < 300; i++ {
			f := &Finding{Severity: sevs[rng.Intn(3)], Kind: fmt.Sprint("k", rng.Intn(4))}
			rt.keep(f, max)
			if len(ref) < max {
				ref = append(ref, f)
				continue
			}
			worst := len(ref) - 1
			for j := len(ref) - 1; j >= 0; j-- {
				if sevRank(ref[j].Severity) > sevRank(ref[worst].Severity) {
					worst = j
				}
			}
			if sevRank(ref[worst].Severity) > sevRank(f.Severity) {
				refDropped[ref[worst].Kind]++
				ref = append(ref[:worst], ref[worst+1:]...)
				ref = append(ref, f)
			} else {
				refDropped[f.Kind]++
			}
		}
		if !slices.Equal(rt.findings, ref) {
			t.Fatalf("seed %d: kept findings differ from the plain scan", seed)
		}
		if len(refDropped) > 0 && !maps.Equal(rt.dropped, refDropped) {
			t.Fatalf("seed %d: dropped %v, want %v", seed, rt.dropped, refDropped)
		}
	}
}
