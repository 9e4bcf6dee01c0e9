package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

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
		r.KerberosBind(accountBindSpec(0x3000+uint32(i), synth.AuthKerberos, synth.Creds{}), svcTicket(os.Getenv("CLEAR") != ""))
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

func TestTicketLimitRepro(t *testing.T) {
	path := ticketLimitCapture(t, t.TempDir())
	out, errOut, code := nspicap(t, "analyze", path)
	t.Logf("exit %d\n%s\n%s", code, out, errOut)
}
