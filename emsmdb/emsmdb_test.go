package emsmdb

import (
	"encoding/binary"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

func msg(stub []byte) *dcerpc.Message {
	m := &dcerpc.Message{Stub: stub, Len: len(stub), Complete: true, LittleEndian: true, Frags: 1}
	copy(m.Tail[:], stub[len(stub)-4:])
	return m
}

func TestConnect(t *testing.T) {
	dn := "/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=alice\x00"
	req := binary.LittleEndian.AppendUint32(nil, uint32(len(dn)))
	req = binary.LittleEndian.AppendUint32(req, 0)
	req = binary.LittleEndian.AppendUint32(req, uint32(len(dn)))
	req = append(req, dn...)
	for len(req)%4 != 0 {
		req = append(req, 0)
	}
	req = append(req, make([]byte, 40)...)
	resp := make([]byte, 80)
	resp[4] = 0x42
	binary.LittleEndian.PutUint32(resp[76:], 0x000004de)
	op := Decode(&dcerpc.Call{Opnum: OpConnect, Request: msg(req), Response: msg(resp)})
	if op.Err != nil || op.UserDN != dn[:len(dn)-1] || !op.HasHandle || op.Handle[4] != 0x42 || !SessionLimit(op.Status) || op.Name != "EcDoConnect" {
		t.Fatalf("%+v", op)
	}
	if n, _ := StatusName(op.Status); n != "ecMaxObjsExceeded" {
		t.Error(n)
	}
	for n := 0; n < len(req); n++ {
		Decode(&dcerpc.Call{Opnum: OpConnectEx, Request: msg(append([]byte{0, 0, 0, 0}, req[:n]...))})
	}
}
