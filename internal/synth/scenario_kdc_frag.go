package synth

import (
	"net/netip"
	"time"
)

// KDC replies over UDP in IP fragments (docs/kerberos.md): a ticket with a
// large PAC makes the TGS-REP exceed the path's MTU, and the binds that use
// the ticket are named from the reassembled reply, at the frame of the
// fragment that completed it.

// fragPAC is the size of the PAC in the tickets of kerberos-udp-frag: a
// user in many groups; the TGS-REP is then about 2.6 KB.
const fragPAC = 1900

func kdcFragScenario() Scenario {
	return Scenario{Name: "kerberos-udp-frag", File: "kerberos-udp-frag.pcap", Format: FormatPcap,
		Description: "The DC (198.51.100.10, 2001:db8::10) is an MIT or Samba KDC, whose UDP replies go up to 4096 bytes (Windows answers KRB_ERR_RESPONSE_TOO_BIG beyond 1465); its tickets to exchangeAB/dc01.contoso.example carry a large PAC (1900 bytes), so each TGS-REP over UDP (about 2.6 KB) leaves in IP fragments, and every bind authenticates with its ticket in SPNEGO at auth level connect. From 192.0.2.81: alice's TGS-REP in 2 IPv4 fragments (MTU 1500) in order; she binds NSPI and browses. From 192.0.2.82, behind a VPN (MTU 1000): bob's TGS-REQ in 2 IPv4 fragments, his TGS-REP in 3 captured last, first, last again (a duplicate), middle; he binds and browses. From 2001:db8::31: carol's TGS-REQ in 2 IPv6 fragments and her TGS-REP in 3 (MTU 1280) captured middle, last, first; she binds over IPv6 and browses. From 192.0.2.84 (MTU 1000): dave's TGS-REP loses its middle fragment; he binds with the ticket and browses. Meanwhile the DC sends 192.0.2.85 a 3000-byte syslog message (UDP 514) in 3 fragments, the first one last.",
		Expected:    "Without a key: alice, bob and carol named user@CONTOSO.EXAMPLE from their TGS-REP (identity_from tgs_rep), identity_frame the fragment that completed it (Wireshark's \"Reassembled IPv4 in frame N\", or IPv6); dave's calls unnamed, with the label of his ticket, and one ip_fragments_incomplete anomaly at the first fragment of his reply; the syslog message neither read nor reported. With --keytab kerberos-kdc.keytab: every user named (dave too), the same counts.",
		KeytabFile:  "kerberos-kdc.keytab",
		build:       buildKDCFrag}
}

func buildKDCFrag(e *env) {
	c := e.c
	issue := func(user string) *KrbTicket {
		return c.IssueTicketPadded(user, KrbSvc, EtypeAES256, EtypeAES256, fragPAC)
	}
	tgs := func(t *KrbTicket, plan FragPlan) KDCPair {
		p := e.tgsPair(t, S4U{})
		p.RepFrags = &plan
		return p
	}
	session := func(addr netip.Addr, t *KrbTicket, named bool) {
		r := c.NewRPC(e.conn(addr, NSPIPort), 1)
		r.KerberosBind(e.bindSpec(AuthKerberos, Creds{}), krbConnSpec(t, named, ""))
		e.browse(r)
	}

	alice := issue("alice")
	e.kdcOverUDP(client(81), tgs(alice, FragPlan{MTU: 1500}))
	session(client(81), alice, true)

	c.Advance(time.Second)
	bob := issue("bob")
	e.kdcOverUDP(client(82), tgs(bob, FragPlan{MTU: 1000, Order: []int{2, 0, 2, 1}}))
	session(client(82), bob, true)

	c.Advance(time.Second)
	e.server = ServerV6
	carol := issue("carol")
	v6 := netip.MustParseAddr("2001:db8::31")
	e.kdcOverUDP(v6, tgs(carol, FragPlan{MTU: 1280, Order: []int{1, 2, 0}}))
	session(v6, carol, true)
	e.server = ServerV4

	c.Advance(time.Second)
	syslog := []byte("<134>1 2026-03-02T09:00:03Z dc01 Microsoft-Windows-Security-Auditing 4769 - - A Kerberos service ticket was requested.")
	for len(syslog) < 3000 {
		syslog = append(syslog, " Additional Information: Ticket Options 0x40810000, Ticket Encryption Type 0x12."...)
	}
	e.udpFragments(netip.AddrPortFrom(e.server, 514), netip.AddrPortFrom(client(85), 514), syslog[:3000], FragPlan{MTU: 1500, Order: []int{1, 2, 0}})

	c.Advance(time.Second)
	dave := issue("dave")
	e.kdcOverUDP(client(84), tgs(dave, FragPlan{MTU: 1000, Order: []int{0, 2}}))
	session(client(84), dave, false)
}
