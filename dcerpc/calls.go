package dcerpc

import (
	"sort"

	"github.com/nspicap/nspicap/ntlmssp"
)

const maxSecContexts = 64
const maxPresContexts = 1024

// pdu handles one whole PDU of direction dir. b is borrowed.
func (c *Conn) pdu(dir Dir, b []byte, start, last Pos) {
	p, err := ParsePDU(b)
	if err != nil {
		c.anomaly("malformed_pdu", start, err.Error())
		return
	}
	switch p.PType {
	case PTypeBind, PTypeAlter:
		if dir != ClientToServer {
			c.anomaly("wrong_direction", start, PTypeName(p.PType)+" sent by the server")
			return
		}
		if c.binds == nil {
			c.binds = make(map[uint32]pending)
		}
		if len(c.binds) < c.lim.MaxOpenCalls {
			c.binds[p.CallID] = pending{ctx: p.Contexts, alter: p.PType == PTypeAlter}
		}
		c.authToken(p, start)
	case PTypeBindAck, PTypeAlterResp:
		pb, ok := c.binds[p.CallID]
		if !ok {
			// Some stacks answer with another call_id; take the only
			// outstanding bind if there is exactly one.
			if len(c.binds) == 1 {
				for id, v := range c.binds {
					pb, ok = v, true
					delete(c.binds, id)
				}
			}
		} else {
			delete(c.binds, p.CallID)
		}
		if !ok {
			if len(p.Results) > 0 {
				c.anomaly("orphan_bind_ack", start, "no bind with call_id "+itoa(int(p.CallID)))
			}
		} else {
			for i, r := range p.Results {
				if i >= len(pb.ctx) || r.Result != 0 {
					continue
				}
				if c.contexts == nil {
					c.contexts = make(map[uint16]SyntaxID)
				}
				if len(c.contexts) < maxPresContexts {
					c.contexts[pb.ctx[i].ID] = pb.ctx[i].Abstract
				}
			}
		}
		c.authToken(p, start)
	case PTypeBindNak:
		delete(c.binds, p.CallID)
	case PTypeAuth3:
		c.authToken(p, start)
	case PTypeRequest:
		if dir != ClientToServer {
			c.anomaly("wrong_direction", start, "request sent by the server")
			return
		}
		c.request(p, start, last)
	case PTypeResponse:
		if dir != ServerToClient {
			c.anomaly("wrong_direction", start, "response sent by the client")
			return
		}
		c.response(p, start, last)
	case PTypeFault:
		if dir != ServerToClient {
			c.anomaly("wrong_direction", start, "fault sent by the client")
			return
		}
		c.fault(p, start)
	}
}

// authToken records the security context carried by a bind-type PDU.
func (c *Conn) authToken(p *PDU, pos Pos) {
	if p.Auth == nil {
		return
	}
	if c.sec == nil {
		c.sec = make(map[uint32]*secCtx)
	}
	s := c.sec[p.Auth.ContextID]
	if s == nil {
		if len(c.sec) >= maxSecContexts {
			c.anomaly("too_many_security_contexts", pos, "security context ignored")
			return
		}
		s = &secCtx{Security{AuthType: p.Auth.Type, Level: p.Auth.Level, ContextID: p.Auth.ContextID, Authenticated: true}}
		c.sec[p.Auth.ContextID] = s
	}
	if p.PType == PTypeBind || p.PType == PTypeAlter || p.PType == PTypeAuth3 {
		s.Level = p.Auth.Level
		s.AuthType = p.Auth.Type
	}
	c.lastSec = s
	t := ntlmssp.Inspect(p.Auth.Type, p.Auth.Value)
	if t.Err != nil {
		c.anomaly("malformed_auth_token", pos, t.Err.Error())
	}
	if t.Mech != ntlmssp.MechUnknown && (s.Mech == ntlmssp.MechUnknown || t.NTLM != nil) {
		s.Mech = t.Mech
	}
	if t.NTLM != nil && t.NTLM.Type == ntlmssp.TypeAuthenticate {
		s.User = t.NTLM.Identity()
		s.Anonymous = t.NTLM.Anonymous()
		c.h.Logon(&c.Meta, s.Security, pos)
	}
}

// security returns the security context of a request or response PDU.
func (c *Conn) security(p *PDU) Security {
	if p.Auth != nil {
		if s := c.sec[p.Auth.ContextID]; s != nil {
			r := s.Security
			r.Level = p.Auth.Level
			return r
		}
		return Security{AuthType: p.Auth.Type, Level: p.Auth.Level, ContextID: p.Auth.ContextID, Authenticated: true}
	}
	// Kerberos and SPNEGO at connect level put no verifier on requests;
	// the call then runs in the connection's only security context.
	if len(c.sec) == 1 && c.lastSec != nil && c.lastSec.Level == LevelConnect {
		return c.lastSec.Security
	}
	return Security{}
}

func (c *Conn) newMessage(p *PDU, start Pos) *Message {
	m := &Message{Pos: start, LittleEndian: p.LittleEndian()}
	if p.Auth != nil {
		m.Auth = AuthTrailer{Type: p.Auth.Type, Level: p.Auth.Level, PadLen: p.Auth.PadLen, ContextID: p.Auth.ContextID}
		m.Sealed = p.Auth.Level == LevelPrivacy
	}
	return m
}

// appendStub adds one fragment's stub, keeping at most MaxCallBytes and
// always the last 4 bytes.
func (c *Conn) appendStub(m *Message, stub []byte, last Pos) {
	m.Frags++
	m.LastPos = last
	m.Len += len(stub)
	if room := c.lim.MaxCallBytes - len(m.Stub); room > 0 {
		m.Stub = append(m.Stub, stub[:min(room, len(stub))]...)
	}
	if len(m.Stub) < m.Len {
		m.Truncated = true
	}
	// Keep the last 4 bytes of the whole stub.
	if len(stub) >= 4 {
		copy(m.Tail[:], stub[len(stub)-4:])
	} else if len(stub) > 0 {
		copy(m.Tail[:], m.Tail[len(stub):])
		copy(m.Tail[4-len(stub):], stub)
	}
}

func (c *Conn) request(p *PDU, start, last Pos) {
	if c.inflight == nil {
		c.inflight = make(map[uint32]*Call)
		c.waiting = make(map[uint32]*Call)
	}
	call := c.inflight[p.CallID]
	if call != nil && p.Flags&flagFirstFrag != 0 {
		// A new call reuses the call_id before the old one finished.
		delete(c.inflight, p.CallID)
		c.emit(call)
		call = nil
	}
	if call == nil {
		if len(c.inflight)+len(c.waiting) >= c.lim.MaxOpenCalls {
			c.anomaly("too_many_open_calls", start, "call dropped; limit "+itoa(c.lim.MaxOpenCalls))
			return
		}
		if p.Flags&flagFirstFrag == 0 {
			c.anomaly("fragment_without_first", start, "request fragment of call "+itoa(int(p.CallID))+" without its first fragment")
		}
		call = &Call{Conn: &c.Meta, CallID: p.CallID, ContextID: p.ContextID, Opnum: p.Opnum, Sec: c.security(p)}
		call.Iface, call.IfaceKnown = c.contexts[p.ContextID]
		call.Request = c.newMessage(p, start)
		c.inflight[p.CallID] = call
	}
	c.appendStub(call.Request, p.Stub, last)
	if p.Flags&flagLastFrag != 0 {
		call.Request.Complete = true
		delete(c.inflight, p.CallID)
		if old := c.waiting[p.CallID]; old != nil {
			c.emit(old)
		}
		c.waiting[p.CallID] = call
	}
}

func (c *Conn) response(p *PDU, start, last Pos) {
	if c.responses == nil {
		c.responses = make(map[uint32]*Message)
	}
	m := c.responses[p.CallID]
	if m != nil && p.Flags&flagFirstFrag != 0 {
		c.anomaly("incomplete_response", m.Pos, "response of call "+itoa(int(p.CallID))+" never got its last fragment")
		m = nil
	}
	if m == nil {
		if len(c.responses) >= c.lim.MaxOpenCalls {
			c.anomaly("too_many_open_calls", start, "response dropped; limit "+itoa(c.lim.MaxOpenCalls))
			return
		}
		m = c.newMessage(p, start)
		c.responses[p.CallID] = m
	}
	c.appendStub(m, p.Stub, last)
	if p.Flags&flagLastFrag == 0 {
		return
	}
	m.Complete = true
	if c.lostTail {
		m.Damaged, m.StatusLost = true, true
	}
	delete(c.responses, p.CallID)
	call := c.takeCall(p.CallID)
	if call == nil {
		c.anomaly("orphan_response", start, "response to call "+itoa(int(p.CallID))+" whose request is not in the capture")
		return
	}
	call.Response = m
	c.emit(call)
}

func (c *Conn) takeCall(id uint32) *Call {
	if call := c.waiting[id]; call != nil {
		delete(c.waiting, id)
		return call
	}
	if call := c.inflight[id]; call != nil {
		delete(c.inflight, id)
		return call
	}
	return nil
}

func (c *Conn) fault(p *PDU, start Pos) {
	delete(c.responses, p.CallID)
	call := c.takeCall(p.CallID)
	if call == nil {
		c.anomaly("orphan_fault", start, "fault for call "+itoa(int(p.CallID))+" whose request is not in the capture")
		return
	}
	call.Fault = &Fault{Pos: start, Status: p.Status}
	c.emit(call)
}

func (c *Conn) emit(call *Call) { c.h.Call(call) }

// damage marks the messages being reassembled in dir: bytes of the stream
// were lost, so their stubs may miss bytes.
func (c *Conn) damage(dir Dir) {
	if dir == ClientToServer {
		for _, call := range c.inflight {
			call.Request.Damaged = true
		}
		return
	}
	for _, m := range c.responses {
		m.Damaged = true
	}
}

// partial records the start of a request or response PDU whose rest was lost
// to a gap (b holds its first bytes, header included), so that the call is
// still paired and counted: its stub is marked damaged and, when the PDU was
// the last fragment, its return value lost.
func (c *Conn) partial(dir Dir, h Header, b []byte, start, last Pos) {
	if len(b) < 24 || (h.PType != PTypeRequest && h.PType != PTypeResponse) {
		return
	}
	o := order(h.LittleEndian())
	p := &PDU{Header: h, AllocHint: o.Uint32(b[16:]), ContextID: o.Uint16(b[20:])}
	hdrEnd := 24
	if h.PType == PTypeRequest {
		p.Opnum = o.Uint16(b[22:])
		if h.Flags&flagObjectUUID != 0 {
			hdrEnd = 40
		}
	}
	if len(b) > hdrEnd {
		stubEnd := len(b)
		if h.AuthLen > 0 {
			// The stub ends before the auth trailer; keep what is surely stub.
			stubEnd = min(stubEnd, int(h.FragLen)-int(h.AuthLen)-secTrailerLen)
		}
		if stubEnd > hdrEnd {
			p.Stub = b[hdrEnd:stubEnd]
		}
	}
	if h.PType == PTypeRequest && dir == ClientToServer {
		c.request(p, start, last)
		if call := c.inflight[h.CallID]; call != nil {
			call.Request.Damaged = true
		} else if call := c.waiting[h.CallID]; call != nil {
			call.Request.Damaged = true
		}
	} else if h.PType == PTypeResponse && dir == ServerToClient {
		if m := c.responses[h.CallID]; m != nil {
			m.Damaged = true
		}
		c.lostTail = h.Flags&flagLastFrag != 0
		c.response(p, start, last)
		c.lostTail = false
	}
}

// Close ends the connection: calls still waiting for an answer, or still in
// reassembly, are delivered unanswered, in the order of their requests.
func (c *Conn) Close() {
	if c.closed {
		return
	}
	c.closed = true
	var rest []*Call
	for _, m := range []map[uint32]*Call{c.inflight, c.waiting} {
		for _, call := range m {
			rest = append(rest, call)
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		a, b := rest[i].Request.Pos, rest[j].Request.Pos
		if a.File != b.File || a.Frame != b.Frame {
			if a.Time.Equal(b.Time) {
				return a.Frame < b.Frame
			}
			return a.Time.Before(b.Time)
		}
		return rest[i].CallID < rest[j].CallID
	})
	for _, call := range rest {
		c.emit(call)
	}
	c.inflight, c.waiting, c.responses = nil, nil, nil
	c.dirs = [2]dirState{}
}
