// Package pipeline wires nspicap's layers together: capture files are read
// and reassembled by internal/capture, each TCP connection's bytes go to a
// dcerpc.Conn, each call is named and, for NSPI, decoded by package nspi;
// the result is a call row for `nspicap calls` and an analyze.Event for the
// analyzer. It owns no protocol knowledge of its own beyond one inference:
//
// A connection whose bind is not in the capture has no known interface. Its
// calls are taken to be NSPI (and flagged interface_inferred) when the
// request starts with a context handle that an NspiBind on the same server
// returned earlier, or when only NSPI was ever seen bound on that server
// address and port and the call is shaped like an NSPI call (opnum 1..20,
// a 20-byte handle first). This follows protocol-notes §1.10: "context
// handles found in stubs can be matched against sessions seen earlier".
//
// Calls reach the sink in the order their outcome became known in the
// capture (the reply, or the connection's end for unanswered calls).
package pipeline
