package dcerpc

import (
	"encoding/binary"
	"testing"
)

// BenchmarkParseHeader: the common header of every PDU, read without an
// allocation.
func BenchmarkParseHeader(b *testing.B) {
	pdu := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 7, body: reqBody(true, 0, 3, make([]byte, 64))}.bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(pdu)))
	for b.Loop() {
		if _, err := ParseHeader(pdu); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCall: one NSPI request and its response, each a whole PDU in
// one segment, on a bound connection: the busy-DC path. The call's two
// messages and stubs are kept (delivered to the handler), so it allocates.
func BenchmarkCall(b *testing.B) {
	var r countRecorder
	c := NewConn(meta(true), &r, Limits{Budget: NewBudget(64 << 20), Buffers: NewBudget(64 << 20)})
	hostileSetup(c)
	req := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(true, 0, 3, make([]byte, 120))}.bytes()
	rs := make([]byte, 40)
	binary.LittleEndian.PutUint32(rs[36:], 0)
	resp := pb{le: true, ptype: PTypeResponse, flags: 3, callID: 2, body: respBody(true, 0, rs)}.bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(req) + len(resp)))
	id := uint32(2)
	for b.Loop() {
		id++
		binary.LittleEndian.PutUint32(req[12:], id)
		binary.LittleEndian.PutUint32(resp[12:], id)
		c.Feed(ClientToServer, pos(3), req)
		c.Feed(ServerToClient, pos(4), resp)
	}
	if r.calls != b.N {
		b.Fatalf("%d calls for %d iterations", r.calls, b.N)
	}
}

// countRecorder counts calls and keeps nothing.
type countRecorder struct{ calls int }

func (r *countRecorder) Logon(*ConnMeta, Security, Pos) {}
func (r *countRecorder) Call(*Call)                     { r.calls++ }
func (r *countRecorder) Anomaly(Anomaly)                {}

// BenchmarkManyPDUsPerSegment: signed calls (each PDU carries a verifier, so
// each goes through the buffer) fed in 64 KiB segments, as a capture taken
// with receive offload holds them: many PDUs per segment. Parsing one must
// not move the bytes of the others.
func BenchmarkManyPDUsPerSegment(b *testing.B) {
	cs, ss, _ := signedStreams(2000)
	b.ReportAllocs()
	b.SetBytes(int64(len(cs) + len(ss)))
	for b.Loop() {
		var r countRecorder
		c := NewConn(meta(true), &r, Limits{Budget: NewBudget(64 << 20), Buffers: NewBudget(64 << 20)})
		for o := 0; o < len(cs); o += 65536 {
			c.Feed(ClientToServer, pos(1), cs[o:min(o+65536, len(cs))])
		}
		for o := 0; o < len(ss); o += 65536 {
			c.Feed(ServerToClient, pos(2), ss[o:min(o+65536, len(ss))])
		}
		c.Close()
		if r.calls != 2000 {
			b.Fatalf("%d calls", r.calls)
		}
	}
}
