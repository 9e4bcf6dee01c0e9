package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/synth"
)

// accountsServer is the DC of the captures built here.
var accountsServer = netip.MustParseAddr("198.51.100.20")

// accountConn opens a connection from 192.0.2.n to the DC's NSPI port.
func accountConn(c *synth.Capture, n byte, port uint16) *synth.RPC {
	cn := c.NewConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, n}), port), netip.AddrPortFrom(accountsServer, synth.NSPIPort))
	cn.Open()
	return c.NewRPC(cn, 1)
}

func accountBindSpec(assoc uint32, auth string, cr synth.Creds) synth.BindSpec {
	return synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), Auth: auth, Creds: cr, Target: synth.DC01,
		NewAssoc: assoc, SecAddr: fmt.Sprint(synth.NSPIPort)}
}

// svcTicket is the one ticket of svc-sync@CONTOSO.EXAMPLE for the
// exchangeAB service, issued an hour before the capture.
func svcTicket(clear bool) synth.KrbSpec {
	return synth.KrbSpec{User: "svc-sync", Svc: synth.KrbSvc, Etype: synth.EtypeAES256, SessionEtype: synth.EtypeAES256,
		AuthType: synth.AuthTypeSPNEGO, Clear: clear, TicketSeed: 0x5e7c, TicketAuth: synth.Start.Add(-time.Hour)}
}

// ticketLimitCapture writes the capture of issue 19: a service account
// with one Kerberos ticket (issued before the capture, no keytab) binds 60
// times over sealed connections and never unbinds; the DC refuses the
// binds from the 51st on, and the client closes those connections.
func ticketLimitCapture(t *testing.T, dir string) string {
	t.Helper()
	c := synth.NewCapture("ticket-limit")
	for i := range 60 {
		r := accountConn(c, 94, 50000+uint16(i))
		r.KerberosBind(accountBindSpec(0x3000+uint32(i), synth.AuthKerberos, synth.Creds{}), svcTicket(false))
		if i < 50 {
			h := r.NspiBind(synth.BindResult{Status: synth.StatusSuccess, ClientGUID: &synth.UUID{}})
			r.NspiQueryRows(h, 0, 0)
		} else {
			r.NspiBind(synth.BindResult{Status: synth.StatusLogonFailed, ClientGUID: &synth.UUID{}})
			r.C.CloseFIN(synth.C2S)
		}
		c.Advance(10 * time.Second)
	}
	return writeCapture(t, c, dir, "ticket-limit.pcap")
}

func writeCapture(t *testing.T, c *synth.Capture, dir, name string) string {
	t.Helper()
	data, err := c.Encode(synth.FormatPcap, []synth.Interface{{Name: "eth0", Link: synth.LinkEthernet, TSResol: 6}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTicketLimitNoKeytab: the capture without a keytab. The
// verdict names one unnamed Kerberos account by its ticket, with the
// advice, and never says anonymous or unidentified; the JSON row carries
// the ticket.
func TestTicketLimitNoKeytab(t *testing.T) {
	path := ticketLimitCapture(t, t.TempDir())
	out, errOut, code := nspicap(t, "analyze", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	verdict := out[:strings.Index(out, "FINDINGS")]
	if !strings.Contains(verdict, "Kerberos user, ticket for exchangeAB/dc01.contoso.example issued before the") || !strings.Contains(verdict, "klist purge") {
		t.Errorf("verdict:\n%s", verdict)
	}
	if strings.Contains(strings.ToLower(out), "anonymous") || strings.Contains(out, "unidentified") {
		t.Errorf("anonymous or unidentified in:\n%s", out)
	}
	js, _, _ := nspicap(t, "analyze", "--format", "json", path)
	var r analyze.Report
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Users) != 1 || r.Users[0].Ticket == "" || r.Users[0].Binds != 60 || r.Users[0].BindsLogonFailed != 10 {
		t.Errorf("users: %+v", r.Users)
	}
	n := 0
	for _, f := range r.Findings {
		if f.Kind == analyze.KindSessionLimit || f.Kind == analyze.KindLeak {
			n++
			if f.Ticket != r.Users[0].Ticket || len(f.Frames) == 0 {
				t.Errorf("%s: ticket %q frames %v", f.Kind, f.Ticket, f.Frames)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d limit and leak findings, want 2", n)
	}
}

// TestOneAccountTwoWays: svc-sync binds 30 times over NTLM (CONTOSO\svc-sync,
// whose CHALLENGE pairs CONTOSO with contoso.example) and 30 times over
// Kerberos in clear (svc-sync@CONTOSO.EXAMPLE, named with the keytab): one
// row of 60 binds, and the DC's refusals from the 51st on are the session
// limit of that one account.
func TestOneAccountTwoWays(t *testing.T) {
	dir := t.TempDir()
	c := synth.NewCapture("two-ways")
	cr := synth.Creds{Domain: "CONTOSO", User: "svc-sync", Workstation: "SYNC01"}
	for i := range 60 {
		r := accountConn(c, 95, 51000+uint16(i))
		if i < 30 {
			r.Bind(accountBindSpec(0x4000+uint32(i), synth.AuthNTLM, cr))
		} else {
			r.KerberosBind(accountBindSpec(0x4000+uint32(i), synth.AuthKerberos, synth.Creds{}), svcTicket(true))
		}
		if i < 50 {
			h := r.NspiBind(synth.BindResult{Status: synth.StatusSuccess, ClientGUID: &synth.UUID{}})
			r.NspiQueryRows(h, 0, 0)
		} else {
			r.NspiBind(synth.BindResult{Status: synth.StatusLogonFailed, ClientGUID: &synth.UUID{}})
			r.C.CloseFIN(synth.C2S)
		}
		c.Advance(10 * time.Second)
	}
	path := writeCapture(t, c, dir, "two-ways.pcap")
	kt := filepath.Join(dir, "svc.keytab")
	b, err := synth.KeytabBytes(synth.KrbSvc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kt, b, 0o600); err != nil {
		t.Fatal(err)
	}
	js, errOut, code := nspicap(t, "analyze", "--format", "json", "--keytab", kt, path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r analyze.Report
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Users) != 1 {
		t.Fatalf("users: %+v", r.Users)
	}
	u := r.Users[0]
	if u.User != `CONTOSO\svc-sync` || u.UPN != "svc-sync@CONTOSO.EXAMPLE" || u.Binds != 60 || u.BindsLogonFailed != 10 || u.IdentityFrom != analyze.IdentityFromNTLM || u.IdentityFrame == nil {
		t.Errorf("row: %+v", u)
	}
	var lim *analyze.Finding
	for i := range r.Findings {
		if r.Findings[i].Kind == analyze.KindSessionLimit {
			lim = &r.Findings[i]
		}
	}
	if lim == nil || lim.User != `CONTOSO\svc-sync` || !strings.Contains(lim.Message, "held 50 sessions") {
		t.Errorf("session_limit: %+v", lim)
	}
}
