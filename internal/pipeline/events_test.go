package pipeline

import (
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

// TestCallOriginShared: the calls of one security context share one
// analyze.Origin, made again when the context's origin changes in place
// (a second AUTHENTICATE on the same context) or when its user is named.
func TestCallOriginShared(t *testing.T) {
	r := &runner{paths: []string{"a.pcap"}}
	k := &conn{r: r}
	o := &dcerpc.Origin{From: dcerpc.OriginNTLM, Pos: dcerpc.Pos{Frame: 5}}
	a := k.callOrigin(o, true)
	if b := k.callOrigin(o, true); b != a {
		t.Fatal("a second call of the context made a new origin")
	}
	if a.From != dcerpc.OriginNTLM || a.FromFrame.Frame != 5 || a.FromFrame.File != "a.pcap" || a.Ticket != "" {
		t.Fatalf("origin %+v", *a)
	}
	o.Pos.Frame = 9 // authenticated again
	b := k.callOrigin(o, true)
	if b == a || b.FromFrame.Frame != 9 || a.FromFrame.Frame != 5 {
		t.Fatalf("after a new AUTHENTICATE: %+v (the first, handed on, now %+v)", *b, *a)
	}
	kt := &dcerpc.Origin{Ticket: "exchangeAB/dc01#01020304", Via: "svc"}
	c := k.callOrigin(kt, false)
	if c.Ticket != kt.Ticket || c.Via != "svc" || c.From != "" {
		t.Fatalf("unnamed Kerberos origin %+v", *c)
	}
	if d := k.callOrigin(kt, true); d == c || d.Ticket != "" {
		t.Fatalf("a named context keeps the ticket label: %+v", *d)
	}
}
