package nspi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

// Fuzz flag bits.
const (
	fzBigEndian = 1 << iota
	fzReqSealed
	fzRespSealed
	fzReqIncomplete
	fzRespIncomplete
	fzDamaged
	fzStatusLost
	fzNoResponse
)

// fuzzMessage builds a message whose stub is b. keep < len(b) simulates a
// stub truncated by Limits.MaxCallBytes (Stub holds its start, Tail its end).
func fuzzMessage(b []byte, keep int, le, sealed, complete, damaged, statusLost bool) *dcerpc.Message {
	m := &dcerpc.Message{Len: len(b), LittleEndian: le, Sealed: sealed, Complete: complete, Damaged: damaged, StatusLost: statusLost, Frags: 1}
	m.Stub = append([]byte(nil), b[:min(keep, len(b))]...)
	m.Truncated = len(m.Stub) < len(b)
	if len(b) >= 4 {
		copy(m.Tail[:], b[len(b)-4:])
	}
	return m
}

// FuzzDecode decodes arbitrary request and response stubs of any opnum, in
// both byte orders, sealed or not, complete or not: no panic, nothing taken
// from a sealed stub, nothing read past a stub, the stubs left untouched.
func FuzzDecode(f *testing.F) {
	bindReq := make([]byte, 60)
	binary.LittleEndian.PutUint32(bindReq[28:], 1252)
	binary.LittleEndian.PutUint32(bindReq[40:], 0x00020000)
	f.Add(uint16(OpBind), bindReq, bindResp, uint16(0), uint8(0))
	f.Add(uint16(OpBind), bindReq, bindResp[:30], uint16(20), uint8(fzBigEndian))
	f.Add(uint16(OpUnbind), make([]byte, 24), []byte{0, 0, 0, 0, 1, 0, 0, 0}, uint16(0), uint8(0))
	f.Add(uint16(3), bytes.Repeat([]byte{7}, 40), []byte{0x11, 0x01, 0x04, 0x80}, uint16(10), uint8(fzDamaged|fzStatusLost))
	f.Add(uint16(0), []byte{}, []byte{}, uint16(0), uint8(fzReqSealed|fzRespSealed))
	f.Add(uint16(0), bindReq[:7], bindResp, uint16(4), uint8(fzReqIncomplete|fzNoResponse))
	f.Fuzz(func(t *testing.T, opnum uint16, req, resp []byte, keep uint16, flags uint8) {
		le := flags&fzBigEndian == 0
		k := len(req) + len(resp)
		if keep != 0 {
			k = int(keep)
		}
		c := &dcerpc.Call{Opnum: opnum % 24}
		c.Request = fuzzMessage(req, k, le, flags&fzReqSealed != 0, flags&fzReqIncomplete == 0, flags&fzDamaged != 0, false)
		if flags&fzNoResponse == 0 {
			c.Response = fuzzMessage(resp, k, le, flags&fzRespSealed != 0, flags&fzRespIncomplete == 0, flags&fzDamaged != 0, flags&fzStatusLost != 0)
		}
		reqStub := append([]byte(nil), c.Request.Stub...)
		var respStub []byte
		if c.Response != nil {
			respStub = append([]byte(nil), c.Response.Stub...)
		}

		op := Decode(c)

		if !bytes.Equal(reqStub, c.Request.Stub) || c.Response != nil && !bytes.Equal(respStub, c.Response.Stub) {
			t.Fatal("Decode modified a stub")
		}
		if op.Name != OpName(c.Opnum) {
			t.Fatalf("name %q for opnum %d", op.Name, c.Opnum)
		}
		o := binary.ByteOrder(binary.LittleEndian)
		if !le {
			o = binary.BigEndian
		}
		rq, rs := c.Request, c.Response
		// Request fields come from the bytes present, never from a
		// sealed stub.
		if op.HasBind {
			if rq.Sealed || c.Opnum != OpBind || len(rq.Stub) < 40 {
				t.Fatalf("bind fields read from %d stub bytes (sealed %v, opnum %d)", len(rq.Stub), rq.Sealed, c.Opnum)
			}
			if op.BindFlags != o.Uint32(rq.Stub) || op.CodePage != o.Uint32(rq.Stub[28:]) {
				t.Fatalf("bind fields %#x/%d not from the stub", op.BindFlags, op.CodePage)
			}
		}
		if op.HasHandle && c.Opnum != OpBind {
			if rq.Sealed || len(rq.Stub) < 20 || !bytes.Equal(op.Handle[:], rq.Stub[:20]) {
				t.Fatalf("handle %x not the first 20 bytes of a %d-byte clear stub", op.Handle, len(rq.Stub))
			}
		}
		// Response fields: the status is the stub's last 4 bytes, taken
		// only when they were captured and are not ciphertext.
		if op.HasStatus {
			if rs == nil || rs.Sealed || rs.StatusLost || !rs.Complete || rs.Len < 4 {
				t.Fatalf("status %#x taken from %+v", op.Status, rs)
			}
			if op.Status != o.Uint32(rs.Tail[:]) {
				t.Fatalf("status %#x, tail % x", op.Status, rs.Tail)
			}
		}
		if op.HasHandle && c.Opnum == OpBind {
			// The handle is read from the response stub after an
			// optional 16-byte GUID: it must lie within the stub.
			if rs == nil || rs.Sealed || rs.Damaged || rs.Truncated || len(rs.Stub) < 24 {
				t.Fatalf("NspiBind handle from %+v", rs)
			}
			if !bytes.Contains(rs.Stub, op.Handle[:]) {
				t.Fatalf("NspiBind handle %x not in the stub", op.Handle)
			}
		}
		if op.HasServerGUID && (rs == nil || len(rs.Stub) < 20 || rs.Sealed) {
			t.Fatalf("server GUID from %+v", rs)
		}
		if (rq.Sealed || rs != nil && rs.Sealed) && op.Err == nil {
			t.Fatal("sealed stub decoded without error")
		}
	})
}
