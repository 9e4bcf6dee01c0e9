// Package smb reads SMB named pipes (the ncacn_np transport of DCE/RPC) out
// of the two reassembled byte streams of a TCP connection on which SMB
// travels, and hands each open pipe's bytes, per direction, to a Handler: the
// bytes the client wrote are one stream, the bytes it read (or got back from
// a transceive) the other. Above this package, each pipe is one DCE/RPC
// association, parsed like a TCP connection; nothing here knows DCE/RPC.
//
// It implements:
//   - the NetBIOS session service framing (RFC 1002 4.3.1: a type byte and
//     a length; type 0x00 carries a message, 0x81..0x85 are the session
//     request, answers and keepalive), which is also the 4-byte framing of
//     SMB over direct TCP on port 445 (MS-SMB2 2.1), reassembled per
//     direction across TCP segments and bounded (Limits);
//   - recognition by content: a NetBIOS header followed by a protocol
//     identifier, 0xFF 'SMB' (MS-CIFS 2.2.3.1), 0xFE 'SMB' (MS-SMB2
//     2.2.1), 0xFD 'SMB' (the SMB 3 TRANSFORM_HEADER, MS-SMB2 2.2.41: the
//     message is encrypted) or 0xFC 'SMB' (COMPRESSION_TRANSFORM_HEADER,
//     MS-SMB2 2.2.42); encrypted and compressed messages are counted and
//     reported, never read;
//   - SMB2/3 (MS-SMB2 2.2): the SYNC and ASYNC headers (2.2.1.1, 2.2.1.2),
//     compounded messages chained by NextCommand and related operations
//     (3.2.4.1.4), SESSION_SETUP (2.2.5, 2.2.6) with its security buffer,
//     TREE_CONNECT (2.2.9, 2.2.10: a share whose path ends with IPC$ or
//     whose ShareType is PIPE), CREATE (2.2.13, 2.2.14), CLOSE (2.2.15),
//     READ (2.2.19, 2.2.20), WRITE (2.2.21), IOCTL FSCTL_PIPE_TRANSCEIVE
//     (2.2.31, 2.2.32; the input is written, the output read), interim
//     STATUS_PENDING answers followed by the final one with the same
//     MessageId (3.3.4.2), and STATUS_BUFFER_OVERFLOW answers that carry
//     part of a pipe message (3.3.5.15);
//   - SMB1 (MS-CIFS 2.2.3, 2.2.4; MS-SMB 2.2.4): the header, AndX chains
//     (MS-CIFS 2.2.3.4), SESSION_SETUP_ANDX with extended security (MS-SMB
//     2.2.4.6), TREE_CONNECT_ANDX (MS-CIFS 2.2.4.55), NT_CREATE_ANDX
//     (2.2.4.64), WRITE_ANDX (2.2.4.43; MS-SMB 2.2.4.3), READ_ANDX
//     (2.2.4.42; MS-SMB 2.2.4.2), CLOSE (2.2.4.5) and SMB_COM_TRANSACTION
//     with the TRANS_TRANSACT_NMPIPE subcommand 0x0026 (2.2.5.6), whose
//     Setup[1] is the FID;
//   - the identity of an SMB session: the NTLMSSP AUTHENTICATE (MS-NLMP
//     2.2.1.3), raw or wrapped in SPNEGO, carried by a SESSION_SETUP
//     request, keyed by SessionId (SMB2) or UID (SMB1), with the frame of
//     that request (Identity.At; for SMB1 without extended security, MS-CIFS
//     2.2.4.53, the request that names the account); a Kerberos session is
//     known as such, and named only by a TicketNamer.
//
// Sessions whose messages are signed (SMB2 flag SIGNED, SMB1
// SECURITY_SIGNATURE) are read as any other: signing hides nothing. They are
// counted in Stats.
//
// Malformed input is data: every read is bounds-checked, an error names the
// field and its offset, nothing panics, and a message that does not parse is
// reported (AnomalyMalformed) and skipped. A NetBIOS header that is not one
// (an unknown type) stops the connection, reported (AnomalyBadFraming).
// After a gap in the capture, the message being assembled is dropped
// (AnomalyGap) and the stream is scanned for the next NetBIOS header
// followed by an SMB protocol identifier.
//
// Ownership: Demux.Feed borrows its bytes; a message is copied only when it
// spans segments, into a buffer charged to Limits.Budget. PipeData's bytes
// are borrowed for the call. Memory per connection is bounded by
// Limits.MaxMessage (a partial message), MaxPipes and MaxPending (maps).
//
// Adding a command: parse it in smb2.go or smb1.go with the reader of
// read.go (every field read through it), route pipe bytes through
// Demux.data, and add a generated message to the fuzz seeds.
package smb
