package rfr

import (
	"strings"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/synth"
)

func msg(stub []byte, little bool) *dcerpc.Message {
	m := &dcerpc.Message{Stub: stub, Len: len(stub), Complete: true, LittleEndian: little}
	if len(stub) >= 4 {
		copy(m.Tail[:], stub[len(stub)-4:])
	}
	return m
}

// TestDecode reads both opnums' names and return value from stubs laid out
// after MS-OXABREF 3.1.4.1 and 3.1.4.2 (written with internal/synth's NDR
// encoder), in both byte orders.
func TestDecode(t *testing.T) {
	for _, little := range []bool{true, false} {
		// RfrGetNewDSA: ulFlags, pUserDN; answer ppszUnused (null),
		// ppszServer (pointer to pointer to string), return value.
		rq := synth.NewNDR(!little)
		rq.U32(0)
		rq.CString("/o=Contoso/ou=First/cn=Recipients/cn=alice")
		rs := synth.NewNDR(!little)
		rs.Null() // ppszUnused
		rs.Ref()  // ppszServer
		rs.Ref()  // *ppszServer
		rs.CString("dc01.contoso.example")
		rs.U32(0)
		op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Request: msg(rq.B, little), Response: msg(rs.B, little)})
		if op.Err != nil || op.UserDN != "/o=Contoso/ou=First/cn=Recipients/cn=alice" || op.Server != "dc01.contoso.example" || !op.HasStatus || op.Status != 0 {
			t.Errorf("little=%v RfrGetNewDSA: %+v", little, op)
		}
		if op.Name == "" || strings.HasPrefix(op.Name, "opnum_") {
			t.Errorf("RfrGetNewDSA named %q", op.Name)
		}

		// RfrGetFQDNFromServerDN: ulFlags, cbMailboxServerDN,
		// szMailboxServerDN; answer ppszServerFQDN, return value
		// (MAPI_E_LOGON_FAILED here).
		dn := "/o=Contoso/ou=First/cn=Configuration/cn=Servers/cn=MBX01"
		rq = synth.NewNDR(!little)
		rq.U32(0)
		rq.U32(uint32(len(dn) + 1))
		rq.CString(dn)
		rs = synth.NewNDR(!little)
		rs.Ref()
		rs.CString("mbx01.contoso.example")
		rs.U32(0x80040111)
		op = Decode(&dcerpc.Call{Opnum: OpGetFQDNFromServerDN, Request: msg(rq.B, little), Response: msg(rs.B, little)})
		if op.Err != nil || op.ServerDN != dn || op.Server != "mbx01.contoso.example" || !op.HasStatus || op.Status != 0x80040111 {
			t.Errorf("little=%v RfrGetFQDNFromServerDN: %+v", little, op)
		}
	}
}

// TestDecodeDamaged: a sealed stub is not read, a lost status is not made
// up, a short stub gives an error naming the field, and an unknown opnum is
// named by its number.
func TestDecodeDamaged(t *testing.T) {
	rs := synth.NewNDR(false)
	rs.Null()
	rs.Ref()
	rs.Ref()
	rs.CString("dc01.contoso.example")
	rs.U32(0)

	sealed := msg(rs.B, true)
	sealed.Sealed = true
	if op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Response: sealed}); op.HasStatus || op.Server != "" || op.Err != nil {
		t.Errorf("sealed: %+v", op)
	}
	lost := msg(rs.B, true)
	lost.Damaged, lost.StatusLost = true, true
	if op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Response: lost}); op.HasStatus {
		t.Errorf("status lost but reported: %+v", op)
	}
	// The request cut inside pUserDN's characters.
	rq := synth.NewNDR(false)
	rq.U32(0)
	rq.CString("/o=Contoso/ou=First/cn=Recipients/cn=alice")
	op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Request: msg(rq.B[:20], true)})
	if op.Err == nil || !strings.Contains(op.Err.Error(), "pUserDN") {
		t.Errorf("short request: err %v; want one naming pUserDN", op.Err)
	}
	if op := Decode(&dcerpc.Call{Opnum: 7}); op.Name != "opnum_7" {
		t.Errorf("opnum 7 named %q", op.Name)
	}
}
