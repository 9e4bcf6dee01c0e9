package main

import (
	"strings"
	"testing"
	"time"
)

func row(name, kind string, base, tool time.Duration, rssMiB int64) measurement {
	return measurement{name: name, kind: kind, base: base, tool: tool, toolRSS: rssMiB << 20, packets: 1000}
}

// TestTargets: each target is met or not by the measured rows, at or just
// within its bound and just beyond it, and says when it was not measured.
func TestTargets(t *testing.T) {
	ms := time.Millisecond
	met := func(rows []measurement) map[string]string {
		out := map[string]string{}
		for _, tg := range targets(rows) {
			out[strings.SplitN(tg.name, ":", 2)[0]] = tg.met
		}
		return out
	}
	small := row("ticket 200 MB", "ticket", 100*ms, 200*ms, 30)
	small.scale = "small"
	large := row("ticket 2048 MB", "ticket", 1000*ms, 2290*ms, 32) // 229 ns against 200 ns per packet: +14.5%
	large.scale, large.packets = "large", 10000
	rows := []measurement{
		row("ticket", "ticket", 200*ms, 500*ms, 64),
		row("busy DC", "busydc", 100*ms, 400*ms, 60),
		row("open connections", "openconns", 100*ms, 900*ms, 140),
		row("slice", "tshark", 1000*ms, 10*ms, 20),
		small, large,
	}
	rows[2].extra = true
	got := met(rows)
	for _, k := range []string{"ticket", "busy DC", "peak RSS at most 64 MiB on every capture of the issue's list", "memory independent of capture size", "time linear in packets", "at least 100x faster than tshark on the slice"} {
		if got[k] != "yes" {
			t.Errorf("%q: %s; want yes (at the bounds)", k, got[k])
		}
	}
	rows[0].tool = 501 * ms
	rows[1].tool = 401 * ms
	rows[1].toolRSS = 65 << 20
	rows[3].tool = 10*ms + time.Microsecond
	rows[5].toolRSS = 34 << 20
	rows[5].tool = 2310 * ms // 231 ns against 200 ns per packet: +15.5%
	got = met(rows)
	for k, v := range got {
		if v != "no" {
			t.Errorf("%q: %s; want no (just beyond the bounds)", k, v)
		}
	}
	for k, v := range met(rows[:1]) {
		want := "not measured"
		switch {
		case k == "ticket":
			want = "no"
		case strings.HasPrefix(k, "peak RSS"):
			want = "yes"
		}
		if v != want {
			t.Errorf("%q with the ticket alone: %s; want %s", k, v, want)
		}
	}
}
