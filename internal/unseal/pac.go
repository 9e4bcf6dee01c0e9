package unseal

import (
	"strings"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/nspicap/nspicap/kerberos"
)

// The PAC of a decrypted ticket (MS-PAC): its logon information names the
// NetBIOS domain of the client, its UPN_DNS_INFO the DNS domain; the pair
// lets the analyzer count DOMAIN\user (NTLM) and user@REALM (Kerberos) as
// one account (dcerpc.DomainTeller). A service account binds again and
// again with one ticket: the PAC of each ticket is read once, at the first
// AP-REQ that carries it, and never per call.

// maxPACTickets bounds the tickets whose PAC the Unsealer remembers having
// read (16 bytes each and a map slot: about 200 KiB); when full, it starts
// again, and a ticket met again has its PAC read once more (the pair it
// gives is not sent twice: the runner remembers the pairs it sent).
const maxPACTickets = 4096

// pacDomain is what one ticket's PAC taught: the two names of its
// client's domain, or why the PAC does not parse.
type pacDomain struct {
	netbios, dns, bad string
}

// readPAC reads the PAC of a ticket just decrypted, unless an earlier
// AP-REQ carried the same ticket. The DNS domain is UPN_DNS_INFO's
// DnsDomainName, else the ticket's crealm (a PAC without UPN_DNS_INFO).
func (c *context) readPAC(t *messages.Ticket) {
	u := c.u
	k := kerberos.TicketKeyOf(t.EncPart.Cipher)
	if _, seen := u.pacs[k]; seen {
		return
	}
	if u.pacs == nil || len(u.pacs) >= maxPACTickets {
		u.pacs = make(map[kerberos.TicketKey]struct{})
	}
	u.pacs[k] = struct{}{}
	enc := &t.DecryptedEncPart
	p, found, err := kerberos.TicketPAC(enc.AuthorizationData)
	switch {
	case err != nil:
		c.domain = &pacDomain{bad: "the PAC of a ticket the keytab decrypted does not parse (its domain's names are not learned): " +
			strings.TrimPrefix(err.Error(), kerberos.ErrMalformedPAC.Error()+": ")}
	case found && p.LogonDomain != "":
		dns := p.DNSDomain
		if dns == "" {
			dns = enc.CRealm
		}
		c.domain = &pacDomain{netbios: p.LogonDomain, dns: dns}
	}
}

// TakeDomain implements dcerpc.DomainTeller.
func (c *context) TakeDomain() (netbios, dns, bad string) {
	d := c.domain
	if d == nil {
		return "", "", ""
	}
	c.domain = nil
	return d.netbios, d.dns, d.bad
}
