package unseal

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/ntlmssp"
)

var krbNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// keytabStore loads the keytab of the given services.
func keytabStore(t *testing.T, svcs ...synth.KrbService) *keys.Store {
	t.Helper()
	b, err := synth.KeytabBytes(svcs...)
	if err != nil {
		t.Fatal(err)
	}
	st := &keys.Store{}
	if err := st.AddKeytabBytes(b, "svc.keytab"); err != nil {
		t.Fatal(err)
	}
	return st
}

func krbSpec(user string, etype, session int32) synth.KrbSpec {
	return synth.KrbSpec{User: user, Svc: synth.KrbSvc, Etype: etype, SessionEtype: session, AuthType: synth.AuthTypeSPNEGO}
}

// gssFramed wraps a raw Kerberos message in the GSS framing of RFC 4121 4.1.
func gssFramed(tokID byte, raw []byte) []byte {
	g := append(append([]byte{}, synth.OIDKRB5...), tokID, 0)
	g = append(g, raw...)
	return append([]byte{0x60, 0x82, byte(len(g) >> 8), byte(len(g))}, g...)
}

// handshakeKrb feeds a new context the AP-REQ (in SPNEGO, raw with auth type
// 16, or GSS-framed) and the server's AP-REP, as dcerpc would.
func handshakeKrb(t *testing.T, st *keys.Store, x *synth.KrbContext, form string) dcerpc.SecurityContext {
	t.Helper()
	authType := uint8(dcerpc.AuthKerberos)
	var req, rep []byte
	switch form {
	case "spnego":
		authType = dcerpc.AuthSPNEGO
		req = synth.SPNEGOInit([][]byte{synth.OIDMSKRB5, synth.OIDKRB5}, x.APReq)
		rep = synth.SPNEGOResp(synth.NegAcceptIncomplete, synth.OIDMSKRB5, x.APRep, nil)
	case "raw":
		req, rep = x.APReq, x.APRep
	case "gss":
		req, rep = gssFramed(1, x.APReq), gssFramed(2, x.APRep)
	}
	c := New(st).NewContext(&dcerpc.ConnMeta{}, authType, 1)
	for _, leg := range []struct {
		ptype uint8
		v     []byte
	}{{dcerpc.PTypeBind, req}, {dcerpc.PTypeBindAck, rep}, {dcerpc.PTypeAuth3, x.APRep3}} {
		tok := ntlmssp.Inspect(authType, leg.v)
		if leg.ptype != dcerpc.PTypeAuth3 && (tok.Mech != ntlmssp.MechKerberos || tok.Kerberos == nil) {
			t.Fatalf("%s: %+v", form, tok)
		}
		c.Token(leg.ptype, leg.v, tok)
	}
	return c
}

// krbPDU builds a request or response PDU with a zero auth_value of n
// bytes, its stub padded to 16 as Windows pads it.
func krbPDU(response bool, stub []byte, n int) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(stub)))
	ptype := uint8(synth.PTRequest)
	if response {
		body = append(body, 0, 0, 0, 0)
		ptype = synth.PTResponse
	} else {
		body = append(body, 0, 0, 3, 0) // context 0, opnum 3
	}
	body = append(body, stub...)
	pad := bytes.Repeat([]byte{0xa5}, (16-len(stub)%16)%16)
	v := &synth.Verifier{Type: dcerpc.AuthSPNEGO, Level: dcerpc.LevelPrivacy, ContextID: 1, Pad: pad, Value: make([]byte, n)}
	return synth.EncodePDU(synth.DrepLE, ptype, 3, 1, body, v)
}

// TestKerberosUnwrap: real tickets, AP-REPs and DCE-style wrap tokens made
// by the generator (AES128, AES256: RFC 4121 rotated by RRC+EC; RC4-HMAC:
// RFC 4757) are unwrapped in both directions, with and without header
// signing, and the context names the client principal.
func TestKerberosUnwrap(t *testing.T) {
	st := keytabStore(t, synth.KrbSvc)
	for _, tc := range []struct {
		name           string
		etype, session int32
		form           string
	}{
		{"aes256", synth.EtypeAES256, synth.EtypeAES256, "spnego"},
		{"aes128-session", synth.EtypeAES256, synth.EtypeAES128, "gss"},
		{"aes128-ticket", synth.EtypeAES128, synth.EtypeAES128, "raw"},
		{"rc4", synth.EtypeRC4, synth.EtypeRC4, "raw"},
		{"rc4-spnego", synth.EtypeRC4, synth.EtypeRC4, "spnego"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := synth.NewKrbContext(krbSpec("bob", tc.etype, tc.session), krbNow, 7)
			if err != nil {
				t.Fatal(err)
			}
			c := handshakeKrb(t, st, x, tc.form)
			if id := c.Identity(); id != "bob@"+synth.KrbRealm {
				t.Fatalf("identity %q", id)
			}
			for i, stub := range [][]byte{[]byte("first stub, 27 bytes long.."), bytes.Repeat([]byte{7}, 96), {1}} {
				for _, resp := range []bool{false, true} {
					for _, hs := range []bool{true, false} {
						p := krbPDU(resp, stub, x.TokenLen())
						x.Seal(resp, p, hs)
						if bytes.Contains(p, stub) && len(stub) > 4 {
							t.Fatalf("stub %d not encrypted", i)
						}
						dir := dcerpc.ClientToServer
						if resp {
							dir = dcerpc.ServerToClient
						}
						if st := c.Unseal(dir, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealOK {
							t.Fatalf("stub %d response %v header signing %v: %v", i, resp, hs, st)
						}
						if !bytes.Equal(p[24:24+len(stub)], stub) {
							t.Errorf("stub %d: plaintext %x", i, p[24:24+len(stub)])
						}
					}
				}
			}
			// A lost PDU costs nothing: each token decrypts on its own.
			p := krbPDU(false, []byte("lost"), x.TokenLen())
			x.Seal(false, p, true)
			c.Lost(dcerpc.ClientToServer, len(p), x.TokenLen(), 24, dcerpc.LevelPrivacy)
			p = krbPDU(false, []byte("after the loss"), x.TokenLen())
			x.Seal(false, p, true)
			if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealOK {
				t.Errorf("after a lost PDU: %v", st)
			}
		})
	}
}

// TestCFXUnwrapRFC4121: a plain RFC 4121 wrap token whose encryption is
// gokrb5's own EncryptMessage (its confounder from crypto/rand) and whose
// rotation is RRC alone, the whole message inside the token, unwraps.
func TestCFXUnwrapRFC4121(t *testing.T) {
	for _, et := range []int32{synth.EtypeAES128, synth.EtypeAES256} {
		e, _ := crypto.GetEtype(et)
		key := types.EncryptionKey{KeyType: et, KeyValue: bytes.Repeat([]byte{0x3c}, e.GetKeyByteSize())}
		msg := []byte("a message wrapped as RFC 4121 section 4.2.4 says")
		for _, ecRRC := range [][2]int{{0, 0}, {0, 28}, {16, 28}, {5, 3}} {
			ec, rrc := ecRRC[0], ecRRC[1]
			hdr := []byte{0x05, 0x04, cfxSealed, 0xff, 0, byte(ec), 0, 0, 0, 0, 0, 0, 0, 0, 0, 42}
			plain := append(append(append([]byte{}, msg...), make([]byte, ec)...), hdr...)
			_, ct, err := e.EncryptMessage(key.KeyValue, plain, keyusage.GSSAPI_INITIATOR_SEAL)
			if err != nil {
				t.Fatal(err)
			}
			rot := append(append([]byte{}, ct[len(ct)-rrc:]...), ct[:len(ct)-rrc]...)
			clear := append([]byte{}, hdr...)
			clear[7] = byte(rrc)
			tok := append(clear, rot...)
			got, err := cfxUnwrap(newKrbKey(key), keyusage.GSSAPI_INITIATOR_SEAL, tok, nil, signOnly{})
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("etype %d EC %d RRC %d: %q, %v", et, ec, rrc, got, err)
			}
			// The other direction's usage does not verify.
			if _, err := cfxUnwrap(newKrbKey(key), keyusage.GSSAPI_ACCEPTOR_SEAL, tok, nil, signOnly{}); err == nil {
				t.Errorf("etype %d: acceptor usage verified an initiator token", et)
			}
		}
	}
}

// TestKerberosMIC: integrity-level PDUs carry MIC tokens. The RFC 4121 one
// is made by gokrb5's gssapi.MICToken over the header-signed PDU.
func TestKerberosMIC(t *testing.T) {
	st := keytabStore(t, synth.KrbSvc)
	x, err := synth.NewKrbContext(krbSpec("alice", synth.EtypeAES256, synth.EtypeAES256), krbNow, 9)
	if err != nil {
		t.Fatal(err)
	}
	c := handshakeKrb(t, st, x, "spnego")
	acceptor := c.(*context).krb.acceptor.key
	stub := []byte("integrity only, not encrypted")
	p := krbPDU(true, stub, 28)
	p[len(p)-28-8+1] = dcerpc.LevelIntegrity
	mic := gssapi.MICToken{Flags: gssapi.MICTokenFlagSentByAcceptor | gssapi.MICTokenFlagAcceptorSubkey, SndSeqNum: 5, Payload: p[:len(p)-28]}
	if err := mic.SetChecksum(acceptor, keyusage.GSSAPI_ACCEPTOR_SIGN); err != nil {
		t.Fatal(err)
	}
	tok, _ := mic.Marshal()
	copy(p[len(p)-28:], tok)
	if st := c.Unseal(dcerpc.ServerToClient, p, 24, dcerpc.LevelIntegrity); st != dcerpc.UnsealOK || !bytes.Contains(p, stub) {
		t.Errorf("MIC: %v", st)
	}
	p[30] ^= 1
	if st := c.Unseal(dcerpc.ServerToClient, p, 24, dcerpc.LevelIntegrity); st != dcerpc.UnsealBadSignature {
		t.Errorf("tampered stub under a MIC: %v", st)
	}
	// From the wrong direction the flags do not match.
	p[30] ^= 1
	if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelIntegrity); st != dcerpc.UnsealBadSignature {
		t.Errorf("MIC from the wrong side: %v", st)
	}
}

// TestKerberosWrongKey: a keytab with another password for the service
// (wrong or outdated key) cannot read the ticket: UnsealBadKey, no user; a
// keytab without the service: UnsealNoKey; tokens sealed with keys of
// another exchange fail their checksum and the stub is left alone.
func TestKerberosWrongKey(t *testing.T) {
	x, err := synth.NewKrbContext(krbSpec("bob", synth.EtypeAES256, synth.EtypeAES256), krbNow, 11)
	if err != nil {
		t.Fatal(err)
	}
	wrong := synth.KrbSvc
	wrong.Password = "not the service's password"
	other := synth.KrbSvc
	other.Principal = "HTTP/web01.contoso.example"
	other.Password = "not the service's password"
	for _, tc := range []struct {
		name string
		svc  synth.KrbService
		want dcerpc.UnsealStatus
	}{{"wrong key", wrong, dcerpc.UnsealBadKey}, {"other service", other, dcerpc.UnsealNoKey}} {
		c := handshakeKrb(t, keytabStore(t, tc.svc), x, "spnego")
		p := krbPDU(false, []byte("secret stub"), x.TokenLen())
		x.Seal(false, p, true)
		sealed := append([]byte{}, p...)
		if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != tc.want || c.Identity() != "" {
			t.Errorf("%s: %v, identity %q", tc.name, st, c.Identity())
		}
		if !bytes.Equal(p, sealed) {
			t.Errorf("%s: the PDU was modified", tc.name)
		}
	}

	// The right keytab, but the PDUs come from another exchange (other
	// session key and subkeys): the checksum fails.
	for _, et := range []int32{synth.EtypeAES256, synth.EtypeRC4} {
		a, _ := synth.NewKrbContext(krbSpec("bob", et, et), krbNow, 12)
		b, _ := synth.NewKrbContext(krbSpec("bob", et, et), krbNow, 13)
		c := handshakeKrb(t, keytabStore(t, synth.KrbSvc), a, "raw")
		p := krbPDU(false, []byte("sealed with another key"), b.TokenLen())
		b.Seal(false, p, true)
		sealed := append([]byte{}, p...)
		if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealBadSignature {
			t.Errorf("etype %d, another exchange's key: %v", et, st)
		}
		if !bytes.Equal(p, sealed) {
			t.Errorf("etype %d: a PDU that failed its checksum was modified", et)
		}
	}
}

// TestKerberosTampered: every flipped bit of a sealed PDU (header,
// ciphertext, sec_trailer, token) and every truncation of the token fails
// the check; nothing is decrypted.
func TestKerberosTampered(t *testing.T) {
	st := keytabStore(t, synth.KrbSvc)
	for _, et := range []int32{synth.EtypeAES256, synth.EtypeRC4} {
		x, _ := synth.NewKrbContext(krbSpec("bob", et, et), krbNow, 21)
		c := handshakeKrb(t, st, x, "raw")
		stub := []byte("0123456789abcdef0123")
		p := krbPDU(true, stub, x.TokenLen())
		x.Seal(true, p, true)
		for i := range p {
			if i >= 8 && i < 12 {
				continue // frag_length and auth_length: the trailer would move
			}
			if i == len(p)-x.TokenLen()-8+2 {
				continue // auth_pad_length: dcerpc checks it, not the token
			}
			if et == synth.EtypeRC4 && i == len(p)-x.TokenLen()+1 {
				continue // the GSS framing's length: not checksummed, and outside DCE style it counts the data too
			}
			q := append([]byte{}, p...)
			q[i] ^= 0x10
			if got := c.Unseal(dcerpc.ServerToClient, q, 24, dcerpc.LevelPrivacy); got != dcerpc.UnsealBadSignature {
				t.Errorf("etype %d: bit flipped at %d of %d: %v", et, i, len(p), got)
			}
		}
		// Truncated tokens: auth_length says fewer bytes.
		for cut := 1; cut < x.TokenLen(); cut += 7 {
			q := append([]byte{}, p[:len(p)-cut]...)
			binary.LittleEndian.PutUint16(q[8:], uint16(len(q)))
			binary.LittleEndian.PutUint16(q[10:], uint16(x.TokenLen()-cut))
			if got := c.Unseal(dcerpc.ServerToClient, q, 24, dcerpc.LevelPrivacy); got == dcerpc.UnsealOK {
				t.Errorf("etype %d: token cut by %d accepted", et, cut)
			}
		}
		if got := c.Unseal(dcerpc.ServerToClient, p, 24, dcerpc.LevelPrivacy); got != dcerpc.UnsealOK || !bytes.Contains(p, stub) {
			t.Errorf("etype %d: the intact PDU after the tampered ones: %v", et, got)
		}
	}
}

// TestKerberosClientPrincipal: with the service key from a keytab, the
// ticket in an AP-REQ (raw in SPNEGO, raw with auth type 16, or
// GSS-framed) names the user; without it the user stays unknown and the
// stubs stay sealed (UnsealNoKey).
func TestKerberosClientPrincipal(t *testing.T) {
	st := keytabStore(t, synth.KrbSvc)
	for _, et := range []int32{synth.EtypeAES256, synth.EtypeRC4} {
		x, err := synth.NewKrbContext(krbSpec("bob", et, et), krbNow, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{"spnego", "raw", "gss"} {
			if id := handshakeKrb(t, st, x, form).Identity(); id != "bob@"+synth.KrbRealm {
				t.Errorf("etype %d %s: identity %q", et, form, id)
			}
			c := handshakeKrb(t, &keys.Store{}, x, form)
			if c.Identity() != "" || c.Unseal(dcerpc.ClientToServer, krbPDU(false, []byte("x"), x.TokenLen()), 24, dcerpc.LevelPrivacy) != dcerpc.UnsealNoKey {
				t.Errorf("%s: identity %q without a keytab", form, c.Identity())
			}
		}
	}
}

// FuzzKerberosUnseal: whatever the bytes of a protected PDU, the Kerberos
// unwrap does not panic, in either direction and at either level. Seeds:
// PDUs sealed with AES and RC4.
func FuzzKerberosUnseal(f *testing.F) {
	st := &keys.Store{}
	b, _ := synth.KeytabBytes(synth.KrbSvc)
	if err := st.AddKeytabBytes(b, "svc.keytab"); err != nil {
		f.Fatal(err)
	}
	var ctxs []dcerpc.SecurityContext
	for i, et := range []int32{synth.EtypeAES256, synth.EtypeRC4} {
		x, err := synth.NewKrbContext(krbSpec("bob", et, et), krbNow, uint64(30+i))
		if err != nil {
			f.Fatal(err)
		}
		c := New(st).NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthKerberos, 1)
		c.Token(dcerpc.PTypeBind, x.APReq, ntlmssp.Inspect(dcerpc.AuthKerberos, x.APReq))
		c.Token(dcerpc.PTypeBindAck, x.APRep, ntlmssp.Inspect(dcerpc.AuthKerberos, x.APRep))
		ctxs = append(ctxs, c)
		for _, resp := range []bool{false, true} {
			p := krbPDU(resp, []byte("a stub to seal, 30 bytes long."), x.TokenLen())
			x.Seal(resp, p, true)
			f.Add(p, uint8(i), resp, true)
		}
	}
	f.Fuzz(func(t *testing.T, pdu []byte, which uint8, fromServer, privacy bool) {
		if len(pdu) < 24 {
			return
		}
		c := ctxs[int(which)%len(ctxs)]
		dir, level := dcerpc.ClientToServer, uint8(dcerpc.LevelIntegrity)
		if fromServer {
			dir = dcerpc.ServerToClient
		}
		if privacy {
			level = dcerpc.LevelPrivacy
		}
		c.Unseal(dir, append([]byte(nil), pdu...), 24, level)
	})
}

// TestKerberosThenNTLM: SPNEGO offers Kerberos optimistically and the server
// picks NTLM (protocol notes §6.6): the NTLM keys decrypt the calls, not the
// ticket's.
func TestKerberosThenNTLM(t *testing.T) {
	st := keytabStore(t, synth.KrbSvc)
	if _, err := st.ReadKeys(bytes.NewReader([]byte("CONTOSO\\bob:"+password+"\n")), "test"); err != nil {
		t.Fatal(err)
	}
	x, _ := synth.NewKrbContext(krbSpec("bob", synth.EtypeAES256, synth.EtypeAES256), krbNow, 41)
	c := New(st).NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthSPNEGO, 7)
	init := synth.SPNEGOInit([][]byte{synth.OIDMSKRB5, synth.OIDKRB5}, x.APReq)
	c.Token(dcerpc.PTypeBind, init, ntlmssp.Inspect(dcerpc.AuthSPNEGO, init))
	if c.Identity() == "" {
		t.Fatal("the optimistic ticket was not read")
	}
	snd := handshake(t, c)
	if c.Identity() != "" {
		t.Errorf("identity %q kept from the abandoned Kerberos token", c.Identity())
	}
	p := sealedPDU(snd, []byte("NTLM after all"), 16)
	if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealOK {
		t.Errorf("NTLM after a Kerberos token: %v", st)
	}
}
