package kerberos

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/ntlmssp"
)

// MsgType is a Kerberos message type (RFC 4120 7.5.7), the number of its
// [APPLICATION n] tag.
type MsgType uint8

// The message types this package reads.
const (
	ASReq    MsgType = 10
	ASRep    MsgType = 11
	TGSReq   MsgType = 12
	TGSRep   MsgType = 13
	APReq    MsgType = 14
	KRBError MsgType = 30
)

func (t MsgType) String() string {
	switch t {
	case ASReq:
		return "AS-REQ"
	case ASRep:
		return "AS-REP"
	case TGSReq:
		return "TGS-REQ"
	case TGSRep:
		return "TGS-REP"
	case APReq:
		return "AP-REQ"
	case KRBError:
		return "KRB-ERROR"
	}
	return fmt.Sprintf("message type %d", uint8(t))
}

// MaxMessage bounds the size of a message this package decodes (and of a
// message a TCP stream on port 88 buffers): Windows bounds its tokens by
// MaxTokenSize, 48000 bytes by default and 65535 at most as Microsoft
// advises it.
const MaxMessage = 256 << 10

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("kerberos: malformed message")

func merr(msg, field string, off int, err error) error {
	return fmt.Errorf("%w: %s %s at offset %d: %v", ErrMalformed, msg, field, off, err)
}

// TicketKey is a 128-bit digest (the start of SHA-256) of a ticket's
// encrypted part: the cipher bytes a KDC-REP issues and every AP-REQ that
// uses the ticket repeats.
type TicketKey [16]byte

// Ticket is what a ticket shows in clear (RFC 4120 5.3).
type Ticket struct {
	// SName is the service principal, its components joined by "/";
	// Realm the service's realm.
	SName, Realm string
	EType        int32
	KVNO         int
	// Key digests the cipher bytes of the encrypted part.
	Key TicketKey
	// CipherLen is the length of those bytes.
	CipherLen int
}

// Label is the ticket's stable label: the service principal, "#" and 8 hex
// digits of the digest of its encrypted part (analyze.Origin.Ticket).
func (t *Ticket) Label() string {
	return t.SName + "#" + hex.EncodeToString(t.Key[:4])
}

func ticketOf(t *messages.Ticket) Ticket {
	return Ticket{SName: principal(t.SName), Realm: ntlmssp.ClipName(t.Realm), EType: t.EncPart.EType, KVNO: t.EncPart.KVNO,
		Key: keyOf(t.EncPart.Cipher), CipherLen: len(t.EncPart.Cipher)}
}

// TicketKeyOf is the TicketKey of a ticket's encrypted part's cipher
// bytes.
func TicketKeyOf(cipher []byte) TicketKey { return keyOf(cipher) }

func keyOf(cipher []byte) TicketKey {
	s := sha256.Sum256(cipher)
	return TicketKey(s[:16])
}

// principal joins the components of a name, clipped.
func principal(p types.PrincipalName) string {
	if len(p.NameString) > 16 {
		p.NameString = p.NameString[:16]
	}
	return ntlmssp.ClipName(strings.Join(p.NameString, "/"))
}

// Message is one decoded Kerberos message: the fields of its type are set.
type Message struct {
	Type MsgType
	// CName and CRealm: the client of a KDC-REP (in clear), of an AS-REQ,
	// or of a KRB-ERROR (when it says).
	CName, CRealm string
	// Ticket: the ticket a KDC-REP issued, or an AP-REQ carried.
	Ticket Ticket
	// SName and Realm: the service a KDC-REQ asks for, or a KRB-ERROR's
	// service.
	SName, Realm string
	// ForUser is, in a TGS-REQ with PA-FOR-USER (S4U2Self, MS-SFU
	// 2.2.1), the user the service asks a ticket for, as user@REALM.
	ForUser string
	// Proxy is set in a TGS-REQ for S4U2Proxy (MS-SFU 3.2.5.2): the
	// cname-in-addl-tkt option with an additional ticket, Evidence, the
	// ticket the acting service holds for the user.
	Proxy    bool
	Evidence Ticket
	// ErrorCode of a KRB-ERROR (RFC 4120 7.5.9).
	ErrorCode int32
	// Armored: a KDC request or reply with PA-FX-FAST (RFC 6113 5.4):
	// FAST-armored. Its outer cname, crealm and ticket are read as in any
	// other reply.
	Armored bool
	// Hidden: a KDC-REP, AS-REQ or KRB-ERROR whose client is a well-known
	// name (the anonymous principal WELLKNOWN/ANONYMOUS of RFC 6112, which
	// an armored reply shows when the client asked RFC 6113's
	// hide-client-names, and to which anonymous PKINIT issues armor
	// tickets), or a KDC-REP whose client is empty (a KDC that blanks an
	// armored reply's name): CName and CRealm are then "", the message
	// names no user.
	Hidden bool
}

// Client returns cname@crealm, or "" when the message names no client.
func (m *Message) Client() string {
	if m.CName == "" {
		return ""
	}
	return ntlmssp.ClipName(m.CName + "@" + m.CRealm)
}

// Padata types: PA-FOR-USER (MS-SFU 2.2.1), PA-FX-FAST (RFC 6113 5.4).
const (
	paForUser = 129
	paFXFast  = 136
)

// ntWellKnown is the name type KRB_NT_WELLKNOWN (RFC 6111 3).
const ntWellKnown = 11

// client returns the client name and realm a message shows; "" when it is
// a well-known name (wellKnown): the anonymous principal (RFC 6112 3:
// WELLKNOWN/ANONYMOUS, name type KRB_NT_WELLKNOWN, realm
// WELLKNOWN:ANONYMOUS or the client's) is nobody's name.
func client(p types.PrincipalName, realm string) (name, crealm string, wellKnown bool) {
	if p.NameType == ntWellKnown || len(p.NameString) > 0 && strings.EqualFold(p.NameString[0], "WELLKNOWN") ||
		strings.EqualFold(realm, "WELLKNOWN:ANONYMOUS") {
		return "", "", true
	}
	return principal(p), ntlmssp.ClipName(realm), false
}

// armored reports whether padata holds PA-FX-FAST.
func armored(pa types.PADataSequence) bool {
	for _, d := range pa {
		if d.PADataType == paFXFast {
			return true
		}
	}
	return false
}

// kdcOptCNameInAddlTkt is the kdc-options bit of S4U2Proxy (MS-SFU 2.2.2).
const kdcOptCNameInAddlTkt = 14

// Decode reads one Kerberos message: AS-REQ, AS-REP, TGS-REQ, TGS-REP,
// AP-REQ (raw) or KRB-ERROR. b is not retained.
func Decode(b []byte) (m *Message, err error) {
	if len(b) == 0 {
		return nil, merr("message", "tag", 0, errors.New("empty"))
	}
	if len(b) > MaxMessage {
		return nil, merr("message", "length", 0, fmt.Errorf("%d bytes, more than %d", len(b), MaxMessage))
	}
	if b[0]&0xe0 != 0x60 {
		return nil, merr("message", "tag", 0, fmt.Errorf("0x%02x is not an [APPLICATION n] tag", b[0]))
	}
	t := MsgType(b[0] & 0x1f)
	defer func() {
		// A backstop around the third-party decoder, not the design.
		if r := recover(); r != nil {
			m, err = nil, merr(t.String(), "encoding", 0, fmt.Errorf("decoder failed: %v", r))
		}
	}()
	m = &Message{Type: t}
	switch t {
	case ASRep, TGSRep:
		var rep messages.KDCRepFields
		if t == ASRep {
			var r messages.ASRep
			err = r.Unmarshal(b)
			rep = r.KDCRepFields
		} else {
			var r messages.TGSRep
			err = r.Unmarshal(b)
			rep = r.KDCRepFields
		}
		if err != nil {
			return nil, merr(t.String(), "body", 0, err)
		}
		m.CName, m.CRealm, m.Hidden = client(rep.CName, rep.CRealm)
		m.Hidden = m.Hidden || m.CName == ""
		m.Armored = armored(rep.PAData)
		m.Ticket = ticketOf(&rep.Ticket)
	case ASReq, TGSReq:
		var req messages.KDCReqFields
		if t == ASReq {
			var r messages.ASReq
			err = r.Unmarshal(b)
			req = r.KDCReqFields
		} else {
			var r messages.TGSReq
			err = r.Unmarshal(b)
			req = r.KDCReqFields
		}
		if err != nil {
			return nil, merr(t.String(), "body", 0, err)
		}
		body := &req.ReqBody
		m.SName, m.Realm = principal(body.SName), ntlmssp.ClipName(body.Realm)
		m.Armored = armored(req.PAData)
		if t == ASReq {
			m.CName, m.CRealm, m.Hidden = client(body.CName, body.Realm)
			break
		}
		for _, pa := range req.PAData {
			if pa.PADataType == paForUser {
				u, err := decodeForUser(pa.PADataValue)
				if err != nil {
					return nil, err
				}
				m.ForUser = u
			}
		}
		if len(body.AdditionalTickets) > 0 && bit(body.KDCOptions, kdcOptCNameInAddlTkt) {
			m.Proxy = true
			m.Evidence = ticketOf(&body.AdditionalTickets[0])
		}
	case APReq:
		var ap messages.APReq
		if err := ap.Unmarshal(b); err != nil {
			return nil, merr(t.String(), "body", 0, err)
		}
		m.Ticket = ticketOf(&ap.Ticket)
	case KRBError:
		var e messages.KRBError
		if err := e.Unmarshal(b); err != nil {
			return nil, merr(t.String(), "body", 0, err)
		}
		m.ErrorCode = e.ErrorCode
		m.CName, m.CRealm, m.Hidden = client(e.CName, e.CRealm)
		m.SName, m.Realm = principal(e.SName), ntlmssp.ClipName(e.Realm)
	default:
		return nil, merr("message", "tag", 0, fmt.Errorf("%s is not read", t))
	}
	return m, nil
}

// bit reports whether bit n (0 the most significant) of a BIT STRING is set.
func bit(s asn1.BitString, n int) bool {
	if n >= s.BitLength || n/8 >= len(s.Bytes) {
		return false
	}
	return s.Bytes[n/8]&(0x80>>(n%8)) != 0
}

// forUser is PA-FOR-USER-ENC (MS-SFU 2.2.1); the checksum and the
// auth-package are not needed.
type forUser struct {
	UserName  types.PrincipalName `asn1:"explicit,tag:0"`
	UserRealm string              `asn1:"generalstring,explicit,tag:1"`
	Cksum     asn1.RawValue       `asn1:"explicit,tag:2"`
	Package   string              `asn1:"generalstring,explicit,tag:3"`
}

func decodeForUser(b []byte) (string, error) {
	var f forUser
	if _, err := asn1.Unmarshal(b, &f); err != nil {
		return "", merr("TGS-REQ", "PA-FOR-USER", 0, err)
	}
	if len(f.UserName.NameString) == 0 {
		return "", merr("TGS-REQ", "PA-FOR-USER userName", 0, errors.New("no name"))
	}
	return ntlmssp.ClipName(principal(f.UserName) + "@" + f.UserRealm), nil
}

// gssKrb5 is the GSS framing of a Kerberos token (RFC 4121 4.1) with the
// KRB5 or MS-KRB5 OID, up to the OID's value.
var (
	oidKRB5   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKRB5 = []byte{0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// APReqTicket returns the ticket of an AP-REQ given raw ([APPLICATION 14])
// or GSS-framed (60 len 06 len OID 01 00 AP-REQ), as DCE/RPC binds and SMB
// session setups carry it; ok is false for any other token (an AP-REP, a
// KRB-ERROR, a malformed one).
func APReqTicket(tok []byte) (t Ticket, ok bool) {
	b := tok
	if len(b) > 2 && b[0] == 0x60 {
		inner, err := gssInner(b)
		if err != nil || len(inner) < 3 || inner[0] != 0x01 || inner[1] != 0x00 {
			return Ticket{}, false
		}
		b = inner[2:]
	}
	return ticketOfAPReq(b)
}

// gssInner returns what follows the mechanism OID of an InitialContextToken.
func gssInner(b []byte) ([]byte, error) {
	c, _, err := derElem(b, 0)
	if err != nil {
		return nil, err
	}
	if len(c) < 2 || c[0] != 0x06 {
		return nil, merr("GSS token", "mechanism OID", 2, errors.New("missing"))
	}
	oid, _, err := derElem(c, 2)
	if err != nil {
		return nil, err
	}
	if string(oid) != string(oidKRB5) && string(oid) != string(oidMSKRB5) {
		return nil, merr("GSS token", "mechanism OID", 2, errors.New("not Kerberos"))
	}
	return c[2+len(oid):], nil
}

// derElem returns the content of the DER element at the start of b and the
// bytes after it; off is b's offset in the message, for errors.
func derElem(b []byte, off int) (content, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, merr("element", "length", off, errors.New("short"))
	}
	l, n := int(b[1]), 2
	if l&0x80 != 0 {
		k := l & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return nil, nil, merr("element", "length", off+1, fmt.Errorf("%d length bytes", k))
		}
		l = 0
		for i := 0; i < k; i++ {
			l = l<<8 | int(b[2+i])
		}
		n += k
	}
	if l > len(b)-n {
		return nil, nil, merr("element", "length", off+1, fmt.Errorf("%d bytes announced, %d left", l, len(b)-n))
	}
	return b[n : n+l], b[n+l:], nil
}

// RecordLen reads the record mark of a Kerberos message over TCP (RFC 4120
// 7.2.2): 4 bytes in network order, whose top bit is reserved (set, it
// asks for an extension the KDC refuses).
func RecordLen(mark []byte) (n int, err error) {
	v := binary.BigEndian.Uint32(mark)
	if v&0x80000000 != 0 {
		return 0, merr("TCP record", "mark", 0, fmt.Errorf("reserved bit set (0x%08x)", v))
	}
	if v == 0 || v > MaxMessage {
		return 0, merr("TCP record", "mark", 0, fmt.Errorf("length %d out of 1..%d", v, MaxMessage))
	}
	return int(v), nil
}
