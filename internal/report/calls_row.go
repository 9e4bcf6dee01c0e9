package report

import (
	"encoding/json"
	"sync"
	"time"
)

// FormatTime formats a capture time as RFC 3339 in UTC with a fixed fraction:
// 6 digits, or 9 when the capture has nanosecond resolution.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if t.Nanosecond()%1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

// CallRow is one line of `nspicap calls`. The JSON names are part of the
// tool's interface (README, "calls fields").
type CallRow struct {
	File       string `json:"file"`
	Frame      int64  `json:"frame"`
	ReplyFrame *int64 `json:"reply_frame"`
	// ReplyFile is set only when the reply is in another file of a ring
	// buffer than the request.
	ReplyFile string `json:"reply_file,omitempty"`
	Time      string `json:"time"`
	Client    string `json:"client"`
	// ClientAddress is, for RPC over HTTP through an RPC proxy, the
	// address of the client behind the proxy (Client is then the proxy's
	// socket); empty otherwise.
	ClientAddress string `json:"client_address,omitempty"`
	Server        string `json:"server"`
	// Transport is the RPC protocol sequence: "ncacn_ip_tcp",
	// "ncacn_np" (an SMB named pipe, whose name Pipe gives: `\PIPE\samr`)
	// or "ncacn_http" (RPC over HTTP).
	Transport string `json:"transport"`
	Pipe      string `json:"pipe,omitempty"`
	CallID    uint32 `json:"call_id"`
	Interface string `json:"interface"`
	// InterfaceInferred: the bind is not in the capture and the interface
	// was inferred (see the README).
	InterfaceInferred bool `json:"interface_inferred,omitempty"`
	// InferredFrom names the evidence of the inference: "epm" (the
	// endpoint mapper mapped the interface to the server's address and
	// port), "bind_elsewhere" (another connection bound it there),
	// "handle" (the request names a context handle an NspiBind or
	// EcDoConnect(Ex) returned), "stub_shape" (the stubs have the layout
	// of one interface's call alone).
	InferredFrom string  `json:"inferred_from,omitempty"`
	Opnum        uint16  `json:"opnum"`
	Op           string  `json:"op"`
	User         *string `json:"user"`
	// UPN is the user's user@REALM when --domain names its domain: User
	// is then DOMAIN\user, as analyze's rows show it (a Kerberos
	// user@REALM renamed, or an NTLM name whose domain is covered).
	UPN string `json:"upn,omitempty"`
	// IdentityFrom says what named User: "ntlm" (the NTLM AUTHENTICATE),
	// "keytab" (the ticket decrypted with --keytab), "tgs_rep" (the KDC
	// reply that issued the ticket), "smb" (the pipe's SMB session);
	// IdentityFrame (and IdentityFile, when another file of a ring) the
	// frame that named it, 0 when not kept.
	IdentityFrom  string `json:"identity_from,omitempty"`
	IdentityFile  string `json:"identity_file,omitempty"`
	IdentityFrame int64  `json:"identity_frame,omitempty"`
	// Ticket labels the Kerberos ticket of a call whose user is unknown:
	// "<service principal>#<8 hex digits>".
	Ticket string `json:"ticket,omitempty"`
	// Via is the service that obtained the user's ticket by delegation
	// (S4U2Self, S4U2Proxy).
	Via       string `json:"via,omitempty"`
	Auth      string `json:"auth"`
	AuthLevel string `json:"auth_level"`
	Sealed    bool   `json:"sealed"`
	// Decrypted: the stub was sealed and nspicap decrypted it (--keys).
	Decrypted bool `json:"decrypted,omitempty"`
	// Incomplete: some stub bytes of the request or response were not
	// captured (a missing segment, the snap length) or not kept (over the
	// per-call limit).
	Incomplete bool     `json:"incomplete,omitempty"`
	Status     *string  `json:"status"`
	StatusName CodeName `json:"status_name"`
	Fault      *string  `json:"fault"`
	FaultName  CodeName `json:"fault_name"`
	LatencyUS  *int64   `json:"latency_us"`

	// StatusInferred: the stub was sealed and Status is inferred from
	// what the client did next (README, "Sealed traffic").
	StatusInferred bool `json:"status_inferred,omitempty"`
	// AnswerElsewhere: the request travelled on an RPC over HTTP IN
	// channel opened before the capture that no channel cookie tied to
	// its OUT channel: its answer, if any, is on a connection nspicap
	// cannot name (docs/rpc-over-http.md). Not an unanswered call.
	AnswerElsewhere bool `json:"answer_elsewhere,omitempty"`
}

// CodeName is the name of a status or fault code: null in JSON when there is
// none (no status, no fault, or a code without a name), as documented.
// Names come from the protocols' tables: their JSON text is kept once.
type CodeName string

var nameJSON sync.Map // CodeName -> []byte

// MarshalJSON implements json.Marshaler.
func (n CodeName) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("null"), nil
	}
	if b, ok := nameJSON.Load(n); ok {
		return b.([]byte), nil
	}
	b, err := json.Marshal(string(n))
	if err == nil {
		nameJSON.Store(n, b)
	}
	return b, err
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *CodeName) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*n = ""
	if s != nil {
		*n = CodeName(*s)
	}
	return nil
}
