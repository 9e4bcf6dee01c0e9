package synth

import (
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"
)

// FAST-armored KDC exchanges (RFC 6113; docs/kerberos.md): the outer reply
// names the real client, unless the client asked the KDC to hide it (then
// the anonymous principal, or nothing), and an anonymous armor ticket's
// name is never a user.

func kdcFASTScenario() Scenario {
	return Scenario{Name: "kerberos-fast", File: "kerberos-fast.pcap", Format: FormatPcap,
		Description: "The DC (198.51.100.10) is a KDC that supports FAST (RFC 6113 armoring); every TGS exchange is armored (PA-FX-FAST in the TGS-REQ and in the TGS-REP, its cipher bytes opaque), and every bind authenticates with the ticket it issued, in SPNEGO at auth level connect. From 192.0.2.91 over UDP: frank obtains an anonymous TGT by anonymous PKINIT (AS-REQ of WELLKNOWN/ANONYMOUS with PA-PK-AS-REQ, AS-REP naming WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS), armors his own AS exchange with it (PA-FX-FAST with that TGT as explicit armor; the armored AS-REP names frank), gets his service ticket by an implicitly armored TGS exchange whose reply names him, and binds. From 192.0.2.92 over TCP: alice's TGS-REQ is a compound identity request, explicitly armored with her computer's TGT (MS-KILE 3.3.5.7.4); the reply names her; she binds. From 192.0.2.93: carol's client asked the KDC to hide her name (hide-client-names, inside the encrypted request): the TGS-REP names the anonymous principal (type KRB_NT_WELLKNOWN, WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS) instead; she binds. From 192.0.2.94: dave's TGS-REP comes from a KDC that blanks the outer name and realm of an armored reply (Heimdal's); he binds.",
		Expected:    "Without a key: frank and alice named user@CONTOSO.EXAMPLE from their armored TGS-REP (identity_from tgs_rep, its frame); carol's and dave's calls unnamed, each with the label of its ticket; the anonymous principal is never a user, in no row, call or finding. With --keytab kerberos-kdc.keytab: every user named (carol and dave too), the same counts.",
		KeytabFile:  "kerberos-kdc.keytab",
		build:       buildKDCFAST}
}

// fastPair is the armored TGS exchange that issues t (explicit armor when
// armor is set), its reply showing or hiding the client.
func (e *env) fastPair(t *KrbTicket, armor *messages.Ticket, h Hide) KDCPair {
	sname := strings.Join(t.Ticket.SName.NameString, "/")
	rep := KDCMessage{Type: "TGS-REP", CName: t.User, CRealm: t.Realm, SName: sname}
	switch h {
	case HideAnonymous:
		rep.CName, rep.CRealm = AnonymousName, AnonymousRealm
	case HideEmpty:
		rep.CName, rep.CRealm = "", ""
	}
	return KDCPair{Req: e.c.KrbTGSReqFAST(t.Realm, sname, armor), Rep: e.c.KrbTGSRepFAST(t, h), Issues: t,
		ReqMsg: KDCMessage{Type: "TGS-REQ", SName: sname}, RepMsg: rep}
}

func buildKDCFAST(e *env) {
	c := e.c
	realm := KrbRealm
	tgs := "krbtgt/" + realm

	// frank: anonymous PKINIT for the armor TGT, an armored logon, an
	// armored TGS exchange.
	anonReq := c.KrbASReqAnonymous(realm)
	anonRep, anonTGT := c.KrbASRepAnonymous(realm)
	e.kdcOverUDP(client(91),
		KDCPair{Req: anonReq, Rep: anonRep,
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: AnonymousName, SName: tgs},
			RepMsg: KDCMessage{Type: "AS-REP", CName: AnonymousName, CRealm: AnonymousRealm, SName: tgs}},
		KDCPair{Req: c.KrbASReqFAST("frank", realm, anonTGT), Rep: c.KrbASRepFAST("frank", realm),
			ReqMsg: KDCMessage{Type: "AS-REQ", CName: "frank", SName: tgs},
			RepMsg: KDCMessage{Type: "AS-REP", CName: "frank", CRealm: realm, SName: tgs}})
	frank := c.IssueTicket("frank", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(91), e.fastPair(frank, nil, ShowClient))
	e.krbSession(91, frank, true, "")

	// alice: compound identity, armored with her computer's TGT, over TCP.
	c.Advance(time.Second)
	computer := c.tgt(realm)
	alice := c.IssueTicket("alice", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverTCP(client(92), 0, e.fastPair(alice, &computer, ShowClient))
	e.krbSession(92, alice, true, "")

	// carol: her name hidden behind the anonymous principal.
	c.Advance(time.Second)
	carol := c.IssueTicket("carol", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(93), e.fastPair(carol, nil, HideAnonymous))
	e.krbSession(93, carol, false, "")

	// dave: the outer name and realm blanked.
	c.Advance(time.Second)
	dave := c.IssueTicket("dave", KrbSvc, EtypeAES256, EtypeAES256)
	e.kdcOverUDP(client(94), e.fastPair(dave, nil, HideEmpty))
	e.krbSession(94, dave, false, "")
}
