package ntlmssp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eqHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if hex.EncodeToString(got) != want {
		t.Errorf("%s = %x, want %s", what, got, want)
	}
}

// msnlmpChallenge is the ServerChallenge of MS-NLMP 4.2.
var msnlmpChallenge = [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}

// TestNTLMv2Vectors reproduces MS-NLMP 4.2.4 (protocol notes §7.6).
func TestNTLMv2Vectors(t *testing.T) {
	const flags = 0xe28a8233
	nt := NTOWFv1("Password")
	eqHex(t, "NTOWFv1", nt[:], "a4f49c406510bdcab6824ee7c30fd852")
	rk := NTOWFv2(nt, "User", "Domain")
	eqHex(t, "NTOWFv2", rk[:], "0c868a403bfd7a93a3001ef22ef02e3f")

	// temp = 01 01 Z(6) Time ClientChallenge Z(4) ServerName Z(4)
	var av []byte
	for _, p := range []struct {
		id uint16
		v  string
	}{{2, "Domain"}, {1, "Server"}} {
		av = binary.LittleEndian.AppendUint16(av, p.id)
		av = binary.LittleEndian.AppendUint16(av, uint16(2*len(p.v)))
		av = append(av, utf16LE(p.v)...)
	}
	av = append(av, 0, 0, 0, 0)
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = append(blob, make([]byte, 8)...)
	blob = append(blob, bytes.Repeat([]byte{0xaa}, 8)...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, av...)
	blob = append(blob, 0, 0, 0, 0)
	proof := hmacMD5(rk[:], msnlmpChallenge[:], blob)
	eqHex(t, "NTProofStr", proof[:], "68cd0ab851e51c96aabc927bebef6a1c")

	// The AUTHENTICATE side: encrypt the RandomSessionKey with the KEK.
	h := &Handshake{ServerChallenge: msnlmpChallenge, Flags: flags, User: "User", Domain: "Domain",
		LmResponse: make([]byte, 24), NtResponse: append(proof[:], blob...)}
	kek, ok, err := h.KeyExchangeKey(nt)
	if err != nil || !ok {
		t.Fatal("NTProofStr does not verify", err)
	}
	eqHex(t, "SessionBaseKey", kek[:], "8de40ccadbc14a82f15cb0ad0de95ca3")
	random := bytes.Repeat([]byte{0x55}, 16)
	enc := append([]byte(nil), random...)
	NewSession(kek, 0).Seal(false, enc) // RC4(KEK, RandomSessionKey), no ESS: one plain RC4 of the key
	eqHex(t, "EncryptedRandomSessionKey", enc, "c5dad2544fc9799094ce1ce90bc9d03e")
	h.EncryptedRandomSessionKey = enc
	exported, ok, err := h.SessionKey(nt)
	if err != nil || !ok {
		t.Fatal(err)
	}
	if !bytes.Equal(exported[:], random) {
		t.Fatalf("ExportedSessionKey = %x, want 55 x 16", exported)
	}
	k := DeriveKeys(exported, flags)
	eqHex(t, "ClientSealingKey", k.ClientSeal, "59f600973cc4960a25480a7c196e4c58")
	eqHex(t, "ClientSigningKey", k.ClientSign[:], "4788dc861b4782f35d43fd98fe1a2d39")

	// Sealing "Plaintext" then signing it with SeqNum 0 (MS-NLMP 4.2.4.4).
	s := NewSession(exported, flags)
	msg := utf16LE("Plaintext")
	data := append([]byte(nil), msg...)
	sig := s.Sign(false, msg) // the HMAC is over the plaintext...
	_ = sig
	s = NewSession(exported, flags)
	s.Seal(false, data) // ...but the data is encrypted first
	sig = s.Sign(false, msg)
	eqHex(t, "RC4(Plaintext)", data, "54e50165bf1936dc996020c1811b0f06fb5f")
	eqHex(t, "signature", sig[:], "010000007fb38ec5c55d497600000000")

	// The receiver: decrypt, then verify, with a fresh pair of handles.
	r := NewSession(exported, flags)
	r.Unseal(false, data)
	if !bytes.Equal(data, msg) || !r.Verify(false, data, sig[:]) {
		t.Errorf("receiver: %x, signature rejected", data)
	}
	// A wrong password does not verify.
	if _, ok, err := h.SessionKey(NTOWFv1("password")); ok || err != nil {
		t.Errorf("wrong password verified (%v)", err)
	}
	// An empty-domain response verifies through the retry.
	rk0 := NTOWFv2(nt, "User", "")
	p0 := hmacMD5(rk0[:], msnlmpChallenge[:], blob)
	h0 := *h
	h0.NtResponse = append(p0[:], blob...)
	if _, ok, err := h0.SessionKey(nt); !ok || err != nil {
		t.Errorf("empty-domain retry: %v", err)
	}
}

// TestNTLMv1ESSVectors reproduces MS-NLMP 4.2.3 (protocol notes §7.6).
func TestNTLMv1ESSVectors(t *testing.T) {
	const flags = 0x820a8233
	nt := NTOWFv1("Password")
	lm := append(bytes.Repeat([]byte{0xaa}, 8), make([]byte, 16)...)
	h := &Handshake{ServerChallenge: msnlmpChallenge, Flags: flags, User: "User", Domain: "Domain", LmResponse: lm,
		NtResponse: unhex(t, "7537f803ae367128ca458204bde7caf81e97ed2683267232")}
	base := md4Sum(nt[:])
	eqHex(t, "SessionBaseKey", base[:], "d87262b0cde4b1cb7499becccdf10784")
	kek, ok, err := h.KeyExchangeKey(nt)
	if err != nil || !ok {
		t.Fatal("NT response does not verify", err)
	}
	eqHex(t, "KeyExchangeKey", kek[:], "eb93429a8bd952f8b89c55b87f475edc")
	exported, _, err := h.SessionKey(nt)
	if err != nil || exported != kek {
		t.Fatalf("no KEY_EXCH: exported key must be the KEK (%v)", err)
	}
	k := DeriveKeys(exported, flags)
	eqHex(t, "ClientSigningKey", k.ClientSign[:], "60e799be5c72fc92922ae8ebe961fb8d")
	eqHex(t, "ClientSealingKey", k.ClientSeal, "04dd7f014d8504d265a25cc86a3a7c06")
	data := utf16LE("Plaintext")
	NewSession(exported, flags).Seal(false, data)
	eqHex(t, "RC4(Plaintext)", data, "a02372f6530273f3aa1eb90190ce5200c99d")
	if _, ok, _ := h.SessionKey(NTOWFv1("wrong")); ok {
		t.Errorf("wrong password verified")
	}
}

// TestNTHashNotPrinted: formatting a hash never shows its bytes.
func TestNTHashNotPrinted(t *testing.T) {
	nt := NTOWFv1("Password")
	for _, s := range []string{fmt.Sprint(nt), fmt.Sprintf("%v %+v %#v %s", nt, nt, nt, nt), fmt.Sprintf("%v", &Handshake{})} {
		if bytes.Contains([]byte(s), []byte("a4f49c40")) || bytes.Contains([]byte(s), []byte("164")) {
			t.Errorf("hash printed: %s", s)
		}
	}
}
