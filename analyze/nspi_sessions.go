package analyze

import (
	"net/netip"
	"strconv"
	"time"
)

// The NSPI sessions tracker follows address-book sessions (MS-OXNSPI):
// NspiBind opens a session keyed by (server IP, context handle), NspiUnbind
// or the close of every connection that used it ends it. It counts binds,
// refusals and calls per (server, user), per (server, client) and in total,
// lists the sessions and refused binds, explains each refusal (anonymous,
// session limit, other), and finds leaks, limits, failed binds and unbinds,
// calls on unknown handles, unanswered and sealed calls. Rows beyond
// Options.MaxRows are retired (retire.go); its findings are rendered in
// findings.go and verdict.go.

// nspiTracker is the NSPI sessions tracker.
type nspiTracker struct {
	*core
	tl *timeline

	users   map[gkey]*group
	clients map[ckey]*group
	total   Counters
	held    int

	open     map[sessKey]*sess
	ended    recentSet[uint64, struct{}] // HandleHash of recently ended sessions
	forgot   recentSet[uint64, struct{}] // HandleHash of sessions forgotten (retire.go)
	connSess map[uint64][]*sess          // sessions that used a connection (some may have ended)
	syn      int

	// behind holds the client behind the RPC proxy of the listed sessions
	// and refusals that came through one (the records keep the proxy's
	// address only, so that the others cost nothing more).
	behind map[listRef]netip.Addr

	pending   int // points held back by the leak series
	nSessions int // sessions seen bound
	sessions  chunked[sessRec]

	nRefusals int
	refusals  chunked[refRec]
	anonWait  map[ckey]*anonWait   // anonymous refusals not yet followed by an authenticated bind
	anonDone  map[refKey]*refAcc   // anonymous refusals followed by one
	notes     map[noteKey]*noteAcc // calls behind the note findings
	unans     map[uint64]*connNotes
	connHow   recentSet[uint64, How] // how recently ended connections ended

	rt                         retired // what is kept of retired rows (retire.go)
	anonDropped                int     // anonymous refusals not itemised beyond maxAnonKeys waiting
	userSweepAt, clientSweepAt int
}

func newNSPITracker(c *core, tl *timeline) *nspiTracker {
	o := c.opt
	return &nspiTracker{
		core:          c,
		tl:            tl,
		userSweepAt:   o.MaxRows,
		clientSweepAt: o.MaxRows,
		users:         map[gkey]*group{},
		clients:       map[ckey]*group{},
		open:          map[sessKey]*sess{},
		behind:        map[listRef]netip.Addr{},
		ended:         newRecentSet[uint64, struct{}](maxEnded(o)),
		forgot:        newRecentSet[uint64, struct{}](maxForgot(o)),
		connSess:      map[uint64][]*sess{},
		anonWait:      map[ckey]*anonWait{},
		anonDone:      map[refKey]*refAcc{},
		notes:         map[noteKey]*noteAcc{},
		unans:         map[uint64]*connNotes{},
		connHow:       newRecentSet[uint64, How](maxConnHow),
	}
}

// openOn counts the sessions bound in the capture that are open on a
// connection.
func (a *nspiTracker) openOn(conn uint64) int {
	n := 0
	for _, s := range a.connSess[conn] {
		if s.open && !s.ghost {
			n++
		}
	}
	return n
}

// liveNames marks the users the tracker still refers to.
func (a *nspiTracker) liveNames(live map[string]bool) {
	for k := range a.users {
		live[k.who] = true
	}
	for k := range a.notes {
		live[k.ukey] = true
	}
	for _, s := range a.open {
		live[s.ukey] = true
	}
}

type group struct {
	c         Counters
	held      int // sessions seen bound, open now
	ghosts    int // sessions bound before the capture, in use and not ended
	peakTotal int // highest held+ghosts
	client    peer
	clientStr string // client.sock
	// lastOKSeq: seq of the last successful bind, -1 for none.
	lastOKSeq int
	// leak follows the sessions of a user (user rows), or the anonymous
	// sessions of a client (client rows).
	leak *leakSeries
	ref  *refState // user rows: the refusals
	// lastSeq: the last event that counted in the row (retire.go).
	lastSeq int
	// frozen: the row was retired; stable is what isStable said then.
	frozen, stable bool
	// ser is the row's timeline series once it has one (x.series[row]).
	ser *series
}

type sess struct {
	key       sessKey
	seq       int
	q         Quality   // of its bind
	tr        Transport // of its bind
	bindT     time.Time
	bindFrame FrameRef
	ukey      string
	ug, cg    *group
	lk        *leakSeries // nil for sessions bound before the capture
	rec       int         // index in Analyzer.sessions, -1 when not listed
	conns     []uint64    // connections that used it and have not closed
	open      bool
	ghost     bool
	inferred  bool // its bind was sealed and its success inferred
	// the open sessions of lk, in bind order, and their segments
	prev, next *sess
	seg        *segment
}

// note kinds.
const (
	noteBindFailed = iota
	noteUnbindFailed
	noteUnbindUnknown
	noteCallUnknown
	noteUnanswered
)

// noteKey identifies one finding of a note kind: calls are grouped by
// (server, user, client) and a severity or sub-case.
type noteKey struct {
	kind   int
	server netip.Addr
	ukey   string
	client peer
	sub    string
}

// connNotes holds the unanswered calls of a connection that has not ended:
// their severity depends on how it ends.
type connNotes struct {
	keys []noteKey
	accs []*noteAcc
}

func (a *nspiTracker) ugroup(server netip.Addr, ukey string) *group {
	k := gkey{server, ukey}
	g := a.users[k]
	if g == nil {
		a.maybeRetireUsers()
		g = &group{lastOKSeq: -1}
		a.users[k] = g
	}
	return g
}

func (a *nspiTracker) cgroup(server netip.Addr, client peer) *group {
	k := ckey{server, client}
	g := a.clients[k]
	if g == nil {
		a.maybeRetireClients()
		g = &group{client: client, clientStr: client.sock.String(), lastOKSeq: -1}
		a.clients[k] = g
	}
	return g
}

// count applies f to the user row, the client row and the totals.
func (a *nspiTracker) count(ug, cg *group, f func(c *Counters)) {
	ug.lastSeq, cg.lastSeq = a.seq, a.seq
	f(&ug.c)
	f(&cg.c)
	f(&a.total)
}

func isZero(h [20]byte) bool { return h == [20]byte{} }

// add follows one NSPI call.
func (a *nspiTracker) add(ev *NSPICall) {
	server := ev.Server.Addr().Unmap()
	client := peerOf(&ev.Meta)
	srv := a.server(server)
	ukey := a.idKey(&ev.Identity, ev.Op == OpOpen)
	here := evidence{seq: a.seq, frame: ev.Frame, q: ev.Quality, tr: ev.Transport.set()}
	if ev.Sealed && !ev.HasFault {
		srv.sealed.add(here)
	}
	if !ev.Answered && !ev.Elsewhere {
		a.unanswered(ev.ConnID, noteKey{kind: noteUnanswered, server: server, ukey: ukey, client: client}, here, opName(ev))
	}
	switch ev.Op {
	case OpOpen:
		a.bind(ev, server, client, ukey)
	case OpClose:
		a.unbind(ev, server, client, ukey)
	default:
		a.call(ev, server, client, ukey)
	}
}

func opName(ev *NSPICall) string {
	if ev.Name != "" {
		return ev.Name
	}
	switch ev.Op {
	case OpOpen:
		return "NspiBind"
	case OpClose:
		return "NspiUnbind"
	}
	return "opnum " + strconv.Itoa(int(ev.Opnum))
}

// replyFrame is the frame that carries the answer, or the request when there
// is none.
func (ans *Answer) replyFrame(req FrameRef) FrameRef {
	if ans.Answered && ans.ReplyFrame != (FrameRef{}) {
		return ans.ReplyFrame
	}
	return req
}

// note records a call behind a note finding.
func (a *nspiTracker) note(k noteKey, e evidence, what string, handle *[20]byte) {
	n := a.notes[k]
	if n == nil {
		a.maybeRetireNotes()
		n = &noteAcc{}
		a.notes[k] = n
	}
	n.ev.add(e)
	if what != "" {
		n.what.add(what, 1)
	}
	if handle != nil {
		n.handles.add(*handle)
	}
}

// unanswered records an unanswered call: its severity waits for the end of
// its connection.
func (a *nspiTracker) unanswered(conn uint64, k noteKey, e evidence, op string) {
	if how, ok := a.connHow.get(conn); ok {
		k.sub = unansweredSev(how)
		a.note(k, e, op, nil)
		return
	}
	cn := a.unans[conn]
	if cn == nil {
		cn = &connNotes{}
		a.unans[conn] = cn
	}
	var n *noteAcc
	for i := range cn.keys {
		if cn.keys[i] == k {
			n = cn.accs[i]
		}
	}
	if n == nil {
		n = &noteAcc{}
		cn.keys = append(cn.keys, k)
		cn.accs = append(cn.accs, n)
	}
	n.ev.add(e)
	n.what.add(op, 1)
}

func unansweredSev(how How) string {
	if how.closed() {
		return SevWarning
	}
	return SevInfo
}

func (a *nspiTracker) bind(ev *NSPICall, server netip.Addr, client peer, ukey string) {
	seq := a.seq
	ug, cg := a.ugroup(server, ukey), a.cgroup(server, client)
	a.count(ug, cg, func(c *Counters) { c.Binds++ })
	if !ev.Anonymous {
		a.followed(server, client)
	}
	fail := func(what string) {
		a.count(ug, cg, func(c *Counters) { c.BindsFailedOther++ })
		a.note(noteKey{kind: noteBindFailed, server: server, ukey: ukey, client: client}, evidence{seq, ev.replyFrame(ev.Frame), ev.Quality, ev.Transport.set()}, what, nil)
	}
	switch {
	case !ev.Answered:
		a.count(ug, cg, func(c *Counters) { c.BindsUnknown++ })
	case ev.HasFault:
		fail(FaultName(ev.Fault))
	case !ev.HasStatus:
		a.count(ug, cg, func(c *Counters) { c.BindsUnknown++ })
	case ev.Status == 0 && ev.HasHandle && isZero(ev.Handle):
		fail("status 0 with a null context handle")
	case ev.Status == 0:
		a.count(ug, cg, func(c *Counters) {
			c.BindsOK++
			if ev.Quality&StatusInferred != 0 {
				c.BindsInferred++
			}
		})
		ug.lastOKSeq = seq
		cg.lastOKSeq = seq
		a.openSession(ev, server, client, ukey, ug, cg)
	case ev.Status == StatusLogonFailed:
		a.count(ug, cg, func(c *Counters) {
			c.BindsLogonFailed++
			if ev.Quality&StatusInferred != 0 {
				c.BindsInferred++
			}
		})
		a.refused(ev, server, client, ukey, ug, cg)
	default:
		fail(StatusName(ev.Status))
	}
}

func (a *nspiTracker) openSession(ev *NSPICall, server netip.Addr, client peer, ukey string, ug, cg *group) {
	key := sessKey{server: server, handle: ev.Handle}
	if !ev.HasHandle {
		a.syn++
		key.syn = a.syn
	}
	if old := a.open[key]; old != nil {
		// The server handed out a handle that is still open here: it must
		// have freed the old session without our seeing it.
		a.endSession(old, EndConnectionClosed, ev.Frame, ev.Time)
	}
	s := &sess{key: key, seq: a.seq, q: ev.Quality, tr: ev.Transport, bindT: ev.Time, bindFrame: ev.Frame, ukey: ukey, ug: ug, cg: cg, rec: -1, open: true, inferred: ev.Quality&StatusInferred != 0, conns: []uint64{ev.ConnID}}
	a.nSessions++
	if a.sessions.n < a.opt.MaxSessions {
		sec, nsec, zero := packTime(ev.Time)
		rec := sessRec{
			bindSec:    sec,
			bindNsec:   nsec,
			bindFrame:  ev.Frame.Frame,
			bindFile:   a.str(ev.Frame.File),
			client:     client.sock,
			transport:  uint8(ev.Transport),
			clientPort: ev.Client.Port(),
			server:     a.server(server).idx,
			serverPort: ev.Server.Port(),
			user:       a.str(string(a.name(ukey))),
			auth:       a.str(ev.Auth),
			handle:     ev.Handle,
		}
		if ev.HasHandle {
			rec.flags |= recHandle
		}
		if ev.Quality&StatusInferred != 0 {
			rec.flags |= recInferred
		}
		if zero {
			rec.flags |= recBindZero
		}
		s.rec = a.sessions.add(rec)
		if client.behind().IsValid() {
			a.behind[listRef{i: s.rec}] = client.behind()
		}
	}
	if ukey != "" || !ev.Anonymous {
		// A user, or an authenticated one the capture does not name
		// (Kerberos, a token cut by the snap length): the user's row.
		s.lk = ug.leak
		if s.lk == nil {
			s.lk = &leakSeries{server: server, ukey: ukey, all: &a.pending}
			ug.leak = s.lk
		}
		s.lk.cut = s.lk.cut || ev.Cut
	} else {
		s.lk = cg.leak
		if s.lk == nil {
			s.lk = &leakSeries{server: server, client: client, all: &a.pending}
			cg.leak = s.lk
		}
	}
	s.lk.opened(s)
	a.open[key] = s
	a.addConnSess(ev.ConnID, s)
	a.adjust(s, +1)
	a.timelineHook(s, ev.Time)
}

// adjust changes the number of sessions held by the session's user and
// client, and records peaks.
func (a *nspiTracker) adjust(s *sess, d int) {
	for _, g := range [2]*group{s.ug, s.cg} {
		if s.ghost {
			g.ghosts += d
		} else {
			g.held += d
			if g.held > g.c.PeakConcurrent {
				g.c.PeakConcurrent = g.held
			}
		}
		if g.held+g.ghosts > g.peakTotal {
			g.peakTotal = g.held + g.ghosts
		}
	}
	if !s.ghost {
		a.held += d
		if a.held > a.total.PeakConcurrent {
			a.total.PeakConcurrent = a.held
		}
	}
}

func (a *nspiTracker) endSession(s *sess, end string, f FrameRef, t time.Time) {
	s.open = false
	delete(a.open, s.key)
	if s.key.syn == 0 {
		a.ended.put(HandleHash(s.key.server, s.key.handle), struct{}{})
	}
	if s.rec >= 0 {
		r := a.sessions.at(s.rec)
		r.end = nameIndex(endNames, end)
		r.endFrame, r.endFile = f.Frame, a.str(f.File)
		sec, nsec, zero := packTime(t)
		r.endSec, r.endNsec = sec, nsec
		if zero {
			r.flags |= recEndZero
		}
	}
	if end == EndConnectionClosed && !s.ghost {
		a.count(s.ug, s.cg, func(c *Counters) { c.ClosedWithoutUnbind++ })
	}
	a.adjust(s, -1)
	a.timelineHook(s, t)
	if s.lk != nil {
		s.lk.ended(s, end != EndUnbind, a.seq, t)
	}
	s.conns = nil
}

// addConnSess lists s among the sessions that used conn, dropping from the
// list the sessions that have ended whenever it would grow.
func (a *nspiTracker) addConnSess(conn uint64, s *sess) {
	l := a.connSess[conn]
	if len(l) == cap(l) && len(l) >= 8 {
		l = openOnly(l)
	}
	a.connSess[conn] = append(l, s)
}

func openOnly(l []*sess) []*sess {
	k := 0
	for _, x := range l {
		if x.open {
			l[k] = x
			k++
		}
	}
	clear(l[k:])
	return l[:k]
}

// use makes a call on a session: the connection joins the session's set.
func (a *nspiTracker) use(s *sess, conn uint64) {
	for _, c := range s.conns {
		if c == conn {
			return
		}
	}
	s.conns = append(s.conns, conn)
	a.addConnSess(conn, s)
}

func (a *nspiTracker) wasEnded(server netip.Addr, h [20]byte) bool {
	_, ok := a.ended.get(HandleHash(server, h))
	return ok
}

func (a *nspiTracker) unbind(ev *NSPICall, server netip.Addr, client peer, ukey string) {
	seq := a.seq
	key := sessKey{server: server, handle: ev.Handle}
	var s *sess
	if ev.HasHandle {
		s = a.open[key]
	} else if ev.Sealed {
		// A sealed NspiUnbind names no handle we can read: it ends the
		// oldest open session on its connection whose handle is unknown
		// too (a sealed NspiBind accepted, as the pipeline inferred).
		for _, x := range a.connSess[ev.ConnID] {
			if x.open && x.key.syn != 0 && !x.ghost {
				s = x
				break
			}
		}
	}
	if s == nil {
		a.count(a.ugroup(server, ukey), a.cgroup(server, client), func(c *Counters) { c.Unbinds++ })
		if ev.HasHandle && a.isForgotten(server, ev.Handle) {
			a.rt.forgottenCalls++
			return
		}
		if ev.HasHandle {
			var what string
			if ev.HasStatus {
				what = unbindStatus(ev)
			}
			sev := SevInfo
			if a.wasEnded(server, ev.Handle) || what == "failed" {
				sev = SevWarning
			}
			a.note(noteKey{kind: noteUnbindUnknown, server: server, ukey: ukey, client: client, sub: sev}, evidence{seq, ev.Frame, ev.Quality, ev.Transport.set()}, "", &ev.Handle)
		}
		return
	}
	a.count(s.ug, s.cg, func(c *Counters) { c.Unbinds++ })
	sk := noteKey{kind: noteUnbindFailed, server: server, ukey: s.ukey, client: s.cg.client}
	if ev.HasFault {
		// The RPC runtime rejected the call: NspiUnbind did not run and the
		// session stays open.
		a.use(s, ev.ConnID)
		a.note(sk, evidence{seq, ev.replyFrame(ev.Frame), ev.Quality, ev.Transport.set()}, FaultName(ev.Fault), nil)
		return
	}
	st := unbindStatus(ev)
	if st == "failed" {
		a.note(sk, evidence{seq, ev.replyFrame(ev.Frame), ev.Quality, ev.Transport.set()}, StatusName(ev.Status), nil)
	}
	if s.ghost {
		a.endSession(s, EndUnbind, ev.Frame, ev.Time)
		sev := SevInfo
		if st == "failed" {
			sev = SevWarning
		}
		a.note(noteKey{kind: noteUnbindUnknown, server: server, ukey: sk.ukey, client: client, sub: sev}, evidence{seq, ev.Frame, ev.Quality, ev.Transport.set()}, "", &ev.Handle)
		return
	}
	if s.rec >= 0 {
		a.sessions.at(s.rec).unbind = nameIndex(unbindNames, st)
	}
	a.endSession(s, EndUnbind, ev.Frame, ev.Time)
}

func unbindStatus(ev *NSPICall) string {
	switch {
	case ev.Elsewhere && !ev.Answered:
		return "unknown"
	case !ev.Answered:
		return "unanswered"
	case !ev.HasStatus:
		return "unknown"
	case ev.Status == UnbindSuccess:
		return "ok"
	}
	return "failed"
}

func (a *nspiTracker) call(ev *NSPICall, server netip.Addr, client peer, ukey string) {
	if !ev.HasHandle || isZero(ev.Handle) {
		a.count(a.ugroup(server, ukey), a.cgroup(server, client), func(c *Counters) { c.OtherCalls++ })
		return
	}
	key := sessKey{server: server, handle: ev.Handle}
	s := a.open[key]
	if s != nil {
		a.count(s.ug, s.cg, func(c *Counters) { c.OtherCalls++ })
		if s.rec >= 0 {
			a.sessions.at(s.rec).calls++
		}
		a.use(s, ev.ConnID)
		return
	}
	ug, cg := a.ugroup(server, ukey), a.cgroup(server, client)
	a.count(ug, cg, func(c *Counters) { c.OtherCalls++ })
	if a.isForgotten(server, ev.Handle) {
		a.rt.forgottenCalls++
		return
	}
	ended := a.wasEnded(server, ev.Handle)
	sub := "before"
	switch {
	case ended && ev.HasFault:
		sub = "after_fault"
	case ended:
		sub = "after"
	}
	a.note(noteKey{kind: noteCallUnknown, server: server, ukey: ukey, client: client, sub: sub}, evidence{a.seq, ev.Frame, ev.Quality, ev.Transport.set()}, "", &ev.Handle)
	if ended || ev.HasFault {
		return
	}
	// A session bound before the capture began: follow it so that it counts
	// in what the user holds, but keep it out of the sessions list.
	g := &sess{key: key, seq: a.seq, bindT: ev.Time, ukey: ukey, ug: ug, cg: cg, rec: -1, open: true, ghost: true, conns: []uint64{ev.ConnID}}
	a.open[key] = g
	a.addConnSess(ev.ConnID, g)
	a.adjust(g, +1)
}

// connEnded ends the sessions whose last connection this was. A connection
// that was still open at the end of the capture, or that the capture layer
// stopped following (evicted), ends nothing.
func (a *nspiTracker) connEnd(ev *ConnEnd) {
	conn := ev.ConnID
	a.connHow.put(conn, ev.How)
	if cn := a.unans[conn]; cn != nil {
		delete(a.unans, conn)
		sev := unansweredSev(ev.How)
		for i, k := range cn.keys {
			k.sub = sev
			n := a.notes[k]
			if n == nil {
				a.maybeRetireNotes()
				a.notes[k] = cn.accs[i]
			} else {
				n.merge(cn.accs[i])
			}
		}
	}
	if !ev.How.closed() {
		if l, ok := a.connSess[conn]; ok {
			if l = openOnly(l); len(l) == 0 {
				delete(a.connSess, conn)
			} else {
				a.connSess[conn] = l
			}
		}
		return
	}
	for _, s := range a.connSess[conn] {
		if !s.open {
			continue
		}
		for i, c := range s.conns {
			if c == conn {
				s.conns[i] = s.conns[len(s.conns)-1]
				s.conns = s.conns[:len(s.conns)-1]
				break
			}
		}
		if len(s.conns) == 0 {
			a.endSession(s, EndConnectionClosed, ev.Frame, ev.Time)
		}
	}
	delete(a.connSess, conn)
}

// session unpacks a listed session.

// timelineHook follows the NSPI sessions held by a user and a client.
func (a *nspiTracker) timelineHook(s *sess, t time.Time) {
	if s.ghost {
		return
	}
	a.tl.setIn(&s.ug.ser, s.ug, "nspi", s.key.server, s.ukey, s.cg.client, false, t, s.ug.held)
	a.tl.setIn(&s.cg.ser, s.cg, "nspi", s.key.server, s.ukey, s.cg.client, true, t, s.cg.held)
}
