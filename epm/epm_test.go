package epm

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
)

// The ept_map response of protocol-notes §9.3 (a real Exchange 2003 answer:
// NSPI on TCP 4997 at 192.168.0.2), stub only.
const mapResp = "" +
	"0000000000000000000000000000000000000000" +
	"01000000" +
	"04000000" + "00000000" + "01000000" +
	"03000000" +
	"4b000000" + "4b000000" +
	"0500" +
	"13000d185acc f56442 1a108c5908002b2f84263800 020000 00" +
	"13000d045d888aeb1cc9119fe808002b104860 0200 02000000" +
	"01000b 02000000" +
	"010007 02001385" +
	"010009 0400c0a80002" +
	"00" +
	"00000000"

func TestMapResponse(t *testing.T) {
	b, err := hex.DecodeString(strings.ReplaceAll(mapResp, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMapResponse(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != 0 || len(m.Towers) != 1 {
		t.Fatalf("%+v", m)
	}
	tw := m.Towers[0]
	if tw.Interface.UUID != dcerpc.NSPI || tw.Interface.Major != 56 || tw.Port != 4997 || tw.Addr.String() != "192.168.0.2" || tw.Protocol != "ncacn_ip_tcp" {
		t.Fatalf("tower %+v", tw)
	}
	if tw.Transfer.UUID != dcerpc.NDR || tw.Transfer.Major != 2 {
		t.Errorf("transfer %+v", tw.Transfer)
	}
	// every truncation fails cleanly
	for n := 0; n < len(b); n++ {
		DecodeMapResponse(b[:n], true)
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := hex.DecodeString(strings.ReplaceAll(mapResp, " ", ""))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeMapResponse(b, true)
		DecodeMapRequest(b, true)
		DecodeLookupResponse(b, false)
		ParseTower(b)
	})
}
