package dcerpc

import (
	"net/netip"
	"time"

	"github.com/nspicap/nspicap/ntlmssp"
)

// The values a Conn hands its Handler: positions, calls and their
// messages, security contexts, anomalies.

// Pos says where bytes came from: input file index, 1-based frame number in
// that file, and capture time. It has the same shape as the capture layer's
// position so that the two convert directly.
type Pos struct {
	File  int
	Frame int64
	Time  time.Time
}

// Dir is a direction on the connection: 0 client to server, 1 server to client.
type Dir uint8

const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

// Limits cap what one connection may hold in memory.
type Limits struct {
	// MaxCallBytes caps the stub bytes kept per call and direction; the
	// rest is counted and dropped (the last 4 bytes are always kept, since
	// they carry the return value).
	MaxCallBytes int
	// MaxOpenCalls caps calls awaiting an answer, and calls in reassembly.
	MaxOpenCalls int
	// DetectBytes is how far into a connection that did not start in the
	// capture nspicap looks for a DCE/RPC header before giving up on it.
	DetectBytes int
	// Unsealer, when set, decrypts and checks protected stubs (unseal.go).
	Unsealer Unsealer
	// Budget, when set, bounds the stub bytes held over every connection
	// that shares it (budget.go).
	Budget *Budget
	// Buffers, when set, bounds in the same way the bytes of partial PDUs
	// the connections buffer (settle).
	Buffers *Budget
	// keyless: the Unsealer holds no key (Keyless): its state is made
	// only for a context an anonymous NTLM AUTHENTICATE opens, the one
	// kind it can read (set by NewConn).
	keyless bool
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxCallBytes: 4 << 20, MaxOpenCalls: 4096, DetectBytes: 8 << 10}

// ConnMeta identifies the connection a call travelled on.
type ConnMeta struct {
	ID     uint64
	Client netip.AddrPort
	Server netip.AddrPort
	// FromStart: the connection's first bytes are in the capture (its SYN
	// was seen), so the client and server roles are known.
	FromStart bool
}

// Security is the security context that carried a call.
type Security struct {
	AuthType  uint8
	Level     uint8
	ContextID uint32
	Mech      ntlmssp.Mechanism
	// User is DOMAIN\user from an NTLM AUTHENTICATE; "" when unknown.
	User string
	// Anonymous: NTLM anonymous logon.
	Anonymous bool
	// Authenticated: an auth trailer was present.
	Authenticated bool
	// Cut: the capture's snap length cut a token of the context's
	// handshake (in a bind, alter_context, auth3 or their answers). With
	// User "", the token that names the user (an NTLM AUTHENTICATE, a
	// Kerberos AP-REQ) may be the one cut: the context is authenticated,
	// its user unknown, and it is not anonymous. Keys to unseal its calls
	// may be lost with it.
	Cut bool
	// Origin says what named User (or, for a Kerberos context whose user
	// is unknown, which ticket it used); nil when nothing did. Shared by
	// every call of the context: read only.
	Origin *Origin
}

// Origin is where a security context's identity came from.
type Origin struct {
	// From is what named the user: "ntlm" (an NTLM AUTHENTICATE),
	// "keytab" (a Kerberos ticket a keytab decrypted), "tgs_rep" (the
	// KDC-REP that issued the ticket, through a TicketNamer); "" when no
	// one did.
	From string
	// Pos is the PDU or frame that named it: the AUTHENTICATE, the AP-REQ
	// a keytab decrypted, the KDC-REP.
	Pos Pos
	// Ticket labels the Kerberos ticket of a context whose user is not
	// known: the service principal, "#", 8 hex digits of a digest of
	// its encrypted part.
	Ticket string
	// Via is the service that obtained the ticket for the user by
	// delegation (S4U2Self, S4U2Proxy), "" otherwise.
	Via string
}

// Origin sources (Origin.From).
const (
	OriginNTLM   = "ntlm"
	OriginKeytab = "keytab"
	OriginTGSRep = "tgs_rep"
)

// DomainPairer is implemented by a Handler that wants the NetBIOS and DNS
// names of the domain an NTLM CHALLENGE names in its AV pairs
// (MsvAvNbDomainName, MsvAvDnsDomainName), when it carries both.
type DomainPairer interface {
	DomainPair(netbios, dns string, pos Pos)
}

// TicketNamer is implemented by a Handler that can name the client of a
// Kerberos AP-REQ without keys (the KDC exchange that issued its ticket).
// It is asked once per Kerberos token of a bind, alter_context or auth3
// whose context no NTLM AUTHENTICATE or keytab named; tok is the raw or
// GSS-framed token, borrowed for the call. It returns the user
// (user@REALM, "" when not known) and the origin to record, or a nil
// origin when tok is not an AP-REQ.
type TicketNamer interface {
	NameTicket(tok []byte, pos Pos) (user string, o *Origin)
}

// AuthName returns "none", "ntlmssp", "kerberos", "netlogon" or "unknown".
func (s *Security) AuthName() string {
	if !s.Authenticated {
		return "none"
	}
	switch s.AuthType {
	case AuthNTLMSSP:
		return "ntlmssp"
	case AuthKerberos:
		return "kerberos"
	case AuthNetlogon:
		return "netlogon"
	case AuthSPNEGO:
		if s.Mech != ntlmssp.MechUnknown {
			return s.Mech.String()
		}
	}
	return "unknown"
}

// Message is one direction of a call: the request or the response, with its
// fragments reassembled.
type Message struct {
	// Pos is the frame of the first byte of the first fragment; LastPos the
	// frame that completed the last fragment (the last of its bytes to be
	// captured: where Wireshark shows the reassembled PDU).
	Pos, LastPos Pos
	// Stub holds the reassembled stub, at most Limits.MaxCallBytes of it.
	Stub []byte
	// Len is the full stub length, Tail its last 4 bytes (valid when Len >= 4).
	Len  int
	Tail [4]byte
	// Frags counts fragments. Complete is false when the last fragment was
	// never seen (the connection ended or a new call took the call_id).
	Frags    int
	Complete bool
	// Truncated: the stub was longer than Limits.MaxCallBytes, or than
	// Limits.Budget had room for; Stub holds its start (Tail still holds
	// its last 4 bytes).
	Truncated bool
	// Damaged: stub bytes were lost to a gap in the capture (a missing
	// segment, or a snap length); StatusLost: among them its last 4 bytes,
	// so Tail is not valid.
	Damaged    bool
	StatusLost bool
	// Cut: among the bytes lost, some (or all) were cut by the capture's
	// snap length (Conn.Cut), not lost in transit; Damaged is set too.
	Cut          bool
	LittleEndian bool
	// Sealed: the stub is encrypted (auth level privacy) and was not
	// decrypted; Decrypted: it was sealed and is now plaintext. Unseal
	// says what decryption made of it (the worst of its fragments).
	Sealed    bool
	Decrypted bool
	Unseal    UnsealStatus

	Auth AuthTrailer

	held int // bytes of Stub charged to Limits.Budget
	cost int // the fixed cost of the message (or of its call) charged there
}

// Fault is a fault PDU that answered a call.
type Fault struct {
	Pos    Pos
	Status uint32
}

// Call is a request with its response or fault, or alone when none came.
type Call struct {
	Conn      *ConnMeta
	CallID    uint32
	ContextID uint16
	Opnum     uint16
	// Iface is the abstract syntax of the presentation context; IfaceKnown
	// is false when the bind was not in the capture.
	Iface      SyntaxID
	IfaceKnown bool
	// NDR64: the presentation context negotiated the NDR64 transfer
	// syntax (MS-RPCE 2.2.5; the bind_ack's result names it), so the
	// stubs are NDR64. False for NDR20, and when the bind is not in the
	// capture.
	NDR64    bool
	Request  *Message
	Response *Message
	Fault    *Fault
	Sec      Security
}

// Sealed reports whether either stub is encrypted.
func (c *Call) Sealed() bool {
	return c.Request != nil && c.Request.Sealed || c.Response != nil && c.Response.Sealed
}

// Anomaly is something wrong or unusual in the byte stream, with a stable
// short kind name.
type Anomaly struct {
	Kind   string
	Conn   *ConnMeta
	Pos    Pos
	Detail string
}

// Handler receives the results of a connection. Calls arrive when their
// outcome is known: at the response or fault, or at Close for unanswered ones.
type Handler interface {
	Call(c *Call)
	Anomaly(a Anomaly)
	// Logon is called when an NTLM AUTHENTICATE names the user (or the
	// anonymous logon) of a security context; pos is its PDU.
	Logon(meta *ConnMeta, s Security, pos Pos)
}

// RTSSeer is implemented by handlers that want to know of the RTS PDUs
// (PTYPE 20, MS-RPCH 2.2.3.6.1) a connection meets: they belong to RPC
// over HTTP v2, and are otherwise skipped. pos is the PDU's first packet.
type RTSSeer interface {
	SawRTS(pos Pos)
}
