package pipeline

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/synth"
)

// RTS commands for the tests of channels older than the capture.
func rtsU32(typ, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, typ), v)
}

func rtsCookie(c [16]byte) []byte { return append(binary.LittleEndian.AppendUint32(nil, 3), c[:]...) }

// rtsAck is a FlowControlAck naming cookie c, with a Destination first
// when dest >= 0 (FlowControlAckWithDestination).
func rtsAck(dest int, c [16]byte) []byte {
	ack := binary.LittleEndian.AppendUint32(nil, 1)
	ack = binary.LittleEndian.AppendUint32(ack, 1000)
	ack = binary.LittleEndian.AppendUint32(ack, 65536)
	ack = append(ack, c[:]...)
	if dest < 0 {
		return synth.RTSPDU(synth.RTSFlagOther, ack)
	}
	return synth.RTSPDU(synth.RTSFlagOther, rtsU32(13, uint32(dest)), ack)
}

func callPDU(resp bool, id uint32, opnum uint16, n int) []byte {
	o := synth.CallPDUOpts{Drep: synth.DrepLE, CallID: id, Opnum: opnum}
	stub := bytes.Repeat([]byte{0x11}, n)
	if resp {
		return synth.ResponsePDUs(o, stub)[0]
	}
	return synth.RequestPDUs(o, stub)[0]
}

// runSynth writes c as a pcap and runs the pipeline on it with rows.
func runSynth(t *testing.T, c *synth.Capture) (*rowSink, Result) {
	t.Helper()
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &rowSink{}
	res := Run([]string{path}, Options{Rows: true}, s)
	return s, res
}

var (
	olderProxy = netip.MustParseAddr("10.9.0.1")
	olderDC    = netip.MustParseAddrPort("10.0.0.1:6004")
	inCookie   = [16]byte{1, 1, 1, 1}
	outCookie  = [16]byte{2, 2, 2, 2}
)

// TestOlderChannelMidPDU: both channels of a virtual connection older than
// the capture start in the middle of a PDU (the segments before are not in
// the capture): the channels are read from the first plausible header of
// each direction, the first RTS PDU comes after a DCE/RPC PDU, and the
// client's acknowledgment of the OUT channel, carried up the IN channel and
// passed down the OUT channel, pairs them: the second call is answered, the
// cut first one neither listed nor reported.
func TestOlderChannelMidPDU(t *testing.T) {
	c := synth.NewCapture("older-mid")
	in := c.NewConn(netip.AddrPortFrom(olderProxy, 50000), olderDC)
	out := c.NewConn(netip.AddrPortFrom(olderProxy, 50001), olderDC)
	req1, resp1 := callPDU(false, 1, 9, 300), callPDU(true, 1, 0, 100)
	in.SendPlan(synth.C2S, req1, []synth.Seg{{Off: 0, Len: 50, Drop: true}, {Off: 50, Len: len(req1) - 50}})
	out.SendPlan(synth.S2C, resp1, []synth.Seg{{Off: 0, Len: 30, Drop: true}, {Off: 30, Len: len(resp1) - 30}})
	in.Send(synth.C2S, callPDU(false, 2, 5, 64))
	ack := rtsAck(3, outCookie)
	in.Send(synth.C2S, append(ack, callPDU(false, 3, 4, 64)...))
	out.Send(synth.S2C, callPDU(true, 2, 0, 40))
	out.Send(synth.S2C, append(ack, callPDU(true, 3, 0, 40)...))
	s, res := runSynth(t, c)
	if len(res.Anomalies) != 0 {
		t.Errorf("anomalies %+v", res.Anomalies)
	}
	var got []string
	for _, c := range s.rows {
		reply := "-"
		if c.Row.ReplyFrame != nil {
			reply = "answered"
		}
		got = append(got, c.Row.Client+" "+c.Row.Op+" "+c.Row.Transport+" "+reply+strings.Repeat(" elsewhere", b2i(c.Row.AnswerElsewhere)))
	}
	want := "10.9.0.1:50000 opnum_5 ncacn_http answered,10.9.0.1:50000 opnum_4 ncacn_http answered"
	if strings.Join(got, ",") != want {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestOlderChannelJoinsSuccessor: an OUT channel older than the capture,
// and a successor IN channel that opens in the capture (IN_R1/A2: the
// virtual connection's cookie, its predecessor's and its own): the IN
// channel's acknowledgments of the OUT channel name the cookie that the
// outbound proxy's own acknowledgments carry on the OUT channel, which ties
// them: the call is answered; the OUT channel's first answer, to a request
// sent before the capture, is an orphan answer, as on any connection older
// than the capture.
func TestOlderChannelJoinsSuccessor(t *testing.T) {
	c := synth.NewCapture("older-join")
	out := c.NewConn(netip.AddrPortFrom(olderProxy, 50001), olderDC)
	out.Send(synth.S2C, callPDU(true, 7, 0, 40)) // the answer of a request before the capture
	out.Send(synth.C2S, rtsAck(-1, outCookie))   // the outbound proxy acknowledges the server
	in := c.NewConn(netip.AddrPortFrom(olderProxy, 50002), olderDC)
	in.Open()
	in.Send(synth.S2C, []byte(synth.RTSBanner))
	in.Send(synth.C2S, synth.RTSPDU(synth.RTSFlagIn|synth.RTSFlagRecycle, rtsU32(6, 1), rtsCookie([16]byte{9}), rtsCookie([16]byte{8}), rtsCookie(inCookie),
		rtsU32(0, 262144), rtsU32(2, 120000)))
	in.Send(synth.C2S, append(rtsAck(3, outCookie), callPDU(false, 8, 3, 64)...))
	out.Send(synth.S2C, callPDU(true, 8, 0, 40))
	in.CloseFIN(synth.C2S)
	s, res := runSynth(t, c)
	if len(res.Anomalies) != 1 || res.Anomalies[0].Kind != "orphan_response" || res.Anomalies[0].Count != 1 || !strings.Contains(res.Anomalies[0].Example, "call 7") {
		t.Errorf("anomalies %+v, want the orphan answer to call 7", res.Anomalies)
	}
	if len(s.rows) != 1 || s.rows[0].Row.CallID != 8 || s.rows[0].Row.ReplyFrame == nil || s.rows[0].Row.Transport != "ncacn_http" {
		var got []string
		for _, c := range s.rows {
			got = append(got, c.Row.Op+" "+str(c.Row.Status))
		}
		t.Errorf("calls %q, want call 8 answered over ncacn_http", got)
	}
}

// TestOlderChannelBounds: an IN channel older than the capture whose first
// RTS PDU comes after more than it keeps stays plain DCE/RPC and says so
// (http_channel_unpaired); one recognised at once, that nothing ties before
// it held its bound, is given up then (http_channel_older), and all its
// requests, before and after, are listed answer_elsewhere.
func TestOlderChannelBounds(t *testing.T) {
	c := synth.NewCapture("older-bounds")
	late := c.NewConn(netip.AddrPortFrom(olderProxy, 50000), olderDC)
	n := 0
	for sent := 0; sent <= maxMidBytes; n++ {
		p := callPDU(false, uint32(n+1), 3, 3000)
		late.Send(synth.C2S, p)
		sent += len(p)
	}
	late.Send(synth.C2S, rtsAck(3, outCookie))
	early := c.NewConn(netip.AddrPortFrom(olderProxy, 50001), olderDC)
	early.Send(synth.C2S, rtsAck(3, [16]byte{7}))
	m := 0
	for sent := 0; sent <= maxHeldBytes+20000; m++ {
		p := callPDU(false, uint32(m+1), 3, 8000)
		early.Send(synth.C2S, p)
		sent += len(p)
	}
	s, res := runSynth(t, c)
	kinds := map[string]Anomaly{}
	for _, a := range res.Anomalies {
		kinds[a.Kind] = a
	}
	if a := kinds[AnomalyHTTPChannelUnpaired]; a.Count != 1 || !strings.Contains(a.Example, "after more than 262144 bytes") {
		t.Errorf("http_channel_unpaired %+v", a)
	}
	if a := kinds[AnomalyHTTPChannelOlder]; a.Count != 1 || !strings.Contains(a.Example, "was not paired before it held 1048576 bytes") || !strings.Contains(a.Example, "from frame") {
		t.Errorf("http_channel_older %+v", a)
	}
	var lateN, earlyN int
	for _, c := range s.rows {
		switch {
		case strings.HasSuffix(c.Row.Client, ":50000") && c.Row.Transport == "ncacn_ip_tcp" && !c.Row.AnswerElsewhere:
			lateN++
		case strings.HasSuffix(c.Row.Client, ":50001") && c.Row.Transport == "ncacn_http" && c.Row.AnswerElsewhere:
			earlyN++
		default:
			t.Errorf("call %s %s %s elsewhere %v", c.Row.Client, c.Row.Op, c.Row.Transport, c.Row.AnswerElsewhere)
		}
	}
	if lateN != n || earlyN != m {
		t.Errorf("%d plain calls of %d, %d calls answer_elsewhere of %d", lateN, n, earlyN, m)
	}
}

// FuzzOlderChannel feeds a connection whose start is not in the capture
// with arbitrary bytes in both directions, cut anywhere, after an RTS PDU
// and DCE/RPC PDUs: no panic, no hang, and what is kept or held is given
// back at the end.
func FuzzOlderChannel(f *testing.F) {
	ack := rtsAck(3, outCookie)
	f.Add(append(callPDU(false, 1, 3, 40), ack...), append(callPDU(true, 1, 0, 20), ack...), uint8(5))
	f.Add(append(ack, callPDU(false, 2, 3, 40)...), callPDU(true, 7, 0, 20), uint8(60))
	f.Fuzz(func(t *testing.T, c2s, s2c []byte, cut uint8) {
		r := &runner{anoms: map[string]*Anomaly{}, sink: &countSink{}, httpsFile: -1,
			endpoints: map[netip.AddrPort]map[dcerpcUUID]bool{}, mapped: map[netip.AddrPort]map[dcerpcUUID]bool{}, handles: map[handleKey]uint8{}}
		ci := captureConnInfo()
		ci.SawSYN = false
		var ks []capture.StreamHandler
		for i := range 2 {
			ci.ID = uint64(i + 1)
			ks = append(ks, r.newConn(ci))
		}
		step := int(cut%64) + 1
		for i := 0; i < len(c2s) || i < len(s2c); i += step {
			for _, k := range ks {
				if i < len(c2s) {
					k.Data(0, capturePos(i), c2s[i:min(i+step, len(c2s))])
				}
				if i < len(s2c) {
					k.Data(1, capturePos(i), s2c[i:min(i+step, len(s2c))])
				}
			}
		}
		for _, k := range ks {
			k.End(capturePos(len(c2s)+len(s2c)), 0)
		}
		r.finish()
		if r.heldTotal != 0 || r.midBytes != 0 {
			t.Fatalf("%d bytes still held, %d kept", r.heldTotal, r.midBytes)
		}
	})
}
