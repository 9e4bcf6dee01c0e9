// Package ndr reads Network Data Representation (NDR) transfer syntax, as
// marshalled in the stubs of connection-oriented DCE/RPC calls.
//
// It implements the parts of The Open Group C706, chapter 14 (Transfer Syntax
// NDR), that nspicap's interface decoders need: primitive types in either
// integer byte order (C706 14.2.5, from the PDU's packed drep), natural
// alignment counted from the start of the stub (C706 14.2.2), unique and full
// pointers as referent IDs (C706 14.3.10), conformant and varying arrays and
// strings (C706 14.3.3, 14.3.4), and the 20-byte context handle of MS-RPCE
// 2.2.4.2 (policy_handle). NewReader64 reads the NDR64 transfer syntax of
// MS-RPCE 2.2.5 (8-byte referent IDs, conformance and variance, aligned to
// 8; union arms aligned to the union, 2.2.5.3.4.1), which a presentation
// context may negotiate instead of NDR20.
//
// The Reader keeps the first error it meets and returns zero values after it,
// so a decoder reads a whole structure and checks Err once. Errors name the
// field and the stub offset. Counts read off the wire are checked against the
// bytes that remain before anything is sliced; the Reader never allocates.
//
// Adding a type: read it field by field with the Reader's methods, aligning
// as the IDL says, and give every field a name for the error message.
package ndr
