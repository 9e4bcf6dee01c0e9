package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// Clients behind an RPC proxy (RPC over HTTP): the proxy's sockets are the
// connections' clients, Meta.ClientAddress names the client behind it.
var (
	proxyA   = netip.MustParseAddrPort("10.0.0.5:60001")
	proxyB   = netip.MustParseAddrPort("10.0.0.5:60002")
	outsideA = netip.MustParseAddr("10.1.2.3")
	outsideB = netip.MustParseAddr("10.1.2.4")
	directA  = netip.AddrPortFrom(outsideA, 50001)
	directB  = netip.AddrPortFrom(outsideB, 50001)
)

// via marks a call as come over RPC over HTTP from the client behind the
// proxy.
func via(addr netip.Addr) mod {
	return func(e *NSPICall) { e.Transport, e.ClientAddress = TransportHTTP, addr }
}

// twoClients: the service account binds 4 sessions from client A and
// never unbinds them; from client B it binds and unbinds twice. Through the
// proxy when proxied, directly over TCP otherwise; same frames and times.
func twoClients(proxied bool) *gen {
	g := newGen()
	cA, cB := directA, directB
	var mA, mB []mod
	if proxied {
		cA, cB = proxyA, proxyB
		mA, mB = []mod{via(outsideA)}, []mod{via(outsideB)}
	}
	const svc = `CONTOSO\svc-crm`
	for i := 1; i <= 2; i++ {
		g.ok(2, cB, srv1, svc, 100+i, mB...)
		g.unbind(2, cB, srv1, svc, 100+i, mB...)
	}
	for i := 1; i <= 4; i++ {
		g.ok(1, cA, srv1, svc, i, mA...)
		g.use(1, cA, srv1, svc, i, mA...)
	}
	return g
}

// TestProxiedClients: behind one RPC proxy, each client is its own row,
// named with the proxy beside it; the leak finding and the verdict name the
// client that leaks; the numbers are those of the same clients over TCP.
func TestProxiedClients(t *testing.T) {
	tcp, px := twoClients(false).report(0), twoClients(true).report(0)

	// Per client: two rows, both of the proxy, told apart by the client
	// behind it, with the counters of the direct clients. (Ignoring
	// ClientAddress would give one row of 10.0.0.5 with both counts.)
	if len(px.Clients) != 2 {
		t.Fatalf("%d client rows, want one per client behind the proxy: %+v", len(px.Clients), px.Clients)
	}
	for i, want := range []struct {
		addr   netip.Addr
		direct netip.AddrPort
	}{{outsideA, directA}, {outsideB, directB}} {
		c := px.Clients[i]
		d := clientRow(tcp, "10.0.0.1", want.direct.Addr().String())
		if c.Client != "10.0.0.5" || c.ClientAddress != want.addr.String() || d == nil || c.Counters != d.Counters {
			t.Errorf("client row %d: %+v, want %s behind 10.0.0.5 with the counters of %+v", i, c, want.addr, d)
		}
	}
	if px.Totals != tcp.Totals || !slices.Equal(px.Users, tcp.Users) {
		t.Errorf("totals or users differ: proxy %+v %+v, tcp %+v %+v", px.Totals, px.Users, tcp.Totals, tcp.Users)
	}

	// The leak: same numbers, and it names the client behind the proxy.
	lt, lp := findings(tcp, KindLeak), findings(px, KindLeak)
	if len(lt) != 1 || len(lp) != 1 {
		t.Fatalf("leak findings: tcp %d, proxy %d", len(lt), len(lp))
	}
	f := lp[0]
	if f.Count != lt[0].Count || f.Severity != lt[0].Severity || f.RatePerHour != lt[0].RatePerHour || !slices.Equal(f.Frames, lt[0].Frames) {
		t.Errorf("leak differs:\ntcp   %+v\nproxy %+v", lt[0], f)
	}
	if f.Client != "10.0.0.5" || f.ClientAddress != "10.1.2.3" || !slices.Equal(f.Transports, []string{"ncacn_http"}) {
		t.Errorf("leak client %q client_address %q transports %v; want the proxy, 10.1.2.3, ncacn_http", f.Client, f.ClientAddress, f.Transports)
	}
	if !slices.Equal(lt[0].Transports, []string{"ncacn_ip_tcp"}) || lt[0].ClientAddress != "" {
		t.Errorf("direct leak: transports %v client_address %q", lt[0].Transports, lt[0].ClientAddress)
	}
	const from = "the sessions never unbound came from 10.1.2.3 (through the RPC proxy 10.0.0.5)"
	if !strings.Contains(f.Message, "The sessions never unbound came from 10.1.2.3 (through the RPC proxy 10.0.0.5).") ||
		strings.Replace(f.Message, " T"+from[1:]+".", "", 1) != lt[0].Message {
		t.Errorf("leak message:\n%s\nover TCP:\n%s", f.Message, lt[0].Message)
	}

	// The verdict: the same sentence, naming the client behind the proxy.
	if len(px.Verdict) != len(tcp.Verdict) || len(tcp.Verdict) == 0 {
		t.Fatalf("verdicts:\ntcp   %q\nproxy %q", tcp.Verdict, px.Verdict)
	}
	want := strings.TrimSuffix(tcp.Verdict[0], ".") + "; " + from + "."
	if px.Verdict[0] != want || !strings.HasPrefix(want, `CONTOSO\svc-crm leaks NSPI sessions: 6 binds, 2 unbinds, 4 still open at the end`) {
		t.Errorf("verdict %q, want %q", px.Verdict[0], want)
	}
	if !slices.Equal(px.Verdict[1:], tcp.Verdict[1:]) {
		t.Errorf("verdict tails differ:\ntcp   %q\nproxy %q", tcp.Verdict[1:], px.Verdict[1:])
	}

	// Sessions carry the client behind the proxy and the transport.
	for _, s := range px.Sessions {
		wantAddr := "10.1.2.4"
		if strings.HasSuffix(s.Client, ":60001") {
			wantAddr = "10.1.2.3"
		}
		if s.ClientAddress != wantAddr || s.Transport != "ncacn_http" || !strings.HasPrefix(s.Client, "10.0.0.5:") {
			t.Errorf("session %+v", s)
		}
	}
	for _, s := range tcp.Sessions {
		if s.ClientAddress != "" || s.Transport != "ncacn_ip_tcp" {
			t.Errorf("direct session %+v", s)
		}
	}
}

// TestProxiedAnonymousAndLimit: anonymous sessions are grouped per client
// behind the proxy, and the verdict names that client; a user refused at
// the limit through the proxy is named with the client its refused binds
// came from.
func TestProxiedAnonymousAndLimit(t *testing.T) {
	g := newGen()
	for i := 1; i <= 3; i++ {
		g.ok(1, proxyA, srv1, "", i, via(outsideA))
		g.ok(2, proxyB, srv1, "", 50+i, via(outsideB))
		g.unbind(2, proxyB, srv1, "", 50+i, via(outsideB))
	}
	for i := 1; i <= 3; i++ {
		g.ok(3, proxyB, srv1, "CONTOSO\\bob", 200+i, via(outsideB))
	}
	g.refused(3, proxyB, srv1, "CONTOSO\\bob", via(outsideB))
	r := g.report(3)
	v := strings.Join(r.Verdict, "\n")
	for _, want := range []string{
		"10.1.2.3 (through the RPC proxy 10.0.0.5) leaks anonymous NSPI sessions: 3 never unbound, up to 3 held at once.",
		"; the sessions never unbound came from 10.1.2.4 (through the RPC proxy 10.0.0.5).",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "10.1.2.4 (through the RPC proxy 10.0.0.5) leaks anonymous") {
		t.Errorf("client B unbound its anonymous sessions:\n%s", v)
	}
	for _, f := range findings(r, KindSessionLimit) {
		if f.ClientAddress != "10.1.2.4" || f.Client != "10.0.0.5" {
			t.Errorf("session_limit client %q client_address %q", f.Client, f.ClientAddress)
		}
	}
	for _, x := range r.Refusals {
		if x.ClientAddress != "10.1.2.4" || x.Transport != "ncacn_http" {
			t.Errorf("refusal %+v", x)
		}
	}
}

// TestTransportsMixed: a finding made of calls over several transports
// lists them all, in a fixed order.
func TestTransportsMixed(t *testing.T) {
	np := func(e *NSPICall) { e.Transport = TransportNP }
	g := newGen()
	g.ok(1, cl1, srv1, "CONTOSO\\eve", 1, np)
	g.ok(2, cl1b, srv1, "CONTOSO\\eve", 2)
	g.ok(3, cl1, srv1, "CONTOSO\\eve", 3, via(outsideA))
	r := g.report(0)
	fs := findings(r, KindLeak)
	if len(fs) != 1 || !slices.Equal(fs[0].Transports, []string{"ncacn_ip_tcp", "ncacn_np", "ncacn_http"}) {
		t.Fatalf("leak findings %+v", fs)
	}
	if fs[0].ClientAddress != "" {
		t.Errorf("sessions from several clients: client_address %q", fs[0].ClientAddress)
	}
}
