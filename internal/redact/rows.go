package redact

import (
	"net/netip"

	"github.com/nspicap/nspicap/internal/report"
)

// InPool reports whether a lies in a range pseudonyms are drawn from: an
// input address there must be given to Avoid before pseudonyms are drawn.
func InPool(a netip.Addr) bool {
	a = a.Unmap()
	if v6Prefix.Contains(a) {
		return true
	}
	for _, p := range v4Pools {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CallRow redacts one row of `nspicap calls` in place: client, server,
// user and its user@REALM. Rows are redacted as they come (the output is streamed): the rare
// collisions of pseudonyms resolve in the order of the rows.
func (rd *Redactor) CallRow(row *report.CallRow) {
	row.Client = rd.AddrString(row.Client)
	row.Server = rd.AddrString(row.Server)
	row.ClientAddress = rd.AddrString(row.ClientAddress)
	row.Ticket = rd.Ticket(row.Ticket)
	row.Via = rd.Identity(row.Via)
	if row.User != nil {
		u := rd.Identity(*row.User)
		row.User = &u
	}
	if row.UPN != "" {
		row.UPN = rd.Identity(row.UPN)
	}
}

// EndpointRows redacts the rows of `nspicap endpoints` in place: the
// mapper, the host it gave (an address or a name) and the annotation. The
// addresses of all rows are avoided first.
func (rd *Redactor) EndpointRows(rows []report.EndpointRow) {
	for i := range rows {
		for _, s := range []string{rows[i].Mapper, rows[i].Host} {
			if a, err := netip.ParseAddr(s); err == nil {
				rd.Avoid(a)
			} else if ap, err := netip.ParseAddrPort(s); err == nil {
				rd.Avoid(ap.Addr())
			}
		}
	}
	for i := range rows {
		x := &rows[i]
		x.Mapper = rd.AddrString(x.Mapper)
		x.Host = rd.Host(x.Host)
	}
	for i := range rows {
		rows[i].Annotation = rd.Text(rows[i].Annotation)
	}
}
