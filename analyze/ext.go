package analyze

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Beyond NSPI (issue 7): Exchange store sessions (EMSMDB), the endpoint
// mapper, RFR referrals, dead connections and the timeline. The state here
// is bounded like the NSPI correlator's (doc.go, "Memory"): open sessions,
// live connections, one row per (server, user) and (server, client), and
// capped maps; no event is kept.

// DefaultEMSMDBLimit is Exchange's default "Maximum Allowed Sessions Per
// User" (32 since Exchange 2003 SP1, KB842022; event 9646).
const DefaultEMSMDBLimit = 32

// Finding kinds beyond NSPI.
const (
	// KindEMSMDBSessionLimit: EcDoConnect(Ex) refused with
	// ecMaxObjsExceeded (0x4DE) or MAPI_E_SESSION_LIMIT (0x80040112).
	KindEMSMDBSessionLimit = "emsmdb_session_limit"
	// KindEMSMDBLogonFailed: EcDoConnect(Ex) refused with ecLoginFailure.
	KindEMSMDBLogonFailed = "emsmdb_logon_failed"
	// KindEMSMDBConnectFailed: EcDoConnect(Ex) answered with a fault or
	// another status.
	KindEMSMDBConnectFailed = "emsmdb_connect_failed"
	// KindEMSMDBLeak: store sessions never disconnected accumulate.
	KindEMSMDBLeak = "emsmdb_leak"
	// KindEndpointNotRegistered: an endpoint mapper answered
	// ept_s_not_registered for an Exchange or directory interface.
	KindEndpointNotRegistered = "endpoint_not_registered"
	// KindEndpointUnreachable: a client connected to the host and port the
	// endpoint mapper gave and got a reset, or no answer.
	KindEndpointUnreachable = "endpoint_unreachable"
	// KindDeadConnection: NSPI or EMSMDB connections that went silent
	// without FIN or RST while the client opened new ones.
	KindDeadConnection = "dead_connection"
)

func init() {
	Kinds = append(Kinds, KindEMSMDBSessionLimit, KindEMSMDBLogonFailed, KindEMSMDBConnectFailed, KindEMSMDBLeak,
		KindEndpointNotRegistered, KindEndpointUnreachable, KindDeadConnection)
}

// Session ends of an EMSMDB session (EMSMDBSession.End).
const EndDisconnect = "disconnect"

// Bounds of the state beyond NSPI.
const (
	maxMapped    = 4096 // endpoints learned from ept_map answers
	maxEPKeys    = 1024 // (mapper, interface) pairs answered not registered
	maxReferrals = 1000 // distinct referral rows
	maxDeadKeys  = 4096 // (server, client) pairs with dead connections
	maxPoints    = 64   // timeline buckets kept per series before coarsening
	maxBuckets   = 60   // timeline buckets in the report
	// deadSilence: a connection must have been silent this long at the end
	// of the capture to be called dead.
	deadSilence = 30 * time.Second
	// keepAlive is Windows' default TCP KeepAliveTime (2 hours).
	keepAlive = 2 * time.Hour
)

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
	EMSMDBCounters
}

// EMSMDBSession is one Exchange store session: an EcDoConnect(Ex) answered
// 0 with a non-zero CXH, keyed by (server IP, CXH).
type EMSMDBSession struct {
	Server       string     `json:"server"`
	ServerPort   uint16     `json:"server_port"`
	Client       string     `json:"client"`
	User         NullString `json:"user"`
	UserDN       string     `json:"user_dn"`
	Auth         string     `json:"auth"`
	Op           string     `json:"op"`
	Handle       string     `json:"handle"`
	ConnectFrame FrameRef   `json:"connect_frame"`
	ConnectTime  time.Time  `json:"connect_time"`
	// End is disconnect, connection_closed or open_at_end.
	End      string     `json:"end"`
	EndFrame *FrameRef  `json:"end_frame"`
	EndTime  *time.Time `json:"end_time"`
	Calls    int        `json:"calls"`
}

// Referral is what an RFR call answered: the directory server (for
// RfrGetNewDSA) or mailbox server (RfrGetFQDNFromServerDN) a client was
// sent to. Identical answers to one client are counted in one row.
type Referral struct {
	Server     string     `json:"server"`
	Client     string     `json:"client"`
	User       NullString `json:"user"`
	Op         string     `json:"op"`
	DN         string     `json:"dn,omitempty"`
	ReferredTo string     `json:"referred_to"`
	Status     string     `json:"status"`
	Count      int        `json:"count"`
	Frame      FrameRef   `json:"frame"`
	ReplyFrame FrameRef   `json:"reply_frame"`
	Time       time.Time  `json:"time"`
}

// TimelineRow is the number of sessions one user (By "user") or one client
// IP (By "client") held on one server over the capture: Held[i] is the most
// held at once during bucket i, which starts at Start + i*BucketSeconds.
type TimelineRow struct {
	Proto         string     `json:"proto"`
	Server        string     `json:"server"`
	By            string     `json:"by"`
	User          NullString `json:"user"`
	Client        string     `json:"client,omitempty"`
	Start         time.Time  `json:"start"`
	BucketSeconds int64      `json:"bucket_seconds"`
	Held          []int      `json:"held"`
	Peak          int        `json:"peak"`
	Limit         int        `json:"limit"`
	// RatePerHour and LimitAt repeat the leak finding of the row, if any.
	RatePerHour float64    `json:"rate_per_hour,omitempty"`
	LimitAt     *time.Time `json:"limit_at,omitempty"`
}

// ext is the state beyond NSPI.
type ext struct {
	t0, now time.Time
	started bool

	emsLimit int
	eUsers   map[gkey]*emsGroup
	eClients map[ckey]*emsGroup
	eOpen    map[sessKey]*emsSess
	eConn    map[uint64][]*emsSess
	eSyn     int
	eN       int
	eList    []EMSMDBSession
	eMax     int
	// EMSMDB calls not followed because the tables were full
	// (Options.MaxRows rows, Options.MaxOpenSessions sessions); the
	// verdict counts them.
	eDroppedRows, eDroppedSessions int

	mapped   map[netip.AddrPort]*epMapped
	notReg   map[epKey]*epNotReg
	unreach  map[netip.AddrPort]*epUnreach
	rfr      map[rfrKey]*Referral
	rfrOrder []rfrKey

	dconns map[uint64]*deadConn
	reopen recentSet[ckey, time.Time] // last bind or connect per (server, client), the latest maxReopen
	dead   map[ckey]*deadAcc

	series  map[any]*series
	nSeries int // series created (series.id)
}

func newExt(o Options) *ext {
	return &ext{
		emsLimit: o.EMSMDBLimit,
		eUsers:   map[gkey]*emsGroup{},
		eClients: map[ckey]*emsGroup{},
		eOpen:    map[sessKey]*emsSess{},
		eConn:    map[uint64][]*emsSess{},
		eMax:     o.MaxSessions,
		mapped:   map[netip.AddrPort]*epMapped{},
		notReg:   map[epKey]*epNotReg{},
		unreach:  map[netip.AddrPort]*epUnreach{},
		rfr:      map[rfrKey]*Referral{},
		dconns:   map[uint64]*deadConn{},
		reopen:   newRecentSet[ckey, time.Time](maxReopen(o)),
		dead:     map[ckey]*deadAcc{},
		series:   map[any]*series{},
	}
}

// frameList keeps the first maxFrames-1 frames added and the last, in the
// order added, and the seq of the first.
type frameList struct {
	n     int
	seq   int
	first []FrameRef
	last  FrameRef
}

func (l *frameList) add(seq int, f FrameRef) {
	if f.Frame == 0 {
		return
	}
	if l.n == 0 {
		l.seq = seq
	}
	l.n++
	if len(l.first) < maxFrames-1 {
		l.first = append(l.first, f)
		return
	}
	l.last = f
}

func (l *frameList) frames() []FrameRef {
	out := append([]FrameRef{}, l.first...)
	if l.n > len(l.first) {
		out = append(out, l.last)
	}
	return out
}

// --- dispatch ---

// extStep handles an event of another protocol than NSPI, and follows
// every NSPI call for the dead connections. It returns true when the event
// is not NSPI (the NSPI correlator must not see it).
func (a *Analyzer) extStep(ev *Event) bool {
	x := a.x
	if !x.started {
		x.t0, x.started = ev.Time, true
	}
	x.now = a.lastTime
	switch {
	case ev.Kind == EvConnEnd:
		a.deadEnd(ev)
		a.emsConnEnd(ev)
		return false
	case ev.Proto == "" || ev.Proto == "nspi":
		a.deadSee(ev)
		return false
	}
	switch ev.Kind {
	case EvEndpointMap:
		a.epMap(ev)
	case EvReferral:
		a.referral(ev)
	case EvTCPEnd:
		a.tcpEnd(ev)
	default:
		if ev.Proto == "emsmdb" {
			a.deadSee(ev)
			a.emsStep(ev)
		}
	}
	return true
}

// --- EMSMDB ---

type emsGroup struct {
	c         EMSMDBCounters
	held      int
	client    netip.Addr
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

func (r *emsRef) add(seq int, f FrameRef, held, ord int, what string, client netip.Addr) {
	if r.ev.n == 0 {
		r.lo, r.hi, r.firstOrd = held, held, ord
	}
	r.lo, r.hi = min(r.lo, held), max(r.hi, held)
	r.lastSeq = seq
	r.what.add(what, 1)
	r.cl.add(client)
	r.ev.add(evidence{seq, f})
}

type emsSess struct {
	key    sessKey
	ug, cg *emsGroup
	ukey   string
	seq    int
	frame  FrameRef
	bindT  time.Time
	rec    int
	open   bool
	conns  []uint64
}

func (x *ext) eUser(server netip.Addr, ukey string) *emsGroup {
	k := gkey{server, ukey}
	g := x.eUsers[k]
	if g == nil {
		g = &emsGroup{lastOKSeq: -1}
		x.eUsers[k] = g
	}
	return g
}

func (x *ext) eClient(server, client netip.Addr) *emsGroup {
	k := ckey{server, client}
	g := x.eClients[k]
	if g == nil {
		g = &emsGroup{client: client, lastOKSeq: -1}
		x.eClients[k] = g
	}
	return g
}

func (x *ext) ecount(ug, cg *emsGroup, f func(c *EMSMDBCounters)) {
	f(&ug.c)
	f(&cg.c)
}

// emsName names an EMSMDB status.
func emsName(v uint32) string {
	if n := emsStatusNames[v]; n != "" {
		return fmt.Sprintf("%s (0x%08x)", n, v)
	}
	return fmt.Sprintf("0x%08x", v)
}

var emsStatusNames = map[uint32]string{
	0x80070005: "ecAccessDenied", 0x00000970: "ecNotEncrypted", 0x000004df: "ecClientVerDisallowed",
	0x80040111: "ecLoginFailure", 0x000003eb: "ecUnknownUser", 0x000003f2: "ecLoginPerm",
	0x80040110: "ecVersionMismatch", 0x000004e1: "ecCachedModeRequired", 0x000004e0: "ecRpcHttpDisallowed",
	0x000007d8: "ecProtocolDisabled", 0x000004de: "ecMaxObjsExceeded", 0x80040112: "MAPI_E_SESSION_LIMIT",
	0x000007ee: "ecRejected", 0x000004b6: "ecRpcFormat", 0x00000480: "ecServerBusy",
	0x0000096c: "ecMailboxDisabled", 0x0000050c: "ecMailboxInTransit", 0x00000478: "ecWrongServer",
	0x00000a36: "ecMaxConnectionsExceeded", 0x00000a2d: "ecMaxPoolExceeded",
}

func (a *Analyzer) emsStep(ev *Event) {
	x := a.x
	server := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	who := ev.User
	if who == "" {
		who = ev.UserDN
	}
	ukey := a.userKey(who)
	if _, ok := x.eUsers[gkey{server, ukey}]; !ok && len(x.eUsers) >= a.opt.MaxRows {
		x.eDroppedRows++
		return
	}
	if _, ok := x.eClients[ckey{server, client}]; !ok && len(x.eClients) >= a.opt.MaxRows {
		x.eDroppedRows++
		return
	}
	switch ev.Kind {
	case EvBind:
		ug, cg := x.eUser(server, ukey), x.eClient(server, client)
		if ug.dn == "" {
			ug.dn = ev.UserDN
		}
		x.ecount(ug, cg, func(c *EMSMDBCounters) { c.Connects++ })
		ref := func(p **emsRef, what string) {
			if *p == nil {
				*p = &emsRef{}
			}
			(*p).add(a.seq, replyFrame(ev), ug.held, ug.c.Connects, what, client)
		}
		switch {
		case !ev.Answered || (!ev.HasFault && !ev.HasStatus):
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.Unknown++ })
		case ev.HasFault:
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, FaultName(ev.Fault))
		case ev.Status == 0 && (!ev.HasHandle || !isZero(ev.Handle)):
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.ConnectsOK++ })
			ug.lastOKSeq = a.seq
			a.emsOpen(ev, server, client, ukey, ug, cg)
		case ev.Status == 0:
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, "status 0 with a null session handle")
		case ev.Status == 0x000004de || ev.Status == 0x80040112:
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.SessionLimit++ })
			ref(&ug.limit, emsName(ev.Status))
		case ev.Status == 0x80040111:
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.LogonFailed++ })
			ref(&ug.logon, emsName(ev.Status))
		default:
			x.ecount(ug, cg, func(c *EMSMDBCounters) { c.FailedOther++ })
			ref(&ug.failed, emsName(ev.Status))
		}
	case EvUnbind:
		s := x.eOpen[sessKey{server: server, handle: ev.Handle}]
		if !ev.HasHandle || s == nil {
			x.ecount(x.eUser(server, ukey), x.eClient(server, client), func(c *EMSMDBCounters) { c.Disconnects++ })
			return
		}
		x.ecount(s.ug, s.cg, func(c *EMSMDBCounters) { c.Disconnects++ })
		if ev.HasFault {
			return
		}
		a.emsEnd(s, EndDisconnect, ev.Frame, ev.Time)
	default:
		var s *emsSess
		if ev.HasHandle && !isZero(ev.Handle) {
			s = x.eOpen[sessKey{server: server, handle: ev.Handle}]
		}
		if s == nil {
			x.ecount(x.eUser(server, ukey), x.eClient(server, client), func(c *EMSMDBCounters) { c.OtherCalls++ })
			return
		}
		x.ecount(s.ug, s.cg, func(c *EMSMDBCounters) { c.OtherCalls++ })
		if s.rec >= 0 {
			x.eList[s.rec].Calls++
		}
		for _, c := range s.conns {
			if c == ev.ConnID {
				return
			}
		}
		s.conns = append(s.conns, ev.ConnID)
		x.eConn[ev.ConnID] = append(x.eConn[ev.ConnID], s)
	}
}

func (a *Analyzer) emsOpen(ev *Event, server, client netip.Addr, ukey string, ug, cg *emsGroup) {
	x := a.x
	key := sessKey{server: server, handle: ev.Handle}
	if !ev.HasHandle {
		x.eSyn++
		key.syn = x.eSyn
	}
	if old := x.eOpen[key]; old != nil {
		a.emsEnd(old, EndConnectionClosed, ev.Frame, ev.Time)
	}
	if len(x.eOpen) >= a.opt.MaxOpenSessions {
		x.eDroppedSessions++
		return
	}
	s := &emsSess{key: key, ug: ug, cg: cg, ukey: ukey, seq: a.seq, frame: ev.Frame, bindT: ev.Time, rec: -1, open: true, conns: []uint64{ev.ConnID}}
	x.eN++
	if len(x.eList) < x.eMax {
		rec := EMSMDBSession{Server: server.String(), ServerPort: ev.Server.Port(), Client: netip.AddrPortFrom(client, ev.Client.Port()).String(),
			User: a.name(ukey), UserDN: ev.UserDN, Auth: ev.Auth, Op: ev.Op, ConnectFrame: ev.Frame, ConnectTime: utc(ev.Time), End: EndOpenAtEnd}
		if ev.HasHandle {
			h := ev.Handle
			rec.Handle = hex.EncodeToString(h[:])
		}
		s.rec = len(x.eList)
		x.eList = append(x.eList, rec)
	}
	x.eOpen[key] = s
	l := x.eConn[ev.ConnID]
	if len(l) == cap(l) && len(l) >= 8 {
		l = emsOpenOnly(l)
	}
	x.eConn[ev.ConnID] = append(l, s)
	a.emsAdjust(s, +1, ev.Time)
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

func (a *Analyzer) emsAdjust(s *emsSess, d int, t time.Time) {
	for i, g := range [2]*emsGroup{s.ug, s.cg} {
		g.held += d
		g.c.PeakConcurrent = max(g.c.PeakConcurrent, g.held)
		var key any = s.ug
		if i == 1 {
			key = s.cg
		}
		a.x.seriesSet(key, "emsmdb", s.key.server, s.ukey, s.cg.client, i == 1, t, g.held)
	}
}

func (a *Analyzer) emsEnd(s *emsSess, end string, f FrameRef, t time.Time) {
	x := a.x
	s.open = false
	delete(x.eOpen, s.key)
	if s.rec >= 0 {
		r := &x.eList[s.rec]
		r.End = end
		ff, tt := f, utc(t)
		r.EndFrame, r.EndTime = &ff, &tt
	}
	if end != EndDisconnect {
		x.ecount(s.ug, s.cg, func(c *EMSMDBCounters) { c.ClosedWithoutDisconnect++ })
		s.ug.neverAdd(s)
	}
	a.emsAdjust(s, -1, t)
	s.conns = nil
}

func (g *emsGroup) neverAdd(s *emsSess) {
	if g.never.n == 0 || s.bindT.Before(g.neverT[0]) {
		g.neverT[0] = s.bindT
	}
	if s.bindT.After(g.neverT[1]) {
		g.neverT[1] = s.bindT
	}
	g.never.add(evidence{s.seq, s.frame})
}

func (a *Analyzer) emsConnEnd(ev *Event) {
	x := a.x
	l, ok := x.eConn[ev.ConnID]
	if !ok {
		return
	}
	delete(x.eConn, ev.ConnID)
	if ev.EndHow == "end_of_capture" || ev.EndHow == "evicted" {
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
			a.emsEnd(s, EndConnectionClosed, ev.Frame, ev.Time)
		}
	}
}

// --- endpoint mapper ---

type epKey struct {
	mapper netip.Addr
	iface  string
}

type epMapped struct {
	iface, uuid string
	mapper      netip.Addr
	client      netip.Addr
	seq         int
	reply       FrameRef
}

type epNotReg struct {
	uuid, version string
	frames        frameList
	cl            clientTrack
	lastSeq       int
	okSeq         int // seq of a later successful answer, -1 for none
}

type epUnreach struct {
	m          *epMapped
	frames     frameList
	rst, quiet int
	cl         clientTrack
}

// exchangeIfaces are the interfaces whose absence from the endpoint map
// stops MAPI clients.
var exchangeIfaces = map[string]string{
	"nspi":        "the address book (NSPI: the global catalog, or Exchange's address book service)",
	"rfr":         "the address book referral service (RFR)",
	"emsmdb":      "the Exchange store (EMSMDB: the Information Store, or the RPC Client Access service)",
	"asyncemsmdb": "the Exchange store's notifications (AsyncEMSMDB)",
	"drsuapi":     "directory replication (DRSUAPI) of the domain controller",
}

func (a *Analyzer) epMap(ev *Event) {
	x := a.x
	mapper := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	k := epKey{mapper, ev.Iface}
	if ev.Status == 0x16c9a0d6 {
		if _, ok := exchangeIfaces[ev.Iface]; !ok {
			return
		}
		n := x.notReg[k]
		if n == nil {
			if len(x.notReg) >= maxEPKeys {
				return
			}
			n = &epNotReg{uuid: ev.IfaceUUID, version: ev.IfaceVersion, okSeq: -1}
			x.notReg[k] = n
		}
		n.frames.add(a.seq, replyFrame(ev))
		n.cl.add(client)
		n.lastSeq = a.seq
		return
	}
	if ev.Status != 0 {
		return
	}
	if n := x.notReg[k]; n != nil {
		n.okSeq = a.seq
	}
	for _, ep := range ev.Endpoints {
		ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
		if _, ok := x.mapped[ep]; !ok && len(x.mapped) >= maxMapped {
			continue
		}
		x.mapped[ep] = &epMapped{iface: ev.Iface, uuid: ev.IfaceUUID, mapper: mapper, client: client, seq: a.seq, reply: replyFrame(ev)}
	}
}

func (a *Analyzer) tcpEnd(ev *Event) {
	x := a.x
	if ev.EndHow != "rst" && ev.EndHow != "end_of_capture" {
		return
	}
	ep := netip.AddrPortFrom(ev.Server.Addr().Unmap(), ev.Server.Port())
	m := x.mapped[ep]
	if m == nil || ev.ConnFirstTime.IsZero() {
		return
	}
	u := x.unreach[ep]
	if u == nil {
		u = &epUnreach{m: m}
		u.frames.add(m.seq, m.reply)
		x.unreach[ep] = u
	}
	if ev.EndHow == "rst" {
		u.rst++
	} else {
		u.quiet++
	}
	u.cl.add(ev.Client.Addr().Unmap())
	u.frames.add(a.seq, ev.ConnFirst)
	if ev.EndHow == "rst" && ev.Frame != ev.ConnFirst {
		u.frames.add(a.seq, ev.Frame)
	}
}

// --- RFR ---

type rfrKey struct {
	server, client netip.Addr
	ukey, op, to   string
	status         uint32
}

func (a *Analyzer) referral(ev *Event) {
	x := a.x
	if !ev.Answered || ev.HasFault || !ev.HasStatus {
		return
	}
	server := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	ukey := a.userKey(ev.User)
	k := rfrKey{server, client, ukey, ev.Op, ev.Referral, ev.Status}
	if r := x.rfr[k]; r != nil {
		r.Count++
		return
	}
	if len(x.rfr) >= maxReferrals {
		return
	}
	x.rfr[k] = &Referral{Server: server.String(), Client: client.String(), User: a.name(ukey), Op: ev.Op, DN: ev.UserDN,
		ReferredTo: ev.Referral, Status: fmt.Sprintf("0x%08x", ev.Status), Count: 1, Frame: ev.Frame, ReplyFrame: replyFrame(ev), Time: utc(ev.Time)}
	x.rfrOrder = append(x.rfrOrder, k)
}

// --- dead connections ---

type deadConn struct {
	server, client netip.Addr
	ukey           string
	protos         uint8 // 1 nspi, 2 emsmdb
	lastT          time.Time
	lastF          FrameRef
	unanswered     bool
	unansF         FrameRef
}

type deadAcc struct {
	conns    int
	sessions int
	protos   uint8
	users    []string
	frames   frameList
	lastT    time.Time
}

func (a *Analyzer) deadSee(ev *Event) {
	x := a.x
	d := x.dconns[ev.ConnID]
	if d == nil {
		d = &deadConn{server: ev.Server.Addr().Unmap(), client: ev.Client.Addr().Unmap()}
		x.dconns[ev.ConnID] = d
	}
	if ev.Proto == "emsmdb" {
		d.protos |= 2
	} else {
		d.protos |= 1
	}
	if ev.User != "" && d.ukey == "" {
		d.ukey = a.userKey(ev.User)
	}
	d.lastT, d.lastF = ev.Time, ev.Frame
	if ev.Answered {
		d.lastT, d.lastF = ev.ReplyTime, ev.ReplyFrame
	} else {
		d.unanswered = true
		d.unansF = ev.Frame
	}
	if ev.Kind == EvBind {
		x.reopen.put(ckey{d.server, d.client}, ev.Time)
	}
}

func (a *Analyzer) deadEnd(ev *Event) {
	x := a.x
	d := x.dconns[ev.ConnID]
	if d == nil {
		return
	}
	delete(x.dconns, ev.ConnID)
	if ev.EndHow != "end_of_capture" || !d.unanswered {
		return
	}
	k := ckey{d.server, d.client}
	re, ok := x.reopen.get(k)
	if !ok || !re.After(d.lastT) || a.lastTime.Sub(d.lastT) < deadSilence {
		return
	}
	acc := x.dead[k]
	if acc == nil {
		if len(x.dead) >= maxDeadKeys {
			return
		}
		acc = &deadAcc{}
		x.dead[k] = acc
	}
	acc.conns++
	acc.protos |= d.protos
	for _, s := range a.connSess[ev.ConnID] {
		if s.open && !s.ghost {
			acc.sessions++
		}
	}
	for _, s := range x.eConn[ev.ConnID] {
		if s.open {
			acc.sessions++
		}
	}
	if d.ukey != "" && len(acc.users) < 8 && !containsStr(acc.users, d.ukey) {
		acc.users = append(acc.users, d.ukey)
	}
	if d.lastT.After(acc.lastT) {
		acc.lastT = d.lastT
	}
	acc.frames.add(a.seq, d.unansF)
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// --- timeline ---

type series struct {
	id       int // in creation order: a row that came back has a second series of the same key
	proto    string
	server   netip.Addr
	ukey     string
	name     NullString // the user's spelling, kept when its row is retired
	client   netip.Addr
	byClient bool
	w        int64 // seconds per bucket, a power of 2
	start    int64 // bucket index of b[0]
	b        []int32
	cur      int32
	peak     int
}

// seriesSet records that the group key now holds v sessions.
func (x *ext) seriesSet(key any, proto string, server netip.Addr, ukey string, client netip.Addr, byClient bool, t time.Time, v int) {
	x.seriesSetIn(nil, key, proto, server, ukey, client, byClient, t, v)
}

// seriesSetIn is seriesSet with slot, when not nil, remembering the
// series of key so that the next call needs no map lookup.
func (x *ext) seriesSetIn(slot **series, key any, proto string, server netip.Addr, ukey string, client netip.Addr, byClient bool, t time.Time, v int) {
	var s *series
	if slot != nil {
		s = *slot
	}
	if s == nil {
		s = x.series[key]
	}
	if s == nil {
		x.nSeries++
		s = &series{id: x.nSeries, proto: proto, server: server, ukey: ukey, client: client, byClient: byClient, w: 1}
		x.series[key] = s
	}
	if slot != nil {
		*slot = s
	}
	sec := int64(t.Sub(x.t0) / time.Second)
	if sec < 0 {
		sec = 0
	}
	idx := sec / s.w
	if s.b == nil {
		s.start = idx
		s.b = []int32{s.cur}
	}
	if idx < s.start {
		idx = s.start // events out of time order
	}
	for idx-s.start >= maxPoints {
		// Coarsen: merge pairs of buckets.
		ns := s.start / 2
		var nb []int32
		for i, v := range s.b {
			j := int((s.start+int64(i))/2 - ns)
			for len(nb) <= j {
				nb = append(nb, 0)
			}
			nb[j] = max(nb[j], v)
		}
		s.w *= 2
		s.start, s.b = ns, nb
		idx = sec / s.w
	}
	for int64(len(s.b)) <= idx-s.start {
		s.b = append(s.b, s.cur)
	}
	i := idx - s.start
	s.b[i] = max(s.b[i], int32(v))
	s.cur = int32(v)
	s.peak = max(s.peak, v)
}

// timelineHook follows the NSPI sessions held by a user and a client.
func (a *Analyzer) timelineHook(s *sess, t time.Time) {
	if s.ghost || a.x == nil {
		return
	}
	if !a.x.started {
		a.x.t0, a.x.started = t, true
	}
	a.x.seriesSetIn(&s.ug.ser, s.ug, "nspi", s.key.server, s.ukey, s.cg.client, false, t, s.ug.held)
	a.x.seriesSetIn(&s.cg.ser, s.cg, "nspi", s.key.server, s.ukey, s.cg.client, true, t, s.cg.held)
}

// --- report ---

// extReport adds the sections and findings beyond NSPI to r (after the NSPI
// verdict was written). It does not change the Analyzer.
func (p *reporter) extReport(r *Report) {
	a := p.a
	x := a.x
	r.EMSMDBLimit = x.emsLimit
	r.EMSMDBUsers = []EMSMDBUserRow{}
	r.EMSMDBClients = []EMSMDBClientRow{}
	r.Referrals = []Referral{}
	r.Timeline = []TimelineRow{}
	for k, g := range x.eUsers {
		c := g.c
		c.OpenAtEnd = g.held
		r.EMSMDBUsers = append(r.EMSMDBUsers, EMSMDBUserRow{Server: k.server.String(), User: a.name(k.who), UserDN: g.dn, EMSMDBCounters: c})
	}
	sort.Slice(r.EMSMDBUsers, func(i, j int) bool {
		a, b := r.EMSMDBUsers[i], r.EMSMDBUsers[j]
		return userRowLess(a.Server, a.User, b.Server, b.User)
	})
	for k, g := range x.eClients {
		c := g.c
		c.OpenAtEnd = g.held
		r.EMSMDBClients = append(r.EMSMDBClients, EMSMDBClientRow{Server: k.server.String(), Client: k.client.String(), EMSMDBCounters: c})
	}
	sort.Slice(r.EMSMDBClients, func(i, j int) bool {
		a, b := r.EMSMDBClients[i], r.EMSMDBClients[j]
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		return addrLess(a.Client, b.Client)
	})
	r.EMSMDBSessions = append(make([]EMSMDBSession, 0, len(x.eList)), x.eList...)
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
	for _, k := range x.rfrOrder {
		r.Referrals = append(r.Referrals, *x.rfr[k])
	}

	var verdict []string
	add := func(f *Finding, sentence string) {
		p.findings = append(p.findings, f)
		r.Findings = append(r.Findings, *f)
		if sentence != "" {
			verdict = append(verdict, sentence)
		}
	}
	leaks := map[gkey]*Finding{}
	p.emsFindings(r, add, leaks)
	p.epFindings(add)
	p.deadFindings(add)
	sortFindings(r.Findings)

	// NSPI leaks, for the timeline.
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Kind == KindLeak && f.User != "" {
			srv, _ := netip.ParseAddr(string(f.Server))
			leaks[gkey{srv, "nspi|" + strings.ToLower(string(f.User))}] = f
		}
	}
	p.timeline(r, leaks)
	if len(verdict) > 0 {
		r.Verdict = append(verdict, r.Verdict...)
	}
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if sevRank(a.Severity) != sevRank(b.Severity) {
			return sevRank(a.Severity) < sevRank(b.Severity)
		}
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Message < b.Message
	})
}

func (p *reporter) extFinding(kind, sev string, server netip.Addr, ukey string, client netip.Addr, fl *frameList, msg string) *Finding {
	f := &Finding{Kind: kind, Severity: sev, User: p.a.name(ukey), Count: fl.n, Message: msg, seq: fl.seq}
	if server.IsValid() {
		f.Server = NullString(server.String())
	}
	if client.IsValid() {
		f.Client = NullString(client.String())
	}
	f.Frames = fl.frames()
	if fl.n > maxFrames {
		f.Message += fmt.Sprintf(" Frames: the first %d and the last of %d.", maxFrames-1, fl.n)
	}
	return f
}

// emsFinding builds a finding from an evAcc without registering it with
// the NSPI reporter (newFinding registers it).
func (p *reporter) emsFinding(kind, sev string, server netip.Addr, ukey string, client netip.Addr, ev *evAcc, msg string) *Finding {
	f := &Finding{Kind: kind, Severity: sev, User: p.a.name(ukey), Count: ev.n, Message: msg}
	if server.IsValid() {
		f.Server = NullString(server.String())
	}
	if client.IsValid() {
		f.Client = NullString(client.String())
	}
	f.Frames, f.seq = ev.frames()
	if ev.n > maxFrames {
		f.Message += fmt.Sprintf(" Frames: the first %d and the last of %d.", maxFrames-1, ev.n)
	}
	return f
}

func (p *reporter) emsFindings(r *Report, add func(*Finding, string), leaks map[gkey]*Finding) {
	a := p.a
	x := a.x
	limit := x.emsLimit
	keys := make([]gkey, 0, len(x.eUsers))
	for k := range x.eUsers {
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
		g := x.eUsers[k]
		who := p.who(k.who)
		var limitF *Finding
		if l := g.limit; l != nil {
			n := l.ev.n
			msg := fmt.Sprintf("%s was refused %s on %s with %s while it held %s (limit %d): the Exchange store's per-user limit of MAPI sessions (the server logs event 9646, \"exceeded the maximum of %d objects of type session\"). The first refusal was its %s connect.",
				who, plural(n, "EcDoConnect", "EcDoConnect calls"), k.server, l.what.String(), strings.ReplaceAll(heldRange(l.lo, l.hi), "sessions", "store sessions"), limit, limit, ordinal(l.firstOrd))
			msg += fmt.Sprintf(" Find the client that opens store sessions without EcDoDisconnect (an add-in, a mobile or archiving tool, several Outlook profiles, a service that leaks them) and fix or restart it. As a stopgap, raise %s on the mailbox server and restart the Microsoft Exchange Information Store service.", emsmdbRegistryHint)
			limitF = p.emsFinding(KindEMSMDBSessionLimit, SevError, k.server, k.who, l.cl.one(), &l.ev, msg)
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
			add(p.emsFinding(KindEMSMDBLogonFailed, sev, k.server, k.who, l.cl.one(), &l.ev, msg), sentence)
		}
		if l := g.failed; l != nil {
			n := l.ev.n
			msg := fmt.Sprintf("%s by %s to %s failed (%s). The statuses are those of MS-OXCRPC 3.1.4.1: ecNotEncrypted means the server requires RPC encryption, ecUnknownUser a DN that is not a mailbox, ecWrongServer a mailbox on another server.",
				plural(n, "EcDoConnect", "EcDoConnect calls"), who, k.server, l.what.String())
			add(p.emsFinding(KindEMSMDBConnectFailed, SevWarning, k.server, k.who, l.cl.one(), &l.ev, msg), "")
		}
		// Leak: sessions never disconnected (ended with their connection,
		// or still open), at least leakMin held at once.
		never := g.never.clone()
		t0, t1 := g.neverT[0], g.neverT[1]
		open := 0
		for _, s := range x.eOpen {
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
			never.add(evidence{s.seq, s.frame})
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
		if h := t1.Sub(t0).Hours(); h > 0 && never.n > 1 {
			rate = float64(never.n-1) / h
			msg += fmt.Sprintf(" They grew by %s sessions per hour.", fmtRate(rate))
			if g.held < limit && open > 0 && limitF == nil {
				t := a.lastTime.Add(time.Duration(float64(limit-g.held) / rate * float64(time.Hour))).UTC().Truncate(time.Second)
				at = &t
				msg += fmt.Sprintf(" At that rate the user reaches the limit of %d at about %s.", limit, t.Format("2006-01-02 15:04 UTC"))
			}
		}
		if limitF != nil {
			msg += " The store refused its connects at the limit (see emsmdb_session_limit)."
		}
		msg += fmt.Sprintf(" Find the client that connects without calling EcDoDisconnect and fix or restart it; raising %s only delays the failure.", emsmdbRegistryHint)
		f := p.emsFinding(KindEMSMDBLeak, sev, k.server, k.who, netip.Addr{}, &never, msg)
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

func (p *reporter) epFindings(add func(*Finding, string)) {
	x := p.a.x
	keys := make([]epKey, 0, len(x.notReg))
	for k := range x.notReg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].mapper != keys[j].mapper {
			return keys[i].mapper.Less(keys[j].mapper)
		}
		return keys[i].iface < keys[j].iface
	})
	for _, k := range keys {
		n := x.notReg[k]
		what := exchangeIfaces[k.iface]
		msg := fmt.Sprintf("The endpoint mapper on %s answered ept_s_not_registered (0x16c9a0d6) to %s for %s (%s v%s): no process has registered that interface, so clients cannot find the port to connect to, fail to log on and Outlook prompts for credentials again and again.",
			k.mapper, plural(n.frames.n, "ept_map", "ept_map calls"), k.iface, n.uuid, n.version)
		msg += fmt.Sprintf(" Check on %s that the service providing %s is running, and that it could register: a service set to a static port fails to register when another process already holds that port (look for the service's startup errors in the event log, and for the port's owner with netstat -ano).", k.mapper, what)
		sev := SevError
		if n.okSeq > n.lastSeq {
			sev = SevWarning
			msg += " A later ept_map for it was answered: the service registered in the meantime."
		}
		sentence := ""
		if sev == SevError {
			sentence = fmt.Sprintf("The endpoint mapper on %s does not know %s (ept_s_not_registered): the service that provides it is not running or could not register its port.", k.mapper, k.iface)
		}
		add(p.extFinding(KindEndpointNotRegistered, sev, k.mapper, "", n.cl.one(), &n.frames, msg), sentence)
	}
	eps := make([]netip.AddrPort, 0, len(x.unreach))
	for ep := range x.unreach {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Compare(eps[j]) < 0 })
	for _, ep := range eps {
		u := x.unreach[ep]
		var how []string
		if u.rst > 0 {
			how = append(how, fmt.Sprintf("%d reset by the server (RST)", u.rst))
		}
		if u.quiet > 0 {
			how = append(how, fmt.Sprintf("%d never answered", u.quiet))
		}
		attempts := u.rst + u.quiet
		msg := fmt.Sprintf("The endpoint mapper on %s sent clients to %s for %s, but %s there failed (%s). Nothing listens on that port, or a firewall between the client and the server blocks it. Check that the service providing %s listens on port %d of %s (netstat -ano), and that firewalls allow it (dynamic RPC ports are 49152-65535 by default).",
			u.m.mapper, ep, u.m.iface, plural(attempts, "connection attempt", "connection attempts"), strings.Join(how, ", "), u.m.iface, ep.Port(), ep.Addr())
		f := p.extFinding(KindEndpointUnreachable, SevError, ep.Addr(), "", u.cl.one(), &u.frames, msg)
		f.Count = attempts
		add(f, fmt.Sprintf("%s (%s, from the endpoint mapper) is unreachable: %s.", ep, u.m.iface, plural(attempts, "connection attempt failed", "connection attempts failed")))
	}
}

func (p *reporter) deadFindings(add func(*Finding, string)) {
	a := p.a
	x := a.x
	keys := make([]ckey, 0, len(x.dead))
	for k := range x.dead {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].server != keys[j].server {
			return keys[i].server.Less(keys[j].server)
		}
		return keys[i].client.Less(keys[j].client)
	})
	for _, k := range keys {
		d := x.dead[k]
		var protos []string
		if d.protos&1 != 0 {
			protos = append(protos, "NSPI")
		}
		if d.protos&2 != 0 {
			protos = append(protos, "EMSMDB")
		}
		ukey := ""
		var names []string
		for _, u := range d.users {
			names = append(names, p.who(u))
		}
		if len(d.users) == 1 {
			ukey = d.users[0]
		}
		users := ""
		if len(names) > 0 {
			users = " (" + strings.Join(names, ", ") + ")"
		}
		until := d.lastT.Add(keepAlive).UTC().Format("15:04:05 UTC")
		msg := fmt.Sprintf("%s from %s%s to %s went silent with a call unanswered and never closed (no FIN or RST), while the client opened new connections and logged on again: the pattern of a VPN or network drop. They held %s. The server keeps a dead connection, and the sessions on it, until TCP keep-alive gives up on the peer: with the default KeepAliveTime of 2 hours (7200000 ms) that is about 2 hours after the last packet (here until about %s), and every such session counts against the user's session limit meanwhile. Lower KeepAliveTime under HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters on the server (for example to 300000, 5 minutes; it takes effect after a restart), and look at the VPN or network path that drops the connections. Frames: the last unanswered call of each.",
			plural(d.conns, strings.Join(protos, "/")+" connection", strings.Join(protos, "/")+" connections"), k.client, users, k.server,
			plural(d.sessions, "session", "sessions"), until)
		f := p.extFinding(KindDeadConnection, SevWarning, k.server, ukey, k.client, &d.frames, msg)
		f.Count = d.conns
		add(f, fmt.Sprintf("%s from %s to %s died silently (VPN or network drop); the server keeps them, and their %s, for about 2 hours (TCP KeepAliveTime).",
			plural(d.conns, "connection", "connections"), k.client, k.server, plural(d.sessions, "session", "sessions")))
	}
}

// mergeTimeline makes one row of the series of a row that was retired and
// came back (--max-rows, --max-open-sessions): its periods follow one
// another, and what a retired period still held counts as held until the
// end, so the sessions held are the sum of the periods' in each bucket.
func mergeTimeline(rows []TimelineRow) []TimelineRow {
	type key struct{ proto, server, by, who string }
	at := map[key]int{}
	out := rows[:0]
	for _, row := range rows {
		k := key{row.Proto, row.Server, row.By, row.Client}
		if row.By == "user" {
			k.who = strings.ToLower(string(row.User))
		}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, row)
			continue
		}
		m := &out[i]
		for j := range m.Held {
			m.Held[j] += row.Held[j]
			m.Peak = max(m.Peak, m.Held[j])
		}
		m.Peak = max(m.Peak, row.Peak)
	}
	return out
}

// maxTimelineRows bounds the series in Report.Timeline: a busy DC has
// thousands of users, and 60 numbers each add up.
const maxTimelineRows = 500

func (p *reporter) timeline(r *Report, leaks map[gkey]*Finding) {
	a := p.a
	x := a.x
	all := make([]*series, 0, len(x.series)+len(a.rt.series))
	for _, s := range x.series {
		if s.peak > 0 {
			all = append(all, s)
		}
	}
	all = append(all, a.rt.series...)
	if !x.started || len(all) == 0 {
		return
	}
	span := int64(a.lastTime.Sub(x.t0) / time.Second)
	w := int64(1)
	for span/w+1 > maxBuckets {
		w *= 2
	}
	for _, s := range all {
		w = max(w, s.w)
	}
	nb := int(span/w + 1)
	// With more series than the report keeps, build only the highest
	// (seriesOrder: by peak, ties in a fixed order).
	omitted := a.rt.seriesDrop
	// In creation order, so that the two series of a row that came back
	// after it was retired keep theirs through the stable sorts.
	slices.SortFunc(all, func(x, y *series) int { return cmp.Compare(x.id, y.id) })
	if len(all) > maxTimelineRows {
		slices.SortStableFunc(all, seriesOrder)
		omitted += len(all) - maxTimelineRows
		all = all[:maxTimelineRows]
	}
	for _, s := range all {
		held := make([]int, nb)
		lastJ := -1
		for i, v := range s.b {
			j := int((s.start + int64(i)) * s.w / w)
			if j >= nb {
				j = nb - 1
			}
			held[j] = max(held[j], int(v))
			lastJ = j
		}
		for j := lastJ + 1; j < nb; j++ {
			held[j] = int(s.cur)
		}
		row := TimelineRow{Proto: s.proto, Server: s.server.String(), By: "user", Start: utc(x.t0), BucketSeconds: w, Held: held, Peak: s.peak, Limit: p.limit}
		if s.proto == "emsmdb" {
			row.Limit = x.emsLimit
		}
		if s.byClient {
			row.By, row.Client = "client", s.client.String()
		} else {
			row.User = a.name(s.ukey)
			if s.name != "" {
				row.User = s.name
			}
			if f := leaks[gkey{s.server, s.proto + "|" + s.ukey}]; f != nil {
				row.RatePerHour, row.LimitAt = f.RatePerHour, f.LimitAt
			}
		}
		r.Timeline = append(r.Timeline, row)
	}
	r.Timeline = mergeTimeline(r.Timeline)
	if omitted > 0 {
		// The series that climbed highest are kept (the ones a reader
		// needs); the counters and findings still cover everybody.
		r.Anomalies = append(r.Anomalies, Anomaly{Kind: "timeline_truncated", Count: int64(omitted),
			Message: fmt.Sprintf("the timeline lists the %d series that held the most sessions; %d more are left out (their counters and findings are complete)", maxTimelineRows, omitted)})
		sort.Slice(r.Anomalies, func(i, j int) bool { return r.Anomalies[i].Kind < r.Anomalies[j].Kind })
	}
	sort.SliceStable(r.Timeline, func(i, j int) bool {
		a, b := r.Timeline[i], r.Timeline[j]
		if a.Proto != b.Proto {
			return a.Proto > b.Proto // nspi before emsmdb
		}
		if a.Server != b.Server {
			return addrLess(a.Server, b.Server)
		}
		if a.By != b.By {
			return a.By > b.By // user before client
		}
		if a.By == "client" {
			return addrLess(a.Client, b.Client)
		}
		return userRowLess(a.Server, a.User, b.Server, b.User)
	})
}
