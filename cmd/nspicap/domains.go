package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/nspicap/nspicap/analyze"
)

// domainFlags is --domain NETBIOS=dns.realm (repeatable): a NetBIOS domain
// and its DNS name, so that DOMAIN\user (NTLM) and user@REALM (Kerberos)
// count as one account even when no NTLM CHALLENGE in the capture pairs
// them (docs/analysis.md, "Accounts").
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
