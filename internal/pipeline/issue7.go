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
// the interfaces beside NSPI: EMSMDB and AsyncEMSMDB calls (Proto "emsmdb"),
// endpoint mapper answers (EvEndpointMap) and RFR referrals (EvReferral).
// They arrive in capture order, just before the Sink.Call of the same call.
type ExtraSink interface {
	Extra(ev *analyze.Event)
}

// TCPEndSink is implemented by sinks that want the end of every TCP
// connection that carried no data at all (EvTCPEnd): connection attempts
// that were reset or never answered, which Sink.ConnEnd (DCE/RPC
// connections only) does not report.
type TCPEndSink interface {
	TCPEnd(ev *analyze.Event)
}

// tcpState is what a connection remembers for EvTCPEnd.
type tcpState struct {
	first capture.Pos
	data  bool
}

// tcpEnd reports the end of a connection that is not DCE/RPC, when no byte
// of it was seen.
func (k *conn) tcpEnd(pos capture.Pos, how capture.EndKind) {
	ts, ok := k.r.sink.(TCPEndSink)
	if !ok || k.tcp.data {
		return
	}
	m := k.c.Meta
	ts.TCPEnd(&analyze.Event{
		Kind:          analyze.EvTCPEnd,
		Proto:         "tcp",
		Time:          pos.Time,
		Frame:         k.r.ref(dcerpc.Pos(pos)),
		ConnID:        m.ID,
		Client:        m.Client,
		Server:        m.Server,
		EndHow:        how.String(),
		ConnFirst:     k.r.ref(dcerpc.Pos(k.tcp.first)),
		ConnFirstTime: k.tcp.first.Time,
	})
}

// extra sends the analysis event of an EMSMDB, AsyncEMSMDB, EPM or RFR call
// to a sink that wants it.
func (r *runner) extra(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) {
	xs, ok := r.sink.(ExtraSink)
	if !ok || !c.IfaceKnown || c.Request == nil {
		return
	}
	var ev *analyze.Event
	switch c.Iface.UUID {
	case dcerpc.EMSMDB, dcerpc.AsyncEMSMDB:
		ev = r.emsmdbEvent(c, reqPos, replyPos)
	case dcerpc.EPM:
		ev = r.epmEvent(c, reqPos, replyPos)
	case dcerpc.RFR:
		ev = r.rfrEvent(c, reqPos, replyPos)
	}
	if ev != nil {
		xs.Extra(ev)
		r.freeEvent(ev)
	}
}

// baseEvent fills what every call event has.
func (r *runner) baseEvent(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.Event {
	ev := r.newEvent()
	*ev = analyze.Event{
		Kind:      analyze.EvCall,
		Time:      reqPos.Time,
		Frame:     r.ref(reqPos),
		ConnID:    c.Conn.ID,
		Client:    c.Conn.Client,
		Server:    c.Conn.Server,
		User:      c.Sec.User,
		Auth:      c.Sec.AuthName(),
		AuthLevel: "none",
		Opnum:     c.Opnum,
		Sealed:    c.Sealed(),
	}
	if c.Sec.Authenticated {
		ev.AuthLevel = dcerpc.AuthLevelName(c.Sec.Level)
	}
	ev.Anonymous = !c.Sec.Authenticated || c.Sec.Anonymous
	if replyPos.Frame != 0 {
		ev.Answered = true
		ev.ReplyFrame = r.ref(replyPos)
		ev.ReplyTime = replyPos.Time
	}
	if c.Fault != nil {
		ev.HasFault, ev.Fault = true, c.Fault.Status
	}
	return ev
}

func (r *runner) emsmdbEvent(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.Event {
	ev := r.baseEvent(c, reqPos, replyPos)
	ev.Proto = "emsmdb"
	if c.Iface.UUID == dcerpc.AsyncEMSMDB {
		// EcDoAsyncWaitEx works on an ACXH, not a store session.
		ev.Op = dcerpc.OpName(dcerpc.AsyncEMSMDB, c.Opnum)
		if ev.Op == "" {
			ev.Op = fmt.Sprintf("opnum_%d", c.Opnum)
		}
		return ev
	}
	op := emsmdb.Decode(c)
	ev.Op = op.Name
	ev.UserDN = op.UserDN
	ev.HasStatus, ev.Status = op.HasStatus, op.Status
	ev.HasHandle, ev.Handle = op.HasHandle, op.Handle
	switch {
	case emsmdb.IsConnect(c.Opnum):
		ev.Kind = analyze.EvBind
	case c.Opnum == emsmdb.OpDisconnect:
		ev.Kind = analyze.EvUnbind
	}
	return ev
}

// mappedHost is the address a tower gives, or the mapper's own when the
// tower says 0.0.0.0 or nothing.
func mappedHost(t *epm.Tower, mapper netip.Addr) netip.Addr {
	if t.Addr.IsValid() && !t.Addr.IsUnspecified() {
		return t.Addr
	}
	return mapper
}

func (r *runner) epmEvent(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.Event {
	if c.Opnum != epm.OpMap || c.Response == nil || c.Response.Sealed || c.Response.Damaged || c.Request.Sealed {
		return nil
	}
	q, err := epm.DecodeMapRequest(c.Request.Stub, c.Request.LittleEndian)
	if err != nil {
		return nil
	}
	m, err := epm.DecodeMapResponse(c.Response.Stub, c.Response.LittleEndian)
	if err != nil {
		return nil
	}
	ev := r.baseEvent(c, reqPos, replyPos)
	ev.Kind = analyze.EvEndpointMap
	ev.Proto = "epm"
	ev.Op = "ept_map"
	ev.HasStatus, ev.Status = true, m.Status
	iface := q.Tower.Interface
	if iface.UUID == (dcerpc.UUID{}) && len(m.Towers) > 0 {
		iface = m.Towers[0].Interface
	}
	ev.Iface = dcerpc.InterfaceName(iface.UUID)
	ev.IfaceUUID = iface.UUID.String()
	ev.IfaceVersion = fmt.Sprintf("%d.%d", iface.Major, iface.Minor)
	for i := range m.Towers {
		t := &m.Towers[i]
		if t.Port == 0 || (t.Protocol != "ncacn_ip_tcp" && t.Protocol != "ncacn_http") || len(ev.Endpoints) >= 16 {
			continue
		}
		ev.Endpoints = append(ev.Endpoints, netip.AddrPortFrom(mappedHost(t, c.Conn.Server.Addr()), t.Port))
	}
	return ev
}

func (r *runner) rfrEvent(c *dcerpc.Call, reqPos, replyPos dcerpc.Pos) *analyze.Event {
	op := rfr.Decode(c)
	ev := r.baseEvent(c, reqPos, replyPos)
	ev.Kind = analyze.EvReferral
	ev.Proto = "rfr"
	ev.Op = op.Name
	ev.HasStatus, ev.Status = op.HasStatus, op.Status
	ev.Referral = op.Server
	ev.UserDN = op.UserDN
	if op.ServerDN != "" {
		ev.UserDN = op.ServerDN
	}
	return ev
}
