package keys

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/nspicap/nspicap/ntlmssp"
)

func TestReadKeys(t *testing.T) {
	nt := ntlmssp.NTOWFv1("Hash-Pass")
	in := strings.Join([]string{
		"# comment",
		"",
		"   ",
		`CONTOSO\bob:pa:ss word`, // a password may hold colons and spaces
		fmt.Sprintf(`contoso.example\carol:nt:%X`, nt[:]), // upper-case hex
		`CONTOSO\alice`,      // bad: no colon
		`alice:pw`,           // bad: no domain
		`CONTOSO\dave:nt:12`, // bad: short hash
		`CONTOSO\erin:`,      // bad: empty password
		"CONTOSO\\frank:crlf\r",
	}, "\n")
	s := &Store{}
	warns, err := s.ReadKeys(strings.NewReader(in), "k.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`keys file k.txt line 6: no colon after the identity; want DOMAIN\user:password or DOMAIN\user:nt:<32 hex digits>; line skipped`,
		`keys file k.txt line 7: the identity is not DOMAIN\user; want DOMAIN\user:password or DOMAIN\user:nt:<32 hex digits>; line skipped`,
		`keys file k.txt line 8: an nt: key must have 32 hex digits; line skipped`,
		`keys file k.txt line 9: empty password; want DOMAIN\user:password or DOMAIN\user:nt:<32 hex digits>; line skipped`,
	}
	if strings.Join(warns, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warns, "\n"), strings.Join(want, "\n"))
	}
	if h := s.NTHashes("contoso", "BOB"); len(h) != 1 || h[0] != ntlmssp.NTOWFv1("pa:ss word") {
		t.Errorf("bob: %d hashes", len(h))
	}
	// CONTOSO matches contoso.example by its first label.
	if h := s.NTHashes("CONTOSO", "carol"); len(h) != 1 || h[0] != nt {
		t.Errorf("carol: %d hashes", len(h))
	}
	if h := s.NTHashes("CONTOSO", "frank"); len(h) != 1 || h[0] != ntlmssp.NTOWFv1("crlf") {
		t.Errorf("frank: CR not stripped")
	}
	if s.HasNTLM("FABRIKAM", "bob") || s.HasNTLM("CONTOSO", "alice") {
		t.Error("a key for an identity not in the file")
	}
	for _, f := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s)} {
		if strings.Contains(f, "pa:ss") || s.Contains([]byte(f)) {
			t.Errorf("store printed with its keys: %s", f)
		}
	}
	if s.String() != "3 NTLM keys, 0 Kerberos keys" {
		t.Errorf("String() = %q", s.String())
	}
}

// TestKeytab reads a keytab as ktutil writes it: the service key for
// Kerberos, and an RC4-HMAC user entry that serves as an NT hash.
func TestKeytab(t *testing.T) {
	kt := keytab.New()
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := kt.AddEntry("exchangeAB/dc01.contoso.example", "CONTOSO.EXAMPLE", "svc-secret", ts, 5, 18); err != nil {
		t.Fatal(err)
	}
	if err := kt.AddEntry("bob", "CONTOSO.EXAMPLE", "Bob-Pass", ts, 2, 23); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{}
	if err := s.AddKeytabBytes(b, "x.keytab"); err != nil {
		t.Fatal(err)
	}
	if len(s.Keytabs()) != 1 || s.String() != "1 NTLM keys, 2 Kerberos keys" {
		t.Errorf("store: %s", s)
	}
	if h := s.NTHashes("CONTOSO", "bob"); len(h) != 1 || h[0] != ntlmssp.NTOWFv1("Bob-Pass") {
		t.Errorf("the RC4-HMAC entry is not bob's NT hash")
	}
	if !s.Contains([]byte(fmt.Sprintf("%x", kt.Entries[0].Key.KeyValue))) {
		t.Error("Contains misses a Kerberos key")
	}
	for _, bad := range [][]byte{nil, []byte("hello"), b[:len(b)-3]} {
		err := (&Store{}).AddKeytabBytes(bad, "bad.keytab")
		if err == nil {
			if len(bad) == len(b)-3 {
				continue // gokrb5 may accept a cut final entry
			}
			t.Errorf("%q accepted", bad)
		} else if !strings.HasPrefix(err.Error(), "keytab bad.keytab: ") {
			t.Errorf("message %q", err)
		}
	}
}
