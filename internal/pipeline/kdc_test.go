package pipeline

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/kerberos"
)

func testRunner() *runner {
	return &runner{paths: []string{"a.pcap", "b.pcap"}, anoms: map[string]*Anomaly{}, kdc: newKDCState()}
}

var (
	kdcAddr = netip.MustParseAddrPort("198.51.100.10:88")
	cliAddr = netip.MustParseAddrPort("192.0.2.7:50000")
)

// kdcFixture issues a ticket and gives its TGS-REP and a bind's AP-REQ.
func kdcFixture(t testing.TB, user string) (rep, apReq []byte, tk *synth.KrbTicket) {
	c := synth.NewCapture("kdc-fixture-" + user)
	tk = c.IssueTicket(user, synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256)
	ctx, err := synth.NewKrbContext(synth.KrbSpec{User: user, Svc: synth.KrbSvc, Etype: synth.EtypeAES256,
		SessionEtype: synth.EtypeAES256, AuthType: synth.AuthTypeSPNEGO, Issued: tk}, synth.Start, 2)
	if err != nil {
		t.Fatal(err)
	}
	return c.KrbTGSRep(tk), ctx.APReq, tk
}

// A TGS-REP over UDP names the AP-REQ of a later bind; before it, or
// without it, the AP-REQ gets the ticket's label and no user. Tokens that
// are not an AP-REQ give no origin.
func TestNameTicketUDP(t *testing.T) {
	rep, ap, tk := kdcFixture(t, "alice")
	r := testRunner()
	t0 := synth.Start
	if u, o := r.nameTicket(ap, dcerpc.Pos{Frame: 1, Time: t0}); u != "" || o == nil || o.Ticket != tk.Label() || o.From != "" {
		t.Fatalf("before the TGS-REP: %q %+v", u, o)
	}
	r.Datagram(kdcAddr, cliAddr, capture.Pos{File: 1, Frame: 7, Time: t0.Add(time.Second)}, rep, 0)
	u, o := r.nameTicket(synth.GSSKrb5(ap), dcerpc.Pos{Frame: 9, Time: t0.Add(2 * time.Second)})
	if u != "alice@CONTOSO.EXAMPLE" || o == nil || o.From != dcerpc.OriginTGSRep || o.Pos.Frame != 7 || o.Pos.File != 1 || o.Ticket != "" {
		t.Fatalf("after the TGS-REP: %q %+v", u, o)
	}
	if u, o := r.nameTicket(rep, dcerpc.Pos{}); u != "" || o != nil {
		t.Errorf("a TGS-REP as a bind token: %q %+v", u, o)
	}
	// 10 hours after its issue the ticket is retired.
	if u, _ := r.nameTicket(ap, dcerpc.Pos{Time: t0.Add(11 * time.Hour)}); u != "" {
		t.Errorf("a ticket older than 10 h named %q", u)
	}
	if s := r.kdc.stats; s.Named != 1 || s.Unnamed != 2 || s.Issued != 1 || s.Messages != 1 {
		t.Errorf("stats %+v", s)
	}
	// A cut datagram is not decoded.
	r.Datagram(kdcAddr, cliAddr, capture.Pos{Frame: 10}, rep[:100], len(rep)-100)
	if r.kdc.stats.Malformed != 1 {
		t.Errorf("cut datagram: %+v", r.kdc.stats)
	}
}

// FAST (RFC 6113): an armored TGS-REP names the bind's client when its
// outer cname does, and never when it shows the anonymous principal or no
// name (the client asked the KDC to hide it): the ticket keeps its label.
func TestNameTicketFAST(t *testing.T) {
	for _, c := range []struct {
		hide synth.Hide
		user string
	}{{synth.ShowClient, "alice@CONTOSO.EXAMPLE"}, {synth.HideAnonymous, ""}, {synth.HideEmpty, ""}} {
		sc := synth.NewCapture("fast")
		tk := sc.IssueTicket("alice", synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256)
		ctx, err := synth.NewKrbContext(synth.KrbSpec{User: "alice", Svc: synth.KrbSvc, Etype: synth.EtypeAES256,
			SessionEtype: synth.EtypeAES256, AuthType: synth.AuthTypeSPNEGO, Issued: tk}, synth.Start, 2)
		if err != nil {
			t.Fatal(err)
		}
		r := testRunner()
		r.Datagram(cliAddr, kdcAddr, capture.Pos{Frame: 1}, sc.KrbTGSReqFAST("CONTOSO.EXAMPLE", synth.KrbSvc.Principal, nil), 0)
		r.Datagram(kdcAddr, cliAddr, capture.Pos{Frame: 2}, sc.KrbTGSRepFAST(tk, c.hide), 0)
		u, o := r.nameTicket(ctx.APReq, dcerpc.Pos{Frame: 9})
		hidden := int64(0)
		if c.user == "" {
			hidden = 1
		}
		if u != c.user || o == nil || (u == "") != (o.Ticket == tk.Label()) || r.kdc.stats.Armored != 1 || r.kdc.stats.Hidden != hidden ||
			r.kdc.stats.Messages != 2 || r.kdc.stats.Issued != 1-hidden {
			t.Errorf("hide %d: %q %+v, stats %+v", c.hide, u, o, r.kdc.stats)
		}
	}
}

// TCP: the record mark and the message split at every point, in one or
// two segments, and two records in one segment.
func TestKDCStreamSplits(t *testing.T) {
	rep, ap, _ := kdcFixture(t, "bob")
	rec := append(binary.BigEndian.AppendUint32(nil, uint32(len(rep))), rep...)
	ci := capture.ConnInfo{Client: cliAddr, Server: kdcAddr}
	for cut := 1; cut < len(rec); cut++ {
		r := testRunner()
		s := r.newKDCStream(ci)
		s.Data(capture.ServerToClient, capture.Pos{Frame: 3}, rec[:cut])
		s.Data(capture.ServerToClient, capture.Pos{Frame: 4}, rec[cut:])
		u, o := r.nameTicket(ap, dcerpc.Pos{Frame: 9})
		if u != "bob@CONTOSO.EXAMPLE" || o.Pos.Frame != 4 {
			t.Fatalf("cut at %d: %q %+v", cut, u, o)
		}
		if r.kdc.buffered != 0 {
			t.Fatalf("cut at %d: %d bytes still counted", cut, r.kdc.buffered)
		}
	}
	// Two records in one segment: the error is counted, the reply read.
	r := testRunner()
	c := synth.NewCapture("two")
	kerr := c.KrbError(18, "mallory", "CONTOSO.EXAMPLE", "krbtgt/CONTOSO.EXAMPLE")
	two := append(append(binary.BigEndian.AppendUint32(nil, uint32(len(kerr))), kerr...), rec...)
	s := r.newKDCStream(ci)
	s.Data(capture.ServerToClient, capture.Pos{Frame: 5}, two)
	if u, _ := r.nameTicket(ap, dcerpc.Pos{}); u != "bob@CONTOSO.EXAMPLE" || len(r.kdc.errors) != 1 || r.kdc.errors[0].Code != 18 {
		t.Fatalf("two records: %q %+v", u, r.kdc.errors)
	}
	r.kdcAnomaly()
	if a := r.anoms[AnomalyKDCError]; a == nil || a.Count != 1 || a.First.Frame != 5 {
		t.Fatalf("anomaly %+v", a)
	}
	// A bad record mark stops the direction; a gap too.
	r = testRunner()
	s = r.newKDCStream(ci)
	s.Data(capture.ServerToClient, capture.Pos{Frame: 1}, []byte{0x80, 0, 0, 1, 0})
	s.Data(capture.ServerToClient, capture.Pos{Frame: 2}, rec)
	s.Gap(capture.ClientToServer, capture.Pos{}, 10)
	if u, _ := r.nameTicket(ap, dcerpc.Pos{}); u != "" || r.kdc.stats.Malformed != 2 {
		t.Fatalf("after a bad mark: %q %+v", u, r.kdc.stats)
	}
}

// The table keeps at most max tickets, dropping the least recently used.
func TestTicketTableBounds(t *testing.T) {
	tt := newTicketTable(3, 10*time.Hour)
	t0 := synth.Start
	key := func(i byte) kerberos.TicketKey { return kerberos.TicketKey{i} }
	for i := byte(1); i <= 3; i++ {
		tt.add(key(i), issued{user: string('a' + i), pos: dcerpc.Pos{Time: t0}}, t0)
	}
	tt.get(key(1), t0) // 1 is now the most recent: 2 goes first
	if n := tt.add(key(4), issued{pos: dcerpc.Pos{Time: t0}}, t0); n != 1 || tt.len() != 3 {
		t.Fatalf("retired %d, len %d", n, tt.len())
	}
	if _, ok := tt.get(key(2), t0); ok {
		t.Error("the least recently used ticket kept")
	}
	if _, ok := tt.get(key(1), t0); !ok {
		t.Error("a recently used ticket dropped")
	}
	// Old ones go when a new one comes.
	if n := tt.add(key(5), issued{pos: dcerpc.Pos{Time: t0.Add(11 * time.Hour)}}, t0.Add(11*time.Hour)); n != 3 || tt.len() != 1 {
		t.Fatalf("age: retired %d, len %d", n, tt.len())
	}
}

// FuzzKDCMatcher: any bytes as UDP datagrams, TCP stream data and bind
// tokens: no panic, the buffered count back to zero at the end.
func FuzzKDCMatcher(f *testing.F) {
	rep, ap, _ := kdcFixture(f, "fuzz")
	f.Add(rep, ap, uint16(10))
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(rep))), rep...), ap, uint16(3))
	c := synth.NewCapture("fuzz-fast")
	tk := c.IssueTicket("fuzz", synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256)
	f.Add(c.KrbTGSRepFAST(tk, synth.HideAnonymous), c.KrbTGSReqFAST("CONTOSO.EXAMPLE", synth.KrbSvc.Principal, nil), uint16(40))
	f.Fuzz(func(t *testing.T, a, b []byte, cut uint16) {
		r := testRunner()
		r.Datagram(kdcAddr, cliAddr, capture.Pos{Frame: 1}, a, 0)
		s := r.newKDCStream(capture.ConnInfo{Client: cliAddr, Server: kdcAddr})
		c := min(int(cut), len(a))
		s.Data(capture.ServerToClient, capture.Pos{Frame: 2}, a[:c])
		s.Data(capture.ServerToClient, capture.Pos{Frame: 3}, a[c:])
		s.Data(capture.ClientToServer, capture.Pos{Frame: 4}, b)
		s.End(capture.Pos{}, capture.EndFIN)
		if r.kdc.buffered != 0 {
			t.Fatalf("%d bytes counted after End", r.kdc.buffered)
		}
		r.nameTicket(a, dcerpc.Pos{})
		r.nameTicket(b, dcerpc.Pos{})
		r.kdcAnomaly()
	})
}

// TestKDCMutations: seeded random damage to a TGS-REP (bare and with its
// record mark) and to an AP-REQ, through every entry point: no panic, no
// name from a damaged ticket unless its key survived.
func TestKDCMutations(t *testing.T) {
	rep, ap, _ := kdcFixture(t, "mut")
	seeds := [][]byte{rep, ap, append(binary.BigEndian.AppendUint32(nil, uint32(len(rep))), rep...)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		a := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for j := 0; j < 1+rng.IntN(4); j++ {
			a[rng.IntN(len(a))] = byte(rng.Uint32())
		}
		if rng.IntN(3) == 0 {
			a = a[:rng.IntN(len(a))]
		}
		r := testRunner()
		r.Datagram(kdcAddr, cliAddr, capture.Pos{Frame: 1}, a, 0)
		s := r.newKDCStream(capture.ConnInfo{Client: cliAddr, Server: kdcAddr})
		s.Data(capture.ServerToClient, capture.Pos{Frame: 2}, a)
		s.End(capture.Pos{}, capture.EndFIN)
		r.nameTicket(a, dcerpc.Pos{})
		if r.kdc.buffered != 0 {
			t.Fatalf("mutation %d: %d bytes counted", i, r.kdc.buffered)
		}
	}
}

// TestTicketTableCost: a full ticket table, with names of the longest
// kept length, stays within its 5 MiB of docs/memory.md.
func TestTicketTableCost(t *testing.T) {
	name := strings.Repeat("n", 60) + "@" + strings.Repeat("R", 39) // 100 bytes, the clip length
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tt := newTicketTable(maxTickets, ticketMaxAge)
	for i := 0; i < maxTickets+100; i++ {
		var k kerberos.TicketKey
		binary.LittleEndian.PutUint64(k[:], uint64(i))
		tt.add(k, issued{user: strings.Clone(name), pos: dcerpc.Pos{Time: synth.Start}}, synth.Start)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if tt.len() != maxTickets || used > 5<<20 {
		t.Fatalf("%d tickets use %d bytes (%d each), want at most 5 MiB", tt.len(), used, used/int64(tt.len()))
	}
	t.Logf("%d tickets: %.1f MiB, %d bytes each", tt.len(), float64(used)/(1<<20), used/int64(tt.len()))
	runtime.KeepAlive(tt)
}
