package pipeline

import (
	"net/netip"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/emsmdb"
	"github.com/nspicap/nspicap/epm"
	"github.com/nspicap/nspicap/nspi"
	"github.com/nspicap/nspicap/rfr"
)

// Connections older than the capture: a connection whose bind is
// not in the capture has calls on presentation contexts of unknown
// interface. The interface of each such context is learned from the
// evidence the capture holds, earlier or later in it (protocol-notes §1.10):
//
//   - handle: the request starts with a context handle an NspiBind returned
//     on the same server (NSPI), or an EcDoConnect(Ex) (EMSMDB);
//   - epm: the endpoint mapper mapped the connection's server address and
//     port (ept_map or ept_lookup answer, an ncacn_ip_tcp tower) to the
//     interface;
//   - bind_elsewhere: another connection bound the interface on the same
//     server address and port;
//   - stub_shape: the stubs have the layout of NspiBind or NspiUnbind, of
//     RfrGetNewDSA or RfrGetFQDNFromServerDN, of EcDoConnect(Ex) or
//     EcDoDisconnect (nspi.Shape, rfr.Shape, emsmdb.Shape), and of no other
//     of them.
//
// Interfaces are taken in that order of evidence, and only NSPI, RFR and
// EMSMDB (whose stubs nspicap can check). The endpoint's evidence is used
// when it leaves one interface the opnum fits (NSPI has opnums 0 to 20, RFR
// 0 and 1, EMSMDB 0 to 14; NSPI and EMSMDB calls but the connects and
// EcDummyRpc start with a 20-byte handle); RFR shares NSPI's endpoint and
// AsyncEMSMDB EMSMDB's, so where their opnums collide (0 and 1; 0) the
// shape must agree, or it alone decides between NSPI and RFR. Once a call
// is classified, its presentation context is: the connection's later calls
// on it take the same interface and evidence. Nothing else is guessed: a
// call without evidence stays of unknown interface.
//
// Waiting for evidence: a call that cannot be classified yet is held, and
// so is, from then on, everything the pipeline sends its sink (the calls of
// every connection, the analysis events, the connection ends), in the order
// the sink would have seen them: the sink sees exactly the order of a run
// without holding, only later. Evidence that arrives (a bind, an ept_map
// answer, an NspiBind or EcDoConnect answer, a later call of the same
// connection whose own shape or handle tells) classifies the held calls it
// concerns, which are then decoded in place, and what is at the head of the
// queue and no longer waits goes to the sink. The wait is bounded: at most
// maxHeldPerConn calls of one connection, maxQueue items and maxQueueBytes
// (stubs and call state) held over all connections. Beyond, the connection
// whose held call is oldest is given up: its held calls go out of unknown
// interface,
// and it holds no more calls (later ones are still classified by the
// evidence seen by then). At the end of the capture, what still waits goes
// out unclassified. Without a connection of unknown interface nothing is
// ever held, and the per-call cost is one test.
//
// Calls of the connection after a held one are decoded as they come (their
// events keep their place in the queue); only the held calls are decoded
// late, when classified.

// Evidence names (calls rows: inferred_from).
const (
	FromEPM           = "epm"
	FromBindElsewhere = "bind_elsewhere"
	FromHandle        = "handle"
	FromStubShape     = "stub_shape"
)

// Bounds on what waits for evidence.
const (
	maxHeldPerConn = 64
	maxQueue       = 4096
	maxQueueBytes  = 6 << 20 // docs/memory.md
)

// class is the interface of a presentation context and what told it.
type class struct {
	iface dcerpc.SyntaxID
	from  string
}

// older is what a connection of unknown interface keeps.
type older struct {
	classes []ctxClass // presentation contexts classified
	held    []*qent    // its calls waiting for evidence, in capture order
	gaveUp  bool       // hold no more calls
}

type ctxClass struct {
	ctx uint16
	class
}

// qent is one place in the queue: what the sink gets there, in order, or a
// call waiting for evidence (raw), decoded into items once classified.
type qent struct {
	k     *conn
	raw   *dcerpc.Call
	items []qitem
	bytes int
}

// qitem is a call (*Call) or an event for the sink: an analysis event for
// ExtraSink, a *analyze.ConnEnd, a *analyze.ConnAttempt.
type qitem struct {
	call *Call
	ev   analyze.Event
}

// Handle kinds in runner.handles.
const (
	handleNSPI   = 1
	handleEMSMDB = 2
)

// versions of the interfaces a class names (their bind's abstract syntax).
var classSyntax = map[dcerpc.UUID]dcerpc.SyntaxID{
	dcerpc.NSPI:   {UUID: dcerpc.NSPI, Major: 56},
	dcerpc.RFR:    {UUID: dcerpc.RFR, Major: 1},
	dcerpc.EMSMDB: {UUID: dcerpc.EMSMDB, Minor: 81},
}

func (o *older) classOf(ctx uint16) (class, bool) {
	for i := range o.classes {
		if o.classes[i].ctx == ctx {
			return o.classes[i].class, true
		}
	}
	return class{}, false
}

// maxClassified bounds the presentation contexts a connection remembers.
const maxClassified = 64

func (o *older) setClass(ctx uint16, cl class) {
	if len(o.classes) < maxClassified {
		o.classes = append(o.classes, ctxClass{ctx, cl})
	}
}

// plausible says whether a call of opnum with request rq can be of iface:
// the opnum exists, and the request starts with a handle where the
// interface's opnum takes one. Interfaces whose opnums nspicap does not
// know are always plausible (they keep an endpoint ambiguous).
func plausible(iface dcerpc.UUID, opnum uint16, rq *dcerpc.Message) bool {
	switch iface {
	case dcerpc.NSPI:
		return opnum <= 20 && (opnum == nspi.OpBind || rq.Len >= 20)
	case dcerpc.RFR:
		return opnum <= 1
	case dcerpc.EMSMDB:
		switch opnum {
		case emsmdb.OpConnect, emsmdb.OpConnectEx, 6, 7, 8: // EcDummyRpc and two reserved opnums take no handle
			return true
		}
		return opnum <= 14 && opnum != 12 && opnum != 13 && rq.Len >= 20
	}
	if i := dcerpc.LookupInterface(iface); i != nil && i.Ops != nil {
		return int(opnum) < len(i.Ops)
	}
	return true
}

// needsShape: opnums where an interface collides with one that can share
// its endpoint (RFR with NSPI; AsyncEMSMDB's EcDoAsyncWaitEx with
// EcDoConnect).
func needsShape(iface dcerpc.UUID, opnum uint16) bool {
	switch iface {
	case dcerpc.NSPI, dcerpc.RFR:
		return opnum <= 1
	case dcerpc.EMSMDB:
		return opnum == emsmdb.OpConnect
	}
	return false
}

// shapeOf returns the interface whose stub shape alone the call has.
func shapeOf(c *dcerpc.Call) (dcerpc.UUID, bool) {
	switch c.Opnum {
	case 0, 1, 10:
	default:
		return dcerpc.UUID{}, false
	}
	var got dcerpc.UUID
	n := 0
	if nspi.Shape(c.Opnum, c.Request, c.Response) {
		got, n = dcerpc.NSPI, n+1
	}
	if rfr.Shape(c.Opnum, c.Request, c.Response) {
		got, n = dcerpc.RFR, n+1
	}
	if emsmdb.Shape(c.Opnum, c.Request, c.Response) {
		got, n = dcerpc.EMSMDB, n+1
	}
	return got, n == 1
}

// classify finds the interface of a call of unknown interface from the
// evidence seen so far.
func (r *runner) classify(c *dcerpc.Call) (class, bool) {
	rq := c.Request
	if rq == nil {
		return class{}, false
	}
	server := c.Conn.Server
	if c.Opnum >= 1 && !rq.Sealed && len(rq.Stub) >= 20 && len(r.handles) > 0 {
		switch r.handles[makeHandleKey(server.Addr(), [20]byte(rq.Stub[:20]))] {
		case handleNSPI:
			if plausible(dcerpc.NSPI, c.Opnum, rq) {
				return class{classSyntax[dcerpc.NSPI], FromHandle}, true
			}
		case handleEMSMDB:
			if plausible(dcerpc.EMSMDB, c.Opnum, rq) && c.Opnum != emsmdb.OpConnectEx {
				return class{classSyntax[dcerpc.EMSMDB], FromHandle}, true
			}
		}
	}
	if cl, ok := fromEndpoint(c, r.mapped[server], FromEPM); ok {
		return cl, true
	}
	if cl, ok := fromEndpoint(c, r.endpoints[server], FromBindElsewhere); ok {
		return cl, true
	}
	if u, ok := shapeOf(c); ok {
		return class{classSyntax[u], FromStubShape}, true
	}
	return class{}, false
}

// fromEndpoint classifies a call by the interfaces known at its endpoint.
func fromEndpoint(c *dcerpc.Call, ifs map[dcerpc.UUID]bool, from string) (class, bool) {
	var cand dcerpc.UUID
	n := 0
	for u := range ifs {
		if plausible(u, c.Opnum, c.Request) {
			cand, n = u, n+1
		}
	}
	if n == 0 {
		return class{}, false
	}
	if n > 1 {
		// Several interfaces fit: the shape may still pick one of them.
		if s, ok := shapeOf(c); ok && ifs[s] {
			return class{classSyntax[s], FromStubShape}, true
		}
		return class{}, false
	}
	if _, ours := classSyntax[cand]; !ours {
		return class{}, false
	}
	if !needsShape(cand, c.Opnum) {
		return class{classSyntax[cand], from}, true
	}
	s, ok := shapeOf(c)
	switch {
	case ok && s == cand:
		return class{classSyntax[cand], from}, true
	case ok && (s == dcerpc.NSPI || s == dcerpc.RFR) && (cand == dcerpc.NSPI || cand == dcerpc.RFR):
		// RFR shares NSPI's endpoint: the shape tells them apart.
		return class{classSyntax[s], FromStubShape}, true
	}
	return class{}, false
}

// addEndpoint records that iface answers at ep in table m; it reports
// whether that is new.
func (r *runner) addEndpoint(m map[netip.AddrPort]map[dcerpc.UUID]bool, ep netip.AddrPort, iface dcerpc.UUID) bool {
	ifs := m[ep]
	if ifs == nil && len(m) < maxEndpoints {
		ifs = map[dcerpc.UUID]bool{}
		m[ep] = ifs
	}
	if ifs == nil || len(ifs) >= 64 || ifs[iface] || r.nIfs >= maxEndpointIfs {
		return false
	}
	r.nIfs++
	ifs[iface] = true
	return true
}

// learnEPM records the ncacn_ip_tcp endpoints an endpoint mapper's answer
// maps, and reports whether one is new.
func (r *runner) learnEPM(c *dcerpc.Call) bool {
	if c.Opnum != epm.OpMap && c.Opnum != epm.OpLookup {
		return false
	}
	ms, ok := r.epmMappings(c)
	if !ok {
		return false
	}
	changed := false
	for _, m := range ms {
		t := m.Tower
		if m.Status != epm.StatusOK || t == nil || t.Protocol != "ncacn_ip_tcp" || t.Port == 0 {
			continue
		}
		ep := netip.AddrPortFrom(t.Host(c.Conn.Server.Addr()), t.Port)
		if r.addEndpoint(r.mapped, ep, t.Interface.UUID) {
			changed = true
		}
	}
	return changed
}

// learnHandle records a context handle an NspiBind or EcDoConnect(Ex)
// returned.
func (r *runner) learnHandle(server netip.Addr, h [20]byte, kind uint8) {
	if len(r.handles) >= maxNSPIHandles {
		clear(r.handles) // forget the oldest generation: memory stays bounded
	}
	r.handles[makeHandleKey(server, h)] = kind
	r.changed = true
}

// learnStore records the CXH of a successful EcDoConnect(Ex).
func (r *runner) learnStore(c *dcerpc.Call) {
	if !emsmdb.IsConnect(c.Opnum) {
		return
	}
	op := emsmdb.Decode(c)
	if op.HasStatus && op.Status == 0 && op.HasHandle && op.Handle != [20]byte{} {
		r.learnHandle(c.Conn.Server.Addr(), op.Handle, handleEMSMDB)
	}
}

// --- the queue ---

// queuing reports whether what goes to the sink must wait its turn.
func (r *runner) queuing() bool { return r.slot != nil || len(r.q) > 0 }

// sendCall gives a call to the sink, or to its place in the queue.
func (r *runner) sendCall(out *Call) {
	switch {
	case r.slot != nil:
		r.slot.items = append(r.slot.items, qitem{call: out})
	case len(r.q) > 0:
		r.enqueue(&qent{items: []qitem{{call: out}}, bytes: callBytes(out.Raw)})
	default:
		r.sink.Call(out)
		r.freeCall(out)
	}
}

// sendEvent gives an event to the sink, or to its place in the queue.
func (r *runner) sendEvent(ev analyze.Event) {
	switch {
	case r.slot != nil:
		r.slot.items = append(r.slot.items, qitem{ev: ev})
	case len(r.q) > 0:
		r.enqueue(&qent{items: []qitem{{ev: ev}}, bytes: 256})
	default:
		r.deliverEvent(ev)
	}
}

func (r *runner) deliverEvent(ev analyze.Event) {
	switch e := ev.(type) {
	case *analyze.ConnEnd:
		r.sink.ConnEnd(e)
	case *analyze.ConnAttempt:
		if ts, ok := r.sink.(TCPEndSink); ok {
			ts.TCPEnd(e)
		}
	default:
		if xs, ok := r.sink.(ExtraSink); ok {
			xs.Extra(ev)
		}
	}
}

// callBytes is what a queued call holds: its stubs, and 1 KiB for the
// call, its messages and its row.
func callBytes(c *dcerpc.Call) int {
	n := 1024
	for _, m := range [...]*dcerpc.Message{c.Request, c.Response} {
		if m != nil {
			n += cap(m.Stub)
		}
	}
	return n
}

func (r *runner) enqueue(e *qent) {
	r.q = append(r.q, e)
	r.qBytes += e.bytes
	for len(r.q) > maxQueue || r.qBytes > maxQueueBytes {
		if !r.giveUpHead() {
			break
		}
	}
}

// hold puts a call of unknown interface in the queue to wait for evidence;
// false when the connection may hold no more.
func (r *runner) hold(k *conn, c *dcerpc.Call) bool {
	o := k.older
	if o.gaveUp {
		return false
	}
	if len(o.held) >= maxHeldPerConn {
		r.giveUp(k)
		return false
	}
	if len(o.held) == 0 {
		r.waiting = append(r.waiting, k)
	}
	e := &qent{k: k, raw: c, bytes: callBytes(c)}
	o.held = append(o.held, e)
	r.enqueue(e)
	return true
}

// giveUpHead gives up the connection of the oldest call still waiting.
func (r *runner) giveUpHead() bool {
	for _, e := range r.q {
		if e.raw != nil {
			r.giveUp(e.k)
			return true
		}
	}
	return false
}

// giveUp sends a connection's waiting calls out unclassified, and holds no
// more of its calls.
func (r *runner) giveUp(k *conn) {
	k.older.gaveUp = true
	for len(k.older.held) > 0 {
		r.decodeHeld(k, k.older.held[0], class{}, false)
	}
	r.flush()
}

// decodeHeld decodes a waiting call in its place in the queue.
func (r *runner) decodeHeld(k *conn, e *qent, cl class, inferred bool) {
	o := k.older
	for i, h := range o.held {
		if h == e {
			o.held = append(o.held[:i], o.held[i+1:]...)
			break
		}
	}
	if len(o.held) == 0 {
		o.held = nil
		for i, w := range r.waiting {
			if w == k {
				r.waiting = append(r.waiting[:i], r.waiting[i+1:]...)
				break
			}
		}
	}
	c := e.raw
	e.raw = nil
	r.slot = e
	k.process(c, cl, inferred)
	r.slot = nil
}

// resolve decodes the waiting calls of k that are now classified: on a
// context classified since, or by evidence seen since.
func (r *runner) resolve(k *conn) {
	o := k.older
	for i := 0; i < len(o.held); {
		e := o.held[i]
		cl, ok := o.classOf(e.raw.ContextID)
		if !ok {
			if cl, ok = r.classify(e.raw); ok {
				o.setClass(e.raw.ContextID, cl)
			}
		}
		if !ok {
			i++
			continue
		}
		r.decodeHeld(k, e, cl, true) // removes e from o.held
	}
}

// retry tries the waiting calls again after new evidence.
func (r *runner) retry() {
	r.changed = false
	if len(r.waiting) == 0 {
		return
	}
	for _, k := range append([]*conn(nil), r.waiting...) {
		r.resolve(k)
	}
	r.flush()
}

// flush sends to the sink what is at the head of the queue and waits no
// more.
func (r *runner) flush() {
	if r.slot != nil {
		return
	}
	i := 0
	for ; i < len(r.q) && r.q[i].raw == nil; i++ {
		e := r.q[i]
		for _, it := range e.items {
			if it.call != nil {
				r.sink.Call(it.call)
				r.freeCall(it.call)
			} else {
				r.deliverEvent(it.ev)
			}
		}
		r.qBytes -= e.bytes
		r.q[i] = nil
	}
	if i == len(r.q) {
		r.q = r.q[:0]
		return
	}
	r.q = r.q[i:]
}

// finish sends out what still waits at the end of the capture.
func (r *runner) finish() {
	for len(r.waiting) > 0 {
		r.giveUp(r.waiting[0])
	}
	r.flush()
}
