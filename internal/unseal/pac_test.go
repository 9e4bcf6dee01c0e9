package unseal

import (
	"strings"
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/kerberos"
	"github.com/nspicap/nspicap/ntlmssp"
)

// pacAPReq is the AP-REQ of a bind with a ticket issued to user with the
// PAC spec (nil: no PAC).
func pacAPReq(t *testing.T, c *synth.Capture, user string, spec *synth.PACSpec) []byte {
	t.Helper()
	tkt := c.IssueTicketPAC(user, synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256, spec)
	x, err := synth.NewKrbContext(synth.KrbSpec{User: user, Svc: synth.KrbSvc, Etype: synth.EtypeAES256, SessionEtype: synth.EtypeAES256,
		AuthType: synth.AuthTypeKerberos, Issued: tkt}, krbNow, 7)
	if err != nil {
		t.Fatal(err)
	}
	return x.APReq
}

// bindWith feeds a new context of u a bind carrying apReq (auth type 16)
// and returns what TakeDomain gives, twice.
func bindWith(t *testing.T, u *Unsealer, apReq []byte) (first, again [3]string) {
	t.Helper()
	c := u.NewContext(&dcerpc.ConnMeta{}, dcerpc.AuthKerberos, 1)
	c.Token(dcerpc.PTypeBind, apReq, ntlmssp.Inspect(dcerpc.AuthKerberos, apReq))
	if c.Identity() == "" {
		t.Fatal("the keytab did not decrypt the ticket")
	}
	dt := c.(dcerpc.DomainTeller)
	first[0], first[1], first[2] = dt.TakeDomain()
	again[0], again[1], again[2] = dt.TakeDomain()
	return first, again
}

// TestPACDomain: the PAC of a decrypted ticket gives the NetBIOS and DNS
// names of its client's domain once: to the first context that presents
// the ticket, taken once; a ticket without a PAC gives nothing, one whose
// PAC has no UPN_DNS_INFO gives the crealm, a malformed PAC a description
// naming the field.
func TestPACDomain(t *testing.T) {
	u := New(keytabStore(t, synth.KrbSvc))
	c := synth.NewCapture("pac-domain")
	ivan := pacAPReq(t, c, "ivan", synth.PACOf("ivan"))
	first, again := bindWith(t, u, ivan)
	if first != [3]string{"CONTOSO", "CONTOSO.EXAMPLE", ""} || again != [3]string{} {
		t.Errorf("ivan's PAC: %q, then %q", first, again)
	}
	// The same ticket again (a service account binds again and again
	// with one ticket): its PAC is not read again.
	if first, _ := bindWith(t, u, ivan); first != [3]string{} {
		t.Errorf("the same ticket again: %q", first)
	}
	if first, _ := bindWith(t, u, pacAPReq(t, c, "kim", nil)); first != [3]string{} {
		t.Errorf("a ticket without a PAC: %q", first)
	}
	old := &synth.PACSpec{LogonDomain: "FABRIKAM", LogonServer: "DC02"}
	if first, _ := bindWith(t, u, pacAPReq(t, c, "lee", old)); first != [3]string{"FABRIKAM", synth.KrbRealm, ""} {
		t.Errorf("a PAC without UPN_DNS_INFO: %q", first)
	}
	bad := synth.PACOf("judy")
	bad.BadDNSOffset = true
	first, _ = bindWith(t, u, pacAPReq(t, c, "judy", bad))
	if first[0] != "" || first[1] != "" || !strings.Contains(first[2], "UPN_DNS_INFO DnsDomainNameOffset at offset ") {
		t.Errorf("a malformed PAC: %q", first)
	}

	// The table of tickets read is bounded: full, it starts again.
	for i := 0; len(u.pacs) < maxPACTickets; i++ {
		u.pacs[kerberos.TicketKeyOf([]byte{byte(i), byte(i >> 8), 1})] = struct{}{}
	}
	if first, _ := bindWith(t, u, pacAPReq(t, c, "mia", synth.PACOf("mia"))); first != [3]string{"CONTOSO", "CONTOSO.EXAMPLE", ""} || len(u.pacs) != 1 {
		t.Errorf("after the table filled: %q, %d tickets", first, len(u.pacs))
	}
}
