package synth

import "time"

// The KDC exchanges that name Kerberos callers without keys
// (docs/kerberos.md): the DC is the KDC, and its replies on port 88 name
// the client of every ticket the binds then use.

// KrbSvcEx01 is the acting service of the delegation scenario: an RPC
// proxy's HTTP service that obtains tickets for its users (S4U2Self, then
// S4U2Proxy to exchangeAB).
var KrbSvcEx01 = KrbService{Principal: "HTTP/ex01.contoso.example", Realm: KrbRealm,
	Password: "HTTP/ex01: synthetic test secret 2026", KVNO: 3, Etypes: []int32{EtypeAES256}}

func kdcScenarios() []Scenario {
	return []Scenario{
		{Name: "kerberos-kdc", File: "kerberos-kdc.pcap", Format: FormatPcap,
			Description: "The DC (198.51.100.10) is the KDC; every bind authenticates with Kerberos in SPNEGO at auth level connect, with a ticket to exchangeAB/dc01.contoso.example. First, from 192.0.2.76: mallory's AS-REQ is refused KDC_ERR_CLIENT_REVOKED (locked out) and frank's KDC_ERR_PREAUTH_FAILED (UDP); grace's TGS-REQ KRB_AP_ERR_SKEW (TCP). From 192.0.2.71: alice logs on over UDP 88 (AS-REQ answered KDC_ERR_PREAUTH_REQUIRED, AS-REQ with pre-authentication, AS-REP), gets her service ticket (TGS-REQ, TGS-REP over UDP) and has one session. From 192.0.2.72: bob's exchanges run over TCP 88 (4-byte record marks), his TGS-REP split over several segments; he binds twice with the same ticket on two connections. From 192.0.2.73: carol's ticket was issued before the capture (no KDC exchange); she binds and browses. From 192.0.2.74: dave binds once with NTLM (CONTOSO\\dave) and once with Kerberos (TGS over UDP). From 192.0.2.75: the RPC proxy HTTP/ex01.contoso.example asks a ticket to itself for erin (S4U2Self, PA-FOR-USER), then a ticket to exchangeAB for her with that ticket (S4U2Proxy, cname-in-addl-tkt), and binds with it. From 192.0.2.77: heidi, whose ticket a TGS exchange over UDP issued, sets up an SMB2 session with it (the AP-REQ in the first SESSION_SETUP) and binds NSPI over \\PIPE\\lsass: NspiBind, NspiUnbind.",
			Expected:    "Without a key: alice, bob (2 sessions), dave (Kerberos), heidi (over the pipe, from her SMB session) and erin (via HTTP/ex01.contoso.example) named user@CONTOSO.EXAMPLE from their TGS-REP (identity_from tgs_rep and its frame); carol's calls unnamed with the label of her ticket; dave's NTLM session CONTOSO\\dave. A kdc_error anomaly: KDC_ERR_CLIENT_REVOKED for mallory, KDC_ERR_PREAUTH_FAILED for frank, KRB_AP_ERR_SKEW, with frames; the pre-authentication-required answer is not reported. With --keytab kerberos-kdc.keytab: every Kerberos user named (carol too), the same counts.",
			Keytab:      keytabOf(KrbSvc), KeytabFile: "kerberos-kdc.keytab",
			build: buildKDC},
		{Name: "kerberos-svc-limit", File: "kerberos-svc-limit.pcap", Format: FormatPcap,
			Description: "The story of a service account with one Kerberos ticket: svc-app (192.0.2.94) gets one ticket to exchangeAB/dc01.contoso.example (TGS-REQ, TGS-REP over UDP), then opens 60 connections, each binding with that ticket in SPNEGO at auth level connect and calling NspiBind, one every 2 minutes, never unbinding; binds 1-50 succeed, 51-60 are refused with 0x80040111.",
			Expected:    "Without any key: svc-app@CONTOSO.EXAMPLE named from the TGS-REP, 50 sessions leaked, 10 LOGON_FAILED at the session limit; the same users, totals and findings as with --keytab kerberos-kdc.keytab.",
			KeytabFile:  "kerberos-kdc.keytab",
			build:       buildKDCSvcLimit},
		{Name: "kerberos-pac", File: "kerberos-pac.pcap", Format: FormatPcap,
			Description: "One account over NTLM and Kerberos where only the PAC pairs its domain's two names. From 192.0.2.81: ivan binds with NTLM as CONTOSO\\ivan to a server whose CHALLENGE names its NetBIOS domain and host only (no MsvAvDnsDomainName: nothing in the capture pairs CONTOSO with contoso.example), then gets a ticket to exchangeAB/dc01.contoso.example (TGS-REQ, TGS-REP over UDP) whose PAC (MS-PAC: KERB_VALIDATION_INFO with LogonDomainName CONTOSO, PAC_CLIENT_INFO, UPN_DNS_INFO with DnsDomainName CONTOSO.EXAMPLE, the server's and the KDC's signatures) pairs them, and binds with it in SPNEGO at auth level connect. From 192.0.2.82: judy's ticket (TGS over UDP) carries a malformed PAC: UPN_DNS_INFO's DnsDomainNameOffset points past its buffer; she binds and browses.",
			Expected:    "Without a key: three rows, CONTOSO\\ivan (ntlm), ivan@CONTOSO.EXAMPLE and judy@CONTOSO.EXAMPLE (tgs_rep). With --keytab kerberos-kdc.keytab: ivan's PAC pairs CONTOSO with CONTOSO.EXAMPLE, so two rows: CONTOSO\\ivan (both sessions, upn ivan@CONTOSO.EXAMPLE) and CONTOSO\\judy; judy's PAC gives a malformed_pac anomaly naming UPN_DNS_INFO DnsDomainNameOffset and its offset at her bind's frame, and her calls are named and decoded as usual. --domain CONTOSO=contoso.example without the keytab gives the same two rows.",
			KeytabFile:  "kerberos-kdc.keytab", TsharkKeytabArgs: tsharkKeytab("kerberos-kdc.keytab"),
			build: buildKDCPAC},
		kdcFragScenario(),
		kdcFASTScenario(),
	}
}

// DC01NoDNS is the NTLM target of a server that names no DNS domain or
// host in its CHALLENGE (MsvAvNbDomainName and MsvAvNbComputerName only).
var DC01NoDNS = Target{NbDomain: "CONTOSO", NbHost: "DC01", SPN: "exchangeAB/dc01.contoso.example"}

// PACOf is the PAC a Windows KDC of CONTOSO.EXAMPLE issues user.
func PACOf(user string) *PACSpec {
	return &PACSpec{LogonDomain: "CONTOSO", LogonServer: "DC01", DNSDomain: KrbRealm, UPN: user + "@contoso.example"}
}

func buildKDCPAC(e *env) {
	c := e.c
	// ivan over NTLM: the CHALLENGE pairs nothing.
	bs := e.bindSpec(AuthNTLM, Creds{Domain: "CONTOSO", User: "ivan", Workstation: "WS81"})
	bs.Target = DC01NoDNS
	r := c.NewRPC(e.conn(client(81), NSPIPort), 1)
	r.Bind(bs)
	h := r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// ivan over Kerberos: the ticket's PAC pairs CONTOSO with the realm.
	c.Advance(time.Second)
	ivan := c.IssueTicketPAC("ivan", KrbSvc, EtypeAES256, EtypeAES256, PACOf("ivan"))
	e.kdcOverUDP(client(81), e.tgsPair(ivan, S4U{}))
	e.krbSession(81, ivan, true, "")

	// judy: a malformed PAC.
	c.Advance(time.Second)
	bad := PACOf("judy")
	bad.BadDNSOffset = true
	judy := c.IssueTicketPAC("judy", KrbSvc, EtypeAES256, EtypeAES256, bad)
	e.kdcOverUDP(client(82), e.tgsPair(judy, S4U{}))
	e.krbSession(82, judy, true, "")
}

// krbConnSpec is a Kerberos bind at connect level with an issued ticket.
func krbConnSpec(t *KrbTicket, named bool, via string) KrbSpec {
	return KrbSpec{User: t.User, Svc: KrbSvc, Etype: t.Ticket.EncPart.EType, SessionEtype: t.Session.KeyType,
		AuthType: AuthTypeSPNEGO, Clear: true, Issued: t, KDCNamed: named, Via: via}
}

// krbSession binds NSPI from client(n) with ticket t and browses.
func (e *env) krbSession(n int, t *KrbTicket, named bool, via string) {
	r := e.c.NewRPC(e.conn(client(n), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), krbConnSpec(t, named, via))
	e.browse(r)
}

func buildKDC(e *env) {
	c := e.c
	realm := KrbRealm
	tgsMsg := func(t *KrbTicket) KDCPair { return e.tgsPair(t, S4U{}) }

	// Refusals first: they are not NSPI, and a capture cut after its last
	// NSPI frame must give the same report (TestTorture).
	e.kdcOverUDP(client(76),
		KDCPair{Req: c.KrbASReq("mallory", realm, true), Rep: c.KrbError(18, "mallory", realm, "krbtgt/"+realm),
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: "mallory", SName: "krbtgt/" + realm}, RepMsg: KDCMessage{Type: "KRB-ERROR", ErrorCode: 18}},
		KDCPair{Req: c.KrbASReq("frank", realm, true), Rep: c.KrbError(24, "frank", realm, "krbtgt/"+realm),
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: "frank", SName: "krbtgt/" + realm}, RepMsg: KDCMessage{Type: "KRB-ERROR", ErrorCode: 24}})
	e.kdcOverTCP(client(76), 0,
		KDCPair{Req: c.KrbTGSReq(realm, KrbSvc.Principal, S4U{}), Rep: c.KrbError(37, "", realm, KrbSvc.Principal),
			ReqMsg: KDCMessage{Type: "TGS-REQ", SName: KrbSvc.Principal}, RepMsg: KDCMessage{Type: "KRB-ERROR", ErrorCode: 37}})
	e.c.Advance(time.Second)

	// alice: over UDP, the whole logon.
	e.kdcOverUDP(client(71), e.logonPairs("alice", realm)...)
	alice := c.IssueTicket("alice", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(71), tgsMsg(alice))
	e.krbSession(71, alice, true, "")

	// bob: over TCP, the TGS-REP in 3 segments; two sessions, one ticket.
	e.c.Advance(time.Second)
	e.kdcOverTCP(client(72), 0, e.logonPairs("bob", realm)[1])
	bob := c.IssueTicket("bob", KrbSvc, EtypeAES256, EtypeAES128)
	e.kdcOverTCP(client(72), 600, tgsMsg(bob))
	e.krbSession(72, bob, true, "")
	e.c.Advance(time.Second)
	e.krbSession(72, bob, true, "")

	// carol: a ticket issued before the capture.
	e.c.Advance(time.Second)
	carol := c.IssueTicket("carol", KrbSvc, EtypeAES256, EtypeAES256)
	e.krbSession(73, carol, false, "")

	// dave: NTLM, then Kerberos.
	e.c.Advance(time.Second)
	e.normalSession(client(74), Dave)
	dave := c.IssueTicket("dave", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(74), tgsMsg(dave))
	e.krbSession(74, dave, true, "")

	// erin through the RPC proxy: S4U2Self, then S4U2Proxy.
	e.c.Advance(time.Second)
	self := c.IssueTicket("erin", KrbSvcEx01, EtypeAES256, EtypeAES256)
	selfPair := e.tgsPair(self, S4U{ForUser: "erin@" + realm})
	erin := c.IssueTicket("erin", KrbSvc, EtypeAES256, EtypeAES256)
	proxyPair := e.tgsPair(erin, S4U{Evidence: &self.Ticket})
	e.kdcOverUDP(client(75), selfPair, proxyPair)
	e.krbSession(75, erin, true, KrbSvcEx01.Principal)

	// heidi over a named pipe of a Kerberos SMB2 session: the AP-REQ of
	// the SESSION_SETUP (first leg, no SessionId yet) names the pipe's calls.
	e.c.Advance(time.Second)
	heidi := c.IssueTicket("heidi", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(77), tgsMsg(heidi))
	ctx, err := NewKrbContext(krbConnSpec(heidi, true, ""), c.now, c.rng.Uint64())
	if err != nil {
		panic("synth: " + err.Error())
	}
	cn := e.conn(client(77), 445)
	sm := c.NewSMB(cn, 2)
	sm.APReq = ctx.APReq
	sm.Logon(Creds{}, DC01)
	q := sm.OpenPipe("lsass", PipeWriteRead)
	r := c.NewRPC(cn, 1)
	r.Pipe = q
	e.pipeBind(r, SyntaxNSPI, `\PIPE\lsass`, Creds{})
	r.User, r.Auth, r.KDCUser, r.KDCFrame = "", AuthKerberos, heidi.Principal(), heidi.RepFrame
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiUnbind(h, StatusUnbindSuccess)
	q.Close()
	cn.CloseFIN(C2S)

}

func buildKDCSvcLimit(e *env) {
	t := e.c.IssueTicket("svc-app", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(94), e.tgsPair(t, S4U{}))
	for i := 0; i < 60; i++ {
		if i > 0 {
			e.c.Advance(2 * time.Minute)
		}
		r := e.c.NewRPC(e.conn(client(94), NSPIPort), 1)
		r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), krbConnSpec(t, true, ""))
		if i < 50 {
			r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
		} else {
			r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
		}
	}
}
