package analyze

import (
	"slices"
	"strings"
	"testing"
)

func lost(e *NSPICall) { e.Quality |= BytesLost }

// TestEvidenceQuality: a finding built on a call whose connection lost
// bytes says so in Evidence and in its message; one built on whole
// evidence does not; the marks of several calls add up.
func TestEvidenceQuality(t *testing.T) {
	g := newGen()
	// alice: an unbind of an unknown handle on a connection that lost
	// bytes; bob: the same, whole.
	g.unbind(1, cl1, srv1, `CONTOSO\alice`, 7, lost)
	g.unbind(2, cl2, srv1, `CONTOSO\bob`, 8)
	// carol: two calls on unknown handles, one inferred, one lost.
	g.use(3, cl1b, srv2, `CONTOSO\carol`, 9, func(e *NSPICall) { e.Quality |= IfaceInferred })
	g.use(3, cl1b, srv2, `CONTOSO\carol`, 10, lost)
	r := g.report(50)
	got := map[string]*Finding{}
	for i := range r.Findings {
		f := &r.Findings[i]
		got[string(f.User)+" "+f.Kind] = f
	}
	check := func(key string, want []string) {
		t.Helper()
		f := got[key]
		if f == nil {
			t.Fatalf("no finding %q in %v", key, r.Findings)
		}
		if !slices.Equal(f.Evidence, want) {
			t.Errorf("%s: evidence %v, want %v", key, f.Evidence, want)
		}
		if marked := strings.Contains(f.Message, "The evidence is not whole"); marked != (len(want) > 0) {
			t.Errorf("%s: message %q", key, f.Message)
		}
	}
	check(`CONTOSO\alice `+KindUnbindUnknownHandle, []string{"bytes_lost"})
	check(`CONTOSO\bob `+KindUnbindUnknownHandle, nil)
	check(`CONTOSO\carol `+KindSessionBeforeCapture, []string{"bytes_lost", "interface_inferred"})
}

// TestBatchOrder: a batch hands the events to the analyzer in the order
// they were added, whatever their types.
func TestBatchOrder(t *testing.T) {
	g := newGen()
	g.ok(1, cl1, srv1, `CONTOSO\alice`, 1).use(1, cl1, srv1, `CONTOSO\alice`, 1).end(1, cl1, srv1, HowFIN).
		refused(2, cl2, srv1, "").ok(2, cl2, srv1, `CONTOSO\bob`, 2).unbind(2, cl2, srv1, `CONTOSO\bob`, 2)
	var b Batch
	for _, e := range g.evs {
		b.Add(e)
	}
	b.Add(&ConnEnd{Meta: Meta{ConnID: 2, Client: cl2, Server: srv1, Time: g.t}, How: HowRST})
	if b.Len() != len(g.evs)+1 {
		t.Fatalf("batch of %d, want %d", b.Len(), len(g.evs)+1)
	}
	for i, e := range g.evs {
		if b.at(i).meta().Frame != e.meta().Frame {
			t.Fatalf("event %d: frame %v, want %v", i, b.at(i).meta().Frame, e.meta().Frame)
		}
	}
	if _, ok := b.at(len(g.evs)).(*ConnEnd); !ok {
		t.Errorf("last event %T, want *ConnEnd", b.at(len(g.evs)))
	}
	b.Reset()
	if b.Len() != 0 || len(b.nspi) != 0 || len(b.end) != 0 {
		t.Errorf("reset batch holds %d events", b.Len())
	}
}
