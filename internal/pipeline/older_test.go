package pipeline

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/synth"
)

func msg(stub []byte) *dcerpc.Message {
	m := &dcerpc.Message{Stub: stub, Len: len(stub), Complete: true, LittleEndian: true}
	if len(stub) >= 4 {
		copy(m.Tail[:], stub[len(stub)-4:])
	}
	return m
}

// sealedMsg is a sealed stub of n bytes (its content is ciphertext).
func sealedMsg(n int) *dcerpc.Message {
	m := msg(bytes.Repeat([]byte{0xa5}, n))
	m.Sealed = true
	return m
}

var testConn = dcerpc.ConnMeta{ID: 1, Client: netip.MustParseAddrPort("192.0.2.9:50000"), Server: netip.MustParseAddrPort("198.51.100.10:4997")}

func call(opnum uint16, rq, rs *dcerpc.Message) *dcerpc.Call {
	return &dcerpc.Call{Conn: &testConn, Opnum: opnum, Request: rq, Response: rs}
}

var (
	h1     = synth.Handle{0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01}
	guid   = synth.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	dn     = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=alice"
	srvDN  = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=MBX01"
	none   = dcerpc.UUID{}
	nspiU  = dcerpc.NSPI
	rfrU   = dcerpc.RFR
	storeU = dcerpc.EMSMDB
)

// rfrFQDNReq is an RfrGetFQDNFromServerDN request stub.
func rfrFQDNReq(serverDN string) []byte {
	e := synth.NewNDR(false)
	e.U32(0)
	e.U32(uint32(len(serverDN) + 1))
	e.CString(serverDN)
	return e.B
}

func rfrFQDNResp(fqdn string) []byte {
	e := synth.NewNDR(false)
	e.Ref()
	e.CString(fqdn)
	e.Align(4)
	e.U32(0)
	return e.B
}

func disconnectStubs(h synth.Handle) (req, resp []byte) {
	q := synth.NewNDR(false)
	q.Handle(h)
	a := synth.NewNDR(false)
	a.Handle(synth.Handle{})
	a.U32(0)
	return q.B, a.B
}

// withTrailer appends a verification trailer (MS-RPCE 2.2.2.13) to a
// request stub, 4-aligned, as newer Windows clients send it.
func withTrailer(stub []byte) []byte {
	b := append([]byte(nil), stub...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, 0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71)
	return append(b, 0x01, 0x40, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00) // SEC_VT_COMMAND_BITMASK_1 | END
}

// TestShapeOf: the stubs of NspiBind, NspiUnbind, RfrGetNewDSA,
// RfrGetFQDNFromServerDN, EcDoConnect(Ex) and EcDoDisconnect are told apart
// by their layout alone where they share an opnum; where two layouts fit
// the same bytes, nothing is chosen.
func TestShapeOf(t *testing.T) {
	discReq, discResp := disconnectStubs(h1)
	shortDN := "/o=C/cn=al" // RfrGetNewDSA request of 44 bytes: NspiBind's length with a NULL GUID
	for _, tc := range []struct {
		name  string
		opnum uint16
		rq    *dcerpc.Message
		rs    *dcerpc.Message
		want  dcerpc.UUID
	}{
		{"NspiBind with GUID, success", 0, msg(synth.NspiBindReq(false, 0, synth.DefaultSTAT, &guid)), msg(synth.NspiBindResp(false, &guid, h1, 0)), nspiU},
		{"NspiBind without GUID, refused", 0, msg(synth.NspiBindReq(false, 0x20, synth.DefaultSTAT, nil)), msg(synth.NspiBindResp(false, nil, synth.Handle{}, 0x80040111)), nspiU},
		{"NspiBind refused echoing the GUID (Exchange 2003)", 0, msg(synth.NspiBindReq(false, 0, synth.DefaultSTAT, &guid)), msg(synth.NspiBindResp(false, &guid, synth.Handle{}, 0x80040111)), nspiU},
		{"NspiBind unanswered", 0, msg(synth.NspiBindReq(false, 0, synth.DefaultSTAT, nil)), nil, nspiU},
		{"NspiBind big-endian", 0, bigEndian(synth.NspiBindReq(true, 0, synth.DefaultSTAT, &guid)), bigEndian(synth.NspiBindResp(true, &guid, h1, 0)), nspiU},
		{"NspiBind success with a zero handle", 0, msg(synth.NspiBindReq(false, 0, synth.DefaultSTAT, nil)), msg(synth.NspiBindResp(false, nil, synth.Handle{}, 0)), none},
		{"NspiBind request of 48 bytes", 0, msg(append(synth.NspiBindReq(false, 0, synth.DefaultSTAT, nil), 0, 0, 0, 0, 0, 0, 0, 0)), nil, none},
		{"NspiUnbind", 1, msg(synth.NspiUnbindReq(false, h1)), msg(synth.NspiUnbindResp(false, synth.Handle{}, 1)), nspiU},
		{"NspiUnbind failure", 1, msg(synth.NspiUnbindReq(false, h1)), msg(synth.NspiUnbindResp(false, h1, 2)), nspiU},
		{"NspiUnbind with a verification trailer", 1, msg(withTrailer(synth.NspiUnbindReq(false, h1))), msg(synth.NspiUnbindResp(false, synth.Handle{}, 1)), nspiU},
		{"NspiUnbind answered 0", 1, msg(synth.NspiUnbindReq(false, h1)), msg(synth.NspiUnbindResp(false, synth.Handle{}, 0)), none},
		{"RfrGetNewDSA", 0, msg(synth.RfrGetNewDSAReq(false, dn)), msg(synth.RfrGetNewDSAResp(false, "dc01.contoso.example", 0)), rfrU},
		{"RfrGetNewDSA of NspiBind's request length, answered", 0, msg(synth.RfrGetNewDSAReq(false, shortDN)), msg(synth.RfrGetNewDSAResp(false, "dc01.contoso.example", 0)), rfrU},
		// Unanswered, its 44 bytes fit NspiBind's layout too: no choice.
		{"RfrGetNewDSA of NspiBind's request length, unanswered", 0, msg(synth.RfrGetNewDSAReq(false, shortDN)), nil, none},
		{"RfrGetNewDSA unanswered", 0, msg(synth.RfrGetNewDSAReq(false, dn)), nil, rfrU},
		{"RfrGetFQDNFromServerDN", 1, msg(rfrFQDNReq(srvDN)), msg(rfrFQDNResp("mbx01.contoso.example")), rfrU},
		{"EcDoConnect", 0, msg(synth.EcDoConnectReq(false, dn)), msg(synth.EcDoConnectResp(false, h1, 0, "Alice")), storeU},
		{"EcDoConnect refused", 0, msg(synth.EcDoConnectReq(false, dn)), msg(synth.EcDoConnectResp(false, synth.Handle{}, 0x4de, "")), storeU},
		{"EcDoConnectEx", 10, msg(synth.EcDoConnectExReq(false, dn, []byte("aux-in-bytes"))), msg(synth.EcDoConnectExResp(false, h1, 0, "Alice", []byte("aux-out"))), storeU},
		{"EcDoConnectEx answered as EcDoConnect", 10, msg(synth.EcDoConnectExReq(false, dn, nil)), msg(synth.EcDoConnectResp(false, h1, 0, "Alice")), none},
		{"EcDoDisconnect", 1, msg(discReq), msg(discResp), storeU},
		{"sealed NspiBind answered without GUID", 0, sealedMsg(44), sealedMsg(28), nspiU},
		{"sealed opnum 0 answered in 44 bytes", 0, sealedMsg(60), sealedMsg(44), none},
		{"sealed NspiUnbind", 1, sealedMsg(24), sealedMsg(24), nspiU},
		{"sealed EcDoDisconnect", 1, sealedMsg(20), sealedMsg(24), storeU},
		{"sealed opnum 1 of 32 bytes", 1, sealedMsg(32), sealedMsg(40), none},
		{"NspiQueryRows", 3, msg(synth.NspiQueryRowsReq(false, h1, 0, synth.DefaultSTAT, 50, synth.DefaultPropTags)), msg(synth.NspiQueryRowsResp(false, synth.DefaultSTAT, 0)), none},
	} {
		got, ok := shapeOf(call(tc.opnum, tc.rq, tc.rs))
		if !ok {
			got = none
		}
		if got != tc.want {
			t.Errorf("%s: shape says %s, want %s", tc.name, dcerpc.InterfaceName(got), dcerpc.InterfaceName(tc.want))
		}
	}
	// A request cut short (by a gap or the snap length: damaged; or whose
	// last fragment is missing: not complete) has no shape, whatever its
	// bytes.
	for _, full := range [][]byte{synth.NspiBindReq(false, 0, synth.DefaultSTAT, &guid), synth.NspiUnbindReq(false, h1), discReq,
		synth.RfrGetNewDSAReq(false, dn), synth.EcDoConnectReq(false, dn), rfrFQDNReq(srvDN)} {
		for n := range len(full) + 1 {
			for _, op := range []uint16{0, 1, 10} {
				damaged, partial := msg(full[:n]), msg(full[:n])
				damaged.Damaged = true
				partial.Complete = false
				for _, m := range []*dcerpc.Message{damaged, partial} {
					if u, ok := shapeOf(call(op, m, nil)); ok {
						t.Errorf("a cut request (%d of %d bytes) has the shape of %s opnum %d", n, len(full), dcerpc.InterfaceName(u), op)
					}
				}
			}
		}
	}
}

func bigEndian(stub []byte) *dcerpc.Message {
	m := msg(stub)
	m.LittleEndian = false
	return m
}

// TestClassify: the evidence of an endpoint (epm before bind_elsewhere)
// classifies a call when one interface fits its opnum; where RFR and NSPI
// collide, the shape must agree or decides; a known handle comes first; and
// without evidence nothing is guessed.
func TestClassify(t *testing.T) {
	ep := testConn.Server
	queryRows := func() *dcerpc.Call {
		return call(3, msg(synth.NspiQueryRowsReq(false, h1, 0, synth.DefaultSTAT, 50, synth.DefaultPropTags)), nil)
	}
	rpcExt2 := call(11, msg(append(h1[:], make([]byte, 40)...)), nil)
	getNewDSA := call(0, msg(synth.RfrGetNewDSAReq(false, dn)), msg(synth.RfrGetNewDSAResp(false, "dc01.contoso.example", 0)))
	nspiBind := call(0, msg(synth.NspiBindReq(false, 0, synth.DefaultSTAT, nil)), msg(synth.NspiBindResp(false, nil, h1, 0)))
	connect := call(0, msg(synth.EcDoConnectReq(false, dn)), msg(synth.EcDoConnectResp(false, h1, 0, "Alice")))
	drsuapi := dcerpc.MustParseUUID("e3514235-4b06-11d1-ab04-00c04fc2dcd2")
	type ifs = map[dcerpc.UUID]bool
	for _, tc := range []struct {
		name          string
		mapped, bound ifs
		handle        uint8
		c             *dcerpc.Call
		want          dcerpc.UUID
		from          string
	}{
		{"no evidence", nil, nil, 0, queryRows(), none, ""},
		{"bound elsewhere", nil, ifs{nspiU: true}, 0, queryRows(), nspiU, FromBindElsewhere},
		{"mapped and bound: epm first", ifs{nspiU: true}, ifs{nspiU: true}, 0, queryRows(), nspiU, FromEPM},
		{"mapped to NSPI and RFR, opnum 3", ifs{nspiU: true, rfrU: true}, nil, 0, queryRows(), nspiU, FromEPM},
		{"mapped to NSPI and RFR, RfrGetNewDSA", ifs{nspiU: true, rfrU: true}, nil, 0, getNewDSA, rfrU, FromStubShape},
		{"mapped to NSPI and RFR, NspiBind", ifs{nspiU: true, rfrU: true}, nil, 0, nspiBind, nspiU, FromStubShape},
		{"NSPI bound there, RfrGetNewDSA", nil, ifs{nspiU: true}, 0, getNewDSA, rfrU, FromStubShape},
		{"NSPI bound there, NspiBind", nil, ifs{nspiU: true}, 0, nspiBind, nspiU, FromBindElsewhere},
		{"NSPI bound there, opnum 1 without a shape", nil, ifs{nspiU: true}, 0, call(1, sealedMsg(36), nil), none, ""},
		{"NSPI bound there, opnum 3 without a handle", nil, ifs{nspiU: true}, 0, call(3, msg(make([]byte, 8)), nil), none, ""},
		{"NSPI bound there, opnum 30", nil, ifs{nspiU: true}, 0, call(30, msg(make([]byte, 40)), nil), none, ""},
		{"NSPI and drsuapi there", ifs{nspiU: true, drsuapi: true}, nil, 0, queryRows(), none, ""},
		{"only drsuapi there", nil, ifs{drsuapi: true}, 0, queryRows(), none, ""},
		{"EMSMDB mapped, EcDoRpcExt2", ifs{storeU: true}, nil, 0, rpcExt2, storeU, FromEPM},
		{"EMSMDB mapped, EcDoConnect", ifs{storeU: true}, nil, 0, connect, storeU, FromEPM},
		{"EMSMDB mapped, opnum 0 without a shape", ifs{storeU: true}, nil, 0, call(0, sealedMsg(100), nil), none, ""},
		{"NSPI handle, EMSMDB mapped", ifs{storeU: true}, nil, handleNSPI, queryRows(), nspiU, FromHandle},
		{"CXH", nil, nil, handleEMSMDB, rpcExt2, storeU, FromHandle},
		{"shape alone", nil, nil, 0, connect, storeU, FromStubShape},
	} {
		r := &runner{mapped: map[netip.AddrPort]map[dcerpc.UUID]bool{}, endpoints: map[netip.AddrPort]map[dcerpc.UUID]bool{}, handles: map[handleKey]uint8{}}
		if tc.mapped != nil {
			r.mapped[ep] = tc.mapped
		}
		if tc.bound != nil {
			r.endpoints[ep] = tc.bound
		}
		if tc.handle != 0 {
			r.handles[makeHandleKey(ep.Addr(), h1)] = tc.handle
		}
		cl, ok := r.classify(tc.c)
		if !ok {
			cl = class{}
		}
		if cl.iface.UUID != tc.want || cl.from != tc.from {
			t.Errorf("%s: %s from %q, want %s from %q", tc.name, dcerpc.InterfaceName(cl.iface.UUID), cl.from, dcerpc.InterfaceName(tc.want), tc.from)
		}
	}
}

// seqSink records the order of what the pipeline sends.
type seqSink struct {
	calls []*Call
	order []int64 // reply frames of the calls, in the order received
}

func (s *seqSink) Call(c *Call) {
	s.calls = append(s.calls, c)
	s.order = append(s.order, c.Raw.Response.LastPos.Frame)
}
func (s *seqSink) ConnEnd(*analyze.ConnEnd) {}

// TestHeldBound: a connection older than the capture whose calls have no
// evidence holds at most maxHeldPerConn of them; the next one gives it up
// (they go out unknown, in order) and it holds no more, while evidence
// that comes later still classifies its later calls; the sink's order is
// the capture's throughout.
func TestHeldBound(t *testing.T) {
	c := synth.NewCapture("held-bound")
	server := netip.MustParseAddr("198.51.100.10")
	old := c.NewConn(netip.MustParseAddrPort("192.0.2.70:50000"), netip.AddrPortFrom(server, 4997))
	c.Recording = false
	old.Open()
	ro := c.NewRPC(old, 1)
	ro.Bind(synth.BindSpec{Auth: synth.AuthNTLM, Creds: synth.Alice, Target: synth.DC01, NewAssoc: 1, SecAddr: "4997"})
	h := ro.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	c.Recording = true
	n := maxHeldPerConn + 6
	for range n {
		ro.NspiGetPropList(h, 0x1a2, 0)
	}
	// Then another client binds NSPI on the same port: evidence for the
	// old connection's later calls.
	nc := c.NewConn(netip.MustParseAddrPort("192.0.2.71:50000"), netip.AddrPortFrom(server, 4997))
	nc.Open()
	rn := c.NewRPC(nc, 1)
	rn.Bind(synth.BindSpec{Auth: synth.AuthNTLM, Creds: synth.Bob, Target: synth.DC01, NewAssoc: 2, SecAddr: "4997"})
	rn.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	ro.NspiGetPropList(h, 0x1a2, 0)
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "held.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &seqSink{}
	Run([]string{path}, Options{Rows: true}, s)
	if len(s.calls) != n+2 {
		t.Fatalf("%d calls, want %d", len(s.calls), n+2)
	}
	for i, c := range s.calls {
		if i > 0 && s.order[i] < s.order[i-1] {
			t.Errorf("call answered in frame %d came after one answered in frame %d", s.order[i], s.order[i-1])
		}
		switch {
		case i < n && (c.Row.Interface != "unknown" || c.Row.InterfaceInferred):
			t.Errorf("call %d: %s inferred %v, want unknown (given up)", i, c.Row.Interface, c.Row.InterfaceInferred)
		case i == n+1 && (c.Row.Interface != "nspi" || c.Row.InferredFrom != FromBindElsewhere):
			t.Errorf("last call: %s from %q, want nspi from bind_elsewhere", c.Row.Interface, c.Row.InferredFrom)
		}
	}
}
