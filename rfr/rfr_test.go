package rfr

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

// ndrBuf writes NDR in either byte order, 4-byte aligned as these stubs are.
type ndrBuf struct {
	b  []byte
	bo binary.AppendByteOrder
}

func (w *ndrBuf) u32(v uint32) { w.b = w.bo.AppendUint32(w.b, v) }

// str writes a conformant varying string with its terminating NUL, padded
// to 4 bytes.
func (w *ndrBuf) str(s string) {
	n := uint32(len(s) + 1)
	w.u32(n)
	w.u32(0)
	w.u32(n)
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func msg(stub []byte, little bool) *dcerpc.Message {
	m := &dcerpc.Message{Stub: stub, Len: len(stub), Complete: true, LittleEndian: little}
	if len(stub) >= 4 {
		copy(m.Tail[:], stub[len(stub)-4:])
	}
	return m
}

// TestDecode reads both opnums' names and return value from stubs built by
// hand after MS-OXABREF 3.1.4.1 and 3.1.4.2, in both byte orders.
func TestDecode(t *testing.T) {
	for _, little := range []bool{true, false} {
		var bo binary.AppendByteOrder = binary.BigEndian
		if little {
			bo = binary.LittleEndian
		}
		// RfrGetNewDSA: ulFlags, pUserDN; answer ppszUnused (null),
		// ppszServer (pointer to pointer to string), return value.
		rq := &ndrBuf{bo: bo}
		rq.u32(0)
		rq.str("/o=Contoso/ou=First/cn=Recipients/cn=alice")
		rs := &ndrBuf{bo: bo}
		rs.u32(0)          // ppszUnused: null
		rs.u32(0x00020000) // ppszServer
		rs.u32(0x00020004) // *ppszServer
		rs.str("dc01.contoso.example")
		rs.u32(0)
		op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Request: msg(rq.b, little), Response: msg(rs.b, little)})
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
		rq = &ndrBuf{bo: bo}
		rq.u32(0)
		rq.u32(uint32(len(dn) + 1))
		rq.str(dn)
		rs = &ndrBuf{bo: bo}
		rs.u32(0x00020000)
		rs.str("mbx01.contoso.example")
		rs.u32(0x80040111)
		op = Decode(&dcerpc.Call{Opnum: OpGetFQDNFromServerDN, Request: msg(rq.b, little), Response: msg(rs.b, little)})
		if op.Err != nil || op.ServerDN != dn || op.Server != "mbx01.contoso.example" || !op.HasStatus || op.Status != 0x80040111 {
			t.Errorf("little=%v RfrGetFQDNFromServerDN: %+v", little, op)
		}
	}
}

// TestDecodeDamaged: a sealed stub is not read, a lost status is not made
// up, a short stub gives an error naming the field, and an unknown opnum is
// named by its number.
func TestDecodeDamaged(t *testing.T) {
	rs := &ndrBuf{bo: binary.LittleEndian}
	rs.u32(0)
	rs.u32(0x00020000)
	rs.u32(0x00020004)
	rs.str("dc01.contoso.example")
	rs.u32(0)

	sealed := msg(rs.b, true)
	sealed.Sealed = true
	if op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Response: sealed}); op.HasStatus || op.Server != "" || op.Err != nil {
		t.Errorf("sealed: %+v", op)
	}
	lost := msg(rs.b, true)
	lost.Damaged, lost.StatusLost = true, true
	if op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Response: lost}); op.HasStatus {
		t.Errorf("status lost but reported: %+v", op)
	}
	// The request cut inside pUserDN's characters.
	rq := &ndrBuf{bo: binary.LittleEndian}
	rq.u32(0)
	rq.str("/o=Contoso/ou=First/cn=Recipients/cn=alice")
	op := Decode(&dcerpc.Call{Opnum: OpGetNewDSA, Request: msg(rq.b[:20], true)})
	if op.Err == nil || !strings.Contains(op.Err.Error(), "pUserDN") {
		t.Errorf("short request: err %v; want one naming pUserDN", op.Err)
	}
	if op := Decode(&dcerpc.Call{Opnum: 7}); op.Name != "opnum_7" {
		t.Errorf("opnum 7 named %q", op.Name)
	}
}
