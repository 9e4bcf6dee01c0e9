package dcerpc

import (
	"bytes"
	"testing"
)

func FuzzParsePDU(f *testing.F) {
	cl, sv := exchange(true)
	for _, b := range append(cl, sv...) {
		f.Add(b)
	}
	f.Add(pb{le: true, ptype: PTypeFault, flags: 3, callID: 7, body: faultBody(true, 5)}.bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePDU(b)
		if err == nil && int(p.FragLen) != len(b) {
			t.Fatalf("accepted frag_length %d for %d bytes", p.FragLen, len(b))
		}
	})
}

// FuzzConnFeed feeds arbitrary bytes, split at arbitrary points, to both
// directions, with a gap in between. Nothing may panic, and memory held by the
// connection stays bounded; every stub byte charged to the budget is given
// back once the connection is closed.
func FuzzConnFeed(f *testing.F) {
	cl, sv := exchange(true)
	f.Add(bytes.Join(cl, nil), bytes.Join(sv, nil), uint16(5), uint16(3), false)
	f.Add(bytes.Join(cl, nil)[7:], bytes.Join(sv, nil), uint16(1), uint16(0), true)
	f.Fuzz(func(t *testing.T, a, b []byte, split, gap uint16, fromStart bool) {
		r := &recorder{}
		budget, buffers := NewBudget(1<<13), NewBudget(1<<12)
		if gap&4 != 0 {
			buffers = budget // one budget for everything, as the pipeline has it
		}
		c := NewConn(meta(fromStart), r, Limits{MaxCallBytes: 1 << 12, MaxOpenCalls: 16, Budget: budget, Buffers: buffers})
		s := int(split)%(len(a)+1) + 0
		c.Feed(ClientToServer, pos(1), a[:s])
		c.Feed(ServerToClient, pos(2), b)
		if gap%3 == 0 {
			c.Gap(ClientToServer, pos(3), int(gap)-1)
		}
		c.Feed(ClientToServer, pos(4), a[s:])
		for _, d := range c.dirs {
			if len(d.buf) > 70000 {
				t.Fatalf("buffer grew to %d", len(d.buf))
			}
		}
		if budget.Held() > 1<<13 || budget.stubs > 1<<12 {
			t.Fatalf("budget overdrawn: %d bytes held, %d of stubs", budget.Held(), budget.stubs)
		}
		c.Close()
		if budget.Held() != 0 || buffers.Held() != 0 {
			t.Fatalf("%d stub bytes and %d buffered bytes still charged after Close", budget.Held(), buffers.Held())
		}
		for _, call := range r.calls {
			if call.Request != nil && len(call.Request.Stub) > 1<<12 {
				t.Fatalf("stub over the cap")
			}
		}
	})
}
