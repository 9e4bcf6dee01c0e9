package analyze

import (
	"strings"
)

// Accounts: how the calls of one account are counted together whatever
// names them.
//
//   - An NTLM user is DOMAIN\user (the NetBIOS domain), a Kerberos user
//     user@REALM (the DNS realm). Once a DomainAlias (an NTLM CHALLENGE's
//     MsvAvNbDomainName and MsvAvDnsDomainName, or Options.Domains) says
//     that DOMAIN and REALM are one domain, both names key one account: rows
//     show DOMAIN\user, and UPN gives user@REALM. A pair learned after both
//     names were seen links them from then on: the name first seen keeps
//     the account's row and the other is sent to it; when both already had
//     rows on a server, the report merges those rows (mergeAccountRows).
//   - A Kerberos call whose user is not known but whose ticket is
//     (Identity.Origin.Ticket) is counted under that ticket: one ticket, one
//     account, never anonymous.
//
// The keys of tickets start with ticketKeyPrefix, which no user key starts
// with (userKey replaces a leading NUL).

// ticketKeyPrefix starts the user key of a ticket.
const ticketKeyPrefix = "\x00"

// maxAliases bounds the NetBIOS and DNS domain pairs followed.
const maxAliases = 64

// DomainAlias says that a NetBIOS domain and a DNS domain (a Kerberos
// realm) are one domain: learned from an NTLM CHALLENGE's AV pairs, or a
// keytab-decrypted ticket's PAC. Meta.Frame is where it was learned.
type DomainAlias struct {
	Meta
	NetBIOS string
	DNS     string
}

// Domain is a NetBIOS domain and its DNS name (Options.Domains).
type Domain struct {
	NetBIOS, DNS string
}

type alias struct {
	nb, dns string
	realm   string // dns in upper case, as a user@REALM spells it
}

// account is what the analyzer knows of a user key (core.names): the name
// rows show (its first spelling, DOMAIN\user once one is seen), its
// user@REALM, and what first named it. One map for the three: a busy DC
// names hundreds of thousands of users.
type account struct {
	show string
	upn  string
	from identityFrom
}

// identityFrom is what first named an account (Origin.From, FromFrame):
// from is 1 + the index of the From in core.fromNames, 0 for none.
type identityFrom struct {
	from  uint8
	frame *FrameRef // nil for none; shared by the rows and findings of the user
}

// fromCode is the code of an Origin.From (identityFrom.from): a handful
// of names, each stored once.
func (c *core) fromCode(from string) uint8 {
	for i, f := range c.fromNames {
		if f == from {
			return uint8(i + 1)
		}
	}
	if len(c.fromNames) >= 255 {
		return 0
	}
	c.fromNames = append(c.fromNames, from)
	return uint8(len(c.fromNames))
}

// fromName is the Origin.From of a code.
func (c *core) fromName(code uint8) string {
	if code == 0 {
		return ""
	}
	return c.fromNames[code-1]
}

// idKey is the user key of a call's identity: its user's, its ticket's, or
// "" for none.
func (c *core) idKey(id *Identity, opens bool) string {
	if id.User != "" {
		k, named := c.spelled(id.User)
		// What named the user is recorded from the calls that open a
		// session (and rare ones), until the spelling is marked: the map
		// is not looked up per call.
		if o := id.Origin; opens && !named && o != nil && o.From != "" {
			if acct, ok := c.names[k]; ok {
				if acct.from.from == 0 {
					acct.from.from = c.fromCode(o.From)
					if o.FromFrame.Frame != 0 {
						frame := o.FromFrame
						acct.from.frame = &frame
					}
					c.names[k] = acct
				}
				c.spell[id.User] = spelling{key: k, named: true}
			}
		}
		return k
	}
	if id.Origin != nil && id.Origin.Ticket != "" {
		return c.ticketKey(id.Origin.Ticket)
	}
	return ""
}

// ticketKey is the user key of a ticket label.
func (c *core) ticketKey(label string) string {
	if k, ok := c.tickets[label]; ok {
		return k
	}
	if len(c.tickets) >= c.maxNames() {
		clear(c.tickets) // a cache of the concatenation
	}
	k := ticketKeyPrefix + label
	c.tickets[label] = k
	if _, ok := c.names[k]; !ok {
		if len(c.names) >= c.maxNames() {
			c.pruneNames()
		}
		if len(c.names) < c.maxNames() {
			c.names[k] = account{show: label}
		}
	}
	return k
}

func isTicketKey(ukey string) bool { return strings.HasPrefix(ukey, ticketKeyPrefix) }

// ticketOf is the ticket label of a ticket key, "" for others.
func (c *core) ticketOf(ukey string) string {
	if !isTicketKey(ukey) {
		return ""
	}
	return ukey[len(ticketKeyPrefix):]
}

// canon gives, when a known alias covers user, the account's key, the
// name rows show (DOMAIN\user) and its user@REALM; ok false otherwise.
// lower is user in lower case when the caller has it, "" otherwise.
func (c *core) canon(user, lower string) (key, show, upn string, ok bool) {
	if len(c.aliases) == 0 {
		return "", "", "", false
	}
	if i := strings.LastIndexByte(user, '@'); i > 0 {
		if al := c.aliasOf("", user[i+1:]); al != nil {
			show = al.nb + `\` + user[:i]
			return strings.ToLower(show), show, user, true
		}
		return "", "", "", false
	}
	if i := strings.IndexByte(user, '\\'); i > 0 && i < len(user)-1 {
		if al := c.aliasOf(user[:i], ""); al != nil {
			if lower == "" {
				lower = strings.ToLower(user)
			}
			return lower, user, user[i+1:] + "@" + al.realm, true
		}
	}
	return "", "", "", false
}

// aliasOf finds the alias of a NetBIOS domain or of a DNS domain.
func (c *core) aliasOf(nb, dns string) *alias {
	for i := range c.aliases {
		al := &c.aliases[i]
		if nb != "" && strings.EqualFold(al.nb, nb) || dns != "" && strings.EqualFold(al.dns, dns) {
			return al
		}
	}
	return nil
}

// learnAlias records that nb and dns are one domain, and links the names
// already seen that it covers. The first pair learned for a domain wins.
func (c *core) learnAlias(nb, dns string) {
	nb, dns = strings.TrimSpace(nb), strings.TrimSuffix(strings.TrimSpace(dns), ".")
	if nb == "" || dns == "" || len(nb) > 64 || len(dns) > 255 || strings.ContainsAny(nb, `\@`) || strings.ContainsAny(dns, `\@`) {
		return
	}
	if c.aliasOf(nb, "") != nil || c.aliasOf("", dns) != nil || len(c.aliases) >= maxAliases {
		return
	}
	c.aliases = append(c.aliases, alias{nb: nb, dns: dns, realm: strings.ToUpper(dns)})
	// Link the names seen: each spelling of the pair goes to the key in use.
	keys := make([]string, 0, len(c.names))
	for k := range c.names {
		if !isTicketKey(k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		acct := c.names[k]
		key, show, upn, ok := c.canon(acct.show, "")
		if !ok {
			continue
		}
		alt := key // the other spelling's key
		if key == k {
			if i := strings.IndexByte(upn, '@'); i > 0 {
				alt = strings.ToLower(upn)
			}
		}
		if alt != k {
			if _, taken := c.names[alt]; taken {
				c.twins = append(c.twins, [2]string{k, alt})
			} else if len(c.redirect) < c.maxNames() {
				c.redirect[alt] = k
			}
		}
		acct.show, acct.upn = show, upn
		c.names[k] = acct
	}
	clear(c.spell)
}

// twinOf is the key of the account ukey is a second row of (both names
// had rows when their alias was learned), or ukey.
func (c *core) twinOf(ukey string) string {
	for _, t := range c.twins {
		if t[1] == ukey {
			return t[0]
		}
	}
	return ukey
}

// upn is the user@REALM of a user key, when known.
func (c *core) upn(ukey string) NullString {
	return NullString(c.names[ukey].upn)
}

// fillIdentity sets what a finding says of its user beyond the name: the
// ticket of an unnamed Kerberos user, the user@REALM, what named it.
func (c *core) fillIdentity(f *Finding, ukey string) {
	f.ukey = ukey
	if ukey == "" {
		return
	}
	f.Ticket = c.ticketOf(ukey)
	f.UPN = c.upn(ukey)
	fr := c.names[ukey].from
	f.IdentityFrom, f.IdentityFrame = c.fromName(fr.from), fr.frame
}

// fillRow does the same for a user row.
func (c *core) fillRow(r *UserRow, ukey string) {
	r.Ticket = c.ticketOf(ukey)
	r.UPN = c.upn(ukey)
	fr := c.names[ukey].from
	r.IdentityFrom, r.IdentityFrame = c.fromName(fr.from), fr.frame
}

// showName is the name a report shows for a user as spelled when it was
// recorded: DOMAIN\user for user@REALM when their alias is known now.
func (c *core) showName(spelled NullString) NullString {
	if len(c.aliases) == 0 || spelled == "" {
		return spelled
	}
	if _, show, _, ok := c.canon(string(spelled), ""); ok {
		return NullString(show)
	}
	return spelled
}

// mergeAccountRows merges the user rows that name one account on one
// server: rows of two names whose alias was learned after both had rows.
// Counters add up; the peak is the higher of the two (a lower bound).
func mergeAccountRows(rows []UserRow) []UserRow {
	type key struct{ server, user string }
	at := map[key]int{}
	out := rows[:0]
	for _, r := range rows {
		if r.User == "" {
			out = append(out, r)
			continue
		}
		k := key{r.Server, strings.ToLower(string(r.User))}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, r)
			continue
		}
		m := &out[i]
		peak := max(m.PeakConcurrent, r.PeakConcurrent)
		c := &m.Counters
		c.Binds += r.Binds
		c.BindsOK += r.BindsOK
		c.BindsLogonFailed += r.BindsLogonFailed
		c.BindsFailedOther += r.BindsFailedOther
		c.BindsUnknown += r.BindsUnknown
		c.BindsInferred += r.BindsInferred
		c.Unbinds += r.Unbinds
		c.OtherCalls += r.OtherCalls
		c.OpenAtEnd += r.OpenAtEnd
		c.ClosedWithoutUnbind += r.ClosedWithoutUnbind
		c.PeakConcurrent = peak
		if m.UPN == "" {
			m.UPN = r.UPN
		}
		if m.IdentityFrom == "" {
			m.IdentityFrom, m.IdentityFrame = r.IdentityFrom, r.IdentityFrame
		}
	}
	return out
}

// ticketWho names the Kerberos user of a ticket the capture does not name
// (label "<service principal>#<digest>").
func ticketWho(label string) string {
	spn, digest := label, ""
	if i := strings.LastIndexByte(label, '#'); i >= 0 {
		spn, digest = label[:i], label[i+1:]
	}
	s := "Kerberos user, ticket for " + spn + " issued before the capture"
	if digest != "" {
		s += " (#" + digest + ")"
	}
	return s
}

// ticketAdvice says how to name the user of a ticket.
const ticketAdvice = " The capture does not name the user of this Kerberos ticket (one ticket, one account): it was issued before the capture began, or by a KDC the capture does not see. To name it, capture on the DC from before the client logs on (start the capture, then run `klist purge` on the client or restart it) so that the TGS-REP that issues the ticket is in the capture, or give --keytab with the service's keys."

// ticketVerdictHint is the verdict's shorter form of ticketAdvice.
const ticketVerdictHint = " To name the user: capture its logon (klist purge on the client after starting the capture), or give --keytab."

// Accounts names users as the rows of a report do once their domains are
// known (Options.Domains), for a caller that runs no Analyzer: `nspicap
// calls --domain` renames its rows so. It applies the analyzer's own rule
// (learnAlias, canon) to the given domains only.
type Accounts struct {
	c core
}

// NewAccounts returns the Accounts of the given domains (a malformed pair,
// or one naming a domain an earlier pair named, is ignored).
func NewAccounts(doms []Domain) *Accounts {
	a := &Accounts{}
	for _, d := range doms {
		a.c.learnAlias(d.NetBIOS, d.DNS)
	}
	return a
}

// Name returns, when one of the domains covers user (DOMAIN\user or
// user@REALM, compared case-insensitively), the name rows show for it
// (DOMAIN\user) and its user@REALM; ok is false otherwise.
func (a *Accounts) Name(user string) (show, upn string, ok bool) {
	_, show, upn, ok = a.c.canon(user, "")
	return show, upn, ok
}
