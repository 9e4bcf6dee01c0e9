package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestEMSMDBStatuses: MAPI_E_SESSION_LIMIT counts as the session limit like
// ecMaxObjsExceeded; ecLoginFailure is a logon failure; the user key is the
// DN when the call carries no NTLM identity.
func TestEMSMDBStatuses(t *testing.T) {
	a := New(Options{EMSMDBLimit: 2})
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("198.51.100.20:59531")
	cl := netip.MustParseAddrPort("192.0.2.5:50000")
	frame := int64(0)
	connect := func(user, dn string, status uint32, h byte) {
		frame += 2
		ev := &StoreCall{
			Meta:     Meta{Time: t0.Add(time.Duration(frame) * time.Minute), Frame: FrameRef{"x", frame - 1}, ConnID: 1, Client: cl, Server: srv},
			Identity: Identity{User: user, Auth: "ntlmssp"},
			Answer:   Answer{ReplyFrame: FrameRef{"x", frame}, Answered: true, HasStatus: true, Status: status},
			Op:       OpOpen, Name: "EcDoConnect", HasHandle: true, UserDN: dn}
		ev.Handle[19] = h
		a.Add(ev)
	}
	connect("", "/o=C/cn=bob", 0, 1)
	connect("", "/o=C/cn=bob", 0, 2)
	connect("", "/o=C/cn=bob", 0x80040112, 0)
	connect(`CONTOSO\carol`, "/o=C/cn=carol", 0x80040111, 0)
	r := a.Report(nil)
	kinds := map[string]*Finding{}
	for i := range r.Findings {
		kinds[r.Findings[i].Kind] = &r.Findings[i]
	}
	if f := kinds[KindEMSMDBSessionLimit]; f == nil || f.User != "/o=C/cn=bob" || !strings.Contains(f.Message, "MAPI_E_SESSION_LIMIT") || f.Frames[0].Frame != 6 {
		t.Errorf("emsmdb_session_limit: %+v", f)
	}
	if f := kinds[KindEMSMDBLogonFailed]; f == nil || f.User != `CONTOSO\carol` || f.Severity != SevError {
		t.Errorf("emsmdb_logon_failed: %+v", f)
	}
	if len(r.EMSMDBSessions) != 2 || r.EMSMDBSessions[0].UserDN != "/o=C/cn=bob" || r.EMSMDBLimit != 2 {
		t.Errorf("sessions %+v", r.EMSMDBSessions)
	}
	for _, tl := range r.Timeline {
		if len(tl.Held) > maxBuckets {
			t.Errorf("timeline of %d buckets", len(tl.Held))
		}
	}
}

// TestTimelineBuckets: a day-long series keeps at most maxBuckets points
// and its peak.
func TestTimelineBuckets(t *testing.T) {
	x := newTimeline(newCore(Options{}))
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	x.t0, x.started = t0, true
	for i := 0; i < 1000; i++ {
		x.set("k", "nspi", netip.Addr{}, "u", peer{}, false, t0.Add(time.Duration(i)*86*time.Second), i%50)
	}
	s := x.series["k"]
	if len(s.b) > maxPoints || s.peak != 49 {
		t.Errorf("series: %d buckets, peak %d", len(s.b), s.peak)
	}
}

// TestTimelineRefused: the timeline counts the refused binds of a user and
// of its client in the buckets they fell in, and a long capture that
// coarsens the buckets keeps their sum; a row without refusals has none.
func TestTimelineRefused(t *testing.T) {
	g := newGen()
	g.step = 30 * time.Second // 2 frames a call: a minute per call
	for i := 1; i <= 200; i++ {
		if i <= 5 {
			g.ok(uint64(i), cl1, srv1, `CONTOSO\svc`, i)
		} else {
			g.refused(uint64(i), cl1, srv1, `CONTOSO\svc`)
		}
	}
	g.ok(300, cl2, srv1, `CONTOSO\alice`, 300)
	r := g.report(5)
	var rows int
	for _, tl := range r.Timeline {
		sum, last := 0, -1
		for i, v := range tl.Refused {
			sum += v
			if v > 0 {
				last = i
			}
		}
		switch {
		case tl.By == "user" && tl.User == `CONTOSO\svc`, tl.By == "client" && tl.Client == "10.0.1.5":
			rows++
			if sum != 195 || len(tl.Refused) != len(tl.Held) || last != len(tl.Held)-1 {
				t.Errorf("%s row: %d refusals in %d buckets (last in %d), want 195 in %d (up to the last)", tl.By, sum, len(tl.Refused), last, len(tl.Held))
			}
			if tl.Refused[0] != 0 {
				t.Errorf("%s row: refusals in the first bucket, before the limit", tl.By)
			}
		default:
			if tl.Refused != nil {
				t.Errorf("%s %s %s row: refused %v", tl.By, tl.User, tl.Client, tl.Refused)
			}
		}
	}
	if rows != 2 {
		t.Errorf("%d rows of svc and its client, want 2", rows)
	}
}
