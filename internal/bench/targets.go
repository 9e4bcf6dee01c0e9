package main

import (
	"fmt"
	"strings"
)

// A target of the speed-and-scale issue, checked against one bench run.
type target struct {
	name     string
	measured string
	met      string // "yes", "no" or "not measured"
}

const (
	ticketMax = 2.5  // nspicap time over the baseline's on a ticket capture
	busyDCMax = 4.0  // the same on the busy-DC capture
	rssMax    = 64   // peak RSS in MiB on every capture of the list
	sizeTol   = 0.10 // peak RSS at 2 GB within this of 200 MB
	linearTol = 0.15 // time per packet at 2 GB within this of 200 MB
	tsharkMin = 100  // tshark's time over nspicap's on the slice
)

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// targets checks the measured rows against the targets. A target
// whose captures were not measured (-only, -quick, no tshark) says so.
func targets(rows []measurement) []target {
	var ts []target
	ratioTarget := func(name, kind string, max float64) {
		t := target{name: name, met: "not measured"}
		var parts []string
		ok := true
		for _, m := range rows {
			if m.kind != kind || m.extra {
				continue
			}
			r := m.ratio()
			parts = append(parts, fmt.Sprintf("%s %.2fx", m.name, r))
			ok = ok && r <= max
		}
		if parts != nil {
			t.measured, t.met = strings.Join(parts, "; "), yesNo(ok)
		}
		ts = append(ts, t)
	}
	ratioTarget(fmt.Sprintf("ticket: at most %.1fx the baseline", ticketMax), "ticket", ticketMax)
	ratioTarget(fmt.Sprintf("busy DC: at most %.0fx the baseline", busyDCMax), "busydc", busyDCMax)

	rss := target{name: fmt.Sprintf("peak RSS at most %d MiB on every capture of the issue's list", rssMax), met: "not measured"}
	var over, extra []string
	n := 0
	for _, m := range rows {
		switch {
		case m.kind == "tshark":
		case m.extra:
			extra = append(extra, fmt.Sprintf("%s %.0f MiB", m.name, mib(m.toolRSS)))
		default:
			n++
			if mib(m.toolRSS) > rssMax {
				over = append(over, fmt.Sprintf("%s %.0f MiB", m.name, mib(m.toolRSS)))
			}
		}
	}
	if n > 0 {
		rss.met = yesNo(len(over) == 0)
		rss.measured = fmt.Sprintf("%d of %d over", len(over), n)
		if len(over) > 0 {
			rss.measured += ": " + strings.Join(over, "; ")
		}
		if len(extra) > 0 {
			rss.measured += " (beyond the issue's list, not counted: " + strings.Join(extra, "; ") + ")"
		}
	}
	ts = append(ts, rss)

	find := func(kind, scale string) *measurement {
		for i := range rows {
			if rows[i].kind == kind && rows[i].scale == scale && rows[i].toolRSS > 0 && rows[i].packets > 0 {
				return &rows[i]
			}
		}
		return nil
	}
	// sameRSS compares the peak RSS of two rows, b within sizeTol of a.
	sameRSS := func(t *target, a, b *measurement, an, bn string) {
		if a == nil || b == nil {
			return
		}
		x, y := mib(a.toolRSS), mib(b.toolRSS)
		t.measured = fmt.Sprintf("%.0f MiB at %s, %.0f MiB at %s (%+.0f%%)", x, an, y, bn, (y/x-1)*100)
		t.met = yesNo(y <= x*(1+sizeTol) && y >= x*(1-sizeTol))
	}
	small, large := find("ticket", "small"), find("ticket", "large")
	size := target{name: fmt.Sprintf("memory independent of capture size: 2 GB within %.0f%% of 200 MB", sizeTol*100), met: "not measured"}
	linear := target{name: fmt.Sprintf("time linear in packets: time per packet at 2 GB within %.0f%% of 200 MB", linearTol*100), met: "not measured"}
	sameRSS(&size, small, large, "200 MB", "2 GB")
	if small != nil && large != nil {
		pa := small.tool.Seconds() / float64(small.packets) * 1e9
		pb := large.tool.Seconds() / float64(large.packets) * 1e9
		linear.measured = fmt.Sprintf("%.0f ns at 200 MB, %.0f ns at 2 GB (%+.0f%%)", pa, pb, (pb/pa-1)*100)
		linear.met = yesNo(pb <= pa*(1+linearTol))
	}
	ts = append(ts, size, linear)
	// Beyond the list, shown only when measured: the same with
	// machines and users that come back (the report stops growing), and
	// from 2 GB to 4 GB (every bound full).
	for _, x := range []struct{ name, kind, a, b, an, bn string }{
		{fmt.Sprintf("(beyond the issue) site of %d: 2 GB within %.0f%% of 200 MB", sitePopulation, sizeTol*100), "site", "small", "large", "200 MB", "2 GB"},
		{fmt.Sprintf("(beyond the issue) site of %d: 4 GB within %.0f%% of 2 GB", sitePopulation, sizeTol*100), "site", "large", "huge", "2 GB", "4 GB"},
		{fmt.Sprintf("(beyond the issue) ticket: 4 GB within %.0f%% of 2 GB", sizeTol*100), "ticket", "large", "huge", "2 GB", "4 GB"},
	} {
		t := target{name: x.name}
		if sameRSS(&t, find(x.kind, x.a), find(x.kind, x.b), x.an, x.bn); t.met != "" {
			ts = append(ts, t)
		}
	}

	tshark := target{name: fmt.Sprintf("at least %dx faster than tshark on the slice", tsharkMin), met: "not measured"}
	for _, m := range rows {
		if m.kind == "tshark" {
			r := m.ratio()
			tshark.measured = fmt.Sprintf("%.0fx (tshark %.2f s, nspicap %.2f s)", r, m.base.Seconds(), m.tool.Seconds())
			tshark.met = yesNo(r >= tsharkMin)
		}
	}
	return append(ts, tshark)
}

func printTargets(ts []target) {
	fmt.Println("\n| target | measured | met? |")
	fmt.Println("|---|---|---|")
	for _, t := range ts {
		fmt.Printf("| %s | %s | %s |\n", t.name, t.measured, t.met)
	}
}
