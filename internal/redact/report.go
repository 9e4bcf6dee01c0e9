package redact

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/nspicap/nspicap/analyze"
)

// fields are pointers to the strings of a report, by what they hold.
type fields struct {
	addrs, ids, dns, hosts, tickets, texts []*string
}

func ns(p *analyze.NullString) *string { return (*string)(p) }

// fieldsOf lists the strings of r that name someone. A streamed report's
// sessions and refusals are not reached: redact a report built whole.
func fieldsOf(r *analyze.Report) *fields {
	f := &fields{}
	addr := func(p ...*string) { f.addrs = append(f.addrs, p...) }
	id := func(p *string) { f.ids = append(f.ids, p) }
	for i := range r.Verdict {
		f.texts = append(f.texts, &r.Verdict[i])
	}
	for i := range r.Inputs {
		for j := range r.Inputs[i].Warnings {
			f.texts = append(f.texts, &r.Inputs[i].Warnings[j])
		}
	}
	account := func(a *analyze.AccountIdentity) {
		id(ns(&a.UPN))
		f.tickets = append(f.tickets, &a.Ticket)
	}
	for i := range r.Users {
		x := &r.Users[i]
		addr(&x.Server)
		id(ns(&x.User))
		account(&x.AccountIdentity)
	}
	for i := range r.Clients {
		x := &r.Clients[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
	}
	for i := range r.Sessions {
		x := &r.Sessions[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
		id(ns(&x.User))
	}
	for i := range r.Refusals {
		x := &r.Refusals[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
		id(ns(&x.User))
	}
	for i := range r.EMSMDBUsers {
		x := &r.EMSMDBUsers[i]
		addr(&x.Server)
		id(ns(&x.User))
		f.dns = append(f.dns, &x.UserDN)
	}
	for i := range r.EMSMDBClients {
		x := &r.EMSMDBClients[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
	}
	for i := range r.EMSMDBSessions {
		x := &r.EMSMDBSessions[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
		id(ns(&x.User))
		f.dns = append(f.dns, &x.UserDN)
	}
	for i := range r.Referrals {
		x := &r.Referrals[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
		id(ns(&x.User))
		f.dns = append(f.dns, &x.DN)
		f.hosts = append(f.hosts, &x.ReferredTo)
	}
	for i := range r.Timeline {
		x := &r.Timeline[i]
		addr(&x.Server, &x.Client, &x.ClientAddress)
		id(ns(&x.User))
		f.tickets = append(f.tickets, &x.Ticket)
	}
	for i := range r.Findings {
		x := &r.Findings[i]
		addr(ns(&x.Server), ns(&x.Client), &x.ClientAddress)
		id(ns(&x.User))
		account(&x.AccountIdentity)
		f.texts = append(f.texts, &x.Message)
	}
	for i := range r.Anomalies {
		f.texts = append(f.texts, &r.Anomalies[i].Message)
	}
	if r.Evidence != nil {
		for i := range r.Evidence.Cuts {
			id(ns(&r.Evidence.Cuts[i].User))
		}
	}
	return f
}

// Report replaces, in place, every user, domain, realm, host name and
// address of r by its pseudonym, in the structured fields and in the
// sentences (verdict, finding messages, input warnings, anomalies). Counts,
// frames, statuses, kinds and the input paths are kept. The names are given
// their pseudonyms in sorted order, so that the rare collisions resolve the
// same way for the same set of names. r must be built whole
// (analyze.Analyzer.Report), not streamed. extra are identities outside r
// that other output (warnings) names: they get their pseudonyms with r's.
func (rd *Redactor) Report(r *analyze.Report, extra ...string) {
	f := fieldsOf(r)
	for i := range extra {
		f.ids = append(f.ids, &extra[i])
	}
	rd.prepare(f)
	for _, p := range f.addrs {
		*p = rd.AddrString(*p)
	}
	for _, p := range f.ids {
		*p = rd.Identity(*p)
	}
	for _, p := range f.dns {
		*p = rd.DN(*p)
	}
	for _, p := range f.hosts {
		*p = rd.Host(*p)
	}
	for _, p := range f.tickets {
		*p = rd.Ticket(*p)
	}
	for _, p := range f.texts {
		*p = rd.Text(*p)
	}
}

// prepare makes every address of the input one to avoid and registers the
// names in sorted order.
func (rd *Redactor) prepare(f *fields) {
	var addrs []netip.Addr
	note := func(a netip.Addr) {
		rd.Avoid(a)
		addrs = append(addrs, a.Unmap())
	}
	for _, p := range f.addrs {
		if a, err := netip.ParseAddr(*p); err == nil {
			note(a)
		} else if ap, err := netip.ParseAddrPort(*p); err == nil {
			note(ap.Addr())
		}
	}
	for _, p := range f.hosts {
		if a, err := netip.ParseAddr(*p); err == nil {
			note(a)
		}
	}
	for _, p := range f.texts {
		rd.literals(*p, note)
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	for _, a := range addrs {
		rd.Addr(a)
	}
	for _, l := range []struct {
		ps []*string
		fn func(string) string
	}{{f.ids, rd.Identity}, {f.dns, rd.DN}, {f.hosts, rd.Host}, {f.tickets, rd.Ticket}} {
		var ss []string
		for _, p := range l.ps {
			ss = append(ss, *p)
		}
		slices.SortFunc(ss, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		for _, s := range ss {
			l.fn(s)
		}
	}
}
