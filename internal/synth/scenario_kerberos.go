package synth

import "time"

// The Kerberos service of the sealed Kerberos scenarios: the NSPI server's
// exchangeAB SPN, whose keys are derived from a synthetic password (AES
// string-to-key with the realm and principal salt, RFC 3962; the NT hash
// for RC4-HMAC). The keytab beside each capture holds them.
var (
	KrbRealm = "CONTOSO.EXAMPLE"
	KrbSvc   = KrbService{Principal: "exchangeAB/dc01.contoso.example", Realm: KrbRealm,
		Password: "exchangeAB service: synthetic test secret 2026", KVNO: 5,
		Etypes: []int32{EtypeAES256, EtypeAES128, EtypeRC4}}
	// KrbSvcOld is the same service before its password changed: a ticket
	// issued then (kvno 4) is not decrypted by the keytab, which holds kvno 5.
	KrbSvcOld = KrbService{Principal: KrbSvc.Principal, Realm: KrbRealm,
		Password: "exchangeAB service: the previous synthetic secret", KVNO: 4, Etypes: []int32{EtypeRC4}}
)

func keytabOf(services ...KrbService) func() ([]byte, error) {
	return func() ([]byte, error) { return KeytabBytes(services...) }
}

func tsharkKeytab(file string) []string {
	return []string{"-o", "kerberos.decrypt:TRUE", "-o", "kerberos.file:" + file}
}

// krbAESScenario: Kerberos (AES) at auth level privacy, in SPNEGO.
func krbAESScenario() Scenario {
	return Scenario{Name: "sealed-krb-aes", File: "sealed-krb-aes.pcap", Format: FormatPcap,
		Description: "Auth level privacy with Kerberos in SPNEGO, DCE style (bind AP-REQ with a real service ticket for exchangeAB/dc01.contoso.example encrypted with its AES256 key, bind_ack AP-REP with the acceptor's subkey, alter_context with the client's AP-REP, alter_context_resp with a MIC), header signing, every stub sealed in RFC 4121 wrap tokens (EC 16, RRC 28, rotated by RRC+EC as Windows does). From 192.0.2.51: alice@CONTOSO.EXAMPLE (AES128 session key) binds, NspiGetSpecialTable, NspiQueryRows, NspiGetPropList, NspiUnbind; bob@CONTOSO.EXAMPLE (AES256 session key) with max_xmit_frag 160, every call fragmented and all fragments of a request or response in one TCP segment; then bob is refused with 0x80040111 and the client closes. From 192.0.2.52: erin@CONTOSO.EXAMPLE is refused once, binds again at once, makes 4 calls and unbinds.",
		Expected:    "With --keytab sealed-krb-aes.keytab: every call decrypted, users named by their tickets (alice, bob, erin @CONTOSO.EXAMPLE), the same verdict and counts as sealed-krb-aes-clear.pcap; bob and erin each one LOGON_FAILED. Without the keytab: no user, every call sealed, bind outcomes inferred, and the warning that a keytab with the service key names the user.",
		Keytab:      keytabOf(KrbSvc), KeytabFile: "sealed-krb-aes.keytab",
		TsharkKeytabArgs: tsharkKeytab("sealed-krb-aes.keytab"),
		build:            func(e *env) { buildKrbAES(e, false) }}
}

// krbAESClearScenario is the unsealed twin of sealed-krb-aes.pcap.
func krbAESClearScenario() Scenario {
	return Scenario{Name: "sealed-krb-aes-clear", File: "sealed-krb-aes-clear.pcap", Format: FormatPcap, Seed: "sealed-krb-aes",
		Description: "Unsealed twin of sealed-krb-aes.pcap: the same connections, Kerberos exchanges (the same tickets and keys, without the confidentiality and integrity flags), calls, handles and statuses at auth level connect (no verifier on requests and responses).",
		Expected:    "With --keytab sealed-krb-aes.keytab the users are named by their tickets, and the verdict, totals, users, clients, refusals and findings equal those of sealed-krb-aes.pcap with the keytab.",
		KeytabFile:  "sealed-krb-aes.keytab",
		build:       func(e *env) { buildKrbAES(e, true) }}
}

// krbRC4Scenario: Kerberos (RC4-HMAC) at auth level privacy, auth type 16.
func krbRC4Scenario() Scenario {
	return Scenario{Name: "sealed-krb-rc4", File: "sealed-krb-rc4.pcap", Format: FormatPcap,
		Description: "Auth level privacy with Kerberos RC4-HMAC as older domain controllers issue it: auth type 16 (RPC_C_AUTHN_GSS_KERBEROS), DCE style (bind with a raw AP-REQ whose ticket is encrypted with the service's RC4 key, bind_ack with the AP-REP, auth3 with the client's AP-REP), every stub sealed in RFC 4757 wrap tokens (45-byte verifiers). From 192.0.2.53: dave@CONTOSO.EXAMPLE binds, NspiQueryRows, NspiUpdateStat, NspiUnbind; grace@CONTOSO.EXAMPLE with max_xmit_frag 120, every response fragmented and all its fragments in one TCP segment. From 192.0.2.54: frank@CONTOSO.EXAMPLE holds a ticket issued before the service's password changed (kvno 4), which the keytab (kvno 5) cannot decrypt: binds, 3 calls, unbinds.",
		Expected:    "With --keytab sealed-krb-rc4.keytab: dave's and grace's calls decrypted and named; frank's 5 calls stay sealed with a warning that the keytab's keys do not decrypt their tickets, his bind outcome inferred. Without the keytab every bind outcome is inferred.",
		Keytab:      keytabOf(KrbSvc), KeytabFile: "sealed-krb-rc4.keytab",
		TsharkKeytabArgs: tsharkKeytab("sealed-krb-rc4.keytab"),
		build:            buildKrbRC4}
}

// buildKrbAES writes the conversations of sealed-krb-aes.pcap (clear: its
// twin at connect level).
func buildKrbAES(e *env, clear bool) {
	spec := func(user string, session int32) KrbSpec {
		return KrbSpec{User: user, Svc: KrbSvc, Etype: EtypeAES256, SessionEtype: session, AuthType: AuthTypeSPNEGO, Clear: clear}
	}
	whole := func(n int) []Seg { return []Seg{{Off: 0, Len: n}} }

	// alice, one PDU per call.
	r := e.c.NewRPC(e.conn(client(51), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), spec("alice", EtypeAES128))
	e.browse(r)
	var h Handle

	// bob from the same client, every call fragmented; the fragments of
	// each request and of each response travel in one TCP segment.
	e.c.Advance(2 * time.Second)
	bs := e.bindSpec(AuthKerberos, Creds{})
	bs.MaxXmit = 160
	r = e.c.NewRPC(e.conn(client(51), NSPIPort), 1)
	r.KerberosBind(bs, spec("bob", EtypeAES256))
	r.ReqPlan, r.RespPlan = whole, whole
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	r.ReqPlan, r.RespPlan = whole, whole
	r.NspiQueryRows(h, 0, 0)
	r.ReqPlan, r.RespPlan = whole, whole
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// bob refused; the client closes.
	e.c.Advance(2 * time.Second)
	r = e.c.NewRPC(e.conn(client(51), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), spec("bob", EtypeAES256))
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	r.C.CloseFIN(C2S)

	// erin, from another client: refused, binds again at once.
	e.c.Advance(3 * time.Second)
	r = e.c.NewRPC(e.conn(client(52), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), spec("erin", EtypeAES256))
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	for i := 0; i < 4; i++ {
		e.c.Advance(50 * time.Millisecond)
		if i%2 == 0 {
			r.NspiQueryRows(h, 0, 0)
		} else {
			r.NspiUpdateStat(h, 0)
		}
	}
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

// buildKrbRC4 writes the conversations of sealed-krb-rc4.pcap.
func buildKrbRC4(e *env) {
	spec := func(user string, svc KrbService, noKeytab bool) KrbSpec {
		return KrbSpec{User: user, Svc: svc, Etype: EtypeRC4, SessionEtype: EtypeRC4, AuthType: AuthTypeKerberos, NoKeytab: noKeytab}
	}
	// dave, one PDU per call.
	r := e.c.NewRPC(e.conn(client(53), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), spec("dave", KrbSvc, false))
	h := r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	e.c.Advance(20 * time.Millisecond)
	r.NspiQueryRows(h, 0, 0)
	r.NspiUpdateStat(h, 0)
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// grace from the same client: every response fragmented, all its
	// fragments in one TCP segment.
	e.c.Advance(2 * time.Second)
	bs := e.bindSpec(AuthKerberos, Creds{})
	bs.MaxXmit = 120
	r = e.c.NewRPC(e.conn(client(53), NSPIPort), 1)
	r.KerberosBind(bs, spec("grace", KrbSvc, false))
	whole := func(n int) []Seg { return []Seg{{Off: 0, Len: n}} }
	r.ReqPlan, r.RespPlan = whole, whole
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	r.RespPlan = whole
	r.NspiQueryRows(h, 0, 0)
	r.RespPlan = whole
	r.NspiGetPropList(h, 0x1a2, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// frank: a ticket from before the service's password changed.
	e.c.Advance(3 * time.Second)
	r = e.c.NewRPC(e.conn(client(54), NSPIPort), 1)
	r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), spec("frank", KrbSvcOld, true))
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	for i := 0; i < 3; i++ {
		e.c.Advance(40 * time.Millisecond)
		r.NspiQueryRows(h, 0, 0)
	}
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}
