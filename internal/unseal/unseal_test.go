package unseal

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/ntlmssp"
)

const password = "Correct-Horse-7"

func store(t *testing.T, lines string) *keys.Store {
	t.Helper()
	s := &keys.Store{}
	if w, err := s.ReadKeys(bytes.NewReader([]byte(lines)), "test"); err != nil || len(w) > 0 {
		t.Fatal(err, w)
	}
	return s
}

// handshake feeds a context a CHALLENGE and a real NTLMv2 AUTHENTICATE and
// returns the sender's session (ExportedSessionKey = random).
func handshake(t *testing.T, c dcerpc.SecurityContext) *ntlmssp.Session {
	chal := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	cc := [8]byte{9, 9, 9, 9, 9, 9, 9, 9}
	random := bytes.Repeat([]byte{0x42}, 16)
	neg := synth.NTLMNegotiate(synth.NTLMNegotiateFlags | synth.NTLMSealFlags)
	ch := synth.NTLMChallenge(synth.NTLMChallengeFlags|synth.NTLMSealFlags, synth.DC01, chal, 1)
	au := synth.NTLMv2Authenticate(synth.Bob, password, synth.DC01, 1, chal, cc, random, neg, ch)
	for _, m := range [][]byte{neg, ch, au} {
		tok := ntlmssp.Inspect(dcerpc.AuthNTLMSSP, m)
		if tok.Err != nil {
			t.Fatal(tok.Err)
		}
		c.Token(dcerpc.PTypeBind, m, tok)
	}
	var k [16]byte
	copy(k[:], random)
	msg, _ := ntlmssp.Parse(au)
	return ntlmssp.NewSession(k, msg.Flags)
}

// sealedPDU builds a request PDU at level privacy as a client sends it.
func sealedPDU(s *ntlmssp.Session, stub []byte, sigLen int) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(len(stub)))
	body = append(body, 0, 0, 3, 0) // context 0, opnum 3
	body = append(body, stub...)
	pad := (16 - len(stub)%16) % 16
	v := &synth.Verifier{Type: dcerpc.AuthNTLMSSP, Level: dcerpc.LevelPrivacy, ContextID: 7, Pad: make([]byte, pad), Value: make([]byte, sigLen)}
	p := synth.EncodePDU(synth.DrepLE, synth.PTRequest, 3, 1, body, v)
	sigAt := len(p) - sigLen
	plain := append([]byte(nil), p[:len(p)-16]...)
	s.Seal(false, p[24:sigAt-8])
	sig := s.Sign(false, plain)
	copy(p[sigAt:], sig[:sigLen])
	return p
}

func TestNTLMUnseal(t *testing.T) {
	u := New(store(t, "CONTOSO\\bob:"+password+"\n"))
	c := u.NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthNTLMSSP, 7)
	snd := handshake(t, c)
	for i, stub := range [][]byte{[]byte("first stub, 27 bytes long.."), bytes.Repeat([]byte{7}, 100)} {
		p := sealedPDU(snd, stub, 16)
		if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealOK {
			t.Fatalf("PDU %d: %v", i, st)
		}
		if !bytes.Equal(p[24:24+len(stub)], stub) {
			t.Errorf("PDU %d: plaintext %q", i, p[24:24+len(stub)])
		}
	}
	// A PDU lost to a gap: the keystream skips it and stays in step.
	lost := sealedPDU(snd, make([]byte, 40), 16)
	c.Lost(dcerpc.ClientToServer, len(lost), 16, 24, dcerpc.LevelPrivacy)
	if st := c.Unseal(dcerpc.ClientToServer, sealedPDU(snd, []byte("after the gap"), 16), 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealOK {
		t.Errorf("after a lost PDU: %v", st)
	}
	// A PDU dropped without notice: the next signature fails, and with a
	// verified key that is lost step, not a wrong key.
	sealedPDU(snd, make([]byte, 40), 16)
	if st := c.Unseal(dcerpc.ClientToServer, sealedPDU(snd, []byte("x"), 16), 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealLostSync {
		t.Errorf("after an unnoticed loss: %v", st)
	}
}

func TestNTLMTruncatedSignature(t *testing.T) {
	c := New(store(t, "CONTOSO\\bob:"+password+"\n")).NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthNTLMSSP, 7)
	snd := handshake(t, c)
	if st := c.Unseal(dcerpc.ClientToServer, sealedPDU(snd, []byte("stub"), 8), 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealBadSignature {
		t.Errorf("8-byte signature: %v", st)
	}
}

func TestNTLMWrongAndMissingKey(t *testing.T) {
	c := New(store(t, "CONTOSO\\bob:not-"+password+"\n")).NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthNTLMSSP, 7)
	snd := handshake(t, c)
	p := sealedPDU(snd, []byte("secret stub"), 16)
	if st := c.Unseal(dcerpc.ClientToServer, p, 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealBadKey {
		t.Errorf("wrong key: %v", st)
	}
	if st := c.Unseal(dcerpc.ClientToServer, sealedPDU(snd, []byte("more"), 16), 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealBadKey {
		t.Errorf("wrong key, second PDU: %v", st)
	}
	c = New(store(t, "CONTOSO\\alice:"+password+"\n")).NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthNTLMSSP, 7)
	snd = handshake(t, c)
	if st := c.Unseal(dcerpc.ClientToServer, sealedPDU(snd, []byte("x"), 16), 24, dcerpc.LevelPrivacy); st != dcerpc.UnsealNoKey {
		t.Errorf("no key: %v", st)
	}
}
