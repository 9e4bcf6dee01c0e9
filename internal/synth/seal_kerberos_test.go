package synth

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestKrbEncrypt: what the generator encrypts with its own confounder,
// gokrb5's DecryptMessage reads back and checks, for every etype used.
func TestKrbEncrypt(t *testing.T) {
	for _, et := range []int32{EtypeAES128, EtypeAES256, EtypeRC4} {
		e, _ := crypto.GetEtype(et)
		key := types.EncryptionKey{KeyType: et, KeyValue: bytes.Repeat([]byte{0x5a}, e.GetKeyByteSize())}
		msg := []byte("an encrypted part of 35 bytes long.")
		for _, usage := range []uint32{keyusage.KDC_REP_TICKET, keyusage.AP_REQ_AUTHENTICATOR, keyusage.AP_REP_ENCPART} {
			ct, err := KrbEncrypt(key, usage, msg, bytes.Repeat([]byte{1}, e.GetConfounderByteSize()))
			if err != nil {
				t.Fatal(err)
			}
			pt, err := crypto.DecryptMessage(ct, key, usage)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("etype %d usage %d: %q, %v", et, usage, pt, err)
			}
		}
	}
}

// TestKrbHandshake: gokrb5 reads the generated AP-REQ with the keytab the
// generator writes (ticket, client principal, authenticator with its
// subkey and GSS checksum) and the server's AP-REP with the session key.
func TestKrbHandshake(t *testing.T) {
	b, err := KeytabBytes(KrbSvc)
	if err != nil {
		t.Fatal(err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil || len(kt.Entries) != len(KrbSvc.Etypes) {
		t.Fatalf("keytab: %v, %d entries", err, len(kt.Entries))
	}
	for _, et := range []int32{EtypeAES256, EtypeRC4} {
		x, err := NewKrbContext(KrbSpec{User: "carol", Svc: KrbSvc, Etype: et, SessionEtype: EtypeAES128}, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), 1)
		if err != nil {
			t.Fatal(err)
		}
		var ap messages.APReq
		if err := ap.Unmarshal(x.APReq); err != nil {
			t.Fatal(err)
		}
		if err := ap.Ticket.DecryptEncPart(kt, nil); err != nil {
			t.Fatalf("etype %d: %v", et, err)
		}
		enc := ap.Ticket.DecryptedEncPart
		if enc.CName.PrincipalNameString() != "carol" || enc.CRealm != KrbRealm || enc.Key.KeyType != EtypeAES128 {
			t.Errorf("ticket: %s@%s key etype %d", enc.CName.PrincipalNameString(), enc.CRealm, enc.Key.KeyType)
		}
		if err := ap.DecryptAuthenticator(enc.Key); err != nil {
			t.Fatal(err)
		}
		if a := ap.Authenticator; len(a.SubKey.KeyValue) != 16 || a.Cksum.CksumType != 0x8003 || len(a.Cksum.Checksum) != 24 {
			t.Errorf("authenticator: %+v", a.Cksum)
		}
		var rep messages.APRep
		if err := rep.Unmarshal(x.APRep); err != nil {
			t.Fatal(err)
		}
		plain, err := crypto.DecryptEncPart(rep.EncPart, enc.Key, keyusage.AP_REP_ENCPART)
		if err != nil {
			t.Fatal(err)
		}
		var part messages.EncAPRepPart
		if err := part.Unmarshal(plain); err != nil || len(part.Subkey.KeyValue) != 16 {
			t.Errorf("AP-REP: %v, subkey of %d bytes", err, len(part.Subkey.KeyValue))
		}
	}
}
