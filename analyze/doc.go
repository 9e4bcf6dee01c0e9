// Package analyze turns NSPI events into sessions, counters, findings and a
// verdict: who leaks NSPI address-book sessions, who hit the domain
// controller's per-user limit, and why each NspiBind was refused.
//
// The package is pure: no I/O, no capture or decoding imports. The pipeline
// feeds it Event values in capture order (Analyzer.Add), then asks for one
// Report (Analyzer.Report); internal/report renders it. Sorting happens here,
// once, so every rendering is deterministic. The README ("the report schema") documents the JSON.
//
// # Sources
//
//   - MS-OXNSPI 3.1.4.1.1 NspiBind and MS-NSPI 3.1.4.1.1: a session starts
//     when NspiBind returns 0 (Success) with a non-zero context handle.
//   - MS-OXNSPI 3.1.4.1.2 NspiUnbind: returns 1 (UnbindSuccess) when the
//     handle was destroyed, 2 (UnbindFailure) otherwise; never 0.
//   - MS-OXCDATA 2.4: MAPI_E_LOGON_FAILED is 0x80040111.
//   - KB949469: a Windows Server 2008+ DC refuses NspiBind with
//     MAPI_E_LOGON_FAILED beyond "NSPI max sessions per user" (default 50)
//     under HKLM\System\CurrentControlSet\Services\NTDS\Parameters.
//   - C706 / MS-RPCE: context handles are valid on every connection of an
//     association group; when the group's last connection closes, the
//     runtime runs the handles down (unverified for NSPI servers).
//
// # Semantics
//
// Sessions are keyed by (server IP, 20-byte handle), not by connection. The
// user of a session is the identity that carried its NspiBind; user names
// compare case-insensitively and the first spelling seen is kept.
//
// A session ends:
//   - unbind: an NspiUnbind on its handle that the RPC runtime accepted,
//     whatever it returned. 1 is the normal case; 2 means the server no
//     longer knew the handle, so it is not holding it either; an unanswered
//     or encrypted NspiUnbind also ends it, because the client did its part
//     and the server frees the handle unless it is gone already. Anything but
//     1 raises unbind_failed (2) or unanswered_call. An NspiUnbind answered
//     with a fault does not end the session (the runtime rejected the call).
//   - connection_closed: every TCP connection that used the handle (the
//     bind's, and any that carried a call or an unbind on it) has ended with
//     FIN or RST. Connections still open at the end of the capture, or that
//     the capture layer stopped following (evicted), end nothing.
//   - open_at_end: neither happened.
//
// Instants are those of the requests, in capture order: a session is held
// from its NspiBind request to its NspiUnbind request or to the frame that
// ended its last connection. Concurrency (held sessions) is counted per
// (server, user), per (server, client IP) and over everything; its peak is
// peak_concurrent.
//
// Calls on handles the capture never saw bound are sessions bound before the
// capture began: session_before_capture reports them (and
// unbind_unknown_handle, when they are unbound); they stay out of the
// session list and of the peaks, but they count in what the user holds when
// a bind is refused (Refusal.HeldBeforeCapture), until an NspiUnbind or the
// close of their connections.
//
// # Why a logon failed
//
// Each NspiBind answered MAPI_E_LOGON_FAILED gets a cause:
//   - anonymous: the bind carried no identity (Event.Anonymous). Outlook
//     does this first, then binds with credentials: logon_failed is info when
//     an authenticated NspiBind from the same client IP to the same server
//     follows, warning otherwise.
//   - session_limit: authenticated, and the user held at least 80% of the
//     limit on that server at that moment (sessions seen bound plus those
//     bound before the capture); or at least 3 authenticated refusals all
//     came at the same count of at least 2 that the user never exceeded (a
//     steady count below 80%: sessions bound before the capture are
//     invisible, or the DC's limit is lower). One session_limit finding
//     (error) per (server, user).
//   - other: authenticated with few sessions held: credentials, account
//     state, or the DC. logon_failed, error (warning when a later bind of
//     the same user succeeded).
//
// Faults and other statuses on NspiBind count in binds_failed_other and
// raise bind_failed.
//
// # Leaks
//
// For each (server, user), and for anonymous sessions each (server, client
// IP), take the sessions never unbound (open_at_end or connection_closed).
// The user leaks when at least 3 of them were held at once. The growth rate
// is the least-squares slope, in sessions per hour, of the number of those
// sessions held, sampled after every bind and every end. When the rate is
// positive, the user is below the limit and some are still open, the
// finding projects when the limit is reached (LimitAt) from the last event
// of the capture. A leak is an error when the user also hit the limit,
// otherwise a warning.
//
// # Adding a finding kind
//
//  1. Add a Kind constant in report.go, list it in Kinds, and document it
//     in the README's report schema.
//  2. Collect notes in the pass (analyzer.go) with the frames that prove it.
//  3. Build the finding in findings.go through newFinding (it bounds the
//     frames and sets the sort key) with a message that says what to do.
//  4. Decide whether it has a verdict sentence (pass.verdict).
//  5. Add a case to TestAnalyzer.
package analyze
