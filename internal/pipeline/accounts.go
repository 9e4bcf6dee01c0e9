package pipeline

import (
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
)

// Accounts: what the analyzer needs to count one account as one, whatever
// names it (analyze/accounts.go): the NetBIOS and DNS names of a domain
// that NTLM CHALLENGEs pair. (What named a call's user, and the ticket of a
// Kerberos call whose user is not known, come with its security context:
// dcerpc.Origin, kdc.go.)

// maxAliasesSent bounds the domain pairs the runner remembers sending.
const maxAliasesSent = 64

// domainAlias sends the analyzer the NetBIOS and DNS names of a domain
// that an NTLM CHALLENGE paired, once per pair.
func (r *runner) domainAlias(m *dcerpc.ConnMeta, nb, dns string, pos dcerpc.Pos) {
	if nb == "" || dns == "" {
		return
	}
	for _, a := range r.aliasesSent {
		if strings.EqualFold(a[0], nb) && strings.EqualFold(a[1], dns) {
			return
		}
	}
	if len(r.aliasesSent) >= maxAliasesSent {
		return
	}
	r.aliasesSent = append(r.aliasesSent, [2]string{nb, dns})
	r.sendEvent(&analyze.DomainAlias{
		Meta:    analyze.Meta{Time: pos.Time, Frame: r.ref(pos), Client: m.Client, Server: m.Server},
		NetBIOS: nb, DNS: dns,
	})
}
