package dcerpc

import (
	"sort"
	"strings"
	"sync"

	"github.com/nspicap/nspicap/ntlmssp"
)

const maxSecContexts = 64
const maxPresContexts = 1024

// maxAllocHint: an alloc_hint above this is reported (bad_alloc_hint). The
// hint never sizes an allocation here; a call this large is not plausible
// on ncacn_ip_tcp, so the value says the stream is crafted or misread.
const maxAllocHint = 256 << 20

var pduPool = sync.Pool{New: func() any { return new(PDU) }}

// pdu handles one whole PDU of direction dir. b is borrowed.
func (c *Conn) pdu(dir Dir, b []byte, start, last Pos) {
	// PDUs are pooled: nothing keeps a pointer to one after this call.
	p := pduPool.Get().(*PDU)
	defer func() {
		*p = PDU{}
		pduPool.Put(p)
	}()
	if err := parsePDU(p, b); err != nil {
		c.anomaly(AnomalyMalformedPDU, start, err.Error())
		return
	}
	switch p.PType {
	case PTypeBind, PTypeAlter:
		if dir != ClientToServer {
			c.anomaly(AnomalyWrongDirection, start, PTypeName(p.PType)+" sent by the server")
			return
		}
		if c.binds == nil {
			c.binds = make(map[uint32]pending)
		}
		old, ok := c.binds[p.CallID]
		switch {
		case !ok && len(c.binds) >= c.lim.MaxOpenCalls:
			c.anomaly(AnomalyTooManyOpenCalls, start, PTypeName(p.PType)+" dropped; limit "+itoa(c.lim.MaxOpenCalls))
		default:
			c.unhold(old.cost)
			if cost, ok := c.hold(CostPending + CostContextOffer*len(p.Contexts)); ok {
				pb := pending{ctx: p.Contexts, alter: p.PType == PTypeAlter, cost: cost}
				if p.Auth != nil {
					pb.sec, pb.hasSec = p.Auth.ContextID, true
				}
				c.binds[p.CallID] = pb
			} else {
				delete(c.binds, p.CallID)
				c.anomaly(AnomalyTooManyOpenCalls, start, PTypeName(p.PType)+" dropped: "+c.spent())
			}
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
		if len(c.binds) == 0 {
			c.binds = nil // binds are few: do not keep the table's room
		}
		c.unhold(pb.cost)
		if !ok {
			if len(p.Results) > 0 {
				c.cutAnomaly(ClientToServer, AnomalyOrphanBindAck, start, "no bind with call_id "+itoa(int(p.CallID)))
			}
		} else {
			full, spent := false, false
			for i, r := range p.Results {
				if i >= len(pb.ctx) || r.Result != 0 {
					continue
				}
				if c.contexts == nil {
					c.contexts = make(map[uint16]presCtx)
				}
				pc := presCtx{iface: pb.ctx[i].Abstract, ndr64: r.Transfer.UUID == NDR64}
				if s := c.sec[pb.sec]; pb.hasSec && s != nil {
					pc.sec = s.idx
				}
				if old, ok := c.contexts[pb.ctx[i].ID]; ok {
					if pc.sec == 0 {
						// An alter_context without a token keeps
						// the context's security context.
						pc.sec = old.sec
					}
					c.contexts[pb.ctx[i].ID] = pc
				} else if len(c.contexts) >= maxPresContexts {
					full = true
				} else if cost, ok := c.hold(CostContext); ok {
					c.fixed += cost
					c.contexts[pb.ctx[i].ID] = pc
				} else {
					spent = true
				}
			}
			if full {
				c.anomaly(AnomalyTooManyContexts, start, "presentation contexts ignored; limit "+itoa(maxPresContexts)+" per connection")
			} else if spent {
				c.anomaly(AnomalyTooManyContexts, start, "presentation contexts ignored: "+c.spent())
			}
		}
		c.authToken(p, start)
	case PTypeBindNak:
		if pb, ok := c.binds[p.CallID]; ok {
			c.unhold(pb.cost)
			delete(c.binds, p.CallID)
		}
	case PTypeAuth3:
		c.authToken(p, start)
	case PTypeRequest:
		c.noteAuth(p)
		if dir != ClientToServer {
			c.anomaly(AnomalyWrongDirection, start, "request sent by the server")
			return
		}
		c.unseal(dir, b, p)
		c.request(p, start, last)
	case PTypeResponse:
		c.noteAuth(p)
		if dir != ServerToClient {
			c.anomaly(AnomalyWrongDirection, start, "response sent by the client")
			return
		}
		c.unseal(dir, b, p)
		c.response(p, start, last)
	case PTypeFault:
		if dir != ServerToClient {
			c.anomaly(AnomalyWrongDirection, start, "fault sent by the client")
			return
		}
		c.fault(p, start)
	case PTypeRTS:
		if s, ok := c.h.(RTSSeer); ok {
			s.SawRTS(start)
		}
	}
}

// noteAuth remembers the auth trailer of the last request or response, for
// PDUs whose own trailer is lost to a gap (partial).
func (c *Conn) noteAuth(p *PDU) {
	if p.Auth != nil {
		c.lastAuth = AuthTrailer{Type: p.Auth.Type, Level: p.Auth.Level, ContextID: p.Auth.ContextID}
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
			c.anomaly(AnomalyTooManySecurityContexts, pos, "security context ignored")
			return
		}
		want := CostSecContext
		if c.lim.Unsealer != nil && !c.lim.keyless {
			want += CostUnsealContext
		}
		cost, ok := c.hold(want)
		if !ok {
			c.anomaly(AnomalyTooManySecurityContexts, pos, "security context ignored: "+c.spent())
			return
		}
		c.fixed += cost
		s = &secCtx{Security: Security{AuthType: p.Auth.Type, Level: p.Auth.Level, ContextID: p.Auth.ContextID, Authenticated: true}}
		if ph := c.sec[0]; len(c.sec) == 1 && ph != nil && ph.AuthType == 0 && ph.Level == 0 {
			// The context that partialBind made up for a bind whose
			// trailer a gap took: this is it, now that its id is seen
			// (the connection's only context at connect level).
			s.Cut = ph.Cut
			delete(c.sec, 0)
		}
		c.sec[p.Auth.ContextID] = s
		c.secs = append(c.secs, s)
		s.idx = uint8(len(c.secs)) // at most maxSecContexts
		c.startContext(s)
	}
	if p.PType == PTypeBind || p.PType == PTypeAlter || p.PType == PTypeAuth3 {
		s.Level = p.Auth.Level
		s.AuthType = p.Auth.Type
	}
	c.lastSec = s
	t := ntlmssp.Inspect(p.Auth.Type, p.Auth.Value)
	if t.Err != nil {
		c.anomaly(AnomalyMalformedAuthToken, pos, t.Err.Error())
	}
	c.contextToken(s, p, t, pos)
	if t.Mech != ntlmssp.MechUnknown && (s.Mech == ntlmssp.MechUnknown || t.NTLM != nil) {
		s.Mech = t.Mech
	}
	if t.NTLM != nil && t.NTLM.Type == ntlmssp.TypeChallenge {
		if d, ok := c.h.(DomainPairer); ok {
			if nb, dns := t.NTLM.DomainNames(); nb != "" && dns != "" {
				d.DomainPair(nb, dns, pos)
			}
		}
	}
	if t.NTLM != nil && t.NTLM.Type == ntlmssp.TypeAuthenticate {
		s.User = t.NTLM.Identity()
		s.Anonymous = t.NTLM.Anonymous()
		s.ntlm = Origin{From: OriginNTLM, Pos: pos}
		s.Origin = &s.ntlm
		c.h.Logon(&c.Meta, s.Security, pos)
	}
	if t.Kerberos != nil && s.User == "" && p.PType != PTypeBindAck && p.PType != PTypeAlterResp {
		if n, ok := c.h.(TicketNamer); ok {
			if user, o := n.NameTicket(t.Kerberos, pos); o != nil {
				s.User, s.Origin = user, o
			}
		}
	}
}

// security returns the security context of a request PDU on presentation
// context pc (known: pc was accepted).
func (c *Conn) security(p *PDU, pc presCtx, known bool) Security {
	if p.Auth != nil {
		if s := c.sec[p.Auth.ContextID]; s != nil {
			r := s.Security
			r.Level = p.Auth.Level
			if r.AuthType == 0 {
				r.AuthType = p.Auth.Type // the bind's trailer was lost (partialBind)
			}
			return r
		}
		if len(c.sec) == 1 && c.lastSec != nil && c.lastSec.Level == 0 {
			// The only context is the one a gap left without its
			// trailer (partialBind): this is it, by the id now seen.
			r := c.lastSec.Security
			r.AuthType, r.Level, r.ContextID = p.Auth.Type, p.Auth.Level, p.Auth.ContextID
			return r
		}
		return Security{AuthType: p.Auth.Type, Level: p.Auth.Level, ContextID: p.Auth.ContextID, Authenticated: true}
	}
	// Kerberos and SPNEGO at connect level put no verifier on requests
	// (impacket puts none with NTLM either): the call then runs in the
	// security context negotiated with its presentation context, else in
	// the connection's only security context, else in one of several
	// that all carry the same user.
	// Level 0: the context's trailer was lost to a gap (partialBind).
	if len(c.sec) == 0 {
		return Security{}
	}
	if known && pc.sec != 0 {
		if s := c.secs[pc.sec-1]; connectLevel(s) {
			return s.Security
		}
	}
	if len(c.sec) == 1 && c.lastSec != nil && connectLevel(c.lastSec) {
		return c.lastSec.Security
	}
	if s := c.oneUser(); s != nil {
		return s.Security
	}
	return Security{}
}

func connectLevel(s *secCtx) bool { return s.Level == LevelConnect || s.Level == 0 }

// oneUser returns, when the connection's security contexts are all at
// connect level and carry one user (compared case-insensitively), the last
// one negotiated, or the one of lowest auth_context_id if that is not one of
// them; nil otherwise.
func (c *Conn) oneUser() *secCtx {
	var best *secCtx
	for _, s := range c.sec {
		if !connectLevel(s) || s.User == "" {
			return nil
		}
		if best == nil {
			best = s
			continue
		}
		if !strings.EqualFold(s.User, best.User) {
			return nil
		}
		if s.ContextID < best.ContextID {
			best = s
		}
	}
	if c.lastSec != nil && connectLevel(c.lastSec) && c.lastSec.User != "" {
		return c.lastSec
	}
	return best
}

func (c *Conn) newMessage(p *PDU, start Pos) *Message {
	m := msgPool.Get().(*Message)
	m.Pos, m.LittleEndian = start, p.LittleEndian()
	if p.Auth != nil {
		m.Auth = AuthTrailer{Type: p.Auth.Type, Level: p.Auth.Level, PadLen: p.Auth.PadLen, ContextID: p.Auth.ContextID}
		m.Sealed, m.Decrypted = sealState(p)
	}
	return m
}

// appendStub adds one fragment's stub, keeping at most MaxCallBytes and
// always the last 4 bytes.
func (c *Conn) appendStub(m *Message, stub []byte, last Pos) {
	m.Frags++
	m.LastPos = last
	m.Len += len(stub)
	// Once cut, a stub stays cut: later bytes would not follow on.
	if room := c.lim.MaxCallBytes - len(m.Stub); room > 0 && !m.Truncated {
		n := min(room, len(stub))
		if b := c.lim.Budget; b != nil && n > 0 {
			n = c.growStub(m, n)
		}
		m.Stub = append(m.Stub, stub[:n]...)
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

// growStub makes room in m.Stub for n more bytes, charging Limits.Budget
// for the capacity (not the length) it allocates, so that what the budget
// counts is what the heap holds. It doubles the capacity, as append would,
// within MaxCallBytes; it returns how many of the n bytes fit.
func (c *Conn) growStub(m *Message, n int) int {
	need := len(m.Stub) + n - cap(m.Stub)
	if need <= 0 {
		return n
	}
	b := c.lim.Budget
	want := min(max(need, cap(m.Stub)), c.lim.MaxCallBytes-cap(m.Stub))
	g := b.take(want)
	if g < need {
		c.anomaly(AnomalyTooManyCallBytes, m.Pos, "stub cut after "+itoa(cap(m.Stub)+g)+" bytes: the calls awaiting reassembly or an answer hold "+itoa(b.stubs)+" bytes of stubs over all connections, the limit")
		n = cap(m.Stub) + g - len(m.Stub)
	}
	if g > 0 {
		s := make([]byte, len(m.Stub), cap(m.Stub)+g)
		copy(s, m.Stub)
		m.Stub = s
		m.held += g
	}
	return n
}

func (c *Conn) request(p *PDU, start, last Pos) {
	if c.waiting == nil {
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
			c.anomaly(AnomalyTooManyOpenCalls, start, "call dropped; limit "+itoa(c.lim.MaxOpenCalls))
			return
		}
		cost, ok := c.hold(CostCall)
		if !ok {
			c.anomaly(AnomalyTooManyOpenCalls, start, "call dropped: "+c.spent())
			return
		}
		if p.Flags&flagFirstFrag == 0 {
			c.cutAnomaly(ClientToServer, AnomalyFragmentWithoutFirst, start, "request fragment of call "+itoa(int(p.CallID))+" without its first fragment")
		}
		if p.AllocHint > maxAllocHint {
			c.anomaly(AnomalyBadAllocHint, start, "request of call "+itoa(int(p.CallID))+" announces "+itoa(int(p.AllocHint))+" stub bytes")
		}
		call = callPool.Get().(*Call)
		pc, known := c.contexts[p.ContextID]
		*call = Call{Conn: &c.Meta, CallID: p.CallID, ContextID: p.ContextID, Opnum: p.Opnum, Sec: c.security(p, pc, known)}
		call.Iface, call.IfaceKnown, call.NDR64 = pc.iface, known, pc.ndr64
		call.Request = c.newMessage(p, start)
		call.Request.cost = cost // given back with the stub's bytes (release)
		if p.Flags&flagLastFrag == 0 {
			// In reassembly; a call in one fragment goes straight to
			// waiting, and most connections never need this map.
			if c.inflight == nil {
				c.inflight = make(map[uint32]*Call)
			}
			c.inflight[p.CallID] = call
		}
	}
	c.appendStub(call.Request, p.Stub, last)
	mergeSeal(call.Request, p)
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
	m := c.responses[p.CallID]
	if m != nil && p.Flags&flagFirstFrag != 0 {
		c.cutAnomaly(ServerToClient, AnomalyIncompleteResponse, m.Pos, "response of call "+itoa(int(p.CallID))+" never got its last fragment")
		c.release(m)
		m = nil
	}
	if m == nil {
		if len(c.responses) >= c.lim.MaxOpenCalls {
			c.anomaly(AnomalyTooManyOpenCalls, start, "response dropped; limit "+itoa(c.lim.MaxOpenCalls))
			return
		}
		cost, ok := c.hold(CostMessage)
		if !ok {
			c.anomaly(AnomalyTooManyOpenCalls, start, "response dropped: "+c.spent())
			return
		}
		if p.AllocHint > maxAllocHint {
			c.anomaly(AnomalyBadAllocHint, start, "response of call "+itoa(int(p.CallID))+" announces "+itoa(int(p.AllocHint))+" stub bytes")
		}
		m = c.newMessage(p, start)
		m.cost = cost
		if p.Flags&flagLastFrag == 0 {
			if c.responses == nil {
				c.responses = make(map[uint32]*Message)
			}
			c.responses[p.CallID] = m
		}
	}
	c.appendStub(m, p.Stub, last)
	mergeSeal(m, p)
	if p.Flags&flagLastFrag == 0 {
		return
	}
	m.Complete = true
	if c.lostTail {
		c.hurt(m)
		m.StatusLost = true
	}
	delete(c.responses, p.CallID)
	call := c.takeCall(p.CallID)
	if call == nil {
		c.release(m)
		c.cutAnomaly(ClientToServer, AnomalyOrphanResponse, start, "response to call "+itoa(int(p.CallID))+" whose request is not in the capture")
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
	c.release(c.responses[p.CallID])
	delete(c.responses, p.CallID)
	call := c.takeCall(p.CallID)
	if call == nil {
		c.cutAnomaly(ClientToServer, AnomalyOrphanFault, start, "fault for call "+itoa(int(p.CallID))+" whose request is not in the capture")
		return
	}
	call.Fault = &Fault{Pos: start, Status: p.Status}
	c.emit(call)
}

func (c *Conn) emit(call *Call) {
	c.release(call.Request)
	c.release(call.Response)
	c.h.Call(call)
}

// damage marks the messages being reassembled in dir: bytes of the stream
// were lost, so their stubs may miss bytes.
func (c *Conn) damage(dir Dir) {
	if dir == ClientToServer {
		for _, call := range c.inflight {
			c.hurt(call.Request)
		}
		return
	}
	for _, m := range c.responses {
		c.hurt(m)
	}
}

// hurt marks m damaged by the gap being handled, and cut when the snap
// length made it (Cut).
func (c *Conn) hurt(m *Message) {
	m.Damaged = true
	m.Cut = m.Cut || c.cut
}

// partial records the start of a request or response PDU whose rest was lost
// to a gap (b holds its first bytes, header included), so that the call is
// still paired and counted: its stub is marked damaged and, when the PDU was
// the last fragment, its return value lost.
func (c *Conn) partial(dir Dir, h Header, b []byte, start, last Pos) {
	switch h.PType {
	case PTypeBind, PTypeAlter, PTypeBindAck, PTypeAlterResp, PTypeAuth3:
		c.partialBind(dir, h, b, start, last)
		return
	}
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
	if h.AuthLen > 0 {
		// The sec_trailer says whether the stub is sealed. When the gap
		// took it, take the level of the connection's last trailer, or of
		// its only security context; failing both, treat the stub as
		// sealed rather than decode what may be ciphertext.
		t := int(h.FragLen) - int(h.AuthLen) - secTrailerLen
		switch {
		case t >= hdrEnd && t+secTrailerLen <= len(b):
			p.auth = AuthTrailer{Type: b[t], Level: b[t+1], PadLen: b[t+2], ContextID: o.Uint32(b[t+4:])}
		case c.lastAuth.Level != 0:
			p.auth = c.lastAuth
		case len(c.sec) == 1 && c.lastSec != nil && c.lastSec.Level != 0:
			p.auth = AuthTrailer{Type: c.lastSec.AuthType, Level: c.lastSec.Level, ContextID: c.lastSec.ContextID}
		default:
			p.auth = AuthTrailer{Level: LevelPrivacy}
		}
		p.Auth = &p.auth
		c.lost(dir, h, p.Auth, hdrEnd)
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
			c.hurt(call.Request)
		} else if call := c.waiting[h.CallID]; call != nil {
			c.hurt(call.Request)
		}
	} else if h.PType == PTypeResponse && dir == ServerToClient {
		if m := c.responses[h.CallID]; m != nil {
			c.hurt(m)
		}
		c.lostTail = h.Flags&flagLastFrag != 0
		c.response(p, start, last)
		c.lostTail = false
	}
}

// partialBind uses what a gap left of a bind, alter_context, their answers or
// auth3 (a snap length cuts them when they carry a large NTLM token): the
// presentation contexts or results, when they were captured whole, so that
// the calls on the connection keep their interface. The auth trailer is lost;
// the connection is then known to be authenticated, by an unknown mechanism.
func (c *Conn) partialBind(dir Dir, h Header, b []byte, start, last Pos) {
	if len(b) < HeaderLen || int(h.FragLen) <= len(b) {
		return
	}
	if h.PType != PTypeAuth3 && len(b) >= minFragLen(h.PType) {
		// Parse the captured bytes as a PDU that ends there, without
		// its auth trailer.
		cp := append([]byte(nil), b...)
		o := order(h.LittleEndian())
		o.PutUint16(cp[8:], uint16(len(cp)))
		o.PutUint16(cp[10:], 0)
		// Keep the presentation contexts (or results) that were captured
		// whole: lower the count byte until the list fits.
		at := 24 // p_context_elem count of a bind or alter_context
		if h.PType == PTypeBindAck || h.PType == PTypeAlterResp {
			at = (26 + int(o.Uint16(cp[24:])) + 3) &^ 3
		}
		for at < len(cp) {
			if _, err := ParsePDU(cp); err == nil {
				c.pdu(dir, cp, start, last)
				break
			}
			if cp[at] == 0 {
				break
			}
			cp[at]--
		}
	}
	if h.AuthLen > 0 && len(c.sec) == 0 {
		// The security context's id, type and level were in the lost
		// trailer. Its later trailers replace these zero values.
		c.sec = map[uint32]*secCtx{0: {Security: Security{Authenticated: true}, idx: 1}}
		cost, _ := c.hold(CostSecContext) // one per connection: kept even over the budget
		c.fixed += cost
		c.lastSec = c.sec[0]
		c.secs = append(c.secs[:0], c.lastSec)
	}
	if h.AuthLen > 0 && c.cut {
		// A token of the handshake was cut by the snap length: the
		// context it builds (the last one a bind-type PDU named) is
		// authenticated, by a user the capture may not name, with keys
		// it may not give. A user already named stays.
		if s := c.lastSec; s != nil && !s.Anonymous {
			s.Cut = true
		}
	}
}

func sortedIDs[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Close ends the connection: calls still waiting for an answer, or still in
// reassembly, are delivered unanswered, in the order of their requests.
func (c *Conn) Close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.state == stateRPC {
		// What the connection's end left unfinished: a PDU whose
		// frag_length runs past the last byte, request or response
		// fragments that never got their last fragment.
		for dir := range c.dirs {
			d := &c.dirs[dir]
			if len(d.buf) == 0 || d.scanning {
				continue
			}
			detail := itoa(len(d.buf)) + " bytes of a PDU at the end of the connection"
			if h, err := ParseHeader(d.buf); err == nil {
				detail = PTypeName(h.PType) + " PDU of frag_length " + itoa(int(h.FragLen)) + " ends after " + itoa(len(d.buf)) + " bytes, with the connection"
			}
			c.cutAnomaly(Dir(dir), AnomalyIncompletePDU, d.posAt(d.base), detail)
		}
		// In call_id order, so that the first one reported is stable.
		for _, id := range sortedIDs(c.inflight) {
			c.cutAnomaly(ClientToServer, AnomalyIncompleteRequest, c.inflight[id].Request.Pos, "request of call "+itoa(int(id))+" never got its last fragment")
		}
		for _, id := range sortedIDs(c.responses) {
			c.cutAnomaly(ServerToClient, AnomalyIncompleteResponse, c.responses[id].Pos, "response of call "+itoa(int(id))+" never got its last fragment")
		}
	}
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
	for _, m := range c.responses {
		c.release(m)
	}
	for _, pb := range c.binds {
		c.unhold(pb.cost)
	}
	c.unhold(c.fixed)
	c.fixed = 0
	c.inflight, c.waiting, c.responses, c.binds = nil, nil, nil, nil
	for i := range c.dirs {
		d := &c.dirs[i]
		d.giveBack()
		c.charge(d) // gives back what it held
	}
	c.dirs = [2]dirState{}
}
