// Package kerberos reads the Kerberos messages a capture carries in clear
// and that name the client of a ticket without any key: the KDC exchanges
// on port 88 (AS-REQ, AS-REP, TGS-REQ, TGS-REP, KRB-ERROR) and the AP-REQ of
// an authenticated DCE/RPC bind or SMB session setup.
//
// # Sources
//
//   - RFC 4120 5.2.2 (PrincipalName), 5.2.9 (EncryptedData), 5.3 (Ticket),
//     5.4.1 (KDC-REQ: pvno, msg-type, padata, req-body with kdc-options,
//     cname, realm, sname, additional-tickets), 5.4.2 (KDC-REP: crealm and
//     cname in clear, ticket, enc-part), 5.5.1 (AP-REQ), 5.9.1 (KRB-ERROR),
//     7.5.7 (message types), 7.5.9 (error codes), 7.2.1 and 7.2.2 (UDP
//     and TCP transport: over TCP each message is preceded by its length
//     as 4 bytes in network order, the top bit reserved).
//   - RFC 4121 4.1: the GSS framing of an AP-REQ (60 len OID TOK_ID 01 00).
//   - MS-PAC 2.1 (the PAC in AD-IF-RELEVANT, RFC 4120 5.2.6.1, as
//     AD-WIN2K-PAC), 2.3 (PACTYPE), 2.4 (PAC_INFO_BUFFER), 2.5
//     (KERB_VALIDATION_INFO: LogonDomainName, through the NDR type
//     serialization of MS-RPCE 2.2.6), 2.10 (UPN_DNS_INFO: UPN,
//     DnsDomainName), for a ticket a keytab decrypted (pac.go).
//   - MS-SFU 2.2.1 (PA-FOR-USER, padata type 129: userName, userRealm,
//     cksum, auth-package) for S4U2Self, and 2.2.2 / 3.2.5.2 for
//     S4U2Proxy: a TGS-REQ whose kdc-options set cname-in-addl-tkt (bit
//     14) and whose additional-tickets carry the service ticket the
//     service obtained for the user.
//   - RFC 6113 5.4 (FAST): PA-FX-FAST (padata 136) in a request or reply
//     marks it armored (Message.Armored); the armor and the encrypted
//     request and response are not read (the armor key opens them). The
//     outer reply's cname, crealm and ticket are in clear as in any reply,
//     and the outer cname is the client's unless the client set the FAST
//     option hide-client-names, inside the encrypted request: the KDC then
//     names the anonymous principal instead (MIT's KDC; Heimdal's blanks
//     the name). RFC 6112 3 and RFC 6111 3: the anonymous principal
//     WELLKNOWN/ANONYMOUS, of name type KRB_NT_WELLKNOWN (11), in the realm
//     WELLKNOWN:ANONYMOUS (or the client's), which anonymous PKINIT issues
//     armor tickets to. A well-known or empty client name is never a user
//     (Message.Hidden).
//
// # What is read
//
// From a KDC-REP (AS-REP, TGS-REP): the client's name and realm and the
// ticket it issued (service name, realm, etype, kvno, and a digest of the
// cipher bytes of its encrypted part). The same ticket reappears byte for
// byte in every AP-REQ that uses it, so the digest (TicketKey) joins an
// AP-REQ to the reply that issued it. From a KDC-REQ: the service asked
// for, and for S4U the user it is asked for (PA-FOR-USER) or the evidence
// ticket (S4U2Proxy). From a KRB-ERROR: its code, client and service.
// From the PAC of a ticket a keytab decrypted (TicketPAC): the NetBIOS and
// DNS names of the client's domain, with a bounds-checked reader of its
// own (dcerpc/ndr for the NDR); errors wrap ErrMalformedPAC and name the
// structure, the field and its offset in the PAC.
//
// Decoding goes through gokrb5's message types (its ASN.1 reader), behind
// a size bound (MaxMessage) and a recover that turns any panic of the
// third-party decoder into an error: a message from the wire is data, never
// a crash. Errors name the message, the field and the byte offset of the
// element that failed (0: the message as a whole).
//
// Names from the wire are clipped (ntlmssp.ClipName) and must be escaped
// on output like every string from the wire.
package kerberos
