package analyze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/netip"
	"testing"
	"time"
)

// randomEvents makes a random but plausible event stream: binds (some
// refused, failed, sealed, or reusing a handle still open), unbinds (of open,
// ended and unknown handles), calls, unanswered calls, and connections that
// end every way.
type rconn struct {
	id     uint64
	client netip.AddrPort
	server netip.AddrPort
	user   string
	anon   bool
}

func randomEvents(rng *rand.Rand, n int) []Event {
	t := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	var frame int64
	servers := []netip.AddrPort{srv1, srv2}
	users := []string{`CONTOSO\a`, `contoso\A`, `CONTOSO\b`, `CONTOSO\c`, ""}
	var conns []*rconn
	var nextConn uint64
	var open [][20]byte
	var ended [][20]byte
	var evs []Event
	nh := 0
	newConn := func() *rconn {
		nextConn++
		u := users[rng.Intn(len(users))]
		c := &rconn{id: nextConn, client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(1 + rng.Intn(4))}), uint16(50000+nextConn)),
			server: servers[rng.Intn(len(servers))], user: u, anon: u == "" || rng.Intn(8) == 0}
		conns = append(conns, c)
		return c
	}
	for len(evs) < n {
		if len(conns) == 0 || rng.Intn(10) == 0 {
			newConn()
		}
		c := conns[rng.Intn(len(conns))]
		frame++
		switch rng.Intn(4) {
		case 0:
		case 1:
			t = t.Add(time.Duration(rng.Intn(120)) * time.Second)
		case 2:
			t = t.Add(time.Duration(rng.Intn(3600)) * time.Millisecond)
		case 3:
			t = t.Add(-time.Duration(rng.Intn(3)) * time.Second)
		}
		ev := &NSPICall{
			Meta:     Meta{Time: t, Frame: FrameRef{File: "r.pcap", Frame: frame}, ConnID: c.id, Client: c.client, Server: c.server},
			Identity: Identity{User: c.user, Auth: "ntlmssp", AuthLevel: "connect", Anonymous: c.anon},
			Answer:   Answer{Answered: true, HasStatus: true},
		}
		if c.anon && c.user == "" {
			ev.Auth = "none"
		}
		if rng.Intn(12) != 0 {
			ev.ReplyFrame = FrameRef{File: "r.pcap", Frame: frame + 1}
			ev.ReplyTime = t.Add(time.Millisecond)
			frame++
		}
		pick := func(l [][20]byte) ([20]byte, bool) {
			if len(l) == 0 {
				return [20]byte{}, false
			}
			return l[rng.Intn(len(l))], true
		}
		r := rng.Intn(100)
		switch {
		case r < 30:
			ev.Op, ev.Name = OpOpen, "NspiBind"
			ev.HasHandle = true
			switch q := rng.Intn(20); {
			case q < 12:
				if h, ok := pick(open); ok && rng.Intn(30) == 0 {
					ev.Handle = h // the server reuses a handle still open
				} else {
					nh++
					ev.Handle = hd(nh)
					open = append(open, ev.Handle)
				}
			case q < 16:
				ev.Status = StatusLogonFailed
			case q < 17:
				ev.HasStatus, ev.HasFault, ev.Fault = false, true, 0x1c010002
			case q < 18:
				ev.Status = 0x80070005
			case q < 19:
				ev.Status = 0 // null handle
			default:
				ev.HasHandle = false // sealed
				ev.Sealed, ev.HasStatus = true, false
			}
		case r < 45:
			ev.Op, ev.Name, ev.Opnum = OpClose, "NspiUnbind", 1
			ev.Status = UnbindSuccess
			ev.HasHandle = true
			var ok bool
			switch q := rng.Intn(10); {
			case q < 7:
				ev.Handle, ok = pick(open)
			case q < 8:
				ev.Handle, ok = pick(ended)
			default:
				nh++
				ev.Handle, ok = hd(nh+100000), true
			}
			if !ok {
				nh++
				ev.Handle = hd(nh + 100000)
			}
			switch rng.Intn(12) {
			case 0:
				ev.Status = UnbindFailure
			case 1:
				ev.HasStatus, ev.HasFault, ev.Fault = false, true, 0x1c00001a
			case 2:
				ev.Answered, ev.HasStatus, ev.ReplyFrame, ev.ReplyTime = false, false, FrameRef{}, time.Time{}
			}
			for i, h := range open {
				if h == ev.Handle && !ev.HasFault {
					open = append(open[:i], open[i+1:]...)
					ended = append(ended, h)
					break
				}
			}
		case r < 85:
			ev.Op, ev.Name, ev.Opnum = OpUse, fmt.Sprintf("Nspi%d", rng.Intn(4)), uint16(2+rng.Intn(18))
			if rng.Intn(5) == 0 {
				ev.Name = ""
			}
			ev.HasHandle = true
			var ok bool
			switch q := rng.Intn(20); {
			case q < 16:
				ev.Handle, ok = pick(open)
			case q < 18:
				ev.Handle, ok = pick(ended)
			case q < 19:
				nh++
				ev.Handle, ok = hd(nh+200000), true
			default:
				ev.HasHandle, ev.Sealed, ev.HasStatus = false, true, false
				ok = true
			}
			if !ok {
				ev.HasHandle = false
			}
			if rng.Intn(15) == 0 {
				ev.HasStatus, ev.HasFault, ev.Fault = false, true, 0x1c00001a
			}
		default:
			end := &ConnEnd{Meta: Meta{Time: t, Frame: FrameRef{File: "r.pcap", Frame: frame}, ConnID: c.id, Client: c.client, Server: c.server}}
			end.How = []How{HowFIN, HowRST, HowFIN, HowEvicted, HowEndOfCapture}[rng.Intn(5)]
			for i, x := range conns {
				if x == c {
					conns = append(conns[:i], conns[i+1:]...)
					break
				}
			}
			evs = append(evs, end)
			continue
		}
		if rng.Intn(25) == 0 {
			ev.Answered, ev.HasStatus, ev.HasFault, ev.ReplyFrame, ev.ReplyTime = false, false, false, FrameRef{}, time.Time{}
		}
		evs = append(evs, ev)
	}
	for _, c := range conns {
		frame++
		evs = append(evs, &ConnEnd{Meta: Meta{Time: t, Frame: FrameRef{File: "r.pcap", Frame: frame}, ConnID: c.id, Client: c.client, Server: c.server}, How: HowEndOfCapture})
	}
	return evs
}

// roundRates rounds the leak rates, which the summaries may change in the
// last bits.
func roundRates(r *Report) *Report {
	for i := range r.Findings {
		r.Findings[i].RatePerHour = math.Round(r.Findings[i].RatePerHour*1e6) / 1e6
	}
	for i := range r.Timeline {
		r.Timeline[i].RatePerHour = math.Round(r.Timeline[i].RatePerHour*1e6) / 1e6
	}
	return r
}

func reportJSON(t *testing.T, r *Report) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// diffReports shows the first line that differs, indented.
func diffReports(got, want string) string {
	var g, w bytes.Buffer
	_ = json.Indent(&g, []byte(got), "", " ")
	_ = json.Indent(&w, []byte(want), "", " ")
	return diffLines(g.String(), w.String())
}

// TestReportIsRepeatable: Report changes nothing, even between Adds.
func TestReportIsRepeatable(t *testing.T) {
	t.Parallel()
	for seed := int64(0); seed < 100; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 50+rng.Intn(1000))
		limit := 2 + rng.Intn(8)
		a, b := New(Options{Limit: limit}), New(Options{Limit: limit})
		for i, e := range evs {
			a.Add(e)
			b.Add(e)
			if i%97 == 0 {
				a.Report(nil)
			}
		}
		want := reportJSON(t, b.Report(nil))
		if got := reportJSON(t, a.Report(nil)); got != want {
			t.Fatalf("seed %d: Report between Adds changed the result\n%s", seed, diffReports(got, want))
		}
		if got := reportJSON(t, a.Report(nil)); got != want {
			t.Fatalf("seed %d: second Report differs\n%s", seed, diffReports(got, want))
		}
	}
}

// TestLeakSummariesAgree: leak series that switch to summaries (leak.go)
// give the same report, rates equal up to rounding.
func TestLeakSummariesAgree(t *testing.T) {
	t.Parallel()
	defer func(p, all int) { maxPending, maxPendingAll = p, all }(maxPending, maxPendingAll)
	for seed := int64(0); seed < 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		evs := randomEvents(rng, 50+rng.Intn(2000))
		limit := 2 + rng.Intn(8)
		run := func(pending, all int) string {
			maxPending, maxPendingAll = pending, all
			a := New(Options{Limit: limit})
			for _, e := range evs {
				a.Add(e)
			}
			return reportJSON(t, roundRates(a.Report(nil)))
		}
		want := run(1<<30, 1<<30)
		for _, p := range [][2]int{{3, 1 << 30}, {1 << 30, 5}, {40, 100}} {
			if got := run(p[0], p[1]); got != want {
				t.Fatalf("seed %d, pending %v: reports differ\n%s", seed, p, diffReports(got, want))
			}
		}
	}
}

func diffLines(a, b string) string {
	la, lb := splitLines(a), splitLines(b)
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			lo := max(0, i-5)
			return fmt.Sprintf("line %d\n got: %q\nwant: %q\ncontext got:\n%s\ncontext want:\n%s", i, la[i], lb[i], join(la[lo:min(len(la), i+5)]), join(lb[lo:min(len(lb), i+5)]))
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(la), len(lb))
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func join(l []string) string {
	s := ""
	for _, x := range l {
		s += x + "\n"
	}
	return s
}
