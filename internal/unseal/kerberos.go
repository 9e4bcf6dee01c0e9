package unseal

import (
	"errors"
	"strings"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/ntlmssp"
)

// krbKeys is what the handshake of a Kerberos security context gave: the
// ticket session key, and the subkeys of the authenticator (initiator) and
// of the server's AP-REP (acceptor). A nil key is absent.
type krbKeys struct {
	session, initiator, acceptor *krbKey
	// last is the RC4 key that verified last: tried first next time.
	last *krbKey
}

// Kerberos message tags ([APPLICATION n], RFC 4120 5.5) and the TOK_IDs of
// their GSS framing (RFC 4121 4.1).
const (
	tagAPReq = 0x6e
	tagAPRep = 0x6f
)

// krbMessage returns the Kerberos message inside a raw ([APPLICATION n]) or
// GSS-framed (60 len OID TOK_ID msg) token, or nil.
func krbMessage(b []byte) []byte {
	if len(b) > 2 && b[0] == 0x60 {
		rest, err := gssToken(b)
		if err != nil || len(rest) < 3 || rest[1] != 0x00 || rest[0] < 1 || rest[0] > 3 {
			return nil
		}
		b = rest[2:]
	}
	if len(b) == 0 || b[0] != tagAPReq && b[0] != tagAPRep {
		return nil
	}
	return b
}

// kerberosToken handles a Kerberos token of the handshake: the client's
// AP-REQ (bind or alter_context) and the server's AP-REP (bind_ack or
// alter_context_resp). The client's own AP-REP, the DCE-style third leg
// (MS-KILE 3.4.5.1), carries no key.
func (c *context) kerberosToken(ptype uint8, b []byte) {
	m := krbMessage(b)
	if m == nil {
		return
	}
	switch {
	case m[0] == tagAPReq && (ptype == dcerpc.PTypeBind || ptype == dcerpc.PTypeAlter):
		c.apReq(m)
	case m[0] == tagAPRep && (ptype == dcerpc.PTypeBindAck || ptype == dcerpc.PTypeAlterResp):
		c.apRep(m)
	}
}

// apReq decrypts the ticket of an AP-REQ with a keytab key to learn the
// client principal and the session key, then the authenticator for the
// initiator's subkey (RFC 4120 5.3, 5.5.1).
func (c *context) apReq(b []byte) {
	var ap messages.APReq
	if err := ap.Unmarshal(b); err != nil {
		return
	}
	c.krb = nil
	if _, err := crypto.GetEtype(ap.Ticket.EncPart.EType); err != nil {
		c.status = dcerpc.UnsealUnsupported
		return
	}
	t := ap.Ticket
	matched, ok := decryptTicket(c.u.store.Keytabs(), &t)
	if !ok {
		c.status = dcerpc.UnsealNoKey
		if matched {
			c.status = dcerpc.UnsealBadKey
		}
		return
	}
	enc := t.DecryptedEncPart
	c.identity = ntlmssp.ClipName(enc.CName.PrincipalNameString() + "@" + enc.CRealm)
	c.readPAC(&t)
	k := &krbKeys{session: newKrbKey(enc.Key)}
	ap.Ticket = t
	if err := ap.DecryptAuthenticator(enc.Key); err == nil {
		k.initiator = newKrbKey(ap.Authenticator.SubKey)
	}
	c.krb = k
	c.status = dcerpc.UnsealOK
}

// maxTicketTries bounds the keytab keys tried on one ticket.
const maxTicketTries = 64

// decryptTicket tries the keytab keys on a ticket's encrypted part: first
// the entries of its service principal (case-insensitively, as Windows
// names are; the ticket's kvno first), then every other key of the same
// encryption type (a ticket for any SPN of an account is encrypted with
// that account's key). The RFC 3961 integrity check rules out a wrong key.
// matched reports that the keytab names the service principal.
func decryptTicket(kts []*keytab.Keytab, t *messages.Ticket) (matched, ok bool) {
	sname := strings.Join(t.SName.NameString, "/")
	type cand struct {
		key  types.EncryptionKey
		rank int
	}
	var cands []cand
	for _, kt := range kts {
		for _, e := range kt.Entries {
			if e.Key.KeyType != t.EncPart.EType || len(e.Key.KeyValue) == 0 {
				if samePrincipal(e.Principal.Realm, e.Principal.Components, sname, t.Realm) {
					matched = true
				}
				continue
			}
			rank := 2
			if samePrincipal(e.Principal.Realm, e.Principal.Components, sname, t.Realm) {
				matched = true
				rank = 1
				if int(e.KVNO) == t.EncPart.KVNO {
					rank = 0
				}
			}
			cands = append(cands, cand{e.Key, rank})
		}
	}
	tries := 0
	for rank := 0; rank <= 2; rank++ {
		for _, cd := range cands {
			if cd.rank != rank {
				continue
			}
			if tries++; tries > maxTicketTries {
				return matched, false
			}
			if t.Decrypt(cd.key) == nil {
				return matched, true
			}
		}
	}
	return matched, false
}

// samePrincipal compares a keytab entry's principal with a ticket's.
func samePrincipal(entryRealm string, components []string, sname, realm string) bool {
	return strings.EqualFold(entryRealm, realm) && strings.EqualFold(strings.Join(components, "/"), sname)
}

// apRep decrypts the server's AP-REP with the session key for the
// acceptor's subkey (RFC 4120 5.5.2, key usage 12).
func (c *context) apRep(b []byte) {
	if c.krb == nil || c.krb.session == nil {
		return
	}
	var rep messages.APRep
	if err := rep.Unmarshal(b); err != nil {
		return
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, c.krb.session.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return
	}
	if k := newKrbKey(part.Subkey); k != nil {
		c.krb.acceptor = k
	}
}

// cfxKey is the key of an RFC 4121 token: the acceptor's subkey when the
// token says so, else the initiator's subkey, else the session key (RFC
// 4121 2).
func (k *krbKeys) cfxKey(acceptorSubkey bool) *krbKey {
	switch {
	case acceptorSubkey:
		return k.acceptor
	case k.initiator != nil:
		return k.initiator
	}
	return k.session
}

// rc4Keys lists the keys an RC4-HMAC token may use, most likely first: the
// acceptor's subkey, the initiator's, the session key (RFC 4757 has no
// flag to say which).
func (k *krbKeys) rc4Keys() []*krbKey {
	var out []*krbKey
	for _, x := range []*krbKey{k.last, k.acceptor, k.initiator, k.session} {
		if x.rc4() && (len(out) == 0 || !containsKey(out, x)) {
			out = append(out, x)
		}
	}
	return out
}

func containsKey(ks []*krbKey, k *krbKey) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// unsealKerberos checks (and at privacy level decrypts in place) one PDU
// protected by a Kerberos context: a wrap token at privacy level, a MIC
// token at integrity level, RFC 4121 for AES and RFC 4757 for RC4-HMAC.
func (c *context) unsealKerberos(dir dcerpc.Dir, pdu []byte, hdrEnd int, level uint8) dcerpc.UnsealStatus {
	authLen, t := trailer(pdu)
	if t < hdrEnd || authLen < 16 {
		return dcerpc.UnsealBadSignature
	}
	tok, data := pdu[t+8:], pdu[hdrEnd:t]
	so := signOnly{pre: pdu[:hdrEnd], post: pdu[t : t+8]}
	fromAcceptor := dir == dcerpc.ServerToClient
	privacy := level == dcerpc.LevelPrivacy
	var plain []byte
	var err error
	switch {
	case tok[0] == 0x05 && tok[1] == 0x04 && privacy:
		h, herr := parseCFXWrap(tok)
		if herr != nil || (h.flags&cfxSentByAcceptor != 0) != fromAcceptor {
			return dcerpc.UnsealBadSignature
		}
		key := c.krb.cfxKey(h.flags&cfxAcceptorSubkey != 0)
		if key == nil {
			return dcerpc.UnsealUnsupported // the AP-REP with the subkey is not in the capture
		}
		plain, err = cfxUnwrap(key, sealUsage(fromAcceptor), tok, data, so)
	case tok[0] == 0x04 && tok[1] == 0x04 && !privacy:
		if len(tok) < cfxHeaderLen || (tok[2]&cfxSentByAcceptor != 0) != fromAcceptor {
			return dcerpc.UnsealBadSignature
		}
		key := c.krb.cfxKey(tok[2]&cfxAcceptorSubkey != 0)
		if key == nil {
			return dcerpc.UnsealUnsupported
		}
		err = cfxVerifyMIC(key, signUsage(fromAcceptor), tok, data, so)
	case tok[0] == 0x60:
		inner, gerr := gssToken(tok)
		if gerr != nil {
			return dcerpc.UnsealBadSignature
		}
		keys := c.krb.rc4Keys()
		if len(keys) == 0 {
			return dcerpc.UnsealUnsupported
		}
		err = errChecksum
		for _, k := range keys {
			if privacy {
				plain, err = rc4Unwrap(k, fromAcceptor, inner, data, so)
			} else {
				err = rc4VerifyMIC(k, fromAcceptor, inner, data, so)
			}
			if err == nil {
				c.krb.last = k
				break
			}
			if errors.Is(err, errToken) {
				break
			}
		}
	default:
		return dcerpc.UnsealBadSignature
	}
	switch {
	case errors.Is(err, errEtype):
		return dcerpc.UnsealUnsupported
	case err != nil:
		return dcerpc.UnsealBadSignature
	}
	if privacy {
		if len(plain) != len(data) {
			return dcerpc.UnsealBadSignature // not the in-place layout of DCE style
		}
		copy(data, plain)
	}
	return dcerpc.UnsealOK
}
