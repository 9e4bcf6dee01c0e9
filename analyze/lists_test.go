package analyze

import (
	"errors"
	"math/rand"
	"reflect"
	"testing"
)

// TestReportStreamedSame: a streamed report gives, one at a time, the same
// sessions and refusals in the same order as Report's slices, on random
// streams whose times repeat and go back, with the lists cut short too;
// the rest of the report is the same.
func TestReportStreamedSame(t *testing.T) {
	t.Parallel()
	most := 0
	for seed := int64(0); seed < 150; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 50+rng.Intn(1500))
		o := Options{Limit: 2 + rng.Intn(8)}
		if seed%3 == 0 {
			o.MaxSessions, o.MaxRefusals = 1+rng.Intn(40), 1+rng.Intn(40)
		}
		a := New(o)
		for _, e := range evs {
			a.Add(e)
		}
		want := a.Report(nil)
		got := a.ReportStreamed(nil)
		if got.NumSessions() != len(want.Sessions) || got.NumRefusals() != len(want.Refusals) {
			t.Fatalf("seed %d: streamed %d sessions, %d refusals; want %d, %d", seed, got.NumSessions(), got.NumRefusals(), len(want.Sessions), len(want.Refusals))
		}
		var ss []Session
		var rs []Refusal
		if err := got.EachSession(func(s *Session) error { ss = append(ss, *s); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := got.EachRefusal(func(r *Refusal) error { rs = append(rs, *r); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ss, nilIfEmpty(want.Sessions)) {
			t.Fatalf("seed %d: streamed sessions differ", seed)
		}
		if !reflect.DeepEqual(rs, nilIfEmpty(want.Refusals)) {
			t.Fatalf("seed %d: streamed refusals differ", seed)
		}
		for i := 1; i < len(ss); i++ {
			if c := ss[i-1].BindTime.Compare(ss[i].BindTime); c > 0 || c == 0 && ss[i-1].BindFrame.Frame > ss[i].BindFrame.Frame {
				t.Fatalf("seed %d: session %d (frame %d) listed before session %d (frame %d): not in time, then capture, order", seed, i-1, ss[i-1].BindFrame.Frame, i, ss[i].BindFrame.Frame)
			}
		}
		for i := 1; i < len(rs); i++ {
			if c := rs[i-1].Time.Compare(rs[i].Time); c > 0 || c == 0 && rs[i-1].Frame.Frame > rs[i].Frame.Frame {
				t.Fatalf("seed %d: refusal %d (frame %d) listed before refusal %d (frame %d): not in time, then capture, order", seed, i-1, rs[i-1].Frame.Frame, i, rs[i].Frame.Frame)
			}
		}
		got.Sessions, got.Refusals = want.Sessions, want.Refusals
		if g, w := reportJSON(t, got), reportJSON(t, want); g != w {
			t.Fatalf("seed %d: streamed report differs\n%s", seed, diffReports(g, w))
		}
		most = max(most, len(ss)+len(rs))
	}
	if most < 100 {
		t.Errorf("at most %d sessions and refusals in a stream: too few to test the order", most)
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestEachStops: EachSession and EachRefusal stop at f's first error and
// return it, streamed or not.
func TestEachStops(t *testing.T) {
	a := New(Options{Limit: 2})
	for _, e := range randomEvents(rand.New(rand.NewSource(7)), 800) {
		a.Add(e)
	}
	stop := errors.New("stop")
	for _, r := range []*Report{a.Report(nil), a.ReportStreamed(nil)} {
		if r.NumSessions() < 3 || r.NumRefusals() < 3 {
			t.Fatalf("%d sessions, %d refusals: too few", r.NumSessions(), r.NumRefusals())
		}
		n := 0
		if err := r.EachSession(func(*Session) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("EachSession: %v after %d calls; want stop after 1", err, n)
		}
		n = 0
		if err := r.EachRefusal(func(*Refusal) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("EachRefusal: %v after %d calls; want stop after 1", err, n)
		}
	}
}
