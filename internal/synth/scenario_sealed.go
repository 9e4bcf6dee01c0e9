package synth

import "time"

// Test credentials of the sealed scenario. They are synthetic: the keys
// file beside the capture holds Bob's, and no file holds Ivan's.
const (
	BobPassword  = "Winter-2026!bob"
	IvanPassword = "ivan's password is not in the keys file"
)

// Ivan is a user whose key the sealed scenario's keys file lacks.
var Ivan = Creds{Domain: "CONTOSO", User: "ivan", Workstation: "WS-IVAN"}

// sealedScenario: NTLMv2 with KEY_EXCH at auth level privacy.
func sealedScenario() Scenario {
	return Scenario{Name: "sealed-ntlm", File: "sealed-ntlm.pcap", Format: FormatPcap,
		Description: "Auth level privacy (NTLMv2, ESS, 128-bit, KEY_EXCH, real NTProofStr and MIC from known passwords): CONTOSO\\bob binds, NspiGetSpecialTable, NspiQueryRows, NspiGetPropList, NspiUnbind; on a second connection with max_xmit_frag 96 every call is fragmented (each fragment sealed and signed on its own, all fragments of a request in one TCP segment); on a third, bob's NspiBind is refused with 0x80040111 and the client closes. CONTOSO\\ivan, whose key the keys file lacks, is refused once, binds again at once, makes 10 calls and unbinds (13 sealed calls).",
		Expected:    "With --keys sealed-ntlm.keys: bob's calls decrypted (same statuses as unsealed traffic, one authenticated LOGON_FAILED); ivan's 13 calls stay sealed with the warning \"no key for CONTOSO\\ivan: 13 calls stay sealed\", his first NspiBind inferred refused and his second inferred accepted. Without keys every bind outcome is inferred.",
		Keys:        "# nspicap --keys file for sealed-ntlm.pcap (synthetic test credentials)\n\nCONTOSO\\bob:" + BobPassword + "\n",
		KeysAll:     "# keys of every identity of sealed-ntlm.pcap (synthetic test credentials)\n\nCONTOSO\\bob:" + BobPassword + "\nCONTOSO\\ivan:" + IvanPassword + "\n",
		TsharkArgs:  []string{"-o", "ntlmssp.nt_password:" + BobPassword},
		build:       func(e *env) { buildSealed(e, SealSpec{}) }}
}

// sealedClearScenario is the unsealed twin of sealed-ntlm.pcap: the same
// conversations, random draws (handles) and frame layout at auth level
// connect.
func sealedClearScenario() Scenario {
	return Scenario{Name: "sealed-ntlm-clear", File: "sealed-ntlm-clear.pcap", Format: FormatPcap, Seed: "sealed-ntlm",
		Description: "Unsealed twin of sealed-ntlm.pcap: the same connections, calls, handles, statuses and frame numbers, with the same NTLMv2 exchanges (real NTProofStr and MIC, no SIGN, SEAL or KEY_EXCH) at auth level connect.",
		Expected:    "The same verdict, totals, users, clients, refusals and findings as sealed-ntlm.pcap with --keys sealed-ntlm-all.keys (every call decrypted): bob 3 binds (1 LOGON_FAILED), ivan 2 binds (1 LOGON_FAILED), no inference, no sealed_not_decrypted.",
		build:       func(e *env) { buildSealed(e, SealSpec{Clear: true}) }}
}

// sealedV1Scenario: the conversations of sealed-ntlm.pcap with NTLMv1 and
// extended session security (NTLM2 session response) instead of NTLMv2.
func sealedV1Scenario() Scenario {
	return Scenario{Name: "sealed-ntlmv1", File: "sealed-ntlmv1.pcap", Format: FormatPcap,
		Description: "The conversations of sealed-ntlm.pcap at auth level privacy with NTLMv1 and extended session security (NTLM2 session response: 24-byte NT response = DESL(NT hash, MD5(server challenge + client challenge)), LM response = client challenge + 16 zeros, ESS, 128-bit, KEY_EXCH, no NTLMv2 blob, no MIC) computed from the same synthetic passwords.",
		Expected:    "With --keys sealed-ntlmv1.keys: bob's 9 calls decrypted with the statuses of sealed-ntlm.pcap; ivan's 13 calls stay sealed (\"no key for CONTOSO\\ivan: 13 calls stay sealed\"), his bind outcomes inferred.",
		Keys:        "# nspicap --keys file for sealed-ntlmv1.pcap (synthetic test credentials)\n\nCONTOSO\\bob:" + BobPassword + "\n",
		TsharkArgs:  []string{"-o", "ntlmssp.nt_password:" + BobPassword},
		build:       func(e *env) { buildSealed(e, SealSpec{V1: true}) }}
}

// buildSealed writes the conversations of the sealed scenarios; mode's
// Clear and V1 apply to every bind.
func buildSealed(e *env, mode SealSpec) {
	sealed := func(password string, noKey bool) SealSpec {
		return SealSpec{Password: password, NoKey: noKey && !mode.Clear, Clear: mode.Clear, V1: mode.V1}
	}
	// bob, one PDU per call.
	r := e.c.NewRPC(e.conn(client(31), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLM, Bob), sealed(BobPassword, false))
	e.browse(r)
	var h Handle

	// bob again, every call cut into fragments; the fragments of each
	// request travel in one TCP segment.
	e.c.Advance(2 * time.Second)
	spec := e.bindSpec(AuthNTLM, Bob)
	spec.MaxXmit = 96
	r = e.c.NewRPC(e.conn(client(31), NSPIPort), 1)
	r.SealedBind(spec, sealed(BobPassword, false))
	whole := func(n int) []Seg { return []Seg{{Off: 0, Len: n}} }
	r.ReqPlan = whole
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	r.ReqPlan = whole
	r.NspiQueryRows(h, 0, 0)
	r.ReqPlan = whole
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// bob refused; the client closes.
	e.c.Advance(2 * time.Second)
	r = e.c.NewRPC(e.conn(client(31), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLM, Bob), sealed(BobPassword, false))
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	r.C.CloseFIN(C2S)

	// ivan: no key in the keys file.
	e.c.Advance(3 * time.Second)
	r = e.c.NewRPC(e.conn(client(32), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLM, Ivan), sealed(IvanPassword, true))
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	h = r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	for i := 0; i < 10; i++ {
		e.c.Advance(50 * time.Millisecond)
		switch i % 3 {
		case 0:
			r.NspiQueryRows(h, 0, 0)
		case 1:
			r.NspiGetPropList(h, 0x1a2+uint32(i), 0)
		default:
			r.NspiUpdateStat(h, 0)
		}
	}
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

// browse is an address-book session on r, already bound: NspiBind,
// NspiGetSpecialTable, NspiQueryRows, NspiGetPropList, NspiUnbind; then the
// client closes the connection.
func (e *env) browse(r *RPC) {
	h := r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	e.c.Advance(20 * time.Millisecond)
	r.NspiGetSpecialTable(h)
	r.NspiQueryRows(h, 0, 0)
	r.NspiGetPropList(h, 0x1a2, 0)
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}
