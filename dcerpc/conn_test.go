package dcerpc

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// exchange returns the client and server byte streams of a bind, one NSPI
// request (opnum 0) and its response, as separate PDUs.
func exchange(le bool) (client, server [][]byte) {
	stub := make([]byte, 44)
	order2(le).PutUint32(stub[28:], 1252)
	rstub := make([]byte, 28)
	copy(rstub[4:], bytes.Repeat([]byte{0x11}, 20))
	order2(le).PutUint32(rstub[24:], 0x80040111)
	client = [][]byte{
		pb{le: le, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(le, 0, NSPI, 56, 0)}.bytes(),
		pb{le: le, ptype: PTypeRequest, flags: 3, callID: 1, body: reqBody(le, 0, 0, stub)}.bytes(),
	}
	server = [][]byte{
		pb{le: le, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(le, true)}.bytes(),
		pb{le: le, ptype: PTypeResponse, flags: 3, callID: 1, body: respBody(le, 0, rstub)}.bytes(),
	}
	return
}

func TestBindRequestResponse(t *testing.T) {
	for _, le := range []bool{true, false} {
		r := &recorder{}
		c := NewConn(meta(true), r, Limits{})
		cl, sv := exchange(le)
		c.Feed(ClientToServer, pos(1), cl[0])
		c.Feed(ServerToClient, pos(2), sv[0])
		c.Feed(ClientToServer, pos(3), cl[1])
		c.Feed(ServerToClient, pos(4), sv[1])
		c.Close()
		if len(r.calls) != 1 {
			t.Fatalf("le=%v: %d calls, want 1 (anomalies %v)", le, len(r.calls), r.anoms)
		}
		call := r.calls[0]
		if !call.IfaceKnown || call.Iface.UUID != NSPI || call.Iface.Major != 56 {
			t.Errorf("le=%v: interface %v known=%v", le, call.Iface, call.IfaceKnown)
		}
		if call.Request.Pos.Frame != 3 || call.Response.Pos.Frame != 4 {
			t.Errorf("le=%v: frames %d/%d", le, call.Request.Pos.Frame, call.Response.Pos.Frame)
		}
		if got := order2(le).Uint32(call.Response.Tail[:]); got != 0x80040111 {
			t.Errorf("le=%v: tail %#x", le, got)
		}
		if call.Request.Len != 44 || call.Response.Len != 28 {
			t.Errorf("le=%v: stub lengths %d/%d", le, call.Request.Len, call.Response.Len)
		}
	}
}

// TestEverySplit feeds the same streams cut at every byte position: the calls
// must not depend on how TCP segmented the bytes.
func TestEverySplit(t *testing.T) {
	cl, sv := exchange(true)
	cs := bytes.Join(cl, nil)
	ss := bytes.Join(sv, nil)
	for cut := 1; cut < len(cs); cut++ {
		r := &recorder{}
		c := NewConn(meta(true), r, Limits{})
		c.Feed(ClientToServer, pos(1), cs[:cut])
		c.Feed(ClientToServer, pos(2), cs[cut:])
		c.Feed(ServerToClient, pos(3), ss)
		c.Close()
		if len(r.calls) != 1 || r.calls[0].Response == nil || len(r.anoms) != 0 {
			t.Fatalf("cut %d: %d calls, anomalies %v", cut, len(r.calls), r.anoms)
		}
		wantFrame := int64(1)
		if cut <= len(cl[0]) {
			wantFrame = 2
		}
		if f := r.calls[0].Request.Pos.Frame; f != wantFrame {
			t.Fatalf("cut %d: request frame %d, want %d", cut, f, wantFrame)
		}
	}
	// one byte per segment
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	for i := range cs {
		c.Feed(ClientToServer, pos(int64(i+1)), cs[i:i+1])
	}
	c.Feed(ServerToClient, pos(1000), ss)
	c.Close()
	if len(r.calls) != 1 || r.calls[0].Request.Pos.Frame != int64(len(cl[0])+1) || r.calls[0].Request.LastPos.Frame != int64(len(cs)) {
		t.Fatalf("1-byte segments: %+v", r.calls)
	}
}

func TestFragmentsAndAuthPad(t *testing.T) {
	le := true
	stub := bytes.Repeat([]byte{1, 2, 3, 4}, 30) // 120 bytes
	ntlmVerifier := append([]byte{1, 0, 0, 0}, make([]byte, 12)...)
	frags := [][]byte{stub[:50], stub[50:100], stub[100:]}
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	c.Feed(ClientToServer, pos(1), pb{le: le, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(le, 0, NSPI, 56, 0)}.bytes())
	c.Feed(ServerToClient, pos(2), pb{le: le, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(le, true)}.bytes())
	for i, f := range frags {
		fl := uint8(0)
		if i == 0 {
			fl |= flagFirstFrag
		}
		if i == len(frags)-1 {
			fl |= flagLastFrag
		}
		pad := (16 - (8+len(f))%16) % 16
		c.Feed(ClientToServer, pos(int64(3+i)), pb{le: le, ptype: PTypeRequest, flags: fl, callID: 7, body: reqBody(le, 0, 3, f),
			auth: ntlmVerifier, atype: AuthNTLMSSP, alevel: LevelConnect, actx: 9, pad: pad}.bytes())
	}
	c.Feed(ServerToClient, pos(10), pb{le: le, ptype: PTypeFault, flags: 3, callID: 7, body: faultBody(le, 0x1c00001a)}.bytes())
	c.Close()
	if len(r.calls) != 1 {
		t.Fatalf("%d calls, anomalies %v", len(r.calls), r.anoms)
	}
	call := r.calls[0]
	if !bytes.Equal(call.Request.Stub, stub) || call.Request.Frags != 3 || !call.Request.Complete {
		t.Errorf("reassembled stub %d bytes in %d frags, complete %v", len(call.Request.Stub), call.Request.Frags, call.Request.Complete)
	}
	if call.Request.Pos.Frame != 3 || call.Request.LastPos.Frame != 5 {
		t.Errorf("frames %d..%d", call.Request.Pos.Frame, call.Request.LastPos.Frame)
	}
	if call.Fault == nil || call.Fault.Status != 0x1c00001a || call.Opnum != 3 {
		t.Errorf("fault %+v opnum %d", call.Fault, call.Opnum)
	}
	if !call.Sec.Authenticated || call.Sec.Level != LevelConnect || call.Sec.ContextID != 9 {
		t.Errorf("security %+v", call.Sec)
	}
}

func TestSealedAndUnanswered(t *testing.T) {
	le := true
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	c.Feed(ClientToServer, pos(1), pb{le: le, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(le, 0, NSPI, 56, 0)}.bytes())
	c.Feed(ServerToClient, pos(2), pb{le: le, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(le, true)}.bytes())
	c.Feed(ClientToServer, pos(3), pb{le: le, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(le, 0, 1, make([]byte, 24)),
		auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelPrivacy, actx: 1}.bytes())
	c.Feed(ClientToServer, pos(4), pb{le: le, ptype: PTypeRequest, flags: 3, callID: 3, body: reqBody(le, 0, 2, make([]byte, 8))}.bytes())
	c.Feed(ServerToClient, pos(5), pb{le: le, ptype: PTypeResponse, flags: 3, callID: 2, body: respBody(le, 0, make([]byte, 24)),
		auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelPrivacy, actx: 1}.bytes())
	c.Close()
	if len(r.calls) != 2 {
		t.Fatalf("%d calls", len(r.calls))
	}
	if !r.calls[0].Sealed() || r.calls[0].CallID != 2 {
		t.Errorf("first call %+v not sealed", r.calls[0])
	}
	if r.calls[1].CallID != 3 || r.calls[1].Response != nil {
		t.Errorf("unanswered call %+v", r.calls[1])
	}
}

func TestRejectedContextAndNonRPC(t *testing.T) {
	le := true
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	c.Feed(ClientToServer, pos(1), pb{le: le, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(le, 0, NSPI, 56, 0)}.bytes())
	c.Feed(ServerToClient, pos(2), pb{le: le, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(le, false)}.bytes())
	c.Feed(ClientToServer, pos(3), pb{le: le, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(le, 0, 0, make([]byte, 4))}.bytes())
	c.Close()
	if len(r.calls) != 1 || r.calls[0].IfaceKnown {
		t.Fatalf("call on a rejected context must have no interface: %+v", r.calls)
	}

	h := NewConn(meta(true), &recorder{}, Limits{})
	if h.Feed(ClientToServer, pos(1), []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")) {
		t.Fatal("HTTP recognised as DCE/RPC")
	}
	m := NewConn(meta(false), &recorder{}, Limits{})
	junk := bytes.Repeat([]byte("not rpc at all, "), 1024)
	if m.Feed(ClientToServer, pos(1), junk) {
		t.Fatal("junk mid-stream recognised as DCE/RPC")
	}
}

// TestMidstreamAndGap: a capture that starts inside a PDU resynchronises on
// the next header; a gap inside a PDU skips exactly to the next one.
func TestMidstreamAndGap(t *testing.T) {
	le := true
	req := func(id uint32, n int) []byte {
		s := make([]byte, n)
		binary.LittleEndian.PutUint32(s[n-4:], id)
		return pb{le: le, ptype: PTypeRequest, flags: 3, callID: id, body: reqBody(le, 0, 3, s)}.bytes()
	}
	resp := func(id uint32) []byte {
		s := make([]byte, 8)
		return pb{le: le, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(le, 0, s)}.bytes()
	}
	r := &recorder{}
	// roles guessed wrongly: the capture layer thought the server was the client
	m := meta(false)
	m.Client, m.Server = m.Server, m.Client
	c := NewConn(m, r, Limits{})
	stream := append(req(1, 40)[10:], append(req(2, 40), req(3, 40)...)...)
	c.Feed(ServerToClient, pos(1), stream) // from 192.0.2.10, which it called the server
	if c.Meta.Client.Port() != 50000 {
		t.Fatalf("roles not swapped: client %v", c.Meta.Client)
	}
	c.Feed(ClientToServer, pos(2), append(resp(2), resp(3)...))
	// a gap that cuts call 4's PDU in the middle
	p4 := req(4, 100)
	c.Feed(ServerToClient, pos(3), p4[:30])
	c.Gap(ServerToClient, pos(4), 50)
	c.Feed(ServerToClient, pos(5), append(p4[80:], req(5, 40)...))
	c.Feed(ClientToServer, pos(6), resp(5))
	c.Close()
	var ids []uint32
	for _, call := range r.calls {
		ids = append(ids, call.CallID)
	}
	// call 4 lost its middle to the gap: it is still counted (damaged,
	// unanswered), after the calls that were answered.
	if len(ids) != 4 || ids[0] != 2 || ids[1] != 3 || ids[2] != 5 || ids[3] != 4 {
		t.Fatalf("calls %v, anomalies %v", ids, r.anoms)
	}
	if c4 := r.calls[3]; !c4.Request.Damaged || c4.Opnum != 3 || c4.Response != nil || c4.Request.Pos.Frame != 3 {
		t.Errorf("damaged call: %+v", c4.Request)
	}
	if k := r.kinds(); k["lost_pdu"] != 1 || k["gap"] != 1 || k["resync"] != 0 {
		t.Errorf("anomalies %v", k)
	}
}

// signedStreams returns a client and a server stream of a bind and n calls
// whose requests and responses carry an NTLM verifier (so that they go
// through the buffer, not the direct path for whole PDUs), with stubs of
// varied lengths, and the request stubs.
func signedStreams(n int) (client, server []byte, stubs [][]byte) {
	le := true
	verifier := append([]byte{1, 0, 0, 0}, make([]byte, 12)...)
	client = pb{le: le, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(le, 0, NSPI, 56, 0)}.bytes()
	server = pb{le: le, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(le, true)}.bytes()
	for i := range n {
		stub := bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 20+i%97)
		stubs = append(stubs, stub)
		pad := (16 - (8+len(stub))%16) % 16
		client = append(client, pb{le: le, ptype: PTypeRequest, flags: 3, callID: uint32(2 + i), body: reqBody(le, 0, 3, stub),
			auth: verifier, atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 1, pad: pad}.bytes()...)
		rs := make([]byte, 24)
		binary.LittleEndian.PutUint32(rs[20:], uint32(i))
		server = append(server, pb{le: le, ptype: PTypeResponse, flags: 3, callID: uint32(2 + i), body: respBody(le, 0, rs),
			auth: verifier, atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 1, pad: 0}.bytes()...)
	}
	return client, server, stubs
}

// TestManyPDUsPerSegment feeds streams of signed calls cut into segments of
// random sizes, from a few bytes to 64 KiB (as captures taken with receive
// offload hold): many PDUs per segment and PDUs that span segments, so that
// the buffer's window moves over many PDUs and the bytes left are moved to
// the front when more are appended. Every call comes out whole, in order,
// with its stub and the frame of the segment its request started in.
func TestManyPDUsPerSegment(t *testing.T) {
	const n = 600
	cs, ss, stubs := signedStreams(n)
	// where each PDU starts and ends in a stream: the bind and the
	// requests in the client's, the bind's answer and the responses in
	// the server's
	pduBounds := func(b []byte) (starts, ends []int) {
		for o := 0; o < len(b); {
			h, _ := ParseHeader(b[o:])
			starts, ends = append(starts, o), append(ends, o+int(h.FragLen))
			o += int(h.FragLen)
		}
		return
	}
	reqStart, reqEnd := pduBounds(cs)
	_, respEnd := pduBounds(ss)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		maxSeg := []int{7, 300, 4096, 65536}[round%4]
		r := &recorder{}
		c := NewConn(meta(true), r, Limits{Budget: NewBudget(64 << 20), Buffers: NewBudget(64 << 20)})
		frameOf := map[int]int64{} // request (1..n) -> frame of its first byte
		frame, cut, fedSrv, done := int64(1), 0, 0, 0
		for cut < len(cs) {
			k := min(1+rng.IntN(maxSeg), len(cs)-cut)
			for i, s := range reqStart {
				if s >= cut && s < cut+k {
					frameOf[i] = frame
				}
			}
			c.Feed(ClientToServer, pos(frame), cs[cut:cut+k])
			checkWindow(t, c)
			frame++
			cut += k
			for done < len(reqEnd) && reqEnd[done] <= cut {
				done++
			}
			// the server answers what it has whole, in random segments
			// too, never ahead of a request
			if limit := respEnd[max(done-1, 0)]; done > 0 && fedSrv < limit && (rng.IntN(3) == 0 || cut == len(cs)) {
				m := min(fedSrv+1+rng.IntN(maxSeg), limit)
				c.Feed(ServerToClient, pos(frame), ss[fedSrv:m])
				checkWindow(t, c)
				frame++
				fedSrv = m
			}
		}
		if fedSrv < len(ss) {
			c.Feed(ServerToClient, pos(frame), ss[fedSrv:])
		}
		c.Close()
		if len(r.calls) != n || len(r.anoms) != 0 {
			t.Fatalf("round %d (segments up to %d bytes): %d calls, anomalies %v", round, maxSeg, len(r.calls), r.anoms)
		}
		for i, call := range r.calls {
			if call.CallID != uint32(2+i) || !bytes.Equal(call.Request.Stub, stubs[i]) || call.Response == nil ||
				binary.LittleEndian.Uint32(call.Response.Tail[:]) != uint32(i) {
				t.Fatalf("round %d: call %d: id %d, stub %d bytes (want %d), response %v", round, i, call.CallID, len(call.Request.Stub), len(stubs[i]), call.Response != nil)
			}
			if f := call.Request.Pos.Frame; f != frameOf[i+1] {
				t.Fatalf("round %d: call %d starts in frame %d, want %d", round, i, f, frameOf[i+1])
			}
		}
	}
}

// checkWindow checks that each direction's buffer is the window of its
// memory that dirState says (head bytes in), and that the budget is charged
// the whole of that memory.
func checkWindow(t *testing.T, c *Conn) {
	t.Helper()
	for i := range c.dirs {
		d := &c.dirs[i]
		if d.buf == nil {
			continue
		}
		if cap(d.mem)-d.head != cap(d.buf) || d.head+len(d.buf) > cap(d.mem) ||
			cap(d.buf) > 0 && &d.mem[:d.head+1][d.head] != &d.buf[:1][0] {
			t.Fatalf("direction %d: buffer is not mem[%d:] (len %d cap %d, mem cap %d)", i, d.head, len(d.buf), cap(d.buf), cap(d.mem))
		}
		if want := cap(d.mem) + cap(d.marks)*int(unsafe.Sizeof(mark{})); d.charged != want {
			t.Fatalf("direction %d: %d bytes charged, the buffers hold %d", i, d.charged, want)
		}
	}
}
