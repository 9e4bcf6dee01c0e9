package rfr

import (
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// Shape reports whether a call of opnum 0 or 1 has the layout of
// RfrGetNewDSA or RfrGetFQDNFromServerDN (protocol-notes §5; MS-OXABREF
// 3.1.4.1 and 3.1.4.2), as nspi.Shape does for NspiBind and NspiUnbind, whose
// opnums these share (RFR listens on NSPI's endpoint). The request must be
// whole and end where its layout ends; the response, when captured whole,
// must too. Sealed stubs have no shape here: false.
//
//	RfrGetNewDSA(ulFlags, [string] pUserDN, [unique] ppszUnused, [unique] ppszServer)
//	RfrGetFQDNFromServerDN(ulFlags, cbMailboxServerDN, [string, size_is(cb)] szMailboxServerDN)
func Shape(opnum uint16, rq, rs *dcerpc.Message) bool {
	if rq == nil || !rq.Complete || rq.Damaged || rq.Sealed {
		return false
	}
	if rs != nil && (!rs.Complete || rs.Damaged || rs.StatusLost || rs.Truncated) {
		rs = nil
	}
	if rs != nil && rs.Sealed {
		return false
	}
	r := ndr.NewReader(rq.Stub, rq.LittleEndian)
	r.U32("ulFlags")
	switch opnum {
	case OpGetNewDSA:
		if _, ok := cstring(r, "pUserDN", 0); !ok {
			return false
		}
		if !optionalString(r, "ppszUnused") || !optionalString(r, "ppszServer") {
			return false
		}
		if r.Err() != nil || !rq.EndsAt(r.Offset()) {
			return false
		}
		if rs == nil {
			return true
		}
		a := ndr.NewReader(rs.Stub, rs.LittleEndian)
		if !optionalString(a, "ppszUnused") || !optionalString(a, "ppszServer") {
			return false
		}
		a.U32("return value")
		return a.Err() == nil && a.Offset() == rs.Len
	case OpGetFQDNFromServerDN:
		cb := r.U32("cbMailboxServerDN")
		if max, ok := cstring(r, "szMailboxServerDN", cb); !ok || max != cb || cb < 10 || cb > 1024 {
			return false
		}
		if r.Err() != nil || !rq.EndsAt(r.Offset()) {
			return false
		}
		if rs == nil {
			return true
		}
		a := ndr.NewReader(rs.Stub, rs.LittleEndian)
		if a.Pointer("ppszServerFQDN") != 0 {
			if _, ok := cstring(a, "ppszServerFQDN", 0); !ok {
				return false
			}
		}
		a.U32("return value")
		return a.Err() == nil && a.Offset() == rs.Len
	}
	return false
}

// optionalString reads a unique pointer to a unique pointer to a string
// ([in,out,unique,string] char**); false when the string is not shaped as
// one.
func optionalString(r *ndr.Reader, field string) bool {
	if r.Pointer(field) == 0 || r.Pointer(field+".inner") == 0 {
		return r.Err() == nil
	}
	_, ok := cstring(r, field, 0)
	return ok
}

// cstring reads a conformant varying string and checks that it is text: at
// least its NUL, the NUL last and only there, no control character, and no
// more than limit bytes (maxName when 0). It returns the max_count read.
func cstring(r *ndr.Reader, field string, limit uint32) (uint32, bool) {
	if limit == 0 {
		limit = maxName
	}
	r.Align(4)
	max := r.U32(field + ".max_count")
	off := r.U32(field + ".offset")
	n := r.Count(field+".actual_count", min(max, limit), 1)
	if r.Err() != nil || off != 0 || n == 0 {
		return 0, false
	}
	return max, text(r.Bytes(field, n))
}

// text: b ends with its only NUL and holds no control character.
func text(b []byte) bool {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return false
	}
	for _, c := range b[:len(b)-1] {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
