package kerberos_test

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/kerberos"
)

// pacAuthData issues user a ticket with the PAC spec (the generator's, a
// Windows KDC's layout) and returns the authorization data of the ticket
// decrypted with the service key, and the PAC's bytes.
func pacAuthData(t testing.TB, user string, spec *synth.PACSpec) (types.AuthorizationData, []byte) {
	t.Helper()
	c := synth.NewCapture("pac-test")
	tkt := c.IssueTicketPAC(user, synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256, spec)
	kt, err := synth.KrbSvc.Keytab()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := kt.GetEncryptionKey(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, synth.KrbSvc.Principal), synth.KrbRealm, int(synth.KrbSvc.KVNO), synth.EtypeAES256)
	if err != nil {
		t.Fatal(err)
	}
	tk := tkt.Ticket
	if err := tk.Decrypt(key); err != nil {
		t.Fatal(err)
	}
	ad := tk.DecryptedEncPart.AuthorizationData
	if len(ad) != 1 || ad[0].ADType != 1 {
		t.Fatalf("authorization data %+v", ad)
	}
	var inner types.AuthorizationData
	if err := inner.Unmarshal(ad[0].ADData); err != nil || len(inner) != 1 || inner[0].ADType != 128 {
		t.Fatalf("AD-IF-RELEVANT %+v: %v", inner, err)
	}
	return ad, inner[0].ADData
}

// pacBuffer returns the offset and size of the first buffer of type typ.
var itoa = strconv.Itoa

func pacBuffer(t testing.TB, pac []byte, typ uint32) (off, size int) {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(pac))
	for i := 0; i < n; i++ {
		at := 8 + 16*i
		if binary.LittleEndian.Uint32(pac[at:]) == typ {
			return int(binary.LittleEndian.Uint64(pac[at+8:])), int(binary.LittleEndian.Uint32(pac[at+4:]))
		}
	}
	t.Fatalf("no buffer of type %d", typ)
	return 0, 0
}

func TestTicketPAC(t *testing.T) {
	ad, _ := pacAuthData(t, "ivan", synth.PACOf("ivan"))
	p, found, err := kerberos.TicketPAC(ad)
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	want := kerberos.PAC{LogonDomain: "CONTOSO", DNSDomain: "CONTOSO.EXAMPLE", UPN: "ivan@contoso.example"}
	if p != want {
		t.Errorf("PAC %+v, want %+v", p, want)
	}

	// A ticket without a PAC (an MIT KDC's), and authorization data
	// without one.
	if _, found, err := kerberos.TicketPAC(nil); found || err != nil {
		t.Errorf("no authorization data: found %v, err %v", found, err)
	}
	other := types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0x0b, 0x30, 0x09, 0xa0, 0x03, 0x02, 0x01, 0x40, 0xa1, 0x02, 0x04, 0x00}}}
	if _, found, err := kerberos.TicketPAC(other); found || err != nil {
		t.Errorf("AD-IF-RELEVANT without a PAC: found %v, err %v", found, err)
	}
	// The envelope malformed: the error names it and where.
	for _, c := range []struct {
		data []byte
		want string
	}{
		{[]byte{0x04, 0x00}, "AD-IF-RELEVANT SEQUENCE OF at offset 0"},
		{[]byte{0x30, 0x05, 0x30, 0x03}, "AD-IF-RELEVANT SEQUENCE OF length at offset 1"},
		{[]byte{0x30, 0x02, 0x04, 0x00}, "AD-IF-RELEVANT element at offset 2"},
		{[]byte{0x30, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x40}, "AD-IF-RELEVANT element at offset 9: lacks"},
		{[]byte{0x30, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x04, 0x02, 0x00, 0x80}, "AD-IF-RELEVANT ad-type at offset 6"},
		{[]byte{0x30, 0x07, 0x30, 0x08, 0xa0, 0x01, 0x02, 0x01, 0x40}, "AD-IF-RELEVANT element length at offset 3"},
	} {
		_, found, err := kerberos.TicketPAC(types.AuthorizationData{{ADType: 1, ADData: c.data}})
		if !found || !errors.Is(err, kerberos.ErrMalformedPAC) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("% x: found %v, err %v, want %q", c.data, found, err, c.want)
		}
	}
}

// TestReadPACMalformed: each damage is named by its structure, field and
// offset in the PAC; nothing is returned of a PAC that does not parse.
func TestReadPACMalformed(t *testing.T) {
	_, pac := pacAuthData(t, "ivan", synth.PACOf("ivan"))
	logon, _ := pacBuffer(t, pac, 1)
	upn, _ := pacBuffer(t, pac, 12)
	// LogonDomainName's referent: after the fixed part, the six strings
	// (ivan twice, four empty), the group array, LogonServer (DC01).
	u32 := func(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	u16 := func(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
	const fixed = 16 + 4 + 48 + 6*8 + 2 + 2 + 4 + 4 + 4 + 4 + 4 + 16 + 8 // to LogonDomainName's header
	strBody := func(chars int) int { return (12 + 2*chars + 3) &^ 3 }
	domainBody := logon + fixed + 8 + 4 + 60 + 2*strBody(4) + 4*strBody(0) + 4 + 2*8 + strBody(4)
	for _, c := range []struct {
		name string
		mut  func(b []byte)
		want string
	}{
		{"no buffers", func(b []byte) { u32(b, 0, 0) }, "PACTYPE cBuffers at offset 0: 0 buffers"},
		{"too many buffers", func(b []byte) { u32(b, 0, 1000) }, "PACTYPE cBuffers at offset 0: 1000 buffers"},
		{"version", func(b []byte) { u32(b, 4, 1) }, "PACTYPE Version at offset 4: 1, want 0"},
		{"buffer past the end", func(b []byte) { u32(b, 8+4, 1<<20) }, "PAC_INFO_BUFFER Offset at offset 16: buffer 0 (type 0x1) of 1048576 bytes"},
		{"offset past the end", func(b []byte) { binary.LittleEndian.PutUint64(b[8+8:], 1<<40) }, "PAC_INFO_BUFFER Offset at offset 16"},
		{"duplicate logon info", func(b []byte) { u32(b, 8+16, 1) }, "PAC_INFO_BUFFER ulType at offset 24: a second KERB_VALIDATION_INFO"},
		{"serialization version", func(b []byte) { b[logon] = 2 }, "KERB_VALIDATION_INFO Version at offset " + itoa(logon)},
		{"endianness", func(b []byte) { b[logon+1] = 0x20 }, "KERB_VALIDATION_INFO Endianness at offset " + itoa(logon+1)},
		{"header length", func(b []byte) { u16(b, logon+2, 16) }, "KERB_VALIDATION_INFO CommonHeaderLength at offset " + itoa(logon+2)},
		{"object length", func(b []byte) { u32(b, logon+8, 1<<20) }, "KERB_VALIDATION_INFO ObjectBufferLength at offset " + itoa(logon+8)},
		{"null structure", func(b []byte) { u32(b, logon+16, 0) }, "KERB_VALIDATION_INFO referent ID at offset " + itoa(logon+16) + ": NULL"},
		{"null domain", func(b []byte) { u32(b, logon+fixed+4, 0) }, "KERB_VALIDATION_INFO LogonDomainName.Buffer at offset " + itoa(logon) + ": NULL"},
		{"domain count", func(b []byte) { u32(b, domainBody, 1<<16) }, "KERB_VALIDATION_INFO LogonDomainName.Buffer.max_count at offset " + itoa(domainBody+4)},
		{"domain actual count", func(b []byte) { u32(b, domainBody+8, 9) }, "KERB_VALIDATION_INFO LogonDomainName.Buffer at offset " + itoa(domainBody+12)},
		{"upn odd length", func(b []byte) { u16(b, upn, 3) }, "UPN_DNS_INFO UpnLength at offset " + itoa(upn) + ": 3 bytes, an odd length"},
		{"dns offset", func(b []byte) { u16(b, upn+6, 0x200) }, "UPN_DNS_INFO DnsDomainNameOffset at offset " + itoa(upn+6)},
	} {
		b := append([]byte(nil), pac...)
		c.mut(b)
		p, err := kerberos.ReadPAC(b)
		if !errors.Is(err, kerberos.ErrMalformedPAC) || !strings.Contains(err.Error(), c.want) || p != (kerberos.PAC{}) {
			t.Errorf("%s: %+v, %v\nwant %q", c.name, p, err, c.want)
		}
	}
	// The generator's malformed PAC (kerberos-pac.pcap's judy).
	bad := synth.PACOf("judy")
	bad.BadDNSOffset = true
	ad, pac := pacAuthData(t, "judy", bad)
	upn, _ = pacBuffer(t, pac, 12)
	if _, found, err := kerberos.TicketPAC(ad); !found || err == nil || !strings.Contains(err.Error(), "UPN_DNS_INFO DnsDomainNameOffset at offset "+itoa(upn+6)) {
		t.Errorf("judy's PAC: found %v, err %v", found, err)
	}
}

// TestReadPACTruncated: every prefix of a PAC is an error, never a
// panic, and so is every byte of it changed (or it reads).
func TestReadPACTruncated(t *testing.T) {
	_, pac := pacAuthData(t, "ivan", synth.PACOf("ivan"))
	for n := 0; n < len(pac); n++ {
		if _, err := kerberos.ReadPAC(pac[:n]); !errors.Is(err, kerberos.ErrMalformedPAC) {
			t.Fatalf("PAC cut to %d of %d bytes: %v", n, len(pac), err)
		}
	}
	for i := range pac {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), pac...)
			b[i] ^= x
			if _, err := kerberos.ReadPAC(b); err != nil && !errors.Is(err, kerberos.ErrMalformedPAC) {
				t.Fatalf("byte %d ^ %#x: %v", i, x, err)
			}
		}
	}
}

// FuzzReadPAC: any bytes, as a PAC or as an AD-IF-RELEVANT's ad-data.
func FuzzReadPAC(f *testing.F) {
	ad, pac := pacAuthData(f, "ivan", synth.PACOf("ivan"))
	f.Add(pac)
	f.Add(ad[0].ADData)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := kerberos.ReadPAC(b); err != nil && !errors.Is(err, kerberos.ErrMalformedPAC) {
			t.Fatal(err)
		}
		if _, _, err := kerberos.TicketPAC(types.AuthorizationData{{ADType: 1, ADData: b}}); err != nil && !errors.Is(err, kerberos.ErrMalformedPAC) {
			t.Fatal(err)
		}
	})
}
