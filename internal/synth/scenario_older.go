package synth

import (
	"fmt"
	"time"
)

// Scenarios of issue 17: a second security context added by alter_context
// (impacket style), and connections older than the capture.

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
