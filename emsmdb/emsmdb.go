package emsmdb

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/dcerpc/ndr"
)

// Opnums (MS-OXCRPC 3.1.4; the historic names of the Exchange IDL).
const (
	OpConnect    = 0
	OpDisconnect = 1
	OpConnectEx  = 10
)

// maxDNLen bounds the user DN read from a request.
const maxDNLen = 4096

// Op is what nspicap reads of one EMSMDB call.
type Op struct {
	Opnum uint16
	Name  string
	// UserDN is EcDoConnect(Ex)'s szUserDN: the user's legacyExchangeDN,
	// the per-user key of the store's session limit.
	UserDN string
	// Handle: the CXH returned by EcDoConnect(Ex), or the one a request
	// names (every other opnum but EcDummyRpc starts with it).
	Handle    [20]byte
	HasHandle bool
	Status    uint32
	HasStatus bool
	Err       error
}

// IsConnect reports whether the opnum opens a store session.
func IsConnect(opnum uint16) bool { return opnum == OpConnect || opnum == OpConnectEx }

// ErrSealed is returned for stubs encrypted at auth level privacy.
var ErrSealed = errors.New("stub is sealed (auth level privacy)")

// Decode reads an EMSMDB call. It never decodes a sealed stub, nor one in
// NDR64 (Err is then ndr.ErrNDR64).
func Decode(c *dcerpc.Call) Op {
	op := Op{Opnum: c.Opnum, Name: dcerpc.OpName(dcerpc.EMSMDB, c.Opnum)}
	if op.Name == "" {
		op.Name = fmt.Sprintf("opnum_%d", c.Opnum)
	}
	if c.NDR64 {
		op.Err = ndr.ErrNDR64 // read NDR20 only: never as NDR20
		return op
	}
	if rq := c.Request; rq != nil {
		if rq.Sealed {
			op.Err = ErrSealed
		} else {
			r := ndr.NewReader(rq.Stub, rq.LittleEndian)
			switch {
			case IsConnect(c.Opnum):
				op.UserDN = r.ConformantVaryingString("szUserDN", maxDNLen)
			case c.Opnum != 6: // EcDummyRpc has no handle
				op.Handle = r.ContextHandle("cxh")
				op.HasHandle = r.Err() == nil
			}
			if r.Err() != nil {
				op.Err = fmt.Errorf("%s request: %w", op.Name, r.Err())
			}
		}
	}
	if rs := c.Response; rs != nil {
		switch {
		case rs.Sealed:
			op.Err = ErrSealed
		case rs.StatusLost || !rs.Complete || rs.Len < 4:
			op.Err = fmt.Errorf("%s response: the return value was not captured", op.Name)
		default:
			if rs.LittleEndian {
				op.Status = binary.LittleEndian.Uint32(rs.Tail[:])
			} else {
				op.Status = binary.BigEndian.Uint32(rs.Tail[:])
			}
			op.HasStatus = true
			if IsConnect(c.Opnum) && !rs.Damaged && !rs.Truncated {
				r := ndr.NewReader(rs.Stub, rs.LittleEndian)
				op.Handle = r.ContextHandle("pcxh")
				op.HasHandle = r.Err() == nil
			}
		}
	}
	return op
}

// Status codes of EcDoConnect(Ex) (MS-OXCRPC 3.1.4.1/3.1.4.11; MS-OXCDATA 2.4).
const (
	ecLoginFailure    = 0x80040111
	ecTooManySessions = 0x80040112
	ecMaxObjsExceeded = 0x000004de
)

// SessionLimit reports whether a connect status means the per-user store
// session limit (Exchange's event 9646): ecMaxObjsExceeded as the store puts
// it on the wire, or MAPI_E_SESSION_LIMIT (notes §3.5; unverified on the
// wire, so both are accepted).
func SessionLimit(s uint32) bool { return s == ecMaxObjsExceeded || s == ecTooManySessions }

// LogonFailed reports ecLoginFailure / MAPI_E_LOGON_FAILED.
func LogonFailed(s uint32) bool { return s == ecLoginFailure }

// StatusName names an EMSMDB return value; ok is false when [Statuses] does
// not list it.
func StatusName(v uint32) (name string, ok bool) {
	name, ok = statusNames[v]
	return name, ok
}

var statusNames = dcerpc.CodeMap(Statuses)

// Statuses names the return values of EMSMDB and AsyncEMSMDB calls with the
// ec* names of MS-OXCRPC 3.1.4.1 and MS-OXCDATA 2.4.2 (0 is Success, as
// MS-OXCDATA 2.4.1 names it), and MAPI_E_SESSION_LIMIT, the other form of the
// per-user session limit (protocol-notes §3.5).
var Statuses = []dcerpc.Code{
	{Value: 0x00000000, Name: "Success"},
	{Value: 0x80070005, Name: "ecAccessDenied"},
	{Value: 0x00000970, Name: "ecNotEncrypted"},
	{Value: 0x000004df, Name: "ecClientVerDisallowed"},
	{Value: 0x80040111, Name: "ecLoginFailure"},
	{Value: 0x000003eb, Name: "ecUnknownUser"},
	{Value: 0x000003f2, Name: "ecLoginPerm"},
	{Value: 0x80040110, Name: "ecVersionMismatch"},
	{Value: 0x000004e1, Name: "ecCachedModeRequired"},
	{Value: 0x000004e0, Name: "ecRpcHttpDisallowed"},
	{Value: 0x000007d8, Name: "ecProtocolDisabled"},
	{Value: 0x000004de, Name: "ecMaxObjsExceeded"},
	{Value: 0x80040112, Name: "MAPI_E_SESSION_LIMIT"},
	{Value: 0x000007ee, Name: "ecRejected"},
	{Value: 0x000004b6, Name: "ecRpcFormat"},
	{Value: 0x00000480, Name: "ecServerBusy"},
	{Value: 0x0000096c, Name: "ecMailboxDisabled"},
	{Value: 0x0000050c, Name: "ecMailboxInTransit"},
	{Value: 0x00000478, Name: "ecWrongServer"},
	{Value: 0x00000a36, Name: "ecMaxConnectionsExceeded"},
	{Value: 0x00000a2d, Name: "ecMaxPoolExceeded"},
}
