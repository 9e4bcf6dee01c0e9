package dcerpc

import "github.com/nspicap/nspicap/ntlmssp"

// Decryption sits between the PDU layer and the interface decoders: each
// request or response PDU protected at auth level integrity or privacy is
// handed, whole and in order per direction, to the Unsealer's context for its
// security context before its stub joins the call's reassembly, so that NSPI,
// EMSMDB and every later decoder see plaintext without knowing about it
// (protocol notes §7.4-7.6: each fragment is sealed on its own, the RC4
// stream of a direction runs on across PDUs).

// UnsealStatus says what became of one protected PDU.
type UnsealStatus uint8

const (
	// UnsealNone: no decryption was attempted (no Unsealer, or the PDU
	// was not protected at integrity or privacy level).
	UnsealNone UnsealStatus = iota
	// UnsealOK: the signature verified and, at privacy level, the stub is
	// plaintext.
	UnsealOK
	// UnsealNoKey: no key for the identity of the security context (for
	// Kerberos: no keytab names the ticket's service).
	UnsealNoKey
	// UnsealBadKey: a key was given for the identity but does not match
	// (the NT response or the signature does not verify; for Kerberos, a
	// keytab names the ticket's service but none of its keys decrypts it).
	UnsealBadKey
	// UnsealLostSync: the key matched, but the signature of this PDU does
	// not verify: a protected PDU is missing from the capture and the
	// keystream is out of step.
	UnsealLostSync
	// UnsealUnsupported: a mechanism or variant that nspicap does not
	// decrypt (Kerberos encryption types other than AES and RC4-HMAC, NTLM
	// with LM keys, a handshake not in the capture).
	UnsealUnsupported
	// UnsealBadSignature: the verifier is truncated or malformed (not a
	// 16-byte NTLMSSP signature, not a Kerberos token), or a Kerberos token
	// fails its checksum although its keys came from a decrypted ticket;
	// the stub is not trusted.
	UnsealBadSignature
)

// String names a status (stable words, used in messages).
func (s UnsealStatus) String() string {
	switch s {
	case UnsealOK:
		return "decrypted"
	case UnsealNoKey:
		return "no key"
	case UnsealBadKey:
		return "wrong key"
	case UnsealLostSync:
		return "lost sync"
	case UnsealUnsupported:
		return "unsupported"
	case UnsealBadSignature:
		return "bad signature"
	}
	return "none"
}

// Unsealer creates the decryption state of each security context. It is
// optional (Limits.Unsealer); without it sealed stubs stay sealed.
type Unsealer interface {
	// NewContext is called once per security context of a connection,
	// at its first auth token.
	NewContext(meta *ConnMeta, authType uint8, contextID uint32) SecurityContext
}

// SecurityContext decrypts the protected PDUs of one security context.
// Implementations must never put key material in anything they return.
type SecurityContext interface {
	// Token receives each auth_value of the context's bind, bind_ack,
	// alter_context, alter_context_resp and auth3 PDUs in capture order,
	// with what ntlmssp.Inspect read of it.
	Token(ptype uint8, value []byte, tok ntlmssp.Token)
	// Identity is a user learned with key material (the client principal
	// of a Kerberos ticket), or "".
	Identity() string
	// Unseal handles one request or response PDU at auth level integrity
	// (5) or privacy (6). pdu is the whole PDU and may be modified: at
	// privacy level, the bytes [hdrEnd, sec_trailer) are decrypted in
	// place when the status is UnsealOK.
	Unseal(dir Dir, pdu []byte, hdrEnd int, level uint8) UnsealStatus
	// Lost says that a protected PDU of the given frag_length and level
	// was cut by a gap, so that the keystream can skip it.
	Lost(dir Dir, fragLen, authLen, hdrEnd int, level uint8)
}

// DomainTeller is implemented by a SecurityContext that learns with key
// material the NetBIOS and DNS names of its client's domain: the PAC of a
// Kerberos ticket a keytab decrypted (MS-PAC 2.5 LogonDomainName, 2.10
// DnsDomainName), read once per ticket. TakeDomain returns what the last
// auth token taught, once: both names, or bad, a one-line description
// (field and offset) of a PAC that does not parse; all "" when nothing
// new. The Conn hands the names to its Handler as an NTLM CHALLENGE's
// (DomainPairer) and reports bad as AnomalyMalformedPAC.
type DomainTeller interface {
	TakeDomain() (netbios, dns, bad string)
}

// unseal decrypts a request or response PDU in place when an Unsealer is set
// and the PDU is protected; p.Stub is re-sliced over the plaintext.
func (c *Conn) unseal(dir Dir, b []byte, p *PDU) {
	if c.lim.Unsealer == nil || p.Auth == nil || p.Auth.Level < LevelIntegrity || p.Auth.Level > LevelPrivacy {
		return
	}
	s := c.sec[p.Auth.ContextID]
	if s != nil && s.u == nil && c.lim.keyless && s.Mech == ntlmssp.MechNTLM {
		p.unsealed = UnsealNoKey // an NTLM context not anonymous: no key
		return
	}
	if s == nil || s.u == nil {
		p.unsealed = UnsealUnsupported // the handshake is not in the capture
		return
	}
	hdrEnd := 24
	if p.HasObject {
		hdrEnd = 40
	}
	p.unsealed = s.u.Unseal(dir, b, hdrEnd, p.Auth.Level)
}

// lost tells the security context of a request or response cut by a gap.
func (c *Conn) lost(dir Dir, h Header, a *AuthTrailer, hdrEnd int) {
	if c.lim.Unsealer == nil || a == nil || a.Level < LevelIntegrity {
		return
	}
	if s := c.sec[a.ContextID]; s != nil && s.u != nil {
		s.u.Lost(dir, int(h.FragLen), int(h.AuthLen), hdrEnd, a.Level)
	}
}

// startContext creates the Unsealer's state for a new security context.
func (c *Conn) startContext(s *secCtx) {
	if c.lim.Unsealer != nil && !c.lim.keyless {
		s.u = c.lim.Unsealer.NewContext(&c.Meta, s.AuthType, s.ContextID)
	}
}

// contextToken passes an auth token to the context's decryptor, and takes the
// identity it learned (a Kerberos client principal) when none is known.
func (c *Conn) contextToken(s *secCtx, p *PDU, t ntlmssp.Token, pos Pos) {
	if s.u == nil {
		if !c.lim.keyless || t.NTLM == nil || t.NTLM.Type != ntlmssp.TypeAuthenticate || !t.NTLM.Anonymous() {
			return
		}
		// A keyless Unsealer reads anonymous NTLM sessions only: their
		// state is made at the AUTHENTICATE, which is all they need.
		s.u = c.lim.Unsealer.NewContext(&c.Meta, s.AuthType, s.ContextID)
	}
	s.u.Token(p.PType, p.Auth.Value, t)
	if id := s.u.Identity(); id != "" && s.User == "" {
		s.User = id
		s.Origin = &Origin{From: OriginKeytab, Pos: pos}
	}
	if t.Kerberos != nil {
		if dt, ok := s.u.(DomainTeller); ok {
			c.tellDomain(dt, pos)
		}
	}
}

// tellDomain hands the Handler the domain a decrypted ticket's PAC names,
// or reports a PAC that does not parse (the bind decodes on either way).
func (c *Conn) tellDomain(dt DomainTeller, pos Pos) {
	nb, dns, bad := dt.TakeDomain()
	switch {
	case bad != "":
		c.anomaly(AnomalyMalformedPAC, pos, bad)
	case nb != "" && dns != "":
		if d, ok := c.h.(DomainPairer); ok {
			d.DomainPair(nb, dns, pos)
		}
	}
}

// sealState gives a new message its Sealed and Decrypted flags from its
// first fragment.
func sealState(p *PDU) (sealed, decrypted bool) {
	if p.Auth == nil || p.Auth.Level != LevelPrivacy {
		return false, false
	}
	if p.unsealed == UnsealOK {
		return false, true
	}
	return true, false
}

// mergeSeal folds a later fragment into the message's flags: one fragment
// left sealed leaves the whole stub sealed.
func mergeSeal(m *Message, p *PDU) {
	if m.Frags <= 1 {
		if m.Unseal == UnsealNone {
			m.Unseal = p.unsealed
		}
		return
	}
	if p.unsealed != UnsealOK && m.Unseal == UnsealOK {
		m.Unseal = p.unsealed
	}
	if m.Decrypted && p.Auth != nil && p.Auth.Level == LevelPrivacy && p.unsealed != UnsealOK {
		m.Decrypted, m.Sealed = false, true
	}
}
