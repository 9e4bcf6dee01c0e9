package kerberos_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/nspicap/nspicap/internal/synth"
	"github.com/nspicap/nspicap/kerberos"
)

const realm = "CONTOSO.EXAMPLE"

// messages builds one message of every form the generator writes.
func messages(t testing.TB) (c *synth.Capture, tkt *synth.KrbTicket, m map[string][]byte) {
	c = synth.NewCapture("kerberos-test")
	tkt = c.IssueTicket("alice", synth.KrbSvc, synth.EtypeAES256, synth.EtypeAES256)
	self := c.IssueTicket("erin", synth.KrbSvcEx01, synth.EtypeAES256, synth.EtypeAES256)
	m = map[string][]byte{
		"as-req":           c.KrbASReq("alice", realm, false),
		"as-req-preauth":   c.KrbASReq("alice", realm, true),
		"as-rep":           c.KrbASRep("alice", realm),
		"tgs-req":          c.KrbTGSReq(realm, synth.KrbSvc.Principal, synth.S4U{}),
		"tgs-req-s4uself":  c.KrbTGSReq(realm, synth.KrbSvcEx01.Principal, synth.S4U{ForUser: "erin@" + realm}),
		"tgs-req-proxy":    c.KrbTGSReq(realm, synth.KrbSvc.Principal, synth.S4U{Evidence: &self.Ticket}),
		"tgs-rep":          c.KrbTGSRep(tkt),
		"krb-error":        c.KrbError(18, "mallory", realm, "krbtgt/"+realm),
		"krb-error-noname": c.KrbError(37, "", realm, synth.KrbSvc.Principal),
	}
	ctx, err := synth.NewKrbContext(synth.KrbSpec{User: "alice", Svc: synth.KrbSvc, Etype: synth.EtypeAES256,
		SessionEtype: synth.EtypeAES256, AuthType: synth.AuthTypeSPNEGO, Issued: tkt}, synth.Start, 1)
	if err != nil {
		t.Fatal(err)
	}
	m["ap-req"] = ctx.APReq
	// FAST (RFC 6113) and the anonymous principal (RFC 6112).
	anonRep, anonTGT := c.KrbASRepAnonymous(realm)
	m["as-req-anonymous"] = c.KrbASReqAnonymous(realm)
	m["as-rep-anonymous"] = anonRep
	m["as-req-fast"] = c.KrbASReqFAST("alice", realm, anonTGT)
	m["as-rep-fast"] = c.KrbASRepFAST("alice", realm)
	m["tgs-req-fast"] = c.KrbTGSReqFAST(realm, synth.KrbSvc.Principal, nil)
	m["tgs-req-fast-armor"] = c.KrbTGSReqFAST(realm, synth.KrbSvc.Principal, &anonTGT)
	m["tgs-rep-fast"] = c.KrbTGSRepFAST(tkt, synth.ShowClient)
	m["tgs-rep-fast-anonymous"] = c.KrbTGSRepFAST(tkt, synth.HideAnonymous)
	m["tgs-rep-fast-empty"] = c.KrbTGSRepFAST(tkt, synth.HideEmpty)
	m["krb-error-anonymous"] = c.KrbError(6, synth.AnonymousName, realm, "krbtgt/"+realm)
	return c, tkt, m
}

func TestDecodeForms(t *testing.T) {
	_, tkt, ms := messages(t)
	sum := sha256.Sum256(tkt.Ticket.EncPart.Cipher)
	wantLabel := synth.KrbSvc.Principal + "#" + hex.EncodeToString(sum[:4])
	for name, b := range ms {
		m, err := kerberos.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch name {
		case "as-req", "as-req-preauth":
			if m.Type != kerberos.ASReq || m.Client() != "alice@"+realm || m.SName != "krbtgt/"+realm {
				t.Errorf("%s: %+v", name, m)
			}
		case "as-rep":
			if m.Type != kerberos.ASRep || m.Client() != "alice@"+realm || m.Ticket.SName != "krbtgt/"+realm || m.Ticket.EType != 18 {
				t.Errorf("%s: %+v", name, m)
			}
		case "tgs-req":
			if m.Type != kerberos.TGSReq || m.SName != synth.KrbSvc.Principal || m.ForUser != "" || m.Proxy {
				t.Errorf("%s: %+v", name, m)
			}
		case "tgs-req-s4uself":
			if m.ForUser != "erin@"+realm || m.Proxy || m.SName != synth.KrbSvcEx01.Principal {
				t.Errorf("%s: %+v", name, m)
			}
		case "tgs-req-proxy":
			if !m.Proxy || m.Evidence.SName != synth.KrbSvcEx01.Principal || m.ForUser != "" {
				t.Errorf("%s: %+v", name, m)
			}
		case "tgs-rep", "ap-req":
			want := kerberos.TGSRep
			if name == "ap-req" {
				want = kerberos.APReq
			} else if m.Client() != "alice@"+realm {
				t.Errorf("%s: client %q", name, m.Client())
			}
			if m.Type != want || m.Ticket.SName != synth.KrbSvc.Principal || m.Ticket.Realm != realm ||
				m.Ticket.KVNO != int(synth.KrbSvc.KVNO) || m.Ticket.Label() != wantLabel || m.Ticket.CipherLen != len(tkt.Ticket.EncPart.Cipher) {
				t.Errorf("%s: %+v (label want %s)", name, m.Ticket, wantLabel)
			}
		case "krb-error":
			if m.Type != kerberos.KRBError || m.ErrorCode != 18 || m.Client() != "mallory@"+realm || kerberos.ErrorName(18) != "KDC_ERR_CLIENT_REVOKED" {
				t.Errorf("%s: %+v", name, m)
			}
		case "krb-error-noname":
			if m.ErrorCode != 37 || m.Client() != "" || m.SName != synth.KrbSvc.Principal || kerberos.Routine(37) || m.Hidden {
				t.Errorf("%s: %+v", name, m)
			}
		case "as-req-anonymous", "as-rep-anonymous", "krb-error-anonymous":
			// The anonymous principal names nobody.
			if m.Client() != "" || m.CName != "" || !m.Hidden || m.Armored {
				t.Errorf("%s: %+v", name, m)
			}
		case "as-req-fast", "tgs-req-fast", "tgs-req-fast-armor":
			if !m.Armored || m.Hidden || m.Type == kerberos.ASReq && m.Client() != "alice@"+realm ||
				m.Type == kerberos.TGSReq && (m.SName != synth.KrbSvc.Principal || m.ForUser != "" || m.Proxy) {
				t.Errorf("%s: %+v", name, m)
			}
		case "as-rep-fast", "tgs-rep-fast":
			// The outer reply of an armored exchange names the client.
			if !m.Armored || m.Hidden || m.Client() != "alice@"+realm {
				t.Errorf("%s: %+v", name, m)
			}
			if name == "tgs-rep-fast" && m.Ticket.Label() != wantLabel {
				t.Errorf("%s: ticket %+v", name, m.Ticket)
			}
		case "tgs-rep-fast-anonymous", "tgs-rep-fast-empty":
			// The client asked the KDC to hide its name: the ticket is
			// read, nobody is named.
			if !m.Armored || !m.Hidden || m.Client() != "" || m.Ticket.Label() != wantLabel {
				t.Errorf("%s: %+v", name, m)
			}
		default:
			if m.Armored || m.Hidden {
				t.Errorf("%s: armored %v hidden %v", name, m.Armored, m.Hidden)
			}
		}
	}
	if !kerberos.Routine(25) || kerberos.ErrorName(999) != "error 999" {
		t.Error("routine codes or names")
	}
}

// The ticket of an AP-REQ in a DCE/RPC bind is the one the TGS-REP issued:
// same key, raw and GSS-framed.
func TestAPReqTicket(t *testing.T) {
	_, tkt, ms := messages(t)
	rep, _ := kerberos.Decode(ms["tgs-rep"])
	raw, ok := kerberos.APReqTicket(ms["ap-req"])
	if !ok || raw.Key != rep.Ticket.Key {
		t.Fatalf("raw AP-REQ: ok %v, key %x, want %x", ok, raw.Key, rep.Ticket.Key)
	}
	gss := synth.GSSKrb5(ms["ap-req"])
	g, ok := kerberos.APReqTicket(gss)
	if !ok || g.Key != raw.Key {
		t.Fatalf("GSS AP-REQ: ok %v", ok)
	}
	for _, b := range [][]byte{ms["tgs-rep"], ms["krb-error"], nil, {0x60, 0x03, 0x06, 0x01, 0x00}} {
		if _, ok := kerberos.APReqTicket(b); ok {
			t.Errorf("APReqTicket(% x...) ok", b[:min(len(b), 4)])
		}
	}
	_ = tkt
}

// Every prefix of every message fails with ErrMalformed, never a panic.
func TestDecodeTruncated(t *testing.T) {
	_, _, ms := messages(t)
	for name, b := range ms {
		for n := 0; n < len(b); n++ {
			if _, err := kerberos.Decode(b[:n]); err == nil || !errors.Is(err, kerberos.ErrMalformed) {
				t.Fatalf("%s cut at %d: err %v", name, n, err)
			}
		}
	}
	if _, err := kerberos.Decode(bytes.Repeat([]byte{0x6d}, kerberos.MaxMessage+1)); err == nil {
		t.Error("oversized message decoded")
	}
}

func TestRecordLen(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		n    int
		fail bool
	}{
		{[]byte{0, 0, 1, 0}, 256, false},
		{[]byte{0x80, 0, 0, 4}, 0, true},
		{[]byte{0, 0, 0, 0}, 0, true},
		{[]byte{0, 0x10, 0, 0}, 0, true},
	} {
		n, err := kerberos.RecordLen(c.b)
		if (err != nil) != c.fail || n != c.n {
			t.Errorf("RecordLen(% x) = %d, %v", c.b, n, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	_, _, ms := messages(f)
	for _, b := range ms {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := kerberos.Decode(b)
		if err == nil && m == nil {
			t.Fatal("nil message without error")
		}
		kerberos.APReqTicket(b)
	})
}

// APReqTicket walks the DER itself; it must read the ticket exactly as
// Decode (gokrb5's types) does, and fail on every prefix of the message.
func TestAPReqTicketAgrees(t *testing.T) {
	_, _, ms := messages(t)
	b := ms["ap-req"]
	m, err := kerberos.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := kerberos.APReqTicket(b)
	if !ok || got != m.Ticket {
		t.Fatalf("APReqTicket %+v (ok %v), Decode %+v", got, ok, m.Ticket)
	}
	if got.SName == "" || got.Realm == "" || got.CipherLen == 0 {
		t.Fatalf("empty fields: %+v", got)
	}
	for n := 0; n < len(b); n++ {
		if _, ok := kerberos.APReqTicket(b[:n]); ok {
			t.Fatalf("cut at %d: read", n)
		}
	}
}

func FuzzAPReqTicket(f *testing.F) {
	_, _, ms := messages(f)
	for _, b := range ms {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := kerberos.APReqTicket(b)
		m, err := kerberos.Decode(b)
		if err == nil && m.Type == kerberos.APReq && len(b) > 0 && b[0] == 0x6e {
			if !ok || got != m.Ticket {
				t.Fatalf("APReqTicket %+v (ok %v), Decode %+v", got, ok, m.Ticket)
			}
		}
	})
}
