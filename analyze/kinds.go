package analyze

// Every finding kind, in one place. The names are stable: scripts and
// --fail-on use them. A new tracker adds its kinds here and to Kinds.

// Finding kinds of the NSPI sessions tracker.
const (
	// KindSessionLimit: authenticated NspiBind refused with
	// MAPI_E_LOGON_FAILED because the user held (about) the per-user limit.
	KindSessionLimit = "session_limit"
	// KindLogonFailed: NspiBind refused with MAPI_E_LOGON_FAILED for another
	// cause (Finding.Cause is "anonymous" or "other").
	KindLogonFailed = "logon_failed"
	// KindLeak: sessions bound and never unbound accumulate.
	KindLeak = "leak"
	// KindBindFailed: NspiBind answered with a fault or a status other than
	// success and MAPI_E_LOGON_FAILED.
	KindBindFailed = "bind_failed"
	// KindUnbindFailed: NspiUnbind of a known session answered with a fault
	// or with UnbindFailure (2).
	KindUnbindFailed = "unbind_failed"
	// KindUnbindUnknownHandle: NspiUnbind of a handle that is not open in
	// the capture (bound before it began, or already ended).
	KindUnbindUnknownHandle = "unbind_unknown_handle"
	// KindSessionBeforeCapture: NSPI calls on handles the capture never saw
	// bound: sessions bound before the capture began.
	KindSessionBeforeCapture = "session_before_capture"
	// KindCallAfterEnd: NSPI calls on handles whose session had already
	// ended (NspiUnbind, or its connections closed).
	KindCallAfterEnd = "call_after_end"
	// KindUnansweredCall: NSPI calls without a response or fault.
	KindUnansweredCall = "unanswered_call"
	// KindSealedCalls: NSPI calls whose stub was encrypted and not decrypted.
	KindSealedCalls = "sealed_calls"
)

// Finding kinds of the store sessions, endpoints and dead connections
// trackers.
const (
	// KindEMSMDBSessionLimit: EcDoConnect(Ex) refused with
	// ecMaxObjsExceeded (0x4DE) or MAPI_E_SESSION_LIMIT (0x80040112).
	KindEMSMDBSessionLimit = "emsmdb_session_limit"
	// KindEMSMDBLogonFailed: EcDoConnect(Ex) refused with ecLoginFailure.
	KindEMSMDBLogonFailed = "emsmdb_logon_failed"
	// KindEMSMDBConnectFailed: EcDoConnect(Ex) answered with a fault or
	// another status.
	KindEMSMDBConnectFailed = "emsmdb_connect_failed"
	// KindEMSMDBLeak: store sessions never disconnected accumulate.
	KindEMSMDBLeak = "emsmdb_leak"
	// KindEndpointNotRegistered: an endpoint mapper answered
	// ept_s_not_registered for an Exchange or directory interface.
	KindEndpointNotRegistered = "endpoint_not_registered"
	// KindEndpointUnreachable: a client connected to the host and port the
	// endpoint mapper gave and got a reset, or no answer.
	KindEndpointUnreachable = "endpoint_unreachable"
	// KindDeadConnection: NSPI or EMSMDB connections that went silent
	// without FIN or RST while the client opened new ones.
	KindDeadConnection = "dead_connection"
)

// Kinds lists every finding kind, for --fail-on.
var Kinds = []string{
	KindSessionLimit, KindLogonFailed, KindLeak, KindBindFailed, KindUnbindFailed,
	KindUnbindUnknownHandle, KindSessionBeforeCapture, KindCallAfterEnd,
	KindUnansweredCall, KindSealedCalls,
	KindEMSMDBSessionLimit, KindEMSMDBLogonFailed, KindEMSMDBConnectFailed, KindEMSMDBLeak,
	KindEndpointNotRegistered, KindEndpointUnreachable, KindDeadConnection,
}

// Kinds of the anomalies the analyzer itself reports (beside those of the
// DCE/RPC layer and the pipeline).
const (
	// AnomalyTimelineTruncated: the timeline lists the series that held the
	// most sessions (maxTimelineRows); the others are left out, their
	// counters and findings complete.
	AnomalyTimelineTruncated = "timeline_truncated"
)

// AnomalyKinds lists the analyzer's own anomaly kinds with a sentence each.
var AnomalyKinds = []struct{ Name, Description string }{
	{AnomalyTimelineTruncated, "The timeline lists only the series that held the most sessions; the others are left out (their counters and findings are complete)."},
}
