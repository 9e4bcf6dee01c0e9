package analyze

import (
	"encoding/hex"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options configure an Analyzer.
type Options struct {
	// Limit is the per-user NSPI session limit of the domain controller
	// ("NSPI max sessions per user"); 0 means DefaultLimit.
	Limit int
}

// Analyzer correlates NSPI events into sessions, counters and findings. It
// does no I/O. Add events in capture order, then call Report. An Analyzer is
// not safe for concurrent use.
type Analyzer struct {
	opt       Options
	events    []Event
	anomalies map[string]*Anomaly
}

// New returns an Analyzer.
func New(o Options) *Analyzer {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	return &Analyzer{opt: o, anomalies: map[string]*Anomaly{}}
}

// Add records one event. Events must arrive in capture order.
func (a *Analyzer) Add(ev Event) {
	a.events = append(a.events, ev)
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

// Report builds the report from the events added so far. It may be called
// more than once. Version is left empty for the caller to set.
func (a *Analyzer) Report(inputs []Input) *Report {
	p := newPass(a.opt.Limit)
	for i := range a.events {
		p.step(i, &a.events[i])
	}
	r := p.finish()
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

// gkey identifies a counter row: a server and a user key (lower-cased user)
// or a client IP.
type gkey struct {
	server netip.Addr
	who    string
}

type group struct {
	c         Counters
	held      int // sessions seen bound, open now
	ghosts    int // sessions bound before the capture, in use and not ended
	peakTotal int // highest held+ghosts
	client    netip.Addr
	// lastOKSeq: seq of the last successful bind, -1 for none.
	lastOKSeq int
}

type sess struct {
	Session
	key    sessKey
	seq    int
	ukey   string
	client netip.Addr
	conns  map[uint64]struct{}
	open   bool
	ghost  bool
	endSeq int
}

// evidence is one event behind a finding.
type evidence struct {
	seq   int
	frame FrameRef
}

type refusal struct {
	Refusal
	seq      int
	server   netip.Addr
	client   netip.Addr
	ukey     string
	followed bool // an authenticated bind from the same client followed
}

// note is a call that a finding will report: an unanswered call, a failed
// bind or unbind, a call on an unknown handle.
type note struct {
	evidence
	server netip.Addr
	client netip.Addr
	ukey   string
	op     string
	what   string // status or fault text, or a sub-case
	handle [20]byte
	ended  bool // unknown handle: it had been seen and had ended
	fault  bool // the call was answered with a fault
	conn   uint64
}

type pass struct {
	limit    int
	names    map[string]string // user key -> first spelling
	users    map[gkey]*group
	clients  map[gkey]*group
	servers  map[netip.Addr]bool
	total    Counters
	held     int
	open     map[sessKey]*sess
	ended    map[sessKey]bool
	sessions []*sess
	connSess map[uint64][]*sess
	connEnd  map[uint64]string
	syn      int
	cur      int // seq of the event being processed
	lastTime time.Time

	refusals      []*refusal
	lastAuthBind  map[[2]netip.Addr]int // (server, client) -> seq of the last authenticated bind
	unanswered    []note
	bindFailed    []note
	unbindFailed  []note
	unbindUnknown []note
	callUnknown   []note
	sealed        map[netip.Addr][]evidence

	findings     []*Finding
	infos        map[gkey]*groupInfo
	anonLeaks    []*groupInfo
	anonExpected int // anonymous refusals followed by an authenticated bind
}

func newPass(limit int) *pass {
	return &pass{
		limit:        limit,
		names:        map[string]string{},
		users:        map[gkey]*group{},
		clients:      map[gkey]*group{},
		servers:      map[netip.Addr]bool{},
		open:         map[sessKey]*sess{},
		ended:        map[sessKey]bool{},
		connSess:     map[uint64][]*sess{},
		connEnd:      map[uint64]string{},
		lastAuthBind: map[[2]netip.Addr]int{},
		sealed:       map[netip.Addr][]evidence{},
	}
}

func (p *pass) userKey(user string) string {
	if user == "" {
		return ""
	}
	k := strings.ToLower(user)
	if _, ok := p.names[k]; !ok {
		p.names[k] = user
	}
	return k
}

func (p *pass) name(ukey string) NullString { return NullString(p.names[ukey]) }

func (p *pass) ugroup(server netip.Addr, ukey string) *group {
	k := gkey{server, ukey}
	g := p.users[k]
	if g == nil {
		g = &group{lastOKSeq: -1}
		p.users[k] = g
	}
	return g
}

func (p *pass) cgroup(server, client netip.Addr) *group {
	k := gkey{server, client.String()}
	g := p.clients[k]
	if g == nil {
		g = &group{client: client, lastOKSeq: -1}
		p.clients[k] = g
	}
	return g
}

// count applies f to the user row, the client row and the totals.
func (p *pass) count(server netip.Addr, ukey string, client netip.Addr, f func(c *Counters)) {
	f(&p.ugroup(server, ukey).c)
	f(&p.cgroup(server, client).c)
	f(&p.total)
}

func isZero(h [20]byte) bool { return h == [20]byte{} }

func (p *pass) step(seq int, ev *Event) {
	p.cur = seq
	for _, t := range []time.Time{ev.Time, ev.ReplyTime} {
		if t.After(p.lastTime) {
			p.lastTime = t
		}
	}
	if ev.Kind == EvConnEnd {
		p.connEnded(ev)
		return
	}
	server := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	p.servers[server] = true
	ukey := p.userKey(ev.User)
	here := evidence{seq, ev.Frame}
	if ev.Sealed && !ev.HasFault {
		p.sealed[server] = append(p.sealed[server], here)
	}
	if !ev.Answered {
		p.unanswered = append(p.unanswered, note{evidence: here, server: server, client: client, ukey: ukey, op: opName(ev), conn: ev.ConnID})
	}
	switch ev.Kind {
	case EvBind:
		p.bind(seq, ev, server, client, ukey)
	case EvUnbind:
		p.unbind(seq, ev, server, client, ukey)
	case EvCall:
		p.call(seq, ev, server, client, ukey)
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

func (p *pass) bind(seq int, ev *Event, server, client netip.Addr, ukey string) {
	ug := p.ugroup(server, ukey)
	p.count(server, ukey, client, func(c *Counters) { c.Binds++ })
	if !ev.Anonymous {
		p.lastAuthBind[[2]netip.Addr{server, client}] = seq
	}
	fail := func(what string) {
		p.count(server, ukey, client, func(c *Counters) { c.BindsFailedOther++ })
		p.bindFailed = append(p.bindFailed, note{evidence: evidence{seq, replyFrame(ev)}, server: server, client: client, ukey: ukey, what: what})
	}
	switch {
	case !ev.Answered:
		p.count(server, ukey, client, func(c *Counters) { c.BindsUnknown++ })
	case ev.HasFault:
		fail(FaultName(ev.Fault))
	case !ev.HasStatus:
		p.count(server, ukey, client, func(c *Counters) { c.BindsUnknown++ })
	case ev.Status == 0 && ev.HasHandle && isZero(ev.Handle):
		fail("status 0 with a null context handle")
	case ev.Status == 0:
		p.count(server, ukey, client, func(c *Counters) { c.BindsOK++ })
		ug.lastOKSeq = seq
		p.cgroup(server, client).lastOKSeq = seq
		p.openSession(seq, ev, server, client, ukey)
	case ev.Status == StatusLogonFailed:
		p.count(server, ukey, client, func(c *Counters) { c.BindsLogonFailed++ })
		r := &refusal{seq: seq, server: server, client: client, ukey: ukey}
		r.Refusal = Refusal{
			Server:            server.String(),
			Client:            client.String(),
			User:              p.name(ukey),
			Auth:              ev.Auth,
			Anonymous:         ev.Anonymous,
			Frame:             ev.Frame,
			ReplyFrame:        replyFrame(ev),
			Time:              utc(ev.Time),
			Ordinal:           ug.c.Binds,
			Held:              ug.held,
			HeldBeforeCapture: ug.ghosts,
		}
		p.refusals = append(p.refusals, r)
	default:
		fail(StatusName(ev.Status))
	}
}

func (p *pass) openSession(seq int, ev *Event, server, client netip.Addr, ukey string) {
	key := sessKey{server: server, handle: ev.Handle}
	if !ev.HasHandle {
		p.syn++
		key.syn = p.syn
	}
	if old := p.open[key]; old != nil {
		// The server handed out a handle that is still open here: it must
		// have freed the old session without our seeing it.
		p.endSession(old, EndConnectionClosed, ev.Frame, ev.Time)
	}
	s := &sess{key: key, seq: seq, ukey: ukey, client: client, open: true, conns: map[uint64]struct{}{ev.ConnID: {}}}
	s.Session = Session{
		Server:     server.String(),
		ServerPort: ev.Server.Port(),
		Client:     netip.AddrPortFrom(client, ev.Client.Port()).String(),
		User:       p.name(ukey),
		Auth:       ev.Auth,
		BindFrame:  ev.Frame,
		BindTime:   utc(ev.Time),
		End:        EndOpenAtEnd,
	}
	if ev.HasHandle {
		s.Handle = hex.EncodeToString(ev.Handle[:])
	}
	p.open[key] = s
	p.sessions = append(p.sessions, s)
	p.connSess[ev.ConnID] = append(p.connSess[ev.ConnID], s)
	p.adjust(s, +1)
}

// adjust changes the number of sessions held by the session's user and
// client, and records peaks and samples.
func (p *pass) adjust(s *sess, d int) {
	server := s.key.server
	for _, g := range []*group{p.ugroup(server, s.ukey), p.cgroup(server, s.client)} {
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
		p.held += d
		if p.held > p.total.PeakConcurrent {
			p.total.PeakConcurrent = p.held
		}
	}
}

func (p *pass) endSession(s *sess, end string, f FrameRef, t time.Time) {
	s.open = false
	s.endSeq = p.cur
	delete(p.open, s.key)
	p.ended[s.key] = true
	s.End = end
	fr := f
	s.EndFrame = &fr
	tt := utc(t)
	s.EndTime = &tt
	if end == EndConnectionClosed && !s.ghost {
		server := s.key.server
		p.count(server, s.ukey, s.client, func(c *Counters) { c.ClosedWithoutUnbind++ })
	}
	p.adjust(s, -1)
}

// use makes a call on a session: the connection joins the session's set.
func (p *pass) use(s *sess, ev *Event) {
	if _, ok := s.conns[ev.ConnID]; !ok {
		s.conns[ev.ConnID] = struct{}{}
		p.connSess[ev.ConnID] = append(p.connSess[ev.ConnID], s)
	}
}

func (p *pass) unbind(seq int, ev *Event, server, client netip.Addr, ukey string) {
	key := sessKey{server: server, handle: ev.Handle}
	var s *sess
	if ev.HasHandle {
		s = p.open[key]
	}
	if s == nil {
		p.count(server, ukey, client, func(c *Counters) { c.Unbinds++ })
		if ev.HasHandle {
			n := note{evidence: evidence{seq, ev.Frame}, server: server, client: client, ukey: ukey, handle: ev.Handle, ended: p.ended[key]}
			if ev.HasStatus {
				n.what = unbindStatus(ev)
			}
			p.unbindUnknown = append(p.unbindUnknown, n)
		}
		return
	}
	p.count(server, s.ukey, s.client, func(c *Counters) { c.Unbinds++ })
	if ev.HasFault {
		// The RPC runtime rejected the call: NspiUnbind did not run and the
		// session stays open.
		p.use(s, ev)
		p.unbindFailed = append(p.unbindFailed, note{evidence: evidence{seq, replyFrame(ev)}, server: server, client: s.client, ukey: s.ukey, what: FaultName(ev.Fault)})
		return
	}
	st := unbindStatus(ev)
	if st == "failed" {
		p.unbindFailed = append(p.unbindFailed, note{evidence: evidence{seq, replyFrame(ev)}, server: server, client: s.client, ukey: s.ukey, what: StatusName(ev.Status)})
	}
	if s.ghost {
		p.endSession(s, EndUnbind, ev.Frame, ev.Time)
		p.unbindUnknown = append(p.unbindUnknown, note{evidence: evidence{seq, ev.Frame}, server: server, client: client, ukey: s.ukey, handle: ev.Handle, what: st})
		return
	}
	s.UnbindStatus = st
	p.endSession(s, EndUnbind, ev.Frame, ev.Time)
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

func (p *pass) call(seq int, ev *Event, server, client netip.Addr, ukey string) {
	if !ev.HasHandle || isZero(ev.Handle) {
		p.count(server, ukey, client, func(c *Counters) { c.OtherCalls++ })
		return
	}
	key := sessKey{server: server, handle: ev.Handle}
	s := p.open[key]
	if s != nil {
		p.count(server, s.ukey, s.client, func(c *Counters) { c.OtherCalls++ })
		s.Calls++
		p.use(s, ev)
		return
	}
	p.count(server, ukey, client, func(c *Counters) { c.OtherCalls++ })
	ended := p.ended[key]
	p.callUnknown = append(p.callUnknown, note{evidence: evidence{seq, ev.Frame}, server: server, client: client, ukey: ukey, handle: ev.Handle, ended: ended, fault: ev.HasFault})
	if ended || ev.HasFault {
		return
	}
	// A session bound before the capture began: follow it so that it counts
	// in what the user holds, but keep it out of the sessions list.
	g := &sess{key: key, seq: seq, ukey: ukey, client: client, open: true, ghost: true, conns: map[uint64]struct{}{ev.ConnID: {}}}
	g.Calls = 1
	p.open[key] = g
	p.connSess[ev.ConnID] = append(p.connSess[ev.ConnID], g)
	p.adjust(g, +1)
}

// connEnded ends the sessions whose last connection this was. A connection
// that was still open at the end of the capture, or that the capture layer
// stopped following (evicted), ends nothing.
func (p *pass) connEnded(ev *Event) {
	p.connEnd[ev.ConnID] = ev.EndHow
	if ev.EndHow == "end_of_capture" || ev.EndHow == "evicted" {
		return
	}
	for _, s := range p.connSess[ev.ConnID] {
		if !s.open {
			continue
		}
		delete(s.conns, ev.ConnID)
		if len(s.conns) == 0 {
			p.endSession(s, EndConnectionClosed, ev.Frame, ev.Time)
		}
	}
	delete(p.connSess, ev.ConnID)
}
