package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/internal/report"
)

// domainFlags is --domain NETBIOS=dns.realm (repeatable): a NetBIOS domain
// and its DNS name, so that DOMAIN\user (NTLM) and user@REALM (Kerberos)
// count as one account even when nothing in the capture pairs them
// (docs/analysis.md, "Accounts"): on analyze and sessions for the
// analyzer, on calls to rename its rows as analyze's show them.
type domainFlags struct {
	vals *[]string
	doms []analyze.Domain
}

func addDomainFlags(fs *pflag.FlagSet) *domainFlags {
	return &domainFlags{vals: fs.StringArray("domain", nil, "NETBIOS=dns.realm: DOMAIN\\user and user@REALM of this domain are one account (repeatable)")}
}

func (d *domainFlags) check() error {
	for _, v := range *d.vals {
		nb, dns, ok := strings.Cut(v, "=")
		nb, dns = strings.TrimSpace(nb), strings.TrimSpace(dns)
		if !ok || nb == "" || dns == "" || strings.ContainsAny(nb, `\@.= `) || strings.ContainsAny(dns, `\@= `) {
			return &usageError{fmt.Sprintf("--domain %q: want NETBIOS=dns.realm, e.g. CONTOSO=contoso.local", v)}
		}
		d.doms = append(d.doms, analyze.Domain{NetBIOS: nb, DNS: dns})
	}
	return nil
}

func (d *domainFlags) apply(o *analyze.Options) { o.Domains = append(o.Domains, d.doms...) }

// maxCallNames bounds the names callRenamer remembers; when full it starts
// again.
const maxCallNames = 4096

// callRenamer renames the user of `calls` rows that a --domain covers as
// analyze's rows show it: DOMAIN\user, with upn user@REALM. Only with
// --domain given; then each distinct name is worked out once, and a row
// costs one map lookup.
type callRenamer struct {
	acc  *analyze.Accounts
	seen map[string]renamed
}

type renamed struct {
	show *string // nil: no domain covers the name
	upn  string
}

// renamer returns nil when no --domain was given.
func (d *domainFlags) renamer() *callRenamer {
	if len(d.doms) == 0 {
		return nil
	}
	return &callRenamer{acc: analyze.NewAccounts(d.doms), seen: map[string]renamed{}}
}

// rename renames row's user in place (the row is the caller's copy).
func (n *callRenamer) rename(row *report.CallRow) {
	if row.User == nil {
		return
	}
	x, ok := n.seen[*row.User]
	if !ok {
		if show, upn, ok := n.acc.Name(*row.User); ok {
			x = renamed{show: &show, upn: upn}
		}
		if len(n.seen) >= maxCallNames {
			clear(n.seen)
		}
		n.seen[*row.User] = x
	}
	if x.show != nil {
		row.User, row.UPN = x.show, x.upn
	}
}
