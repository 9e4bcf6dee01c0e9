// Package ntlmssp reads the authentication tokens that DCE/RPC carries in
// the auth_value of bind, bind_ack, alter_context, alter_context_resp and
// auth3 PDUs, so that nspicap can name the user behind each call.
//
// It implements:
//   - the NTLMSSP NEGOTIATE, CHALLENGE and AUTHENTICATE messages of MS-NLMP
//     2.2.1.1-2.2.1.3, their security buffers (2.2.2.10... as "fields") and
//     the negotiate flags of 2.2.2.5; anonymous authentication per MS-NLMP
//     3.2.5.1.2 (empty user name and NT response);
//   - the SPNEGO NegTokenInit and NegTokenResp of RFC 4178 4.2 (and the
//     MS-SPNG extensions), walked with a bounded DER reader, to find the NTLM
//     message or recognise Kerberos (RFC 4120 AP-REQ, RFC 4121 GSS framing);
//   - the auth types of MS-RPCE 2.2.1.1.7 (10 NTLMSSP, 9 SPNEGO,
//     16 Kerberos, 68 Netlogon).
//
// keys.go implements the key side of MS-NLMP for passive decryption
// (protocol notes §7): NTOWFv1/v2, the NTLMv2 and NTLMv1(-ESS) session keys
// with the check of the NT response (3.3.1, 3.3.2), key exchange, the
// signing and sealing keys (3.4.5.2, 3.4.5.3), and the RC4 handles and
// signatures with sequence numbers (3.4.4), checked against the test values
// of MS-NLMP 4.2.3 and 4.2.4. Key material is never formatted.
//
// Every security buffer and ASN.1 length is checked against the bytes present
// before use; Parse and Inspect never panic and never allocate by a length
// read off the wire. Kerberos names are encrypted in the ticket: Inspect only
// says that Kerberos was used.
package ntlmssp
