package synth

import (
	"fmt"
	"sort"
)

// Manifest describes what a generated capture contains, for tests that
// compare a decoder (and tshark) against it. Frame numbers are 1-based, as
// Wireshark numbers them. A call's frame is the frame in which the last
// missing byte of its (last) PDU is captured, i.e. where a reassembling
// dissector completes the PDU.
type Manifest struct {
	Name        string   `json:"name"`
	File        string   `json:"file"`
	Format      string   `json:"format"`
	LinkTypes   []int    `json:"link_types"`
	Description string   `json:"description"`
	Expected    string   `json:"expected_findings"`
	Frames      int      `json:"frames"`
	TsharkArgs  []string `json:"tshark_args,omitempty"`
	// TsharkNone says why tshark decodes none of the capture's calls
	// (TestTshark skips it).
	TsharkNone string `json:"tshark_none,omitempty"`
	// KeysFile names a keys file beside the capture (nspicap --keys) that
	// decrypts its sealed calls, when it has any.
	KeysFile string `json:"keys_file,omitempty"`
	// KeytabFile names an MIT keytab beside the capture (nspicap
	// --keytab) whose service keys decrypt its Kerberos tickets: the calls
	// with a Principal are decrypted and named with it.
	KeytabFile string `json:"keytab_file,omitempty"`
	// TsharkKeytabArgs are the tshark options that decrypt the capture
	// with KeytabFile (relative to testdata). They are not in TsharkArgs:
	// TestTshark runs nspicap with the keys file only, and would compare
	// tshark's decrypted statuses with nspicap's sealed ones.
	TsharkKeytabArgs []string `json:"tshark_keytab_args,omitempty"`
	Notes            []string `json:"notes,omitempty"`
	// NSPI lists every NSPI request in the capture, in request order.
	NSPI []Call `json:"nspi_calls"`
	// Other lists EPM and RFR calls.
	Other    []Call    `json:"other_calls"`
	Sessions []Session `json:"sessions"`
	Summary  Summary   `json:"summary"`
	// KDC lists the Kerberos messages on port 88, in capture order.
	KDC []KDCMessage `json:"kdc_messages,omitempty"`
}

// Call is one RPC call (request and its reply).
type Call struct {
	Interface string `json:"interface"` // nspi, epm, rfr
	Opnum     uint16 `json:"opnum"`
	Op        string `json:"op"`
	// User is "DOMAIN\user" of the security context that carried the call,
	// or "" when unauthenticated, anonymous, Kerberos (see KDCUser and
	// Principal) or not visible (the bind is not in the capture).
	User string `json:"user"`
	// Auth: none, ntlm, ntlm-anonymous, spnego-ntlm, kerberos, or unknown
	// (the bind is not in the capture).
	Auth       string `json:"auth"`
	Conn       int    `json:"conn"` // 1-based connection number in creation order
	Client     string `json:"client"`
	Server     string `json:"server"`
	AssocGroup uint32 `json:"assoc_group"`
	CallID     uint32 `json:"call_id"`
	ContextID  uint16 `json:"context_id"`
	BigEndian  bool   `json:"big_endian,omitempty"`
	// RequestFrame is 0 when a request byte is missing from the capture.
	RequestFrame int `json:"request_frame"`
	// ReplyFrame is 0 when there is no reply (Reply "none").
	ReplyFrame int    `json:"reply_frame"`
	Reply      string `json:"reply"` // response, fault, none
	// Status is the return value (last 4 bytes of the response stub) or
	// the fault status when Reply is "fault".
	Status    uint32 `json:"status"`
	StatusHex string `json:"status_hex"`
	// Handle is the NSPI context handle (hex of the 20 wire bytes): the one
	// returned by NspiBind, or the one sent by other calls.
	Handle           string `json:"handle,omitempty"`
	RequestFragments int    `json:"request_fragments"`
	ReplyFragments   int    `json:"reply_fragments"`
	// Tshark is true when tshark dissects the call with this interface and
	// opnum (it saw the bind); TsharkStatus when it also shows the status
	// (nspi.MAPISTATUS_status / rfr.MAPISTATUS_status / epm.rc, or
	// dcerpc.cn_status for faults).
	Tshark       bool   `json:"tshark"`
	TsharkStatus bool   `json:"tshark_status"`
	Note         string `json:"note,omitempty"`
	// InferredFrom: the bind is not in the capture and nspicap should infer
	// the interface from this evidence (epm, bind_elsewhere, handle,
	// stub_shape); empty with the bind outside the capture: the capture
	// holds no evidence, the interface stays unknown.
	InferredFrom string `json:"inferred_from,omitempty"`
	// Sealed: "key" when the call is sealed (auth level privacy) and the
	// manifest's keys file decrypts it, "no-key" when it is sealed and the
	// keys file has no key for its user (every Kerberos-sealed call: keys
	// files hold NTLM keys; see Principal); empty when not sealed.
	Sealed string `json:"sealed,omitempty"`
	// Principal is the Kerberos client principal (user@REALM) that the
	// manifest's keytab reveals by decrypting the call's ticket; with it
	// the keytab also decrypts the call when it is sealed. Empty when the
	// keytab has no key for the ticket or the call is not Kerberos. User
	// stays empty for Kerberos calls: without the keytab nobody is named.
	Principal string `json:"principal,omitempty"`
	// KDCNamed: the capture holds, before the bind, the KDC reply that
	// issued the call's ticket: without any key the call's user is
	// KDCUser (user@REALM), named by that reply; Via the service that
	// obtained the ticket by delegation; KDCFrame the frame where that
	// reply is complete (nspicap's identity_frame). TicketLabel: the
	// ticket's label when the call is Kerberos and the reply is not in the
	// capture.
	KDCNamed    bool   `json:"kdc_named,omitempty"`
	KDCUser     string `json:"kdc_user,omitempty"`
	KDCFrame    int    `json:"kdc_frame,omitempty"`
	Via         string `json:"via,omitempty"`
	TicketLabel string `json:"ticket_label,omitempty"`

	conn *Conn
}

// Session is one NSPI context handle seen in the capture.
type Session struct {
	Handle    string `json:"handle"`
	User      string `json:"user"`
	Auth      string `json:"auth"`
	Server    string `json:"server"`
	Client    string `json:"client"`
	Conn      int    `json:"conn"`
	BindFrame int    `json:"bind_frame"` // 0: bound before the capture started
	// UnbindFrame is the request frame of a successful NspiUnbind, or 0.
	UnbindFrame int `json:"unbind_frame"`
	UnbindConn  int `json:"unbind_conn,omitempty"`
	// End: "unbound", or how the binding connection ended without an
	// unbind: "fin", "rst", "end_of_capture" (still open).
	End string `json:"end"`
}

// UserSummary counts NSPI outcomes per user.
type UserSummary struct {
	User         string `json:"user"`
	Binds        int    `json:"binds"`
	BindsOK      int    `json:"binds_ok"`
	LogonFailed  int    `json:"logon_failed"`
	Unbinds      int    `json:"unbinds_ok"`
	NeverUnbound int    `json:"never_unbound"`
	OpenAtEnd    int    `json:"open_at_end"`
}

// Summary is what nspicap should find.
type Summary struct {
	Binds                      int           `json:"binds"`
	BindsOK                    int           `json:"binds_ok"`
	LogonFailedAuthenticated   int           `json:"logon_failed_authenticated"`
	LogonFailedAnonymous       int           `json:"logon_failed_ntlm_anonymous"`
	LogonFailedUnauthenticated int           `json:"logon_failed_unauthenticated"`
	UnbindsOK                  int           `json:"unbinds_ok"`
	Faults                     int           `json:"faults"`
	Users                      []UserSummary `json:"users"`
}

func statusHex(v uint32) string { return fmt.Sprintf("0x%08x", v) }

// finalize derives sessions and the summary from the calls.
func (m *Manifest) finalize() {
	byHandle := map[string]*Session{}
	var order []string
	users := map[string]*UserSummary{}
	user := func(u string) *UserSummary {
		if users[u] == nil {
			users[u] = &UserSummary{User: u}
		}
		return users[u]
	}
	m.Summary = Summary{}
	for _, c := range m.NSPI {
		if c.Reply == "fault" {
			m.Summary.Faults++
		}
		switch c.Opnum {
		case OpNspiBind:
			m.Summary.Binds++
			u := user(c.User)
			u.Binds++
			if c.Reply != "response" {
				continue
			}
			if c.Status == StatusSuccess && c.Handle != "" {
				m.Summary.BindsOK++
				u.BindsOK++
				byHandle[c.Handle] = &Session{Handle: c.Handle, User: c.User, Auth: c.Auth, Server: c.Server,
					Client: c.Client, Conn: c.Conn, BindFrame: c.RequestFrame, End: connEnd(c.conn)}
				order = append(order, c.Handle)
			}
			if c.Status == StatusLogonFailed {
				u.LogonFailed++
				switch c.Auth {
				case "none":
					m.Summary.LogonFailedUnauthenticated++
				case "ntlm-anonymous":
					m.Summary.LogonFailedAnonymous++
				default:
					m.Summary.LogonFailedAuthenticated++
				}
			}
		default:
			if c.Handle == "" {
				continue
			}
			s := byHandle[c.Handle]
			if s == nil {
				s = &Session{Handle: c.Handle, User: c.User, Auth: c.Auth, Server: c.Server, Client: c.Client,
					Conn: c.Conn, End: connEnd(c.conn)}
				byHandle[c.Handle] = s
				order = append(order, c.Handle)
			}
			if c.Opnum == OpNspiUnbind && c.Reply == "response" && c.Status == StatusUnbindSuccess {
				m.Summary.UnbindsOK++
				s.UnbindFrame = c.RequestFrame
				s.UnbindConn = c.Conn
				s.End = "unbound"
				user(s.User).Unbinds++
			}
		}
	}
	m.Sessions = nil
	for _, h := range order {
		s := byHandle[h]
		m.Sessions = append(m.Sessions, *s)
		if s.End != "unbound" && s.BindFrame != 0 {
			u := user(s.User)
			u.NeverUnbound++
			if s.End == "end_of_capture" {
				u.OpenAtEnd++
			}
		}
	}
	m.Summary.Users = nil
	for _, u := range users {
		m.Summary.Users = append(m.Summary.Users, *u)
	}
	sort.Slice(m.Summary.Users, func(i, j int) bool { return m.Summary.Users[i].User < m.Summary.Users[j].User })
}

func connEnd(c *Conn) string {
	if c == nil || c.End == "" {
		return "end_of_capture"
	}
	return c.End
}
