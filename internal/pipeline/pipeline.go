package pipeline

import (
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/emsmdb"
	"github.com/nspicap/nspicap/epm"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/report"
	"github.com/nspicap/nspicap/nspi"
)

// Call is one DCE/RPC call as nspicap lists it, with the analysis event it
// produced when it was an NSPI call.
type Call struct {
	Raw   *dcerpc.Call
	Time  time.Time // of the request
	Row   report.CallRow
	Event *analyze.NSPICall // nil unless the call is an NSPI call
}

// Sink receives the pipeline's results in capture order (the order in which
// each call's outcome became known).
type Sink interface {
	Call(c *Call)
	// ConnEnd is called when a DCE/RPC connection ends.
	ConnEnd(ev *analyze.ConnEnd)
}

// DefaultMaxBufferedTotal is Options.MaxBufferedTotal when it is zero.
const DefaultMaxBufferedTotal = capture.DefaultMaxBufferedTotal

// DefaultMaxConns is Options.MaxConns when it is zero.
const DefaultMaxConns = capture.DefaultMaxConns

// DefaultMaxCallBytesTotal is Options.MaxCallBytesTotal when it is zero.
const DefaultMaxCallBytesTotal = 32 << 20

// Options configure a run.
type Options struct {
	Stdin  io.Reader
	Limits dcerpc.Limits
	// Rows: fill Call.Row (the `nspicap calls` line); the analysis does
	// not need it.
	Rows bool
	// Capture limits (see capture.Options): connections tracked at once,
	// out-of-order bytes buffered per direction and in total. Zero means
	// the capture layer's default.
	MaxConns, MaxBuffered, MaxBufferedTotal int
	// MaxCallBytesTotal bounds the stub bytes held by calls in reassembly
	// or awaiting an answer over all connections (dcerpc.Budget), unless
	// Limits.Budget is set; zero means DefaultMaxCallBytesTotal.
	MaxCallBytesTotal int
	// Keys, when set, decrypt sealed calls (sealed.go).
	Keys *keys.Store
	// Read, when set, counts the bytes read from the inputs (see
	// capture.Options), for a progress display.
	Read *atomic.Int64
	// Recycle says that the sink keeps neither a *Call nor its Event (nor
	// an event given to Extra) after the method returns, copying what it
	// needs: the pipeline then reuses them, which spares an allocation of
	// each per call.
	Recycle bool
}

// Anomaly counts one kind of stream anomaly, with the first place it was seen.
type Anomaly struct {
	Kind  string
	Count int64
	First analyze.FrameRef
	// Example is the detail of the first occurrence.
	Example string
}

// Logon is an NTLM AUTHENTICATE seen on a DCE/RPC connection.
type Logon struct {
	Frame     analyze.FrameRef
	Client    string
	Server    string
	User      string
	Anonymous bool
}

// maxLogons bounds the logons a Result keeps.
const maxLogons = 10000

// Result is what a run reports besides the calls.
type Result struct {
	// Logons lists the NTLM identities seen, in capture order (at most
	// maxLogons of them).
	Logons    []Logon
	Inputs    []capture.InputInfo
	Stats     capture.Stats
	RPCConns  int64
	Anomalies []Anomaly // in order of first occurrence
	// KeyWarnings: one line per identity whose calls stay sealed (no key,
	// a key that does not match, ...), without key material.
	KeyWarnings []string
}

// Bounds on what the runner remembers to infer interfaces.
const (
	maxEndpoints   = 16384 // server address and port pairs
	maxEndpointIfs = 65536 // interfaces over all of them
	maxNSPIHandles = 1 << 16
)

// handleKey is analyze.HandleHash of a server and an NSPI context handle:
// 8 bytes a handle instead of 48. Two handles of a capture would have to
// collide in 64 bits for one to be taken for the other.
type handleKey uint64

func makeHandleKey(server netip.Addr, h [20]byte) handleKey {
	return handleKey(analyze.HandleHash(server.Unmap(), h))
}

type ctxKey struct {
	conn uint64
	ctx  uint16
}

type runner struct {
	// endpoints: interfaces seen bound on each server address and port.
	endpoints map[netip.AddrPort]map[dcerpc.UUID]bool
	// handles: NSPI context handles seen returned by NspiBind.
	handles map[handleKey]struct{}
	nIfs    int // interfaces in endpoints
	// inferred: presentation contexts, on connections whose bind is not
	// in the capture, taken to be NSPI.
	inferred map[ctxKey]bool
	rows     bool

	paths   []string
	sink    Sink
	lim     dcerpc.Limits
	anoms   map[string]*Anomaly
	logons  []Logon
	order   []string
	rpcConn int64
	ks      keyState // sealed calls per identity (sealed.go)

	recycle bool // Options.Recycle
	scratch struct {
		store analyze.StoreCall
		ep    analyze.EndpointAnswer
		rfr   analyze.ReferralCall
	}
	freeCalls  []*Call
	freeEvents []*analyze.NSPICall
}

// maxFree bounds the calls and events kept for reuse.
const maxFree = 64

func (r *runner) newCall() *Call {
	if n := len(r.freeCalls); n > 0 {
		c := r.freeCalls[n-1]
		r.freeCalls = r.freeCalls[:n-1]
		return c
	}
	return new(Call)
}

func (r *runner) newEvent() *analyze.NSPICall {
	if n := len(r.freeEvents); n > 0 {
		ev := r.freeEvents[n-1]
		r.freeEvents = r.freeEvents[:n-1]
		return ev
	}
	return new(analyze.NSPICall)
}

// freeEvent takes back an event the sink is done with (Options.Recycle).
func (r *runner) freeEvent(ev *analyze.NSPICall) {
	if !r.recycle || ev == nil {
		return
	}
	*ev = analyze.NSPICall{}
	if len(r.freeEvents) < maxFree {
		r.freeEvents = append(r.freeEvents, ev)
	}
}

// freeCall takes back a call, and its event, the sink is done with.
func (r *runner) freeCall(c *Call) {
	if !r.recycle {
		return
	}
	r.freeEvent(c.Event)
	dcerpc.Free(c.Raw)
	*c = Call{}
	if len(r.freeCalls) < maxFree {
		r.freeCalls = append(r.freeCalls, c)
	}
}

// Run reads the capture files (several files are one capture, merged by
// time) and sends every DCE/RPC call to the sink.
func Run(paths []string, o Options, sink Sink) Result {
	if o.Limits.Budget == nil {
		if o.MaxCallBytesTotal <= 0 {
			o.MaxCallBytesTotal = DefaultMaxCallBytesTotal
		}
		o.Limits.Budget = dcerpc.NewBudget(o.MaxCallBytesTotal)
	}
	if o.Limits.Buffers == nil {
		// The partial PDUs of the DCE/RPC layer draw from the same
		// budget as its calls and contexts: one sum bounds it all.
		o.Limits.Buffers = o.Limits.Budget
	}
	r := &runner{paths: paths, sink: sink, lim: o.Limits, rows: o.Rows, recycle: o.Recycle, anoms: map[string]*Anomaly{},
		endpoints: map[netip.AddrPort]map[dcerpc.UUID]bool{}, handles: map[handleKey]struct{}{}, inferred: map[ctxKey]bool{}}
	r.setupKeys(o)
	inputs, stats := capture.Run(paths, capture.Options{Stdin: o.Stdin, Factory: r.newConn,
		MaxConns: o.MaxConns, MaxBuffered: o.MaxBuffered, MaxBufferedTotal: o.MaxBufferedTotal, Read: o.Read})
	if stats.Evicted > 0 {
		r.anoms[AnomalyConnEvicted] = &Anomaly{Kind: AnomalyConnEvicted, Count: stats.Evicted,
			Example: "more connections were open at once than --max-conns allows: the longest idle ones were dropped (their sessions count as open at the end)"}
		r.order = append(r.order, AnomalyConnEvicted)
	}
	if stats.IPFragDropped > 0 {
		r.anoms[AnomalyIPFragmentsIncomplete] = &Anomaly{Kind: AnomalyIPFragmentsIncomplete, Count: stats.IPFragDropped,
			First:   r.ref(dcerpc.Pos{File: stats.IPFragDroppedAt.File, Frame: stats.IPFragDroppedAt.Frame}),
			Example: "an IP datagram carrying TCP came in fragments and not all of them were captured within 30 s: a VPN or MTU problem on the path, or fragments the capture missed; the bytes it carried count as lost"}
		r.order = append(r.order, AnomalyIPFragmentsIncomplete)
	}
	res := Result{Inputs: inputs, Stats: stats, RPCConns: r.rpcConn, Logons: r.logons, KeyWarnings: r.keyWarnings()}
	for _, k := range r.order {
		res.Anomalies = append(res.Anomalies, *r.anoms[k])
	}
	return res
}

func (r *runner) ref(p dcerpc.Pos) analyze.FrameRef {
	if p.Frame == 0 {
		return analyze.FrameRef{}
	}
	f := ""
	if p.File >= 0 && p.File < len(r.paths) {
		f = r.paths[p.File]
	}
	return analyze.FrameRef{File: f, Frame: p.Frame}
}

type conn struct {
	r    *runner
	c    *dcerpc.Conn
	held *Call // a sealed NspiBind awaiting the evidence of its outcome
	// inferred: the presentation contexts of r.inferred on this
	// connection, forgotten at its end
	inferred []uint16
	// taught: learn has recorded taughtIface for this connection's server.
	taught      bool
	taughtIface dcerpc.UUID

	tcp tcpState // connection attempts without data (events.go)
	// lost: bytes of the connection were not captured (a gap).
	lost bool
}

func (r *runner) newConn(ci capture.ConnInfo) capture.StreamHandler {
	k := &conn{r: r}
	k.tcp.first = ci.First
	k.c = dcerpc.NewConn(dcerpc.ConnMeta{ID: ci.ID, Client: ci.Client, Server: ci.Server, FromStart: ci.SawSYN}, k, r.lim)
	return k
}

func (k *conn) Data(dir capture.Dir, pos capture.Pos, b []byte) bool {
	k.tcp.data = true
	was := k.c.IsRPC()
	ok := k.c.Feed(dcerpc.Dir(dir), dcerpc.Pos(pos), b)
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
	return ok
}

func (k *conn) Gap(dir capture.Dir, pos capture.Pos, n int) {
	k.lost = true
	was := k.c.IsRPC()
	k.c.Gap(dcerpc.Dir(dir), dcerpc.Pos(pos), n)
	// A gap can decide the connection (its first PDU cut by the snap length).
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
}

func (k *conn) End(pos capture.Pos, how capture.EndKind) {
	k.c.Close()
	for _, ctx := range k.inferred {
		delete(k.r.inferred, ctxKey{k.c.Meta.ID, ctx})
	}
	k.inferred = nil
	k.flushHeld(how)
	if !k.c.IsRPC() {
		k.tcpEnd(pos, how)
		return
	}
	m := k.c.Meta
	k.r.sink.ConnEnd(&analyze.ConnEnd{
		Meta: analyze.Meta{
			Time:    pos.Time,
			Frame:   k.r.ref(dcerpc.Pos(pos)),
			ConnID:  m.ID,
			Client:  m.Client,
			Server:  m.Server,
			Quality: k.quality(),
		},
		How: endHow(how),
	})
}

func (k *conn) Logon(m *dcerpc.ConnMeta, s dcerpc.Security, pos dcerpc.Pos) {
	if len(k.r.logons) < maxLogons {
		k.r.logons = append(k.r.logons, Logon{Frame: k.r.ref(pos), Client: m.Client.String(), Server: m.Server.String(), User: s.User, Anonymous: s.Anonymous})
	}
}

func (k *conn) Anomaly(a dcerpc.Anomaly) {
	r := k.r
	if x := r.anoms[a.Kind]; x != nil {
		x.Count++
		return
	}
	r.anoms[a.Kind] = &Anomaly{Kind: a.Kind, Count: 1, First: r.ref(a.Pos), Example: a.Detail}
	r.order = append(r.order, a.Kind)
}

// infer gives a call whose bind is not in the capture the NSPI interface when
// the evidence allows: its presentation context was already taken to be NSPI;
// its request starts with a context handle that an NspiBind on that server
// returned; or only NSPI was ever seen bound on that server address and port,
// and the request is shaped like an NSPI call (opnum 1..20 starting with a
// 20-byte handle).
func (r *runner) infer(k *conn, c *dcerpc.Call) bool {
	key := ctxKey{c.Conn.ID, c.ContextID}
	if r.inferred[key] {
		return true
	}
	rq := c.Request
	if rq == nil || c.Opnum < 1 || c.Opnum > 20 || rq.Len < 20 {
		return false
	}
	ok := false
	if !rq.Sealed && len(rq.Stub) >= 20 {
		var h [20]byte
		copy(h[:], rq.Stub)
		_, ok = r.handles[makeHandleKey(c.Conn.Server.Addr(), h)]
	}
	if !ok {
		ifs := r.endpoints[c.Conn.Server]
		ok = len(ifs) == 1 && ifs[nspi.UUID]
	}
	if ok {
		r.inferred[key] = true
		k.inferred = append(k.inferred, c.ContextID)
	}
	return ok
}

// learn remembers the interface of a call's endpoint, and the handles that
// NspiBind returns.
func (r *runner) learn(k *conn, c *dcerpc.Call, op *nspi.Op) {
	// What a connection's server offers changes the table once: a
	// connection remembers the last interface it taught (the table only
	// grows, and its caps only tighten, so a second try would change
	// nothing).
	if c.IfaceKnown && !(k.taught && k.taughtIface == c.Iface.UUID) {
		k.taught, k.taughtIface = true, c.Iface.UUID
		ifs := r.endpoints[c.Conn.Server]
		if ifs == nil && len(r.endpoints) < maxEndpoints {
			ifs = map[dcerpc.UUID]bool{}
			r.endpoints[c.Conn.Server] = ifs
		}
		if ifs != nil && len(ifs) < 64 && (ifs[c.Iface.UUID] || r.nIfs < maxEndpointIfs) {
			if !ifs[c.Iface.UUID] {
				r.nIfs++
			}
			ifs[c.Iface.UUID] = true
		}
	}
	if op != nil && c.Opnum == nspi.OpBind && op.HasHandle && op.HasStatus && op.Status == 0 && !nspi.ZeroHandle(op.Handle) {
		if len(r.handles) >= maxNSPIHandles {
			clear(r.handles) // forget the oldest generation: memory stays bounded
		}
		r.handles[makeHandleKey(c.Conn.Server.Addr(), op.Handle)] = struct{}{}
	}
}

func (k *conn) Call(c *dcerpc.Call) {
	r := k.r
	out := r.newCall()
	out.Raw = c
	inferred := false
	if !c.IfaceKnown && r.infer(k, c) {
		c.Iface = dcerpc.SyntaxID{UUID: nspi.UUID, Major: nspi.VersionMajor}
		c.IfaceKnown = true
		inferred = true
	}
	var reqPos, replyPos dcerpc.Pos
	if c.Request != nil {
		reqPos = c.Request.Pos
	}
	switch {
	case c.Response != nil:
		replyPos = c.Response.Pos
	case c.Fault != nil:
		replyPos = c.Fault.Pos
	}
	out.Time = reqPos.Time
	var op *nspi.Op
	if nspi.IsNSPI(c) {
		o := nspi.Decode(c)
		op = &o
		if !inferred {
			r.learn(k, c, op)
		}
		out.Event = r.event(c, op, reqPos, replyPos)
		out.Event.Quality |= k.callQuality(c, inferred)
	} else if c.IfaceKnown {
		r.learn(k, c, nil)
	}
	if r.rows {
		r.fillRow(&out.Row, c, op, inferred, reqPos, replyPos)
	}
	r.extra(k, c, reqPos, replyPos)
	k.emit(out)
}

// fillRow builds the `nspicap calls` line of a call.
func (r *runner) fillRow(row *report.CallRow, c *dcerpc.Call, op *nspi.Op, inferred bool, reqPos, replyPos dcerpc.Pos) {
	row.InterfaceInferred = inferred
	row.File = r.ref(reqPos).File
	row.Frame = reqPos.Frame
	row.Time = report.FormatTime(reqPos.Time)
	row.Client = c.Conn.Client.String()
	row.Server = c.Conn.Server.String()
	row.CallID = c.CallID
	row.Opnum = c.Opnum
	row.Auth = c.Sec.AuthName()
	row.AuthLevel = "none"
	if c.Sec.Authenticated {
		row.AuthLevel = dcerpc.AuthLevelName(c.Sec.Level)
	}
	if c.Sec.User != "" {
		u := c.Sec.User
		row.User = &u
	}
	row.Sealed = c.Sealed()
	for _, m := range []*dcerpc.Message{c.Request, c.Response} {
		if m != nil && (m.Damaged || m.Truncated || !m.Complete) {
			row.Incomplete = true
		}
	}
	if replyPos.Frame != 0 {
		f := replyPos.Frame
		row.ReplyFrame = &f
		if replyPos.File != reqPos.File {
			row.ReplyFile = r.ref(replyPos).File
		}
		us := replyPos.Time.Sub(reqPos.Time).Microseconds()
		row.LatencyUS = &us
	}
	if c.Fault != nil {
		s := fmt.Sprintf("0x%08x", c.Fault.Status)
		row.Fault = &s
		row.FaultName, _ = dcerpc.FaultName(c.Fault.Status)
	}
	if !c.IfaceKnown {
		row.Interface = "unknown"
	} else {
		row.Interface = dcerpc.InterfaceName(c.Iface.UUID)
	}
	switch {
	case op != nil:
		row.Op = op.Name
		if op.HasStatus {
			s := fmt.Sprintf("0x%08x", op.Status)
			row.Status = &s
			row.StatusName, _ = nspi.StatusName(op.Status)
		}
	case c.IfaceKnown:
		row.Op = dcerpc.OpName(c.Iface.UUID, c.Opnum)
		if dcerpc.LookupInterface(c.Iface.UUID) != nil && c.Response != nil && !c.Response.Sealed && c.Response.Complete && !c.Response.StatusLost && c.Response.Len >= 4 {
			v := tail(c.Response)
			s := fmt.Sprintf("0x%08x", v)
			row.Status = &s
			row.StatusName = otherStatusName(c.Iface.UUID, v)
		}
	}
	if row.Op == "" {
		row.Op = fmt.Sprintf("opnum_%d", c.Opnum)
	}
}

func tail(m *dcerpc.Message) uint32 {
	t := m.Tail
	if m.LittleEndian {
		return uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24
	}
	return uint32(t[3]) | uint32(t[2])<<8 | uint32(t[1])<<16 | uint32(t[0])<<24
}

// otherStatusName names the return value of a call to a well-known interface
// other than NSPI, from the table of the package that owns the interface;
// interfaces without one (drsuapi, samr, ...) return Win32 values, named as
// faults are.
func otherStatusName(iface dcerpc.UUID, v uint32) (name string) {
	switch iface {
	case dcerpc.EPM:
		name, _ = epm.StatusName(v)
	case dcerpc.EMSMDB, dcerpc.AsyncEMSMDB:
		name, _ = emsmdb.StatusName(v)
	case dcerpc.RFR:
		name, _ = nspi.StatusName(v)
	default:
		if v == 0 {
			return "Success"
		}
		name, _ = dcerpc.FaultName(v)
	}
	return name
}

func (r *runner) event(c *dcerpc.Call, op *nspi.Op, reqPos, replyPos dcerpc.Pos) *analyze.NSPICall {
	ev := r.newEvent()
	ev.Meta, ev.Identity, ev.Answer = r.callParts(c, reqPos, replyPos)
	ev.Opnum = c.Opnum
	ev.Name = op.Name
	ev.HasStatus, ev.Status = op.HasStatus, op.Status
	ev.HasHandle, ev.Handle = op.HasHandle, op.Handle
	ev.Anonymous = ev.Anonymous || op.HasBind && op.BindFlags&nspi.FlagAnonymousLogin != 0
	switch c.Opnum {
	case nspi.OpBind:
		ev.Op = analyze.OpOpen
	case nspi.OpUnbind:
		ev.Op = analyze.OpClose
	default:
		ev.Op = analyze.OpUse
	}
	return ev
}
