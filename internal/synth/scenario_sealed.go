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
		TsharkArgs:  []string{"-o", "ntlmssp.nt_password:" + BobPassword},
		build:       buildSealed}
}

func buildSealed(e *env) {
	// bob, one PDU per call.
	r := e.c.NewRPC(e.conn(client(31), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLM, Bob), SealSpec{Password: BobPassword})
	h := r.NspiBind(BindResult{Status: StatusSuccess, ClientGUID: &UUID{}})
	e.c.Advance(20 * time.Millisecond)
	r.NspiGetSpecialTable(h)
	r.NspiQueryRows(h, 0, 0)
	r.NspiGetPropList(h, 0x1a2, 0)
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)

	// bob again, every call cut into fragments; the fragments of each
	// request travel in one TCP segment.
	e.c.Advance(2 * time.Second)
	spec := e.bindSpec(AuthNTLM, Bob)
	spec.MaxXmit = 96
	r = e.c.NewRPC(e.conn(client(31), NSPIPort), 1)
	r.SealedBind(spec, SealSpec{Password: BobPassword})
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
	r.SealedBind(e.bindSpec(AuthNTLM, Bob), SealSpec{Password: BobPassword})
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	r.C.CloseFIN(C2S)

	// ivan: no key in the keys file.
	e.c.Advance(3 * time.Second)
	r = e.c.NewRPC(e.conn(client(32), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLM, Ivan), SealSpec{Password: IvanPassword, NoKey: true})
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
