package analyze

import (
	"net/netip"
	"strings"
	"time"
)

// FrameRef names one frame of one input file, as Wireshark numbers it.
type FrameRef struct {
	File  string `json:"file"`
	Frame int64  `json:"frame"`
}

// The analyzer's input is one typed event per fact the pipeline decoded:
//
//   - NSPICall: an NSPI call (NspiBind, NspiUnbind or any other opnum);
//   - StoreCall: an EMSMDB or AsyncEMSMDB call (EcDoConnect(Ex),
//     EcDoDisconnect or any other);
//   - EndpointAnswer: an ept_map answered by an endpoint mapper;
//   - ReferralCall: an RFR call (RfrGetNewDSA, RfrGetFQDNFromServerDN);
//   - ConnEnd: the end of a connection that carried DCE/RPC;
//   - ConnAttempt: the end of a TCP connection that carried no data;
//   - DomainAlias: a NetBIOS domain and its DNS name (accounts.go).
//
// Every event starts with a Meta: when, where, and the quality of the
// evidence. Events arrive in capture order (the time and frame of the
// request, or of the connection end). The values are decoded: statuses are
// numbers, ends and operations are typed, never strings to compare.

// Event is one of *NSPICall, *StoreCall, *EndpointAnswer, *ReferralCall,
// *ConnEnd, *ConnAttempt and *DomainAlias.
type Event interface {
	meta() *Meta
}

// Quality marks evidence the capture did not give whole. Findings built on
// such evidence say so (Finding.Evidence).
type Quality uint8

const (
	// BytesLost: bytes of the connection were not captured (a gap in the
	// TCP stream, a PDU damaged) at or before this call, so calls of it
	// may be missing or incomplete.
	BytesLost Quality = 1 << iota
	// IfaceInferred: the connection's bind was not read (it is older
	// than the capture, or the snap length cut it); the call's interface
	// was inferred from other evidence (Call.InferredFrom in the pipeline:
	// a context handle, the endpoint mapper, a bind elsewhere, the stub's
	// shape).
	IfaceInferred
	// StatusInferred: the status was not read from the wire but inferred
	// (a sealed NspiBind: from what the client did next).
	StatusInferred
	// SnapCut: the capture's snap length cut packets of the connection
	// at or before this call (its user, stub or status may be unknown),
	// so calls of it may be missing or incomplete.
	SnapCut
)

// qualityNames are the JSON names of the Quality bits, in bit order.
var qualityNames = [...]string{"bytes_lost", "interface_inferred", "status_inferred", "snap_cut"}

// Names returns the names of the set bits, in a fixed order; nil for none.
func (q Quality) Names() []string {
	var out []string
	for i, n := range qualityNames {
		if q&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// text says in words what the set bits mean, for a finding's message.
func (q Quality) text() string {
	var parts []string
	if q&BytesLost != 0 {
		parts = append(parts, "bytes were lost on a connection behind it")
	}
	if q&IfaceInferred != 0 {
		parts = append(parts, "the interface of a call behind it was inferred, not read from its bind")
	}
	if q&SnapCut != 0 {
		parts = append(parts, "the capture's snap length cut packets behind it (capture whole packets: tcpdump -s 0)")
	}
	return strings.Join(parts, "; ")
}

// Meta is what every event carries.
type Meta struct {
	Time time.Time
	// Frame is the first frame of the request (for ConnEnd and
	// ConnAttempt: the frame that ended the connection, or the last frame
	// of it at end of capture).
	Frame FrameRef
	// ConnID identifies the connection (unique within one run).
	ConnID  uint64
	Client  netip.AddrPort
	Server  netip.AddrPort
	Quality Quality
	// Transport is the RPC protocol sequence that carried the call:
	// ncacn_ip_tcp (the zero value), ncacn_np (an SMB named pipe) or
	// ncacn_http (RPC over HTTP).
	Transport Transport
	// ClientAddress is, over ncacn_http, the address of the client behind
	// the RPC proxy (the IN channel's ClientAddress); Client is then the
	// proxy's socket. Zero when not known or not proxied.
	ClientAddress netip.Addr
}

// Transport is an RPC protocol sequence (MS-RPCE 2.1).
type Transport uint8

const (
	// TransportTCP is ncacn_ip_tcp.
	TransportTCP Transport = iota
	// TransportNP is ncacn_np: DCE/RPC over an SMB named pipe.
	TransportNP
	// TransportHTTP is ncacn_http: RPC over HTTP, v1 or v2.
	TransportHTTP
)

var transportNames = [...]string{"ncacn_ip_tcp", "ncacn_np", "ncacn_http"}

// String returns the protocol sequence's name (ncacn_ip_tcp, ...).
func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return "unknown"
}

// trSet is a set of transports, a bit each: what a finding's calls came
// over.
type trSet uint8

func (t Transport) set() trSet {
	if t >= 8 {
		return 0
	}
	return 1 << t
}

// names lists the transports of the set in the order of the constants; nil
// for none. The lists are shared (trNames): a finding's Transports is read,
// never changed.
func (s trSet) names() []string {
	if int(s) < len(trNames) {
		return trNames[s]
	}
	return s.list()
}

func (s trSet) list() []string {
	var out []string
	for i := range transportNames {
		if s&(1<<i) != 0 {
			out = append(out, transportNames[i])
		}
	}
	return out
}

// trNames holds the lists of every set of the known transports.
var trNames = func() [][]string {
	l := make([][]string, 1<<len(transportNames))
	for i := range l {
		l[i] = trSet(i).list()
	}
	return l
}()

func (m *Meta) meta() *Meta { return m }

// Identity is the security context that carried a call.
type Identity struct {
	// User is DOMAIN\user, or "" when none is known. Compare
	// case-insensitively.
	User string
	// Auth is "none", "ntlmssp", "kerberos", "netlogon" or "unknown".
	Auth string
	// AuthLevel is "none", "connect", "call", "packet", "integrity" or
	// "privacy".
	AuthLevel string
	// Anonymous: no authentication at all, or NTLM anonymous (empty
	// user), or an NspiBind with fAnonymousLogin.
	Anonymous bool
	// Cut: the capture's snap length cut the token that names the user:
	// the call is authenticated, its User "" and Anonymous false.
	Cut bool
	// Origin says what named User, or which ticket carried a Kerberos
	// call whose user is not known; nil when nothing did. It is shared by
	// the calls of one security context (the sender makes it once) and
	// never changed after the call is handed on: the events stay small.
	Origin *Origin
}

// Origin is what an Identity knows of its user beyond the name.
type Origin struct {
	// From says what named Identity.User (one of the IdentityFrom
	// constants); "" when User is "".
	From string
	// FromFrame is the frame that named the user: the NTLM AUTHENTICATE,
	// the AP-REQ whose ticket a keytab decrypted, the TGS-REP that issued
	// the ticket, the HTTP request that carried the credentials.
	FromFrame FrameRef
	// Ticket is, for a Kerberos call whose user is not known, a label of
	// the ticket it used: the service principal and a digest of the
	// ticket's encrypted part, the same for every call with that ticket
	// (one ticket, one account). "" otherwise.
	Ticket string
	// Via is, for a Kerberos user whose ticket a service obtained for it
	// by delegation (MS-SFU: S4U2Self with PA-FOR-USER, S4U2Proxy with
	// cname-in-addl-tkt), the principal of that acting service, as the
	// KDC exchange shows it (e.g. exchangeAB/ex01.contoso.local); ""
	// otherwise. The user is the real user, not the service.
	Via string
}

// What named a user (Origin.From).
const (
	IdentityFromNTLM   = "ntlm"    // an NTLM AUTHENTICATE
	IdentityFromKeytab = "keytab"  // a Kerberos ticket decrypted with a keytab
	IdentityFromTGSRep = "tgs_rep" // the KDC's TGS-REP (or AS-REP) that issued the ticket
	IdentityFromHTTP   = "http"    // the HTTP authentication of an RPC over HTTP channel
	IdentityFromSMB    = "smb"     // the SMB session setup of a named pipe
)

// Answer is what came back for a request.
type Answer struct {
	// Answered: a response or a fault was captured; ReplyFrame is its
	// first frame.
	Answered   bool
	ReplyFrame FrameRef
	ReplyTime  time.Time
	// Elsewhere: the answer (if any) travels on a connection the capture
	// does not tie to the request's: the OUT channel of an RPC over HTTP
	// virtual connection older than the capture, which no channel cookie
	// paired with the IN channel that carried the request. Answered is
	// false, but the call is not unanswered: its outcome is unknown.
	Elsewhere bool
	// Sealed: the stub was encrypted and not decrypted; Status is then
	// unknown unless inferred (Meta.Quality).
	Sealed bool
	// HasStatus and Status: the call's return value.
	HasStatus bool
	Status    uint32
	// HasFault and Fault: a fault PDU answered the call.
	HasFault bool
	Fault    uint32
}

// SessionOp is what a call does to a session of a session protocol (NSPI,
// EMSMDB).
type SessionOp uint8

const (
	// OpUse is any call on an existing session.
	OpUse SessionOp = iota
	// OpOpen opens one: NspiBind, EcDoConnect(Ex).
	OpOpen
	// OpClose closes one: NspiUnbind, EcDoDisconnect.
	OpClose
)

// NSPICall is one NSPI call: its request, and its response or fault if
// captured.
type NSPICall struct {
	Meta
	Identity
	Answer
	Op    SessionOp
	Opnum uint16
	// Name is the operation's name (NspiBind, NspiQueryRows, ...).
	Name string
	// Handle is the NSPI context handle: for NspiBind the one returned,
	// for the others the one in the request. HasHandle is false when the
	// stub could not be read (sealed, truncated).
	HasHandle bool
	Handle    [20]byte
}

// StoreCall is one EMSMDB or AsyncEMSMDB call. Handle is the session
// context handle (CXH).
type StoreCall struct {
	Meta
	Identity
	Answer
	Op        SessionOp
	Opnum     uint16
	Name      string
	HasHandle bool
	Handle    [20]byte
	// UserDN is EcDoConnect(Ex)'s szUserDN (the user's legacyExchangeDN).
	UserDN string
}

// EndpointAnswer is an ept_map answered by an endpoint mapper.
type EndpointAnswer struct {
	Meta
	Answer
	// Iface names the interface asked for (nspi, emsmdb, ... or the
	// UUID), IfaceUUID and IfaceVersion give it in full.
	Iface, IfaceUUID, IfaceVersion string
	// NotRegistered: the mapper answered ept_s_not_registered.
	NotRegistered bool
	// Endpoints are the TCP endpoints answered (0.0.0.0 replaced by the
	// mapper's address).
	Endpoints []netip.AddrPort
}

// ReferralCall is an RFR call: RfrGetNewDSA or RfrGetFQDNFromServerDN.
type ReferralCall struct {
	Meta
	Identity
	Answer
	Name string
	// DN is RfrGetNewDSA's pUserDN or RfrGetFQDNFromServerDN's
	// szMailboxServerDN.
	DN string
	// Referral is the server name the call returned.
	Referral string
}

// How says how a connection ended.
type How uint8

const (
	// HowFIN: a FIN was seen.
	HowFIN How = iota + 1
	// HowRST: a reset was seen.
	HowRST
	// HowEndOfCapture: the capture ended with the connection open.
	HowEndOfCapture
	// HowEvicted: the capture layer stopped following it (a tracking
	// limit, or a new connection on the same 4-tuple).
	HowEvicted
)

var howNames = [...]string{"unknown", "fin", "rst", "end_of_capture", "evicted"}

func (h How) String() string {
	if int(h) < len(howNames) {
		return howNames[h]
	}
	return howNames[0]
}

// closed: the connection was seen to close (FIN or RST), as opposed to
// still open at the end of the capture or no longer followed.
func (h How) closed() bool { return h == HowFIN || h == HowRST }

// ConnEnd is the end of a connection that carried DCE/RPC.
type ConnEnd struct {
	Meta
	How How
}

// ConnAttempt is the end of a TCP connection that carried no data: an
// attempt reset, or never answered.
type ConnAttempt struct {
	Meta
	How How
	// First is the connection's first frame (its SYN), FirstTime its time.
	First     FrameRef
	FirstTime time.Time
}
