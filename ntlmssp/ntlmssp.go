package ntlmssp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Signature starts every NTLMSSP message (MS-NLMP 2.2.1).
var Signature = []byte("NTLMSSP\x00")

// Message types.
const (
	TypeNegotiate    = 1
	TypeChallenge    = 2
	TypeAuthenticate = 3
)

// Negotiate flags used here (MS-NLMP 2.2.2.5).
const (
	FlagUnicode   = 0x00000001
	FlagSign      = 0x00000010
	FlagSeal      = 0x00000020
	FlagDatagram  = 0x00000040
	FlagLMKey     = 0x00000080
	FlagAnonymous = 0x00000800
	FlagESS       = 0x00080000
	FlagNonNTKey  = 0x00400000
	FlagVersion   = 0x02000000
	Flag128       = 0x20000000
	FlagKeyExch   = 0x40000000
	Flag56        = 0x80000000
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed NTLMSSP message")

// Message is the part of an NTLMSSP message nspicap uses.
type Message struct {
	Type  uint32
	Flags uint32
	// CHALLENGE only: its TargetInfo, borrowed from the token
	// (DomainNames reads it).
	targetInfo []byte
	// AUTHENTICATE only.
	Domain      string
	User        string
	Workstation string
	LmLen       int
	NtLen       int
	// What passive decryption needs (keys.go), copied out of the token.
	// CHALLENGE: the server challenge. AUTHENTICATE: the LM and NT
	// responses and the EncryptedRandomSessionKey (nil when absent).
	ServerChallenge           [8]byte
	LmResponse, NtResponse    []byte
	EncryptedRandomSessionKey []byte
}

// Anonymous reports whether an AUTHENTICATE message is an anonymous (null
// session) logon: an empty user name and an empty NT response (MS-NLMP
// 3.2.5.1.2), or the ANONYMOUS flag.
func (m *Message) Anonymous() bool {
	return m.Type == TypeAuthenticate && (m.User == "" && m.NtLen == 0 || m.Flags&FlagAnonymous != 0 && m.User == "")
}

// Identity returns DOMAIN\user, or user alone when the domain is empty, or ""
// for an anonymous logon.
func (m *Message) Identity() string {
	if m.User == "" {
		return ""
	}
	if m.Domain == "" {
		return ClipName(m.User)
	}
	return ClipName(m.Domain + `\` + m.User)
}

// MaxNameLen bounds, in bytes, the identities nspicap keeps and prints.
// Windows names are far shorter (a sAMAccountName has at most 20
// characters, a NetBIOS domain 15); a message may carry 64 KiB, and every
// user row, session and logon keeps its name.
const MaxNameLen = 100

// ClipName returns s, or when it is longer than MaxNameLen its start, "…"
// and 8 hex digits of a hash of the whole, so that two long names stay two.
func ClipName(s string) string {
	if len(s) <= MaxNameLen {
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	cut := MaxNameLen - len("…") - 8
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…" + fmt.Sprintf("%08x", h.Sum32())
}

func merr(field string, off int, format string, a ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrMalformed, field, off, fmt.Sprintf(format, a...))
}

// Parse decodes an NTLMSSP message that starts at b[0]. Security buffers are
// checked against len(b); nothing is allocated from a length read off the
// wire beyond the bytes present.
func Parse(b []byte) (*Message, error) {
	if len(b) < 12 || !bytes.Equal(b[:8], Signature) {
		return nil, merr("signature", 0, "not an NTLMSSP message")
	}
	m := &Message{Type: binary.LittleEndian.Uint32(b[8:])}
	switch m.Type {
	case TypeNegotiate:
		if len(b) >= 16 {
			m.Flags = binary.LittleEndian.Uint32(b[12:])
		}
	case TypeChallenge:
		if len(b) < 24 {
			return nil, merr("NegotiateFlags", 20, "CHALLENGE of %d bytes", len(b))
		}
		m.Flags = binary.LittleEndian.Uint32(b[20:])
		if len(b) >= 32 {
			copy(m.ServerChallenge[:], b[24:32])
		}
		if len(b) >= 48 {
			// A TargetInfo that runs past the message names no domain;
			// the rest of the CHALLENGE is still good.
			if ti, err := field(b, 40, "TargetInfoFields"); err == nil {
				m.targetInfo = ti
			}
		}
	case TypeAuthenticate:
		if len(b) < 64 {
			return nil, merr("NegotiateFlags", 60, "AUTHENTICATE of %d bytes", len(b))
		}
		m.Flags = binary.LittleEndian.Uint32(b[60:])
		lm, err := field(b, 12, "LmChallengeResponseFields")
		if err != nil {
			return nil, err
		}
		nt, err := field(b, 20, "NtChallengeResponseFields")
		if err != nil {
			return nil, err
		}
		dom, err := field(b, 28, "DomainNameFields")
		if err != nil {
			return nil, err
		}
		usr, err := field(b, 36, "UserNameFields")
		if err != nil {
			return nil, err
		}
		ws, err := field(b, 44, "WorkstationFields")
		if err != nil {
			return nil, err
		}
		m.LmLen, m.NtLen = len(lm), len(nt)
		m.LmResponse, m.NtResponse = clone(lm), clone(nt)
		if key, err := field(b, 52, "EncryptedRandomSessionKeyFields"); err == nil {
			m.EncryptedRandomSessionKey = clone(key)
		}
		uni := m.Flags&FlagUnicode != 0
		m.Domain, m.User, m.Workstation = decodeString(dom, uni), decodeString(usr, uni), decodeString(ws, uni)
	default:
		return nil, merr("MessageType", 8, "%d is not 1, 2 or 3", m.Type)
	}
	return m, nil
}

// field reads the security buffer at off and returns the bytes it points to.
func field(b []byte, off int, name string) ([]byte, error) {
	l := int(binary.LittleEndian.Uint16(b[off:]))
	o := int(binary.LittleEndian.Uint32(b[off+4:]))
	if l == 0 {
		return nil, nil
	}
	if o < 0 || o > len(b) || l > len(b)-o {
		return nil, merr(name, off, "buffer of %d bytes at offset %d runs past the %d-byte message", l, o, len(b))
	}
	return b[o : o+l], nil
}

// AV pair IDs (MS-NLMP 2.2.2.1).
const (
	avEOL       = 0
	avNbDomain  = 2
	avDNSDomain = 4
)

// DomainNames returns the NetBIOS and DNS names of the server's domain
// that a CHALLENGE's TargetInfo carries (MsvAvNbDomainName and
// MsvAvDnsDomainName, MS-NLMP 2.2.2.1), "" when absent. The TargetInfo is
// borrowed from the token: call it while the token's bytes are valid (the
// call that parsed it); it decodes the names on each call.
func (m *Message) DomainNames() (nb, dns string) {
	return domainNames(m.targetInfo, m.Flags&FlagUnicode != 0)
}

// domainNames reads MsvAvNbDomainName and MsvAvDnsDomainName from a
// CHALLENGE's TargetInfo, up to MsvAvEOL or the end of the buffer; a pair
// that runs past the end ends the list. Names longer than MaxNameLen are
// clipped.
func domainNames(ti []byte, unicode bool) (nb, dns string) {
	for len(ti) >= 4 {
		id := binary.LittleEndian.Uint16(ti)
		n := int(binary.LittleEndian.Uint16(ti[2:]))
		if id == avEOL || n > len(ti)-4 {
			break
		}
		v := ti[4 : 4+n]
		switch id {
		case avNbDomain:
			nb = ClipName(decodeString(v, unicode))
		case avDNSDomain:
			dns = ClipName(decodeString(v, unicode))
		}
		ti = ti[4+n:]
	}
	return nb, dns
}

// clone copies a security buffer out of the borrowed token.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func decodeString(b []byte, unicode bool) string {
	if !unicode {
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	}
	// Names are ASCII but for a few: those take one allocation.
	var sb strings.Builder
	sb.Grow(len(b) / 2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c >= utf8.RuneSelf {
			return decodeUTF16(b)
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Find returns b from the first NTLMSSP signature on, or nil.
func Find(b []byte) []byte {
	if i := bytes.Index(b, Signature); i >= 0 {
		return b[i:]
	}
	return nil
}
