package nspi

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

// The NspiBind response of protocol-notes §9.2 (a real Exchange 2003 answer),
// stub only.
var bindResp = []byte{
	0x44, 0x7c, 0x1c, 0x00,
	0x3a, 0xbe, 0x14, 0x95, 0xd1, 0x0d, 0xd2, 0x11, 0xa0, 0x93, 0x08, 0x00, 0x09, 0xfb, 0x64, 0x54,
	0x00, 0x00, 0x00, 0x00, 0xef, 0x07, 0x4b, 0x40, 0x1c, 0xf2, 0x09, 0x4b, 0xa8, 0x18, 0x03, 0x65, 0xed, 0xb6, 0x60, 0x64,
	0x00, 0x00, 0x00, 0x00,
}

func msg(stub []byte) *dcerpc.Message {
	m := &dcerpc.Message{Stub: stub, Len: len(stub), Complete: true, LittleEndian: true, Frags: 1}
	copy(m.Tail[:], stub[len(stub)-4:])
	return m
}

func TestDecodeBind(t *testing.T) {
	req := make([]byte, 60)
	binary.LittleEndian.PutUint32(req[0:], FlagAnonymousLogin)
	binary.LittleEndian.PutUint32(req[28:], 1252)
	binary.LittleEndian.PutUint32(req[40:], 0x00020000)
	c := &dcerpc.Call{Opnum: 0, Request: msg(req), Response: msg(bindResp)}
	op := Decode(c)
	if op.Err != nil || !op.HasBind || op.BindFlags != FlagAnonymousLogin || op.CodePage != 1252 {
		t.Fatalf("request: %+v", op)
	}
	if !op.HasStatus || op.Status != 0 || !op.HasHandle || op.Handle[4] != 0xef || !op.HasServerGUID ||
		op.ServerGUID.String() != "9514be3a-0dd1-11d2-a093-080009fb6454" {
		t.Fatalf("response: %+v %s", op, op.ServerGUID)
	}
}

func TestDecodeUnbindAndSealed(t *testing.T) {
	req := make([]byte, 24)
	req[5] = 0x42
	resp := make([]byte, 24)
	resp[20] = 1
	op := Decode(&dcerpc.Call{Opnum: 1, Request: msg(req), Response: msg(resp)})
	if op.Name != "NspiUnbind" || !op.HasHandle || op.Handle[5] != 0x42 || op.Status != UnbindSuccess {
		t.Fatalf("%+v", op)
	}
	sealed := msg(resp)
	sealed.Sealed = true
	op = Decode(&dcerpc.Call{Opnum: 1, Request: msg(req), Response: sealed})
	if op.HasStatus || !errors.Is(op.Err, ErrSealed) {
		t.Fatalf("sealed response decoded: %+v", op)
	}
	if n, _ := StatusName(UnbindSuccess); n != "UnbindSuccess" {
		t.Fatalf("status 1 named %q", n)
	}
	if n, _ := StatusName(0x80040111); n != "MAPI_E_LOGON_FAILED" || OpName(20) != "NspiResolveNamesW" {
		t.Fatal("names")
	}
	short := Decode(&dcerpc.Call{Opnum: 3, Request: msg(req[:10])})
	if short.HasHandle || short.Err == nil {
		t.Fatalf("short handle accepted: %+v", short)
	}
}
