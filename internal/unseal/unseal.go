package unseal

import (
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/keys"
	"github.com/nspicap/nspicap/kerberos"
	"github.com/nspicap/nspicap/ntlmssp"
)

// Unsealer is a dcerpc.Unsealer backed by a key store.
type Unsealer struct {
	store *keys.Store
	// pacs: the tickets whose PAC was read (pac.go).
	pacs map[kerberos.TicketKey]struct{}
}

// New returns an Unsealer for the keys in store (which may be empty: then
// every protected PDU reports UnsealNoKey, except those of anonymous NTLM
// sessions, which need no key). A nil store makes a keyless Unsealer: it
// decrypts anonymous NTLM sessions only, and leaves every other context
// alone (Kerberos tokens are not read).
func New(store *keys.Store) *Unsealer { return &Unsealer{store: store} }

// Keyless reports whether the Unsealer holds no key store (dcerpc charges
// its contexts the cost of a keyed one only when it does).
func (u *Unsealer) Keyless() bool { return u.store == nil }

// NewContext implements dcerpc.Unsealer.
func (u *Unsealer) NewContext(meta *dcerpc.ConnMeta, authType uint8, contextID uint32) dcerpc.SecurityContext {
	return &context{u: u, status: dcerpc.UnsealUnsupported}
}

// context is one security context: the NTLM handshake and the RC4 state it
// gives, or the keys of a Kerberos handshake (kerberos.go).
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
	krb      *krbKeys
	// domain is what the PAC of the last ticket decrypted taught, until
	// taken (TakeDomain).
	domain *pacDomain
	// anon: the key of an anonymous NTLM session, whose RC4 states are
	// made when a protected PDU first needs them (a session at level
	// connect never does).
	anon *anonKey
}

type anonKey struct {
	key   [16]byte
	flags uint32
}

// session returns the NTLM session, made from an anonymous key on first
// use.
func (c *context) session() *ntlmssp.Session {
	if c.sess == nil && c.anon != nil {
		c.sess, c.anon = ntlmssp.NewSession(c.anon.key, c.anon.flags), nil
	}
	return c.sess
}

func (c *context) Identity() string { return c.identity }

func (c *context) Token(ptype uint8, value []byte, tok ntlmssp.Token) {
	switch {
	case tok.NTLM != nil:
		// SPNEGO may fall back to NTLM after an optimistic Kerberos
		// token (protocol notes §6.6): the Kerberos keys no longer apply.
		c.krb, c.identity = nil, ""
		c.ntlmToken(tok.NTLM)
	case tok.Kerberos != nil && c.u.store != nil:
		c.kerberosToken(ptype, tok.Kerberos)
	}
}

func (c *context) ntlmToken(m *ntlmssp.Message) {
	switch m.Type {
	case ntlmssp.TypeChallenge:
		c.challenge, c.haveChal = m.ServerChallenge, true
	case ntlmssp.TypeAuthenticate:
		c.sess, c.verified, c.bad, c.anon = nil, false, false, nil
		if m.Anonymous() {
			// No password enters an anonymous session's keys: they
			// are derived without a keys file, when a protected PDU
			// first needs them (session); the first signature checks
			// them (docs/modern-rpc.md).
			h := ntlmssp.Handshake{ServerChallenge: c.challenge, Flags: m.Flags, User: m.User, Domain: m.Domain,
				LmResponse: m.LmResponse, NtResponse: m.NtResponse, EncryptedRandomSessionKey: m.EncryptedRandomSessionKey}
			c.anon = &anonKey{key: h.AnonymousSessionKey(), flags: m.Flags}
			c.status = dcerpc.UnsealOK
			return
		}
		if c.u.store == nil {
			// The keyless Unsealer reads anonymous sessions only.
			c.status = dcerpc.UnsealNoKey
			return
		}
		h := &ntlmssp.Handshake{ServerChallenge: c.challenge, Flags: m.Flags, User: m.User, Domain: m.Domain,
			LmResponse: m.LmResponse, NtResponse: m.NtResponse, EncryptedRandomSessionKey: m.EncryptedRandomSessionKey}
		if !c.haveChal {
			c.status = dcerpc.UnsealUnsupported
			return
		}
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

// trailer returns the auth_length of a whole PDU and the offset of its
// sec_trailer (MS-RPCE 2.2.2.11).
func trailer(pdu []byte) (authLen, t int) {
	authLen = int(pdu[10]) | int(pdu[11])<<8
	if pdu[4]&0xf0 == 0 {
		authLen = int(pdu[10])<<8 | int(pdu[11])
	}
	return authLen, len(pdu) - authLen - 8
}

// Unseal implements dcerpc.SecurityContext. Kerberos contexts are handled in
// kerberos.go. For NTLM (notes §7.6, receiver side): decrypt [hdrEnd,
// sec_trailer) at privacy level, then check the signature over [0,
// frag_length - 16) with the plaintext.
func (c *context) Unseal(dir dcerpc.Dir, pdu []byte, hdrEnd int, level uint8) dcerpc.UnsealStatus {
	if c.krb != nil {
		return c.unsealKerberos(dir, pdu, hdrEnd, level)
	}
	if c.session() == nil {
		return c.status
	}
	if c.bad {
		return dcerpc.UnsealBadKey
	}
	fromServer := dir == dcerpc.ServerToClient
	authLen, t := trailer(pdu)
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
// Kerberos tokens decrypt on their own: nothing to skip.
func (c *context) Lost(dir dcerpc.Dir, fragLen, authLen, hdrEnd int, level uint8) {
	if c.krb != nil || c.session() == nil || c.bad {
		return
	}
	fromServer := dir == dcerpc.ServerToClient
	if n := fragLen - hdrEnd - 8 - authLen; level == dcerpc.LevelPrivacy && n > 0 {
		c.sess.Skip(fromServer, n)
	}
	c.sess.Verify(fromServer, nil, nil) // the signature's keystream and sequence number
}
