package main

import (
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
)

// TestLimitFlagsChecked: a limit that is not a positive number is a usage
// error that names the flag.
func TestLimitFlagsChecked(t *testing.T) {
	pcap := filepath.Join(testdataDir, "leak-to-limit.pcap")
	for _, c := range []struct{ cmd, flag string }{
		{"analyze", "--max-rows"}, {"analyze", "--max-findings"}, {"sessions", "--max-sessions"},
		{"analyze", "--max-refusals"}, {"calls", "--max-memory"}, {"analyze", "--max-conns"},
		{"calls", "--max-call-bytes-total"}, {"analyze", "--max-open-sessions"},
	} {
		out, errOut, code := nspicap(t, c.cmd, c.flag, "0", pcap)
		want := c.flag + " 0: want a positive number"
		if code != exitUsage || out != "" || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s %s 0: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", c.cmd, c.flag, code, out, errOut, exitUsage, want)
		}
	}
}

// TestMaxRows: with --max-rows 2 the rows of users that hold no session are
// retired on the way; the findings and totals stay those of the default run
// and the verdict says rows were retired. With --max-rows 1 rows holding
// sessions go too, and the verdict says that their counts are less sure.
func TestMaxRows(t *testing.T) {
	get := func(args ...string) *analyze.Report { return analyzeJSON(t, "leak-to-limit.pcap", args...) }
	full, small := get(), get("--max-rows", "2")
	if !reflect.DeepEqual(full.Totals, small.Totals) {
		t.Errorf("totals differ:\n%+v\n%+v", full.Totals, small.Totals)
	}
	if !reflect.DeepEqual(full.Findings, small.Findings) {
		t.Errorf("findings differ:\n%+v\n%+v", full.Findings, small.Findings)
	}
	said := false
	for _, s := range small.Verdict {
		said = said || strings.HasPrefix(s, "The capture has more users or clients than nspicap follows at once (--max-rows 2)") &&
			!strings.Contains(s, "while they held sessions")
	}
	if !said {
		t.Errorf("verdict %q: want a sentence that says rows free of sessions were retired", small.Verdict)
	}
	tiny := get("--max-rows", "1")
	if tiny.Totals.Binds != full.Totals.Binds || tiny.Totals.BindsLogonFailed != full.Totals.BindsLogonFailed ||
		!strings.Contains(strings.Join(tiny.Verdict, " "), "were retired while they held sessions") {
		t.Errorf("--max-rows 1: totals %+v, verdict %q", tiny.Totals, tiny.Verdict)
	}
}

// TestMaxOpenSessions: with fewer sessions followed open than svc-crm
// holds, the rows holding the oldest are retired with their sessions; the
// totals still count every bind and every session open at the end, the
// leak and the session limit are still found, and the verdict says what
// was given up and which flag to raise.
func TestMaxOpenSessions(t *testing.T) {
	get := func(args ...string) *analyze.Report { return analyzeJSON(t, "leak-to-limit.pcap", args...) }
	full, small := get(), get("--max-open-sessions", "20")
	if small.Totals.Binds != full.Totals.Binds || small.Totals.BindsOK != full.Totals.BindsOK ||
		small.Totals.BindsLogonFailed != full.Totals.BindsLogonFailed || small.Totals.OpenAtEnd < full.Totals.OpenAtEnd {
		t.Errorf("totals:\n%+v\n%+v", full.Totals, small.Totals)
	}
	if !small.HasKind(analyze.KindLeak) {
		t.Errorf("no leak finding with --max-open-sessions 20")
	}
	if !strings.Contains(strings.Join(small.Verdict, " "), "(--max-open-sessions 20)") {
		t.Errorf("verdict %q: want a sentence naming --max-open-sessions", small.Verdict)
	}
	if strings.Contains(strings.Join(full.Verdict, " "), "--max-open-sessions") {
		t.Errorf("default run: verdict names --max-open-sessions: %q", full.Verdict)
	}
	// The user's rows, retired and followed again, are one timeline row
	// that climbs as high as in the default run.
	peak := func(r *analyze.Report) (n, p int) {
		for _, row := range r.Timeline {
			if row.Proto == "nspi" && row.By == "user" && strings.Contains(string(row.User), "svc-crm") {
				n++
				p = max(p, row.Peak)
			}
		}
		return n, p
	}
	if n, p := peak(small); n != 1 {
		t.Errorf("%d timeline rows for svc-crm; want 1", n)
	} else if _, fp := peak(full); p != fp {
		t.Errorf("svc-crm's timeline peaks at %d; %d in the default run", p, fp)
	}
	// The smallest value works too (a row of one session shows no leak).
	one := get("--max-open-sessions", "1")
	if one.Totals.Binds != full.Totals.Binds || one.Totals.OpenAtEnd < full.Totals.OpenAtEnd {
		t.Errorf("--max-open-sessions 1: totals %+v", one.Totals)
	}
}

// TestMaxMemory: --max-memory is the ceiling of the runtime's memory limit;
// below it the limit follows the live heap (tunedLimit), unless GOGC in the
// environment asks for Go's own pacing.
func TestMaxMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	_, errOut, code := nspicap(t, "calls", "--max-memory", "300", filepath.Join(testdataDir, "clean.pcap"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := memState.ceiling.Load(); got != 300<<20 {
		t.Errorf("ceiling %d; want %d", got, 300<<20)
	}
	if got := debug.SetMemoryLimit(-1); got < memFloor || got > memTarget {
		t.Errorf("memory limit %d MiB after a small run; want between the floor and the target", got>>20)
	}
	t.Setenv("GOGC", "100")
	if _, errOut, code := nspicap(t, "calls", "--max-memory", "300", filepath.Join(testdataDir, "clean.pcap")); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("memory limit %d with GOGC set; want %d", got, 300<<20)
	}
}

// TestTunedLimit: the limit follows the live heap at memHeadroom times it
// between the floor and the target, and leaves a larger heap to Go's pacing
// under the ceiling.
func TestTunedLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live    uint64
		ceiling int64
		want    int64
	}{
		{0, 208 * mib, memFloor},
		{20 * mib, 208 * mib, memFloor},
		{30 * mib, 208 * mib, 45 * mib},
		{memTarget / 3 * 2, 208 * mib, memTarget / 3 * 2 * 3 / 2},
		{memTarget/3*2 + mib, 208 * mib, 208 * mib},
		{100 * mib, 208 * mib, 208 * mib},
		{0, 16 * mib, 16 * mib},
		{30 * mib, 32 * mib, 32 * mib},
	} {
		if got := tunedLimit(c.live, c.ceiling); got != c.want {
			t.Errorf("tunedLimit(%d MiB, %d MiB) = %.1f MiB; want %.1f MiB", c.live/mib, c.ceiling/mib, float64(got)/mib, float64(c.want)/mib)
		}
	}
}

// TestMemoryWarning: a live heap that reaches --max-memory is reported in
// one line; the results are still written.
func TestMemoryWarning(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	out, errOut, code := nspicap(t, "calls", "--max-memory", "1", filepath.Join(testdataDir, "clean.pcap"))
	if code != exitOK || out == "" {
		t.Fatalf("exit %d, %d bytes out: %s", code, len(out), errOut)
	}
	const want = "against the --max-memory limit of 1 MiB, so the garbage collector worked harder"
	if !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr %q; want one line with %q", errOut, want)
	}
	_, errOut, _ = nspicap(t, "calls", filepath.Join(testdataDir, "clean.pcap"))
	if strings.Contains(errOut, "memory") {
		t.Errorf("a memory warning with the default limit: %q", errOut)
	}
}
