// Package rpch reads the framing of RPC over HTTP (ncacn_http, MS-RPCH):
// the RTS PDUs that build and maintain a virtual connection, the
// ncacn_http/1.0 banner, and the HTTP request and response heads of the
// outside leg (client to RPC proxy).
//
// What it implements, by section of MS-RPCH:
//   - 2.1.2.2.1 (legacy server response): the 14-byte banner
//     "ncacn_http/1.0" the server sends first on every connection (v1 and
//     the inside leg of v2).
//   - 2.1.2.1 and 2.2.2: the HTTP methods RPC_IN_DATA and RPC_OUT_DATA, the
//     URI /rpc/rpcproxy.dll?server:port, Content-Length and the
//     Authorization header (Basic: the user name only, never the password;
//     NTLM and Negotiate: the user of the NTLMSSP AUTHENTICATE, decoded by
//     package ntlmssp).
//   - 2.2.3.6.1: the RTS PDU header (the common DCE/RPC header with PTYPE
//     20, then Flags and NumberOfCommands), 2.2.3.5 every RTS command
//     (ReceiveWindowSize through PingTrafficSentNotify) and 2.2.3.3 the
//     Destination values.
//   - 2.2.4: the RTS PDUs, told by their flags and command sequence
//     (CONN/A1 to CONN/C2, the recycling PDUs IN_R1, IN_R2, OUT_R1, OUT_R2,
//     keep-alive, ping and flow control), and which cookie of a PDU is the
//     virtual connection's, the channel's, a predecessor's or a successor's.
//   - RFC 9112 7.1 (chunked transfer coding), for the outside leg's bodies:
//     Dechunker reads chunk-size lines, chunk extensions, chunk data and
//     its CRLF, the last chunk and the trailer section as they stream in,
//     with bounded state (MaxChunkLine, MaxHead for the trailers).
//
// Every parser is bounds-checked: errors name the field and the byte offset
// at which the input ended or was wrong, nothing is allocated from a length
// read off the wire, and HTTP heads are bounded (MaxHead); the de-chunker's
// errors name the offset in the body.
package rpch
