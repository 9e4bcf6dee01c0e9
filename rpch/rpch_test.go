package rpch

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func u32(t, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, t), v)
}

func cookie(t uint32, b byte) []byte {
	c := binary.LittleEndian.AppendUint32(nil, t)
	for i := 0; i < 16; i++ {
		c = append(c, b+byte(i))
	}
	return c
}

func pdu(flags uint16, cmds ...[]byte) []byte {
	n := HeaderLen
	for _, c := range cmds {
		n += len(c)
	}
	b := []byte{5, 0, PTypeRTS, 3, 0x10, 0, 0, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(cmds)))
	for _, c := range cmds {
		b = append(b, c...)
	}
	return b
}

func addr6() []byte {
	b := u32(CmdClientAddress, 1)
	b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x45)
	return append(b, make([]byte, 12)...)
}

func TestParseConnB2(t *testing.T) {
	b := pdu(FlagInChannel, u32(CmdVersion, 1), cookie(CmdCookie, 0x10), cookie(CmdCookie, 0x40), u32(CmdReceiveWindowSize, 65536),
		u32(CmdConnectionTimeout, 120000), cookie(CmdAssociationGroupID, 0x70), addr6())
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "CONN/B2" {
		t.Errorf("name %q, want CONN/B2", p.Name())
	}
	s := p.Setup()
	if !s.OK || !s.In || s.Out || s.Recycle || s.VC[0] != 0x10 || s.Channel[0] != 0x40 || s.ClientAddress.String() != "2001:db8::45" {
		t.Errorf("setup %+v", s)
	}
	// Cut anywhere: an error that names a field and an offset, never a panic.
	for n := 0; n < len(b); n++ {
		c := append([]byte(nil), b[:n]...)
		if n >= 10 {
			binary.LittleEndian.PutUint16(c[8:], uint16(n))
		}
		if _, err := Parse(c); err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "at offset") {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}

func TestParseRecycleAndFlow(t *testing.T) {
	p, err := Parse(pdu(FlagRecycleChannel|FlagOutChannel, u32(CmdVersion, 1), cookie(CmdCookie, 1), cookie(CmdCookie, 2), cookie(CmdCookie, 3),
		u32(CmdChannelLifetime, 1<<30), u32(CmdReceiveWindowSize, 65536), u32(CmdConnectionTimeout, 120000)))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Setup()
	if p.Name() != "OUT_R1/A4" || !s.Recycle || !s.Out || s.Predecessor[0] != 2 || s.Channel[0] != 3 {
		t.Errorf("%q %+v", p.Name(), s)
	}
	ack := binary.LittleEndian.AppendUint32(nil, CmdFlowControlAck)
	ack = binary.LittleEndian.AppendUint32(ack, 1000)
	ack = binary.LittleEndian.AppendUint32(ack, 64000)
	ack = append(ack, make([]byte, 16)...)
	p, err = Parse(pdu(FlagOtherCmd, u32(CmdDestination, FDServer), ack))
	if err != nil || p.Name() != "FlowControlAckWithDestination" || p.Cmds[1].Value != 1000 || p.Cmds[1].Window != 64000 {
		t.Errorf("%v %q %+v", err, p.Name(), p.Cmds[1])
	}
	pad := append(u32(CmdPadding, 3), 0, 0, 0)
	if p, err = Parse(pdu(0, pad, u32(CmdEmpty, 0)[:4], u32(CmdANCE, 0)[:4])); err != nil || p.N != 3 {
		t.Errorf("padding: %v", err)
	}
	if _, err = Parse(pdu(0, u32(99, 0))); err == nil || !strings.Contains(err.Error(), "unknown command type 99") {
		t.Errorf("unknown command: %v", err)
	}
	if _, err = Parse(pdu(0, u32(CmdDestination, 7))); err == nil {
		t.Error("destination 7 accepted")
	}
}

func TestParseHead(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(`CONTOSO\bob:hunter2`))
	h, err := ParseHead([]byte("RPC_IN_DATA /rpc/rpcproxy.dll?dc01:6004 HTTP/1.1\r\nContent-Length: 1073741824\r\nAuthorization: Basic " + basic + "\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Request || h.Method != MethodIn || h.Target != "/rpc/rpcproxy.dll?dc01:6004" || h.ContentLength != 1073741824 || h.User != `CONTOSO\bob` {
		t.Errorf("%+v", h)
	}
	if strings.Contains(strings.ToLower(strings.Join([]string{h.User, h.AuthErr, h.AuthScheme}, " ")), "hunter2") {
		t.Error("the password was kept")
	}
	h, err = ParseHead([]byte("HTTP/1.1 200 Success\r\nContent-Type: application/rpc\r\nContent-Length: 1073741824\r\n\r\n"))
	if err != nil || h.Request || h.Status != 200 {
		t.Errorf("%v %+v", err, h)
	}
	for _, bad := range []string{"garbage", "HTTP/1.1 abc OK\r\n", "RPC_IN_DATA /x HTTP/1.1\r\nContent-Length: -4\r\n", "RPC_IN_DATA /x HTTP/1.1\r\nnocolon\r\n"} {
		if _, err := ParseHead([]byte(bad)); err == nil || !strings.Contains(err.Error(), "at offset") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if !StartsChannel([]byte("ncacn_http/1.0")) || !StartsChannel([]byte("RPC_OUT_DATA /")) || StartsChannel([]byte{5, 0, 11}) {
		t.Error("StartsChannel")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(pdu(FlagInChannel, u32(CmdVersion, 1), cookie(CmdCookie, 1), cookie(CmdCookie, 2), addr6()))
	f.Add(pdu(FlagPing))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err == nil {
			_ = p.Name()
			_ = p.Setup()
			if p.FragLen > len(b) {
				t.Fatalf("frag_length %d past %d bytes", p.FragLen, len(b))
			}
		}
	})
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("RPC_IN_DATA /rpc/rpcproxy.dll?a:6004 HTTP/1.1\r\nAuthorization: NTLM TlRMTVNTUAADAAAA\r\nContent-Length: 5\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 401 x\r\nAuthorization: Negotiate oQ==\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err == nil && h.ContentLength < -1 {
			t.Fatal("negative content length")
		}
	})
}

// TestShapesDistinct builds one PDU of every shape of MS-RPCH 2.2.4 the
// table knows and reads its name back: no shape hides another.
func TestShapesDistinct(t *testing.T) {
	for _, s := range shapes {
		var cmds [][]byte
		for _, c := range s.cmds {
			switch c {
			case CmdCookie, CmdAssociationGroupID:
				cmds = append(cmds, cookie(c, 1))
			case CmdClientAddress:
				cmds = append(cmds, addr6())
			case CmdFlowControlAck:
				cmds = append(cmds, append(u32(c, 1), make([]byte, 20)...))
			case CmdEmpty, CmdANCE, CmdNegativeANCE:
				cmds = append(cmds, u32(c, 0)[:4])
			default:
				cmds = append(cmds, u32(c, 1))
			}
		}
		p, err := Parse(pdu(s.flags, cmds...))
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if p.Name() != s.name {
			t.Errorf("%s reads as %q", s.name, p.Name())
		}
	}
}
