package ntlmssp

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// authenticate builds an AUTHENTICATE message (MS-NLMP 2.2.1.3) with the
// payload at offset 64 (no Version, no MIC).
func authenticate(domain, user, ws string, lm, nt []byte, flags uint32) []byte {
	b := make([]byte, 64)
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeAuthenticate)
	binary.LittleEndian.PutUint32(b[60:], flags)
	put := func(off int, v []byte) {
		binary.LittleEndian.PutUint16(b[off:], uint16(len(v)))
		binary.LittleEndian.PutUint16(b[off+2:], uint16(len(v)))
		binary.LittleEndian.PutUint32(b[off+4:], uint32(len(b)))
		b = append(b, v...)
	}
	put(28, utf16le(domain))
	put(36, utf16le(user))
	put(44, utf16le(ws))
	put(12, lm)
	put(20, nt)
	put(52, nil)
	return b
}

func der(tag byte, content ...[]byte) []byte {
	var c []byte
	for _, x := range content {
		c = append(c, x...)
	}
	switch {
	case len(c) < 0x80:
		return append([]byte{tag, byte(len(c))}, c...)
	case len(c) < 0x100:
		return append([]byte{tag, 0x81, byte(len(c))}, c...)
	}
	return append([]byte{tag, 0x82, byte(len(c) >> 8), byte(len(c))}, c...)
}

func TestAuthenticate(t *testing.T) {
	m, err := Parse(authenticate("CONTOSO", "svc-crm", "CRM01", make([]byte, 24), make([]byte, 200), FlagUnicode|FlagESS))
	if err != nil {
		t.Fatal(err)
	}
	if m.Identity() != `CONTOSO\svc-crm` || m.Workstation != "CRM01" || m.Anonymous() {
		t.Errorf("got %+v", m)
	}
	a, err := Parse(authenticate("", "", "WS", []byte{0}, nil, FlagUnicode|FlagAnonymous))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Anonymous() || a.Identity() != "" {
		t.Errorf("anonymous not recognised: %+v", a)
	}
}

func TestSecurityBufferOutside(t *testing.T) {
	b := authenticate("D", "u", "w", nil, nil, FlagUnicode)
	binary.LittleEndian.PutUint32(b[36+4:], 10000)
	if _, err := Parse(b); err == nil {
		t.Fatal("buffer pointing outside the message accepted")
	}
	for n := 0; n < len(b); n++ {
		Parse(b[:n]) // must not panic
	}
}

func TestSPNEGO(t *testing.T) {
	auth := authenticate("FABRIKAM", "carol", "PC", make([]byte, 24), make([]byte, 64), FlagUnicode)
	resp := der(0xa1, der(0x30, der(0xa2, der(0x04, auth))))
	tok := Inspect(9, resp)
	if tok.Mech != MechNTLM || tok.NTLM == nil || tok.NTLM.Identity() != `FABRIKAM\carol` {
		t.Fatalf("NegTokenResp: %+v", tok)
	}
	ntlmOID := der(0x06, oidNTLMSSP)
	neg := []byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2")
	init := der(0x60, der(0x06, oidSPNEGO), der(0xa0, der(0x30, der(0xa0, der(0x30, ntlmOID)), der(0xa2, der(0x04, neg)))))
	if tok := Inspect(9, init); tok.Mech != MechNTLM || tok.NTLM == nil || tok.NTLM.Type != TypeNegotiate {
		t.Fatalf("NegTokenInit: %+v", tok)
	}
	krb := der(0x60, der(0x06, oidSPNEGO), der(0xa0, der(0x30, der(0xa0, der(0x30, der(0x06, oidMSKRB5))), der(0xa2, der(0x04, der(0x6e, []byte{1, 2, 3}))))))
	if tok := Inspect(9, krb); tok.Mech != MechKerberos {
		t.Fatalf("Kerberos mechToken: %+v", tok)
	}
	// lying length
	bad := []byte{0x60, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06}
	if tok := Inspect(9, bad); tok.Err == nil {
		t.Fatalf("lying length accepted: %+v", tok)
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(uint8(10), authenticate("D", "u", "w", nil, nil, FlagUnicode))
	f.Add(uint8(9), der(0xa1, der(0x30, der(0xa2, der(0x04, authenticate("D", "u", "w", nil, nil, 1))))))
	f.Fuzz(func(t *testing.T, at uint8, b []byte) {
		Inspect(at, b)
	})
}

func TestClipName(t *testing.T) {
	short := `CONTOSO\alice`
	if ClipName(short) != short {
		t.Errorf("a short name changed: %q", ClipName(short))
	}
	long := `CONTOSO\` + strings.Repeat("é", 200)
	a, b := ClipName(long), ClipName(long+"x")
	if len(a) > MaxNameLen || len(b) > MaxNameLen {
		t.Errorf("clipped to %d and %d bytes, over %d", len(a), len(b), MaxNameLen)
	}
	if a == b {
		t.Errorf("two long names clipped to the same %q", a)
	}
	if !utf8.ValidString(a) || !strings.HasPrefix(a, `CONTOSO\éé`) || !strings.Contains(a, "…") {
		t.Errorf("clipped name %q: want valid UTF-8, the start kept and a mark", a)
	}
	// Identity clips what an AUTHENTICATE carries.
	m := &Message{Type: TypeAuthenticate, Domain: "CONTOSO", User: strings.Repeat("u", 60000)}
	if n := len(m.Identity()); n > MaxNameLen {
		t.Errorf("identity of %d bytes", n)
	}
}

// challenge builds a CHALLENGE message (MS-NLMP 2.2.1.2) whose TargetInfo
// holds the given AV pairs (id, value), then MsvAvEOL unless cut.
func challenge(flags uint32, cut bool, pairs ...any) []byte {
	b := make([]byte, 48)
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeChallenge)
	binary.LittleEndian.PutUint32(b[20:], flags)
	var ti []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		v := pairs[i+1].([]byte)
		ti = binary.LittleEndian.AppendUint16(ti, uint16(pairs[i].(int)))
		ti = binary.LittleEndian.AppendUint16(ti, uint16(len(v)))
		ti = append(ti, v...)
	}
	if !cut {
		ti = append(ti, 0, 0, 0, 0)
	}
	binary.LittleEndian.PutUint16(b[40:], uint16(len(ti)))
	binary.LittleEndian.PutUint16(b[42:], uint16(len(ti)))
	binary.LittleEndian.PutUint32(b[44:], uint32(len(b)))
	return append(b, ti...)
}

func TestChallengeDomainNames(t *testing.T) {
	for _, c := range []struct {
		name     string
		msg      []byte
		nb, dns  string
		parseErr bool
	}{
		{"both", challenge(FlagUnicode, false, 1, utf16le("DC01"), 2, utf16le("CONTOSO"), 3, utf16le("dc01.contoso.local"), 4, utf16le("contoso.local")), "CONTOSO", "contoso.local", false},
		{"oem", challenge(0, false, 2, []byte("CONTOSO"), 4, []byte("contoso.local")), "CONTOSO", "contoso.local", false},
		{"nb only", challenge(FlagUnicode, false, 2, utf16le("CONTOSO")), "CONTOSO", "", false},
		{"after EOL ignored", challenge(FlagUnicode, false, 0, []byte{}, 2, utf16le("CONTOSO")), "", "", false},
		{"pair past the end", append(challenge(FlagUnicode, true, 2, utf16le("CONTOSO")), 4, 0, 0x40, 0, 'x'), "CONTOSO", "", false},
		{"none", challenge(FlagUnicode, false), "", "", false},
	} {
		m, err := Parse(c.msg)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if nb, dns := m.DomainNames(); nb != c.nb || dns != c.dns {
			t.Errorf("%s: got %q %q, want %q %q", c.name, nb, dns, c.nb, c.dns)
		}
	}
	// A TargetInfo field that points past the message names nothing and
	// does not fail the CHALLENGE.
	b := challenge(FlagUnicode, false, 2, utf16le("CONTOSO"))
	binary.LittleEndian.PutUint32(b[44:], 4000)
	if m, err := Parse(b); err != nil || func() bool { nb, _ := m.DomainNames(); return nb != "" }() {
		t.Errorf("TargetInfo past the end: %v %+v", err, m)
	}
}

func TestDecodeStringASCIIAndNot(t *testing.T) {
	for _, want := range []string{"", "CONTOSO", "Jürgen", "ユーザー", "a\U0001F600b"} {
		u := utf16.Encode([]rune(want))
		b := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		if got := decodeString(b, true); got != want {
			t.Errorf("decodeString(%q as UTF-16) = %q", want, got)
		}
		if got := decodeString(append(b, 'x'), true); got != want {
			t.Errorf("decodeString(%q with an odd byte) = %q", want, got)
		}
	}
}
