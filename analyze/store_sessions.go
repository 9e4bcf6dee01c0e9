package analyze

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/nspicap/nspicap/emsmdb"
)

// The store sessions tracker follows Exchange store sessions (EMSMDB,
// MS-OXCRPC): EcDoConnect(Ex) opens a session keyed by (server IP, CXH),
// EcDoDisconnect or the close of every connection that used it ends it. It
// counts per (server, user) and (server, client), lists the sessions, and
// finds refusals at the store's per-user limit, logon failures, other
// failed connects and sessions never disconnected. Its state is bounded
// like the NSPI tracker's (doc.go, "Memory"): open sessions, one row per
// (server, user) and (server, client) up to Options.MaxRows, and the first
// Options.MaxSessions sessions listed.

// DefaultEMSMDBLimit is Exchange's default "Maximum Allowed Sessions Per
// User" (32 since Exchange 2003 SP1, KB842022; event 9646).
const DefaultEMSMDBLimit = 32

// Session ends of an EMSMDB session (EMSMDBSession.End).
const EndDisconnect = "disconnect"

const emsmdbRegistryHint = `"Maximum Allowed Sessions Per User" (REG_DWORD) under HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeIS\ParametersSystem`

// EMSMDBCounters are the per-row numbers of the EMSMDB tables.
type EMSMDBCounters struct {
	// Connects counts EcDoConnect and EcDoConnectEx calls, whatever their
	// outcome.
	Connects     int `json:"connects"`
	ConnectsOK   int `json:"connects_ok"`
	SessionLimit int `json:"connects_session_limit"`
	LogonFailed  int `json:"connects_logon_failed"`
	FailedOther  int `json:"connects_failed_other"`
	Unknown      int `json:"connects_unknown"`
	// Disconnects counts EcDoDisconnect calls.
	Disconnects int `json:"disconnects"`
	// OtherCalls counts the other EMSMDB and AsyncEMSMDB calls.
	OtherCalls              int `json:"other_calls"`
	OpenAtEnd               int `json:"open_at_end"`
	ClosedWithoutDisconnect int `json:"closed_without_disconnect"`
	PeakConcurrent          int `json:"peak_concurrent"`
}

// EMSMDBUserRow holds the EMSMDB counters of one user on one server. The
// user is the NTLM identity of the connect when known, else its szUserDN.
type EMSMDBUserRow struct {
	Server string     `json:"server"`
	User   NullString `json:"user"`
	// UserDN is the first szUserDN the user's connects carried.
	UserDN string `json:"user_dn,omitempty"`
	EMSMDBCounters
}

// EMSMDBClientRow holds the EMSMDB counters of one client IP on one server.
type EMSMDBClientRow struct {
	Server string `json:"server"`
	Client string `json:"client"`
	// ClientAddress: as in ClientRow.
	ClientAddress string `json:"client_address,omitempty"`
	EMSMDBCounters
}

// EMSMDBSession is one Exchange store session: an EcDoConnect(Ex) answered
// 0 with a non-zero CXH, keyed by (server IP, CXH).
type EMSMDBSession struct {
	Server     string `json:"server"`
	ServerPort uint16 `json:"server_port"`
	Client     string `json:"client"`
	// ClientAddress and Transport: as in Session.
	ClientAddress string     `json:"client_address,omitempty"`
	Transport     string     `json:"transport"`
	User          NullString `json:"user"`
	UserDN        string     `json:"user_dn"`
	Auth          string     `json:"auth"`
	Op            string     `json:"op"`
	Handle        string     `json:"handle"`
	ConnectFrame  FrameRef   `json:"connect_frame"`
	ConnectTime   time.Time  `json:"connect_time"`
	// End is disconnect, connection_closed or open_at_end.
	End      string     `json:"end"`
	EndFrame *FrameRef  `json:"end_frame"`
	EndTime  *time.Time `json:"end_time"`
	Calls    int        `json:"calls"`
}

// Referral is what an RFR call answered: the directory server (for
// RfrGetNewDSA) or mailbox server (RfrGetFQDNFromServerDN) a client was

// storeTracker is the store sessions tracker.
type storeTracker struct {
	*core
	tl      *timeline
	limit   int
	users   map[gkey]*emsGroup
	clients map[ckey]*emsGroup
	open    map[sessKey]*emsSess
	conns   map[uint64][]*emsSess // sessions that used a connection
	syn     int
	n       int // sessions opened
	list    []EMSMDBSession
	max     int
	// calls not followed because the tables were full (Options.MaxRows
	// rows, Options.MaxOpenSessions sessions); the verdict counts them.
	droppedRows, droppedSessions int
}

func newStoreTracker(c *core, tl *timeline) *storeTracker {
	return &storeTracker{
		core:    c,
		tl:      tl,
		limit:   c.opt.EMSMDBLimit,
		users:   map[gkey]*emsGroup{},
		clients: map[ckey]*emsGroup{},
		open:    map[sessKey]*emsSess{},
		conns:   map[uint64][]*emsSess{},
		max:     c.opt.MaxSessions,
	}
}

// openOn counts the sessions open on a connection.
func (t *storeTracker) openOn(conn uint64) int {
	n := 0
	for _, s := range t.conns[conn] {
		if s.open {
			n++
		}
	}
	return n
}

// liveNames marks the users the tracker still refers to.
func (t *storeTracker) liveNames(live map[string]bool) {
	for k := range t.users {
		live[k.who] = true
	}
}

type emsGroup struct {
	c         EMSMDBCounters
	held      int
	client    peer
	dn        string
	lastOKSeq int
	never     evAcc // connect requests of sessions that ended without EcDoDisconnect
	neverT    [2]time.Time
	limit     *emsRef
	logon     *emsRef
	failed    *emsRef
}

type emsRef struct {
	ev       evAcc
	lo, hi   int
	firstOrd int
	lastSeq  int
	what     tally
	cl       clientTrack
}

func (r *emsRef) add(seq int, f FrameRef, q Quality, tr Transport, held, ord int, what string, client peer) {
	if r.ev.n == 0 {
		r.lo, r.hi, r.firstOrd = held, held, ord
	}
	r.lo, r.hi = min(r.lo, held), max(r.hi, held)
	r.lastSeq = seq
	r.what.add(what, 1)
	r.cl.add(client)
	r.ev.add(evidence{seq, f, q, tr.set()})
}

type emsSess struct {
	key    sessKey
	ug, cg *emsGroup
	ukey   string
	seq    int
	frame  FrameRef
	q      Quality // of its connect
	tr     Transport
	bindT  time.Time
	rec    int
	open   bool
	conns  []uint64
}

func (t *storeTracker) user(server netip.Addr, ukey string) *emsGroup {
	k := gkey{server, ukey}
	g := t.users[k]
	if g == nil {
		g = &emsGroup{lastOKSeq: -1}
		t.users[k] = g
	}
	return g
}

func (t *storeTracker) client(server netip.Addr, client peer) *emsGroup {
	k := ckey{server, client}
	g := t.clients[k]
	if g == nil {
		g = &emsGroup{client: client, lastOKSeq: -1}
		t.clients[k] = g
	}
	return g
}

func (t *storeTracker) count(ug, cg *emsGroup, f func(c *EMSMDBCounters)) {
	f(&ug.c)
	f(&cg.c)
}

// emsName names an EMSMDB status as package emsmdb names it.
func emsName(v uint32) string {
	if n, ok := emsmdb.StatusName(v); ok {
		return fmt.Sprintf("%s (0x%08x)", n, v)
	}
	return fmt.Sprintf("0x%08x", v)
}

func (t *storeTracker) add(ev *StoreCall) {
	server := ev.Server.Addr().Unmap()
	client := peerOf(&ev.Meta)
	var ukey string
	switch {
	case ev.User != "" || ev.UserDN == "":
		ukey = t.idKey(&ev.Identity, ev.Op == OpOpen)
	default:
		ukey = t.userKey(ev.UserDN)
	}
	if _, ok := t.users[gkey{server, ukey}]; !ok && len(t.users) >= t.opt.MaxRows {
		t.droppedRows++
		return
	}
	if _, ok := t.clients[ckey{server, client}]; !ok && len(t.clients) >= t.opt.MaxRows {
		t.droppedRows++
		return
	}
	switch ev.Op {
	case OpOpen:
		ug, cg := t.user(server, ukey), t.client(server, client)
		if ug.dn == "" {
			ug.dn = ev.UserDN
		}
		t.count(ug, cg, func(c *EMSMDBCounters) { c.Connects++ })
		ref := func(p **emsRef, what string) {
			if *p == nil {
				*p = &emsRef{}
			}
			(*p).add(t.seq, ev.replyFrame(ev.Frame), ev.Quality, ev.Transport, ug.held, ug.c.Connects, what, client)
		}
		refused := func() {
			t.tl.refuseIn(nil, ug, "emsmdb", server, ukey, client, false, ev.Time)
			t.tl.refuseIn(nil, cg, "emsmdb", server, ukey, client, true, ev.Time)
		}
		switch {
		case !ev.Answered || (!ev.HasFault && !ev.HasStatus):
			t.count(ug, cg, func(c *EMSMDBCounters) { c.Unknown++ })
		case ev.HasFault:
			t.count(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, FaultName(ev.Fault))
		case ev.Status == 0 && (!ev.HasHandle || !isZero(ev.Handle)):
			t.count(ug, cg, func(c *EMSMDBCounters) { c.ConnectsOK++ })
			ug.lastOKSeq = t.seq
			t.openSession(ev, server, client, ukey, ug, cg)
		case ev.Status == 0:
			t.count(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, "status 0 with a null session handle")
		case ev.Status == 0x000004de || ev.Status == 0x80040112:
			t.count(ug, cg, func(c *EMSMDBCounters) { c.SessionLimit++ })
			ref(&ug.limit, emsName(ev.Status))
			refused()
		case ev.Status == 0x80040111:
			t.count(ug, cg, func(c *EMSMDBCounters) { c.LogonFailed++ })
			ref(&ug.logon, emsName(ev.Status))
			refused()
		default:
			t.count(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, emsName(ev.Status))
		}
	case OpClose:
		s := t.open[sessKey{server: server, handle: ev.Handle}]
		if !ev.HasHandle || s == nil {
			t.count(t.user(server, ukey), t.client(server, client), func(c *EMSMDBCounters) { c.Disconnects++ })
			return
		}
		t.count(s.ug, s.cg, func(c *EMSMDBCounters) { c.Disconnects++ })
		if ev.HasFault {
			return
		}
		t.end(s, EndDisconnect, ev.Frame, ev.Time)
	default:
		var s *emsSess
		if ev.HasHandle && !isZero(ev.Handle) {
			s = t.open[sessKey{server: server, handle: ev.Handle}]
		}
		if s == nil {
			t.count(t.user(server, ukey), t.client(server, client), func(c *EMSMDBCounters) { c.OtherCalls++ })
			return
		}
		t.count(s.ug, s.cg, func(c *EMSMDBCounters) { c.OtherCalls++ })
		if s.rec >= 0 {
			t.list[s.rec].Calls++
		}
		for _, c := range s.conns {
			if c == ev.ConnID {
				return
			}
		}
		s.conns = append(s.conns, ev.ConnID)
		t.conns[ev.ConnID] = append(t.conns[ev.ConnID], s)
	}
}

func (t *storeTracker) openSession(ev *StoreCall, server netip.Addr, client peer, ukey string, ug, cg *emsGroup) {
	key := sessKey{server: server, handle: ev.Handle}
	if !ev.HasHandle {
		t.syn++
		key.syn = t.syn
	}
	if old := t.open[key]; old != nil {
		t.end(old, EndConnectionClosed, ev.Frame, ev.Time)
	}
	if len(t.open) >= t.opt.MaxOpenSessions {
		t.droppedSessions++
		return
	}
	s := &emsSess{key: key, ug: ug, cg: cg, ukey: ukey, seq: t.seq, frame: ev.Frame, q: ev.Quality, tr: ev.Transport, bindT: ev.Time, rec: -1, open: true, conns: []uint64{ev.ConnID}}
	t.n++
	if len(t.list) < t.max {
		rec := EMSMDBSession{Server: server.String(), ServerPort: ev.Server.Port(), Client: netip.AddrPortFrom(client.sock, ev.Client.Port()).String(),
			ClientAddress: addrString(client.behind()), Transport: ev.Transport.String(),
			User: t.name(ukey), UserDN: ev.UserDN, Auth: ev.Auth, Op: ev.Name, ConnectFrame: ev.Frame, ConnectTime: utc(ev.Time), End: EndOpenAtEnd}
		if ev.HasHandle {
			h := ev.Handle
			rec.Handle = hex.EncodeToString(h[:])
		}
		s.rec = len(t.list)
		t.list = append(t.list, rec)
	}
	t.open[key] = s
	l := t.conns[ev.ConnID]
	if len(l) == cap(l) && len(l) >= 8 {
		l = emsOpenOnly(l)
	}
	t.conns[ev.ConnID] = append(l, s)
	t.adjust(s, +1, ev.Time)
}

func emsOpenOnly(l []*emsSess) []*emsSess {
	k := 0
	for _, s := range l {
		if s.open {
			l[k] = s
			k++
		}
	}
	clear(l[k:])
	return l[:k]
}

func (t *storeTracker) adjust(s *emsSess, d int, at time.Time) {
	for i, g := range [2]*emsGroup{s.ug, s.cg} {
		g.held += d
		g.c.PeakConcurrent = max(g.c.PeakConcurrent, g.held)
		var key any = s.ug
		if i == 1 {
			key = s.cg
		}
		t.tl.set(key, "emsmdb", s.key.server, s.ukey, s.cg.client, i == 1, at, g.held)
	}
}

func (t *storeTracker) end(s *emsSess, end string, f FrameRef, at time.Time) {
	s.open = false
	delete(t.open, s.key)
	if s.rec >= 0 {
		r := &t.list[s.rec]
		r.End = end
		ff, tt := f, utc(at)
		r.EndFrame, r.EndTime = &ff, &tt
	}
	if end != EndDisconnect {
		t.count(s.ug, s.cg, func(c *EMSMDBCounters) { c.ClosedWithoutDisconnect++ })
		s.ug.neverAdd(s)
	}
	t.adjust(s, -1, at)
	s.conns = nil
}

func (g *emsGroup) neverAdd(s *emsSess) {
	if g.never.n == 0 || s.bindT.Before(g.neverT[0]) {
		g.neverT[0] = s.bindT
	}
	if s.bindT.After(g.neverT[1]) {
		g.neverT[1] = s.bindT
	}
	g.never.add(evidence{s.seq, s.frame, s.q, s.tr.set()})
}

func (t *storeTracker) connEnd(ev *ConnEnd) {
	l, ok := t.conns[ev.ConnID]
	if !ok {
		return
	}
	delete(t.conns, ev.ConnID)
	if !ev.How.closed() {
		return
	}
	for _, s := range l {
		if !s.open {
			continue
		}
		for i, c := range s.conns {
			if c == ev.ConnID {
				s.conns = append(s.conns[:i], s.conns[i+1:]...)
				break
			}
		}
		if len(s.conns) == 0 {
			t.end(s, EndConnectionClosed, ev.Frame, ev.Time)
		}
	}
}

// rows adds the store tables and the listed sessions to r.
func (t *storeTracker) rows(r *Report) {
	r.EMSMDBLimit = t.limit
	r.EMSMDBUsers = []EMSMDBUserRow{}
	r.EMSMDBClients = []EMSMDBClientRow{}
	for k, g := range t.users {
		c := g.c
		c.OpenAtEnd = g.held
		r.EMSMDBUsers = append(r.EMSMDBUsers, EMSMDBUserRow{Server: k.server.String(), User: t.name(k.who), UserDN: g.dn, EMSMDBCounters: c})
	}
	sort.Slice(r.EMSMDBUsers, func(i, j int) bool {
		a, b := r.EMSMDBUsers[i], r.EMSMDBUsers[j]
		return userRowLess(a.Server, a.User, b.Server, b.User)
	})
	for k, g := range t.clients {
		c := g.c
		c.OpenAtEnd = g.held
		r.EMSMDBClients = append(r.EMSMDBClients, EMSMDBClientRow{Server: k.server.String(), Client: k.client.sock.String(), ClientAddress: addrString(k.client.behind()), EMSMDBCounters: c})
	}
	sort.Slice(r.EMSMDBClients, func(i, j int) bool {
		a, b := r.EMSMDBClients[i], r.EMSMDBClients[j]
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		if a.Client != b.Client {
			return addrLess(a.Client, b.Client)
		}
		return addrLess(a.ClientAddress, b.ClientAddress)
	})
	r.EMSMDBSessions = append(make([]EMSMDBSession, 0, len(t.list)), t.list...)
	for i := range r.EMSMDBSessions {
		s := &r.EMSMDBSessions[i]
		if s.EndFrame != nil {
			f, t := *s.EndFrame, *s.EndTime
			s.EndFrame, s.EndTime = &f, &t
		}
	}
	sort.SliceStable(r.EMSMDBSessions, func(i, j int) bool {
		return r.EMSMDBSessions[i].ConnectTime.Before(r.EMSMDBSessions[j].ConnectTime)
	})
}

// findings adds the store's findings; leaks gets the leak finding of each
// (server, "emsmdb|"+user) for the timeline.
func (t *storeTracker) findings(p *reporter, add func(*Finding, string), leaks map[gkey]*Finding) {
	limit := t.limit
	keys := make([]gkey, 0, len(t.users))
	for k := range t.users {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].server != keys[j].server {
			return keys[i].server.Less(keys[j].server)
		}
		return keys[i].who < keys[j].who
	})
	on := func(s netip.Addr) string { return " on " + s.String() }
	for _, k := range keys {
		g := t.users[k]
		who := p.who(k.who)
		var limitF *Finding
		if l := g.limit; l != nil {
			n := l.ev.n
			msg := fmt.Sprintf("%s was refused %s on %s with %s while it held %s (limit %d): the Exchange store's per-user limit of MAPI sessions (the server logs event 9646, \"exceeded the maximum of %d objects of type session\"). The first refusal was its %s connect.",
				who, plural(n, "EcDoConnect", "EcDoConnect calls"), k.server, l.what.String(), strings.ReplaceAll(heldRange(l.lo, l.hi), "sessions", "store sessions"), limit, limit, ordinal(l.firstOrd))
			msg += fmt.Sprintf(" Find the client that opens store sessions without EcDoDisconnect (an add-in, a mobile or archiving tool, several Outlook profiles, a service that leaks them) and fix or restart it. As a stopgap, raise %s on the mailbox server and restart the Microsoft Exchange Information Store service.", emsmdbRegistryHint)
			limitF = t.evFinding(KindEMSMDBSessionLimit, SevError, k.server, k.who, l.cl.one(), &l.ev, msg)
			add(limitF, fmt.Sprintf("%s hit the Exchange store session limit%s: %s refused while it held %s (limit %d, event 9646).",
				who, on(k.server), plural(n, "EcDoConnect", "EcDoConnect calls"), strings.ReplaceAll(heldRange(l.lo, l.hi), "sessions", "store sessions"), limit))
		}
		if l := g.logon; l != nil {
			n := l.ev.n
			sev := SevError
			if g.lastOKSeq > l.lastSeq {
				sev = SevWarning
			}
			msg := fmt.Sprintf("%s by %s to %s %s refused with ecLoginFailure (0x80040111, MAPI_E_LOGON_FAILED): the store could not log the user on to the mailbox (not the session limit). Check that the account owns the mailbox or has full access to it, that the mailbox exists and is not disabled or being moved, and the server's Application log (MSExchangeIS).",
				plural(n, "EcDoConnect", "EcDoConnect calls"), who, k.server, wasWere(n))
			var sentence string
			if sev == SevError {
				sentence = fmt.Sprintf("%s could not log on to its mailbox%s: %s refused with ecLoginFailure.", who, on(k.server), plural(n, "EcDoConnect", "EcDoConnect calls"))
			}
			add(t.evFinding(KindEMSMDBLogonFailed, sev, k.server, k.who, l.cl.one(), &l.ev, msg), sentence)
		}
		if l := g.failed; l != nil {
			n := l.ev.n
			msg := fmt.Sprintf("%s by %s to %s failed (%s). The statuses are those of MS-OXCRPC 3.1.4.1: ecNotEncrypted means the server requires RPC encryption, ecUnknownUser a DN that is not a mailbox, ecWrongServer a mailbox on another server.",
				plural(n, "EcDoConnect", "EcDoConnect calls"), who, k.server, l.what.String())
			add(t.evFinding(KindEMSMDBConnectFailed, SevWarning, k.server, k.who, l.cl.one(), &l.ev, msg), "")
		}
		// Leak: sessions never disconnected (ended with their connection,
		// or still open), at least leakMin held at once.
		never := g.never.clone()
		t0, t1 := g.neverT[0], g.neverT[1]
		open := 0
		for _, s := range t.open {
			if s.ug != g {
				continue
			}
			open++
			if never.n == 0 || s.bindT.Before(t0) {
				t0 = s.bindT
			}
			if s.bindT.After(t1) {
				t1 = s.bindT
			}
			never.add(evidence{s.seq, s.frame, s.q, s.tr.set()})
		}
		heldAtOnce := min(never.n, g.c.PeakConcurrent)
		if heldAtOnce < leakMin {
			continue
		}
		sev := SevWarning
		if limitF != nil {
			sev = SevError
		}
		msg := fmt.Sprintf("%s opened %s on %s and disconnected %d: %d never disconnected (%d still open at the end of the capture, %d released only when their connection closed); up to %d held at once.",
			who, plural(g.c.ConnectsOK, "store session", "store sessions"), k.server, g.c.Disconnects, never.n, open, g.c.ClosedWithoutDisconnect, g.c.PeakConcurrent)
		var rate float64
		var at *time.Time
		if span := t.lastTime.Sub(t0); span < minRateSpan && t1.After(t0) && never.n > 1 {
			// A burst: a rate per hour would extrapolate it.
			msg += fmt.Sprintf(" They piled up within %s, too short a time to give a rate per hour.", fmtSpan(t1.Sub(t0)))
		} else if h := t1.Sub(t0).Hours(); h > 0 && never.n > 1 {
			rate = float64(never.n-1) / h
			msg += fmt.Sprintf(" They grew by %s sessions per hour.", fmtRate(rate))
			if g.held < limit && open > 0 && limitF == nil {
				t := t.lastTime.Add(time.Duration(float64(limit-g.held) / rate * float64(time.Hour))).UTC().Truncate(time.Second)
				at = &t
				msg += fmt.Sprintf(" At that rate the user reaches the limit of %d at about %s.", limit, t.Format("2006-01-02 15:04 UTC"))
			}
		}
		if limitF != nil {
			msg += " The store refused its connects at the limit (see emsmdb_session_limit)."
		}
		msg += fmt.Sprintf(" Find the client that connects without calling EcDoDisconnect and fix or restart it; raising %s only delays the failure.", emsmdbRegistryHint)
		f := t.evFinding(KindEMSMDBLeak, sev, k.server, k.who, peer{}, &never, msg)
		f.RatePerHour, f.LimitAt = rate, at
		leaks[gkey{k.server, "emsmdb|" + k.who}] = f
		sentence := ""
		if limitF == nil {
			sentence = fmt.Sprintf("%s leaks Exchange store sessions%s: %s, %s, %d never disconnected.", who, on(k.server),
				plural(g.c.ConnectsOK, "connect", "connects"), plural(g.c.Disconnects, "disconnect", "disconnects"), never.n)
		}
		add(f, sentence)
	}
}

// dropped says in the verdict what the tracker did not follow.
func (t *storeTracker) dropped(o Options) []string {
	var out []string
	if n := t.droppedRows; n > 0 {
		out = append(out, fmt.Sprintf("%s from users or clients beyond the %d of each nspicap follows at once (--max-rows) are not counted.", plural(n, "EMSMDB call", "EMSMDB calls"), o.MaxRows))
	}
	if n := t.droppedSessions; n > 0 {
		out = append(out, fmt.Sprintf("%s beyond the %d sessions nspicap follows open at once (--max-open-sessions) were counted but not followed: the store sessions held, and the EMSMDB findings built on them, may be too low.", plural(n, "EMSMDB connect", "EMSMDB connects"), o.MaxOpenSessions))
	}
	return out
}
