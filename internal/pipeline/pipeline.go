package pipeline

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
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
	"github.com/nspicap/nspicap/rpch"
	"github.com/nspicap/nspicap/smb"
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
	// seq ranks the first occurrence among all anomalies (runner.anomSeq).
	seq int64
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
	// SMB counts the SMB connections and the named pipes (smb.go).
	SMB SMBStats
	// CutCalls counts, per input, the calls whose user, stubs or status
	// the capture's snap length cut (snap.go); each input whose records
	// were cut has a warning that says so.
	CutCalls []int64
	// CutSMBMessages counts, per input, the SMB messages the snap length
	// cut: the SMB layer drops them, with the calls they carried.
	CutSMBMessages []int64
	// Kerberos counts the KDC messages and tickets read (kdc.go);
	// KDCErrors lists the KRB-ERRORs other than the routine ones, in
	// capture order (the first 1000).
	Kerberos  KerberosStats
	KDCErrors []KDCError
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

type runner struct {
	// aliasesSent: the NetBIOS and DNS domain pairs sent (accounts.go).
	aliasesSent [][2]string
	// endpoints: interfaces seen bound on each server address and port;
	// mapped: interfaces the endpoint mapper mapped there (older.go).
	endpoints, mapped map[netip.AddrPort]map[dcerpc.UUID]bool
	// handles: context handles seen returned by NspiBind (handleNSPI) and
	// EcDoConnect(Ex) (handleEMSMDB).
	handles map[handleKey]uint8
	nIfs    int // interfaces in endpoints and mapped
	// changed: evidence was learned since the waiting calls were last
	// tried (older.go).
	changed bool
	// The queue of what waits for calls of unknown interface (older.go):
	// q in the sink's order, qBytes the stub bytes it holds, slot the place
	// a waiting call is being decoded into, waiting the connections with
	// calls in it.
	q       []*qent
	qBytes  int
	slot    *qent
	waiting []*conn
	rows    bool

	paths   []string
	sink    Sink
	lim     dcerpc.Limits
	anoms   map[string]*Anomaly
	logons  []Logon
	order   []string
	rpcConn int64
	ks      keyState // sealed calls per identity (sealed.go)
	// cutCalls: per input, the calls the snap length cut, and cutSMB the
	// SMB messages it cut, which the SMB layer drops (snap.go).
	cutCalls, cutSMB []int64

	recycle bool // Options.Recycle
	scratch struct {
		store analyze.StoreCall
		ep    analyze.EndpointAnswer
		rfr   analyze.ReferralCall
	}
	freeCalls  []*Call
	freeEvents []*analyze.NSPICall
	// epm: the decoding of the call being processed, if an endpoint
	// mapper call (epmMappings); reset for every call, which may be a
	// recycled one at the same address.
	epm struct {
		call *dcerpc.Call
		ms   []epm.Mapping
		ok   bool
	}

	smbBudget *smb.Budget // smb.go
	smbStats  SMBStats
	nPipes    uint64

	// RPC over HTTP (http.go): the virtual connections by cookie, how many
	// were started, the TLS connections on port 443 and the input of the
	// first.
	vcs       map[rpch.Cookie]*vconn
	nVCs      uint64
	https     int
	httpsFile int
	heldTotal int // bytes held by virtual connections waiting for a channel
	// Channels older than the capture (http_older.go): the virtual
	// connection of each channel cookie seen, and the bytes kept by
	// connections not yet told to be channels or not.
	cookies  map[rpch.Cookie]*vconn
	midBytes int
	// anomSeq numbers the anomalies as they occur: an undecided
	// connection's, held, keep the rank they had (addAnomaly).
	anomSeq   int64
	reordered bool

	kdc *kdcState // Kerberos on port 88 and the tickets it issued (kdc.go)
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
	r := &runner{httpsFile: -1, paths: paths, sink: sink, lim: o.Limits, rows: o.Rows, recycle: o.Recycle, anoms: map[string]*Anomaly{},
		endpoints: map[netip.AddrPort]map[dcerpc.UUID]bool{}, mapped: map[netip.AddrPort]map[dcerpc.UUID]bool{}, handles: map[handleKey]uint8{},
		kdc: newKDCState()}
	r.setupKeys(o)
	r.cutCalls, r.cutSMB = make([]int64, len(paths)), make([]int64, len(paths))
	inputs, stats := capture.Run(paths, capture.Options{Stdin: o.Stdin, Factory: r.newConn,
		MaxConns: o.MaxConns, MaxBuffered: o.MaxBuffered, MaxBufferedTotal: o.MaxBufferedTotal, Read: o.Read, Datagrams: r})
	r.finish()
	r.kdcAnomaly()
	if r.reordered {
		// Anomalies held for connections older than the capture take the
		// place their first occurrence had.
		slices.SortStableFunc(r.order, func(a, b string) int { return cmp.Compare(r.anoms[a].seq, r.anoms[b].seq) })
	}
	if stats.Evicted > 0 {
		r.anoms[AnomalyConnEvicted] = &Anomaly{Kind: AnomalyConnEvicted, Count: stats.Evicted,
			Example: "more connections were open at once than --max-conns allows: the longest idle ones were dropped (their sessions count as open at the end)"}
		r.order = append(r.order, AnomalyConnEvicted)
	}
	if stats.IPFragDropped > 0 {
		r.anoms[AnomalyIPFragmentsIncomplete] = &Anomaly{Kind: AnomalyIPFragmentsIncomplete, Count: stats.IPFragDropped,
			First:   r.ref(dcerpc.Pos{File: stats.IPFragDroppedAt.File, Frame: stats.IPFragDroppedAt.Frame}),
			Example: "an IP datagram carrying TCP (or UDP to or from the KDC's port 88) came in fragments and not all of them were captured within 30 s: a VPN or MTU problem on the path, or fragments the capture missed; the bytes it carried count as lost"}
		r.order = append(r.order, AnomalyIPFragmentsIncomplete)
	}
	r.httpsWarnings(inputs)
	snapWarnings(inputs, r.cutCalls, r.cutSMB)
	res := Result{Inputs: inputs, Stats: stats, RPCConns: r.rpcConn, Logons: r.logons, KeyWarnings: r.keyWarnings(), SMB: r.smbStats,
		CutCalls: r.cutCalls, CutSMBMessages: r.cutSMB, Kerberos: r.kdc.stats, KDCErrors: r.kdc.errors}
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
	// older: the classes of its presentation contexts and its calls
	// waiting for evidence, once a call of unknown interface came
	// (older.go).
	older *older
	// taught: learn has recorded taughtIface for this connection's server.
	taught      bool
	taughtIface dcerpc.UUID

	tcp tcpState // connection attempts without data (events.go)
	// lost: bytes of the connection were not captured (a gap); cut: the
	// snap length cut some (snap.go); cutDirs, of an SMB connection: the
	// directions in which it cut a message.
	lost, cut bool
	cutDirs   [2]bool

	// SMB (smb.go): mode is decided at the first bytes; an SMB connection
	// has smb, and how it ended; a named pipe's conn has pipe and the SMB
	// connection's conn as parent.
	mode   uint8
	how    capture.EndKind
	smb    *smb.Demux
	pipe   *smb.Pipe
	parent *conn

	// RPC over HTTP (http.go): a channel's TCP connection has ch; the
	// conn of a virtual connection has vc.
	ch *channel
	vc *vconn
	// mid: a connection whose start is not in the capture, read as plain
	// DCE/RPC until its content tells whether it is an RPC over HTTP
	// channel (http_older.go).
	mid *midState
	// pipeOrigin: the origin made for the Kerberos identity of the
	// pipe's SMB session (pipeIdentity).
	pipeOrigin *pipeOrigin
	// origin: the analyze.Origin of the last security context whose calls
	// carried one (callParts), shared by its calls.
	origin *callOrigin
}

func (r *runner) newConn(ci capture.ConnInfo) capture.StreamHandler {
	if isKDC(ci) {
		return r.newKDCStream(ci)
	}
	k := &conn{r: r}
	k.tcp.first = ci.First
	k.c = dcerpc.NewConn(dcerpc.ConnMeta{ID: ci.ID, Client: ci.Client, Server: ci.Server, FromStart: ci.SawSYN}, k, r.lim)
	return k
}

func (k *conn) Data(dir capture.Dir, pos capture.Pos, b []byte) bool {
	k.tcp.data = true
	if k.mode != modeRPC && k.smbData(dir, pos, b) {
		return true // End must still close the pipes
	}
	if k.mid != nil {
		return k.midData(dir, pos, b)
	}
	was := k.c.IsRPC()
	ok := k.c.Feed(dcerpc.Dir(dir), dcerpc.Pos(pos), b)
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
	return ok
}

func (k *conn) Gap(dir capture.Dir, pos capture.Pos, n int) {
	k.lost = true
	switch k.mode {
	case modeSMB:
		k.smb.Gap(smb.Dir(dir), smb.Pos(pos), n)
		return
	case modeHTTP:
		k.httpGap(dir, pos, n, (*dcerpc.Conn).Gap)
		return
	}
	if k.mid != nil {
		k.midMissing(dir, pos, n, false)
	}
	k.missing(dir, pos, n, (*dcerpc.Conn).Gap)
}

// missing hands bytes the capture lacks (a gap, or the snap length's cut)
// to the DCE/RPC connection through hand. They can decide the connection
// (its first PDU cut short).
func (k *conn) missing(dir capture.Dir, pos capture.Pos, n int, hand func(*dcerpc.Conn, dcerpc.Dir, dcerpc.Pos, int)) {
	was := k.c.IsRPC()
	hand(k.c, dcerpc.Dir(dir), dcerpc.Pos(pos), n)
	if !was && k.c.IsRPC() {
		k.r.rpcConn++
	}
}

func (k *conn) End(pos capture.Pos, how capture.EndKind) {
	switch k.mode {
	case modeSMB:
		k.smbEnd(pos, how)
		return
	case modeHTTP:
		k.httpEnd(pos, how)
		return
	}
	if m := k.mid; m != nil {
		if m.rts && !m.full {
			k.midConvert()
			k.httpEnd(pos, how)
			return
		}
		k.midPlain()
	}
	k.c.Close()
	k.flushHeld(how)
	if !k.c.IsRPC() {
		k.tcpEnd(pos, how)
		return
	}
	m := k.endMeta(pos)
	m.Quality = k.quality()
	k.r.sendEvent(&analyze.ConnEnd{Meta: m, How: endHow(how)})
}

// DomainPair hands the analyzer the domain an NTLM CHALLENGE names.
func (k *conn) DomainPair(netbios, dns string, pos dcerpc.Pos) {
	k.r.domainAlias(&k.c.Meta, netbios, dns, pos)
}

func (k *conn) Logon(m *dcerpc.ConnMeta, s dcerpc.Security, pos dcerpc.Pos) {
	if len(k.r.logons) < maxLogons {
		l := Logon{Frame: k.r.ref(pos), Client: m.Client.String(), Server: m.Server.String(), User: s.User, Anonymous: s.Anonymous}
		k.r.logons = append(k.r.logons, l)
		if k.mid != nil && len(k.mid.logons) < maxHeldLogons {
			k.mid.logons = append(k.mid.logons, l)
		}
	}
}

// maxHeldLogons bounds the logons an undecided connection remembers.
const maxHeldLogons = 16

func (k *conn) Anomaly(a dcerpc.Anomaly) {
	if k.mid != nil {
		k.mid.holdAnomaly(k.r, a) // http_older.go
		return
	}
	k.r.anomaly(a.Kind, a.Pos, a.Detail)
}

func (r *runner) anomaly(kind string, pos dcerpc.Pos, detail string) {
	r.anomSeq++
	r.addAnomaly(kind, pos, detail, 1, r.anomSeq)
}

// addAnomaly counts n anomalies of a kind whose first occurrence, at pos,
// took the rank seq.
func (r *runner) addAnomaly(kind string, pos dcerpc.Pos, detail string, n, seq int64) {
	if x := r.anoms[kind]; x != nil {
		x.Count += n
		if seq < x.seq {
			x.First, x.Example, x.seq = r.ref(pos), detail, seq
			r.reordered = true
		}
		return
	}
	if last := len(r.order) - 1; last >= 0 && r.anoms[r.order[last]].seq > seq {
		r.reordered = true
	}
	r.anoms[kind] = &Anomaly{Kind: kind, Count: n, First: r.ref(pos), Example: detail, seq: seq}
	r.order = append(r.order, kind)
}

// learn remembers the interface of a call's endpoint (a call whose bind is
// in the capture), what the endpoint mapper maps, and the handles that
// NspiBind and EcDoConnect(Ex) return: the evidence of older.go.
func (r *runner) learn(k *conn, c *dcerpc.Call, op *nspi.Op) {
	// What a connection's server offers changes the table once: a
	// connection remembers the last interface it taught (the table only
	// grows, and its caps only tighten, so a second try would change
	// nothing).
	if !(k.taught && k.taughtIface == c.Iface.UUID) {
		k.taught, k.taughtIface = true, c.Iface.UUID
		if r.addEndpoint(r.endpoints, c.Conn.Server, c.Iface.UUID) {
			r.changed = true
		}
	}
	switch {
	case op != nil:
		if c.Opnum == nspi.OpBind && op.HasHandle && op.HasStatus && op.Status == 0 && !nspi.ZeroHandle(op.Handle) {
			r.learnHandle(c.Conn.Server.Addr(), op.Handle, handleNSPI)
		}
	case c.Iface.UUID == dcerpc.EPM:
		if r.learnEPM(c) {
			r.changed = true
		}
	case c.Iface.UUID == dcerpc.EMSMDB:
		r.learnStore(c)
	}
}

func (k *conn) Call(c *dcerpc.Call) {
	r := k.r
	if k.mid != nil && c.Request != nil && (c.Response != nil || c.Fault != nil) {
		k.midPlain() // request and answer on one connection: not a channel
	}
	if c.IfaceKnown {
		k.process(c, class{}, false)
		if r.changed {
			r.retry()
		}
		return
	}
	// The bind is not in the capture (older.go).
	if k.older == nil {
		k.older = &older{}
	}
	o := k.older
	cl, ok := o.classOf(c.ContextID)
	if !ok {
		if cl, ok = r.classify(c); ok {
			o.setClass(c.ContextID, cl)
			if len(o.held) > 0 {
				r.resolve(k)
				r.flush()
			}
		} else if r.hold(k, c) {
			return
		}
	}
	k.process(c, cl, ok)
}

// process decodes a call and sends it, and its analysis event, to the sink
// (or to its place in the queue); cl is its class when inferred.
func (k *conn) process(c *dcerpc.Call, cl class, inferred bool) {
	r := k.r
	r.epm.call = nil
	out := r.newCall()
	out.Raw = c
	if k.pipe != nil {
		k.pipeIdentity(c)
	}
	if inferred {
		c.Iface = cl.iface
		c.IfaceKnown = true
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
	r.countCut(c, reqPos, replyPos)
	if c.NDR64 {
		r.ndr64(c, reqPos)
	}
	var op *nspi.Op
	if nspi.IsNSPI(c) {
		o := nspi.Decode(c)
		op = &o
		if !inferred {
			r.learn(k, c, op)
		}
		out.Event = r.event(k, c, op, reqPos, replyPos)
		out.Event.Quality |= k.callQuality(c, inferred)
	} else if c.IfaceKnown && !inferred {
		r.learn(k, c, nil)
	}
	if r.rows {
		r.fillRow(&out.Row, c, op, inferred, reqPos, replyPos)
		out.Row.Transport = k.transport().String()
		if a := k.clientAddress(); a.IsValid() {
			out.Row.ClientAddress = a.String()
		}
		if k.pipe != nil {
			out.Row.Pipe = k.pipe.Name
		}
		out.Row.AnswerElsewhere = replyPos.Frame == 0 && k.answerElsewhere()
		if k.transport() == analyze.TransportHTTP {
			if out.Row.User == nil && k.vc != nil && k.vc.user != "" && !c.Sec.Authenticated {
				u := k.vc.user
				out.Row.User = &u
			}
		}
		if inferred {
			out.Row.InferredFrom = cl.from
		}
	}
	r.extra(k, c, reqPos, replyPos, inferred)
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
	if o := c.Sec.Origin; o != nil {
		if c.Sec.User != "" && o.From != "" {
			ref := r.ref(o.Pos)
			row.IdentityFrom, row.IdentityFrame = o.From, ref.Frame
			if ref.File != row.File {
				row.IdentityFile = ref.File
			}
		}
		if c.Sec.User == "" {
			row.Ticket = o.Ticket
		}
		row.Via = o.Via
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
		row.FaultName = codeName(dcerpc.FaultName(c.Fault.Status))
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
			row.StatusName = codeName(nspi.StatusName(op.Status))
		}
	case c.IfaceKnown:
		row.Op = dcerpc.OpName(c.Iface.UUID, c.Opnum)
		// The return value is the last 4 bytes of the response stub for
		// every method that returns a status (most do); an interface
		// outside the table gets it unnamed. Where that reading is wrong
		// (a method returning void, DCOM's ORPCTHAT-led answers): docs/
		// json-schema.md.
		if c.Response != nil && !c.Response.Sealed && c.Response.Complete && !c.Response.StatusLost && c.Response.Len >= 4 {
			v := tail(c.Response)
			s := fmt.Sprintf("0x%08x", v)
			row.Status = &s
			if dcerpc.LookupInterface(c.Iface.UUID) != nil {
				row.StatusName = report.CodeName(otherStatusName(c.Iface.UUID, v))
			}
		}
	}
	if row.Op == "" {
		row.Op = fmt.Sprintf("opnum_%d", c.Opnum)
	}
}

// ndr64 reports a call in NDR64 to an interface whose decoder reads NDR20
// only (nspi, emsmdb, rfr: Outlook speaks NDR20 to them); the endpoint
// mapper's decoder reads both.
func (r *runner) ndr64(c *dcerpc.Call, pos dcerpc.Pos) {
	switch c.Iface.UUID {
	case dcerpc.NSPI, dcerpc.EMSMDB, dcerpc.AsyncEMSMDB, dcerpc.RFR:
		r.anomaly(AnomalyNDR64NotDecoded, pos, dcerpc.InterfaceName(c.Iface.UUID)+" call "+strconv.Itoa(int(c.CallID))+" in NDR64: its stubs are not decoded")
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

func (r *runner) event(k *conn, c *dcerpc.Call, op *nspi.Op, reqPos, replyPos dcerpc.Pos) *analyze.NSPICall {
	ev := r.newEvent()
	r.callParts(k, c, reqPos, replyPos, &ev.Meta, &ev.Identity, &ev.Answer)
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

// codeName is the name a code table gives (name, ok), for a call row:
// empty, written null, when the table has none.
func codeName(name string, _ bool) report.CodeName { return report.CodeName(name) }
