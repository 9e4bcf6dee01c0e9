package synth

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"strings"
	"time"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM's NTOWFv1 is MD4
)

// NTLM privacy (auth level 6), the sender's side, written from MS-NLMP
// 3.3.2 (NTLMv2 responses), 3.4.4-3.4.5 (keys, sealing, signatures) and
// protocol notes §7.6, independently of the ntlmssp package's receiver side.
// The AUTHENTICATE carries a real NTProofStr computed from the password, so
// that tshark (-o ntlmssp.nt_password:...) decrypts the capture too.

// More NTLMSSP flags (MS-NLMP 2.2.2.5).
const (
	NTLMSign    = 0x00000010
	NTLMSeal    = 0x00000020
	NTLMKeyExch = 0x40000000
	// NTLMSealFlags are added to every message of a sealed exchange.
	NTLMSealFlags = NTLMSign | NTLMSeal | NTLMKeyExch

	AuthLevelPrivacy = 6
)

// SealSpec makes a bind negotiate NTLMv2 with KEY_EXCH and run every later
// call at auth level privacy.
type SealSpec struct {
	Password string
	// NoKey: the test keys file does not hold this identity (manifest).
	NoKey bool
	// Clear makes the unsealed twin of the same bind: the same NTLM
	// exchange (real NTLMv2 response, the same random draws, so that the
	// rest of the capture gets the same handles) without SIGN, SEAL and
	// KEY_EXCH, at auth level connect; later calls are not sealed.
	Clear bool
	// V1 negotiates NTLMv1 with extended session security (the NTLM2
	// session response: 24-byte NT response, LM response = client
	// challenge + 16 zeros, no target info, no MIC) instead of NTLMv2.
	V1 bool
	// Anonymous: an anonymous logon (NTLMAnonSealAuthenticate): no
	// password, keys from the all-zero session base key.
	Anonymous bool
}

// sealState is one side pair of a sealed NTLM security context.
type sealState struct {
	rc4     [2]*rc4.Cipher // per direction (C2S, S2C)
	signKey [2][16]byte
	seq     [2]uint32
	noKey   bool
	anon    bool // an anonymous logon: no keys file needed
}

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// ntHash is NTOWFv1: MD4 of the UTF-16LE password.
func ntHash(password string) []byte {
	h := md4.New()
	h.Write(UTF16LE(password))
	return h.Sum(nil)
}

// NTLMv2Authenticate builds an AUTHENTICATE with a real NTLMv2 response for
// password, KEY_EXCH with randomKey as the ExportedSessionKey, and a real MIC
// over negotiate, challenge and this message (MS-NLMP 3.1.5.1.2).
func NTLMv2Authenticate(c Creds, password string, t Target, ts uint64, serverChallenge, clientChallenge [8]byte,
	randomKey []byte, negotiate, challenge []byte) []byte {
	return ntlmv2Authenticate(c, password, t, ts, serverChallenge, clientChallenge, randomKey, negotiate, challenge, NTLMSealFlags)
}

// ntlmv2Authenticate is NTLMv2Authenticate with the sealing flags given:
// without KEY_EXCH, the MIC is keyed with the session base key and no
// encrypted session key is sent.
func ntlmv2Authenticate(c Creds, password string, t Target, ts uint64, serverChallenge, clientChallenge [8]byte,
	randomKey []byte, negotiate, challenge []byte, sealFlags uint32) []byte {
	flags := uint32(NTLMAuthFlags) | sealFlags
	blob := ntlmv2Blob(t, ts, clientChallenge)
	rk := hmacMD5(ntHash(password), UTF16LE(strings.ToUpper(c.User)+c.Domain))
	proof := hmacMD5(rk, serverChallenge[:], blob)
	nt := append(append([]byte(nil), proof...), blob...)
	base := hmacMD5(rk, proof)
	var enc []byte
	if flags&NTLMKeyExch != 0 {
		enc = make([]byte, 16)
		ciph, _ := rc4.NewCipher(base)
		ciph.XORKeyStream(enc, randomKey)
	} else {
		randomKey = base // the exported session key
	}

	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(3)
	m.secBuf(make([]byte, 24)) // LmChallengeResponse: zeros (MsvAvTimestamp present)
	m.secBuf(nt)
	m.secBuf(UTF16LE(c.Domain))
	m.secBuf(UTF16LE(c.User))
	m.secBuf(UTF16LE(c.Workstation))
	m.secBuf(enc)
	m.u32(flags)
	m.bytes(ntlmVersion)
	m.bytes(make([]byte, 16)) // MIC, filled below
	out := m.finish([]int{2, 3, 4, 0, 1, 5})
	mic := hmacMD5(randomKey, negotiate, challenge, out)
	copy(out[72:88], mic)
	return out
}

// desKey7 spreads 7 key bytes over the 8 bytes of a DES key (MS-NLMP 6,
// DES with the parity bits unset).
func desKey7(k []byte) []byte {
	return []byte{k[0], k[0]<<7 | k[1]>>1, k[1]<<6 | k[2]>>2, k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4, k[4]<<3 | k[5]>>5, k[5]<<2 | k[6]>>6, k[6] << 1}
}

// desl is DESL(K, D) of MS-NLMP 6: three DES encryptions of the 8-byte D
// under the 16-byte K padded with zeros to 21 bytes.
func desl(k, d []byte) []byte {
	k21 := append(append([]byte(nil), k...), make([]byte, 21-len(k))...)
	out := make([]byte, 24)
	for i := 0; i < 3; i++ {
		b, _ := des.NewCipher(desKey7(k21[7*i:]))
		b.Encrypt(out[8*i:], d)
	}
	return out
}

// NTLMv1ESSAuthenticate builds an AUTHENTICATE with the NTLM2 session
// response of MS-NLMP 3.3.1 (NTLMv1 with extended session security):
// LmChallengeResponse = client challenge + 16 zeros, NtChallengeResponse =
// DESL(NTOWFv1, MD5(server challenge + client challenge)[:8]), and, with
// KEY_EXCH, randomKey encrypted under the KeyExchangeKey
// HMAC_MD5(MD4(NTOWFv1), server challenge + client challenge). No MIC (no
// MsvAvFlags without target info in the response).
func NTLMv1ESSAuthenticate(c Creds, password string, serverChallenge, clientChallenge [8]byte, randomKey []byte) []byte {
	flags := uint32(NTLMAuthFlags&^NTLMTargetInfo | NTLMSealFlags)
	lm := append(append([]byte(nil), clientChallenge[:]...), make([]byte, 16)...)
	nth := ntHash(password)
	sc := md5.Sum(append(append([]byte(nil), serverChallenge[:]...), clientChallenge[:]...))
	nt := desl(nth, sc[:8])
	m4 := md4.New()
	m4.Write(nth)
	kek := hmacMD5(m4.Sum(nil), serverChallenge[:], lm[:8])
	enc := make([]byte, 16)
	ciph, _ := rc4.NewCipher(kek)
	ciph.XORKeyStream(enc, randomKey)

	m := &ntlmMsg{}
	m.bytes(ntlmSig)
	m.u32(3)
	m.secBuf(lm)
	m.secBuf(nt)
	m.secBuf(UTF16LE(c.Domain))
	m.secBuf(UTF16LE(c.User))
	m.secBuf(UTF16LE(c.Workstation))
	m.secBuf(enc)
	m.u32(flags)
	m.bytes(ntlmVersion)
	return m.finish([]int{2, 3, 4, 0, 1, 5})
}

// newSealState derives the keys of MS-NLMP 3.4.5.2-3.4.5.3 (ESS, 128-bit).
func newSealState(exported []byte) *sealState {
	s := &sealState{}
	key := func(magic string) []byte {
		h := md5.Sum(append(append([]byte(nil), exported...), magic...))
		return h[:]
	}
	copy(s.signKey[C2S][:], key("session key to client-to-server signing key magic constant\x00"))
	copy(s.signKey[S2C][:], key("session key to server-to-client signing key magic constant\x00"))
	s.rc4[C2S], _ = rc4.NewCipher(key("session key to client-to-server sealing key magic constant\x00"))
	s.rc4[S2C], _ = rc4.NewCipher(key("session key to server-to-client sealing key magic constant\x00"))
	return s
}

// protect seals the request or response PDUs of one call in place, in
// order: encrypt stub and pad, sign the plaintext PDU with the direction's
// sequence number, encrypt the checksum (notes §7.6).
func (r *RPC) protect(d Dir, pdus [][]byte) [][]byte {
	if r.krb != nil && r.krb.sealed {
		return r.krbProtect(d, pdus)
	}
	s := r.seal
	if s == nil {
		return pdus
	}
	for _, p := range pdus {
		bo := order(p[4])
		authLen := int(bo.Uint16(p[10:]))
		sigAt := len(p) - authLen
		var sb [4]byte
		binary.LittleEndian.PutUint32(sb[:], s.seq[d])
		mac := hmacMD5(s.signKey[d][:], sb[:], p[:sigAt])[:8]
		s.rc4[d].XORKeyStream(p[24:sigAt-8], p[24:sigAt-8])
		s.rc4[d].XORKeyStream(mac, mac)
		sig := p[sigAt:]
		binary.LittleEndian.PutUint32(sig[0:], 1)
		copy(sig[4:12], mac)
		binary.LittleEndian.PutUint32(sig[12:], s.seq[d])
		s.seq[d]++
	}
	return pdus
}

// authLevel is the level of the verifier on requests and responses.
func (r *RPC) authLevel() uint8 {

	if r.seal != nil {
		return AuthLevelPrivacy
	}
	return AuthLevelConnect
}

// SealedBind binds with NTLMv2 (bind NEGOTIATE, bind_ack CHALLENGE, auth3
// AUTHENTICATE, all at level privacy) and makes every later call on r
// sealed. It otherwise does what Bind does for AuthNTLM.
func (r *RPC) SealedBind(b BindSpec, seal SealSpec) {
	c := r.cap
	ctxs, results, maxX := b.defaults()
	flags := uint8(FlagFirst | FlagLast)
	assoc := b.Assoc
	if assoc == 0 {
		assoc = b.NewAssoc
	}
	r.Assoc, r.MaxXmit, r.Auth, r.User, r.BindSeen = assoc, maxX, AuthNTLM, b.Creds.Name(), c.Recording
	for i, ctx := range ctxs {
		if results[i].Result == 0 {
			r.ifaces[ctx.ID] = ifaceName(ctx.Abstract)
		}
	}
	r.authCtx = 0x00010000 | uint32(c.rng.IntN(0xffff))
	r.authType = AuthTypeNTLM
	r.verifier = true
	ts := uint64(c.now.Unix()+11644473600)*10_000_000 + uint64(c.now.Nanosecond()/100)
	var chal, cc [8]byte
	copy(chal[:], c.RandBytes(8))
	copy(cc[:], c.RandBytes(8))
	random := c.RandBytes(16)
	level, sealFlags := uint8(AuthLevelPrivacy), uint32(NTLMSealFlags)
	if seal.Clear {
		level, sealFlags = AuthLevelConnect, 0
	}
	verif := func(val []byte) *Verifier {
		return &Verifier{Type: AuthTypeNTLM, Level: level, ContextID: r.authCtx, Value: val}
	}
	neg := NTLMNegotiate(NTLMNegotiateFlags | sealFlags)
	chl := NTLMChallenge(NTLMChallengeFlags|sealFlags, b.Target, chal, ts)
	var auth []byte
	if seal.Anonymous {
		r.Auth, r.User = AuthNTLMAnon, ""
		auth = NTLMAnonSealAuthenticate(b.Creds, random)
	} else if seal.V1 {
		auth = NTLMv1ESSAuthenticate(b.Creds, seal.Password, chal, cc, random)
	} else {
		auth = ntlmv2Authenticate(b.Creds, seal.Password, b.Target, ts, chal, cc, random, neg, chl, sealFlags)
	}

	bind := EncodePDU(r.Drep, PTBind, flags, r.CallID, BindBody(r.Drep, uint16(maxX), uint16(maxX), b.Assoc, ctxs), verif(neg))
	r.sendPDUs(C2S, [][]byte{bind}, r.takeReq())
	r.think()
	ack := EncodePDU(r.Drep, PTBindAck, flags, r.CallID,
		BindAckBody(r.Drep, uint16(maxX), uint16(maxX), assoc, b.SecAddr, b.PadByte, results), verif(chl))
	r.sendPDUs(S2C, [][]byte{ack}, r.takeResp())
	c.Advance(150 * time.Microsecond)
	var pad [4]byte
	copy(pad[:], c.RandBytes(4))
	a3 := EncodePDU(r.Drep, PTAuth3, flags, r.CallID, Auth3Body(pad), verif(auth))
	r.sendPDUs(C2S, [][]byte{a3}, r.takeReq())
	r.seal, r.krb = nil, nil
	if !seal.Clear {
		r.seal = newSealState(random)
		r.seal.noKey = seal.NoKey
		r.seal.anon = seal.Anonymous
	}
}

// Manifest values of Call.Sealed.
const (
	sealedKey   = "key"
	sealedNoKey = "no-key"
	// sealedAnon: an anonymous NTLM session, decrypted without keys.
	sealedAnon = "anonymous"
)
