package synth

import (
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// FAST (RFC 6113 5.4): an armored KDC request carries PA-FX-FAST (padata
// 136) holding a PA-FX-FAST-REQUEST, the armored-data choice [0] of a
// KrbFastArmoredReq: an optional armor (KrbFastArmor: armor-type 1, an
// AP-REQ presenting the armor TGT, the computer's for compound identity,
// MS-KILE 3.3.5.7.4, or an anonymous one, RFC 6112), a checksum of the
// outer request and the encrypted KrbFastReq (the real options, padata
// and body). The reply carries PA-FX-FAST holding a PA-FX-FAST-REPLY, the
// armored-data choice [0] of a KrbFastArmoredRep: the encrypted
// KrbFastResponse, whose KrbFastFinished repeats the client's name. Only
// the armor key opens them: here their cipher bytes are random; the
// structures around them are exact. What stays in clear is the outer
// message: the request's body and PA-TGS-REQ, the reply's cname, crealm
// and ticket.

// PA-DATA and name types of FAST and anonymity (IANA Kerberos parameters).
const (
	paFXFast    = 136
	paPKASReq   = 16
	paPKASRep   = 17
	ntWellKnown = 11 // KRB_NT_WELLKNOWN (RFC 6111 3)
)

// AnonymousName and AnonymousRealm are the anonymous principal and realm
// (RFC 6112 3).
const (
	AnonymousName  = "WELLKNOWN/ANONYMOUS"
	AnonymousRealm = "WELLKNOWN:ANONYMOUS"
)

// krbFastArmor is KrbFastArmor (RFC 6113 5.4.1).
type krbFastArmor struct {
	ArmorType  int32  `asn1:"explicit,tag:0"`
	ArmorValue []byte `asn1:"explicit,tag:1"`
}

// krbFastArmoredReq is KrbFastArmoredReq without its optional armor, which
// armoredReq puts first when there is one.
type krbFastArmoredReq struct {
	ReqChecksum types.Checksum      `asn1:"explicit,tag:1"`
	EncFastReq  types.EncryptedData `asn1:"explicit,tag:2"`
}

// fastRequest is the value of a PA-FX-FAST padata of a request: armored
// with an AP-REQ presenting armor when set, else implicitly (a TGS-REQ's
// own TGT and subkey, RFC 6113 5.4.1.1).
func (c *Capture) fastRequest(armor *messages.Ticket) []byte {
	var fields []byte
	if armor != nil {
		a := kdcMust(asn1.Marshal(krbFastArmor{ArmorType: 1, ArmorValue: c.apReqWith(*armor)}))
		fields = tlv(0xa0, a)
	}
	rest := kdcMust(asn1.Marshal(krbFastArmoredReq{
		ReqChecksum: types.Checksum{CksumType: 16, Checksum: c.RandBytes(12)}, // hmac-sha1-96-aes256
		EncFastReq:  types.EncryptedData{EType: EtypeAES256, Cipher: c.RandBytes(420)}}))
	// Splice the armor before the checksum and the encrypted request:
	// rest is SEQUENCE { [1] ..., [2] ... }.
	inner := rest[len(rest)-seqContentLen(rest):]
	return tlv(0xa0, tlv(0x30, fields, inner))
}

// seqContentLen is the length of the content of the DER element b.
func seqContentLen(b []byte) int {
	if b[1]&0x80 == 0 {
		return int(b[1])
	}
	n := 0
	for _, x := range b[2 : 2+int(b[1]&0x7f)] {
		n = n<<8 | int(x)
	}
	return n
}

// fastReply is the value of a PA-FX-FAST padata of a reply.
func (c *Capture) fastReply() []byte {
	enc := kdcMust(asn1.Marshal(types.EncryptedData{EType: EtypeAES256, Cipher: c.RandBytes(520)}))
	return tlv(0xa0, tlv(0x30, tlv(0xa0, enc)))
}

// Hide says what an armored reply shows of its client in clear.
type Hide int

const (
	// ShowClient: the outer reply names the client (RFC 6113: the KDC
	// builds the reply as usual; MIT's and Windows's KDCs do).
	ShowClient Hide = iota
	// HideAnonymous: the client asked hide-client-names (a FAST option,
	// inside the encrypted request) and the KDC names the anonymous
	// principal instead (RFC 6113 5.4.1; MIT's KDC).
	HideAnonymous
	// HideEmpty: the KDC blanks the outer name and realm (Heimdal's).
	HideEmpty
)

// KrbTGSReqFAST is an armored TGS-REQ for sname: the PA-TGS-REQ with the
// client's TGT, then PA-FX-FAST (explicit armor with armor when set).
func (c *Capture) KrbTGSReqFAST(realm, sname string, armor *messages.Ticket) []byte {
	req := c.tgsReq(realm, sname, S4U{})
	req.PAData = append(req.PAData, types.PAData{PADataType: paFXFast, PADataValue: c.fastRequest(armor)})
	return kdcMust(req.Marshal())
}

// KrbTGSRepFAST is the armored TGS-REP that issues t, its client shown or
// hidden as h says.
func (c *Capture) KrbTGSRepFAST(t *KrbTicket, h Hide) []byte {
	cname, crealm := outerClient(t.User, t.Realm, h)
	return c.kdcRepOf(13, cname, crealm, t.Ticket, types.PADataSequence{{PADataType: paFXFast, PADataValue: c.fastReply()}})
}

// outerClient is the client an armored reply shows.
func outerClient(user, realm string, h Hide) (types.PrincipalName, string) {
	switch h {
	case HideAnonymous:
		return types.NewPrincipalName(ntWellKnown, AnonymousName), AnonymousRealm
	case HideEmpty:
		return types.PrincipalName{}, ""
	}
	return types.NewPrincipalName(1, user), realm
}

// KrbASReqAnonymous is the AS-REQ of anonymous PKINIT (RFC 6112 4, RFC
// 8062): the anonymous principal asks a TGT of realm, with the request-
// anonymous option and a PA-PK-AS-REQ.
func (c *Capture) KrbASReqAnonymous(realm string) []byte {
	req := c.asReq("", realm, false)
	req.ReqBody.CName = types.NewPrincipalName(ntWellKnown, AnonymousName)
	req.ReqBody.KDCOptions = kdcOptions(16) // request-anonymous
	req.PAData = types.PADataSequence{{PADataType: paPKASReq, PADataValue: c.pkASReqAnonymous(req.ReqBody.Nonce)}}
	return kdcMust(req.Marshal())
}

// DER object identifiers of PKINIT's CMS (RFC 5652, RFC 4556 3.1, RFC
// 5480).
var (
	oidSignedData   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	oidPKINITAuth   = []byte{0x06, 0x07, 0x2b, 0x06, 0x01, 0x05, 0x02, 0x03, 0x01}
	oidECPublicKey  = []byte{0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}
	oidPrime256v1   = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	derEmptySet     = []byte{0x31, 0x00}
	derSignedDataV3 = []byte{0x02, 0x01, 0x03}
)

// pkASReqAnonymous is the PA-PK-AS-REQ of an anonymous client (RFC 4556
// 3.2.1, RFC 6112 4.1): signedAuthPack ([0] IMPLICIT) a CMS ContentInfo of
// SignedData without signers, whose content is the AuthPack: the
// PKAuthenticator (time, nonce, a checksum: random bytes) and the
// client's ephemeral ECDH public value (a P-256 point: random bytes).
func (c *Capture) pkASReqAnonymous(nonce int) []byte {
	ctime, cusec := krbTime(c.now)
	auth := tlv(0x30,
		tlv(0xa0, kdcMust(asn1.Marshal(cusec))),
		tlv(0xa1, tlv(0x18, []byte(ctime.Format("20060102150405Z")))),
		tlv(0xa2, kdcMust(asn1.Marshal(nonce))),
		tlv(0xa3, tlv(0x04, c.RandBytes(20))))
	spki := tlv(0x30, tlv(0x30, oidECPublicKey, oidPrime256v1), tlv(0x03, []byte{0x00, 0x04}, c.RandBytes(64)))
	authPack := tlv(0x30, tlv(0xa0, auth), tlv(0xa1, spki))
	signed := tlv(0x30, derSignedDataV3, derEmptySet, tlv(0x30, oidPKINITAuth, tlv(0xa0, tlv(0x04, authPack))), derEmptySet)
	return tlv(0x30, tlv(0x80, tlv(0x30, oidSignedData, tlv(0xa0, signed))))
}

// KrbASRepAnonymous answers it: the TGT of the anonymous principal, named
// WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS (full anonymity), which a client
// uses as FAST armor. It returns the reply and the TGT.
func (c *Capture) KrbASRepAnonymous(realm string) ([]byte, messages.Ticket) {
	tgt := c.tgt(realm)
	rep := c.kdcRepOf(11, types.NewPrincipalName(ntWellKnown, AnonymousName), AnonymousRealm, tgt,
		types.PADataSequence{{PADataType: paPKASRep, PADataValue: c.RandBytes(1100)}})
	return rep, tgt
}

// KrbASReqFAST is user's armored AS-REQ (armor: the anonymous or
// computer's TGT).
func (c *Capture) KrbASReqFAST(user, realm string, armor messages.Ticket) []byte {
	req := c.asReq(user, realm, false)
	req.PAData = types.PADataSequence{{PADataType: paFXFast, PADataValue: c.fastRequest(&armor)}}
	return kdcMust(req.Marshal())
}

// KrbASRepFAST is the armored AS-REP that gives user@realm a TGT.
func (c *Capture) KrbASRepFAST(user, realm string) []byte {
	return c.kdcRepOf(11, types.NewPrincipalName(1, user), realm, c.tgt(realm),
		types.PADataSequence{{PADataType: paFXFast, PADataValue: c.fastReply()}})
}
