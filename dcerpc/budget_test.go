package dcerpc

import (
	"encoding/binary"
	"testing"

	"github.com/nspicap/nspicap/internal/testutil"
)

// manyContextsBind returns a bind (k == 0) or alter_context offering 256
// presentation contexts numbered from k*255, and its accepting answer.
func manyContextsBind(k int) (req, ack []byte) {
	body := bindBody(true, 0, NSPI, 56, 0)
	elem := body[12:]
	body = append([]byte(nil), body[:12]...)
	body[8] = 255
	for i := range 255 {
		e := append([]byte(nil), elem...)
		binary.LittleEndian.PutUint16(e, uint16(k*255+i))
		body = append(body, e...)
	}
	ptype, rtype := uint8(PTypeAlter), uint8(PTypeAlterResp)
	if k == 0 {
		ptype, rtype = PTypeBind, PTypeBindAck
	}
	a := bindAckBody(true, true)
	res := a[len(a)-24:]
	a = append([]byte(nil), a[:len(a)-28]...)
	a = append(a, 255, 0, 0, 0)
	for range 255 {
		a = append(a, res...)
	}
	return pb{le: true, ptype: ptype, flags: 3, callID: uint32(100 + k), body: body}.bytes(),
		pb{le: true, ptype: rtype, flags: 3, callID: uint32(100 + k), body: a}.bytes()
}

// TestStateCosts measures, without a budget, the heap each kind of state a
// connection keeps takes per item, and requires the fixed cost charged to
// a Budget for it to be at least that: the budget's sum is then a bound of
// the heap, not a guess.
func TestStateCosts(t *testing.T) {
	const conns = 20
	measure := func(name string, cost int, items int, setup, grow func(c *Conn, i int), extra int) {
		t.Helper()
		var cs [conns]*Conn
		var recs [conns]leanRecorder
		for i := range cs {
			cs[i] = NewConn(meta(true), &recs[i], Limits{})
			if setup != nil {
				setup(cs[i], i)
			}
		}
		before := testutil.HeapAfterGC()
		for i, c := range cs {
			grow(c, i)
		}
		after := testutil.HeapAfterGC()
		per := (int(after) - int(before) - extra) / (conns * items)
		t.Logf("%s: %d bytes per item on the heap, %d charged", name, per, cost)
		if per > cost {
			t.Errorf("%s: %d bytes per item on the heap, more than the %d charged", name, per, cost)
		}
		for i := range cs {
			if len(recs[i].counts) > 0 {
				t.Errorf("%s: anomalies %v", name, recs[i].counts)
				break
			}
		}
		for _, c := range cs {
			c.Close()
		}
	}
	const calls = 4000
	request := func(id uint32, flags uint8) []byte {
		return pb{le: true, ptype: PTypeRequest, flags: flags, callID: id, body: reqBody(true, 0, 3, make([]byte, 16))}.bytes()
	}
	// Open calls: requests never answered, 16-byte stubs (charged apart).
	measure("call", CostCall, calls, func(c *Conn, _ int) { hostileSetup(c) }, func(c *Conn, _ int) {
		for id := range uint32(calls) {
			c.Feed(ClientToServer, pos(3), request(10+id, 3))
		}
	}, conns*calls*16)
	// Calls in reassembly: first fragments only.
	measure("call in reassembly", CostCall, calls, func(c *Conn, _ int) { hostileSetup(c) }, func(c *Conn, _ int) {
		for id := range uint32(calls) {
			c.Feed(ClientToServer, pos(3), request(10+id, 1))
		}
	}, conns*calls*16)
	// Responses in reassembly, to calls already waiting.
	measure("response", CostMessage, calls, func(c *Conn, _ int) {
		hostileSetup(c)
		for id := range uint32(calls) {
			c.Feed(ClientToServer, pos(3), request(10+id, 3))
		}
	}, func(c *Conn, _ int) {
		for id := range uint32(calls) {
			c.Feed(ServerToClient, pos(4), pb{le: true, ptype: PTypeResponse, flags: 1, callID: 10 + id, body: respBody(true, 0, make([]byte, 8))}.bytes())
		}
	}, conns*calls*8)
	// Presentation contexts: four binds of 255, answered.
	measure("presentation context", CostContext, 4*255, nil, func(c *Conn, _ int) {
		for k := range 4 {
			req, ack := manyContextsBind(k)
			c.Feed(ClientToServer, pos(1), req)
			c.Feed(ServerToClient, pos(2), ack)
		}
	}, 0)
	// Binds awaiting their answer: charged CostPending and
	// CostContextOffer per context offered; measured per context.
	measure("context offered", CostContextOffer+CostPending/255, 4*255, nil, func(c *Conn, _ int) {
		for k := range 4 {
			req, _ := manyContextsBind(k)
			c.Feed(ClientToServer, pos(1), req)
		}
	}, 0)
	// Security contexts: alter_contexts with NTLM NEGOTIATE tokens.
	measure("security context", CostSecContext, maxSecContexts, func(c *Conn, _ int) { hostileSetup(c) }, func(c *Conn, _ int) {
		neg := make([]byte, 40)
		copy(neg, "NTLMSSP\x00")
		binary.LittleEndian.PutUint32(neg[8:], 1)
		for k := range uint32(maxSecContexts) {
			c.Feed(ClientToServer, pos(3), pb{le: true, ptype: PTypeAlter, flags: 3, callID: 200 + k, body: bindBody(true, 0, NSPI, 56, 0),
				auth: neg, atype: AuthNTLMSSP, alevel: LevelPrivacy, actx: k}.bytes())
			c.Feed(ServerToClient, pos(4), pb{le: true, ptype: PTypeAlterResp, flags: 3, callID: 200 + k, body: bindAckBody(true, true)}.bytes())
		}
	}, 0)
}

// TestStateBudget: the state of many connections, each asking for as many
// calls, contexts and security contexts as the per-connection caps allow,
// stays within one shared budget; what does not fit is refused with a
// named anomaly; calls are still paired when the stubs' share is spent;
// Close gives everything back.
func TestStateBudget(t *testing.T) {
	const max = 1 << 20
	b := NewBudget(max)
	lim := Limits{Budget: b, Buffers: b}
	const n = 30
	var recs [n]leanRecorder
	var cs [n]*Conn
	before := testutil.HeapAfterGC()
	for i := range cs {
		c := NewConn(meta(true), &recs[i], lim)
		cs[i] = c
		for k := range 4 {
			req, ack := manyContextsBind(k)
			c.Feed(ClientToServer, pos(1), req)
			c.Feed(ServerToClient, pos(2), ack)
		}
		for id := range uint32(4000) {
			c.Feed(ClientToServer, pos(3), pb{le: true, ptype: PTypeRequest, flags: 3, callID: 10 + id, body: reqBody(true, 0, 3, make([]byte, 200))}.bytes())
		}
		if b.Held() > max {
			t.Fatalf("connection %d: %d bytes held over a budget of %d", i, b.Held(), max)
		}
	}
	grown := int(testutil.HeapAfterGC()) - int(before)
	t.Logf("%d bytes held, heap grew by %d bytes", b.Held(), grown)
	// The connections themselves (maps' buckets beyond what is charged,
	// buffers) are not in the budget: allow 32 KiB each.
	if grown > max+n*32<<10 {
		t.Errorf("heap grew by %d bytes for a budget of %d", grown, max)
	}
	kinds := map[string]int{}
	for i := range recs {
		for k, v := range recs[i].counts {
			kinds[k] += v
		}
	}
	// Binds that do not fit are dropped (too_many_open_calls), and their
	// answers then match nothing (orphan_bind_ack).
	if kinds["too_many_open_calls"] == 0 || kinds["orphan_bind_ack"] == 0 {
		t.Errorf("anomalies %v; want too_many_open_calls and orphan_bind_ack", kinds)
	}
	// The first connection's 1020 contexts fit; its 4000 calls with their
	// stubs did not all.
	if recs[0].counts["orphan_bind_ack"] != 0 || recs[0].counts["too_many_open_calls"] == 0 {
		t.Errorf("first connection: %v", recs[0].counts)
	}
	// The budget is spent: the next call is refused, and paired again
	// once the connections have given their calls back.
	goodCall(cs[0], 9000, 5)
	if recs[0].answered(9000) != nil {
		t.Errorf("a call was kept over the budget")
	}
	for _, c := range cs {
		c.Close()
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes still held after Close", b.Held())
	}
	cs[0] = NewConn(meta(true), &recs[0], lim)
	hostileSetup(cs[0])
	goodCall(cs[0], 9001, 5)
	if recs[0].answered(9001) == nil {
		t.Errorf("no call paired once the budget was given back")
	}
	cs[0].Close()
	if b.Held() != 0 {
		t.Errorf("%d bytes still held after Close", b.Held())
	}
}

// TestBuffersGivenBack: a connection whose bytes go through its buffer (PDUs
// with auth trailers, a partial PDU at the end of a large segment) keeps no
// buffer once the budget drops its partial PDU or it has nothing partial:
// the heap of many such connections stays within the budget, not their
// number times the largest segment.
func TestBuffersGivenBack(t *testing.T) {
	const n = 1000
	b := NewBudget(1 << 20)
	lim := Limits{Budget: b, Buffers: b}
	var seg []byte
	for id := range uint32(40) {
		seg = append(seg, pb{le: true, ptype: PTypeRequest, flags: 3, callID: 10 + id, body: reqBody(true, 0, 3, make([]byte, 1400)),
			auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()...)
	}
	partial := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 99, body: reqBody(true, 0, 3, make([]byte, 4000))}.bytes()[:1000]
	conns := make([]*Conn, n)
	recs := make([]leanRecorder, n)
	before := testutil.HeapAfterGC()
	for i := range conns {
		c := NewConn(meta(true), &recs[i], lim)
		conns[i] = c
		hostileSetup(c)
		// The segment goes through the buffer and leaves it empty; the
		// partial PDU then finds the budget spent.
		c.Feed(ClientToServer, pos(3), seg)
		c.Feed(ClientToServer, pos(4), partial)
	}
	grown := int(testutil.HeapAfterGC()) - int(before)
	t.Logf("%d connections: heap grew by %d bytes, %d held", n, grown, b.Held())
	// Each connection keeps its state (a few KiB) and the budget its
	// share; a buffer kept per connection would be 60 KiB each.
	if limit := 1<<20 + n*8<<10; grown > limit {
		t.Errorf("heap grew by %d bytes; want at most %d", grown, limit)
	}
	for _, c := range conns {
		c.Close()
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes held after Close", b.Held())
	}
}
