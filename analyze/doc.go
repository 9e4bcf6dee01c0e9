// Package analyze turns NSPI events into sessions, counters, findings and a
// verdict: who leaks NSPI address-book sessions, who hit the domain
// controller's per-user limit, and why each NspiBind was refused.
//
// The package is pure: no I/O, no capture or decoding imports. The pipeline
// feeds it typed events in capture order (Analyzer.Add, event.go): one type
// per fact (NSPICall, StoreCall, EndpointAnswer, ReferralCall, ConnEnd,
// ConnAttempt), each with a Meta that says when, where, and what the
// capture did not give whole (Quality). It then asks for a Report
// (Analyzer.Report); internal/report renders it. Sorting happens here,
// once, so every rendering is deterministic. docs/json-schema.md documents
// the JSON.
//
// # Shape
//
// The Analyzer is a dispatcher over trackers. Each tracker owns its state,
// its findings and its retirement, in a file of its own:
//
//   - nspi_sessions.go (with nspi_refusals.go, nspi_records.go,
//     findings.go, verdict.go, leak.go, retire.go, lists.go): NSPI
//     address-book sessions;
//   - store_sessions.go: Exchange store (EMSMDB) sessions;
//   - endpoints.go: the endpoint mapper's answers and the connection
//     attempts to the endpoints it gave;
//   - referrals.go: RFR referrals;
//   - dead_conns.go: NSPI and EMSMDB connections that died silently;
//   - timeline.go: the sessions each user and client held over time.
//
// They share a core (core.go): the options, the position in the stream of
// events (seq, the capture clock) and the interned names of users and
// servers, so that every row and finding spells a user the same way. Every
// finding kind is declared in kinds.go. Findings built on evidence the
// capture did not give whole (Quality: bytes lost, interface inferred) say
// so in their message and in Finding.Evidence.
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
// DOMAIN\user and user@REALM are one account once a DomainAlias event (an
// NTLM CHALLENGE's MsvAvNbDomainName and MsvAvDnsDomainName, MS-NLMP
// 2.2.2.1, or a keytab-decrypted ticket's PAC, MS-PAC 2.5 and 2.10) or
// Options.Domains pairs the domains (Accounts names users so for a
// caller without an Analyzer, such as `calls --domain`); a Kerberos call
// whose user is not known is counted under its ticket (Identity.Origin.Ticket),
// one ticket one account, never anonymous (accounts.go).
//
// A session ends:
//   - unbind: an NspiUnbind on its handle that the RPC runtime accepted,
//     whatever it returned. 1 is the normal case; 2 means the server no
//     longer knew the handle, so it is not holding it either; an unanswered
//     or encrypted NspiUnbind also ends it, because the client did its part
//     and the server frees the handle unless it is gone already. Anything but
//     1 raises unbind_failed (2) or unanswered_call. An NspiUnbind answered
//     with a fault does not end the session (the runtime rejected the call).
//     A call whose answer travels on a connection the capture does not tie
//     to it (Answer.Elsewhere: an unpaired RPC over HTTP channel older
//     than the capture) is not unanswered: its outcome is unknown, as an
//     encrypted one's.
//   - connection_closed: every TCP connection that used the handle (the
//     bind's, and any that carried a call or an unbind on it) has ended with
//     FIN or RST. Connections still open at the end of the capture, or that
//     the capture layer stopped following (evicted), end nothing.
//   - open_at_end: neither happened.
//
// A client is the IP of the connection's client, or, for RPC over HTTP
// through an RPC proxy whose IN channel named it (Meta.ClientAddress), the
// client behind the proxy with the proxy beside it (peer, core.go): client
// rows, RFR referral rows, anonymous leaks and the findings grouped by
// client are kept per client behind the proxy, and findings and verdict
// name it. Meta.Transport
// changes no count: sessions, refusals and findings carry it.
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
//   - anonymous: the bind carried no identity (Identity.Anonymous; a token
//     cut by the snap length, Identity.Cut, is not anonymous). Outlook
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
// Sessions authenticated by a user the capture does not name (Kerberos, or
// an NTLM AUTHENTICATE the snap length cut: Identity.Cut) are the user ""
// of the server, never anonymous ones.
// The user leaks when at least 3 of them were held at once. The growth rate
// is the least-squares slope, in sessions per hour, of the number of those
// sessions held, sampled after every bind and every end (see "Memory" for
// how it is summed). When the rate is
// positive, the user is below the limit and some are still open, the
// finding projects when the limit is reached (LimitAt) from the last event
// of the capture. A leak is an error when the user also hit the limit,
// otherwise a warning.
//
// # Memory
//
// Memory depends on live state, never on the length of the capture. Add
// correlates each event at once and keeps no event: only the open sessions
// (and the connections they use), one row per (server, user) and per
// (server, client IP) with its counters, peaks and summaries, and the lists
// of the report, each bounded:
//
//   - Report.Sessions holds the first Options.MaxSessions sessions bound
//     (default 20000) and Report.Refusals the first Options.MaxRefusals
//     refused binds (default 20000), in capture order, packed (about 120
//     bytes each) until Report unpacks them; ReportStreamed does not unpack
//     them all at once but one at a time as they are written (EachSession,
//     EachRefusal), so that writing a report holds none of them unpacked
//     beyond the one being written. The counters, findings and
//     verdict count the others, and the last sentence of the verdict says
//     how many were left out (totals.binds_ok and totals.binds_logon_failed
//     are the full counts).
//   - A finding keeps what it shows: its count, the first 10 and the last of
//     its frames, the held range and the first ordinal of refusals, a tally
//     of statuses or operations (the first 64 names, the rest as "others"),
//     and its distinct context handles (up to 1024, then "more than 1024").
//   - The growth rate of a leak is computed from running least-squares sums
//     (leak.go). Whether a session is never unbound is known only when it
//     ends, so a point of the series is summed once every session bound
//     before it has ended; points after the bind of a session still open
//     wait, up to 4096 per series and 2^18 in all. Beyond that the series
//     keeps one summary per open session instead of the points: the rate is
//     then the same up to floating-point rounding, the peak exact.
//   - Unanswered calls wait with their connection until it ends (their
//     severity depends on how it ends); anonymous refusals wait per (server,
//     client IP) for an authenticated bind that follows them.
//   - The handles of the last 4×Options.MaxRows sessions that ended are
//     remembered (hashed): a call or NspiUnbind on a handle that ended
//     earlier than that is taken for a session bound before the capture
//     (session_before_capture, unbind_unknown_handle info) rather than a
//     call after its end.
//   - Rows are retired (retire.go). When the (server, user) or the (server,
//     client IP) table reaches Options.MaxRows (default 10000), the rows
//     that hold no session (none open, none bound before the capture and
//     still in use) and were active longest ago are rendered there and then
//     (findings, verdict sentences, timeline series) exactly as Report
//     would, until the table is at 3/4 of MaxRows. Retired rows are listed
//     up to MaxRows per table and counted beyond; their findings are kept
//     up to Options.MaxFindings (default 5000), a less severe one making
//     room for a more severe one, the rest counted by kind. A user that
//     comes back after its row was retired gets a new row that counts from
//     its return. Remarks (notes: bind_failed, unbind_unknown_handle, ...)
//     and anonymous refusals followed by an authenticated bind are retired
//     the same way beyond MaxRows and MaxRows/2 keys. The spellings of users
//     are remembered for 2×MaxRows users; beyond, those no row refers to are
//     forgotten. With users that do not come back, the report is that of an
//     unbounded analyzer but for the sentences that say what was left out
//     (TestRetireSameReport); the live heap stays the same for 20 000 and
//     200 000 such users (TestRetireMemoryBounded).
//   - When too few rows are quiet (tens of thousands of users each holding
//     a session), the rows active longest ago are retired all the same and
//     their open sessions forgotten: they count as open at the end, in the
//     rows and the totals, and a later call or NspiUnbind on one of them
//     (the last 4×MaxRows such handles are remembered) is counted, not
//     taken for a session bound before the capture. The verdict says how
//     many rows and sessions this touched (TestRetireHoldingSessions).
//   - More than Options.MaxOpenSessions (default 20000) sessions open at
//     once retire the rows that hold the oldest, with their sessions, down
//     to 3/4 of it (shedSessions), and the verdict says so. A user that
//     leaks tens of thousands of sessions then has one finding per row it
//     had; the verdict says their sentence once, with the count.
//   - EMSMDB rows and sessions are not retired: users and clients beyond
//     MaxRows, and sessions beyond MaxOpenSessions, are counted in the
//     verdict and not followed.
//   - Names come clipped to 100 bytes (ntlmssp.ClipName).
//
// With every bound at its default, the analyzer's heap stays under 64 MiB
// on the worst input it can be given: a million binds of one user never
// unbound, then 300 000 users with the longest names each holding a
// session over 20 000 connections (TestMemoryWorstCase).
//
// Report works on copies: it may be called more than once, and between
// calls to Add.
//
// # Beyond NSPI
//
// The other trackers keep the same bounded state: Exchange store sessions
// (StoreCall: EcDoConnect(Ex) opens, keyed by (server, CXH), limit
// Options.EMSMDBLimit), endpoint mapper answers and connection attempts
// (EndpointAnswer, ConnAttempt), RFR referrals (ReferralCall), dead
// connections (a call unanswered, silence, no FIN or RST, and a new bind or
// connect from the same client) and the timeline of sessions held. Their
// findings and sections are added after the NSPI verdict (Analyzer.report),
// so the NSPI part of the report is unchanged by them. Sources: MS-OXCRPC
// 3.1.4.1 and KB842022 (event 9646, "Maximum Allowed Sessions Per User");
// C706 appendix O and MS-RPCE for ept_map; MS-OXABREF 3.1.4 for RFR.
//
// # Adding a tracker
//
//  1. If it needs a fact no event carries, add an event type in event.go
//     (embed Meta, and Identity and Answer for a call), a case in Batch
//     (batch.go), and have the pipeline send it.
//  2. Write the tracker in a file of its own: a struct that embeds *core,
//     a constructor, a doc comment saying what it tracks, an add method per
//     event type it follows, bounded state (caps named as constants), and a
//     findings method that builds findings with core.evFinding or
//     core.framesFinding.
//  3. Give the Analyzer a field for it (analyzer.go), create it in New,
//     dispatch the events to it in Add, and call its findings and rows in
//     report. If it names users, register its liveNames in core.live.
//  4. Declare its finding kinds in kinds.go and list them in Kinds;
//     document them in docs/json-schema.md and the README's table.
//  5. Test it with fake events (see testutil_test.go), not captures.
//
// # Adding a finding kind
//
//  1. Add a Kind constant in kinds.go, list it in Kinds, and document it
//     in docs/json-schema.md.
//  2. In the tracker's add, gather what the finding needs in a bounded
//     form: a noteAcc (nspiTracker.note) or a summary like those of acc.go,
//     never the events themselves; carry the evidence's Quality.
//  3. Build the finding in the tracker's findings (for NSPI, findings.go
//     through reporter.newFinding, which takes the frames from the evAcc and
//     sets the sort key) with a message that says what to do. Report must
//     not change the Analyzer.
//  4. Decide whether it has a verdict sentence.
//  5. Add a case to TestAnalyzer.
package analyze
