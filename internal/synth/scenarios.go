package synth

import (
	"fmt"
	"net/netip"
	"time"
)

// Scenario is one generated capture.
type Scenario struct {
	Name        string
	File        string
	Format      Format
	Ifaces      []Interface
	Description string // what the capture shows
	Expected    string // what nspicap should find
	Notes       []string
	TsharkArgs  []string
	TsharkNone  string // Manifest.TsharkNone
	Step        time.Duration
	// Keys, when set, is the content of the <Name>.keys file written
	// beside the capture (nspicap --keys; manifest keys_file).
	Keys string
	// KeysAll, when set, is the content of a <Name>-all.keys file with the
	// keys of every identity of the capture (not named in the manifest).
	KeysAll string
	// Keytab, when set, builds the MIT keytab written beside the capture
	// as KeytabFile (nspicap --keytab).
	Keytab func() ([]byte, error)
	// KeytabFile names the keytab in the manifest (keytab_file); a twin
	// capture names its original's.
	KeytabFile string
	// TsharkKeytabArgs: the manifest's tshark_keytab_args.
	TsharkKeytabArgs []string
	// Seed, when set, seeds the capture's random source instead of Name
	// (a twin capture draws the same handles as its original).
	Seed  string
	build func(e *env)
}

// Generate builds the capture and its manifest.
func (s Scenario) Generate() ([]byte, *Manifest, error) {
	c := NewCapture(s.Name)
	if s.Seed != "" {
		c.rng = NewCapture(s.Seed).rng
	}
	if s.Step != 0 {
		c.Step = s.Step
	}
	ifaces := s.Ifaces
	if ifaces == nil {
		ifaces = []Interface{{Name: "eth0", Link: LinkEthernet, TSResol: 6}}
	}
	e := newEnv(c)
	e.link = Link{Kind: ifaces[0].Link}
	s.build(e)
	data, err := c.Encode(s.Format, ifaces)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	m := &c.Manifest
	m.File = s.File
	m.Format = s.Format.String()
	m.Description = s.Description
	m.Expected = s.Expected
	m.Notes = append(append([]string(nil), s.Notes...), m.Notes...)
	m.TsharkArgs = s.TsharkArgs
	m.TsharkNone = s.TsharkNone
	if s.Keys != "" {
		m.KeysFile = s.Name + ".keys"
	}
	m.KeytabFile = s.KeytabFile
	m.TsharkKeytabArgs = s.TsharkKeytabArgs
	m.Frames = len(c.Packets)
	m.LinkTypes = nil
	for _, i := range ifaces {
		m.LinkTypes = append(m.LinkTypes, int(i.Link.LinkType()))
	}
	if m.NSPI == nil {
		m.NSPI = []Call{}
	}
	if m.Other == nil {
		m.Other = []Call{}
	}
	m.finalize()
	return data, m, nil
}

// Topology (documentation address ranges).
var (
	ServerV4 = netip.MustParseAddr("198.51.100.10")
	ServerV6 = netip.MustParseAddr("2001:db8::10")
	DC01     = Target{NbDomain: "CONTOSO", NbHost: "DC01", DNSDomain: "contoso.example",
		DNSHost: "dc01.contoso.example", SPN: "exchangeAB/dc01.contoso.example"}
)

// NSPIPort is the dynamic port the NSPI server listens on.
const NSPIPort = 4997

// Users.
var (
	Alice  = Creds{Domain: "CONTOSO", User: "alice", Workstation: "WS-ALICE"}
	Bob    = Creds{Domain: "CONTOSO", User: "bob", Workstation: "WS-BOB"}
	Carol  = Creds{Domain: "FABRIKAM", User: "carol", Workstation: "WS-CAROL"}
	Dave   = Creds{Domain: "CONTOSO", User: "dave", Workstation: "WS-DAVE"}
	Erin   = Creds{Domain: "CONTOSO", User: "erin", Workstation: "WS-ERIN"}
	Frank  = Creds{Domain: "CONTOSO", User: "frank", Workstation: "WS-FRANK"}
	Grace  = Creds{Domain: "CONTOSO", User: "grace", Workstation: "WS-GRACE"}
	Heidi  = Creds{Domain: "CONTOSO", User: "heidi", Workstation: "WS-HEIDI"}
	Judy   = Creds{Domain: "CONTOSO", User: "judy", Workstation: "WS-JUDY"}
	Ken    = Creds{Domain: "CONTOSO", User: "ken", Workstation: "WS-KEN"}
	Laura  = Creds{Domain: "CONTOSO", User: "laura", Workstation: "WS-LAURA"}
	Mike   = Creds{Domain: "CONTOSO", User: "mike", Workstation: "WS-MIKE"}
	SvcCRM = Creds{Domain: "CONTOSO", User: "svc-crm", Workstation: "APP-CRM01"}
	Anon   = Creds{Workstation: "KIOSK7", Anonymous: true}
)

type env struct {
	c         *Capture
	nextPort  uint16
	nextAssoc uint32
	link      Link
	iface     int
	server    netip.Addr
}

func newEnv(c *Capture) *env {
	return &env{c: c, nextPort: 49702, nextAssoc: 0x0002a46c, server: ServerV4}
}

func client(n int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(n)}) }

// at moves the clock to Start+d (never backwards).
func (e *env) at(d time.Duration) {
	if t := Start.Add(d); t.After(e.c.now) {
		e.c.now = t
	}
}

// conn creates a connection from addr to the server port and opens it
// (handshake emitted).
func (e *env) conn(addr netip.Addr, port uint16) *Conn {
	cn := e.c.NewConn(netip.AddrPortFrom(addr, e.nextPort), netip.AddrPortFrom(e.server, port))
	e.nextPort += 3
	cn.Link = e.link
	cn.Iface = e.iface
	cn.Open()
	return cn
}

func (e *env) assoc() uint32 {
	e.nextAssoc += 0x1111
	return e.nextAssoc
}

// bindSpec returns a Windows-10 style bind for NSPI.
func (e *env) bindSpec(auth string, cr Creds) BindSpec {
	return BindSpec{Contexts: WindowsContexts(SyntaxNSPI, 0), Auth: auth, Creds: cr, Target: DC01,
		NewAssoc: e.assoc(), SecAddr: fmt.Sprint(NSPIPort), PadByte: 0x5c}
}

// nspiConn opens a connection and binds NSPI with NTLM.
func (e *env) nspiConn(addr netip.Addr, auth string, cr Creds) *RPC {
	cn := e.conn(addr, NSPIPort)
	r := e.c.NewRPC(cn, 1)
	r.Bind(e.bindSpec(auth, cr))
	return r
}

// normalSession: bind, a few calls, unbind, FIN.
func (e *env) normalSession(addr netip.Addr, cr Creds) {
	r := e.nspiConn(addr, AuthNTLM, cr)
	h := r.NspiBind(BindResult{Status: 0, ClientGUID: &UUID{}})
	e.c.Advance(20 * time.Millisecond)
	r.NspiGetSpecialTable(h)
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(35 * time.Millisecond)
	r.NspiGetPropList(h, 0x1a2, 0)
	e.c.Advance(1 * time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

// epm does an ept_map for NSPI on TCP 135.
func (e *env) epm(addr netip.Addr, windows bool) {
	cn := e.conn(addr, 135)
	r := e.c.NewRPC(cn, 1)
	spec := BindSpec{Contexts: []ContextElem{{ID: 0, Abstract: SyntaxEPM, Transfer: []SyntaxID{SyntaxNDR}}},
		NewAssoc: e.assoc(), SecAddr: "135"}
	if windows {
		spec.Contexts = WindowsContexts(SyntaxEPM, 0)
	}
	r.Bind(spec)
	r.EptMap(SyntaxNSPI, e.server, NSPIPort)
	cn.CloseFIN(C2S)
}

const tsharkOOO = "tcp.reassemble_out_of_order:TRUE"

// Scenarios returns every scenario in generation order.
func Scenarios() []Scenario {
	return append([]Scenario{
		{Name: "clean", File: "clean.pcap", Format: FormatPcap,
			Description: "EPM ept_map on TCP 135 maps NSPI to 4997, then CONTOSO\\alice binds NSPI with NTLM (connect level), NspiGetSpecialTable, 2x NspiQueryRows, NspiGetPropList, NspiUpdateStat, NspiCompareMIds, NspiUnbind (returns 1), FIN.",
			Expected:    "One NSPI session for CONTOSO\\alice, bound and unbound; no LOGON_FAILED; server port 4997 learned from EPM.",
			build:       buildClean},
		{Name: "ntlm-users", File: "ntlm-users.pcap", Format: FormatPcap,
			Description: "CONTOSO\\alice and CONTOSO\\bob bind with NTLM (bind NEGOTIATE / bind_ack CHALLENGE / auth3 AUTHENTICATE), FABRIKAM\\carol with NTLM inside SPNEGO (bind / bind_ack / alter_context AUTHENTICATE / alter_context_resp), interleaved; one connection authenticates with a Kerberos AP-REQ in SPNEGO (user not visible); one NTLM anonymous (null session) bind is refused with 0x80040111. All sessions unbind.",
			Expected:    "Sessions for CONTOSO\\alice, CONTOSO\\bob, FABRIKAM\\carol and one Kerberos session with unknown user, all unbound; one LOGON_FAILED from an NTLM anonymous bind (empty user).",
			build:       buildNTLMUsers},
		{Name: "leak-to-limit", File: "leak-to-limit.pcap", Format: FormatPcap,
			Description: "CONTOSO\\svc-crm calls NspiBind 60 times, one every 2 minutes over ~2 hours, on 6 NTLM connections that stay open, and never unbinds. Binds 1-50 succeed with unique handles; binds 51-60 return 0x80040111 with a zero handle and NULL server GUID. CONTOSO\\alice and CONTOSO\\bob bind and unbind normally meanwhile.",
			Expected:    "CONTOSO\\svc-crm: 50 leaked sessions (open at end), 10 authenticated LOGON_FAILED (per-user limit hit after 50); alice and bob clean.",
			build:       buildLeak},
		{Name: "outlook-anon-first", File: "outlook-anon-first.pcap", Format: FormatPcap,
			Description: "Outlook 2003 style: ept_map, then an unauthenticated bind (auth_length 0) and NspiBind refused with 0x80040111 that echoes the client's non-NULL GUID; the client opens a second connection in the same association group (assoc_group from the first bind_ack, call_id continuing at 2), binds with NTLM as CONTOSO\\alice, NspiBind OK, queries, NspiUnbind.",
			Expected:    "One unauthenticated LOGON_FAILED (normal Outlook behaviour, not a limit hit); one clean CONTOSO\\alice session.",
			build:       buildOutlook},
		{Name: "conn-close", File: "conn-close.pcap", Format: FormatPcap,
			Description: "CONTOSO\\alice binds and the connection is closed by FIN without NspiUnbind; CONTOSO\\bob binds and the client resets the connection (RST); CONTOSO\\erin binds on one connection and unbinds on a second connection of the same association group; alice reconnects (new group), uses her old handle (fault 0x1c00001a context mismatch), then binds and unbinds properly.",
			Expected:    "alice's first session and bob's session end without NspiUnbind (connection closed: fin / rst); erin's session unbound on another connection; one fault; alice's second session clean.",
			build:       buildConnClose},
		{Name: "midstream", File: "midstream.pcap", Format: FormatPcap,
			Description: "The capture starts in the middle of an NTLM-authenticated NSPI connection (no SYN, no bind, no NspiBind): NspiQueryRows, NspiGetPropList, NspiUpdateStat on a handle never seen bound, then NspiUnbind of it and FIN. Meanwhile a full normal connection to the same server port (CONTOSO\\grace).",
			Expected:    "An unbind of a handle bound before the capture (user unknown); one clean CONTOSO\\grace session. Port 4997 is NSPI (learned from grace's bind).",
			Notes:       []string{"tshark cannot name the interface of the first connection (its bind is not in the capture): those calls have tshark=false; it shows DCE/RPC requests/responses with unknown interface."},
			build:       buildMidstream},
		{Name: "fragmented", File: "fragmented.pcap", Format: FormatPcap,
			Description: "CONTOSO\\dave negotiates max_xmit_frag 64, so every NSPI request/response after the bind is split into several DCE/RPC fragments (each with its own NTLM verifier; FIRST/LAST flags, alloc_hint = remaining stub). A second connection (CONTOSO\\erin) sends every TCP payload byte, in both directions, in its own 1-byte segment.",
			Expected:    "Two clean sessions (dave, erin), bound and unbound.",
			Notes:       []string{"tshark's DCE/RPC heuristic cannot pick up a stream that starts with 1-byte segments; tshark_args adds Decode As tcp.port==4997 -> dcerpc so it reassembles erin's connection."},
			TsharkArgs:  []string{"-d", "tcp.port==4997,dcerpc"},
			build:       buildFragmented},
		{Name: "retrans-reorder", File: "retrans-reorder.pcap", Format: FormatPcap,
			Description: "CONTOSO\\heidi: the NspiBind request arrives in two reordered segments, its response is retransmitted, an NspiQueryRows request and response have overlapping retransmissions, an NspiGetPropList request has reordered and duplicated segments, and the NspiUnbind request is retransmitted whole after an RTO.",
			Expected:    "One clean CONTOSO\\heidi session with each call counted once.",
			TsharkArgs:  []string{"-o", tsharkOOO},
			build:       buildRetrans},
		{Name: "missing-segment", File: "missing-segment.pcap", Format: FormatPcap,
			Description: "CONTOSO\\judy: the middle segment of an NspiQueryRows request is missing from the capture (the server's ACK covers it); the response and all later calls on the connection are intact.",
			Expected:    "One clean CONTOSO\\judy session (bound and unbound); the damaged request is skipped without losing later calls.",
			build:       buildMissing},
		{Name: "bigendian", File: "bigendian.pcap", Format: FormatPcap,
			Description: "CONTOSO\\ken on a connection where every PDU (bind, bind_ack, auth3, requests, responses) uses drep 0x00: big-endian headers, UUIDs and NDR stubs.",
			Expected:    "One clean CONTOSO\\ken session.",
			build:       buildBigEndian},
		{Name: "alter-context", File: "alter-context.pcap", Format: FormatPcap,
			Description: "CONTOSO\\laura binds NSPI (NTLM), calls NspiBind, then adds RFR (1544f5e0-613c-11d1-93df-00c04fd7bd09 v1.0) as context 3 with alter_context and calls RfrGetNewDSA (opnum 0 on context 3 — not an NspiBind), then NSPI calls and NspiUnbind.",
			Expected:    "One clean CONTOSO\\laura session; exactly one NspiBind (the RFR opnum 0 must not count).",
			build:       buildAlter},
		{Name: "ipv6", File: "ipv6.pcap", Format: FormatPcap,
			Description: "CONTOSO\\alice normal session over IPv6 (2001:db8::21 -> [2001:db8::10]:4997).",
			Expected:    "One clean CONTOSO\\alice session.", build: buildIPv6},
		{Name: "vlan", File: "vlan.pcap", Format: FormatPcap,
			Description: "CONTOSO\\alice normal session on 802.1Q VLAN 100; on QinQ (S-VLAN 200, C-VLAN 300) CONTOSO\\mike's NTLM-authenticated NspiBind is refused with 0x80040111, and CONTOSO\\bob has a normal session.",
			Expected:    "Clean sessions for alice and bob; one authenticated LOGON_FAILED for CONTOSO\\mike.", build: buildVLAN},
		{Name: "sll2", File: "sll2.pcap", Format: FormatPcap, Ifaces: []Interface{{Name: "any", Link: LinkSLL2, TSResol: 6}},
			Description: "CONTOSO\\bob normal session, Linux cooked capture v2 (linktype 276).",
			Expected:    "One clean CONTOSO\\bob session.", build: buildSimple(22, Bob)},
		{Name: "nanosecond", File: "nanosecond.pcap", Format: FormatPcapNs, Step: 83333 * time.Nanosecond,
			Description: "FABRIKAM\\carol normal session, pcap with nanosecond timestamps (magic a1b23c4d).",
			Expected:    "One clean FABRIKAM\\carol session.", build: buildSimple(23, Carol)},
		{Name: "bigendian-file", File: "bigendian-file.pcap", Format: FormatPcapBE,
			Description: "CONTOSO\\alice normal session in a big-endian pcap file (header and record fields big-endian).",
			Expected:    "One clean CONTOSO\\alice session.", build: buildSimple(21, Alice)},
		{Name: "two-interfaces", File: "two-interfaces.pcapng", Format: FormatPcapNG, Step: 83333 * time.Nanosecond,
			Ifaces:      []Interface{{Name: "eth0", Link: LinkEthernet, TSResol: 6}, {Name: "tun0", Link: LinkRaw, TSResol: 9}},
			Description: "pcapng with two interfaces: interface 0 Ethernet (if_tsresol 6, microseconds) carries CONTOSO\\alice's session, interface 1 raw IP (linktype 101, if_tsresol 9) carries CONTOSO\\bob's; packets interleave.",
			Expected:    "Clean sessions for alice and bob.", build: buildTwoIfaces},
		{Name: "gzip", File: "gzip.pcap.gz", Format: FormatPcapGz,
			Description: "CONTOSO\\dave normal session in a gzip-compressed pcap.",
			Expected:    "One clean CONTOSO\\dave session.", build: buildSimple(24, Dave)},
		sealedScenario(),
		sealedClearScenario(),
		sealedV1Scenario(),
		krbAESScenario(),
		krbAESClearScenario(),
		krbRC4Scenario(),
		emsmdbLimitScenario(),
		endpointTroubleScenario(),
		deadConnScenario(),
		alterNTLMScenario(),
		olderScenario("older-epm-before", epmBefore),
		olderScenario("older-epm-after", epmAfter),
		olderScenario("older-no-evidence", epmAbsent),
		modernRPCScenario(),
		sealedAnonScenario(),
	}, append(append(append(smbScenarios(), rpchScenarios()...), rpchOlderScenarios()...), kdcScenarios()...)...)
}

func buildSimple(n int, cr Creds) func(e *env) {
	return func(e *env) { e.normalSession(client(n), cr) }
}

func buildClean(e *env) {
	a := client(10)
	e.epm(a, true)
	e.c.Advance(15 * time.Millisecond)
	r := e.nspiConn(a, AuthNTLM, Alice)
	h := r.NspiBind(BindResult{Status: 0, ClientGUID: &UUID{}})
	e.c.Advance(30 * time.Millisecond)
	r.NspiGetSpecialTable(h)
	r.NspiQueryRows(h, 0, 0)
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(400 * time.Millisecond)
	r.NspiGetPropList(h, 0x1a2, 0)
	r.NspiUpdateStat(h, 0)
	r.NspiCompareMIds(h, 0x1a2, 0x1a7)
	e.c.Advance(2 * time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

func buildNTLMUsers(e *env) {
	ra := e.nspiConn(client(21), AuthNTLM, Alice)
	ha := ra.NspiBind(BindResult{ClientGUID: &UUID{}})
	e.c.Advance(40 * time.Millisecond)
	rb := e.nspiConn(client(22), AuthNTLM, Bob)
	hb := rb.NspiBind(BindResult{ClientGUID: &UUID{}})
	ra.NspiQueryRows(ha, 0, 0)
	e.c.Advance(25 * time.Millisecond)
	rc := e.nspiConn(client(23), AuthSPNEGONTLM, Carol)
	hc := rc.NspiBind(BindResult{ClientGUID: &UUID{}})
	rb.NspiQueryRows(hb, 0, 0)
	rc.NspiQueryRows(hc, 0, 0)
	rc.NspiGetPropList(hc, 0x1b3, StatusNotFound)
	e.c.Advance(60 * time.Millisecond)
	rk := e.nspiConn(client(26), AuthKerberos, Creds{Domain: "CONTOSO", User: "(kerberos)"})
	hk := rk.NspiBind(BindResult{ClientGUID: &UUID{}})
	rk.NspiQueryRows(hk, 0, 0)
	e.c.Advance(80 * time.Millisecond)
	rn := e.nspiConn(client(25), AuthNTLMAnon, Anon)
	rn.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	rn.C.CloseFIN(C2S)
	e.c.Advance(500 * time.Millisecond)
	ra.NspiUnbind(ha, StatusUnbindSuccess)
	rb.NspiUnbind(hb, StatusUnbindSuccess)
	rc.NspiUnbind(hc, StatusUnbindSuccess)
	rk.NspiUnbind(hk, StatusUnbindSuccess)
	for _, r := range []*RPC{ra, rb, rc, rk} {
		r.C.CloseFIN(C2S)
	}
}

func buildLeak(e *env) {
	svc := client(50)
	var conns []*RPC
	var alice, bob *RPC
	var ha, hb Handle
	for i := 1; i <= 60; i++ {
		at := time.Duration(i-1) * 2 * time.Minute
		// Normal users in between.
		switch i {
		case 6:
			e.at(at - time.Minute)
			alice = e.nspiConn(client(21), AuthNTLM, Alice)
			ha = alice.NspiBind(BindResult{ClientGUID: &UUID{}})
			alice.NspiQueryRows(ha, 0, 0)
		case 9:
			e.at(at - 30*time.Second)
			alice.NspiGetPropList(ha, 0x1a2, 0)
			alice.NspiUnbind(ha, StatusUnbindSuccess)
			alice.C.CloseFIN(C2S)
		case 20:
			e.at(at - 40*time.Second)
			bob = e.nspiConn(client(22), AuthNTLM, Bob)
			hb = bob.NspiBind(BindResult{ClientGUID: &UUID{}})
			bob.NspiQueryRows(hb, 0, 0)
		case 23:
			e.at(at - 40*time.Second)
			bob.NspiUnbind(hb, StatusUnbindSuccess)
			bob.C.CloseFIN(C2S)
		case 55:
			e.at(at - 50*time.Second)
			alice = e.nspiConn(client(21), AuthNTLM, Alice)
			ha = alice.NspiBind(BindResult{ClientGUID: &UUID{}})
			alice.NspiUnbind(ha, StatusUnbindSuccess)
			alice.C.CloseFIN(C2S)
		}
		e.at(at)
		if (i-1)%10 == 0 {
			conns = append(conns, e.nspiConn(svc, AuthNTLM, SvcCRM))
		}
		r := conns[len(conns)-1]
		if i <= 50 {
			h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
			r.NspiQueryRows(h, 0, 0)
		} else {
			r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
		}
	}
}

func buildOutlook(e *env) {
	a := client(30)
	e.epm(a, false)
	e.c.Advance(10 * time.Millisecond)
	cn1 := e.conn(a, NSPIPort)
	r1 := e.c.NewRPC(cn1, 1)
	spec := BindSpec{Auth: AuthNone, NewAssoc: 0x02a46c81, SecAddr: fmt.Sprint(NSPIPort), PadByte: 0xa5}
	r1.Bind(spec)
	// FlatUID_r is 16 raw bytes: the junk GUID of protocol notes §9.1 as it appeared on the wire.
	junk := UUID{0x18, 0xb6, 0x0c, 0xe1, 0x98, 0xf1, 0x05, 0xe1, 0x03, 0x00, 0x1f, 0x00, 0x2c, 0x4c, 0x0d, 0xf6}
	r1.NspiBind(BindResult{Status: StatusLogonFailed, EchoGUID: true, ClientGUID: &junk})
	e.c.Advance(30 * time.Millisecond)
	cn2 := e.conn(a, NSPIPort)
	r2 := e.c.NewRPC(cn2, 2)
	spec2 := BindSpec{Auth: AuthNTLM, Creds: Alice, Target: DC01, Assoc: r1.Assoc, SecAddr: fmt.Sprint(NSPIPort), PadByte: 0x00}
	r2.Bind(spec2)
	h := r2.NspiBind(BindResult{ClientGUID: &junk})
	r2.NspiGetSpecialTable(h)
	r2.NspiQueryRows(h, 0, 0)
	r2.NspiGetPropList(h, 0x1a2, 0)
	e.c.Advance(3 * time.Second)
	r2.NspiUnbind(h, StatusUnbindSuccess)
	cn2.CloseFIN(C2S)
	cn1.CloseFIN(C2S)
}

func buildConnClose(e *env) {
	ra := e.nspiConn(client(21), AuthNTLM, Alice)
	ha := ra.NspiBind(BindResult{ClientGUID: &UUID{}})
	ra.NspiQueryRows(ha, 0, 0)
	e.c.Advance(100 * time.Millisecond)
	rb := e.nspiConn(client(22), AuthNTLM, Bob)
	hb := rb.NspiBind(BindResult{ClientGUID: &UUID{}})
	rb.NspiQueryRows(hb, 0, 0)
	e.c.Advance(2 * time.Second)
	ra.C.CloseFIN(C2S)
	e.c.Advance(500 * time.Millisecond)
	rb.C.CloseRST(C2S)
	e.c.Advance(1 * time.Second)
	// erin: bind on one connection, unbind on another of the same group.
	re1 := e.nspiConn(client(27), AuthNTLM, Erin)
	he := re1.NspiBind(BindResult{ClientGUID: &UUID{}})
	re1.NspiQueryRows(he, 0, 0)
	e.c.Advance(300 * time.Millisecond)
	cn := e.conn(client(27), NSPIPort)
	re2 := e.c.NewRPC(cn, re1.CallID)
	sp := e.bindSpec(AuthNTLM, Erin)
	sp.Assoc = re1.Assoc
	re2.Bind(sp)
	re2.NspiUnbind(he, StatusUnbindSuccess)
	re2.C.CloseFIN(C2S)
	re1.C.CloseFIN(C2S)
	e.c.Advance(1 * time.Second)
	// alice comes back with her stale handle.
	ra2 := e.nspiConn(client(21), AuthNTLM, Alice)
	ra2.NspiQueryRows(ha, 0, FaultContextMismatch)
	h2 := ra2.NspiBind(BindResult{ClientGUID: &UUID{}})
	ra2.NspiQueryRows(h2, 0, 0)
	ra2.NspiUnbind(h2, StatusUnbindSuccess)
	ra2.C.CloseFIN(C2S)
}

func buildMidstream(e *env) {
	e.c.Recording = false
	e.c.now = Start.Add(-10 * time.Minute)
	r := e.nspiConn(client(60), AuthNTLM, Frank)
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	// The capture starts now, at Start; what came before was not recorded.
	e.c.Recording = true
	e.c.now = Start
	r.C.Ack(S2C)
	e.c.Advance(2 * time.Second)
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(100 * time.Millisecond)
	rg := e.nspiConn(client(61), AuthNTLM, Grace)
	hg := rg.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiGetPropList(h, 0x1a2, 0)
	rg.NspiQueryRows(hg, 0, 0)
	r.NspiUpdateStat(h, 0)
	e.c.Advance(1 * time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
	rg.NspiGetPropList(hg, 0x1a2, 0)
	rg.NspiUnbind(hg, StatusUnbindSuccess)
	rg.C.CloseFIN(C2S)
}

func buildFragmented(e *env) {
	cn := e.conn(client(70), NSPIPort)
	r := e.c.NewRPC(cn, 1)
	sp := e.bindSpec(AuthNTLM, Dave)
	sp.MaxXmit = 64
	r.Bind(sp)
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	r.NspiGetPropList(h, 0x1a2, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	cn.CloseFIN(C2S)
	e.c.Advance(200 * time.Millisecond)

	cn2 := e.c.NewConn(netip.AddrPortFrom(client(71), 50123), netip.AddrPortFrom(e.server, NSPIPort))
	cn2.Open()
	cn2.OneByte = true
	r2 := e.c.NewRPC(cn2, 1)
	r2.NoClientAck = true
	r2.Bind(e.bindSpec(AuthNTLM, Erin))
	h2 := r2.NspiBind(BindResult{ClientGUID: &UUID{}})
	r2.NspiQueryRows(h2, 0, 0)
	r2.NspiUnbind(h2, StatusUnbindSuccess)
	cn2.OneByte = false
	cn2.CloseFIN(C2S)
}

func buildRetrans(e *env) {
	r := e.nspiConn(client(80), AuthNTLM, Heidi)
	// NspiBind request: second half first; response retransmitted whole.
	r.ReqPlan = func(n int) []Seg { return PlanReorder(n, 48) }
	r.RespPlan = func(n int) []Seg { return PlanRetransmit(n, 0) }
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	// QueryRows: overlapping retransmissions both ways.
	r.ReqPlan = func(n int) []Seg { return PlanOverlap(n, 40, 20) }
	r.RespPlan = func(n int) []Seg { return []Seg{{Off: 0, Len: 30}, {Off: 0, Len: n}} }
	r.NspiQueryRows(h, 0, 0)
	// GetPropList: three segments sent 0,2,1 then 2 again.
	r.ReqPlan = func(n int) []Seg {
		return []Seg{{Off: 0, Len: 24}, {Off: 48, Len: n - 48}, {Off: 24, Len: 24}, {Off: 48, Len: n - 48}}
	}
	r.NspiGetPropList(h, 0x1a2, 0)
	// Unbind: request retransmitted whole after an RTO.
	r.ReqPlan = func(n int) []Seg { return PlanRetransmit(n, 300*time.Millisecond) }
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

func buildMissing(e *env) {
	r := e.nspiConn(client(90), AuthNTLM, Judy)
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.ReqPlan = func(n int) []Seg { return PlanDrop(n, 40, 1) }
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(50 * time.Millisecond)
	r.NspiGetPropList(h, 0x1a2, 0)
	r.NspiQueryRows(h, 0, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

func buildBigEndian(e *env) {
	cn := e.conn(client(100), NSPIPort)
	r := e.c.NewRPC(cn, 1)
	r.Drep = DrepBE
	r.Bind(e.bindSpec(AuthNTLM, Ken))
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.NspiQueryRows(h, 0, 0)
	r.NspiGetPropList(h, 0x1a2, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	cn.CloseFIN(C2S)
}

func buildAlter(e *env) {
	r := e.nspiConn(client(110), AuthNTLM, Laura)
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	r.AlterContext([]ContextElem{{ID: 3, Abstract: SyntaxRFR, Transfer: []SyntaxID{SyntaxNDR}}}, nil)
	r.RfrGetNewDSA(3, "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=laura", "dc01.contoso.example")
	r.NspiQueryRows(h, 0, 0)
	r.NspiUnbind(h, StatusUnbindSuccess)
	r.C.CloseFIN(C2S)
}

func buildIPv6(e *env) {
	e.server = ServerV6
	e.normalSession(netip.MustParseAddr("2001:db8::21"), Alice)
}

func buildVLAN(e *env) {
	e.link = Link{Kind: LinkDot1Q, VLAN: 100}
	e.normalSession(client(21), Alice)
	e.link = Link{Kind: LinkQinQ, VLAN: 200, InnerVLAN: 300}
	r := e.nspiConn(client(31), AuthNTLM, Mike)
	r.NspiBind(BindResult{Status: StatusLogonFailed, ClientGUID: &UUID{}})
	r.C.CloseFIN(C2S)
	e.normalSession(client(22), Bob)
}

func buildTwoIfaces(e *env) {
	e.iface, e.link = 0, Link{Kind: LinkEthernet}
	ra := e.nspiConn(client(21), AuthNTLM, Alice)
	e.iface, e.link = 1, Link{Kind: LinkRaw}
	rb := e.nspiConn(client(22), AuthNTLM, Bob)
	ha := ra.NspiBind(BindResult{ClientGUID: &UUID{}})
	hb := rb.NspiBind(BindResult{ClientGUID: &UUID{}})
	ra.NspiQueryRows(ha, 0, 0)
	rb.NspiQueryRows(hb, 0, 0)
	ra.NspiUnbind(ha, StatusUnbindSuccess)
	rb.NspiUnbind(hb, StatusUnbindSuccess)
	ra.C.CloseFIN(C2S)
	rb.C.CloseFIN(C2S)
}
