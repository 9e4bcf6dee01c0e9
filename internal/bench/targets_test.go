package main

import (
	"fmt"
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

// TestTargetsBeyond: the lines beyond the list appear only when
// their rows were measured, compare the right rows, and rows beyond the list
// do not count in the ticket's ratio.
func TestTargetsBeyond(t *testing.T) {
	ms := time.Millisecond
	byName := func(rows []measurement) map[string]target {
		out := map[string]target{}
		for _, tg := range targets(rows) {
			out[tg.name] = tg
		}
		return out
	}
	siteSmall := row("site 200", "site", 100*ms, 200*ms, 30)
	siteSmall.scale, siteSmall.extra = "small", true
	siteLarge := row("site 2048", "site", 1000*ms, 2000*ms, 33) // +10%
	siteLarge.scale, siteLarge.extra = "large", true
	ticketLarge := row("ticket 2048", "ticket", 1000*ms, 2000*ms, 40)
	ticketLarge.scale = "large"
	ticketHuge := row("ticket 4096", "ticket", 1000*ms, 9000*ms, 90) // 9x, beyond the list
	ticketHuge.scale, ticketHuge.extra = "huge", true

	got := byName([]measurement{siteSmall, siteLarge, ticketLarge})
	site := fmt.Sprintf("(beyond the issue) site of %d: 2 GB within 10%% of 200 MB", sitePopulation)
	if g := got[site]; g.met != "yes" || !strings.Contains(g.measured, "30 MiB at 200 MB, 33 MiB at 2 GB") {
		t.Errorf("site line: %+v", g)
	}
	for name := range got {
		if strings.Contains(name, "4 GB") {
			t.Errorf("%q shown without a 4 GB row", name)
		}
	}
	if g := got["ticket: at most 2.5x the baseline"]; g.met != "yes" {
		t.Errorf("ticket ratio without the 4 GB row: %+v", g)
	}

	siteLarge.toolRSS = 34 << 20
	got = byName([]measurement{siteSmall, siteLarge, ticketLarge, ticketHuge})
	if g := got[site]; g.met != "no" {
		t.Errorf("site line at +13%%: %+v", g)
	}
	if g := got["(beyond the issue) ticket: 4 GB within 10% of 2 GB"]; g.met != "no" || !strings.Contains(g.measured, "40 MiB at 2 GB, 90 MiB at 4 GB") {
		t.Errorf("ticket 4 GB line: %+v", g)
	}
	if g := got["ticket: at most 2.5x the baseline"]; g.met != "yes" || strings.Contains(g.measured, "4096") {
		t.Errorf("the 4 GB row counted in the ticket's ratio: %+v", g)
	}
}
