package dcerpc

import (
	"net/netip"
	"testing"

	"github.com/nspicap/nspicap/internal/synth"
)

// feedSynth feeds the TCP payloads of a generated capture (one connection,
// no reordering) to a Conn and returns what it reported.
func feedSynth(t *testing.T, c *synth.Capture, client netip.AddrPort) *recorder {
	t.Helper()
	r := &recorder{}
	conn := NewConn(ConnMeta{ID: 1, Client: client, FromStart: true}, r, Limits{})
	for i, p := range c.Packets {
		if len(p.Payload) == 0 {
			continue
		}
		dir := ServerToClient
		if p.Src == client {
			dir = ClientToServer
		}
		conn.Feed(dir, Pos{Frame: int64(i + 1), Time: p.TS}, p.Payload)
	}
	conn.Close()
	if len(r.anoms) != 0 {
		t.Fatalf("anomalies: %v", r.kinds())
	}
	return r
}

// TestSecurityPerPresentationContext: a connection at connect level whose
// requests carry no auth verifier (impacket) adds a presentation context
// with alter_context carrying its own NTLM handshake, a second security
// context (auth_context_id 79232 beside 79231). Each request runs in the
// security context negotiated with its presentation context; a context
// added without a token runs in the connection's user when all its
// security contexts carry one user, and in none when they carry several.
func TestSecurityPerPresentationContext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second synth.Creds
		want   map[uint16]string // user per presentation context
	}{
		{"two users", synth.Bob, map[uint16]string{0: `CONTOSO\alice`, 1: `CONTOSO\bob`, 2: ""}},
		{"one user twice", synth.Alice, map[uint16]string{0: `CONTOSO\alice`, 1: `CONTOSO\alice`, 2: `CONTOSO\alice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := synth.NewCapture("secctx")
			client := netip.MustParseAddrPort("192.0.2.5:50000")
			cn := c.NewConn(client, netip.MustParseAddrPort("198.51.100.10:4997"))
			cn.Open()
			r := c.NewRPC(cn, 1)
			r.Bind(synth.BindSpec{Auth: synth.AuthNTLM, Creds: synth.Alice, Target: synth.DC01, NewAssoc: 7, SecAddr: "4997",
				AuthContextID: 79231})
			r.NoVerifier = true
			h := r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
			r.AlterContextNTLM([]synth.ContextElem{{ID: 1, Abstract: synth.SyntaxRFR, Transfer: []synth.SyntaxID{synth.SyntaxNDR}}},
				tc.second, synth.DC01, 79232)
			// A third context, added without a token.
			r.AlterContext([]synth.ContextElem{{ID: 2, Abstract: synth.SyntaxNSPI, Transfer: []synth.SyntaxID{synth.SyntaxNDR}}}, nil)
			r.RfrGetNewDSA(1, "/o=Contoso/cn=Recipients/cn=bob", "dc01.contoso.example")
			r.NspiQueryRows(h, 0, 0) // context 0
			r.Call(synth.CallSpec{Ctx: 2, Opnum: 8, Op: "NspiGetPropList", Handle: h,
				Req: synth.NspiGetPropListReq(false, h, 0, 0x1a2, 1252), Resp: synth.NspiGetPropListResp(false, 0)})
			r.RfrGetNewDSA(1, "/o=Contoso/cn=Recipients/cn=bob", "dc01.contoso.example")
			r.NspiUnbind(h, synth.StatusUnbindSuccess)

			got := feedSynth(t, c, client)
			if len(got.calls) != 6 {
				t.Fatalf("%d calls, want 6", len(got.calls))
			}
			for _, call := range got.calls {
				if call.Request != nil && call.Request.Auth.Level != 0 {
					t.Fatalf("call %d carries a verifier: the test wants none", call.CallID)
				}
				if want := tc.want[call.ContextID]; call.Sec.User != want {
					t.Errorf("call %d (opnum %d) on context %d: user %q, want %q", call.CallID, call.Opnum, call.ContextID, call.Sec.User, want)
				}
				if tc.want[call.ContextID] != "" && (!call.Sec.Authenticated || call.Sec.Level != LevelConnect) {
					t.Errorf("call %d on context %d: security %+v, want connect level", call.CallID, call.ContextID, call.Sec)
				}
			}
			if len(got.logons) != 2 {
				t.Errorf("%d logons, want 2", len(got.logons))
			}
		})
	}
}
