// Package unseal decrypts sealed DCE/RPC traffic with the keys the user
// supplies: it implements dcerpc.Unsealer for NTLM (MS-NLMP 3.3-3.4,
// protocol notes §7) and learns the client principal of Kerberos AP-REQs
// from a keytab (RFC 4120 5.3, with gokrb5's RFC 3961/3962/4757 crypto).
//
// Kerberos-protected stubs (RFC 4121 wrap tokens) are not decrypted yet:
// their calls stay sealed, with the identity learned from the ticket.
//
// Nothing here returns or formats key material.
package unseal

import (
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/ntlmssp"
)

// Unsealer is a dcerpc.Unsealer backed by a key store.
type Unsealer struct {
	store *keys.Store
}

// New returns an Unsealer for the keys in store (which may be empty: then
// every protected PDU reports UnsealNoKey).
func New(store *keys.Store) *Unsealer { return &Unsealer{store: store} }

// NewContext implements dcerpc.Unsealer.
func (u *Unsealer) NewContext(meta *dcerpc.ConnMeta, authType uint8, contextID uint32) dcerpc.SecurityContext {
	return &context{u: u, status: dcerpc.UnsealUnsupported}
}

// context is one security context: the NTLM handshake and the RC4 state it
// gives, or what a Kerberos AP-REQ revealed.
type context struct {
	u *Unsealer
	// status is what Unseal returns while no session is set up: the
	// handshake was not (fully) seen, there is no key, or the variant is
	// not supported.
	status    dcerpc.UnsealStatus
	challenge [8]byte
	haveChal  bool
	sess      *ntlmssp.Session
	// verified: the NT response checked with the key; then a signature
	// that fails means lost keystream, not a wrong key.
	verified bool
	bad      bool // a signature failed with an unverified key
	identity string
	krb      *kerberos
}

// kerberos is what a decrypted ticket gives (kept for a later unwrap of RFC
// 4121 tokens).
type kerberos struct {
	sessionKey types.EncryptionKey
	subkey     types.EncryptionKey
}

func (c *context) Identity() string { return c.identity }

func (c *context) Token(ptype uint8, value []byte, tok ntlmssp.Token) {
	switch {
	case tok.NTLM != nil:
		c.ntlmToken(tok.NTLM)
	case tok.Kerberos != nil && (ptype == dcerpc.PTypeBind || ptype == dcerpc.PTypeAlter):
		c.kerberosToken(tok.Kerberos)
	}
}

func (c *context) ntlmToken(m *ntlmssp.Message) {
	switch m.Type {
	case ntlmssp.TypeChallenge:
		c.challenge, c.haveChal = m.ServerChallenge, true
	case ntlmssp.TypeAuthenticate:
		c.sess, c.verified, c.bad = nil, false, false
		if !c.haveChal || m.Anonymous() {
			c.status = dcerpc.UnsealUnsupported
			return
		}
		h := &ntlmssp.Handshake{ServerChallenge: c.challenge, Flags: m.Flags, User: m.User, Domain: m.Domain,
			LmResponse: m.LmResponse, NtResponse: m.NtResponse, EncryptedRandomSessionKey: m.EncryptedRandomSessionKey}
		cands := c.u.store.NTHashes(m.Domain, m.User)
		if len(cands) == 0 {
			c.status = dcerpc.UnsealNoKey
			return
		}
		var first *[16]byte
		for _, nt := range cands {
			key, ok, err := h.SessionKey(nt)
			if err != nil {
				c.status = dcerpc.UnsealUnsupported
				return
			}
			if ok {
				c.sess, c.verified = ntlmssp.NewSession(key, m.Flags), true
				c.status = dcerpc.UnsealOK
				return
			}
			if first == nil {
				k := key
				first = &k
			}
		}
		// No candidate verifies the NT response. Keep the first one:
		// the signatures decide (and will report the wrong key).
		c.sess = ntlmssp.NewSession(*first, m.Flags)
		c.status = dcerpc.UnsealOK
	}
}

// Unseal implements dcerpc.SecurityContext for NTLM (notes §7.6, receiver
// side): decrypt [hdrEnd, sec_trailer) at privacy level, then check the
// signature over [0, frag_length - 16) with the plaintext.
func (c *context) Unseal(dir dcerpc.Dir, pdu []byte, hdrEnd int, level uint8) dcerpc.UnsealStatus {
	if c.sess == nil {
		return c.status
	}
	if c.bad {
		return dcerpc.UnsealBadKey
	}
	fromServer := dir == dcerpc.ServerToClient
	authLen := int(pdu[10]) | int(pdu[11])<<8
	if pdu[4]&0xf0 == 0 {
		authLen = int(pdu[10])<<8 | int(pdu[11])
	}
	t := len(pdu) - authLen - 8 // the sec_trailer
	if t < hdrEnd {
		return dcerpc.UnsealBadSignature
	}
	if level == dcerpc.LevelPrivacy {
		c.sess.Unseal(fromServer, pdu[hdrEnd:t])
	}
	if authLen != ntlmssp.SignatureLen {
		// Keep the keystream in step as a whole signature would.
		c.sess.Verify(fromServer, nil, nil)
		return dcerpc.UnsealBadSignature
	}
	if c.sess.Verify(fromServer, pdu[:len(pdu)-authLen], pdu[len(pdu)-authLen:]) {
		c.verified = true
		return dcerpc.UnsealOK
	}
	if !c.verified {
		c.bad = true
		return dcerpc.UnsealBadKey
	}
	return dcerpc.UnsealLostSync
}

// Lost skips the keystream of a protected PDU cut by a gap (notes §7.4).
func (c *context) Lost(dir dcerpc.Dir, fragLen, authLen, hdrEnd int, level uint8) {
	if c.sess == nil || c.bad {
		return
	}
	fromServer := dir == dcerpc.ServerToClient
	if n := fragLen - hdrEnd - 8 - authLen; level == dcerpc.LevelPrivacy && n > 0 {
		c.sess.Skip(fromServer, n)
	}
	c.sess.Verify(fromServer, nil, nil) // the signature's keystream and sequence number
}

// kerberosToken decrypts the ticket of an AP-REQ with a keytab key to learn
// the client principal, then the authenticator for the subkey.
func (c *context) kerberosToken(b []byte) {
	ap := apReq(b)
	if ap == nil {
		return
	}
	c.status = dcerpc.UnsealNoKey
	for _, kt := range c.u.store.Keytabs() {
		t := ap.Ticket
		if err := t.DecryptEncPart(kt, &t.SName); err != nil {
			continue
		}
		enc := t.DecryptedEncPart
		c.identity = enc.CName.PrincipalNameString() + "@" + enc.CRealm
		k := &kerberos{sessionKey: enc.Key}
		a := *ap
		a.Ticket = t
		if err := a.DecryptAuthenticator(enc.Key); err == nil {
			k.subkey = a.Authenticator.SubKey
		}
		c.krb = k
		// RFC 4121 unwrapping of the stubs is not implemented: the calls
		// stay sealed, now with their user.
		c.status = dcerpc.UnsealUnsupported
		return
	}
}

// apReq finds the AP-REQ in a raw ([APPLICATION 14]) or GSS-framed
// (RFC 4121 4.1: 60 len OID TOK_ID 01 00) Kerberos token.
func apReq(b []byte) *messages.APReq {
	if len(b) > 2 && b[0] == 0x60 {
		_, inner, _, ok := derElem(b)
		if !ok || len(inner) < 2 || inner[0] != 0x06 {
			return nil
		}
		_, _, rest, ok := derElem(inner)
		if !ok || len(rest) < 3 || rest[0] != 0x01 || rest[1] != 0x00 {
			return nil
		}
		b = rest[2:]
	}
	if len(b) == 0 || b[0] != 0x6e {
		return nil
	}
	var ap messages.APReq
	if err := ap.Unmarshal(b); err != nil {
		return nil
	}
	return &ap
}

// derElem returns the tag and content of the DER element at b[0], and the
// bytes after it.
func derElem(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	l, off := int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || len(b) < 2+n {
			return 0, nil, nil, false
		}
		l = 0
		for _, x := range b[2 : 2+n] {
			l = l<<8 | int(x)
		}
		off += n
	}
	if l > len(b)-off {
		return 0, nil, nil, false
	}
	return b[0], b[off : off+l], b[off+l:], true
}
