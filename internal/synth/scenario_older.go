package synth

import (
	"fmt"
	"time"
)

// Scenarios of a second security context added by alter_context (impacket
// style), and of connections older than the capture.

// Evidence names of Call.InferredFrom (nspicap's calls rows: inferred_from).
const (
	FromEPM           = "epm"
	FromBindElsewhere = "bind_elsewhere"
	FromHandle        = "handle"
	FromStubShape     = "stub_shape"
)

// impacketAuthCtx is the auth_context_id impacket gives the security
// context of presentation context 0 (79231 + the context id).
const impacketAuthCtx = 79231

func alterNTLMScenario() Scenario {
	return Scenario{Name: "alter-context-ntlm", File: "alter-context-ntlm.pcap", Format: FormatPcap,
		Description: "impacket style, at connect level without verifiers on requests: CONTOSO\\alice binds NSPI (context 0, NTLM, auth_context_id 79231), NspiBind, NspiQueryRows; alter_context adds RFR as context 1 with its own NTLM handshake (alter_context NEGOTIATE, alter_context_resp CHALLENGE, auth3 AUTHENTICATE) as CONTOSO\\bob under auth_context_id 79232; RfrGetNewDSA on context 1, then NSPI calls on context 0 and RfrGetNewDSA again, NspiUnbind, FIN.",
		Expected:    "One clean CONTOSO\\alice NSPI session: every NSPI call carries alice, both RfrGetNewDSA carry bob (each request runs in the security context of its presentation context).",
		build:       buildAlterNTLM}
}

func buildAlterNTLM(e *env) {
	cn := e.conn(client(112), NSPIPort)
	r := e.c.NewRPC(cn, 1)
	r.Bind(BindSpec{Auth: AuthNTLM, Creds: Alice, Target: DC01, NewAssoc: e.assoc(), SecAddr: fmt.Sprint(NSPIPort),
		AuthContextID: impacketAuthCtx})
	r.NoVerifier = true
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(40 * time.Millisecond)
	r.AlterContextNTLM([]ContextElem{{ID: 1, Abstract: SyntaxRFR, Transfer: []SyntaxID{SyntaxNDR}}}, Bob, DC01, impacketAuthCtx+1)
	r.RfrGetNewDSA(1, dnOf(Bob), "dc01.contoso.example")
	r.NspiQueryRows(h, 0, 0)
	r.NspiGetPropList(h, 0x1a2, 0)
	r.RfrGetNewDSA(1, dnOf(Bob), "dc01.contoso.example")
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

// EcDoConnectExReq is an EcDoConnectEx request stub (notes §3.2): the
// EcDoConnect fields, then rgbAuxIn (a conformant array), cbAuxIn and
// pcbAuxOut.
func EcDoConnectExReq(be bool, userDN string, auxIn []byte) []byte {
	e := NewNDR(be)
	e.B = append(e.B, EcDoConnectReq(be, userDN)...)
	e.U32(uint32(len(auxIn)))
	e.Raw(auxIn)
	e.Align(4)
	e.U32(uint32(len(auxIn))) // cbAuxIn
	e.U32(0x1008)             // pcbAuxOut
	return e.B
}

// EcDoConnectExResp is an EcDoConnectEx response stub (notes §3.3): the
// EcDoConnect fields up to pulTimeStamp, rgbAuxOut (conformant varying),
// pcbAuxOut, then the return value.
func EcDoConnectExResp(be bool, h Handle, status uint32, display string, auxOut []byte) []byte {
	b := EcDoConnectResp(be, h, status, display)
	e := NewNDR(be)
	e.B = append(e.B, b[:len(b)-4]...) // without the return value
	e.U32(uint32(len(auxOut)))         // max_count
	e.U32(0)                           // offset
	e.U32(uint32(len(auxOut)))         // actual_count
	e.Raw(auxOut)
	e.Align(4)
	e.U32(uint32(len(auxOut))) // pcbAuxOut
	e.U32(status)
	return e.B
}

// EcDoConnectEx calls EcDoConnectEx on context ctx and returns the CXH (zero
// when refused).
func (r *RPC) EcDoConnectEx(ctx uint16, userDN, display string, status uint32) Handle {
	be := r.be()
	var h Handle
	if status == 0 {
		h = r.cap.NewHandle()
	}
	r.Call(CallSpec{Ctx: ctx, Opnum: 10, Op: "EcDoConnectEx", Handle: h,
		Req:  EcDoConnectExReq(be, userDN, r.cap.RandBytes(52)),
		Resp: EcDoConnectExResp(be, h, status, display, r.cap.RandBytes(24))})
	return h
}

// EcDoRpcExt2 calls EcDoRpcExt2 (opnum 11) on context ctx with the CXH h: a
// ROP buffer in, one out (MS-OXCRPC 3.1.4.2).
func (r *RPC) EcDoRpcExt2(ctx uint16, h Handle) Call {
	be := r.be()
	rop := r.cap.RandBytes(40)
	req := NewNDR(be)
	req.Handle(h)
	req.U32(0) // pulFlags
	req.U32(uint32(len(rop)))
	req.Raw(rop) // rgbIn
	req.Align(4)
	req.U32(uint32(len(rop))) // cbIn
	req.U32(0x40000)          // pcbOut
	req.U32(0)                // rgbAuxIn: empty
	req.U32(0)                // cbAuxIn
	req.U32(0x1008)           // pcbAuxOut
	out := r.cap.RandBytes(64)
	resp := NewNDR(be)
	resp.Handle(h)
	resp.U32(0) // pulFlags
	resp.U32(uint32(len(out)))
	resp.U32(0)
	resp.U32(uint32(len(out)))
	resp.Raw(out) // rgbOut
	resp.Align(4)
	resp.U32(uint32(len(out))) // pcbOut
	resp.U32(0)                // rgbAuxOut: empty
	resp.U32(0)
	resp.U32(0)
	resp.U32(0)  // pcbAuxOut
	resp.U32(15) // pulTransTime
	resp.U32(0)
	return r.Call(CallSpec{Ctx: ctx, Opnum: 11, Op: "EcDoRpcExt2", Handle: h, Req: req.B, Resp: resp.B})
}

// Where the endpoint mapper's answers are in an older-* capture.
const (
	epmBefore = iota
	epmAfter
	epmAbsent
)

func olderScenario(name string, where int) Scenario {
	var desc, want string
	switch where {
	case epmBefore:
		desc = "The capture starts while Outlook on 192.0.2.70 holds connections bound before it (no SYN, no bind, no NTLM in the capture): NSPI on 198.51.100.10:4997 (NspiBind done before), RFR on the same port, EMSMDB on 198.51.100.20:59531 (EcDoConnectEx done before). First, 192.0.2.71 asks both endpoint mappers: ept_map NSPI and RFR -> 198.51.100.10:4997, EMSMDB -> 198.51.100.20:59531. Then, on the old connections: NspiQueryRows, NspiGetPropList, NspiUpdateStat; RfrGetNewDSA; EcDoRpcExt2 and EcDummyRpc. 192.0.2.72 binds NSPI on a new connection (CONTOSO\\ivan) and NspiBind returns a handle, which its old connection in the same association group then uses (NspiQueryRows)."
		want = "The old connections' calls are classified: NSPI and EMSMDB by epm; RfrGetNewDSA by stub_shape (RFR shares NSPI's endpoint: the endpoint mapper names both); 192.0.2.72's old connection by handle. Each is marked interface_inferred with inferred_from."
	case epmAfter:
		desc = "As older-epm-before, except that the endpoint mappers are asked only after the old connections' calls, and that 192.0.2.72 has no old connection: the calls of the old NSPI, RFR and EMSMDB connections of 192.0.2.70 come first, the ept_map answers later."
		want = "The old connections' calls wait for the ept_map answers and are then classified: NSPI and EMSMDB by epm, RfrGetNewDSA by stub_shape; the order of events is the capture's."
	default:
		desc = "As older-epm-after without any endpoint mapper and without a connection that binds: only the old connections of 192.0.2.70 (NspiQueryRows, NspiGetPropList, NspiUpdateStat on NSPI; EcDoRpcExt2, EcDummyRpc on EMSMDB), none of whose calls has a shape of its own."
		want = "Nothing is guessed: every call is listed with interface unknown, and no NSPI or store session is counted."
	}
	return Scenario{Name: name, File: name + ".pcap", Format: FormatPcap, Description: desc, Expected: want,
		Notes:      []string{"tshark cannot name the interface of a connection whose bind is not in the capture; tshark_args makes it decode both ports as DCE/RPC, so that requests and opnums can be compared frame by frame."},
		TsharkArgs: []string{"-d", fmt.Sprintf("tcp.port==%d,dcerpc", NSPIPort), "-d", fmt.Sprintf("tcp.port==%d,dcerpc", EMSMDBPort)},
		build:      func(e *env) { buildOlder(e, where) }}
}

func buildOlder(e *env, where int) {
	a := client(70)
	ev := map[int]string{epmBefore: FromEPM, epmAfter: FromEPM}[where]
	shape := map[int]string{epmBefore: FromStubShape, epmAfter: FromStubShape}[where]

	// Before the capture: the old connections are opened and bound.
	e.c.Recording = false
	e.c.now = Start.Add(-30 * time.Minute)
	rn := e.nspiConn(a, AuthNTLM, Alice)
	hn := rn.NspiBind(BindResult{ClientGUID: &UUID{}})
	rn.Inferred = ev
	var rr *RPC
	if where != epmAbsent {
		cn := e.conn(a, NSPIPort)
		rr = e.c.NewRPC(cn, 1)
		rr.Bind(BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxRFR, Transfer: []SyntaxID{SyntaxNDR}}},
			Auth: AuthNTLM, Creds: Alice, Target: DC01, NewAssoc: e.assoc(), SecAddr: fmt.Sprint(NSPIPort)})
		rr.Inferred = shape
	}
	e.server = MailboxV4
	rm := e.emsmdbConn(a, Alice)
	hm := rm.EcDoConnectEx(0, dnOf(Alice), "Alice", 0)
	rm.Inferred = ev
	e.server = ServerV4
	var ro *RPC
	if where == epmBefore {
		ro = e.nspiConn(client(72), AuthNTLM, Ivan)
		ro.NspiBind(BindResult{ClientGUID: &UUID{}})
		ro.Inferred = FromHandle
	}

	e.c.Recording = true
	e.c.now = Start
	rn.C.Ack(S2C)
	mappers := func() {
		ep := e.epmConn(client(71))
		ep.EptMap(SyntaxNSPI, e.server, NSPIPort)
		ep.EptMap(SyntaxRFR, e.server, NSPIPort)
		ep.C.CloseFIN(C2S)
		e.server = MailboxV4
		ep = e.epmConn(client(71))
		ep.EptMap(SyntaxEMSMDB, e.server, EMSMDBPort)
		ep.C.CloseFIN(C2S)
		e.server = ServerV4
		e.c.Advance(50 * time.Millisecond)
	}
	if where == epmBefore {
		mappers()
	}
	e.c.Advance(time.Second)
	rn.NspiQueryRows(hn, 0, 0)
	rm.EcDoRpcExt2(0, hm)
	if rr != nil {
		rr.RfrGetNewDSA(0, dnOf(Alice), "dc01.contoso.example")
	}
	rn.NspiGetPropList(hn, 0x1a2, 0)
	e.c.Advance(2 * time.Second)
	rm.EcDummyRpc(0, false)
	rn.NspiUpdateStat(hn, 0)
	rm.EcDoRpcExt2(0, hm)
	if ro != nil {
		// ivan's client binds on a new connection of the same group and
		// uses the handle on its old one.
		rb := e.nspiConn(client(72), AuthNTLM, Ivan)
		hb := rb.NspiBind(BindResult{ClientGUID: &UUID{}})
		ro.NspiQueryRows(hb, 0, 0)
		rb.NspiUnbind(hb, StatusUnbindSuccess)
		rb.C.CloseFIN(C2S)
	}
	if where == epmAfter {
		e.c.Advance(3 * time.Second)
		mappers()
	}
	e.c.Advance(time.Second)
	rn.NspiQueryRows(hn, 0, 0)
	rm.EcDoRpcExt2(0, hm)
}
