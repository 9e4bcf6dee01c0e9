package ntlmssp

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"

	"golang.org/x/crypto/md4" //nolint:staticcheck // MD4 is what NTLM uses (MS-NLMP 3.3.1)
)

// This file derives NTLM session keys and runs the sealing and signing of
// MS-NLMP 3.3 and 3.4, for passive decryption (protocol notes §7). Key
// material is held in fixed-size arrays and never formatted: no error or
// String method here prints a key.

// NTHash is NTOWFv1: MD4 of the UTF-16LE password (MS-NLMP 3.3.1).
type NTHash [16]byte

// String hides the hash so that it cannot reach an output by accident.
func (NTHash) String() string { return "[redacted]" }

// GoString hides the hash from %#v.
func (NTHash) GoString() string { return "[redacted]" }

// NTOWFv1 returns MD4(UTF-16LE(password)).
func NTOWFv1(password string) NTHash {
	h := md4.New()
	h.Write(utf16LE(password))
	var out NTHash
	copy(out[:], h.Sum(nil))
	return out
}

// NTOWFv2 returns HMAC_MD5(NTOWFv1, UTF-16LE(UPPER(user) || domain)) (MS-NLMP
// 3.3.2): only the user name is upper-cased, the domain is used as sent.
func NTOWFv2(nt NTHash, user, domain string) [16]byte {
	return hmacMD5(nt[:], utf16LE(strings.ToUpper(user)+domain))
}

func hmacMD5(key []byte, parts ...[]byte) [16]byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var out [16]byte
	copy(out[:], m.Sum(nil))
	return out
}

func utf16LE(s string) []byte {
	var b []byte
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			b = binary.LittleEndian.AppendUint16(b, uint16(0xd800+(r>>10)))
			b = binary.LittleEndian.AppendUint16(b, uint16(0xdc00+(r&0x3ff)))
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}

// Handshake is what a passive observer needs from one NTLM exchange: the
// server challenge (CHALLENGE) and, from AUTHENTICATE, the names, responses,
// flags and encrypted session key.
type Handshake struct {
	ServerChallenge           [8]byte
	Flags                     uint32 // AUTHENTICATE's NegotiateFlags
	User, Domain              string
	LmResponse, NtResponse    []byte
	EncryptedRandomSessionKey []byte
}

// ErrUnsupported: an NTLM variant that needs the LM hash (LM_KEY,
// REQUEST_NON_NT_SESSION_KEY without ESS), or a response of no known shape
// (anonymous). It names no key material.
var ErrUnsupported = errors.New("NTLM variant not supported for decryption")

// IsV2 reports whether the NT response is NTLMv2 (longer than 24 bytes).
func (h *Handshake) IsV2() bool { return len(h.NtResponse) > 24 }

// SessionKey returns the ExportedSessionKey that nt gives for this exchange
// (MS-NLMP 3.3.1, 3.3.2, 3.4.5.1): NTLMv2, NTLMv1 with extended session
// security, and NTLMv1 without it when no LM key is involved. verified says
// whether the NT response checks with nt (NTProofStr for NTLMv2, with a
// retry with an empty domain; DESL for NTLMv1). The key is derived even when
// it does not, so that the first signature can give the final answer.
func (h *Handshake) SessionKey(nt NTHash) (key [16]byte, verified bool, err error) {
	kek, verified, err := h.KeyExchangeKey(nt)
	if err != nil {
		return kek, false, err
	}
	if h.Flags&FlagKeyExch != 0 && len(h.EncryptedRandomSessionKey) == 16 {
		c, _ := rc4.NewCipher(kek[:])
		c.XORKeyStream(key[:], h.EncryptedRandomSessionKey)
		return key, verified, nil
	}
	return kek, verified, nil
}

// KeyExchangeKey returns the KeyExchangeKey (for NTLMv2, the
// SessionBaseKey) and whether the NT response verifies with nt.
func (h *Handshake) KeyExchangeKey(nt NTHash) (kek [16]byte, verified bool, err error) {
	switch {
	case h.IsV2():
		proof, blob := h.NtResponse[:16], h.NtResponse[16:]
		var first [16]byte
		for i, dom := range []string{h.Domain, ""} {
			rk := NTOWFv2(nt, h.User, dom)
			if i == 0 {
				first = rk
			}
			p := hmacMD5(rk[:], h.ServerChallenge[:], blob)
			if hmac.Equal(p[:], proof) {
				return hmacMD5(rk[:], proof), true, nil
			}
		}
		return hmacMD5(first[:], proof), false, nil
	case len(h.NtResponse) == 24:
		base := md4Sum(nt[:])
		if h.Flags&FlagESS != 0 {
			if len(h.LmResponse) < 8 {
				return kek, false, ErrUnsupported
			}
			d := md5.Sum(append(append([]byte(nil), h.ServerChallenge[:]...), h.LmResponse[:8]...))
			want := desl(nt, d[:8])
			return hmacMD5(base[:], h.ServerChallenge[:], h.LmResponse[:8]), hmac.Equal(want[:], h.NtResponse), nil
		}
		if h.Flags&(FlagLMKey|FlagNonNTKey) != 0 {
			return kek, false, ErrUnsupported
		}
		want := desl(nt, h.ServerChallenge[:])
		return base, hmac.Equal(want[:], h.NtResponse), nil
	}
	return kek, false, ErrUnsupported
}

// AnonymousSessionKey returns the ExportedSessionKey of an anonymous
// logon, which no password enters (MS-NLMP 3.3.1 and 3.3.2, the special
// case of an empty user and password: no NT response, LM response Z(1);
// 3.2.5.1.2: the server authenticates ANONYMOUS without a response key).
// Its SessionBaseKey is Z(16), so is its KeyExchangeKey (3.4.5.1: NTLMv2,
// and NTLMv1 without LM_KEY or NON_NT_SESSION_KEY; the ESS variant needs an
// 8-byte LM response, which an anonymous logon does not send); with
// KEY_EXCH the ExportedSessionKey is RC4(Z(16), EncryptedRandomSessionKey)
// (3.1.5.1.2). Not checked by a response: the first signature checks it.
func (h *Handshake) AnonymousSessionKey() (key [16]byte) {
	if h.Flags&FlagKeyExch != 0 && len(h.EncryptedRandomSessionKey) == 16 {
		var zero [16]byte
		c, _ := rc4.NewCipher(zero[:])
		c.XORKeyStream(key[:], h.EncryptedRandomSessionKey)
	}
	return key
}

func md4Sum(b []byte) [16]byte {
	h := md4.New()
	h.Write(b)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// desl is DESL(K, D) of MS-NLMP 6: three DES encryptions of the 8-byte D
// under 7-byte slices of K padded with zeros to 21 bytes.
func desl(k NTHash, d []byte) [24]byte {
	var k21 [21]byte
	copy(k21[:], k[:])
	var out [24]byte
	for i := 0; i < 3; i++ {
		c, _ := des.NewCipher(desKey(k21[7*i : 7*i+7]))
		c.Encrypt(out[8*i:], d[:8])
	}
	return out
}

// desKey spreads 56 key bits over 8 bytes (the parity bits are ignored).
func desKey(k []byte) []byte {
	return []byte{
		k[0],
		k[0]<<7 | k[1]>>1,
		k[1]<<6 | k[2]>>2,
		k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4,
		k[4]<<3 | k[5]>>5,
		k[5]<<2 | k[6]>>6,
		k[6] << 1,
	}
}

// Magic constants of MS-NLMP 3.4.5.2 and 3.4.5.3, with their trailing NUL.
const (
	magicCliSign = "session key to client-to-server signing key magic constant\x00"
	magicSrvSign = "session key to server-to-client signing key magic constant\x00"
	magicCliSeal = "session key to client-to-server sealing key magic constant\x00"
	magicSrvSeal = "session key to server-to-client sealing key magic constant\x00"
)

// Keys are the signing and sealing keys of one security context.
type Keys struct {
	ClientSign, ServerSign [16]byte // zero without ESS
	ClientSeal, ServerSeal []byte   // the same key for both without ESS
}

// DeriveKeys computes SIGNKEY and SEALKEY (MS-NLMP 3.4.5.2, 3.4.5.3) from the
// ExportedSessionKey and the negotiated flags.
func DeriveKeys(exported [16]byte, flags uint32) Keys {
	var k Keys
	if flags&FlagESS != 0 {
		k.ClientSign = md5.Sum(append(exported[:], magicCliSign...))
		k.ServerSign = md5.Sum(append(exported[:], magicSrvSign...))
		var base []byte
		switch {
		case flags&Flag128 != 0:
			base = exported[:]
		case flags&Flag56 != 0:
			base = exported[:7]
		default:
			base = exported[:5]
		}
		cs := md5.Sum(append(append([]byte(nil), base...), magicCliSeal...))
		ss := md5.Sum(append(append([]byte(nil), base...), magicSrvSeal...))
		k.ClientSeal, k.ServerSeal = cs[:], ss[:]
		return k
	}
	var seal []byte
	switch {
	case flags&(FlagLMKey|FlagDatagram) != 0 && flags&Flag56 != 0:
		seal = append(append([]byte(nil), exported[:7]...), 0xa0)
	case flags&(FlagLMKey|FlagDatagram) != 0:
		seal = append(append([]byte(nil), exported[:5]...), 0xe5, 0x38, 0xb0)
	default:
		seal = append([]byte(nil), exported[:]...)
	}
	k.ClientSeal, k.ServerSeal = seal, seal
	return k
}

// Session holds the RC4 handles of one security context as both ends keep
// them (MS-NLMP 3.4.4): one per direction with ESS, one shared without.
// The keystream continues across every protected PDU of a direction.
type Session struct {
	keys     Keys
	cli, srv *rc4.Cipher
	seq      [2]uint32
	keyExch  bool
	ess      bool
	scratch  [16]byte
}

// NewSession initialises the RC4 handles from the ExportedSessionKey.
func NewSession(exported [16]byte, flags uint32) *Session {
	s := &Session{keys: DeriveKeys(exported, flags), keyExch: flags&FlagKeyExch != 0, ess: flags&FlagESS != 0}
	s.cli, _ = rc4.NewCipher(s.keys.ClientSeal)
	if s.ess {
		s.srv, _ = rc4.NewCipher(s.keys.ServerSeal)
	} else {
		s.srv = s.cli
	}
	return s
}

func (s *Session) handle(fromServer bool) *rc4.Cipher {
	if fromServer {
		return s.srv
	}
	return s.cli
}

// Seal encrypts data in place with the direction's handle (the sender's side;
// the synthetic capture generator and tests use it).
func (s *Session) Seal(fromServer bool, data []byte) { s.handle(fromServer).XORKeyStream(data, data) }

// Unseal decrypts data in place with the direction's handle.
func (s *Session) Unseal(fromServer bool, data []byte) { s.handle(fromServer).XORKeyStream(data, data) }

// Skip advances the direction's keystream by n bytes (a lost PDU of known
// length, protocol notes §7.4).
func (s *Session) Skip(fromServer bool, n int) {
	var buf [256]byte
	for n > 0 {
		k := min(n, len(buf))
		s.handle(fromServer).XORKeyStream(buf[:k], buf[:k])
		n -= k
	}
}

// SignatureLen is the size of an NTLMSSP message signature.
const SignatureLen = 16

// Sign builds the 16-byte signature of msg with the direction's next
// sequence number (MS-NLMP 3.4.4), consuming keystream as the sender does.
func (s *Session) Sign(fromServer bool, msg []byte) [16]byte {
	d := 0
	if fromServer {
		d = 1
	}
	seq := s.seq[d]
	s.seq[d]++
	var sig [16]byte
	binary.LittleEndian.PutUint32(sig[:], 1)
	if s.ess {
		key := s.keys.ClientSign
		if fromServer {
			key = s.keys.ServerSign
		}
		var sb [4]byte
		binary.LittleEndian.PutUint32(sb[:], seq)
		mac := hmacMD5(key[:], sb[:], msg)
		copy(sig[4:12], mac[:8])
		if s.keyExch {
			s.handle(fromServer).XORKeyStream(sig[4:12], sig[4:12])
		}
		binary.LittleEndian.PutUint32(sig[12:], seq)
		return sig
	}
	binary.LittleEndian.PutUint32(sig[8:], crc32.ChecksumIEEE(msg))
	binary.LittleEndian.PutUint32(sig[12:], seq)
	s.handle(fromServer).XORKeyStream(sig[4:16], sig[4:16])
	binary.LittleEndian.PutUint32(sig[4:], 0)
	return sig
}

// Verify checks a received signature over msg (whose data part was already
// decrypted), consuming keystream as the receiver does. With ESS the
// sequence number is taken from the signature, where it travels in clear.
func (s *Session) Verify(fromServer bool, msg, sig []byte) bool {
	if len(sig) != SignatureLen || binary.LittleEndian.Uint32(sig) != 1 {
		// Advance as a signature would, to stay in step.
		if s.ess && s.keyExch {
			s.Skip(fromServer, 8)
		} else if !s.ess {
			s.Skip(fromServer, 12)
		}
		return false
	}
	d := 0
	if fromServer {
		d = 1
	}
	if s.ess {
		copy(s.scratch[:8], sig[4:12])
		if s.keyExch {
			s.handle(fromServer).XORKeyStream(s.scratch[:8], s.scratch[:8])
		}
		seq := binary.LittleEndian.Uint32(sig[12:])
		key := s.keys.ClientSign
		if fromServer {
			key = s.keys.ServerSign
		}
		var sb [4]byte
		binary.LittleEndian.PutUint32(sb[:], seq)
		mac := hmacMD5(key[:], sb[:], msg)
		s.seq[d] = seq + 1
		return hmac.Equal(mac[:8], s.scratch[:8])
	}
	copy(s.scratch[:12], sig[4:16])
	s.handle(fromServer).XORKeyStream(s.scratch[:12], s.scratch[:12])
	crc := binary.LittleEndian.Uint32(s.scratch[4:])
	seq := binary.LittleEndian.Uint32(s.scratch[8:])
	ok := crc == crc32.ChecksumIEEE(msg) && seq == s.seq[d]
	s.seq[d]++
	return ok
}

// KeyExchange reports whether checksums are RC4-encrypted (KEY_EXCH).
func (s *Session) KeyExchange() bool { return s.keyExch }

// ESS reports whether extended session security is in use.
func (s *Session) ESS() bool { return s.ess }
