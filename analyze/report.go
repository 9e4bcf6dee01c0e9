package analyze

import (
	"encoding/json"
	"time"
)

// Schema is the value of Report.Schema. It changes when a name in the JSON
// document changes meaning or disappears; new names may be added without a
// change.
const Schema = "nspicap/report/v1"

// DefaultLimit is the default of Windows Server 2008 and later for the
// registry value "NSPI max sessions per user" (KB949469).
const DefaultLimit = 50

// Severities of a Finding, most severe first.
const (
	SevError   = "error"
	SevWarning = "warning"
	SevInfo    = "info"
)

// Causes of a refused NspiBind (Refusal.Cause and Finding.Cause).
const (
	CauseAnonymous    = "anonymous"
	CauseSessionLimit = "session_limit"
	CauseOther        = "other"
)

// Session ends (Session.End).
const (
	EndUnbind           = "unbind"
	EndConnectionClosed = "connection_closed"
	EndOpenAtEnd        = "open_at_end"
)

// NullString is a string that is encoded in JSON as null when it is empty.
type NullString string

// MarshalJSON implements json.Marshaler.
func (s NullString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *NullString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = NullString(v)
	return nil
}

// Input describes one capture file that fed the analyzer. The caller fills
// it in and passes it to Analyzer.Report.
type Input struct {
	Path      string    `json:"path"`
	Format    string    `json:"format"`
	Packets   int64     `json:"packets"`
	FirstTime time.Time `json:"first_time"`
	LastTime  time.Time `json:"last_time"`
	Warnings  []string  `json:"warnings"`
	// SnapLen is the length the capture's snap length cut records to,
	// and CutCalls the DCE/RPC calls those cuts touched (their user, stub
	// or status may be unknown); both 0 when no record was cut.
	SnapLen  int   `json:"snap_len,omitempty"`
	CutCalls int64 `json:"cut_calls,omitempty"`
	// CutSMBMessages counts the SMB messages of named pipes those cuts
	// touched: they are dropped, with the calls they carried.
	CutSMBMessages int64 `json:"cut_smb_messages,omitempty"`
	// Error says why the file could not be read (then nothing of it is in
	// the report, and the verdict opens by saying so); absent when it was.
	Error string `json:"error,omitempty"`
}

// Counters are the per-row numbers of the report. Calls are attributed to the
// session they used (its user and client) when the session is known, and to
// the identity and client of the call otherwise.
type Counters struct {
	// Binds counts NspiBind calls, whatever their outcome.
	Binds int `json:"binds"`
	// BindsOK counts NspiBind answered with status 0.
	BindsOK int `json:"binds_ok"`
	// BindsLogonFailed counts NspiBind answered MAPI_E_LOGON_FAILED.
	BindsLogonFailed int `json:"binds_logon_failed"`
	// BindsFailedOther counts NspiBind answered with a fault or another
	// status.
	BindsFailedOther int `json:"binds_failed_other"`
	// BindsUnknown counts NspiBind whose outcome is unknown (unanswered, or
	// sealed and not decrypted).
	BindsUnknown int `json:"binds_unknown"`
	// BindsInferred counts the binds among binds_ok and binds_logon_failed
	// whose outcome was inferred from what the client did next, because
	// the answer was sealed and no key was given (not decoded).
	BindsInferred int `json:"binds_inferred"`
	// Unbinds counts NspiUnbind calls, whatever their outcome.
	Unbinds int `json:"unbinds"`
	// OtherCalls counts the other NSPI calls (opnums 2..20).
	OtherCalls int `json:"other_calls"`
	// OpenAtEnd counts sessions still open at the end of the capture.
	OpenAtEnd int `json:"open_at_end"`
	// ClosedWithoutUnbind counts sessions that ended with their TCP
	// connections, without NspiUnbind.
	ClosedWithoutUnbind int `json:"closed_without_unbind"`
	// PeakConcurrent is the highest number of sessions held at once.
	PeakConcurrent int `json:"peak_concurrent"`
}

// UserRow holds the counters of one user on one server.
type UserRow struct {
	Server string `json:"server"`
	// User is the identity that carried the binds; null for binds that
	// carried none (anonymous), or a Kerberos user the capture does not
	// name (then Ticket is set).
	User NullString `json:"user"`
	AccountIdentity
	Counters
}

// AccountIdentity is what a row or a finding says of its user beyond the
// name (accounts.go).
type AccountIdentity struct {
	// UPN is the user's user@REALM: its Kerberos name, or its NTLM name
	// with the domain's DNS name when the two are known to match.
	UPN NullString `json:"upn,omitempty"`
	// Ticket labels the Kerberos ticket of a user the capture does not
	// name: "<service principal>#<8 hex digits>", one ticket one account.
	Ticket string `json:"ticket,omitempty"`
	// IdentityFrom says what named the user (ntlm, keytab, tgs_rep, smb,
	// http) and IdentityFrame where, the first time.
	IdentityFrom  string    `json:"identity_from,omitempty"`
	IdentityFrame *FrameRef `json:"identity_frame,omitempty"`
}

// ClientRow holds the counters of one client IP on one server.
type ClientRow struct {
	Server string `json:"server"`
	Client string `json:"client"`
	// ClientAddress is the client behind the RPC proxy Client (from the
	// RPC over HTTP IN channel); each such client has its own row.
	ClientAddress string `json:"client_address,omitempty"`
	Counters
}

// Session is one NSPI session: an NspiBind answered with status 0 and a
// non-zero context handle, keyed by (server IP, handle).
type Session struct {
	// Server is the server IP; ServerPort its TCP port.
	Server     string `json:"server"`
	ServerPort uint16 `json:"server_port"`
	// Client is the client ip:port of the connection that carried the bind.
	Client string `json:"client"`
	// ClientAddress is the client behind the RPC proxy Client, when the
	// bind came over RPC over HTTP and the IN channel named it.
	ClientAddress string `json:"client_address,omitempty"`
	// Transport is the RPC protocol sequence of the bind: ncacn_ip_tcp,
	// ncacn_np or ncacn_http.
	Transport string `json:"transport"`
	// User is the identity that carried the bind, null for none.
	User NullString `json:"user"`
	// Auth is the authentication of the bind: none, ntlmssp, kerberos, ...
	Auth string `json:"auth"`
	// Handle is the 20-byte context handle in hex (40 digits).
	Handle string `json:"handle"`
	// Inferred: the NspiBind answer was sealed and the session's start was
	// inferred from the client going on with NSPI calls (no handle known).
	Inferred  bool      `json:"inferred,omitempty"`
	BindFrame FrameRef  `json:"bind_frame"`
	BindTime  time.Time `json:"bind_time"`
	// End is unbind, connection_closed or open_at_end.
	End string `json:"end"`
	// EndFrame: the NspiUnbind request, or the frame that ended the last
	// connection that used the handle; null when open at end.
	EndFrame *FrameRef  `json:"end_frame"`
	EndTime  *time.Time `json:"end_time"`
	// UnbindStatus says how the NspiUnbind that ended the session was
	// answered: "ok" (1), "failed" (2 or another status), "unanswered" or
	// "unknown" (sealed); empty unless End is unbind.
	UnbindStatus string `json:"unbind_status,omitempty"`
	// Calls counts the other NSPI calls made on the handle.
	Calls int `json:"calls"`
}

// Refusal is one NspiBind refused with MAPI_E_LOGON_FAILED (0x80040111).
type Refusal struct {
	Server string `json:"server"`
	Client string `json:"client"`
	// ClientAddress and Transport: as in Session.
	ClientAddress string     `json:"client_address,omitempty"`
	Transport     string     `json:"transport"`
	User          NullString `json:"user"`
	Auth          string     `json:"auth"`
	// Anonymous: the bind carried no identity.
	Anonymous bool `json:"anonymous"`
	// Frame is the request, ReplyFrame the answer that carried the status.
	Frame      FrameRef  `json:"frame"`
	ReplyFrame FrameRef  `json:"reply_frame"`
	Time       time.Time `json:"time"`
	// Ordinal is the 1-based rank of this NspiBind among the user's binds on
	// that server.
	Ordinal int `json:"ordinal"`
	// Held is the number of sessions seen bound that the user held on the
	// server at that moment; HeldBeforeCapture the number of sessions it
	// was using that were bound before the capture began (a lower bound).
	Held              int `json:"held"`
	HeldBeforeCapture int `json:"held_before_capture"`
	// StatusInferred: the answer was sealed; the refusal was inferred
	// (the client bound again at once, or closed).
	StatusInferred bool `json:"status_inferred,omitempty"`
	// Cause is anonymous, session_limit or other.
	Cause string `json:"cause"`
}

// Finding is one problem or remark, with the frames that prove it.
type Finding struct {
	Kind     string     `json:"kind"`
	Severity string     `json:"severity"`
	Server   NullString `json:"server"`
	User     NullString `json:"user"`
	AccountIdentity
	Client NullString `json:"client"`
	// ClientAddress is, when the calls behind the finding came through an
	// RPC proxy from one client, that client's address; Client is then the
	// proxy's.
	ClientAddress string `json:"client_address,omitempty"`
	// Transports are the RPC protocol sequences that carried the calls
	// behind the finding (ncacn_ip_tcp, ncacn_np, ncacn_http), in that
	// order; absent for findings not made of calls.
	Transports []string `json:"transports,omitempty"`
	// Frames are the evidence: at most the first 10 and the last of Count.
	Frames []FrameRef `json:"frames"`
	// Count is the number of events behind the finding.
	Count   int    `json:"count"`
	Message string `json:"message"`
	// Cause is set for logon_failed and session_limit.
	Cause string `json:"cause,omitempty"`
	// RatePerHour and LimitAt are set for leak: the growth of the sessions
	// never unbound, and when the limit would be reached at that rate.
	RatePerHour float64    `json:"rate_per_hour,omitempty"`
	LimitAt     *time.Time `json:"limit_at,omitempty"`
	// StatusInferred: some of the refusals behind a logon_failed or
	// session_limit finding, or of the sessions behind a leak finding, come
	// from sealed binds whose outcome was inferred, not decoded (the
	// message says how many).
	StatusInferred bool `json:"status_inferred,omitempty"`
	// Evidence names what the capture did not give whole in the evidence
	// behind the finding: "bytes_lost" (bytes of a connection were not
	// captured) and "interface_inferred" (a call's bind is not in the
	// capture). The message says so too. Absent when the evidence is whole.
	Evidence []string `json:"evidence,omitempty"`

	seq int // first evidence, for sorting
	// ukey is the user key of User or Ticket.
	ukey string
	// retired: rendered when its row was retired (retire.go), with the
	// verdict's sentence for a report of one server and of several.
	retired bool
	vline   [2]string
	vok     [2]bool
	// anon: a leak of anonymous sessions, grouped by client.
	anon bool
	// cl is the client of Client and ClientAddress.
	cl peer
}

// Anomaly is a decoding or capture problem counted by the pipeline. A
// Notice is not one: it says something of the report (calls that stay
// sealed, a list left short) while nothing was lost or misread, and the
// verdict does not count it among the decoding anomalies.
type Anomaly struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
	// File and Frame are the first occurrence's; null for an anomaly of
	// no frame (a notice on the report, a limit hit at the end).
	File    NullString `json:"file"`
	Frame   *int64     `json:"frame"`
	Message string     `json:"message"`
	Notice  bool       `json:"notice,omitempty"`
}

// Report is the result of an analysis: the one document that every output
// format renders. All lists are sorted and never nil.
type Report struct {
	Schema  string `json:"schema"`
	Version string `json:"version"`
	// Verdict is the answer in plain sentences, most important first.
	Verdict  []string    `json:"verdict"`
	Inputs   []Input     `json:"inputs"`
	Limit    int         `json:"limit"`
	Totals   Counters    `json:"totals"`
	Users    []UserRow   `json:"users"`
	Clients  []ClientRow `json:"clients"`
	Sessions []Session   `json:"sessions"`
	Refusals []Refusal   `json:"refusals"`
	// Beyond NSPI (store_sessions.go, referrals.go, timeline.go): Exchange
	// store sessions, RFR referrals and the sessions held over time.
	EMSMDBLimit    int               `json:"emsmdb_limit"`
	EMSMDBUsers    []EMSMDBUserRow   `json:"emsmdb_users"`
	EMSMDBClients  []EMSMDBClientRow `json:"emsmdb_clients"`
	EMSMDBSessions []EMSMDBSession   `json:"emsmdb_sessions"`
	Referrals      []Referral        `json:"referrals"`
	Timeline       []TimelineRow     `json:"timeline"`
	Findings       []Finding         `json:"findings"`
	Anomalies      []Anomaly         `json:"anomalies"`
	// Evidence is set when the frames behind the findings were written
	// to a pcapng file (analyze --evidence).
	Evidence *EvidenceFile `json:"evidence,omitempty"`

	// lists, in a streamed report (ReportStreamed), gives Sessions and
	// Refusals instead of the two slices.
	lists *lists
}

// HasKind reports whether a finding of that kind is in the report.
func (r *Report) HasKind(kind string) bool {
	for i := range r.Findings {
		if r.Findings[i].Kind == kind {
			return true
		}
	}
	return false
}

// markQuality records that the evidence behind f was not whole, in
// Evidence and at the end of the message.
func (f *Finding) markQuality(q Quality) {
	q &^= StatusInferred // said by StatusInferred and the message already
	if q == 0 {
		return
	}
	f.Evidence = q.Names()
	f.Message += " The evidence is not whole: " + q.text() + "."
}
