package analyze

import (
	"net/netip"
	"time"
)

// FrameRef names one frame of one input file, as Wireshark numbers it.
type FrameRef struct {
	File  string `json:"file"`
	Frame int64  `json:"frame"`
}

// EventKind is what happened on the wire, as far as NSPI session accounting
// cares.
type EventKind uint8

const (
	// EvBind is an NspiBind call (request, and its response or fault if any).
	EvBind EventKind = iota + 1
	// EvUnbind is an NspiUnbind call.
	EvUnbind
	// EvCall is any other NSPI call (opnum 2..20); Handle is the session it uses.
	EvCall
	// EvConnEnd is the end of a TCP connection that carried NSPI traffic.
	EvConnEnd
	// EvEndpointMap is an ept_map or ept_lookup answered by an endpoint
	// mapper (Proto "epm"): Iface asked, Endpoints answered, Status.
	EvEndpointMap
	// EvReferral is an RFR call (Proto "rfr"): RfrGetNewDSA or
	// RfrGetFQDNFromServerDN, with the server name it returned in Referral.
	EvReferral
	// EvTCPEnd is the end of a TCP connection that carried no data (Proto
	// "tcp"): a connection attempt reset, or never answered (EndHow).
	EvTCPEnd
)

// Event is one input to the analyzer. Events arrive in capture order (the time
// and frame of the request, or of the connection end).
type Event struct {
	Kind EventKind
	Time time.Time
	// Frame is the first frame of the request (for EvConnEnd: the frame that
	// ended the connection, or the last frame of it at end of capture).
	Frame FrameRef
	// ReplyFrame is the first frame of the response or fault; zero Frame if
	// the call was not answered in the capture.
	ReplyFrame FrameRef
	ReplyTime  time.Time
	Answered   bool

	// ConnID identifies the TCP connection (unique within one run).
	ConnID uint64
	Client netip.AddrPort
	Server netip.AddrPort

	// User is DOMAIN\user of the security context that carried the call, or
	// "" when none is known. Compare case-insensitively.
	User string
	// Auth is "none", "ntlmssp", "kerberos", "netlogon" or "unknown".
	Auth string
	// Anonymous: no authentication at all, or NTLM anonymous (empty user),
	// or NspiBind with fAnonymousLogin.
	Anonymous bool
	// AuthLevel is "none", "connect", "call", "packet", "integrity" or "privacy".
	AuthLevel string

	Opnum uint16
	Op    string

	// Sealed: the stub was encrypted; Status is then unknown.
	Sealed bool
	// HasStatus and Status: the return value of the call (last 4 bytes of the
	// response stub).
	HasStatus bool
	Status    uint32

	StatusInferred bool // sealed NspiBind: Status inferred from what the client did next (0 accepted, 0x80040111 refused)
	// HasFault and Fault: a fault PDU answered the call.
	HasFault bool
	Fault    uint32

	// Handle is the NSPI context handle: for EvBind the handle returned by the
	// server, for EvUnbind and EvCall the handle in the request. HasHandle is
	// false when the stub could not be decoded (sealed, truncated).
	HasHandle bool
	Handle    [20]byte

	// EndHow is set for EvConnEnd: "fin", "rst", "end_of_capture", "evicted".
	EndHow string

	// Proto says which protocol an event belongs to: "" (or "nspi") for
	// NSPI; "emsmdb" for EMSMDB (EvBind is EcDoConnect(Ex), EvUnbind
	// EcDoDisconnect, EvCall any other EMSMDB or AsyncEMSMDB call; Handle is
	// the CXH); "epm", "rfr" and "tcp" for EvEndpointMap, EvReferral and
	// EvTCPEnd. EvConnEnd has no Proto: it ends the connection for every
	// protocol.
	Proto string
	// UserDN is EcDoConnect(Ex)'s szUserDN (the user's legacyExchangeDN),
	// or RFR's pUserDN / szMailboxServerDN.
	UserDN string
	// Iface and IfaceUUID name the interface an EvEndpointMap asked for
	// (nspi, emsmdb, ... or the UUID) and IfaceVersion its version.
	Iface, IfaceUUID, IfaceVersion string
	// Endpoints are the TCP endpoints an EvEndpointMap answered (0.0.0.0
	// replaced by the mapper's address).
	Endpoints []netip.AddrPort
	// Referral is the server name an EvReferral returned.
	Referral string
	// ConnFirst is, for EvTCPEnd, the first frame of the connection (its
	// SYN) and ConnFirstTime its time.
	ConnFirst     FrameRef
	ConnFirstTime time.Time
}
