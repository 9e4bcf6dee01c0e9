package epm

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// ndr64Map builds an ept_map answer in NDR64 (MS-RPCE 2.2.5) around the
// tower of mapResp: 8-byte counts and referent IDs aligned to 8, the tower
// deferred after the array, its conformance 8 bytes.
func ndr64Map(t *testing.T) []byte {
	t.Helper()
	old, _ := hex.DecodeString(strings.ReplaceAll(mapResp, " ", ""))
	tower := old[48 : 48+0x4b]
	var b []byte
	u64 := func(v uint64) {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	b = append(b, make([]byte, 20)...)         // entry_handle
	b = binary.LittleEndian.AppendUint32(b, 1) // num_towers
	u64(4)
	u64(0)
	u64(1)
	u64(3) // referent
	u64(uint64(len(tower)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tower)))
	b = append(b, tower...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

func TestMapResponseNDR64(t *testing.T) {
	b := ndr64Map(t)
	m, err := DecodeMapResponseSyntax(b, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != 0 || len(m.Towers) != 1 || m.Towers[0].Port != 4997 || m.Towers[0].Addr.String() != "192.168.0.2" {
		t.Fatalf("%+v", m)
	}
	// Read as NDR20 it is not taken for a valid answer with that tower.
	if m20, err := DecodeMapResponse(b, true); err == nil && len(m20.Towers) == 1 && m20.Towers[0].Port == 4997 {
		t.Errorf("NDR64 stub read as NDR20: %+v", m20)
	}
	for n := 0; n < len(b); n++ {
		if _, err := DecodeMapResponseSyntax(b[:n], true, true); err == nil {
			t.Errorf("%d of %d bytes decoded without error", n, len(b))
		}
	}
}

func TestTowerKinds(t *testing.T) {
	floor := func(id byte, rhs string) []byte {
		return append([]byte{1, 0, id, byte(len(rhs)), 0}, rhs...)
	}
	mk := func(floors ...[]byte) []byte {
		b := []byte{byte(len(floors)), 0}
		for _, f := range floors {
			b = append(b, f...)
		}
		return b
	}
	np, err := ParseTower(mk(floor(0x0b, "\x00\x00"), floor(0x0f, `\PIPE\atsvc`+"\x00"), floor(0x11, `\\MSEDGEWIN10`+"\x00")))
	if err != nil {
		t.Fatal(err)
	}
	if got := np.Binding(np.Addr); got != `ncacn_np:\\MSEDGEWIN10[\PIPE\atsvc]` {
		t.Errorf("pipe tower: %s", got)
	}
	lrpc, _ := ParseTower(mk(floor(0x0c, "\x00\x00"), floor(0x10, "umpo\x00")))
	if got := lrpc.Binding(np.Addr); got != "ncalrpc:[umpo]" {
		t.Errorf("lrpc tower: %s", got)
	}
	tcp, _ := ParseTower(mk(floor(0x0b, "\x00\x00"), floor(0x07, "\xc2\x04"), floor(0x09, "\x0a\x00\x00\x01")))
	if got := tcp.Binding(tcp.Addr); got != "ncacn_ip_tcp:10.0.0.1[49668]" || tcp.Endpoint().Port() != 49668 {
		t.Errorf("tcp tower: %s", got)
	}
}

func FuzzDecodeNDR64(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeMapResponseSyntax(b, true, true)
		DecodeMapRequestSyntax(b, true, true)
		DecodeLookupResponseSyntax(b, true, true)
		DecodeLookupResponseSyntax(b, false, true)
	})
}
