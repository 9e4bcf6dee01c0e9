package synth

import (
	"crypto/rc4"
	"net/netip"
	"time"
)

// What a current Windows network puts on the wire beyond Outlook's NDR20
// traffic: the endpoint mapper answering in NDR64 (MS-RPCE 2.2.5), towers
// of named pipes (with the NetBIOS host floor), LRPC and RPC over HTTP,
// an anonymous NTLM session at auth level privacy (MS-NLMP 3.3.2, 3.4.5),
// and a call to an interface nspicap does not name.

// NDR64 encoding (MS-RPCE 2.2.5), written from the spec: referent IDs and
// conformance and variance values are 8 bytes aligned to 8; everything
// else is as in NDR20.

// u64 appends an aligned 64-bit value.
func (e *NDR) u64(v uint64) {
	e.Align(8)
	e.B = e.order().AppendUint64(e.B, v)
}

// ref64 appends a non-NULL NDR64 referent ID (Windows numbers them from
// 0x20000 by 4, as in NDR20, in 8 bytes).
func (e *NDR) ref64() {
	e.u64(uint64(e.nextRef))
	e.nextRef += 4
}

// tower64 appends a twr_t in NDR64: the conformance (8 bytes, aligned to
// 8), tower_length (u32) and the octets.
func (e *NDR) tower64(t []byte) {
	e.u64(uint64(len(t)))
	e.U32(uint32(len(t)))
	e.Raw(t)
}

// EptMapReq64 is an ept_map request in NDR64: object (unique pointer + nil
// UUID), map_tower (unique pointer + twr_t), entry_handle, max_towers.
func EptMapReq64(be bool, tower []byte) []byte {
	e := NewNDR(be)
	e.ref64()
	e.UUID(UUID{})
	e.ref64()
	e.tower64(tower)
	e.Handle(Handle{})
	e.U32(4)
	return e.B
}

// EptMapResp64 is an ept_map response in NDR64: entry_handle, num_towers,
// the towers as a conformant varying array of pointers (max_count, offset,
// actual_count, referent IDs, each 8 bytes) with the towers deferred after
// it, and the status.
func EptMapResp64(be bool, towers [][]byte, status uint32) []byte {
	e := NewNDR(be)
	e.Handle(Handle{})
	e.U32(uint32(len(towers)))
	e.u64(4)
	e.u64(0)
	e.u64(uint64(len(towers)))
	for i := range towers {
		e.u64(uint64(3 + i)) // full-pointer referent IDs, as in the NDR20 answers (notes §9.3)
	}
	for _, t := range towers {
		e.tower64(t)
	}
	e.U32(status)
	return e.B
}

// EptLookupReq64 is an ept_lookup request in NDR64 asking for every entry
// (inquiry_type 0, no object, no interface), max_ents entries.
func EptLookupReq64(be bool, maxEnts uint32) []byte {
	e := NewNDR(be)
	e.U32(0) // inquiry_type: rpc_c_ep_all_elts
	e.u64(0) // object: NULL
	e.u64(0) // Ifid: NULL
	e.U32(1) // vers_option: rpc_c_vers_all
	e.Handle(Handle{})
	e.U32(maxEnts)
	return e.B
}

// LookupEntry is one ept_lookup answer entry.
type LookupEntry struct {
	Object     UUID
	Annotation string
	Tower      []byte
}

// EptLookupResp64 is an ept_lookup response in NDR64: entry_handle,
// num_ents, the entries as a conformant varying array of ept_entry_t (each
// aligned to 8: object UUID, tower referent, annotation as a varying
// string with 8-byte offset and length), the deferred towers, the status.
func EptLookupResp64(be bool, h Handle, entries []LookupEntry, status uint32) []byte {
	e := NewNDR(be)
	e.Handle(h)
	e.U32(uint32(len(entries)))
	e.u64(uint64(len(entries)))
	e.u64(0)
	e.u64(uint64(len(entries)))
	for i, en := range entries {
		e.Align(8)
		e.UUID(en.Object)
		e.u64(uint64(3 + i))
		n := uint64(len(en.Annotation) + 1)
		e.u64(0)
		e.u64(n)
		e.Raw([]byte(en.Annotation))
		e.U8(0)
	}
	for _, en := range entries {
		e.tower64(en.Tower)
	}
	e.U32(status)
	return e.B
}

// towerFloors builds a tower octet string: the interface and NDR floors,
// then the given floors (protocol id, RHS).
func towerFloors(iface SyntaxID, floors ...[]byte) []byte {
	var b []byte
	le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	le16(uint16(2 + len(floors)))
	for _, s := range []SyntaxID{iface, SyntaxNDR} {
		le16(19)
		b = append(b, 0x0d)
		b = append(b, s.UUID.Wire(false)...)
		le16(s.Major)
		le16(2)
		le16(s.Minor)
	}
	for _, f := range floors {
		le16(1)
		b = append(b, f[0])
		le16(uint16(len(f) - 1))
		b = append(b, f[1:]...)
	}
	return b
}

func floor(id byte, rhs []byte) []byte { return append([]byte{id}, rhs...) }

func cstrFloor(id byte, s string) []byte { return floor(id, append([]byte(s), 0)) }

// TowerNP is an ncacn_np tower: the pipe and the NetBIOS host (\\NAME).
func TowerNP(iface SyntaxID, pipe, host string) []byte {
	return towerFloors(iface, floor(0x0b, []byte{0, 0}), cstrFloor(0x0f, pipe), cstrFloor(0x11, host))
}

// TowerLRPC is an ncalrpc tower with the endpoint name.
func TowerLRPC(iface SyntaxID, name string) []byte {
	return towerFloors(iface, floor(0x0c, []byte{0, 0}), cstrFloor(0x10, name))
}

// TowerHTTP is an ncacn_http tower at addr:port.
func TowerHTTP(iface SyntaxID, port uint16, addr netip.Addr) []byte {
	a := addr.As4()
	return towerFloors(iface, floor(0x0b, []byte{0, 0}), floor(0x1f, []byte{byte(port >> 8), byte(port)}), floor(0x09, a[:]))
}

// Interfaces of the modern-rpc scenario (MS-DRSR, MS-RPRN, MS-TSCH,
// MS-DSSP; the last is outside nspicap's table).
var (
	SyntaxDRSUAPI = SyntaxID{MustUUID("e3514235-4b06-11d1-ab04-00c04fc2dcd2"), 4, 0}
	SyntaxSpoolss = SyntaxID{MustUUID("12345678-1234-abcd-ef00-0123456789ab"), 1, 0}
	SyntaxATSvc   = SyntaxID{MustUUID("1ff70682-0a51-30e8-076d-740be8cee98b"), 1, 0}
	SyntaxDSSP    = SyntaxID{MustUUID("3919286a-b10c-11d0-9ba8-00c04fd92ef5"), 0, 0}
)

// Ports of the modern-rpc scenario's services.
const (
	DRSUAPIPort  = 49668
	LSARPCPort   = 49665
	SpoolssPort  = 49677
	RPCHTTPPort  = 593
	DSSPPort     = 49670
	StatusAccess = 0x00000005 // ERROR_ACCESS_DENIED, the status of the call outside the table
)

// DC01NetBIOS is the NetBIOS host floor of DC01's pipe towers.
const DC01NetBIOS = `\\DC01`

func modernRPCScenario() Scenario {
	return Scenario{Name: "modern-rpc", File: "modern-rpc.pcap", Format: FormatPcap,
		Description: "A Windows client binds the endpoint mapper offering NDR20 and NDR64 in two presentation contexts (and BTFN); the server accepts both and the client calls on the NDR64 one: ept_map for drsuapi (tower ncacn_ip_tcp 49668), ept_map for spoolss (49677), then ept_lookup listing lsarpc on TCP 49665, lsarpc on \\PIPE\\lsass at \\\\DC01 (ncacn_np), lsarpc on LRPC audit, drsuapi over ncacn_http 593, and ATSvc on \\PIPE\\atsvc at \\\\DC01. Then a call on the NDR20 context (ept_map for NSPI, 4997). Last, an unauthenticated DsRolerGetPrimaryDomainInformation (MS-DSSP, an interface outside nspicap's table) answered in clear with 0x00000005.",
		Expected:    "`endpoints` lists every tower as tshark reads it: TCP ports 49668, 49677, 49665, 593 and 4997, pipes \\PIPE\\lsass and \\PIPE\\atsvc with host \\\\DC01, LRPC audit. `calls` gives the MS-DSSP call status 0x00000005 with status_name null. No anomaly.",
		build:       buildModernRPC}
}

func buildModernRPC(e *env) {
	a := client(70)
	r := e.c.NewRPC(e.conn(a, 135), 1)
	ctxs := WindowsContexts(SyntaxEPM, 0)
	r.Bind(BindSpec{Contexts: ctxs, NewAssoc: e.assoc(), SecAddr: "135",
		Results: []Result{{Result: 0, Transfer: SyntaxNDR}, {Result: 0, Transfer: SyntaxNDR64}, {Result: 3, Reason: 3}}})
	be := r.be()
	any := netip.IPv4Unspecified()
	r.Call(CallSpec{Ctx: 1, Opnum: 3, Op: "ept_map", Req: EptMapReq64(be, Tower(SyntaxDRSUAPI, 135, any)),
		Resp: EptMapResp64(be, [][]byte{Tower(SyntaxDRSUAPI, DRSUAPIPort, e.server)}, 0)})
	e.c.Advance(2 * time.Millisecond)
	r.Call(CallSpec{Ctx: 1, Opnum: 3, Op: "ept_map", Req: EptMapReq64(be, Tower(SyntaxSpoolss, 135, any)),
		Resp: EptMapResp64(be, [][]byte{Tower(SyntaxSpoolss, SpoolssPort, e.server)}, 0)})
	e.c.Advance(2 * time.Millisecond)
	var h Handle
	copy(h[4:], e.c.RandBytes(16))
	entries := []LookupEntry{
		{Annotation: "", Tower: Tower(SyntaxLSARPC, LSARPCPort, e.server)},
		{Annotation: "", Tower: TowerNP(SyntaxLSARPC, `\PIPE\lsass`, DC01NetBIOS)},
		{Annotation: "", Tower: TowerLRPC(SyntaxLSARPC, "audit")},
		{Annotation: "MS NT Directory DRS Interface", Tower: TowerHTTP(SyntaxDRSUAPI, RPCHTTPPort, e.server)},
		{Annotation: "", Tower: TowerNP(SyntaxATSvc, `\PIPE\atsvc`, DC01NetBIOS)},
	}
	r.Call(CallSpec{Ctx: 1, Opnum: 2, Op: "ept_lookup", Req: EptLookupReq64(be, 500),
		Resp: EptLookupResp64(be, h, entries, 0)})
	e.c.Advance(2 * time.Millisecond)
	// The NDR20 context of the same connection.
	r.Call(CallSpec{Ctx: 0, Opnum: 3, Op: "ept_map", Req: EptMapReq(be, Tower(SyntaxNSPI, 135, any)),
		Resp: EptMapResp(be, [][]byte{Tower(SyntaxNSPI, NSPIPort, e.server)}, 0)})
	r.C.CloseFIN(C2S)

	// A call to an interface outside nspicap's table, answered in clear:
	// DsRolerGetPrimaryDomainInformation (MS-DSSP opnum 0: [in] enum
	// InfoLevel, [out] a unique pointer, NULL here; DWORD return).
	e.c.Advance(20 * time.Millisecond)
	t := e.c.NewRPC(e.conn(a, DSSPPort), 1)
	t.Bind(BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxDSSP, Transfer: []SyntaxID{SyntaxNDR}}}, NewAssoc: e.assoc(), SecAddr: "49670"})
	req := NewNDR(t.be())
	req.U16(1) // DsRolePrimaryDomainInfoBasic
	resp := NewNDR(t.be())
	resp.Null()
	resp.U32(StatusAccess)
	t.Call(CallSpec{Ctx: 0, Opnum: 0, Op: "opnum_0", Req: req.B, Resp: resp.B})
	t.C.CloseFIN(C2S)
}

// AnonCreds is the anonymous logon of the sealed-ntlm-anon scenario.
var AnonCreds = Creds{Workstation: "KIOSK7", Anonymous: true}

// NTLMAnonSealAuthenticate builds the AUTHENTICATE of an anonymous NTLM
// logon that negotiates sealing (MS-NLMP 3.3.2 special case: user and
// password "", NtChallengeResponse empty, LmChallengeResponse Z(1); the
// ANONYMOUS flag). No password enters the keys: the SessionBaseKey is
// Z(16), which is the KeyExchangeKey (3.4.5.1), under which randomKey, the
// ExportedSessionKey, is sent RC4-encrypted (KEY_EXCH). No MIC.
func NTLMAnonSealAuthenticate(c Creds, randomKey []byte) []byte {
	flags := uint32(NTLMAuthFlags | NTLMAnonymous | NTLMSealFlags)
	enc := make([]byte, 16)
	ciph, _ := rc4.NewCipher(make([]byte, 16))
	ciph.XORKeyStream(enc, randomKey)
	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(3)
	m.secBuf([]byte{0}) // LmChallengeResponse: Z(1)
	m.secBuf(nil)       // NtChallengeResponse: empty
	m.secBuf(nil)       // DomainName
	m.secBuf(nil)       // UserName
	m.secBuf(UTF16LE(c.Workstation))
	m.secBuf(enc)
	m.u32(flags)
	m.bytes(ntlmVersion)
	return m.finish([]int{2, 3, 4, 0, 1, 5})
}

func sealedAnonScenario() Scenario {
	return Scenario{Name: "sealed-ntlm-anon", File: "sealed-ntlm-anon.pcap", Format: FormatPcap,
		Description: "An anonymous NTLM logon (empty user and domain, empty NT response, LM response Z(1), ANONYMOUS flag, KEY_EXCH) binds NSPI at auth level privacy: NspiBind, NspiGetSpecialTable, NspiQueryRows, NspiGetPropList, NspiUnbind, all sealed with keys derived from the all-zero session base key (MS-NLMP 3.3.2, 3.4.5).",
		Expected:    "Without any keys file every call decrypted (statuses as unsealed traffic); no warning that calls stay sealed.",
		build:       buildSealedAnon}
}

func buildSealedAnon(e *env) {
	r := e.c.NewRPC(e.conn(client(75), NSPIPort), 1)
	r.SealedBind(e.bindSpec(AuthNTLMAnon, AnonCreds), SealSpec{Anonymous: true})
	e.browse(r)
}
