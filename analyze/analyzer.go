package analyze

import (
	"encoding/hex"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options.MaxSessions and Options.MaxRefusals.
const (
	DefaultMaxSessions = 20000
	DefaultMaxRefusals = 20000
)

// Options configure an Analyzer.
type Options struct {
	// Limit is the per-user NSPI session limit of the domain controller
	// ("NSPI max sessions per user"); 0 means DefaultLimit.
	Limit int
	// MaxSessions bounds Report.Sessions: the first MaxSessions sessions
	// bound in the capture are listed, the others only counted (counters,
	// findings and verdict still cover them all). 0 means
	// DefaultMaxSessions.
	MaxSessions int
	// MaxRefusals bounds Report.Refusals in the same way; 0 means
	// DefaultMaxRefusals.
	MaxRefusals int
	// EMSMDBLimit is the Exchange store's "Maximum Allowed Sessions Per
	// User"; 0 means DefaultEMSMDBLimit.
	EMSMDBLimit int
	// MaxRows bounds the (server, user) rows and the (server, client) rows
	// followed at once: beyond, rows that hold no session are retired
	// (retire.go), and at most MaxRows retired rows of each table are
	// listed. 0 means DefaultMaxRows.
	MaxRows int
	// MaxFindings bounds the findings kept of retired rows; 0 means
	// DefaultMaxFindings.
	MaxFindings int
	// MaxOpenSessions bounds the NSPI sessions followed open at once:
	// beyond, the rows holding the oldest are retired with their sessions
	// (retire.go, shedSessions). 0 means DefaultMaxOpenSessions.
	MaxOpenSessions int
}

// Analyzer correlates NSPI events into sessions, counters and findings. It
// does no I/O. Add events in capture order, then call Report. Add does the
// correlation at once and keeps only bounded state (doc.go, "Memory"). An
// Analyzer is not safe for concurrent use.
type Analyzer struct {
	opt       Options
	anomalies map[string]*Anomaly

	seq      int // seq of the event being processed: events added before it
	lastTime time.Time

	spell   map[string]string // user as spelled -> user key
	names   map[string]string // user key -> first spelling
	users   map[gkey]*group
	clients map[ckey]*group
	servers map[netip.Addr]*server
	// recentSrv: the servers last looked up (server()), newest first.
	recentSrv [4]recentServer
	total     Counters
	held      int

	open     map[sessKey]*sess
	ended    recentSet[uint64, struct{}] // HandleHash of recently ended sessions
	forgot   recentSet[uint64, struct{}] // HandleHash of sessions forgotten (retire.go)
	connSess map[uint64][]*sess          // sessions that used a connection (some may have ended)
	syn      int

	pending   int // points held back by the leak series
	nSessions int // sessions seen bound
	sessions  chunked[sessRec]
	strs      map[string]uint32
	strList   []string

	nRefusals int
	refusals  chunked[refRec]
	anonWait  map[ckey]*anonWait   // anonymous refusals not yet followed by an authenticated bind
	anonDone  map[refKey]*refAcc   // anonymous refusals followed by one
	notes     map[noteKey]*noteAcc // calls behind the note findings
	unans     map[uint64]*connNotes
	connHow   recentSet[uint64, string] // how recently ended connections ended

	x *ext // beyond NSPI: EMSMDB, endpoint mapper, RFR, dead connections, timeline (ext.go)

	rt                         retired // what is kept of retired rows (retire.go)
	anonDropped                int     // anonymous refusals not itemised beyond maxAnonKeys waiting
	userSweepAt, clientSweepAt int
}

// New returns an Analyzer.
func New(o Options) *Analyzer {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxRefusals <= 0 {
		o.MaxRefusals = DefaultMaxRefusals
	}
	if o.EMSMDBLimit <= 0 {
		o.EMSMDBLimit = DefaultEMSMDBLimit
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = DefaultMaxFindings
	}
	if o.MaxOpenSessions <= 0 {
		o.MaxOpenSessions = DefaultMaxOpenSessions
	}
	return &Analyzer{
		userSweepAt:   o.MaxRows,
		clientSweepAt: o.MaxRows,
		x:             newExt(o),
		opt:           o,
		anomalies:     map[string]*Anomaly{},
		spell:         map[string]string{},
		names:         map[string]string{},
		users:         map[gkey]*group{},
		clients:       map[ckey]*group{},
		servers:       map[netip.Addr]*server{},
		open:          map[sessKey]*sess{},
		ended:         newRecentSet[uint64, struct{}](maxEnded(o)),
		forgot:        newRecentSet[uint64, struct{}](maxForgot(o)),
		connSess:      map[uint64][]*sess{},
		strs:          map[string]uint32{},
		anonWait:      map[ckey]*anonWait{},
		anonDone:      map[refKey]*refAcc{},
		notes:         map[noteKey]*noteAcc{},
		unans:         map[uint64]*connNotes{},
		connHow:       newRecentSet[uint64, string](maxConnHow),
	}
}

// Add correlates one event. Events must arrive in capture order.
func (a *Analyzer) Add(ev Event) {
	a.step(&ev)
	a.seq++
	if len(a.open) > a.opt.MaxOpenSessions {
		a.shedSessions()
	}
}

// AddAnomaly counts a decoding or capture anomaly; anomalies of the same kind
// are summed (the first message is kept). They appear in Report.Anomalies.
func (a *Analyzer) AddAnomaly(an Anomaly) {
	if an.Count == 0 {
		an.Count = 1
	}
	if cur, ok := a.anomalies[an.Kind]; ok {
		cur.Count += an.Count
		return
	}
	c := an
	a.anomalies[an.Kind] = &c
}

// Report builds the report from the events added so far. It does not change
// the Analyzer: it may be called more than once, and more events may be
// added between calls. Version is left empty for the caller to set.
func (a *Analyzer) Report(inputs []Input) *Report {
	return a.report(inputs, false)
}

func (a *Analyzer) report(inputs []Input, streamed bool) *Report {
	p := &reporter{a: a, limit: a.opt.Limit, infos: map[gkey]*groupInfo{}}
	r := p.build(streamed)
	r.Inputs = make([]Input, len(inputs))
	for i, in := range inputs {
		in.FirstTime = utc(in.FirstTime)
		in.LastTime = utc(in.LastTime)
		in.Warnings = append(make([]string, 0, len(in.Warnings)), in.Warnings...)
		r.Inputs[i] = in
	}
	r.Anomalies = []Anomaly{}
	for _, an := range a.anomalies {
		r.Anomalies = append(r.Anomalies, *an)
	}
	sort.Slice(r.Anomalies, func(i, j int) bool { return r.Anomalies[i].Kind < r.Anomalies[j].Kind })
	r.Verdict = p.verdict(r)
	p.extReport(r)
	return r
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// sessKey identifies a session: server IP and context handle. syn is
// non-zero for a session whose handle could not be read (it can then only
// end with its connection).
type sessKey struct {
	server netip.Addr
	handle [20]byte
	syn    int
}

// gkey identifies a user row: a server and a user key (lower-cased user).
type gkey struct {
	server netip.Addr
	who    string
}

// ckey identifies a client row: a server and a client IP.
type ckey struct {
	server, client netip.Addr
}

type server struct {
	idx    uint32
	name   string
	sealed evAcc // calls encrypted and not decrypted
}

type group struct {
	c         Counters
	held      int // sessions seen bound, open now
	ghosts    int // sessions bound before the capture, in use and not ended
	peakTotal int // highest held+ghosts
	client    netip.Addr
	clientStr string
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

// refState gathers the refusals of one (server, user) with a credential.
type refState struct {
	high refAcc // held at least 80% of the limit: session_limit
	// auth: the others. They are session_limit too when they all came at the
	// same count of at least 2 that the user never exceeded (doc.go).
	auth     refAcc
	authH    int
	authSame bool
	other    map[netip.Addr]*refAcc // auth by client, for logon_failed
}

// anonWait gathers, per (server, client), the anonymous refusals that no
// authenticated bind from that client to that server has followed yet.
type anonWait struct {
	users []string // user keys in order of first refusal
	accs  map[string]*refAcc
}

// refKey identifies a logon_failed finding without credentials.
type refKey struct {
	server netip.Addr
	ukey   string
	client netip.Addr
}

type sess struct {
	key       sessKey
	seq       int
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

// sessRec is a session as listed in the report, packed: strings are indexes
// in Analyzer.strList, times are Unix seconds and nanoseconds.
type sessRec struct {
	bindSec    int64
	endSec     int64
	bindFrame  int64
	endFrame   int64
	calls      int
	client     netip.Addr
	handle     [20]byte
	bindNsec   int32
	endNsec    int32
	bindFile   uint32
	endFile    uint32
	server     uint32
	user       uint32
	auth       uint32
	clientPort uint16
	serverPort uint16
	end        uint8 // index in endNames
	unbind     uint8 // index in unbindNames
	flags      uint8
}

const (
	recHandle   = 1 << iota // the handle was read
	recBindZero             // zero bind time
	recEndZero              // zero end time
	recInferred             // sealed bind: accepted as inferred, not decoded
)

var (
	endNames    = []string{EndOpenAtEnd, EndUnbind, EndConnectionClosed}
	unbindNames = []string{"", "ok", "failed", "unanswered", "unknown"}
)

func nameIndex(names []string, s string) uint8 {
	for i, n := range names {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

func packTime(t time.Time) (int64, int32, bool) {
	if t.IsZero() {
		return 0, 0, true
	}
	return t.Unix(), int32(t.Nanosecond()), false
}

func unpackTime(sec int64, nsec int32, zero bool) time.Time {
	if zero {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (a *Analyzer) str(s string) uint32 {
	if i, ok := a.strs[s]; ok {
		return i
	}
	i := uint32(len(a.strList))
	a.strs[s] = i
	a.strList = append(a.strList, s)
	return i
}

// refRec is a refused bind as listed in the report, packed like sessRec.
type refRec struct {
	timeSec   int64
	frame     int64
	reply     int64
	client    netip.Addr
	ug        *group
	timeNsec  int32
	frameFile uint32
	replyFile uint32
	server    uint32
	user      uint32
	auth      uint32
	ordinal   int32
	held      int32
	before    int32
	flags     uint8
}

const (
	refAnonymous = 1 << iota
	refZeroTime
	refLimit   // session_limit by count
	refPending // authenticated below 80%: session_limit or other (refState)
)

func clamp32(n int) int32 { return int32(min(n, 1<<31-1)) }

func (a *Analyzer) packRefusal(r *refusal, server netip.Addr, ukey string) refRec {
	sec, nsec, zero := packTime(r.Time)
	p := refRec{
		timeSec: sec, timeNsec: nsec,
		frame: r.Frame.Frame, frameFile: a.str(r.Frame.File),
		reply: r.ReplyFrame.Frame, replyFile: a.str(r.ReplyFrame.File),
		client: r.client, ug: r.ug,
		server: a.server(server).idx, user: a.str(string(a.name(ukey))), auth: a.str(r.Auth),
		ordinal: clamp32(r.Ordinal), held: clamp32(r.Held), before: clamp32(r.HeldBeforeCapture),
	}
	if r.Anonymous {
		p.flags |= refAnonymous
	}
	if zero {
		p.flags |= refZeroTime
	}
	switch {
	case r.pending:
		p.flags |= refPending
	case r.Cause == CauseSessionLimit:
		p.flags |= refLimit
	}
	return p
}

// refusal unpacks a listed refusal; stable tells the cause of a pending one.
func (a *Analyzer) refusal(p *refRec, stable func(*group) bool) Refusal {
	r := Refusal{
		Server:            a.strList[p.server],
		Client:            p.client.String(),
		User:              NullString(a.strList[p.user]),
		Auth:              a.strList[p.auth],
		Anonymous:         p.flags&refAnonymous != 0,
		Frame:             FrameRef{File: a.strList[p.frameFile], Frame: p.frame},
		ReplyFrame:        FrameRef{File: a.strList[p.replyFile], Frame: p.reply},
		Time:              unpackTime(p.timeSec, p.timeNsec, p.flags&refZeroTime != 0),
		Ordinal:           int(p.ordinal),
		Held:              int(p.held),
		HeldBeforeCapture: int(p.before),
	}
	switch {
	case r.Anonymous:
		r.Cause = CauseAnonymous
	case p.flags&refLimit != 0:
		r.Cause = CauseSessionLimit
	case stable(p.ug):
		r.Cause = CauseSessionLimit
	default:
		r.Cause = CauseOther
	}
	return r
}

// refusal is a refused bind, as the findings count it.
type refusal struct {
	Refusal
	seq    int
	client netip.Addr
	ug     *group
	// pending: authenticated, below 80% of the limit: its cause depends on
	// the user's other refusals (refState).
	pending bool
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
	client netip.Addr
	sub    string
}

// connNotes holds the unanswered calls of a connection that has not ended:
// their severity depends on how it ends.
type connNotes struct {
	keys []noteKey
	accs []*noteAcc
}

func (a *Analyzer) userKey(user string) string {
	if user == "" {
		return ""
	}
	if k, ok := a.spell[user]; ok {
		return k
	}
	k := strings.ToLower(user)
	if _, ok := a.names[k]; !ok {
		if len(a.names) >= a.maxNames() {
			a.pruneNames()
		}
		if len(a.names) < a.maxNames() {
			a.names[k] = user
		}
	}
	if len(a.spell) >= a.maxNames() {
		clear(a.spell) // a cache of strings.ToLower
	}
	a.spell[user] = k
	return k
}

// name is the first spelling seen of a user; beyond maxNames users
// followed at once, the lower-cased key.
func (a *Analyzer) name(ukey string) NullString {
	if n, ok := a.names[ukey]; ok {
		return NullString(n)
	}
	return NullString(ukey)
}

func (a *Analyzer) server(addr netip.Addr) *server {
	// Captures name few servers: the last ones used are looked up first.
	for i := range a.recentSrv {
		if r := &a.recentSrv[i]; r.s != nil && r.addr == addr {
			return r.s
		}
	}
	s := a.servers[addr]
	if s == nil {
		name := addr.String()
		s = &server{idx: a.str(name), name: name}
		a.servers[addr] = s
	}
	copy(a.recentSrv[1:], a.recentSrv[:len(a.recentSrv)-1])
	a.recentSrv[0] = recentServer{addr, s}
	return s
}

// recentServer is an entry of Analyzer.recentSrv.
type recentServer struct {
	addr netip.Addr
	s    *server
}

func (a *Analyzer) ugroup(server netip.Addr, ukey string) *group {
	k := gkey{server, ukey}
	g := a.users[k]
	if g == nil {
		a.maybeRetireUsers()
		g = &group{lastOKSeq: -1}
		a.users[k] = g
	}
	return g
}

func (a *Analyzer) cgroup(server, client netip.Addr) *group {
	k := ckey{server, client}
	g := a.clients[k]
	if g == nil {
		a.maybeRetireClients()
		g = &group{client: client, clientStr: client.String(), lastOKSeq: -1}
		a.clients[k] = g
	}
	return g
}

// count applies f to the user row, the client row and the totals.
func (a *Analyzer) count(ug, cg *group, f func(c *Counters)) {
	ug.lastSeq, cg.lastSeq = a.seq, a.seq
	f(&ug.c)
	f(&cg.c)
	f(&a.total)
}

func isZero(h [20]byte) bool { return h == [20]byte{} }

func (a *Analyzer) step(ev *Event) {
	if ev.Time.After(a.lastTime) {
		a.lastTime = ev.Time
	}
	if ev.ReplyTime.After(a.lastTime) {
		a.lastTime = ev.ReplyTime
	}
	if a.extStep(ev) {
		return
	}
	if ev.Kind == EvConnEnd {
		a.connEnded(ev)
		return
	}
	server := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	srv := a.server(server)
	ukey := a.userKey(ev.User)
	here := evidence{a.seq, ev.Frame}
	if ev.Sealed && !ev.HasFault {
		srv.sealed.add(here)
	}
	if !ev.Answered {
		a.unanswered(ev.ConnID, noteKey{kind: noteUnanswered, server: server, ukey: ukey, client: client}, here, opName(ev))
	}
	switch ev.Kind {
	case EvBind:
		a.bind(ev, server, client, ukey)
	case EvUnbind:
		a.unbind(ev, server, client, ukey)
	case EvCall:
		a.call(ev, server, client, ukey)
	}
}

func opName(ev *Event) string {
	if ev.Op != "" {
		return ev.Op
	}
	switch ev.Kind {
	case EvBind:
		return "NspiBind"
	case EvUnbind:
		return "NspiUnbind"
	}
	return "opnum " + strconv.Itoa(int(ev.Opnum))
}

// replyFrame is the frame that carries the answer, or the request when there
// is none.
func replyFrame(ev *Event) FrameRef {
	if ev.Answered && ev.ReplyFrame != (FrameRef{}) {
		return ev.ReplyFrame
	}
	return ev.Frame
}

// note records a call behind a note finding.
func (a *Analyzer) note(k noteKey, e evidence, what string, handle *[20]byte) {
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
func (a *Analyzer) unanswered(conn uint64, k noteKey, e evidence, op string) {
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

func unansweredSev(how string) string {
	switch how {
	case "fin", "rst":
		return SevWarning
	}
	return SevInfo
}

func (a *Analyzer) bind(ev *Event, server, client netip.Addr, ukey string) {
	seq := a.seq
	ug, cg := a.ugroup(server, ukey), a.cgroup(server, client)
	a.count(ug, cg, func(c *Counters) { c.Binds++ })
	if !ev.Anonymous {
		a.followed(server, client)
	}
	fail := func(what string) {
		a.count(ug, cg, func(c *Counters) { c.BindsFailedOther++ })
		a.note(noteKey{kind: noteBindFailed, server: server, ukey: ukey, client: client}, evidence{seq, replyFrame(ev)}, what, nil)
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
			if ev.StatusInferred {
				c.BindsInferred++
			}
		})
		ug.lastOKSeq = seq
		cg.lastOKSeq = seq
		a.openSession(ev, server, client, ukey, ug, cg)
	case ev.Status == StatusLogonFailed:
		a.count(ug, cg, func(c *Counters) {
			c.BindsLogonFailed++
			if ev.StatusInferred {
				c.BindsInferred++
			}
		})
		a.refused(ev, server, client, ukey, ug, cg)
	default:
		fail(StatusName(ev.Status))
	}
}

func (a *Analyzer) refused(ev *Event, server, client netip.Addr, ukey string, ug, cg *group) {
	r := refusal{seq: a.seq, client: client, ug: ug}
	r.Refusal = Refusal{
		Server:            a.server(server).name,
		Client:            cg.clientStr,
		User:              a.name(ukey),
		Auth:              ev.Auth,
		Anonymous:         ev.Anonymous,
		Frame:             ev.Frame,
		ReplyFrame:        replyFrame(ev),
		Time:              utc(ev.Time),
		Ordinal:           ug.c.Binds,
		Held:              ug.held,
		HeldBeforeCapture: ug.ghosts,
		StatusInferred:    ev.StatusInferred,
	}
	h := ug.held + ug.ghosts
	switch {
	case ev.Anonymous:
		r.Cause = CauseAnonymous
		k := ckey{server, client}
		w := a.anonWait[k]
		if w == nil {
			if len(a.anonWait) >= a.maxAnonKeys() {
				a.anonDropped++
				break
			}
			w = &anonWait{accs: map[string]*refAcc{}}
			a.anonWait[k] = w
		}
		acc := w.accs[ukey]
		if acc == nil {
			acc = &refAcc{}
			w.accs[ukey] = acc
			w.users = append(w.users, ukey)
		}
		acc.add(&r)
	case h*5 >= a.opt.Limit*4:
		r.Cause = CauseSessionLimit
		a.refState(ug).high.add(&r)
	default:
		r.pending = true
		rs := a.refState(ug)
		if rs.auth.ev.n == 0 {
			rs.authH, rs.authSame = h, true
		} else if h != rs.authH {
			rs.authSame = false
		}
		rs.auth.add(&r)
		o := rs.other[client]
		if o == nil {
			o = &refAcc{}
			rs.other[client] = o
		}
		o.add(&r)
	}
	a.nRefusals++
	if a.refusals.n < a.opt.MaxRefusals {
		a.refusals.add(a.packRefusal(&r, server, ukey))
	}
}

func (a *Analyzer) refState(ug *group) *refState {
	if ug.ref == nil {
		ug.ref = &refState{other: map[netip.Addr]*refAcc{}}
	}
	return ug.ref
}

// followed: an authenticated bind from client to server; the anonymous
// refusals before it were followed by one.
func (a *Analyzer) followed(server, client netip.Addr) {
	k := ckey{server, client}
	w := a.anonWait[k]
	if w == nil {
		return
	}
	delete(a.anonWait, k)
	for _, u := range w.users {
		rk := refKey{server, u, client}
		d := a.anonDone[rk]
		if d == nil {
			a.maybeRetireAnon()
			d = &refAcc{}
			a.anonDone[rk] = d
		}
		d.merge(w.accs[u])
	}
}

func (a *Analyzer) openSession(ev *Event, server, client netip.Addr, ukey string, ug, cg *group) {
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
	s := &sess{key: key, seq: a.seq, bindT: ev.Time, bindFrame: ev.Frame, ukey: ukey, ug: ug, cg: cg, rec: -1, open: true, inferred: ev.StatusInferred, conns: []uint64{ev.ConnID}}
	a.nSessions++
	if a.sessions.n < a.opt.MaxSessions {
		sec, nsec, zero := packTime(ev.Time)
		rec := sessRec{
			bindSec:    sec,
			bindNsec:   nsec,
			bindFrame:  ev.Frame.Frame,
			bindFile:   a.str(ev.Frame.File),
			client:     client,
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
		if ev.StatusInferred {
			rec.flags |= recInferred
		}
		if zero {
			rec.flags |= recBindZero
		}
		s.rec = a.sessions.add(rec)
	}
	if ukey != "" {
		s.lk = ug.leak
		if s.lk == nil {
			s.lk = &leakSeries{server: server, ukey: ukey, all: &a.pending}
			ug.leak = s.lk
		}
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
func (a *Analyzer) adjust(s *sess, d int) {
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

func (a *Analyzer) endSession(s *sess, end string, f FrameRef, t time.Time) {
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
func (a *Analyzer) addConnSess(conn uint64, s *sess) {
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
func (a *Analyzer) use(s *sess, conn uint64) {
	for _, c := range s.conns {
		if c == conn {
			return
		}
	}
	s.conns = append(s.conns, conn)
	a.addConnSess(conn, s)
}

func (a *Analyzer) wasEnded(server netip.Addr, h [20]byte) bool {
	_, ok := a.ended.get(HandleHash(server, h))
	return ok
}

func (a *Analyzer) unbind(ev *Event, server, client netip.Addr, ukey string) {
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
			a.note(noteKey{kind: noteUnbindUnknown, server: server, ukey: ukey, client: client, sub: sev}, evidence{seq, ev.Frame}, "", &ev.Handle)
		}
		return
	}
	a.count(s.ug, s.cg, func(c *Counters) { c.Unbinds++ })
	sk := noteKey{kind: noteUnbindFailed, server: server, ukey: s.ukey, client: s.cg.client}
	if ev.HasFault {
		// The RPC runtime rejected the call: NspiUnbind did not run and the
		// session stays open.
		a.use(s, ev.ConnID)
		a.note(sk, evidence{seq, replyFrame(ev)}, FaultName(ev.Fault), nil)
		return
	}
	st := unbindStatus(ev)
	if st == "failed" {
		a.note(sk, evidence{seq, replyFrame(ev)}, StatusName(ev.Status), nil)
	}
	if s.ghost {
		a.endSession(s, EndUnbind, ev.Frame, ev.Time)
		sev := SevInfo
		if st == "failed" {
			sev = SevWarning
		}
		a.note(noteKey{kind: noteUnbindUnknown, server: server, ukey: sk.ukey, client: client, sub: sev}, evidence{seq, ev.Frame}, "", &ev.Handle)
		return
	}
	if s.rec >= 0 {
		a.sessions.at(s.rec).unbind = nameIndex(unbindNames, st)
	}
	a.endSession(s, EndUnbind, ev.Frame, ev.Time)
}

func unbindStatus(ev *Event) string {
	switch {
	case !ev.Answered:
		return "unanswered"
	case !ev.HasStatus:
		return "unknown"
	case ev.Status == UnbindSuccess:
		return "ok"
	}
	return "failed"
}

func (a *Analyzer) call(ev *Event, server, client netip.Addr, ukey string) {
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
	a.note(noteKey{kind: noteCallUnknown, server: server, ukey: ukey, client: client, sub: sub}, evidence{a.seq, ev.Frame}, "", &ev.Handle)
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
func (a *Analyzer) connEnded(ev *Event) {
	conn := ev.ConnID
	a.connHow.put(conn, ev.EndHow)
	if cn := a.unans[conn]; cn != nil {
		delete(a.unans, conn)
		sev := unansweredSev(ev.EndHow)
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
	if ev.EndHow == "end_of_capture" || ev.EndHow == "evicted" {
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
func (a *Analyzer) session(r *sessRec) Session {
	s := Session{
		Server:     a.strList[r.server],
		ServerPort: r.serverPort,
		Client:     netip.AddrPortFrom(r.client, r.clientPort).String(),
		User:       NullString(a.strList[r.user]),
		Auth:       a.strList[r.auth],
		BindFrame:  FrameRef{File: a.strList[r.bindFile], Frame: r.bindFrame},
		BindTime:   unpackTime(r.bindSec, r.bindNsec, r.flags&recBindZero != 0),
		End:        endNames[r.end],
		Calls:      r.calls,
	}
	if r.flags&recHandle != 0 {
		s.Handle = hex.EncodeToString(r.handle[:])
	}
	if r.end != 0 {
		f := FrameRef{File: a.strList[r.endFile], Frame: r.endFrame}
		t := unpackTime(r.endSec, r.endNsec, r.flags&recEndZero != 0)
		s.EndFrame, s.EndTime = &f, &t
	}
	if s.End == EndUnbind {
		s.UnbindStatus = unbindNames[r.unbind]
	}
	s.Inferred = r.flags&recInferred != 0
	return s
}
