package analyze

import (
	"fmt"
	"math/rand"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/testutil"
)

// workload generates a busy domain controller's NSPI traffic one event at a
// time: thousands of users on thousands of connections bind, call and
// unbind; one user in ten never unbinds, and its sessions pile up until the
// DC refuses its binds or its connection closes.
type workload struct {
	rng    *rand.Rand
	t      time.Time
	frame  int64
	conns  []*wconn
	nextID uint64
	handle uint64
	held   map[int]int // sessions held per user, as the DC counts them
	users  int
	names  []string
}

type wconn struct {
	id      uint64
	user    int
	client  netip.AddrPort
	server  netip.AddrPort
	open    [][20]byte // sessions bound on it, not unbound
	left    int        // events before it closes
	leaking bool
}

func newWorkload(seed int64, users, conns int) *workload {
	w := &workload{rng: rand.New(rand.NewSource(seed)), t: time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC), held: map[int]int{}, users: users}
	for u := range users {
		w.names = append(w.names, fmt.Sprintf(`CONTOSO\user%d`, u))
	}
	for range conns {
		w.conns = append(w.conns, w.newConn())
	}
	return w
}

func (w *workload) newConn() *wconn {
	w.nextID++
	u := w.rng.Intn(w.users)
	c := &wconn{
		id:      w.nextID,
		user:    u,
		client:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(u >> 8 & 7), byte(u)}), uint16(1024+w.nextID%60000)),
		server:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + u%2)}), 4997),
		left:    10 + w.rng.Intn(300),
		leaking: u%10 == 0,
	}
	return c
}

func (w *workload) next() Event {
	w.t = w.t.Add(time.Duration(w.rng.Intn(20)) * time.Millisecond)
	i := w.rng.Intn(len(w.conns))
	c := w.conns[i]
	w.frame += 2
	ev := &NSPICall{
		Meta:      Meta{Time: w.t, Frame: FrameRef{File: "dc.pcapng", Frame: w.frame - 1}, ConnID: c.id, Client: c.client, Server: c.server},
		Identity:  Identity{User: w.names[c.user], Auth: "kerberos", AuthLevel: "privacy"},
		Answer:    Answer{ReplyFrame: FrameRef{File: "dc.pcapng", Frame: w.frame}, ReplyTime: w.t.Add(time.Millisecond), Answered: true, HasStatus: true},
		HasHandle: true,
	}
	c.left--
	switch r := w.rng.Intn(10); {
	case c.left <= 0:
		end := &ConnEnd{Meta: Meta{Time: w.t, Frame: ev.Frame, ConnID: c.id, Client: c.client, Server: c.server}, How: HowFIN}
		w.held[c.user] -= len(c.open)
		if w.rng.Intn(20) == 0 {
			end.How = HowRST
		}
		w.conns[i] = w.newConn()
		return end
	case len(c.open) == 0 || r < 2:
		ev.Op, ev.Name = OpOpen, "NspiBind"
		if w.held[c.user] >= DefaultLimit {
			ev.Status = StatusLogonFailed
			break
		}
		w.handle++
		ev.Handle[4], ev.Handle[5], ev.Handle[6], ev.Handle[7] = byte(w.handle), byte(w.handle>>8), byte(w.handle>>16), byte(w.handle>>24)
		ev.Handle[19] = 0xaa
		c.open = append(c.open, ev.Handle)
		w.held[c.user]++
	case r < 4 && !c.leaking:
		ev.Op, ev.Name, ev.Opnum, ev.Status = OpClose, "NspiUnbind", 1, UnbindSuccess
		k := w.rng.Intn(len(c.open))
		ev.Handle = c.open[k]
		c.open[k] = c.open[len(c.open)-1]
		c.open = c.open[:len(c.open)-1]
		w.held[c.user]--
	default:
		ev.Op, ev.Name, ev.Opnum = OpUse, "NspiQueryRows", 3
		ev.Handle = c.open[w.rng.Intn(len(c.open))]
		if w.rng.Intn(200) == 0 {
			ev.Answered, ev.HasStatus, ev.ReplyFrame, ev.ReplyTime = false, false, FrameRef{}, time.Time{}
		}
	}
	return ev
}

// TestMemoryBounded feeds two million events and checks that the heap
// stays far below what keeping the events would take (~300 bytes each):
// the analyzer keeps live state and bounded lists only.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	// A million events fill the lists and tables; NSPICAP_SLOW_TESTS=1
	// runs two million.
	n := testutil.Size(1_000_000, 2_000_000)
	const budget = 64 << 20
	base := testutil.HeapAfterGC()
	w := newWorkload(1, 5000, 3000)
	a := New(Options{})
	var peak, half uint64
	for i := 1; i <= n; i++ {
		a.Add(w.next())
		if i%250_000 == 0 {
			h := testutil.HeapAfterGC() - min(base, testutil.HeapAfterGC())
			peak = max(peak, h)
			if i == n/2 {
				half = h
			}
		}
	}
	end := testutil.HeapAfterGC() - min(base, testutil.HeapAfterGC())
	t.Logf("heap after GC: %.1f MiB at 1M events, %.1f MiB at 2M, peak %.1f MiB (events alone would take %.0f MiB)",
		float64(half)/(1<<20), float64(end)/(1<<20), float64(peak)/(1<<20), float64(n)*300/(1<<20))
	if peak > budget {
		t.Errorf("heap reached %.1f MiB, want under %d MiB", float64(peak)/(1<<20), budget>>20)
	}
	r := a.Report(nil)
	withReport := testutil.HeapAfterGC() - min(base, testutil.HeapAfterGC())
	t.Logf("with the report: %.1f MiB; %d sessions listed of %d binds ok, %d refusals, %d findings",
		float64(withReport)/(1<<20), len(r.Sessions), r.Totals.BindsOK, len(r.Refusals), len(r.Findings))
	if len(r.Sessions) != DefaultMaxSessions || r.Totals.BindsOK <= DefaultMaxSessions {
		t.Errorf("%d sessions listed of %d", len(r.Sessions), r.Totals.BindsOK)
	}
	if !strings.Contains(strings.Join(r.Verdict, " "), fmt.Sprintf("the first %d of %d sessions", DefaultMaxSessions, r.Totals.BindsOK)) {
		t.Errorf("verdict does not say the session list was cut: %q", r.Verdict)
	}
	if !r.HasKind(KindLeak) || !r.HasKind(KindSessionLimit) {
		t.Errorf("want leak and session_limit findings, got %d findings", len(r.Findings))
	}
	runtime.KeepAlive(r)
}

func BenchmarkAnalyzerAdd(b *testing.B) {
	w := newWorkload(1, 5000, 3000)
	evs := make([]Event, 1<<16)
	for i := range evs {
		evs[i] = w.next()
	}
	a := New(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(evs) == 0 && i > 0 {
			b.StopTimer()
			for j := range evs {
				evs[j] = w.next()
			}
			b.StartTimer()
		}
		a.Add(evs[i%len(evs)])
	}
}
