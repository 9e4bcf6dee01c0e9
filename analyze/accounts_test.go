package analyze

import (
	"strings"
	"testing"
)

// krb makes a call Kerberos: by user (user@REALM) or, for "", by ticket.
func krb(ticket string) mod {
	return func(e *NSPICall) {
		e.Auth, e.AuthLevel, e.Anonymous = "kerberos", "privacy", false
		if e.User == "" {
			e.Origin = &Origin{Ticket: ticket}
		}
	}
}

func ntlmFrom(e *NSPICall) {
	e.Origin = &Origin{From: IdentityFromNTLM, FromFrame: FrameRef{File: "t.pcap", Frame: 1}}
}

func reportWith(g *gen, limit int, doms ...Domain) *Report {
	a := New(Options{Limit: limit, Domains: doms})
	for _, e := range g.evs {
		a.Add(e)
	}
	return a.Report([]Input{{Path: g.file, Format: "pcapng", Packets: g.frame}})
}

const tkA = "exchangeAB/dc01.contoso.local#1a2b3c4d"

// TestTicketAccounts: the calls of one ticket are one account (a limit and
// a leak of one account, named by the ticket, with the advice), two
// tickets two accounts, and nothing says anonymous.
func TestTicketAccounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		tickets []string // the ticket of each of the 8 binds
		limit   bool     // a session_limit for tkA
	}{
		{"one ticket", []string{tkA, tkA, tkA, tkA, tkA, tkA, tkA, tkA}, true},
		{"two tickets", []string{tkA, "exchangeAB/dc01.contoso.local#99999999", tkA, "exchangeAB/dc01.contoso.local#99999999", tkA, "exchangeAB/dc01.contoso.local#99999999", tkA, "exchangeAB/dc01.contoso.local#99999999"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGen()
			for i, tk := range c.tickets {
				if i < 5 {
					g.ok(uint64(i+1), cl1, srv1, "", i+1, krb(tk))
				} else {
					g.refused(uint64(i+1), cl1, srv1, "", krb(tk))
				}
			}
			r := g.report(5)
			all := strings.Join(r.Verdict, " ")
			for _, f := range r.Findings {
				all += " " + f.Message
				if f.Kind == KindLeak && f.Client != "" && f.User == "" && f.Ticket == "" {
					t.Errorf("an anonymous leak: %s", f.Message)
				}
			}
			if strings.Contains(strings.ToLower(all), "anonymous") || strings.Contains(all, "unidentified") {
				t.Errorf("anonymous or unidentified said: %s", all)
			}
			lims := findings(r, KindSessionLimit)
			if c.limit {
				if len(lims) != 1 || lims[0].Ticket != tkA || lims[0].User != "" || !strings.Contains(lims[0].Message, "klist purge") {
					t.Fatalf("session_limit: %+v", lims)
				}
				if !strings.HasPrefix(r.Verdict[0], "Kerberos user, ticket for exchangeAB/dc01.contoso.local issued before the capture (#1a2b3c4d) ") {
					t.Errorf("verdict: %q", r.Verdict[0])
				}
				leaks := findings(r, KindLeak)
				if len(leaks) != 1 || leaks[0].Ticket != tkA || leaks[0].Count != 5 {
					t.Errorf("leak: %+v", leaks)
				}
			} else if len(lims) != 0 {
				t.Errorf("two tickets of 4 binds each hit no limit of 5: %+v", lims)
			}
			rows := 0
			for _, u := range r.Users {
				if u.User != "" || u.Ticket == "" {
					t.Errorf("row %+v", u)
				}
				rows++
			}
			if want := map[bool]int{true: 1, false: 2}[c.limit]; rows != want {
				t.Errorf("%d rows, want %d", rows, want)
			}
		})
	}
}

// TestAnonymousStaysAnonymous: an unauthenticated bind is still anonymous
// and its leak is said so.
func TestAnonymousStaysAnonymous(t *testing.T) {
	g := newGen()
	for i := 1; i <= 4; i++ {
		g.ok(uint64(i), cl1, srv1, "", i)
	}
	r := g.report(50)
	if len(r.Verdict) == 0 || !strings.Contains(r.Verdict[0], "leaks anonymous NSPI sessions") {
		t.Errorf("verdict: %q", r.Verdict)
	}
}

// TestAccountAliases: DOMAIN\user and user@REALM are one account (one row,
// one count toward the limit) once the pair is known: learned before the
// binds, after both names were seen, after one was, or given; two rows
// without it.
func TestAccountAliases(t *testing.T) {
	alias := func(g *gen) {
		f, tm := g.next()
		g.evs = append(g.evs, &DomainAlias{Meta: Meta{Time: tm, Frame: f}, NetBIOS: "CONTOSO", DNS: "contoso.local"})
	}
	ntlm := func(g *gen, from, n int) {
		for i := from; i < from+n; i++ {
			g.ok(uint64(i), cl1, srv1, `CONTOSO\Svc-Sync`, i, ntlmFrom)
		}
	}
	kerb := func(g *gen, from, n int, refusedFrom int) {
		for i := from; i < from+n; i++ {
			if i >= refusedFrom {
				g.refused(uint64(i), cl2, srv1, "svc-sync@CONTOSO.LOCAL", krb(""))
				continue
			}
			g.ok(uint64(i), cl2, srv1, "svc-sync@CONTOSO.LOCAL", i, krb(""))
		}
	}
	for _, c := range []struct {
		name  string
		build func(g *gen)
		doms  []Domain
		one   bool
		limit bool // the Kerberos refusals count the NTLM sessions
	}{
		{"alias first", func(g *gen) { alias(g); ntlm(g, 1, 3); kerb(g, 4, 4, 6) }, nil, true, true},
		{"--domain", func(g *gen) { ntlm(g, 1, 3); kerb(g, 4, 4, 6) }, []Domain{{"contoso", "CONTOSO.local"}}, true, true},
		{"kerberos first, alias before ntlm", func(g *gen) { kerb(g, 1, 2, 99); alias(g); ntlm(g, 3, 3) }, nil, true, false},
		{"alias after both", func(g *gen) { ntlm(g, 1, 3); kerb(g, 4, 2, 99); alias(g) }, nil, true, false},
		{"no alias", func(g *gen) { ntlm(g, 1, 3); kerb(g, 4, 4, 6) }, nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGen()
			c.build(g)
			r := reportWith(g, 5, c.doms...)
			if !c.one {
				if len(r.Users) != 2 || len(findings(r, KindSessionLimit)) != 0 {
					t.Errorf("rows %+v, limits %+v", r.Users, findings(r, KindSessionLimit))
				}
				return
			}
			if len(r.Users) != 1 {
				t.Fatalf("rows: %+v", r.Users)
			}
			u := r.Users[0]
			if u.User != `CONTOSO\Svc-Sync` && u.User != `CONTOSO\svc-sync` || !strings.EqualFold(string(u.UPN), "svc-sync@CONTOSO.LOCAL") {
				t.Errorf("row names %q upn %q", u.User, u.UPN)
			}
			if u.IdentityFrom != IdentityFromNTLM || u.IdentityFrame == nil {
				t.Errorf("identity_from %q %v", u.IdentityFrom, u.IdentityFrame)
			}
			if got := 0; true {
				for _, e := range g.evs {
					if b, ok := e.(*NSPICall); ok && b.Op == OpOpen {
						got++
					}
				}
				if u.Binds != got {
					t.Errorf("binds %d, want %d", u.Binds, got)
				}
			}
			lims := findings(r, KindSessionLimit)
			if c.limit {
				if len(lims) != 1 || !strings.Contains(lims[0].Message, "while it held 5 sessions") || !strings.HasPrefix(string(lims[0].User), `CONTOSO\`) {
					t.Errorf("session_limit: %+v", lims)
				}
			}
			for _, s := range r.Sessions {
				if !strings.HasPrefix(string(s.User), `CONTOSO\`) {
					t.Errorf("session user %q", s.User)
				}
			}
		})
	}
}

// TestAccountsName: Accounts names users by the analyzer's rule, for the
// given domains only.
func TestAccountsName(t *testing.T) {
	a := NewAccounts([]Domain{{"CONTOSO", "contoso.example."}, {"contoso2", "contoso.example"}, {"BAD@NAME", "x.example"}})
	for _, c := range []struct{ user, show, upn string }{
		{"alice@CONTOSO.EXAMPLE", `CONTOSO\alice`, "alice@CONTOSO.EXAMPLE"},
		{"bob@contoso.example", `CONTOSO\bob`, "bob@contoso.example"},
		{`contoso\carol`, `contoso\carol`, "carol@CONTOSO.EXAMPLE"},
		{`FABRIKAM\dave`, "", ""},
		{"erin@FABRIKAM.EXAMPLE", "", ""},
		{`CONTOSO\`, "", ""},
		{"frank@X.EXAMPLE", "", ""},
		{"grace", "", ""},
	} {
		show, upn, ok := a.Name(c.user)
		if show != c.show || upn != c.upn || ok != (c.show != "") {
			t.Errorf("%q: %q %q %v, want %q %q", c.user, show, upn, ok, c.show, c.upn)
		}
	}
}
