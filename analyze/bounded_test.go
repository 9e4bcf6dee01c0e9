package analyze

import (
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestEvidenceAcc(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 10, 11, 12, 50, 500} {
		seqs := rng.Perm(n * 3)[:n]
		var a, b1, b2 evAcc
		for i, s := range seqs {
			e := evidence{seq: s, frame: FrameRef{File: "f", Frame: int64(s)}}
			a.add(e)
			if i%2 == 0 {
				b1.add(e)
			} else {
				b2.add(e)
			}
		}
		b1.merge(&b2)
		sorted := append([]int(nil), seqs...)
		sort.Ints(sorted)
		var want []int64
		for i, s := range sorted {
			if i < maxFrames-1 || i == len(sorted)-1 {
				want = append(want, int64(s))
			}
		}
		for _, acc := range []*evAcc{&a, &b1} {
			fs, first := acc.frames()
			var got []int64
			for _, f := range fs {
				got = append(got, f.Frame)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || first != sorted[0] || acc.n != n {
				t.Errorf("n=%d: frames %v first %d count %d, want %v %d %d", n, got, first, acc.n, want, sorted[0], n)
			}
		}
	}
}

func TestRecentSet(t *testing.T) {
	s := newRecentSet[int, int](4)
	for k := 1; k <= 4; k++ {
		s.put(k, k*10)
	}
	s.put(2, 21) // 2 again: evicts 1
	s.put(5, 50) // reuses the old slot of 2, which must stay
	s.put(6, 60) // evicts 3
	for k, want := range map[int]bool{1: false, 2: true, 3: false, 4: true, 5: true, 6: true} {
		if _, ok := s.get(k); ok != want {
			t.Errorf("key %d present %v, want %v", k, ok, want)
		}
	}
	if v, _ := s.get(2); v != 21 {
		t.Errorf("2 = %d", v)
	}
	s.put(7, 70) // evicts 4
	s.put(8, 80) // evicts 2
	if _, ok := s.get(2); ok {
		t.Error("2 should be gone")
	}
	if len(s.m) != 4 {
		t.Errorf("%d keys kept, want 4", len(s.m))
	}
}

func TestTallyAndHandleCaps(t *testing.T) {
	var tl tally
	for i := range maxTally + 5 {
		tl.add(fmt.Sprintf("s%03d", i), 1)
	}
	tl.add("s000", 2)
	if s := tl.String(); !strings.HasPrefix(s, "s000 ×3, s001 ×1") || !strings.HasSuffix(s, "others ×5") {
		t.Errorf("tally %q", s)
	}
	var hs handleSet
	for i := range maxHandles + 3 {
		hs.add(hd(i))
	}
	if s, many := hs.text(); s != fmt.Sprintf("more than %d context handles", maxHandles) || !many {
		t.Errorf("handles %q", s)
	}
}

// TestTruncatedLists: the lists stop at MaxSessions and MaxRefusals, the
// counters and findings do not, and the verdict says so.
func TestTruncatedLists(t *testing.T) {
	g := newGen()
	for i := 1; i <= 6; i++ {
		g.ok(uint64(i), cl1, srv1, svc, i)
	}
	for range 4 {
		g.refused(9, cl1, srv1, svc)
	}
	a := New(Options{Limit: 6, MaxSessions: 4, MaxRefusals: 3})
	for _, e := range g.evs {
		a.Add(e)
	}
	r := a.Report(nil)
	if len(r.Sessions) != 4 || r.Sessions[3].Handle != hexs(hd(4)) {
		t.Errorf("%d sessions listed", len(r.Sessions))
	}
	if len(r.Refusals) != 3 {
		t.Errorf("%d refusals listed", len(r.Refusals))
	}
	if want := (Counters{Binds: 10, BindsOK: 6, BindsLogonFailed: 4, OpenAtEnd: 6, PeakConcurrent: 6}); r.Totals != want {
		t.Errorf("totals %+v", r.Totals)
	}
	if f := findings(r, KindSessionLimit); len(f) != 1 || f[0].Count != 4 {
		t.Errorf("session_limit %+v", f)
	}
	if f := findings(r, KindLeak); len(f) != 1 || f[0].Count != 6 {
		t.Errorf("leak %+v", f)
	}
	want := "The report lists only the first 4 of 6 sessions and the first 3 of 4 refused binds, in capture order; the counters, findings and this verdict count them all."
	if last := r.Verdict[len(r.Verdict)-1]; last != want {
		t.Errorf("verdict ends %q\nwant        %q", last, want)
	}
	// Without the caps, no such sentence.
	r = g.report(6)
	if strings.Contains(strings.Join(r.Verdict, " "), "lists only") {
		t.Errorf("verdict %q", r.Verdict)
	}
}

// refLeak is the leak series as the analyzer first computed it, from every
// session never unbound: the changes sorted by seq, the least-squares
// slope over all of them.
func refLeak(binds []int, bt []time.Time, ends []int, et []time.Time) (peak int, rate float64) {
	type change struct {
		seq int
		t   time.Time
		d   int
	}
	var ch []change
	for i := range binds {
		ch = append(ch, change{binds[i], bt[i], +1})
		if ends[i] >= 0 {
			ch = append(ch, change{ends[i], et[i], -1})
		}
	}
	sort.SliceStable(ch, func(i, j int) bool { return ch[i].seq < ch[j].seq })
	n := 0
	var xs, ys []float64
	for _, c := range ch {
		n += c.d
		peak = max(peak, n)
		xs = append(xs, c.t.Sub(ch[0].t).Hours())
		ys = append(ys, float64(n))
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	m := float64(len(xs))
	if m < 2 || m*sxx-sx*sx <= 1e-12 {
		return peak, 0
	}
	return peak, (m*sxy - sx*sy) / (m*sxx - sx*sx)
}

// TestLeakSeriesExact: sessions that stay open while hundreds of others
// come and go (held back, then folded in bulk) give bit for bit the slope
// of the whole series.
func TestLeakSeriesExact(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	l := &leakSeries{all: new(int)}
	t0 := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	var open []*sess
	var binds, ends []int
	var bt, et []time.Time
	seq := 0
	cg := &group{client: ip(netip.MustParseAddr("10.0.1.5"))}
	for seq < 3000 {
		seq++
		tm := t0.Add(time.Duration(seq)*time.Minute + time.Duration(rng.Intn(1000))*time.Millisecond)
		if len(open) < 3 || rng.Intn(2) == 0 {
			s := &sess{seq: seq, bindT: tm, cg: cg}
			l.opened(s)
			open = append(open, s)
			continue
		}
		// End one of the recent sessions, or rarely one of the old ones
		// that hold the series back.
		i := len(open) - 1 - rng.Intn(min(len(open), 5))
		if rng.Intn(200) == 0 {
			i = 0
		}
		s := open[i]
		open = append(open[:i], open[i+1:]...)
		never := rng.Intn(3) != 0
		l.ended(s, never, seq, tm)
		if never {
			binds, bt = append(binds, s.seq), append(bt, s.bindT)
			ends, et = append(ends, seq), append(et, tm)
		}
	}
	for _, s := range open {
		binds, bt = append(binds, s.seq), append(bt, s.bindT)
		ends, et = append(ends, -1), append(et, time.Time{})
	}
	res := l.result()
	peak, rate := refLeak(binds, bt, ends, et)
	if res.peak != peak || res.rate != rate || res.never != len(binds) || res.open != len(open) {
		t.Errorf("series: peak %d rate %v never %d open %d; want %d %v %d %d", res.peak, res.rate, res.never, res.open, peak, rate, len(binds), len(open))
	}
	if l.over {
		t.Error("switched to summaries")
	}
}
