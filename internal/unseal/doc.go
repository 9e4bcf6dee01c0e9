// Package unseal decrypts sealed DCE/RPC traffic with the keys the user
// supplies. Its Unsealer plugs into dcerpc (dcerpc.Unsealer): each request
// or response PDU protected at auth level integrity or privacy reaches its
// security context whole, before reassembly, and is checked (and at privacy
// level decrypted in place) so that NSPI, EMSMDB and every later decoder see
// plaintext without knowing about it. A stub is handed on only when its
// signature or checksum verifies: a wrong key never produces garbage.
//
// NTLM (unseal.go; MS-NLMP 3.3-3.4, protocol notes §7): the NT response is
// checked against the keys file, then the client and server sealing and
// signing keys run one RC4 stream per direction across every protected PDU,
// with sequence numbers (MS-NLMP 3.4.4).
//
// Kerberos (kerberos.go, gsswrap.go), with a keytab of service keys:
//   - the ticket of the AP-REQ (RFC 4120 5.3, 5.5.1) is decrypted with the
//     service key to learn the client principal and the session key, then
//     the authenticator for the initiator's subkey; the AP-REP of the
//     server's bind_ack or alter_context_resp (RFC 4120 5.5.2) gives the
//     acceptor's subkey. Raw and GSS-framed tokens (RFC 4121 4.1), plain or
//     inside SPNEGO (RFC 4178), are accepted; in DCE style (MS-KILE 3.4.5.1)
//     the client's third-leg AP-REP (alter_context or auth3) carries no key
//     and is ignored;
//   - the PAC of a decrypted ticket (pac.go; MS-PAC 2.5 LogonDomainName,
//     2.10 DnsDomainName, read by kerberos.TicketPAC) gives the NetBIOS
//     and DNS names of the client's domain, once per ticket (a bounded
//     table of tickets read), taken by dcerpc (dcerpc.DomainTeller);
//   - the key of each token is chosen as RFC 4121 2 and 4.2.2 say: the
//     acceptor's subkey when the token's AcceptorSubkey flag is set, else
//     the initiator's subkey, else the ticket session key;
//   - AES128/AES256-CTS-HMAC-SHA1-96 (etypes 17, 18; RFC 3962): RFC 4121
//     4.2.6.2 wrap tokens in the GSS_WrapEx layout of MS-KILE 3.4.5.4.1: the
//     auth_value holds the 16-byte header and the rotated trailer (encrypted
//     filler and header copy, checksum, confounder), the stub and its auth
//     padding are the encrypted data in place, the rotation is RRC+EC, and
//     with header signing (MS-RPCE 2.2.2.11, PFC_SUPPORT_HEADER_SIGN) the PDU
//     header and the sec_trailer are checksummed but not encrypted. The
//     checksum, the header copy and its sequence number are verified;
//     integrity-level PDUs carry RFC 4121 4.2.6.1 MIC tokens;
//   - RC4-HMAC (etype 23; RFC 4757 7.2 and 7.3): the GSS-framed 32-byte
//     wrap token (45 bytes with the framing, DCE style) and the MIC token,
//     with the encrypted sequence number's direction bytes and the HMAC-MD5
//     checksum verified.
//
// Kerberos has no keystream: every token decrypts on its own, so a PDU lost
// to the capture costs nothing but itself, and sequence numbers are read and
// authenticated but their order is not enforced (a passive reader sees
// retransmissions and losses). Ciphers and checksums come from gokrb5
// (crypto, rfc3961/3962/4757) and the standard library; none is written here.
//
// Nothing here returns or formats key material.
package unseal
