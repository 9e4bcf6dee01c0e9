package unseal

import (
	"bytes"
	"crypto/hmac"
	"crypto/rc4"
	"encoding/binary"
	"errors"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc4757"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Kerberos per-message tokens as DCE/RPC carries them (MS-KILE 3.4.5.4,
// MS-RPCE 2.2.2.11): the auth_value of a request or response holds the
// token; at privacy level the stub, with its auth padding, is the encrypted
// data in place. With header signing the PDU header before the stub and the
// sec_trailer after it are "sign only" buffers: checksummed in wire order
// around the data, never encrypted. Without it only the data is covered;
// both are tried, header signing first.

var (
	errToken    = errors.New("malformed Kerberos token")
	errChecksum = errors.New("the Kerberos token does not verify")
	errEtype    = errors.New("unsupported Kerberos encryption type")
)

// signOnly holds the buffers a header-signed PDU checksums without
// encrypting them: the headers before the stub and the sec_trailer after it.
type signOnly struct{ pre, post []byte }

// variants lists what to checksum around the data: the header-signed form
// first, then the data alone.
func (s signOnly) variants() []signOnly {
	if len(s.pre) == 0 && len(s.post) == 0 {
		return []signOnly{{}}
	}
	return []signOnly{s, {}}
}

// RFC 4121 4.2.2 flags.
const (
	cfxSentByAcceptor = 0x01
	cfxSealed         = 0x02
	cfxAcceptorSubkey = 0x04
)

// cfxHeaderLen is the length of an RFC 4121 token header (4.2.6).
const cfxHeaderLen = 16

// krbKey is a session key or subkey with its etype and the keys derived
// from it (RFC 3961 5.3), cached per usage.
type krbKey struct {
	key     types.EncryptionKey
	e       etype.EType
	derived map[uint32]*derivedKeys
}

type derivedKeys struct{ ke, ki, kc []byte }

// newKrbKey wraps a key whose etype gokrb5 knows; nil otherwise.
func newKrbKey(k types.EncryptionKey) *krbKey {
	if len(k.KeyValue) == 0 {
		return nil
	}
	e, err := crypto.GetEtype(k.KeyType)
	if err != nil || len(k.KeyValue) != e.GetKeyByteSize() {
		return nil
	}
	return &krbKey{key: k, e: e}
}

// Encryption types with a per-message token implementation here.
const (
	etypeAES128 = 17
	etypeAES256 = 18
	etypeRC4    = 23
)

func (k *krbKey) aes() bool {
	return k != nil && (k.key.KeyType == etypeAES128 || k.key.KeyType == etypeAES256)
}

func (k *krbKey) rc4() bool { return k != nil && k.key.KeyType == etypeRC4 }

// keys returns Ke, Ki and Kc for usage (RFC 3961 5.3: DK(key, usage | 0xAA,
// 0x55, 0x99)).
func (k *krbKey) keys(usage uint32) (*derivedKeys, error) {
	if d := k.derived[usage]; d != nil {
		return d, nil
	}
	ke, err := k.e.DeriveKey(k.key.KeyValue, common.GetUsageKe(usage))
	if err != nil {
		return nil, errEtype
	}
	ki, err := k.e.DeriveKey(k.key.KeyValue, common.GetUsageKi(usage))
	if err != nil {
		return nil, errEtype
	}
	kc, err := k.e.DeriveKey(k.key.KeyValue, common.GetUsageKc(usage))
	if err != nil {
		return nil, errEtype
	}
	if k.derived == nil {
		k.derived = map[uint32]*derivedKeys{}
	}
	d := &derivedKeys{ke: ke, ki: ki, kc: kc}
	k.derived[usage] = d
	return d, nil
}

// mac is HMAC(key, parts...) truncated to the etype's checksum length
// (RFC 3961 5.3 with RFC 3962's HMAC-SHA1-96).
func (k *krbKey) mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(k.e.GetHashFunc(), key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)[:k.e.GetHMACBitLength()/8]
}

// cfxHeader is the clear header of an RFC 4121 wrap or MIC token.
type cfxHeader struct {
	flags   byte
	ec, rrc int
	seq     uint64
}

// parseCFXWrap reads the header of a wrap token (TOK_ID 05 04, RFC 4121
// 4.2.6.2).
func parseCFXWrap(tok []byte) (cfxHeader, error) {
	if len(tok) < cfxHeaderLen || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return cfxHeader{}, errToken
	}
	return cfxHeader{flags: tok[2], ec: int(binary.BigEndian.Uint16(tok[4:])),
		rrc: int(binary.BigEndian.Uint16(tok[6:])), seq: binary.BigEndian.Uint64(tok[8:])}, nil
}

// sealUsage and signUsage are the RFC 4121 2 key usages of a sender.
func sealUsage(fromAcceptor bool) uint32 {
	if fromAcceptor {
		return keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	return keyusage.GSSAPI_INITIATOR_SEAL
}

func signUsage(fromAcceptor bool) uint32 {
	if fromAcceptor {
		return keyusage.GSSAPI_ACCEPTOR_SIGN
	}
	return keyusage.GSSAPI_INITIATOR_SIGN
}

// cfxUnwrap checks and decrypts a wrap token with confidentiality (RFC 4121
// 4.2.4) whose encrypted data may lie outside it, as GSS_WrapEx lays it out
// (MS-KILE 3.4.5.4.1): the token is the header and then the start of the
// rotated ciphertext, data (the stub, in place) is its end. The ciphertext
// E(conf | data | filler | header) | HMAC is rotated right by RRC+EC in
// that layout (RRC alone in RFC 4121's, which is tried second). It returns
// the plaintext data; the caller decides whether it fits in place.
func cfxUnwrap(k *krbKey, usage uint32, tok, data []byte, so signOnly) ([]byte, error) {
	if !k.aes() {
		return nil, errEtype
	}
	h, err := parseCFXWrap(tok)
	if err != nil {
		return nil, err
	}
	if h.flags&cfxSealed == 0 {
		return nil, errToken
	}
	d, err := k.keys(usage)
	if err != nil {
		return nil, err
	}
	conf, hl := k.e.GetConfounderByteSize(), k.e.GetHMACBitLength()/8
	n := len(tok) - cfxHeaderLen + len(data)
	if n < conf+h.ec+cfxHeaderLen+hl {
		return nil, errToken
	}
	body := make([]byte, 0, n)
	body = append(append(body, tok[cfxHeaderLen:]...), data...)
	c := make([]byte, n)
	rots := []int{h.rrc + h.ec, h.rrc}
	if h.ec == 0 {
		rots = rots[:1]
	}
	for _, rot := range rots {
		rot %= n
		copy(c, body[rot:])
		copy(c[n-rot:], body[:rot])
		p, err := k.e.DecryptData(d.ke, c[:n-hl])
		if err != nil || len(p) != n-hl {
			return nil, errToken
		}
		copyHdr := p[len(p)-cfxHeaderLen:]
		tail := p[len(p)-cfxHeaderLen-h.ec:] // filler and header copy
		plain := p[conf : len(p)-cfxHeaderLen-h.ec]
		for _, v := range so.variants() {
			if !hmac.Equal(k.mac(d.ki, p[:conf], v.pre, plain, v.post, tail), c[n-hl:]) {
				continue
			}
			// The encrypted copy of the header (with RRC 0 when it was
			// encrypted) must say what the clear one says, sequence
			// number included (RFC 4121 4.2.4).
			if !bytes.Equal(copyHdr[:6], tok[:6]) || !bytes.Equal(copyHdr[8:16], tok[8:16]) {
				return nil, errChecksum
			}
			return plain, nil
		}
	}
	return nil, errChecksum
}

// cfxVerifyMIC checks an RFC 4121 4.2.6.1 MIC token (TOK_ID 04 04) over the
// data: checksum = HMAC(Kc, data | header) truncated.
func cfxVerifyMIC(k *krbKey, usage uint32, tok, data []byte, so signOnly) error {
	if !k.aes() {
		return errEtype
	}
	hl := k.e.GetHMACBitLength() / 8
	if len(tok) != cfxHeaderLen+hl || tok[0] != 0x04 || tok[1] != 0x04 ||
		!bytes.Equal(tok[3:8], []byte{0xff, 0xff, 0xff, 0xff, 0xff}) {
		return errToken
	}
	d, err := k.keys(usage)
	if err != nil {
		return err
	}
	for _, v := range so.variants() {
		if hmac.Equal(k.mac(d.kc, v.pre, data, v.post, tok[:cfxHeaderLen]), tok[cfxHeaderLen:]) {
			return nil
		}
	}
	return errChecksum
}

// RC4-HMAC tokens (RFC 4757 7.2, 7.3): after the GSS framing, TOK_ID,
// SGN_ALG, SEAL_ALG (wrap) and filler (8 bytes), the encrypted SND_SEQ (8),
// SGN_CKSUM (8) and, in a wrap token, the encrypted confounder (8).
const (
	rc4WrapLen = 32
	rc4MICLen  = 24
)

// Microsoft message types of the RFC 4757 checksum (usage 22 and 23 of
// RFC 4121 translated).
const (
	msTypeWrap = 13
	msTypeMIC  = 15
)

// oidKRB5 and oidMSKRB5 are the DER contents of the Kerberos mechanism OIDs.
var (
	oidKRB5   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKRB5 = []byte{0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// gssToken strips the GSS framing of RFC 2743 3.1 (60 len 06 len OID) from
// a Kerberos mechanism token. The outer length is not checked against the
// bytes present: in DCE style it covers the token only, elsewhere it also
// counts the data that follows.
func gssToken(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x60 {
		return nil, errToken
	}
	off := 2
	if b[1]&0x80 != 0 {
		off += int(b[1] & 0x7f)
	}
	if off+2+len(oidKRB5) > len(b) || b[off] != 0x06 || int(b[off+1]) != len(oidKRB5) {
		return nil, errToken
	}
	oid := b[off+2 : off+2+len(oidKRB5)]
	if !bytes.Equal(oid, oidKRB5) && !bytes.Equal(oid, oidMSKRB5) {
		return nil, errToken
	}
	return b[off+2+len(oidKRB5):], nil
}

// direction is the last 4 bytes of a decrypted RC4 SND_SEQ: zeros from the
// initiator, 0xff from the acceptor (RFC 4757 7.2).
func direction(fromAcceptor bool) []byte {
	if fromAcceptor {
		return []byte{0xff, 0xff, 0xff, 0xff}
	}
	return []byte{0, 0, 0, 0}
}

// rc4SeqNumber decrypts SND_SEQ with the key derived from the checksum and
// checks its direction bytes.
func rc4SeqNumber(key, sndSeq, cksum []byte, fromAcceptor bool) (uint32, error) {
	kseq := rfc4757.HMAC(rfc4757.HMAC(key, []byte{0, 0, 0, 0}), cksum)
	seq := make([]byte, 8)
	ciph, err := rc4.NewCipher(kseq)
	if err != nil {
		return 0, errEtype
	}
	ciph.XORKeyStream(seq, sndSeq)
	if !bytes.Equal(seq[4:], direction(fromAcceptor)) {
		return 0, errChecksum
	}
	return binary.BigEndian.Uint32(seq), nil
}

// rc4Checksum is SGN_CKSUM: the first 8 bytes of the RFC 4757 HMAC-MD5
// checksum with Microsoft message type t over the parts.
func rc4Checksum(key []byte, t uint32, parts ...[]byte) []byte {
	sum, _ := rfc4757.Checksum(key, t, bytes.Join(parts, nil))
	return sum[:8]
}

// rc4Unwrap checks and decrypts an RC4-HMAC wrap token (RFC 4757 7.3) whose
// data lies outside it, as DCE style lays it out: the sequence number first
// (its key comes from the checksum), then the confounder and data with the
// key derived from the sequence number, then the checksum over the
// plaintext. tok is the token without its GSS framing.
func rc4Unwrap(k *krbKey, fromAcceptor bool, tok, data []byte, so signOnly) ([]byte, error) {
	if !k.rc4() {
		return nil, errEtype
	}
	if len(tok) != rc4WrapLen || !bytes.Equal(tok[:8], []byte{0x02, 0x01, 0x11, 0x00, 0x10, 0x00, 0xff, 0xff}) {
		return nil, errToken
	}
	key := k.key.KeyValue
	seq, err := rc4SeqNumber(key, tok[8:16], tok[16:24], fromAcceptor)
	if err != nil {
		return nil, err
	}
	klocal := make([]byte, len(key))
	for i, b := range key {
		klocal[i] = b ^ 0xf0
	}
	kcrypt := rfc4757.HMAC(rfc4757.HMAC(klocal, []byte{0, 0, 0, 0}), binary.BigEndian.AppendUint32(nil, seq))
	ciph, err := rc4.NewCipher(kcrypt)
	if err != nil {
		return nil, errEtype
	}
	conf := make([]byte, 8)
	ciph.XORKeyStream(conf, tok[24:32])
	plain := make([]byte, len(data))
	ciph.XORKeyStream(plain, data)
	for _, v := range so.variants() {
		if hmac.Equal(rc4Checksum(key, msTypeWrap, tok[:8], conf, v.pre, plain, v.post), tok[16:24]) {
			return plain, nil
		}
	}
	return nil, errChecksum
}

// rc4VerifyMIC checks an RC4-HMAC MIC token (RFC 4757 7.2) over the data.
func rc4VerifyMIC(k *krbKey, fromAcceptor bool, tok, data []byte, so signOnly) error {
	if !k.rc4() {
		return errEtype
	}
	if len(tok) != rc4MICLen || !bytes.Equal(tok[:8], []byte{0x01, 0x01, 0x11, 0x00, 0xff, 0xff, 0xff, 0xff}) {
		return errToken
	}
	key := k.key.KeyValue
	for _, v := range so.variants() {
		if hmac.Equal(rc4Checksum(key, msTypeMIC, tok[:8], v.pre, data, v.post), tok[16:24]) {
			_, err := rc4SeqNumber(key, tok[8:16], tok[16:24], fromAcceptor)
			return err
		}
	}
	return errChecksum
}
