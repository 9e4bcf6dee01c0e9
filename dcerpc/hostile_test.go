package dcerpc

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/testutil"
)

// Hostile DCE/RPC: each case feeds a connection bytes crafted to hurt a
// parser, and requires a named anomaly, a connection that resynchronises (a
// normal call after the damage is still found) or is abandoned at its end,
// no effect on another connection fed at the same time, and bounded memory.

// hostileSetup binds NSPI as presentation context 0 (call_id 1) and returns
// the next frame number.
func hostileSetup(c *Conn) int64 {
	c.Feed(ClientToServer, pos(1), pb{le: true, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(true, 0, NSPI, 56, 0)}.bytes())
	c.Feed(ServerToClient, pos(2), pb{le: true, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(true, true)}.bytes())
	return 3
}

// goodCall feeds a request and its response with call_id id.
func goodCall(c *Conn, id uint32, frame int64) {
	stub := make([]byte, 24)
	c.Feed(ClientToServer, pos(frame), pb{le: true, ptype: PTypeRequest, flags: 3, callID: id, body: reqBody(true, 0, 3, stub)}.bytes())
	rs := make([]byte, 8)
	binary.LittleEndian.PutUint32(rs[4:], 0x80040111)
	c.Feed(ServerToClient, pos(frame+1), pb{le: true, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(true, 0, rs)}.bytes())
}

// answered returns the call with call_id id that got its response.
func (r *recorder) answered(id uint32) *Call {
	for _, c := range r.calls {
		if c.CallID == id && c.Response != nil && c.Response.Complete {
			return c
		}
	}
	return nil
}

// leanRecorder counts anomalies instead of keeping them, so that the heap
// measured is the connection's, not the test's.
type leanRecorder struct {
	recorder
	counts map[string]int
}

func (r *leanRecorder) Anomaly(a Anomaly) {
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	if r.counts[a.Kind] == 0 {
		r.anoms = append(r.anoms, a)
	}
	r.counts[a.Kind]++
}

// ntlmAuthenticate builds an NTLMSSP AUTHENTICATE of 88 bytes whose user
// name buffer has the given length and offset.
func ntlmAuthenticate(userLen uint16, userOff uint32) []byte {
	b := make([]byte, 88)
	copy(b, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(b[8:], 3)
	binary.LittleEndian.PutUint16(b[36:], userLen)
	binary.LittleEndian.PutUint16(b[38:], userLen)
	binary.LittleEndian.PutUint32(b[40:], userOff)
	binary.LittleEndian.PutUint32(b[60:], 1) // unicode
	copy(b[64:], []byte{'b', 0, 'o', 0, 'b', 0})
	return b
}

func TestHostile(t *testing.T) {
	const limitCall = 64 << 10
	lim := Limits{MaxCallBytes: limitCall, MaxOpenCalls: 4096}
	reqHdr := func(callID uint32, flags uint8, fragLen, authLen uint16) []byte {
		b := pb{le: true, ptype: PTypeRequest, flags: flags, callID: callID, body: reqBody(true, 0, 3, make([]byte, 8))}.bytes()
		binary.LittleEndian.PutUint16(b[8:], fragLen)
		binary.LittleEndian.PutUint16(b[10:], authLen)
		return b
	}
	nMillion := 1000000
	if testing.Short() {
		nMillion = 100000
	}
	cases := []struct {
		name string
		// feed sends the hostile bytes, starting at frame f.
		feed func(c *Conn, f int64)
		// kinds must be among the anomalies, each at least once.
		kinds []string
		// resync: a normal call after the hostile bytes is found.
		resync bool
		// maxHeap bounds the heap the connection holds after feed.
		maxHeap uint64
		check   func(t *testing.T, r *leanRecorder)
	}{
		{
			name:   "frag_length_below_header",
			feed:   func(c *Conn, f int64) { c.Feed(ClientToServer, pos(f), reqHdr(7, 3, 10, 0)) },
			kinds:  []string{"bad_header", "resync"},
			resync: true,
		},
		{
			name: "frag_length_below_request_header",
			feed: func(c *Conn, f int64) {
				b := reqHdr(7, 3, 20, 0)
				c.Feed(ClientToServer, pos(f), b)
			},
			kinds:  []string{"bad_header", "resync"},
			resync: true,
		},
		{
			name: "frag_length_past_the_end",
			feed: func(c *Conn, f int64) {
				c.Feed(ClientToServer, pos(f), reqHdr(7, 3, 60000, 0))
			},
			kinds: []string{"incomplete_pdu"},
			check: func(t *testing.T, r *leanRecorder) {
				for _, c := range r.calls {
					if c.CallID == 7 {
						t.Errorf("call of a PDU never captured whole: %+v", c)
					}
				}
			},
		},
		{
			name:   "auth_length_past_the_fragment",
			feed:   func(c *Conn, f int64) { c.Feed(ClientToServer, pos(f), reqHdr(7, 3, 32, 100)) },
			kinds:  []string{"bad_header", "resync"},
			resync: true,
		},
		{
			name: "auth_pad_length_past_the_stub",
			feed: func(c *Conn, f int64) {
				b := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 7, body: reqBody(true, 0, 3, make([]byte, 8)),
					auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelIntegrity}.bytes()
				b[len(b)-16-8+2] = 200 // auth_pad_length
				c.Feed(ClientToServer, pos(f), b)
			},
			kinds:  []string{"malformed_pdu"},
			resync: true,
		},
		{
			name: "alloc_hint_4GiB",
			feed: func(c *Conn, f int64) {
				b := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 7, body: reqBody(true, 0, 3, make([]byte, 24))}.bytes()
				binary.LittleEndian.PutUint32(b[16:], 0xffffffff)
				c.Feed(ClientToServer, pos(f), b)
				r := pb{le: true, ptype: PTypeResponse, flags: 1, callID: 7, body: respBody(true, 0, make([]byte, 8))}.bytes()
				binary.LittleEndian.PutUint32(r[16:], 0xfffffff0)
				c.Feed(ServerToClient, pos(f+1), r)
			},
			kinds:   []string{"bad_alloc_hint", "incomplete_response"},
			resync:  true,
			maxHeap: 1 << 20,
		},
		{
			name: "fragments_never_last",
			feed: func(c *Conn, f int64) {
				stub := bytes.Repeat([]byte{0xab}, 4000)
				for i := range 2000 {
					fl := uint8(0)
					if i == 0 {
						fl = flagFirstFrag
					}
					c.Feed(ClientToServer, pos(f), pb{le: true, ptype: PTypeRequest, flags: fl, callID: 7, body: reqBody(true, 0, 3, stub)}.bytes())
				}
			},
			kinds:   []string{"incomplete_request"},
			resync:  true,
			maxHeap: 4 * limitCall,
			check: func(t *testing.T, r *leanRecorder) {
				for _, c := range r.calls {
					if c.CallID != 7 {
						continue
					}
					if m := c.Request; m.Complete || !m.Truncated || len(m.Stub) > limitCall || m.Len != 8000000 || m.Frags != 2000 {
						t.Errorf("unfinished call: complete %v truncated %v stub %d len %d frags %d", m.Complete, m.Truncated, len(m.Stub), m.Len, m.Frags)
					}
					return
				}
				t.Errorf("the unfinished call was not delivered")
			},
		},
		{
			name: "a_million_call_ids",
			feed: func(c *Conn, f int64) {
				one := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 0, body: reqBody(true, 0, 3, make([]byte, 4))}.bytes()
				chunk := make([]byte, 0, 10000*len(one))
				for i := 0; i < nMillion; {
					chunk = chunk[:0]
					for j := 0; j < 10000 && i < nMillion; j, i = j+1, i+1 {
						binary.LittleEndian.PutUint32(one[12:], uint32(1000+i))
						chunk = append(chunk, one...)
					}
					c.Feed(ClientToServer, pos(f), chunk)
				}
			},
			kinds:   []string{"too_many_open_calls"},
			resync:  false, // the call table is full: new calls are dropped and counted
			maxHeap: 16 << 20,
			check: func(t *testing.T, r *leanRecorder) {
				// The calls past the limit, and the normal call fed
				// after them, are dropped and counted.
				if n := r.counts["too_many_open_calls"]; n != nMillion-4096+1 {
					t.Errorf("too_many_open_calls x%d, want %d", n, nMillion-4096+1)
				}
			},
		},
		{
			name: "thousands_of_presentation_contexts",
			feed: func(c *Conn, f int64) {
				for k := range 6 { // 6 x 255 contexts, in a bind and alter_contexts
					req, ack := manyContextsBind(k)
					c.Feed(ClientToServer, pos(f), req)
					c.Feed(ServerToClient, pos(f+1), ack)
				}
			},
			kinds:   []string{"too_many_contexts"},
			resync:  true,
			maxHeap: 1 << 20,
			check: func(t *testing.T, r *leanRecorder) {
				if n := r.counts["malformed_pdu"]; n != 0 {
					t.Errorf("valid binds rejected: %v", r.anoms)
				}
			},
		},
		{
			name: "ntlm_buffer_outside_the_message",
			feed: func(c *Conn, f int64) {
				for _, off := range []uint32{80, 88, 0xfffffff0, 0x7fffffff} {
					c.Feed(ClientToServer, pos(f), pb{le: true, ptype: PTypeAuth3, flags: 3, callID: 1, body: make([]byte, 4),
						auth: ntlmAuthenticate(64, off), atype: AuthNTLMSSP, alevel: LevelConnect, actx: 5}.bytes())
				}
			},
			kinds:  []string{"malformed_auth_token"},
			resync: true,
			check: func(t *testing.T, r *leanRecorder) {
				if r.counts["malformed_auth_token"] != 4 || len(r.logons) != 0 {
					t.Errorf("anomalies %v, logons %v", r.counts, r.logons)
				}
			},
		},
		{
			name: "spnego_lying_and_deep",
			feed: func(c *Conn, f int64) {
				deep := []byte{}
				for range 2000 {
					deep = append([]byte{0xa0, 0x84, 0, 0, byte(len(deep) >> 8), byte(len(deep))}, deep...)
				}
				for _, v := range [][]byte{
					{0x60, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06, 0x06},          // length past the end
					{0x60, 0x88, 1, 2, 3, 4, 5, 6, 7, 8},                      // 8-byte length
					{0x60, 0x80, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 2}, // indefinite length
					{0xa1, 0x05, 0x30, 0x7f, 0xa2, 0x7f, 0x04},                // inner lengths lie
					append([]byte{0xa1, 0x82, 0x20, 0}, deep[:0x2000]...),     // deep nesting
					deep,
				} {
					c.Feed(ClientToServer, pos(f), pb{le: true, ptype: PTypeAlter, flags: 3, callID: 9, body: bindBody(true, 0, NSPI, 56, 0),
						auth: v, atype: AuthSPNEGO, alevel: LevelConnect, actx: 6}.bytes())
				}
			},
			kinds:  []string{"malformed_auth_token"},
			resync: true,
			check: func(t *testing.T, r *leanRecorder) {
				if len(r.logons) != 0 {
					t.Errorf("logons %v", r.logons)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, other := &leanRecorder{}, &recorder{}
			c := NewConn(meta(true), r, lim)
			o := NewConn(meta(true), other, lim)
			f := hostileSetup(c)
			hostileSetup(o)
			goodCall(c, 2, f)
			goodCall(o, 2, f)
			before := testutil.HeapAfterGC()
			start := time.Now()
			tc.feed(c, f+2)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.maxHeap > 0 {
				if held := int64(testutil.HeapAfterGC()) - int64(before); held > int64(tc.maxHeap) {
					t.Errorf("connection holds %d bytes, want at most %d", held, tc.maxHeap)
				}
			}
			for _, d := range c.dirs {
				if len(d.buf) > 1<<16 {
					t.Errorf("%d bytes buffered", len(d.buf))
				}
			}
			goodCall(o, 3, f+3)
			goodCall(c, 50000000, f+4)
			c.Close()
			o.Close()
			runtime.KeepAlive(c)
			got := r.counts
			for _, k := range tc.kinds {
				if got[k] == 0 {
					t.Errorf("anomaly %s not reported; got %v", k, got)
				}
			}
			if r.answered(2) == nil {
				t.Errorf("the call before the damage is lost")
			}
			if tc.resync && r.answered(50000000) == nil {
				t.Errorf("no resynchronisation: the call after the damage is lost (anomalies %v)", got)
			}
			if len(other.anoms) != 0 || other.answered(2) == nil || other.answered(3) == nil || len(other.calls) != 2 {
				t.Errorf("the other connection was affected: %d calls, anomalies %v", len(other.calls), other.anoms)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestHostileSnapCutBind: a bind and a bind_ack cut by the snap length (their
// NTLM tokens are lost) still give the presentation context its interface,
// the connection is recognised from its first, cut, PDU, and requests whose
// trailer was lost on a privacy-level connection are not decoded as
// plaintext.
func TestHostileSnapCutBind(t *testing.T) {
	for _, level := range []uint8{LevelConnect, LevelPrivacy} {
		r := &recorder{}
		c := NewConn(meta(true), r, Limits{})
		bind := pb{le: true, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(true, 0, NSPI, 56, 0), auth: make([]byte, 200), atype: AuthNTLMSSP, alevel: level, actx: 3}.bytes()
		ack := pb{le: true, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(true, true), auth: make([]byte, 300), atype: AuthNTLMSSP, alevel: level, actx: 3}.bytes()
		c.Feed(ClientToServer, pos(1), bind[:100])
		c.Gap(ClientToServer, pos(1), len(bind)-100)
		c.Feed(ServerToClient, pos(2), ack[:100])
		c.Gap(ServerToClient, pos(2), len(ack)-100)
		if !c.IsRPC() {
			t.Fatalf("level %d: connection not recognised from its cut bind", level)
		}
		// One whole call carries its trailer, then a request with its
		// verifier is cut before the trailer: the level of the last
		// trailer seen applies.
		req := func(id uint32, n int) []byte {
			return pb{le: true, ptype: PTypeRequest, flags: 3, callID: id, body: reqBody(true, 0, 3, bytes.Repeat([]byte{0x42}, n)),
				auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: level, actx: 3}.bytes()
		}
		resp := func(id uint32) []byte {
			return pb{le: true, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(true, 0, make([]byte, 8)), auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: level, actx: 3}.bytes()
		}
		c.Feed(ClientToServer, pos(3), req(5, 40))
		c.Feed(ServerToClient, pos(4), resp(5))
		cut := req(2, 400)
		c.Feed(ClientToServer, pos(5), cut[:150])
		c.Gap(ClientToServer, pos(5), len(cut)-150)
		c.Feed(ServerToClient, pos(6), resp(2))
		c.Close()
		if len(r.calls) != 2 {
			t.Fatalf("level %d: %d calls, anomalies %v", level, len(r.calls), r.anoms)
		}
		call := r.calls[1]
		if !call.IfaceKnown || call.Iface.UUID != NSPI {
			t.Errorf("level %d: interface lost with the cut bind", level)
		}
		if !call.Request.Damaged || call.Response == nil || !call.Sec.Authenticated {
			t.Errorf("level %d: request damaged %v, response %v, sec %+v", level, call.Request.Damaged, call.Response, call.Sec)
		}
		if call.Request.Sealed != (level == LevelPrivacy) {
			t.Errorf("level %d: cut request sealed=%v", level, call.Request.Sealed)
		}
		k := r.kinds()
		if k["gap"] != 3 || k["lost_pdu"] != 3 || k["orphan_bind_ack"] != 0 {
			t.Errorf("level %d: anomalies %v", level, k)
		}
	}

	// No trailer was ever captured whole: the level is unknown, and the
	// cut stub is not decoded (it may be ciphertext).
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	hostileSetup(c)
	cut := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(true, 0, 3, make([]byte, 400)),
		auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()
	c.Feed(ClientToServer, pos(5), cut[:150])
	c.Gap(ClientToServer, pos(5), len(cut)-150)
	c.Close()
	if len(r.calls) != 1 || !r.calls[0].Request.Sealed || !r.calls[0].Request.Damaged {
		t.Errorf("unknown level: calls %+v", r.calls)
	}
}

// bigRequest feeds a request of n stub bytes with call_id id, in fragments
// of at most 60000 bytes.
func bigRequest(c *Conn, id uint32, n int, frame int64) int64 {
	const fragMax = 60000
	for off := 0; off < n; off += fragMax {
		flags := uint8(0)
		if off == 0 {
			flags |= flagFirstFrag
		}
		if off+fragMax >= n {
			flags |= flagLastFrag
		}
		stub := make([]byte, min(fragMax, n-off))
		c.Feed(ClientToServer, pos(frame), pb{le: true, ptype: PTypeRequest, flags: flags, callID: id, body: reqBody(true, 0, 3, stub)}.bytes())
		frame++
	}
	return frame
}

// TestCallBytesBudget: calls that are never answered hold their stubs; over
// all connections that share a budget they hold at most the budget, the
// stubs cut are reported once each, and the bytes come back when the calls
// are delivered.
func TestCallBytesBudget(t *testing.T) {
	const mib = 1 << 20
	b := NewBudget(6 * mib) // stubs may take half
	lim := Limits{MaxCallBytes: mib, Budget: b}
	var recs [2]recorder
	var conns [2]*Conn
	frame := int64(1)
	for i := range conns {
		conns[i] = NewConn(meta(true), &recs[i], lim)
		frame = hostileSetup(conns[i])
	}
	// Five unanswered requests of 1 MiB on each connection: 10 MiB asked,
	// 3 MiB granted.
	for id := uint32(2); id < 7; id++ {
		for _, c := range conns {
			frame = bigRequest(c, id, mib, frame)
		}
	}
	if want := 3*mib + 10*CostCall + 2*CostContext; b.Held() != want {
		t.Errorf("held %d bytes; want the stubs' share of the budget, the ten calls and the two contexts, %d", b.Held(), want)
	}
	cut := recs[0].kinds()["too_many_call_bytes"] + recs[1].kinds()["too_many_call_bytes"]
	if cut != 7 {
		t.Errorf("%d stubs reported cut; want 7 (10 requests, 3 fit)", cut)
	}
	// The connections still pair calls: an answered call after the damage.
	goodCall(conns[0], 9, frame)
	if recs[0].answered(9) == nil {
		t.Errorf("the call after the budget ran out was not paired")
	}
	for _, c := range conns {
		c.Close()
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes still held after every call was delivered", b.Held())
	}
	full := 0
	for _, r := range recs {
		for _, call := range r.calls {
			m := call.Request
			if m.Len == mib && !m.Truncated && len(m.Stub) == mib {
				full++
			}
			if m.Truncated && m.Len == mib && len(m.Stub) >= mib {
				t.Errorf("call %d: marked truncated with its whole stub", call.CallID)
			}
		}
	}
	if full != 3 {
		t.Errorf("%d whole 1 MiB stubs delivered; want 3", full)
	}

	// Answered calls give their bytes back: a hundred 1 MiB calls in turn
	// fit a 3 MiB budget.
	b = NewBudget(6 * mib)
	var rec recorder
	c := NewConn(meta(true), &rec, Limits{MaxCallBytes: mib, Budget: b})
	frame = hostileSetup(c)
	for id := uint32(2); id < 102; id++ {
		frame = bigRequest(c, id, mib, frame)
		rs := make([]byte, 8)
		c.Feed(ServerToClient, pos(frame), pb{le: true, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(true, 0, rs)}.bytes())
		frame++
	}
	c.Close()
	if n := rec.kinds()["too_many_call_bytes"]; n != 0 || b.Held() != 0 {
		t.Errorf("%d stubs cut, %d bytes held; want none", n, b.Held())
	}
}

// TestBufferBudget: partial PDUs held over many connections stay within
// the budget of Limits.Buffers (give or take the connection being fed);
// the connection whose partial PDU does not fit drops it with a named
// anomaly and still pairs the calls that follow; Close gives everything
// back.
func TestBufferBudget(t *testing.T) {
	const budget = 64 << 10
	b := NewBudget(budget)
	lim := Limits{Buffers: b}
	var recs [40]recorder
	var conns [40]*Conn
	for i := range conns {
		conns[i] = NewConn(meta(true), &recs[i], lim)
		hostileSetup(conns[i])
		// A request announcing 8000 bytes, of which 4000 come.
		full := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(true, 0, 3, make([]byte, 8000))}.bytes()
		conns[i].Feed(ClientToServer, pos(3), full[:4000])
		if b.Held() > budget+16<<10 {
			t.Fatalf("connection %d: %d bytes held over a budget of %d", i, b.Held(), budget)
		}
	}
	dropped := 0
	for i := range recs {
		dropped += recs[i].kinds()["too_many_buffered_bytes"]
	}
	if dropped == 0 {
		t.Fatalf("no partial PDU dropped with 40 × 4000 bytes over a budget of %d", budget)
	}
	// A connection that dropped its partial PDU pairs the next call.
	for i := range conns {
		if recs[i].kinds()["too_many_buffered_bytes"] > 0 {
			conns[i].Feed(ClientToServer, pos(4), make([]byte, 4000+24)) // the rest of the lost PDU
			goodCall(conns[i], 9, 5)
			if recs[i].answered(9) == nil {
				t.Errorf("connection %d: the call after the dropped PDU was not paired", i)
			}
			break
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes still charged after Close", b.Held())
	}
	// A connection found not to be DCE/RPC gives its bytes back at once.
	http := NewConn(meta(true), &recorder{}, lim)
	http.Feed(ServerToClient, pos(1), []byte{5, 0}) // too short to tell
	if http.Feed(ClientToServer, pos(1), []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")) {
		t.Fatalf("HTTP taken for DCE/RPC")
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes charged for a connection that is not DCE/RPC", b.Held())
	}
}
