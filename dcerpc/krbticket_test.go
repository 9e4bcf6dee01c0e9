package dcerpc

import (
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/internal/synth"
)

// TestKerberosTicketLabel: the label names the service and is the same for
// two AP-REQs with one ticket (each with its own authenticator), different
// for another ticket; GSS framing is read; anything else gives "".
func TestKerberosTicketLabel(t *testing.T) {
	tk := func(seed uint64) synth.KrbSpec {
		return synth.KrbSpec{User: "svc", Svc: synth.KrbSvc, Etype: synth.EtypeAES256, SessionEtype: synth.EtypeAES256,
			AuthType: synth.AuthTypeSPNEGO, TicketSeed: seed, TicketAuth: synth.Start}
	}
	apreq := func(k synth.KrbSpec, seed uint64) []byte {
		ctx, err := synth.NewKrbContext(k, synth.Start.Add(time.Duration(seed)*time.Second), seed)
		if err != nil {
			t.Fatal(err)
		}
		return ctx.APReq
	}
	a, b, other := apreq(tk(7), 1), apreq(tk(7), 2), apreq(tk(8), 3)
	la, lb, lo := KerberosTicketLabel(a), KerberosTicketLabel(b), KerberosTicketLabel(other)
	if !strings.HasPrefix(la, synth.KrbSvc.Principal+"#") || len(la) != len(synth.KrbSvc.Principal)+9 {
		t.Fatalf("label %q", la)
	}
	if string(a) == string(b) || la != lb {
		t.Errorf("one ticket, two AP-REQs: %q %q (tokens equal: %v)", la, lb, string(a) == string(b))
	}
	if lo == la || lo == "" {
		t.Errorf("another ticket: %q, first %q", lo, la)
	}
	// GSS-API framing (RFC 4121 4.1): [APPLICATION 0] OID, TOK_ID 01 00.
	inner := append(append([]byte{0x06, byte(len(synth.OIDKRB5) - 2)}, synth.OIDKRB5[2:]...), 0x01, 0x00)
	inner = append(inner, a...)
	gss := append([]byte{0x60, 0x82, byte(len(inner) >> 8), byte(len(inner))}, inner...)
	if g := KerberosTicketLabel(gss); g != la {
		t.Errorf("GSS-framed: %q, want %q", g, la)
	}
	for _, bad := range [][]byte{nil, {0x6e}, a[:len(a)/2], {0x60, 0x03, 0x06, 0x01, 0x00}, []byte("NTLMSSP\x00")} {
		if l := KerberosTicketLabel(bad); l != "" {
			t.Errorf("%x: %q", bad, l)
		}
	}
}

func FuzzKerberosTicketLabel(f *testing.F) {
	ctx, err := synth.NewKrbContext(synth.KrbSpec{User: "svc", Svc: synth.KrbSvc, Etype: synth.EtypeAES256, SessionEtype: synth.EtypeAES256,
		AuthType: synth.AuthTypeSPNEGO}, synth.Start, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ctx.APReq)
	f.Add(ctx.APRep)
	f.Fuzz(func(t *testing.T, b []byte) {
		if l := KerberosTicketLabel(b); l != "" && !strings.Contains(l, "#") {
			t.Fatalf("label %q", l)
		}
	})
}
