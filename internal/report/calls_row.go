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
	Server    string `json:"server"`
	// Transport is "ncacn_np" for a call over an SMB named pipe, whose
	// name Pipe gives (`\PIPE\samr`); both are empty over TCP.
	Transport string `json:"transport,omitempty"`
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
	Auth         string  `json:"auth"`
	AuthLevel    string  `json:"auth_level"`
	Sealed       bool    `json:"sealed"`
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
