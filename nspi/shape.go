package nspi

import (
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// Shape reports whether a call of opnum 0 or 1 has the layout of NspiBind or
// NspiUnbind (protocol-notes §2.2 and §2.3; MS-OXNSPI 3.1.4.1.1 and
// 3.1.4.1.2). It serves to recognise the interface of a connection whose
// bind is not in the capture, where the same opnums are RfrGetNewDSA and
// RfrGetFQDNFromServerDN (RFR shares NSPI's endpoint) or EcDoConnect and
// EcDoDisconnect: the caller takes an interface only when one package's
// Shape alone says yes (rfr.Shape, emsmdb.Shape).
//
// The request must be whole; the response, when captured whole, must agree.
// Sealed stubs are judged by their lengths alone, and only where those tell
// the interfaces apart: an NspiBind whose answer is 28 bytes (no server
// GUID; an RfrGetNewDSA answer is at least 32), an NspiUnbind of 24 and 24
// bytes (an EcDoDisconnect request is 20, an RfrGetFQDNFromServerDN request
// at least 32). Other opnums: false.
func Shape(opnum uint16, rq, rs *dcerpc.Message) bool {
	if rq == nil || !rq.Complete || rq.Damaged {
		return false
	}
	if rs != nil && (!rs.Complete || rs.Damaged || rs.StatusLost) {
		rs = nil // judge by the request alone
	}
	switch opnum {
	case OpBind:
		if rq.Sealed || rs != nil && rs.Sealed {
			return rs != nil && (rq.Len == 44 || rq.Len == 60) && (rs.Len == 28 || !rs.Sealed && bindResponse(rs))
		}
		return bindRequest(rq) && (rs == nil || bindResponse(rs))
	case OpUnbind:
		if rq.Sealed || rs != nil && rs.Sealed {
			return rq.Len == 24 && (rs == nil || rs.Len == 24)
		}
		return unbindRequest(rq) && (rs == nil || unbindResponse(rs))
	}
	return false
}

// bindRequest: dwFlags, STAT (36 bytes), pServerGuid referent and, when not
// NULL, the 16-byte GUID: 44 or 60 bytes.
func bindRequest(m *dcerpc.Message) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	r.Skip("dwFlags+pStat", 40)
	n := 44
	if r.Pointer("pServerGuid") != 0 {
		n = 60
	}
	return r.Err() == nil && len(m.Stub) >= n && m.EndsAt(n)
}

// bindResponse: pServerGuid referent [+ GUID], the handle (attributes 0; a
// UUID when the bind succeeded, all zero when it failed), the return value:
// 28 or 44 bytes.
func bindResponse(m *dcerpc.Message) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	n := 28
	if r.Pointer("pServerGuid") != 0 {
		n = 44
		r.Skip("pServerGuid", 16)
	}
	h := r.ContextHandle("contextHandle")
	st := r.U32("return value")
	return r.Err() == nil && m.Len == n && handleShape(h, st == 0)
}

// unbindRequest: the handle (attributes 0, a UUID) and Reserved: 24 bytes.
func unbindRequest(m *dcerpc.Message) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	h := r.ContextHandle("contextHandle")
	r.U32("Reserved")
	return r.Err() == nil && m.EndsAt(24) && handleShape(h, true)
}

// unbindResponse: the handle (all zero when destroyed) and 1 (UnbindSuccess)
// or 2 (UnbindFailure): 24 bytes.
func unbindResponse(m *dcerpc.Message) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	h := r.ContextHandle("contextHandle")
	st := r.U32("return value")
	return r.Err() == nil && m.Len == 24 && h[0]|h[1]|h[2]|h[3] == 0 &&
		(st == UnbindSuccess && ZeroHandle(h) || st == UnbindFailure)
}

// handleShape: a context handle's attributes are 0; its UUID is set when
// live is true, zero otherwise.
func handleShape(h [20]byte, live bool) bool {
	if h[0]|h[1]|h[2]|h[3] != 0 {
		return false
	}
	return ZeroHandle(h) != live
}
