package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/synth"
)

type countSink struct{ calls, ends int }

func (s *countSink) Call(c *Call)                { s.calls++ }
func (s *countSink) ConnEnd(ev *analyze.ConnEnd) { s.ends++ }

// TestHTTPHostile feeds RPC over HTTP channels that lie: garbage after the
// banner, an RTS PDU with an unknown command, an RTS PDU longer than any,
// an HTTP head without end, a chunked channel, a head that does not
// parse; and TLS on port 443. Each is reported with its kind, nothing
// panics, and HTTPS is named once.
func TestHTTPHostile(t *testing.T) {
	c := synth.NewCapture("http-hostile")
	server := netip.MustParseAddr("10.0.0.1")
	n := 0
	conn := func(port uint16) *synth.Conn {
		n++
		cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(n)}), 50000), netip.AddrPortFrom(server, port))
		cn.Open()
		return cn
	}
	rts := func(flags uint16, cmds ...[]byte) []byte { return synth.RTSPDU(flags, cmds...) }
	// Garbage after the banner, where a PDU should start.
	cn := conn(6004)
	cn.Send(synth.S2C, []byte(synth.RTSBanner))
	cn.Send(synth.C2S, append(rts(synth.RTSFlagIn), bytes.Repeat([]byte{0xee}, 64)...))
	// An unknown RTS command.
	cn = conn(6004)
	cn.Send(synth.S2C, []byte(synth.RTSBanner))
	bad := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 77), 0)
	cn.Send(synth.C2S, rts(synth.RTSFlagIn, bad))
	// An RTS PDU of 60000 bytes.
	cn = conn(6004)
	cn.Send(synth.S2C, []byte(synth.RTSBanner))
	big := rts(synth.RTSFlagNone)
	binary.LittleEndian.PutUint16(big[8:], 60000)
	cn.Send(synth.C2S, append(big, make([]byte, 60000-len(big))...))
	// An HTTP head without end, a chunked channel, a bad head.
	cn = conn(80)
	cn.Send(synth.C2S, append([]byte("RPC_IN_DATA /rpc/rpcproxy.dll?dc:6004 HTTP/1.1\r\n"), bytes.Repeat([]byte("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n"), 1000)...))
	cn = conn(80)
	cn.Send(synth.C2S, []byte("RPC_OUT_DATA /rpc/rpcproxy.dll?dc:6004 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4g\r\n"))
	cn = conn(80)
	cn.Send(synth.C2S, []byte("RPC_IN_DATA /rpc/rpcproxy.dll?dc:6004 HTTP/1.1\r\nContent-Length: -1\r\n\r\n"))
	// TLS, twice: one warning.
	for range 2 {
		cn = conn(443)
		cn.Send(synth.C2S, []byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	}
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hostile.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &countSink{}
	res := Run([]string{path}, Options{Rows: true}, s)
	// One per lying channel: garbage, unknown command, oversized RTS PDU,
	// endless head, a chunk size that is not hexadecimal, bad
	// Content-Length.
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != AnomalyRTSMalformed || res.Anomalies[0].Count != 6 {
		t.Errorf("anomalies %+v, want rts_malformed 6 times", res.Anomalies)
	}
	if s.calls != 0 {
		t.Errorf("%d calls from garbage", s.calls)
	}
	var warns []string
	for _, in := range res.Inputs {
		warns = append(warns, in.Warnings...)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "RPC over HTTPS is encrypted: 2 TLS connection(s)") {
		t.Errorf("warnings %q, want one about HTTPS", warns)
	}
}

// FuzzChannel feeds a channel's two directions with arbitrary bytes, cut
// at arbitrary places, after a banner or an HTTP request: no panic, no
// hang, and what the virtual connections hold is given back at the end.
func FuzzChannel(f *testing.F) {
	in := append([]byte(synth.RTSBanner), synth.RTSPDU(synth.RTSFlagIn, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 6), 1))...)
	f.Add(in, []byte{5, 0, 2, 3, 0x10, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(7))
	f.Add([]byte("RPC_IN_DATA /rpc/rpcproxy.dll?a:6004 HTTP/1.1\r\nContent-Length: 100\r\n\r\n\x05\x00\x14\x03\x10\x00\x00\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		[]byte("HTTP/1.1 200 OK\r\n\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, c2s, s2c []byte, cut uint8) {
		r := &runner{anoms: map[string]*Anomaly{}, sink: &countSink{}, httpsFile: -1,
			endpoints: map[netip.AddrPort]map[dcerpcUUID]bool{}, mapped: map[netip.AddrPort]map[dcerpcUUID]bool{}, handles: map[handleKey]uint8{}}
		k := r.newConn(captureConnInfo())
		step := int(cut%64) + 1
		for i := 0; i < len(c2s) || i < len(s2c); i += step {
			if i < len(c2s) {
				k.Data(0, capturePos(i), c2s[i:min(i+step, len(c2s))])
			}
			if i < len(s2c) {
				k.Data(1, capturePos(i), s2c[i:min(i+step, len(s2c))])
			}
		}
		k.End(capturePos(len(c2s)+len(s2c)), 0)
		if r.heldTotal != 0 {
			t.Fatalf("%d bytes still held", r.heldTotal)
		}
	})
}

type dcerpcUUID = dcerpc.UUID

func captureConnInfo() capture.ConnInfo {
	return capture.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("10.0.0.2:50000"), Server: netip.MustParseAddrPort("10.0.0.1:6004"), SawSYN: true}
}

func capturePos(i int) capture.Pos { return capture.Pos{Frame: int64(i + 1)} }

type rowSink struct{ rows []Call }

func (s *rowSink) Call(c *Call)                { s.rows = append(s.rows, *c) }
func (s *rowSink) ConnEnd(ev *analyze.ConnEnd) {}

// TestHTTPGuessedEnds: the channels of a virtual connection, and a v1
// connection, without their SYN and with the client's port the lower one,
// so that the capture layer takes the server for the client: the banner
// says which end is the server, and the calls are read whole.
func TestHTTPGuessedEnds(t *testing.T) {
	c := synth.NewCapture("http-ends")
	u32 := func(typ, v uint32) []byte {
		return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, typ), v)
	}
	cookie := func(b byte) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, 3), bytes.Repeat([]byte{b}, 16)...)
	}
	dc := netip.MustParseAddrPort("10.0.0.1:6004")
	in := c.NewConn(netip.MustParseAddrPort("10.9.0.1:1000"), dc)
	out := c.NewConn(netip.MustParseAddrPort("10.9.0.1:1001"), dc)
	in.Send(synth.S2C, []byte(synth.RTSBanner))
	in.Send(synth.C2S, synth.RTSPDU(synth.RTSFlagIn, u32(6, 1), cookie(1), cookie(2), u32(0, 65536)))
	out.Send(synth.S2C, []byte(synth.RTSBanner))
	out.Send(synth.C2S, synth.RTSPDU(synth.RTSFlagOut, u32(6, 1), cookie(1), cookie(3), u32(4, 1<<30), u32(0, 65536)))
	v1 := c.NewConn(netip.MustParseAddrPort("10.9.0.2:1000"), dc)
	v1.Send(synth.S2C, []byte(synth.RTSBanner))
	for _, r := range []*synth.RPC{c.NewRPC(in, 1), c.NewRPC(v1, 1)} {
		if r.C == in {
			r.HTTP = &synth.HTTPVC{In: in, Out: out}
		}
		r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), Auth: synth.AuthNTLM,
			Creds: synth.Creds{Domain: "CONTOSO", User: "erin", Workstation: "WS"}, Target: synth.DC01, NewAssoc: 1, SecAddr: "6004"})
		r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	}
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ends.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &rowSink{}
	res := Run([]string{path}, Options{Rows: true}, s)
	var got []string
	for _, c := range s.rows {
		got = append(got, c.Row.Client+" "+c.Row.Op+" "+str(c.Row.Status)+" "+c.Row.Transport)
	}
	want := "10.9.0.1:1000 NspiBind 0x00000000 ncacn_http,10.9.0.2:1000 NspiBind 0x00000000 ncacn_http"
	if strings.Join(got, ",") != want || len(res.Anomalies) != 0 {
		t.Errorf("calls %q, anomalies %+v; want %q", got, res.Anomalies, want)
	}
}

func str(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

// TestHTTPChunkedError: an OUT channel's chunked response whose framing
// breaks after a good chunk (a chunk-size that is not hexadecimal, split
// across two segments; chunk data not followed by CRLF; a gap in the
// framing) is reported once per channel with the offset in the body, and
// nothing after the break is read: the channel is given up.
func TestHTTPChunkedError(t *testing.T) {
	c := synth.NewCapture("http-chunked")
	server := netip.MustParseAddr("10.0.0.1")
	a3 := synth.RTSPDU(synth.RTSFlagNone, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 2), 120000))
	head := "HTTP/1.1 200 Success\r\nTransfer-Encoding: chunked\r\n\r\n"
	good := fmt.Sprintf("%x\r\n%s\r\n", len(a3), a3)
	for i, tail := range [][]string{
		{"1", "q\r\n"},            // chunk-size "1q", split after its first byte
		{"3\r\nabcX"},             // no CRLF after the chunk data
		{"5\r\nabcde\r\n", "gap"}, // bytes of the framing lost
	} {
		cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)}), 50000), netip.AddrPortFrom(server, 80))
		cn.Open()
		cn.Send(synth.C2S, []byte("RPC_OUT_DATA /rpc/rpcproxy.dll?dc:6004 HTTP/1.1\r\nContent-Length: 76\r\n\r\n"))
		cn.Send(synth.S2C, []byte(head+good))
		for _, p := range tail {
			if p == "gap" {
				cn.SendPlan(synth.S2C, []byte("3\r\nxyz\r\n"), []synth.Seg{{Off: 0, Len: 2, Drop: true}, {Off: 2, Len: 6}})
				continue
			}
			cn.Send(synth.S2C, []byte(p))
		}
		// Bytes after the break, which would be rts_malformed if they
		// were read as the channel's stream: never read.
		cn.Send(synth.S2C, []byte("10\r\n"+strings.Repeat("\xee", 16)+"\r\n"))
	}
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chunked.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res := Run([]string{path}, Options{Rows: true}, &countSink{})
	off := len(good)
	want := fmt.Sprintf("malformed chunked body: chunk-size \"1q\": byte 0x71 after the size, where a chunk extension (;) or the line end should be at offset %d of the body: the rest of the channel is not decoded", off)
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != AnomalyRTSMalformed || res.Anomalies[0].Count != 3 || res.Anomalies[0].Example != want || res.Anomalies[0].First.Frame == 0 {
		t.Errorf("anomalies %+v\nwant rts_malformed 3 times, first %q", res.Anomalies, want)
	}
}
