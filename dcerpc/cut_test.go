package dcerpc

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// ntlmToken returns an NTLMSSP message header of the given type, padded
// with zeros to n bytes.
func ntlmToken(typ uint32, n int) []byte {
	b := make([]byte, n)
	copy(b, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(b[8:], typ)
	return b
}

// TestCutBySnapLength: bytes cut by the snap length (Cut) damage the same
// messages a Gap would, but raise no gap or lost_pdu anomaly and mark what
// they cut: the security context whose AUTHENTICATE was cut is
// authenticated, with no user and not anonymous (Security.Cut); a stub and
// a status cut are Message.Cut. The same bytes lost to a Gap mark nothing
// as cut.
func TestCutBySnapLength(t *testing.T) {
	for _, snap := range []bool{true, false} {
		r := &recorder{}
		c := NewConn(meta(true), r, Limits{})
		lose := c.Gap
		if snap {
			lose = c.Cut
		}
		feedCut := func(dir Dir, f int64, b []byte, keep int) {
			c.Feed(dir, pos(f), b[:keep])
			lose(dir, pos(f), len(b)-keep)
		}
		c.Feed(ClientToServer, pos(1), pb{le: true, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(true, 0, NSPI, 56, 0),
			auth: ntlmToken(1, 40), atype: AuthNTLMSSP, alevel: LevelConnect, actx: 3}.bytes())
		c.Feed(ServerToClient, pos(2), pb{le: true, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(true, true),
			auth: ntlmToken(2, 56), atype: AuthNTLMSSP, alevel: LevelConnect, actx: 3}.bytes())
		// The AUTHENTICATE, cut after 60 bytes of its PDU.
		auth3 := pb{le: true, ptype: PTypeAuth3, flags: 3, callID: 1, body: make([]byte, 4),
			auth: ntlmToken(3, 300), atype: AuthNTLMSSP, alevel: LevelConnect, actx: 3}.bytes()
		feedCut(ClientToServer, 3, auth3, 60)
		// A whole call at connect level (no verifier): the context's.
		c.Feed(ClientToServer, pos(4), pb{le: true, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(true, 0, 3, make([]byte, 24))}.bytes())
		c.Feed(ServerToClient, pos(5), pb{le: true, ptype: PTypeResponse, flags: 3, callID: 2, body: respBody(true, 0, make([]byte, 8))}.bytes())
		// A request whose stub was cut, and a response whose status was.
		feedCut(ClientToServer, 6, pb{le: true, ptype: PTypeRequest, flags: 3, callID: 3, body: reqBody(true, 0, 3, bytes.Repeat([]byte{0x42}, 400))}.bytes(), 150)
		feedCut(ServerToClient, 7, pb{le: true, ptype: PTypeResponse, flags: 3, callID: 3, body: respBody(true, 0, make([]byte, 300))}.bytes(), 100)
		// The stream goes on aligned after the cuts.
		c.Feed(ClientToServer, pos(8), pb{le: true, ptype: PTypeRequest, flags: 3, callID: 4, body: reqBody(true, 0, 3, make([]byte, 24))}.bytes())
		c.Feed(ServerToClient, pos(9), pb{le: true, ptype: PTypeResponse, flags: 3, callID: 4, body: respBody(true, 0, make([]byte, 8))}.bytes())
		c.Close()

		if len(r.calls) != 3 {
			t.Fatalf("snap %v: %d calls, anomalies %v", snap, len(r.calls), r.anoms)
		}
		for i, call := range r.calls {
			s := call.Sec
			if !s.Authenticated || s.Anonymous || s.User != "" || s.Cut != snap {
				t.Errorf("snap %v: call %d: security %+v", snap, call.CallID, s)
			}
			if !call.IfaceKnown || call.Iface.UUID != NSPI {
				t.Errorf("snap %v: call %d: interface lost", snap, call.CallID)
			}
			cut := i == 1
			for _, m := range []*Message{call.Request, call.Response} {
				if m == nil || m.Damaged != cut || m.Cut != (cut && snap) {
					t.Errorf("snap %v: call %d: message %+v", snap, call.CallID, m)
				}
			}
		}
		if rs := r.calls[1].Response; rs == nil || !rs.StatusLost {
			t.Errorf("snap %v: the cut status is not lost", snap)
		}
		k := r.kinds()
		if snap && len(r.anoms) != 0 {
			t.Errorf("cut: anomalies %v", r.anoms)
		}
		if !snap && (k["gap"] != 3 || k["lost_pdu"] != 3) {
			t.Errorf("gap: anomalies %v", k)
		}
	}
}

// TestCutBindNamesNoUser: a bind cut by the snap length on a connection that
// had no security context yet: the calls that carry verifiers run in an
// authenticated context with no user, marked Cut, by the context id of their
// trailers.
func TestCutBindNamesNoUser(t *testing.T) {
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	bind := pb{le: true, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(true, 0, NSPI, 56, 0), auth: ntlmToken(1, 200), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()
	c.Feed(ClientToServer, pos(1), bind[:100])
	c.Cut(ClientToServer, pos(1), len(bind)-100)
	ack := pb{le: true, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(true, true), auth: ntlmToken(2, 300), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()
	c.Feed(ServerToClient, pos(2), ack[:100])
	c.Cut(ServerToClient, pos(2), len(ack)-100)
	req := func(id uint32) []byte {
		return pb{le: true, ptype: PTypeRequest, flags: 3, callID: id, body: reqBody(true, 0, 3, make([]byte, 24)),
			auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()
	}
	resp := func(id uint32) []byte {
		return pb{le: true, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(true, 0, make([]byte, 8)),
			auth: make([]byte, 16), atype: AuthNTLMSSP, alevel: LevelIntegrity, actx: 3}.bytes()
	}
	c.Feed(ClientToServer, pos(3), req(2))
	c.Feed(ServerToClient, pos(4), resp(2))
	c.Close()
	if len(r.calls) != 1 || len(r.anoms) != 0 {
		t.Fatalf("calls %d, anomalies %v", len(r.calls), r.anoms)
	}
	s := r.calls[0].Sec
	if !s.Authenticated || s.Anonymous || s.User != "" || !s.Cut || s.ContextID != 3 || s.AuthType != AuthNTLMSSP {
		t.Errorf("security %+v", s)
	}
	if !r.calls[0].IfaceKnown {
		t.Errorf("interface lost with the cut bind")
	}
}

// TestCutSegmentOfFragments: the snap length cuts segments that each carry
// every fragment of a request (a small max_xmit_frag), inside the first
// fragment, and a PDU that spans two segments, both cut. Every call is kept,
// paired with its answer and marked cut; nothing is an anomaly (no orphan
// response, no resync).
func TestCutSegmentOfFragments(t *testing.T) {
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	hostileSetup(c)
	frag := func(id uint32, flags uint8) []byte {
		return pb{le: true, ptype: PTypeRequest, flags: flags, callID: id, body: reqBody(true, 0, 3, bytes.Repeat([]byte{0x42}, 72))}.bytes()
	}
	f := int64(3)
	for id := uint32(2); id <= 4; id++ {
		seg := append(append(frag(id, 1), frag(id, 0)...), frag(id, 2)...)
		c.Feed(ClientToServer, pos(f), seg[:74])
		c.Cut(ClientToServer, pos(f), len(seg)-74)
		c.Feed(ServerToClient, pos(f+1), pb{le: true, ptype: PTypeResponse, flags: 3, callID: id, body: respBody(true, 0, make([]byte, 8))}.bytes())
		f += 2
	}
	// A PDU of 1600 bytes over two segments of 1460 and 140 bytes, each
	// cut to 74.
	big := pb{le: true, ptype: PTypeRequest, flags: 3, callID: 5, body: reqBody(true, 0, 3, make([]byte, 1576))}.bytes()
	c.Feed(ClientToServer, pos(f), big[:74])
	c.Cut(ClientToServer, pos(f), 1460-74)
	c.Feed(ClientToServer, pos(f+1), big[1460:1460+74])
	c.Cut(ClientToServer, pos(f+1), len(big)-1460-74)
	c.Feed(ServerToClient, pos(f+2), pb{le: true, ptype: PTypeResponse, flags: 3, callID: 5, body: respBody(true, 0, make([]byte, 8))}.bytes())
	c.Feed(ClientToServer, pos(f+3), pb{le: true, ptype: PTypeRequest, flags: 3, callID: 6, body: reqBody(true, 0, 3, make([]byte, 24))}.bytes())
	c.Feed(ServerToClient, pos(f+4), pb{le: true, ptype: PTypeResponse, flags: 3, callID: 6, body: respBody(true, 0, make([]byte, 8))}.bytes())
	c.Close()
	if len(r.anoms) != 0 {
		t.Errorf("anomalies %v", r.anoms)
	}
	if len(r.calls) != 5 {
		t.Fatalf("%d calls, want 5", len(r.calls))
	}
	for _, call := range r.calls {
		cut := call.CallID != 6
		if call.Request == nil || call.Response == nil || call.Request.Cut != cut || call.Request.Damaged != cut {
			t.Errorf("call %d: request %+v response %v", call.CallID, call.Request, call.Response != nil)
		}
	}
}

// TestCutBindThenWholeAnswer: a Kerberos bind whose AP-REQ the snap length
// cut, answered by a whole bind_ack: the context the answer names is the
// one of the cut bind (marked Cut), and the connect-level calls without a
// verifier run in it: authenticated, no user, not anonymous.
func TestCutBindThenWholeAnswer(t *testing.T) {
	r := &recorder{}
	c := NewConn(meta(true), r, Limits{})
	bind := pb{le: true, ptype: PTypeBind, flags: 3, callID: 1, body: bindBody(true, 0, NSPI, 56, 0), auth: make([]byte, 600), atype: AuthKerberos, alevel: LevelConnect, actx: 7}.bytes()
	c.Feed(ClientToServer, pos(1), bind[:346])
	c.Cut(ClientToServer, pos(1), len(bind)-346)
	c.Feed(ServerToClient, pos(2), pb{le: true, ptype: PTypeBindAck, flags: 3, callID: 1, body: bindAckBody(true, true), auth: make([]byte, 90), atype: AuthKerberos, alevel: LevelConnect, actx: 7}.bytes())
	c.Feed(ClientToServer, pos(3), pb{le: true, ptype: PTypeRequest, flags: 3, callID: 2, body: reqBody(true, 0, 3, make([]byte, 24))}.bytes())
	c.Feed(ServerToClient, pos(4), pb{le: true, ptype: PTypeResponse, flags: 3, callID: 2, body: respBody(true, 0, make([]byte, 8))}.bytes())
	c.Close()
	if len(r.calls) != 1 {
		t.Fatalf("%d calls, anomalies %v", len(r.calls), r.anoms)
	}
	s := r.calls[0].Sec
	if !s.Authenticated || s.Anonymous || s.User != "" || !s.Cut || s.ContextID != 7 || s.AuthName() != "kerberos" {
		t.Errorf("security %+v", s)
	}
}
