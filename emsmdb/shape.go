package emsmdb

import (
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// maxAux bounds rgbAuxIn and rgbAuxOut (MS-OXCRPC: at most 0x1008 bytes).
const maxAux = 0x1008

// Shape reports whether a call of opnum 0, 1 or 10 has the layout of
// EcDoConnect, EcDoDisconnect or EcDoConnectEx (protocol-notes §3.2 to §3.4;
// MS-OXCRPC 3.1.4.1 to 3.1.4.3), to recognise the interface of a connection
// whose bind is not in the capture, as nspi.Shape does for NSPI: the caller
// takes an interface only when one package's Shape alone says yes. The
// request must be whole and end where its layout ends; the response, when
// captured whole, must too. Sealed stubs are judged by their lengths alone
// for EcDoDisconnect (20 and 24 bytes; an NspiUnbind request is 24), and
// have no shape for the connects. Other opnums: false.
func Shape(opnum uint16, rq, rs *dcerpc.Message) bool {
	if rq == nil || !rq.Complete || rq.Damaged {
		return false
	}
	if rs != nil && (!rs.Complete || rs.Damaged || rs.StatusLost || rs.Truncated) {
		rs = nil
	}
	switch opnum {
	case OpDisconnect:
		if rq.Sealed || rs != nil && rs.Sealed {
			return rq.Len == 20 && (rs == nil || rs.Len == 24)
		}
		r := ndr.NewReader(rq.Stub, rq.LittleEndian)
		h := r.ContextHandle("cxh")
		if r.Err() != nil || !rq.EndsAt(20) || !handleShape(h, true) {
			return false
		}
		if rs == nil {
			return true
		}
		a := ndr.NewReader(rs.Stub, rs.LittleEndian)
		h = a.ContextHandle("pcxh")
		a.U32("return value")
		return a.Err() == nil && rs.Len == 24 && h == [20]byte{}
	case OpConnect, OpConnectEx:
		if rq.Sealed || rs != nil && rs.Sealed {
			return false
		}
		return connectRequest(rq, opnum == OpConnectEx) && (rs == nil || connectResponse(rs, opnum == OpConnectEx))
	}
	return false
}

// connectRequest: szUserDN (a legacyExchangeDN: "/o=..."), ulFlags,
// ulConMod, cbLimit, ulCpid, ulLcidString, ulLcidSort, ulIcxrLink,
// usFCanConvertCodePages, rgwClientVersion[3], pulTimeStamp; EcDoConnectEx
// adds rgbAuxIn (conformant: max_count then the bytes), cbAuxIn (equal to
// that max_count) and pcbAuxOut (at most 0x1008).
func connectRequest(m *dcerpc.Message, ex bool) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	dn, ok := cstring(r, "szUserDN")
	if !ok || len(dn) < 2 || dn[0] != '/' {
		return false
	}
	for range 7 {
		r.U32("ulFlags..ulIcxrLink")
	}
	for range 4 {
		r.U16("usFCanConvertCodePages, rgwClientVersion")
	}
	r.U32("pulTimeStamp")
	if ex {
		n := r.Count("rgbAuxIn.max_count", maxAux, 1)
		r.Skip("rgbAuxIn", n)
		cb := r.U32("cbAuxIn")
		out := r.U32("pcbAuxOut")
		if r.Err() != nil || int(cb) != n || out > maxAux {
			return false
		}
	}
	return r.Err() == nil && m.EndsAt(r.Offset())
}

// connectResponse: the CXH (a UUID when the return value is 0, all zero
// otherwise), pcmsPollsMax, pcRetry, pcmsRetryDelay, picxr, szDNPrefix and
// szDisplayName (unique pointers to strings), rgwServerVersion[3],
// rgwBestVersion[3], pulTimeStamp; EcDoConnectEx adds rgbAuxOut (conformant
// varying) and pcbAuxOut; then the return value, last.
func connectResponse(m *dcerpc.Message, ex bool) bool {
	r := ndr.NewReader(m.Stub, m.LittleEndian)
	h := r.ContextHandle("pcxh")
	for range 3 {
		r.U32("pcmsPollsMax, pcRetry, pcmsRetryDelay")
	}
	r.U16("picxr")
	for _, f := range []string{"szDNPrefix", "szDisplayName"} {
		if r.Pointer(f) != 0 {
			if _, ok := cstring(r, f); !ok {
				return false
			}
		}
	}
	for range 6 {
		r.U16("rgwServerVersion, rgwBestVersion")
	}
	r.U32("pulTimeStamp")
	if ex {
		max := r.U32("rgbAuxOut.max_count")
		off := r.U32("rgbAuxOut.offset")
		n := r.Count("rgbAuxOut.actual_count", min(max, maxAux), 1)
		r.Skip("rgbAuxOut", n)
		out := r.U32("pcbAuxOut")
		if r.Err() != nil || off != 0 || int(out) != n {
			return false
		}
	}
	st := r.U32("return value")
	return r.Err() == nil && r.Offset() == m.Len && handleShape(h, st == 0)
}

// cstring reads a conformant varying string that is text: at least its NUL,
// the NUL last and only there, no control character. The text is returned
// without its NUL, borrowed from the stub.
func cstring(r *ndr.Reader, field string) ([]byte, bool) {
	b := r.ConformantVaryingBytes(field, maxDNLen, 1)
	if r.Err() != nil || len(b) == 0 || b[len(b)-1] != 0 {
		return nil, false
	}
	b = b[:len(b)-1]
	for _, c := range b {
		if c < 0x20 || c == 0x7f || c == 0 {
			return nil, false
		}
	}
	return b, true
}

// handleShape: a context handle's attributes are 0; its UUID is set when
// live is true, zero otherwise.
func handleShape(h [20]byte, live bool) bool {
	if h[0]|h[1]|h[2]|h[3] != 0 {
		return false
	}
	return (h == [20]byte{}) != live
}
