package analyze

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/testutil"
)

// worstBind is a successful NspiBind by user on connection conn from client,
// returning handle number h.
func worstBind(t0 time.Time, i int, user string, conn uint64, client netip.Addr, h uint64) Event {
	ev := &NSPICall{
		Meta: Meta{Time: t0.Add(time.Duration(i) * time.Millisecond), Frame: FrameRef{File: "w.pcap", Frame: int64(2*i + 1)}, ConnID: conn,
			Client: netip.AddrPortFrom(client, 50000), Server: netip.MustParseAddrPort("10.0.0.1:4997")},
		Identity: Identity{User: user, Auth: "ntlm", AuthLevel: "privacy"},
		Answer: Answer{ReplyFrame: FrameRef{File: "w.pcap", Frame: int64(2*i + 2)},
			ReplyTime: t0.Add(time.Duration(i)*time.Millisecond + time.Microsecond), Answered: true, HasStatus: true},
		Op: OpOpen, Name: "NspiBind", HasHandle: true}
	for k := range 8 {
		ev.Handle[4+k] = byte(h >> (8 * k))
	}
	ev.Handle[19] = 0xaa
	return ev
}

// TestMemoryWorstCase feeds the analyzer what a crafted capture can: a
// million binds of one user never unbound, and then hundreds of thousands
// of users with the longest names nspicap keeps, each on its own client,
// each holding a session, over as many connections as the pipeline follows
// at once. The heap stays bounded by the options, and the
// report says what was given up.
func TestMemoryWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const bound = 64 << 20 // the analyzer's share in the memory sum (docs/memory.md)
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	base := testutil.HeapAfterGC()
	a := New(Options{})
	peak := uint64(0)
	measure := func() {
		h := testutil.HeapAfterGC()
		peak = max(peak, h-min(base, h))
	}
	// 200 000 binds and 100 000 users already fill every bound (the same
	// sessions followed, a peak within 1% of the full size's);
	// NSPICAP_SLOW_TESTS=1 gives the full million and 300 000.
	binds := testutil.Size(200_000, 1_000_000)
	client := netip.MustParseAddr("10.1.0.1")
	for i := range binds {
		a.Add(worstBind(t0, i, `CONTOSO\svc-leak`, 1, client, uint64(i+1)))
		if i%100_000 == 0 {
			measure()
		}
	}
	measure()
	if len(a.nspi.open) > a.opt.MaxOpenSessions {
		t.Errorf("%d sessions followed open, over %d", len(a.nspi.open), a.opt.MaxOpenSessions)
	}
	users := testutil.Size(100_000, 300_000)
	long := strings.Repeat("x", 85) // with the domain and number: 100 bytes, the longest name kept (ntlmssp.MaxNameLen)
	for u := range users {
		i := binds + u
		c := netip.AddrFrom4([4]byte{10, 2 + byte(u>>16), byte(u >> 8), byte(u)})
		// The pipeline follows at most --max-conns connections (20000)
		// at once; a connection carries the sessions of several users.
		a.Add(worstBind(t0, i, fmt.Sprintf(`CONTOSO\%s%07d`, long, u), uint64(2+u%20000), c, uint64(i+1)))
		if u%50_000 == 0 {
			measure()
		}
	}
	measure()
	r := a.Report(nil)
	measure()
	t.Logf("peak heap %.1f MiB; %d sessions open followed; %d findings", float64(peak)/(1<<20), len(a.nspi.open), len(r.Findings))
	if peak > bound {
		t.Errorf("analyzer heap reached %.1f MiB, over its %d MiB share", float64(peak)/(1<<20), bound>>20)
	}
	if r.Totals.BindsOK != binds+users || r.Totals.OpenAtEnd != binds+users {
		t.Errorf("binds ok %d, open at end %d; want %d each", r.Totals.BindsOK, r.Totals.OpenAtEnd, binds+users)
	}
	if !strings.Contains(strings.Join(r.Verdict, " "), "--max-open-sessions") {
		t.Errorf("the verdict does not say sessions were shed: %q", r.Verdict)
	}
	if !r.HasKind(KindLeak) {
		t.Errorf("no leak finding for a million binds never unbound")
	}
	runtime.KeepAlive(r)
}
