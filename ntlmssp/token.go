package ntlmssp

import (
	"bytes"
	"errors"
	"fmt"
)

// Mechanism is the security mechanism an auth_value belongs to.
type Mechanism uint8

const (
	MechUnknown Mechanism = iota
	MechNTLM
	MechKerberos
	MechNetlogon
)

func (m Mechanism) String() string {
	switch m {
	case MechNTLM:
		return "ntlmssp"
	case MechKerberos:
		return "kerberos"
	case MechNetlogon:
		return "netlogon"
	}
	return "unknown"
}

// Token is what nspicap learns from one auth_value of a bind-type PDU.
type Token struct {
	Mech Mechanism
	// NTLM is the NTLMSSP message inside the token, if any.
	NTLM *Message
	// Kerberos is the Kerberos token inside (a raw or GSS-framed AP-REQ,
	// AP-REP or KRB-ERROR), borrowed from the auth_value; nil if none.
	Kerberos []byte
	// Err is set when the token could not be parsed; Mech may still be known.
	Err error
}

// DCE/RPC auth types (MS-RPCE 2.2.1.1.7) that Inspect understands.
const (
	authSPNEGO   = 9
	authNTLMSSP  = 10
	authKerberos = 16
	authNetlogon = 68
)

var (
	oidSPNEGO  = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	oidKRB5    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKRB5  = []byte{0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidNTLMSSP = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
)

// Inspect reads the auth_value of a bind, bind_ack, alter_context,
// alter_context_resp or auth3 PDU with the given auth_type.
func Inspect(authType uint8, v []byte) Token {
	switch authType {
	case authNTLMSSP:
		m, err := Parse(v)
		return Token{Mech: MechNTLM, NTLM: m, Err: err}
	case authKerberos:
		return Token{Mech: MechKerberos, Kerberos: v}
	case authNetlogon:
		return Token{Mech: MechNetlogon}
	case authSPNEGO:
		return inspectSPNEGO(v)
	}
	return Token{Mech: MechUnknown}
}

// maxDepth bounds nesting when walking ASN.1 so that lying or deep encodings
// cannot exhaust the stack.
const maxDepth = 8

var errDER = errors.New("malformed SPNEGO token")

// tlv reads one DER/BER element with a definite length.
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: element of %d bytes", errDER, len(b))
	}
	tag = b[0]
	l := int(b[1])
	off := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, nil, fmt.Errorf("%w: length of %d bytes", errDER, n)
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off += n
	}
	if l < 0 || l > len(b)-off {
		return 0, nil, nil, fmt.Errorf("%w: length %d exceeds the %d bytes left", errDER, l, len(b)-off)
	}
	return tag, b[off : off+l], b[off+l:], nil
}

// inspectSPNEGO unwraps NegTokenInit (60 ... a0 30 ...) or NegTokenResp
// (a1 30 ...) and classifies the inner mechanism token (RFC 4178 4.2).
func inspectSPNEGO(v []byte) Token {
	t := Token{Mech: MechUnknown}
	tag, c, _, err := tlv(v)
	if err != nil {
		t.Err = err
		return fallback(v, t)
	}
	if tag == 0x60 { // [APPLICATION 0] InitialContextToken
		otag, oid, rest, err := tlv(c)
		if err != nil || otag != 0x06 {
			t.Err = fmt.Errorf("%w: no mechanism OID", errDER)
			return fallback(v, t)
		}
		if bytes.Equal(oid, oidKRB5) || bytes.Equal(oid, oidMSKRB5) {
			t.Mech = MechKerberos // raw GSS Kerberos under the SPNEGO auth type
			t.Kerberos = v
			return t
		}
		if !bytes.Equal(oid, oidSPNEGO) {
			return fallback(v, t)
		}
		tag, c, _, err = tlv(rest)
		if err != nil {
			t.Err = err
			return fallback(v, t)
		}
	}
	if tag != 0xa0 && tag != 0xa1 {
		return fallback(v, t)
	}
	_, seq, _, err := tlv(c)
	if err != nil {
		t.Err = err
		return fallback(v, t)
	}
	var mechTok []byte
	var firstMech, supported []byte
	for i := 0; len(seq) > 0 && i < 16; i++ {
		etag, ec, rest, err := tlv(seq)
		if err != nil {
			t.Err = err
			break
		}
		seq = rest
		switch {
		case tag == 0xa0 && etag == 0xa0: // mechTypes
			if _, list, _, err := tlv(ec); err == nil {
				if _, o, _, err := tlv(list); err == nil {
					firstMech = o
				}
			}
		case tag == 0xa1 && etag == 0xa1: // supportedMech
			if _, o, _, err := tlv(ec); err == nil {
				supported = o
			}
		case etag == 0xa2: // mechToken / responseToken
			if _, o, _, err := tlv(ec); err == nil {
				mechTok = o
			}
		}
	}
	switch {
	case bytes.HasPrefix(mechTok, Signature):
		m, err := Parse(mechTok)
		t.Mech, t.NTLM = MechNTLM, m
		if err != nil {
			t.Err = err
		}
	case isKerberos(mechTok):
		t.Mech = MechKerberos
		t.Kerberos = mechTok
	case bytes.Equal(supported, oidNTLMSSP):
		t.Mech = MechNTLM
	case bytes.Equal(supported, oidKRB5) || bytes.Equal(supported, oidMSKRB5):
		t.Mech = MechKerberos
	case len(mechTok) == 0 && (bytes.Equal(firstMech, oidKRB5) || bytes.Equal(firstMech, oidMSKRB5)):
		t.Mech = MechKerberos
	}
	return t
}

// isKerberos recognises a raw AP-REQ/AP-REP/KRB-ERROR ([APPLICATION 14/15/30])
// or a GSS-framed Kerberos token (RFC 1964 / 4121).
func isKerberos(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case 0x6e, 0x6f, 0x7e:
		return true
	case 0x60:
		if _, c, _, err := tlv(b); err == nil {
			if tag, oid, _, err := tlv(c); err == nil && tag == 0x06 {
				return bytes.Equal(oid, oidKRB5) || bytes.Equal(oid, oidMSKRB5)
			}
		}
	}
	return false
}

// fallback finds an NTLMSSP message anywhere in v, the robust rule of notes
// §6.1, when the SPNEGO structure could not be walked.
func fallback(v []byte, t Token) Token {
	if n := Find(v); n != nil {
		if m, err := Parse(n); err == nil {
			return Token{Mech: MechNTLM, NTLM: m}
		}
	}
	return t
}
