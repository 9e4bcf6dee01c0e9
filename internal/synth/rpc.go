package synth

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Auth kinds recorded in the manifest.
const (
	AuthNone       = "none"
	AuthNTLM       = "ntlm"
	AuthNTLMAnon   = "ntlm-anonymous"
	AuthSPNEGONTLM = "spnego-ntlm"
	AuthKerberos   = "kerberos"
	AuthUnknown    = "unknown"
)

// RPC is a DCE/RPC association on one TCP connection.
type RPC struct {
	C       *Conn
	cap     *Capture
	Drep    byte
	CallID  uint32
	MaxXmit int
	Assoc   uint32
	Auth    string
	User    string
	// KDCUser: the calls' user (user@REALM) is named by a KDC reply of
	// the capture (a pipe of a Kerberos SMB session; manifest KDCNamed),
	// complete in frame KDCFrame.
	KDCUser  string
	KDCFrame int
	authType uint8
	authCtx  uint32
	verifier bool // NTLM connect-level verifier on requests/responses
	ifaces   map[uint16]string
	// ctxUsers: the user of presentation contexts added by
	// AlterContextNTLM (their own security context).
	ctxUsers map[uint16]string
	// Inferred: the evidence the manifest expects nspicap to classify the
	// calls by, when the bind is not in the capture (Call.InferredFrom).
	Inferred string
	// NoVerifier: requests and responses carry no auth verifier at
	// connect level, as impacket sends them (Windows puts a 16-byte NTLM
	// verifier on each).
	NoVerifier bool
	// BindSeen: the bind is in the capture, so tshark knows the interfaces.
	BindSeen bool
	// ReqPlan/RespPlan, when set, segment the next request/response PDUs
	// (all fragments concatenated); they are cleared after use.
	ReqPlan, RespPlan func(n int) []Seg
	// ProcTime is the server's think time before a response.
	ProcTime time.Duration
	// NoClientAck suppresses the client's pure ACK after each response.
	NoClientAck bool
	// Pipe, when set, carries the PDUs over an SMB named pipe on C
	// instead of straight on the TCP connection (smb.go).
	Pipe *SMBPipe
	// HTTP, when set, carries the requests on its IN channel and the
	// answers on its OUT channel (rpch.go).
	HTTP *HTTPVC
	seal *sealState // NTLM privacy after SealedBind (seal.go)
	krb  *krbState  // Kerberos after KerberosBind (seal_kerberos.go)
}

// NewRPC wraps a connection. callID is the first call_id (Windows starts
// at 1, or continues the association's numbering on later connections).
func (c *Capture) NewRPC(cn *Conn, callID uint32) *RPC {
	return &RPC{C: cn, cap: c, Drep: DrepLE, CallID: callID, MaxXmit: 5840, Auth: AuthNone,
		ifaces: map[uint16]string{}, ProcTime: 1200 * time.Microsecond}
}

func (r *RPC) be() bool { return r.Drep == DrepBE }

// Iface names an interface for the manifest.
func ifaceName(s SyntaxID) string {
	switch s.UUID {
	case NSPIUUID:
		return "nspi"
	case RFRUUID:
		return "rfr"
	case EPMUUID:
		return "epm"
	case EMSMDBUUID:
		return "emsmdb"
	case SAMRUUID:
		return "samr"
	case LSARPCUUID:
		return "lsarpc"
	case SyntaxDSSP.UUID:
		return s.UUID.String() // outside nspicap's table: named by its UUID
	}
	return "unknown"
}

// BindSpec describes a bind (and its authentication legs).
type BindSpec struct {
	// Contexts offered; nil = one NSPI/NDR context (Outlook 2003 style).
	Contexts []ContextElem
	// Results returned; nil = accept NDR, reject NDR64 (reason 2),
	// negotiate_ack for BTFN (reason = mask 3).
	Results []Result
	Auth    string // AuthNone, AuthNTLM, AuthNTLMAnon, AuthSPNEGONTLM, AuthKerberos
	Creds   Creds
	Target  Target
	// Assoc is the group to join (0 = new); NewAssoc the id the server
	// assigns when Assoc is 0.
	Assoc, NewAssoc uint32
	MaxXmit         int // both max_xmit_frag and max_recv_frag; 0 = 5840
	Flags           uint8
	SecAddr         string // server port as text, e.g. "4997"
	PadByte         byte   // bind_ack alignment pad content
	// AuthContextID, when not 0, is the auth_context_id of the security
	// context (impacket: 79231 + the presentation context id); 0 draws
	// one.
	AuthContextID uint32
}

// WindowsContexts returns the three contexts a modern Windows client offers
// for one interface (NDR, NDR64, BTFN), with ids from first.
func WindowsContexts(iface SyntaxID, first uint16) []ContextElem {
	return []ContextElem{
		{ID: first, Abstract: iface, Transfer: []SyntaxID{SyntaxNDR}},
		{ID: first + 1, Abstract: iface, Transfer: []SyntaxID{SyntaxNDR64}},
		{ID: first + 2, Abstract: iface, Transfer: []SyntaxID{SyntaxBTFN3}},
	}
}

// defaults returns the contexts, results and fragment size of the bind, with
// the defaults of BindSpec for those it leaves zero.
func (b BindSpec) defaults() (ctxs []ContextElem, results []Result, maxX int) {
	ctxs, results, maxX = b.Contexts, b.Results, b.MaxXmit
	if ctxs == nil {
		ctxs = []ContextElem{{ID: 0, Abstract: SyntaxNSPI, Transfer: []SyntaxID{SyntaxNDR}}}
	}
	if results == nil {
		results = defaultResults(ctxs)
	}
	if maxX == 0 {
		maxX = 5840
	}
	return ctxs, results, maxX
}

func defaultResults(ctxs []ContextElem) []Result {
	var rs []Result
	for _, c := range ctxs {
		switch c.Transfer[0].UUID {
		case NDRUUID:
			rs = append(rs, Result{Result: 0, Transfer: SyntaxNDR})
		case BTFN3UUID:
			rs = append(rs, Result{Result: 3, Reason: 3})
		default:
			rs = append(rs, Result{Result: 2, Reason: 2})
		}
	}
	return rs
}

func (r *RPC) sendPDUs(d Dir, pdus [][]byte, plan func(n int) []Seg) (start, end uint64) {
	if r.Pipe != nil {
		return r.Pipe.sendPDUs(d, pdus)
	}
	if r.HTTP != nil {
		if d == C2S {
			r.C = r.HTTP.In // the IN channel may have been recycled
		}
		return r.HTTP.send(d, pdus)
	}
	if plan != nil {
		var all []byte
		for _, p := range pdus {
			all = append(all, p...)
		}
		return r.C.SendPlan(d, all, plan(len(all)))
	}
	for i, p := range pdus {
		s, e := r.C.Send(d, p)
		if i == 0 {
			start = s
		}
		end = e
	}
	return start, end
}

func (r *RPC) think() {
	r.cap.Advance(r.ProcTime)
}

// Bind performs bind/bind_ack and the authentication legs.
func (r *RPC) Bind(b BindSpec) {
	c := r.cap
	ctxs, results, maxX := b.defaults()
	flags := b.Flags
	if flags == 0 {
		flags = FlagFirst | FlagLast
	}
	assoc := b.Assoc
	if assoc == 0 {
		assoc = b.NewAssoc
	}
	r.Assoc = assoc
	r.MaxXmit = maxX
	r.Auth = b.Auth
	r.User = b.Creds.Name()
	if b.Auth == AuthKerberos {
		r.User = ""
	}
	r.BindSeen = c.Recording
	for i, ctx := range ctxs {
		if results[i].Result == 0 {
			r.ifaces[ctx.ID] = ifaceName(ctx.Abstract)
		}
	}
	r.authCtx = 0
	switch {
	case b.Auth != AuthNone && b.AuthContextID != 0:
		r.authCtx = b.AuthContextID
	case b.Auth != AuthNone:
		r.authCtx = 0x00010000 | uint32(c.rng.IntN(0xffff))
	}
	ts := uint64(c.now.Unix()+11644473600)*10_000_000 + uint64(c.now.Nanosecond()/100) // FILETIME
	var chal [8]byte
	copy(chal[:], c.RandBytes(8))
	var cc [8]byte
	copy(cc[:], c.RandBytes(8))
	verif := func(t uint8, val []byte) *Verifier {
		return &Verifier{Type: t, Level: AuthLevelConnect, ContextID: r.authCtx, Value: val}
	}
	var bindV, ackV, legV, legRespV *Verifier
	legType := uint8(0) // 0 none, PTAuth3 or PTAlterContext
	switch b.Auth {
	case AuthNTLM, AuthNTLMAnon:
		r.authType = AuthTypeNTLM
		r.verifier = true
		bindV = verif(AuthTypeNTLM, NTLMNegotiate(NTLMNegotiateFlags))
		ackV = verif(AuthTypeNTLM, NTLMChallenge(NTLMChallengeFlags, b.Target, chal, ts))
		legV = verif(AuthTypeNTLM, NTLMAuthenticate(b.Creds, b.Target, ts, cc, c.RandBytes))
		legType = PTAuth3
	case AuthSPNEGONTLM:
		r.authType = AuthTypeSPNEGO
		bindV = verif(AuthTypeSPNEGO, SPNEGOInit([][]byte{OIDNTLM}, NTLMNegotiate(NTLMNegotiateFlags)))
		ackV = verif(AuthTypeSPNEGO, SPNEGOResp(NegAcceptIncomplete, OIDNTLM,
			NTLMChallenge(NTLMChallengeFlags, b.Target, chal, ts), nil))
		mic := append([]byte{1, 0, 0, 0}, c.RandBytes(8)...)
		mic = append(mic, 0, 0, 0, 0)
		legV = verif(AuthTypeSPNEGO, SPNEGOResp(-1, nil, NTLMAuthenticate(b.Creds, b.Target, ts, cc, c.RandBytes), mic))
		smic := append([]byte{1, 0, 0, 0}, c.RandBytes(8)...)
		smic = append(smic, 0, 0, 0, 0)
		legRespV = verif(AuthTypeSPNEGO, SPNEGOResp(NegAcceptCompleted, nil, nil, smic))
		legType = PTAlterContext
	case AuthKerberos:
		r.authType = AuthTypeSPNEGO
		realm := upper(b.Target.DNSDomain)
		bindV = verif(AuthTypeSPNEGO, SPNEGOInit([][]byte{OIDMSKRB5, OIDKRB5, OIDNEGOEX, OIDNTLM},
			KerberosAPReq(realm, "exchangeAB", b.Target.DNSHost, c.RandBytes(1100), c.RandBytes(180))))
		ackV = verif(AuthTypeSPNEGO, SPNEGOResp(NegAcceptIncomplete, OIDMSKRB5, KerberosAPRep(c.RandBytes(120)), nil))
		legV = verif(AuthTypeSPNEGO, SPNEGOResp(-1, nil, KerberosAPRep(c.RandBytes(104)), nil))
		legRespV = verif(AuthTypeSPNEGO, SPNEGOResp(NegAcceptCompleted, nil, nil, KerberosGetMIC(0, c.RandBytes(12))))
		legType = PTAlterContext
	}
	bind := EncodePDU(r.Drep, PTBind, flags, r.CallID, BindBody(r.Drep, uint16(maxX), uint16(maxX), b.Assoc, ctxs), bindV)
	r.sendPDUs(C2S, [][]byte{bind}, r.takeReq())
	r.think()
	ack := EncodePDU(r.Drep, PTBindAck, flags, r.CallID,
		BindAckBody(r.Drep, uint16(maxX), uint16(maxX), assoc, b.SecAddr, b.PadByte, results), ackV)
	r.sendPDUs(S2C, [][]byte{ack}, r.takeResp())
	switch legType {
	case PTAuth3:
		c.Advance(150 * time.Microsecond)
		var pad [4]byte
		copy(pad[:], c.RandBytes(4))
		a3 := EncodePDU(r.Drep, PTAuth3, flags, r.CallID, Auth3Body(pad), legV)
		r.sendPDUs(C2S, [][]byte{a3}, r.takeReq())
	case PTAlterContext:
		c.Advance(150 * time.Microsecond)
		alt := EncodePDU(r.Drep, PTAlterContext, flags, r.CallID, BindBody(r.Drep, uint16(maxX), uint16(maxX), assoc, ctxs), legV)
		r.sendPDUs(C2S, [][]byte{alt}, r.takeReq())
		r.think()
		resp := EncodePDU(r.Drep, PTAlterResp, flags, r.CallID,
			BindAckBody(r.Drep, uint16(maxX), uint16(maxX), assoc, "", 0, results), legRespV)
		r.sendPDUs(S2C, [][]byte{resp}, r.takeResp())
	}
}

// AlterContext adds presentation contexts (no authentication token).
func (r *RPC) AlterContext(ctxs []ContextElem, results []Result) {
	if results == nil {
		results = defaultResults(ctxs)
	}
	for i, ctx := range ctxs {
		if results[i].Result == 0 {
			r.ifaces[ctx.ID] = ifaceName(ctx.Abstract)
		}
	}
	alt := EncodePDU(r.Drep, PTAlterContext, FlagFirst|FlagLast, r.CallID,
		BindBody(r.Drep, uint16(r.MaxXmit), uint16(r.MaxXmit), r.Assoc, ctxs), nil)
	r.sendPDUs(C2S, [][]byte{alt}, r.takeReq())
	r.think()
	resp := EncodePDU(r.Drep, PTAlterResp, FlagFirst|FlagLast, r.CallID,
		BindAckBody(r.Drep, uint16(r.MaxXmit), uint16(r.MaxXmit), r.Assoc, "", 0, results), nil)
	r.sendPDUs(S2C, [][]byte{resp}, r.takeResp())
}

// AlterContextNTLM adds presentation contexts with an alter_context that
// carries a new NTLM handshake under its own auth_context_id (a second
// security context on the connection, as impacket's DCERPC_v5.alter_ctx
// makes one): alter_context with NEGOTIATE, alter_context_resp with
// CHALLENGE, auth3 with AUTHENTICATE, all at connect level. Calls on the new
// contexts are recorded with cr's user.
func (r *RPC) AlterContextNTLM(ctxs []ContextElem, cr Creds, t Target, authCtx uint32) {
	c := r.cap
	results := defaultResults(ctxs)
	if r.ctxUsers == nil {
		r.ctxUsers = map[uint16]string{}
	}
	for i, ctx := range ctxs {
		if results[i].Result == 0 {
			r.ifaces[ctx.ID] = ifaceName(ctx.Abstract)
			r.ctxUsers[ctx.ID] = cr.Name()
		}
	}
	ts := uint64(c.now.Unix()+11644473600)*10_000_000 + uint64(c.now.Nanosecond()/100) // FILETIME
	var chal, cc [8]byte
	copy(chal[:], c.RandBytes(8))
	copy(cc[:], c.RandBytes(8))
	verif := func(val []byte) *Verifier {
		return &Verifier{Type: AuthTypeNTLM, Level: AuthLevelConnect, ContextID: authCtx, Value: val}
	}
	alt := EncodePDU(r.Drep, PTAlterContext, FlagFirst|FlagLast, r.CallID,
		BindBody(r.Drep, uint16(r.MaxXmit), uint16(r.MaxXmit), r.Assoc, ctxs), verif(NTLMNegotiate(NTLMNegotiateFlags)))
	r.sendPDUs(C2S, [][]byte{alt}, r.takeReq())
	r.think()
	resp := EncodePDU(r.Drep, PTAlterResp, FlagFirst|FlagLast, r.CallID,
		BindAckBody(r.Drep, uint16(r.MaxXmit), uint16(r.MaxXmit), r.Assoc, "", 0, results), verif(NTLMChallenge(NTLMChallengeFlags, t, chal, ts)))
	r.sendPDUs(S2C, [][]byte{resp}, r.takeResp())
	c.Advance(150 * time.Microsecond)
	var pad [4]byte
	copy(pad[:], c.RandBytes(4))
	a3 := EncodePDU(r.Drep, PTAuth3, FlagFirst|FlagLast, r.CallID, Auth3Body(pad), verif(NTLMAuthenticate(cr, t, ts, cc, c.RandBytes)))
	r.sendPDUs(C2S, [][]byte{a3}, r.takeReq())
}

func (r *RPC) takeReq() func(int) []Seg {
	p := r.ReqPlan
	r.ReqPlan = nil
	return p
}

func (r *RPC) takeResp() func(int) []Seg {
	p := r.RespPlan
	r.RespPlan = nil
	return p
}

// CallSpec is one RPC call.
type CallSpec struct {
	Ctx    uint16
	Opnum  uint16
	Req    []byte
	Resp   []byte // response stub; ignored when Fault != 0
	Fault  uint32
	NoResp bool
	Op     string
	Handle Handle
	Note   string
}

// Call sends a request and its response (or fault) and records it in the
// manifest.
func (r *RPC) Call(s CallSpec) Call {
	c := r.cap
	opts := CallPDUOpts{Drep: r.Drep, CallID: r.CallID, ContextID: s.Ctx, Opnum: s.Opnum, MaxFrag: r.MaxXmit}
	if r.verifier && !r.NoVerifier {
		opts.Auth = &Verifier{Type: r.authType, Level: r.authLevel(), ContextID: r.authCtx, Value: ConnectVerifier()}
		padSeed := c.rng.Uint32()
		opts.PadByte = func(f, i int) byte { return byte(padSeed >> (8 * uint(i%4))) }
	} else if r.krb != nil {
		// Drawn for the unsealed twin too, which has no verifier (Kerberos
		// at connect level puts none on requests and responses).
		padSeed := c.rng.Uint32()
		if r.krb.sealed {
			opts.Auth = &Verifier{Type: r.authType, Level: AuthLevelPrivacy, ContextID: r.authCtx, Value: make([]byte, r.krb.tokenLen())}
			opts.PadByte = func(f, i int) byte { return byte(padSeed >> (8 * uint(i%4))) }
		}
	}
	reqs := r.protect(C2S, RequestPDUs(opts, s.Req))
	rs, re := r.sendPDUs(C2S, reqs, r.takeReq())
	user := r.User
	if u, ok := r.ctxUsers[s.Ctx]; ok {
		user = u
	}
	call := Call{
		Interface: r.ifaces[s.Ctx], Opnum: s.Opnum, Op: s.Op, User: user, Auth: r.Auth,
		Client: r.C.Client.String(), Server: r.C.Server.String(), AssocGroup: r.Assoc,
		CallID: r.CallID, ContextID: s.Ctx, BigEndian: r.be(),
		RequestFrame: r.C.CompleteFrame(C2S, rs, re), RequestFragments: len(reqs),
		Reply: "none", Note: s.Note, conn: r.C,
	}
	if r.seal != nil {
		call.Sealed = sealedKey
		if r.seal.noKey {
			call.Sealed = sealedNoKey
		}
		if r.seal.anon {
			call.Sealed = sealedAnon
		}
	}
	if r.KDCUser != "" {
		call.KDCNamed, call.KDCUser, call.KDCFrame = true, r.KDCUser, r.KDCFrame
	}
	if r.krb != nil {
		call.Principal = r.krb.principal
		call.KDCNamed, call.KDCUser, call.Via, call.TicketLabel = r.krb.kdcUser != "", r.krb.kdcUser, r.krb.via, r.krb.label
		call.KDCFrame = r.krb.kdcFrame
		if r.krb.sealed {
			call.Sealed = sealedNoKey // no keys file decrypts Kerberos: the keytab does
		}
	}
	if !s.Handle.IsZero() {
		call.Handle = s.Handle.String()
	}
	if call.Interface == "" {
		call.Interface = "unknown"
	}
	if !r.BindSeen {
		call.Auth = AuthUnknown
		call.User = ""
		call.InferredFrom = r.Inferred
	}
	for i, cn := range c.conns {
		if cn == r.C {
			call.Conn = i + 1
		}
	}
	if !s.NoResp {
		r.think()
		var resps [][]byte
		if s.Fault != 0 {
			resps = [][]byte{FaultPDU(r.Drep, r.CallID, s.Ctx, FlagDidNotExec, s.Fault)}
			call.Reply = "fault"
			call.Status = s.Fault
		} else {
			resps = r.protect(S2C, ResponsePDUs(opts, s.Resp))
			call.Reply = "response"
			call.Status = r.order().Uint32(s.Resp[len(s.Resp)-4:])
		}
		ss, se := r.sendPDUs(S2C, resps, r.takeResp())
		call.ReplyFrame = r.replyConn().CompleteFrame(S2C, ss, se)
		call.ReplyFragments = len(resps)
		if !r.NoClientAck {
			c.Advance(180 * time.Microsecond)
			r.replyConn().Ack(C2S)
		}
	}
	call.StatusHex = statusHex(call.Status)
	call.Tshark = r.BindSeen && call.Interface != "unknown" && call.RequestFrame != 0
	if call.RequestFrame == 0 && call.Note == "" {
		call.Note = "request incomplete in the capture (segment missing); only the reply can be decoded"
	}
	if call.Tshark && call.Reply != "none" {
		switch call.Interface {
		case "nspi":
			call.TsharkStatus = call.Reply == "fault" || s.Opnum == OpNspiBind || s.Opnum == OpNspiUnbind ||
				s.Opnum == OpNspiQueryRows || s.Opnum == OpNspiGetSpecialTable
		default:
			call.TsharkStatus = true
		}
	}
	r.CallID++
	if call.RequestFrame != 0 || call.ReplyFrame != 0 {
		if call.Interface == "nspi" {
			c.Manifest.NSPI = append(c.Manifest.NSPI, call)
		} else {
			c.Manifest.Other = append(c.Manifest.Other, call)
		}
	}
	return call
}

func (r *RPC) order() binary.ByteOrder {
	if r.be() {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func upper(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' {
			b[i] = ch - 32
		}
	}
	return string(b)
}

// --- NSPI helpers (context id 0 unless NSPICtx is set) ---

// NSPICtx is the presentation context used for NSPI calls.
func (r *RPC) nspiCtx() uint16 {
	best := -1
	for id, n := range r.ifaces {
		if n == "nspi" && (best < 0 || int(id) < best) {
			best = int(id)
		}
	}
	return uint16(max(best, 0))
}

// BindResult configures an NspiBind reply.
type BindResult struct {
	Status uint32
	// EchoGUID returns the client's GUID on failure (Exchange 2003 quirk,
	// protocol notes §9.1); otherwise a failure returns a NULL pServerGuid.
	EchoGUID bool
	// ClientGUID is the GUID the client sends (nil = NULL pointer).
	ClientGUID *UUID
	Flags      uint32
}

// NspiBind calls NspiBind and returns the handle (zero on failure).
func (r *RPC) NspiBind(br BindResult) Handle {
	be := r.be()
	req := NspiBindReq(be, br.Flags, DefaultSTAT, br.ClientGUID)
	var h Handle
	var resp []byte
	if br.Status == StatusSuccess {
		h = r.cap.NewHandle()
		g := r.cap.serverGUID()
		resp = NspiBindResp(be, &g, h, 0)
	} else if br.EchoGUID && br.ClientGUID != nil {
		resp = NspiBindResp(be, br.ClientGUID, Handle{}, br.Status)
	} else {
		resp = NspiBindResp(be, nil, Handle{}, br.Status)
	}
	r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiBind, Op: "NspiBind", Req: req, Resp: resp, Handle: h})
	return h
}

// NspiUnbind calls NspiUnbind; status is normally StatusUnbindSuccess.
func (r *RPC) NspiUnbind(h Handle, status uint32) Call {
	be := r.be()
	out := Handle{}
	if status != StatusUnbindSuccess {
		out = h
	}
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiUnbind, Op: "NspiUnbind", Handle: h,
		Req: NspiUnbindReq(be, h), Resp: NspiUnbindResp(be, out, status)})
}

// NspiQueryRows calls NspiQueryRows with lpETable NULL and pPropTags =
// DefaultPropTags (a NULL pPropTags is IDL-correct too, but Wireshark's
// older NSPI IDL declares that parameter [ref] and flags NULL as malformed);
// the response carries a NULL ppRows. A non-zero fault makes the server
// answer with a fault PDU instead.
func (r *RPC) NspiQueryRows(h Handle, status, fault uint32) Call {
	be := r.be()
	st := DefaultSTAT
	st.ContainerID = 0
	out := st
	out.CurrentRec = 0x2a1
	out.NumPos = 12
	out.TotalRecs = 340
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiQueryRows, Op: "NspiQueryRows", Handle: h, Fault: fault,
		Req: NspiQueryRowsReq(be, h, 0, st, 50, DefaultPropTags), Resp: NspiQueryRowsResp(be, out, status)})
}

// NspiGetPropList calls NspiGetPropList.
func (r *RPC) NspiGetPropList(h Handle, mid, status uint32) Call {
	be := r.be()
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiGetPropList, Op: "NspiGetPropList", Handle: h,
		Req: NspiGetPropListReq(be, h, 0, mid, 1252), Resp: NspiGetPropListResp(be, status)})
}

// NspiUpdateStat calls NspiUpdateStat.
func (r *RPC) NspiUpdateStat(h Handle, status uint32) Call {
	be := r.be()
	out := DefaultSTAT
	out.NumPos = 3
	out.TotalRecs = 340
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiUpdateStat, Op: "NspiUpdateStat", Handle: h,
		Req: NspiUpdateStatReq(be, h, DefaultSTAT), Resp: NspiUpdateStatResp(be, out, status)})
}

// NspiCompareMIds calls NspiCompareMIds.
func (r *RPC) NspiCompareMIds(h Handle, m1, m2 uint32) Call {
	be := r.be()
	res := int32(0)
	if m1 < m2 {
		res = -1
	} else if m1 > m2 {
		res = 1
	}
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiCompareMIds, Op: "NspiCompareMIds", Handle: h,
		Req: NspiCompareMIdsReq(be, h, DefaultSTAT, m1, m2), Resp: NspiCompareMIdsResp(be, res, 0)})
}

// NspiGetSpecialTable calls NspiGetSpecialTable (hierarchy table).
func (r *RPC) NspiGetSpecialTable(h Handle) Call {
	be := r.be()
	return r.Call(CallSpec{Ctx: r.nspiCtx(), Opnum: OpNspiGetSpecialTable, Op: "NspiGetSpecialTable", Handle: h,
		Req: NspiGetSpecialTableReq(be, h, 0x4, DefaultSTAT, 0), Resp: NspiGetSpecialTableResp(be, 1, 0)})
}

// RfrGetNewDSA calls RfrGetNewDSA on context ctx.
func (r *RPC) RfrGetNewDSA(ctx uint16, userDN, server string) Call {
	be := r.be()
	return r.Call(CallSpec{Ctx: ctx, Opnum: 0, Op: "RfrGetNewDSA",
		Req: RfrGetNewDSAReq(be, userDN), Resp: RfrGetNewDSAResp(be, server, 0)})
}

// EptMap calls ept_map for iface and answers with one tower at addr:port.
func (r *RPC) EptMap(iface SyntaxID, server netip.Addr, port uint16) Call {
	be := r.be()
	req := EptMapReq(be, Tower(iface, 135, netip.IPv4Unspecified()))
	resp := EptMapResp(be, [][]byte{Tower(iface, port, server)}, 0)
	return r.Call(CallSpec{Ctx: 0, Opnum: 3, Op: "ept_map", Req: req, Resp: resp})
}
