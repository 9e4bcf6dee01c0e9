package dcerpc

import (
	"encoding/asn1"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/nspicap/nspicap/ntlmssp"
)

// KerberosTicketLabel labels the service ticket of a Kerberos AP-REQ (raw,
// or in a GSS-API InitialContextToken, RFC 4121 4.1): "<service
// principal>#<8 hex digits>", the digits an FNV-1a hash of the ticket's
// encrypted part, which every AP-REQ using that ticket carries unchanged
// (RFC 4120 5.3, 5.5.1). "" when tok is not an AP-REQ that can be read.
//
// This is the minimal labelling the analyzer's per-ticket accounts need;
// matching tickets to the TGS-REPs that issued them replaces it.
func KerberosTicketLabel(tok []byte) string {
	b := tok
	if len(b) > 0 && b[0] == 0x60 { // [APPLICATION 0] InitialContextToken
		var gss asn1.RawValue
		if _, err := asn1.Unmarshal(b, &gss); err != nil {
			return ""
		}
		var oid asn1.ObjectIdentifier
		rest, err := asn1.Unmarshal(gss.Bytes, &oid)
		if err != nil || len(rest) < 2 || rest[0] != 0x01 || rest[1] != 0x00 { // TOK_ID KRB_AP_REQ
			return ""
		}
		b = rest[2:]
	}
	// The RawValue fields keep their context tag: Bytes is what it holds.
	var ap struct {
		PVNO          int            `asn1:"explicit,tag:0"`
		MsgType       int            `asn1:"explicit,tag:1"`
		APOptions     asn1.BitString `asn1:"explicit,tag:2"`
		Ticket        asn1.RawValue  `asn1:"explicit,tag:3"`
		Authenticator asn1.RawValue  `asn1:"explicit,tag:4"`
	}
	if _, err := asn1.UnmarshalWithParams(b, &ap, "application,explicit,tag:14"); err != nil || ap.MsgType != 14 {
		return ""
	}
	var tkt struct {
		TktVNO int    `asn1:"explicit,tag:0"`
		Realm  string `asn1:"generalstring,explicit,tag:1"`
		SName  struct {
			NameType   int32    `asn1:"explicit,tag:0"`
			NameString []string `asn1:"generalstring,explicit,tag:1"`
		} `asn1:"explicit,tag:2"`
		EncPart struct {
			EType  int32  `asn1:"explicit,tag:0"`
			KVNO   int    `asn1:"optional,explicit,tag:1"`
			Cipher []byte `asn1:"explicit,tag:2"`
		} `asn1:"explicit,tag:3"`
	}
	if _, err := asn1.UnmarshalWithParams(ap.Ticket.Bytes, &tkt, "application,explicit,tag:1"); err != nil || len(tkt.EncPart.Cipher) == 0 {
		return ""
	}
	h := fnv.New32a()
	h.Write(tkt.EncPart.Cipher)
	spn := ntlmssp.ClipName(strings.Join(tkt.SName.NameString, "/"))
	return fmt.Sprintf("%s#%08x", spn, h.Sum32())
}
