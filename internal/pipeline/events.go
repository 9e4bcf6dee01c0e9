package pipeline

import (
	"fmt"
	"net/netip"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/emsmdb"
	"github.com/nspicap/nspicap/epm"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/rfr"
)

// ExtraSink is implemented by sinks that also want the analysis events of
// the interfaces beside NSPI: *analyze.StoreCall for EMSMDB and
// AsyncEMSMDB calls, *analyze.EndpointAnswer for endpoint mapper answers and
// *analyze.ReferralCall for RFR calls. They arrive in capture order, just
// before the Sink.Call of the same call.
type ExtraSink interface {
	Extra(ev analyze.Event)
}

// TCPEndSink is implemented by sinks that want the end of every TCP
// connection that carried no data at all (*analyze.ConnAttempt):
// connection attempts that were reset or never answered, which
// Sink.ConnEnd (DCE/RPC connections only) does not report.
type TCPEndSink interface {
	TCPEnd(ev *analyze.ConnAttempt)
}

// tcpState is what a connection remembers for a ConnAttempt.
type tcpState struct {
	first capture.Pos
	data  bool
}

// endHow turns the capture layer's end of a connection into the
// analyzer's.
func endHow(how capture.EndKind) analyze.How {
	switch how {
	case capture.EndFIN:
		return analyze.HowFIN
	case capture.EndRST:
		return analyze.HowRST
	case capture.EndOfCapture:
		return analyze.HowEndOfCapture
	case capture.EndEvicted:
		return analyze.HowEvicted
	}
	return 0
}

// endMeta is the Meta of the end of the connection, at pos.
func (k *conn) endMeta(pos capture.Pos) analyze.Meta {
	m := k.c.Meta
	am := analyze.Meta{Time: pos.Time, Frame: k.r.ref(dcerpc.Pos(pos)), ConnID: m.ID, Client: m.Client, Server: m.Server, Transport: k.transport()}
	if k.vc != nil {
		am.ClientAddress = k.vc.addr
	}
	return am
}

// clientAddress is the address of the client behind an RPC proxy, zero
// when the connection is not a virtual connection that names one.
func (k *conn) clientAddress() netip.Addr {
	if k.vc != nil {
		return k.vc.addr
	}
	return netip.Addr{}
}

// answerElsewhere: the connection is an unpaired RPC over HTTP IN channel
// older than the capture, whose answers travel on a connection not tied to
// it (http_older.go).
func (k *conn) answerElsewhere() bool { return k.vc != nil && k.vc.unpaired }

// quality is what the connection lost so far.
func (k *conn) quality() analyze.Quality {
	var q analyze.Quality
	if k.lost {
		q |= analyze.BytesLost
	}
	if k.cut {
		q |= analyze.SnapCut
	}
	return q | k.pipeQuality()
}

// callQuality is the quality of a call's evidence: bytes lost on its
// connection or in its PDUs, its interface inferred.
func (k *conn) callQuality(c *dcerpc.Call, inferred bool) analyze.Quality {
	q := k.quality()
	for _, m := range [...]*dcerpc.Message{c.Request, c.Response} {
		switch {
		case m == nil:
		case m.Cut:
			q |= analyze.SnapCut
		case m.Damaged || m.Truncated || !m.Complete:
			q |= analyze.BytesLost
		}
	}
	if inferred {
		q |= analyze.IfaceInferred
	}
	return q
}

// tcpEnd reports the end of a connection that is not DCE/RPC, when no byte
// of it was seen.
func (k *conn) tcpEnd(pos capture.Pos, how capture.EndKind) {
	if _, ok := k.r.sink.(TCPEndSink); !ok || k.tcp.data {
		return
	}
	k.r.sendEvent(&analyze.ConnAttempt{
		Meta:      k.endMeta(pos),
		How:       endHow(how),
		First:     k.r.ref(dcerpc.Pos(k.tcp.first)),
		FirstTime: k.tcp.first.Time,
	})
}

// extra sends the analysis event of an EMSMDB, AsyncEMSMDB, EPM or RFR call
// to a sink that wants it.
func (r *runner) extra(k *conn, c *dcerpc.Call, reqPos, replyPos dcerpc.Pos, inferred bool) {
	if _, ok := r.sink.(ExtraSink); !ok || !c.IfaceKnown || c.Request == nil {
		return
	}
	var ev analyze.Event
	switch c.Iface.UUID {
	case dcerpc.EMSMDB, dcerpc.AsyncEMSMDB:
		e := r.storeEvent(k, c, reqPos, replyPos)
		e.Quality |= k.callQuality(c, inferred)
		ev = e
	case dcerpc.EPM:
		if e := r.epmEvent(k, c, reqPos, replyPos); e != nil {
			e.Quality |= k.callQuality(c, false)
			ev = e
		}
	case dcerpc.RFR:
		e := r.rfrEvent(k, c, reqPos, replyPos)
		e.Quality |= k.callQuality(c, inferred)
		ev = e
	}
	if ev != nil {
		r.sendEvent(ev)
	}
}

// scratch gives an event to fill: with Options.Recycle the sink keeps
// none, so one of each type serves every call (unless it must wait in the
// queue of older.go).
func scratch[E any](r *runner, keep *E) *E {
	var zero E
	if r.recycle && !r.queuing() {
		*keep = zero
		return keep
	}
	return new(E)
}

// callParts fills what every call event has (id may be nil), in place:
// the events are large and many.
func (r *runner) callParts(k *conn, c *dcerpc.Call, reqPos, replyPos dcerpc.Pos, m *analyze.Meta, id *analyze.Identity, ans *analyze.Answer) {
	*m = analyze.Meta{
		Time:   reqPos.Time,
		Frame:  r.ref(reqPos),
		ConnID: c.Conn.ID,
		Client: c.Conn.Client,
		Server: c.Conn.Server,
		// The pipes', virtual connections' and v1 connections'.
		Transport: k.transport(),
	}
	if k.vc != nil {
		m.ClientAddress = k.vc.addr
	}
	if id != nil {
		*id = analyze.Identity{User: c.Sec.User, Auth: c.Sec.AuthName(), AuthLevel: "none"}
		if c.Sec.Authenticated {
			id.AuthLevel = dcerpc.AuthLevelName(c.Sec.Level)
		}
		id.Anonymous = !c.Sec.Authenticated || c.Sec.Anonymous
		// A token cut by the snap length: authenticated, by a user unknown.
		id.Cut = c.Sec.Cut && c.Sec.User == ""
		if o := c.Sec.Origin; o != nil {
			id.Origin = k.callOrigin(o, c.Sec.User != "")
		}
		k.httpIdentity(c, id)
	}
	*ans = analyze.Answer{Sealed: c.Sealed()}
	if replyPos.Frame != 0 {
		ans.Answered = true
		ans.ReplyFrame = r.ref(replyPos)
		ans.ReplyTime = replyPos.Time
	}
	if c.Fault != nil {
		ans.HasFault, ans.Fault = true, c.Fault.Status
	}
	ans.Elsewhere = !ans.Answered && k.answerElsewhere()
}

// callOrigin is the analyze.Origin of the calls of a security context
// whose dcerpc.Origin is o (named: the context has a user): made once per
// context, set at its bind, and shared by its calls.
// It is made again when the origin changed in place: an NTLM context
// authenticated again moves its origin's Pos (other origins are new
// values), hence the frame it was made from.
type callOrigin struct {
	src   *dcerpc.Origin
	file  int
	frame int64
	named bool
	o     analyze.Origin
}

func (k *conn) callOrigin(o *dcerpc.Origin, named bool) *analyze.Origin {
	if m := k.origin; m != nil && m.src == o && m.named == named && m.frame == o.Pos.Frame && m.file == o.Pos.File {
		return &m.o
	}
	m := &callOrigin{src: o, file: o.Pos.File, frame: o.Pos.Frame, named: named, o: analyze.Origin{Via: o.Via}}
	if named && o.From != "" {
		m.o.From, m.o.FromFrame = o.From, k.r.ref(o.Pos)
	}
	if !named {
		m.o.Ticket = o.Ticket
	}
	k.origin = m
	return &m.o
}

func (r *runner) storeEvent(k *conn, c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.StoreCall {
	ev := scratch(r, &r.scratch.store)
	r.callParts(k, c, reqPos, replyPos, &ev.Meta, &ev.Identity, &ev.Answer)
	ev.Opnum = c.Opnum
	if c.Iface.UUID == dcerpc.AsyncEMSMDB {
		// EcDoAsyncWaitEx works on an ACXH, not a store session.
		ev.Name = dcerpc.OpName(dcerpc.AsyncEMSMDB, c.Opnum)
		if ev.Name == "" {
			ev.Name = fmt.Sprintf("opnum_%d", c.Opnum)
		}
		return ev
	}
	op := emsmdb.Decode(c)
	ev.Name = op.Name
	ev.UserDN = op.UserDN
	ev.HasStatus, ev.Status = op.HasStatus, op.Status
	ev.HasHandle, ev.Handle = op.HasHandle, op.Handle
	switch {
	case emsmdb.IsConnect(c.Opnum):
		ev.Op = analyze.OpOpen
	case c.Opnum == emsmdb.OpDisconnect:
		ev.Op = analyze.OpClose
	}
	return ev
}

func (r *runner) epmEvent(k *conn, c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.EndpointAnswer {
	if c.Opnum != epm.OpMap || c.Request.Sealed {
		return nil
	}
	ms, ok := r.epmMappings(c)
	if !ok || len(ms) == 0 || ms[0].Asked == nil {
		return nil
	}
	ev := scratch(r, &r.scratch.ep)
	r.callParts(k, c, reqPos, replyPos, &ev.Meta, nil, &ev.Answer)
	ev.HasStatus, ev.Status = true, ms[0].Status
	ev.NotRegistered = ms[0].Status == epm.StatusNotRegistered
	iface := *ms[0].Asked
	if iface.UUID == (dcerpc.UUID{}) && ms[0].Tower != nil {
		iface = ms[0].Interface // the first tower's
	}
	ev.Iface = dcerpc.InterfaceName(iface.UUID)
	ev.IfaceUUID = iface.UUID.String()
	ev.IfaceVersion = fmt.Sprintf("%d.%d", iface.Major, iface.Minor)
	for _, m := range ms {
		t := m.Tower
		if t == nil || t.Port == 0 || (t.Protocol != "ncacn_ip_tcp" && t.Protocol != "ncacn_http") || len(ev.Endpoints) >= 16 {
			continue
		}
		ev.Endpoints = append(ev.Endpoints, netip.AddrPortFrom(t.Host(c.Conn.Server.Addr()), t.Port))
	}
	return ev
}

// epmMappings decodes an endpoint mapper call once for both its uses (the
// evidence of older.go and the analyzer's EndpointAnswer).
func (r *runner) epmMappings(c *dcerpc.Call) ([]epm.Mapping, bool) {
	if r.epm.call != c {
		r.epm.call = c
		r.epm.ms, r.epm.ok = epm.DecodeCall(c)
	}
	return r.epm.ms, r.epm.ok
}

func (r *runner) rfrEvent(k *conn, c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.ReferralCall {
	op := rfr.Decode(c)
	ev := scratch(r, &r.scratch.rfr)
	r.callParts(k, c, reqPos, replyPos, &ev.Meta, &ev.Identity, &ev.Answer)
	ev.Name = op.Name
	ev.HasStatus, ev.Status = op.HasStatus, op.Status
	ev.Referral = op.Server
	ev.DN = op.UserDN
	if op.ServerDN != "" {
		ev.DN = op.ServerDN
	}
	return ev
}
