// Package dcerpc reads connection-oriented DCE/RPC (ncacn_ip_tcp) from the
// two reassembled byte streams of a TCP connection and turns them into calls:
// a request paired with its response or fault, with the interface, the
// security context and the frames that carried it.
//
// It implements, from The Open Group C706 chapter 12 and MS-RPCE 2.2.2:
//   - the common header (C706 12.6.3.1) with its checks, and every PDU type
//     valid on a stream (12.6.4; MS-RPCE 2.2.2.10 rpc_auth_3);
//   - the packed data representation (C706 14.1): little- and big-endian
//     integers in headers and stubs;
//   - bind, bind_ack, bind_nak, alter_context and alter_context_resp with
//     positional results (C706 12.6.4.3-12.6.4.8), giving each presentation
//     context id its abstract syntax;
//   - request, response and fault (12.6.4.9-12.6.4.10), fragments
//     reassembled per call_id (12.6.3.7), paired by call_id among requests,
//     responses and faults only (call_ids repeat across PDU types);
//   - the auth verifier (MS-RPCE 2.2.2.11): sec_trailer, auth_pad_length
//     stripped from the stub, privacy-level stubs flagged as sealed and never
//     decoded, unless an optional Unsealer (unseal.go) decrypts them per
//     fragment, before reassembly, and verifies their signatures;
//   - the names of the client's domain, NetBIOS and DNS, handed to the
//     Handler (DomainPairer) from an NTLM CHALLENGE's AV pairs (MS-NLMP
//     2.2.2.1) or from the PAC of a Kerberos ticket the Unsealer
//     decrypted (DomainTeller; MS-PAC 2.5, 2.10), a PAC that does not
//     parse reported as AnomalyMalformedPAC;
//   - the names of fault statuses (Faults, FaultName: C706 appendix E NCA
//     codes and the Win32 values of MS-RPCE 2.2.2.8), the one table every
//     output asks, and Code, the shape of every protocol package's table;
//   - recognition by content on any port, and resynchronisation after a gap
//     or at a capture's mid-connection start by the header and chain checks
//     of protocol-notes §1.11;
//   - RTS PDUs (PTYPE 20, MS-RPCH 2.2.3.6.1) are skipped, and named to a
//     handler that asks (RTSSeer): the pipeline tells by them that a
//     connection older than the capture is an RPC over HTTP channel, whose
//     parser it then drops (Conn.Drop) to read the connection again as one;
//   - bytes cut by the capture's snap length (Conn.Cut) told from bytes lost
//     (Conn.Gap): the same resynchronisation, no anomaly, and what they cut
//     marked (Message.Cut; Security.Cut for a token that named the user),
//     so that a cut AUTHENTICATE is an unknown user, never an anonymous one.
//
// Ownership: Conn.Feed borrows its bytes for the call; Conn keeps a copy of
// incomplete PDUs only. Message.Stub is owned by the Message. Memory per
// connection is bounded by Limits (stub bytes per call, open calls) and by
// frag_length (at most 65535 bytes buffered per direction); over all the
// connections of a pipeline, by one Budget (budget.go) charged for every
// stub byte kept, for every open call, response in reassembly, bind
// awaiting its answer, presentation and security context at a fixed cost at
// least what each takes on the heap (TestStateCosts), and for the partial
// PDUs buffered. A direction that holds nothing keeps no buffer.
//
// Adding an interface: add its UUID and operation names to ifaces.go, then a
// decoder package shaped like nspi that takes a *Call.
package dcerpc
