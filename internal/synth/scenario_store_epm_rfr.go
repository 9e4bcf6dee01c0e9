package synth

import (
	"fmt"
	"net/netip"
	"time"
)

// Scenarios beyond NSPI: Exchange store sessions (EMSMDB), the
// endpoint mapper, RFR and dead connections.

// EMSMDB interface (MS-OXCRPC): a4f1db00-ca47-1067-b31f-00dd010662da v0.81.
var (
	EMSMDBUUID   = MustUUID("a4f1db00-ca47-1067-b31f-00dd010662da")
	SyntaxEMSMDB = SyntaxID{EMSMDBUUID, 0, 81}
)

// Topology of these scenarios.
var (
	// MailboxV4 is the Exchange mailbox server.
	MailboxV4 = netip.MustParseAddr("198.51.100.20")
	EXCH01    = Target{NbDomain: "CONTOSO", NbHost: "EXCH01", DNSDomain: "contoso.example",
		DNSHost: "exch01.contoso.example", SPN: "exchangeMDB/exch01.contoso.example"}
	SvcArchive = Creds{Domain: "CONTOSO", User: "svc-archive", Workstation: "APP-ARCH01"}
)

// Ports of the Exchange services in these scenarios.
const (
	EMSMDBPort = 59531
	RFRPort    = 59532
)

// EMSMDB status codes (notes §3.5).
const (
	StatusMaxObjsExceeded = 0x000004de
	StatusLoginFailure    = 0x80040111
)

func dnOf(cr Creds) string {
	return "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + cr.User
}

// EcDoConnectReq is an EcDoConnect request stub (notes §3.2).
func EcDoConnectReq(be bool, userDN string) []byte {
	e := NewNDR(be)
	e.CString(userDN)
	e.Align(4)
	e.U32(0)          // ulFlags
	e.U32(0x6f2a1c3d) // ulConMod
	e.U32(0)          // cbLimit
	e.U32(1252)       // ulCpid
	e.U32(0x409)      // ulLcidString
	e.U32(0x409)      // ulLcidSort
	e.U32(0xffffffff) // ulIcxrLink: no session linking
	e.U16(1)          // usFCanConvertCodePages
	e.U16(0x000b)     // rgwClientVersion: Outlook 2003 11.0.8xxx
	e.U16(0x0000)
	e.U16(0x1f5c)
	e.Align(4)
	e.U32(0) // pulTimeStamp
	return e.B
}

// EcDoConnectResp is an EcDoConnect response stub (notes §3.3); on failure
// the CXH is zero and the string pointers are NULL.
func EcDoConnectResp(be bool, h Handle, status uint32, display string) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(60000) // pcmsPollsMax
	e.U32(6)     // pcRetry
	e.U32(10000) // pcmsRetryDelay
	e.U16(0)     // picxr
	e.Align(4)
	if status == 0 {
		e.Ref()
		e.CString("/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)")
		e.Align(4)
		e.Ref()
		e.CString(display)
		e.Align(2)
	} else {
		e.Null()
		e.Null()
	}
	for _, v := range []uint16{6, 5, 0x2f, 0x000b, 0, 0x1f5c} { // rgwServerVersion, rgwBestVersion
		e.U16(v)
	}
	e.Align(4)
	e.U32(0) // pulTimeStamp
	e.U32(status)
	return e.B
}

// EcDoConnect calls EcDoConnect on context ctx and returns the CXH (zero
// when refused).
func (r *RPC) EcDoConnect(ctx uint16, userDN, display string, status uint32) Handle {
	be := r.be()
	var h Handle
	if status == 0 {
		h = r.cap.NewHandle()
	}
	r.Call(CallSpec{Ctx: ctx, Opnum: 0, Op: "EcDoConnect", Handle: h,
		Req: EcDoConnectReq(be, userDN), Resp: EcDoConnectResp(be, h, status, display)})
	return h
}

// EcDoDisconnect calls EcDoDisconnect (the response zeroes the CXH).
func (r *RPC) EcDoDisconnect(ctx uint16, h Handle) Call {
	be := r.be()
	req := NewNDR(be)
	req.Handle(h)
	resp := NewNDR(be)
	resp.Handle(Handle{})
	resp.U32(0)
	return r.Call(CallSpec{Ctx: ctx, Opnum: 1, Op: "EcDoDisconnect", Handle: h, Req: req.B, Resp: resp.B})
}

// EcDummyRpc calls EcDummyRpc (opnum 6: no handle, returns 0), answered
// unless noResp.
func (r *RPC) EcDummyRpc(ctx uint16, noResp bool) Call {
	resp := NewNDR(r.be())
	resp.U32(0)
	return r.Call(CallSpec{Ctx: ctx, Opnum: 6, Op: "EcDummyRpc", Req: []byte{}, Resp: resp.B, NoResp: noResp})
}

// RfrGetFQDNFromServerDN calls RfrGetFQDNFromServerDN on context ctx.
func (r *RPC) RfrGetFQDNFromServerDN(ctx uint16, serverDN, fqdn string) Call {
	be := r.be()
	req := NewNDR(be)
	req.U32(0)
	req.U32(uint32(len(serverDN) + 1))
	req.CString(serverDN)
	resp := NewNDR(be)
	resp.Ref()
	resp.CString(fqdn)
	resp.Align(4)
	resp.U32(0)
	return r.Call(CallSpec{Ctx: ctx, Opnum: 1, Op: "RfrGetFQDNFromServerDN", Req: req.B, Resp: resp.B})
}

// EptMapStatus calls ept_map for iface and answers with no tower and status
// (ept_s_not_registered: 0x16c9a0d6).
func (r *RPC) EptMapStatus(iface SyntaxID, status uint32) Call {
	be := r.be()
	req := EptMapReq(be, Tower(iface, 135, netip.IPv4Unspecified()))
	return r.Call(CallSpec{Ctx: 0, Opnum: 3, Op: "ept_map", Req: req, Resp: EptMapResp(be, nil, status)})
}

// epmConn opens a connection to the endpoint mapper and binds it.
func (e *env) epmConn(addr netip.Addr) *RPC {
	cn := e.conn(addr, 135)
	r := e.c.NewRPC(cn, 1)
	r.Bind(BindSpec{Contexts: WindowsContexts(SyntaxEPM, 0), NewAssoc: e.assoc(), SecAddr: "135"})
	return r
}

// emsmdbConn opens a connection to the store and binds EMSMDB with NTLM.
func (e *env) emsmdbConn(addr netip.Addr, cr Creds) *RPC {
	cn := e.conn(addr, EMSMDBPort)
	r := e.c.NewRPC(cn, 1)
	r.Bind(BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxEMSMDB, Transfer: []SyntaxID{SyntaxNDR}}},
		Auth: AuthNTLM, Creds: cr, Target: EXCH01, NewAssoc: e.assoc(), SecAddr: fmt.Sprint(EMSMDBPort), PadByte: 0x00})
	return r
}

// synRST writes a connection attempt that the server resets.
func (e *env) synRST(addr netip.Addr, port uint16) {
	cn := e.c.NewConn(netip.AddrPortFrom(addr, e.nextPort), netip.AddrPortFrom(e.server, port))
	e.nextPort += 3
	cn.Link = e.link
	cn.pkt(C2S, TCPSyn, cn.isn[C2S], nil)
	e.c.Advance(250 * time.Microsecond)
	cn.isn[S2C] = 0
	cn.pkt(S2C, TCPRst|TCPAck, 0, nil)
	cn.End = "rst"
}

// synSilent writes a connection attempt that nothing answers: the SYN and
// its retransmissions after 1 and 2 more seconds... (Windows: 3 s, 6 s).
func (e *env) synSilent(addr netip.Addr, port uint16) {
	cn := e.c.NewConn(netip.AddrPortFrom(addr, e.nextPort), netip.AddrPortFrom(e.server, port))
	e.nextPort += 3
	cn.Link = e.link
	for _, d := range []time.Duration{0, 3 * time.Second, 6 * time.Second} {
		e.c.Advance(d)
		cn.pkt(C2S, TCPSyn, cn.isn[C2S], nil)
	}
}

func emsmdbLimitScenario() Scenario {
	return Scenario{Name: "emsmdb-limit", File: "emsmdb-limit.pcap", Format: FormatPcap,
		Description: "Exchange store sessions on 198.51.100.20:59531: CONTOSO\\alice's client asks the endpoint mapper for EMSMDB, asks RFR (RfrGetFQDNFromServerDN) for its mailbox server, then connects (EcDoConnect, Outlook 2003 style, NTLM) and disconnects. CONTOSO\\svc-archive calls EcDoConnect 40 times, one every 90 seconds, on 4 connections that stay open, and never calls EcDoDisconnect: connects 1-32 succeed, 33-40 are refused with ecMaxObjsExceeded (0x000004DE).",
		Expected:    "emsmdb_session_limit (error) for CONTOSO\\svc-archive naming \"Maximum Allowed Sessions Per User\", held 32 at the refusals; emsmdb_leak (error); alice clean; one referral to mbx01.contoso.example.",
		build:       buildEMSMDBLimit}
}

func buildEMSMDBLimit(e *env) {
	e.server = MailboxV4
	a := client(21)
	ep := e.epmConn(a)
	ep.EptMap(SyntaxEMSMDB, e.server, EMSMDBPort)
	ep.C.CloseFIN(C2S)
	e.c.Advance(20 * time.Millisecond)
	cn := e.conn(a, RFRPort)
	rf := e.c.NewRPC(cn, 1)
	rf.Bind(BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxRFR, Transfer: []SyntaxID{SyntaxNDR}}},
		Auth: AuthNTLM, Creds: Alice, Target: EXCH01, NewAssoc: e.assoc(), SecAddr: fmt.Sprint(RFRPort)})
	rf.RfrGetFQDNFromServerDN(0, "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=MBX01", "mbx01.contoso.example")
	rf.C.CloseFIN(C2S)
	e.c.Advance(30 * time.Millisecond)
	ra := e.emsmdbConn(a, Alice)
	ha := ra.EcDoConnect(0, dnOf(Alice), "Alice", 0)
	e.c.Advance(2 * time.Second)
	ra.EcDoDisconnect(0, ha)
	ra.C.CloseFIN(C2S)

	svc := client(55)
	var conns []*RPC
	for i := 1; i <= 40; i++ {
		e.at(time.Minute + time.Duration(i-1)*90*time.Second)
		if (i-1)%10 == 0 {
			conns = append(conns, e.emsmdbConn(svc, SvcArchive))
		}
		r := conns[len(conns)-1]
		st := uint32(0)
		if i > 32 {
			st = StatusMaxObjsExceeded
		}
		r.EcDoConnect(0, dnOf(SvcArchive), "svc-archive", st)
	}
}

func endpointTroubleScenario() Scenario {
	return Scenario{Name: "endpoint-trouble", File: "endpoint-trouble.pcap", Format: FormatPcap,
		Description: "The endpoint mapper on 198.51.100.20:135 answers ept_map for NSPI with ept_s_not_registered (0x16c9a0d6) to 192.0.2.40 (the address book service did not register); it maps EMSMDB to 198.51.100.20:59531 for 192.0.2.41, whose two connection attempts there are reset (SYN, RST/ACK); it maps RFR to 198.51.100.20:59532 for 192.0.2.42, whose SYN (sent three times) is never answered. CONTOSO\\alice meanwhile has a normal NSPI session on 198.51.100.10.",
		Expected:    "endpoint_not_registered (error) for nspi on 198.51.100.20; endpoint_unreachable (error) for 198.51.100.20:59531 (reset) and 198.51.100.20:59532 (no answer); alice's NSPI session clean.",
		build:       buildEndpointTrouble}
}

func buildEndpointTrouble(e *env) {
	e.server = MailboxV4
	r := e.epmConn(client(40))
	r.EptMapStatus(SyntaxNSPI, 0x16c9a0d6)
	r.C.CloseFIN(C2S)
	e.c.Advance(500 * time.Millisecond)

	r = e.epmConn(client(41))
	r.EptMap(SyntaxEMSMDB, e.server, EMSMDBPort)
	r.C.CloseFIN(C2S)
	e.c.Advance(10 * time.Millisecond)
	e.synRST(client(41), EMSMDBPort)
	e.c.Advance(500 * time.Millisecond)
	e.synRST(client(41), EMSMDBPort)
	e.c.Advance(time.Second)

	r = e.epmConn(client(42))
	r.EptMap(SyntaxRFR, e.server, RFRPort)
	r.C.CloseFIN(C2S)
	e.c.Advance(10 * time.Millisecond)
	e.synSilent(client(42), RFRPort)
	e.c.Advance(time.Second)

	e.server = ServerV4
	e.normalSession(client(21), Alice)
}

func deadConnScenario() Scenario {
	return Scenario{Name: "dead-conn", File: "dead-conn.pcap", Format: FormatPcap,
		Description: "CONTOSO\\dave's Outlook on 192.0.2.60 (seen from the client side) binds NSPI on 198.51.100.10:4997 and connects to the store (EcDoConnect) on 198.51.100.20:59531. Twice, 10 minutes apart, its VPN drops: an NspiQueryRows and an EcDummyRpc get no answer, the two connections go silent with no FIN or RST, and 40 seconds later the client opens new connections, binds and connects again. The third pair is used for 10 minutes, then unbinds, disconnects and closes with FIN.",
		Expected:    "dead_connection (warning) for 192.0.2.60 on 198.51.100.10 (2 NSPI connections, 2 sessions) and on 198.51.100.20 (2 EMSMDB connections, 2 sessions), naming the 2-hour KeepAliveTime; unanswered_call info.",
		build:       buildDeadConn}
}

func buildDeadConn(e *env) {
	c := client(60)
	for round := 0; round < 3; round++ {
		e.at(time.Duration(round) * 10 * time.Minute)
		e.server = ServerV4
		rn := e.nspiConn(c, AuthNTLM, Dave)
		h := rn.NspiBind(BindResult{ClientGUID: &UUID{}})
		rn.NspiQueryRows(h, 0, 0)
		e.server = MailboxV4
		rm := e.emsmdbConn(c, Dave)
		hm := rm.EcDoConnect(0, dnOf(Dave), "Dave", 0)
		e.c.Advance(5 * time.Minute)
		rn.NspiGetPropList(h, 0x1a2, 0)
		rm.EcDummyRpc(0, false)
		if round == 2 {
			e.c.Advance(5 * time.Minute)
			rm.EcDummyRpc(0, false)
			rm.EcDoDisconnect(0, hm)
			rm.C.CloseFIN(C2S)
			rn.NspiUnbind(h, StatusUnbindSuccess)
			rn.C.CloseFIN(C2S)
			break
		}
		e.c.Advance(4*time.Minute + 20*time.Second)
		// The VPN drops: the requests leave, nothing comes back.
		rn.Call(CallSpec{Ctx: rn.nspiCtx(), Opnum: OpNspiQueryRows, Op: "NspiQueryRows", Handle: h, NoResp: true,
			Req: NspiQueryRowsReq(false, h, 0, DefaultSTAT, 50, DefaultPropTags)})
		rm.EcDummyRpc(0, true)
	}
}
