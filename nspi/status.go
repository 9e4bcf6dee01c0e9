package nspi

import (
	"encoding/binary"

	"github.com/nspicap/nspicap/dcerpc"
)

func order(le bool) binary.ByteOrder {
	if le {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// MAPI status codes that NSPI returns (MS-OXCDATA 2.4, MS-OXNSPI 2.2.1.2).
const (
	Success        = 0x00000000
	UnbindSuccess  = 0x00000001
	UnbindFailure  = 0x00000002
	LogonFailed    = 0x80040111
	TooManySession = 0x80040112
)

// StatusName names an NSPI return value; ok is false when [Statuses] does not
// list it.
func StatusName(v uint32) (name string, ok bool) {
	name, ok = statusNames[v]
	return name, ok
}

var statusNames = dcerpc.CodeMap(Statuses)

// Statuses names the return values of NSPI calls: the MAPI status codes of
// MS-OXCDATA 2.4 with the common MAPI_E_ names that administrators search
// for, and NspiUnbind's own 1 and 2 (MS-OXNSPI 3.1.4.1.2), named whatever the
// operation that returned them. RFR (MS-OXABREF) returns the same codes.
var Statuses = []dcerpc.Code{
	{Value: 0x00000000, Name: "Success"},
	{Value: 0x00000001, Name: "UnbindSuccess"},
	{Value: 0x00000002, Name: "UnbindFailure"},
	{Value: 0x00040380, Name: "MAPI_W_ERRORS_RETURNED"},
	{Value: 0x80004005, Name: "MAPI_E_CALL_FAILED"},
	{Value: 0x80040102, Name: "MAPI_E_NO_SUPPORT"},
	{Value: 0x80040108, Name: "MAPI_E_INVALID_OBJECT"},
	{Value: 0x8004010e, Name: "MAPI_E_NOT_ENOUGH_RESOURCES"},
	{Value: 0x8004010f, Name: "MAPI_E_NOT_FOUND"},
	{Value: 0x80040110, Name: "MAPI_E_VERSION"},
	{Value: 0x80040111, Name: "MAPI_E_LOGON_FAILED"},
	{Value: 0x80040112, Name: "MAPI_E_SESSION_LIMIT"},
	{Value: 0x80040115, Name: "MAPI_E_NETWORK_ERROR"},
	{Value: 0x80040117, Name: "MAPI_E_TOO_COMPLEX"},
	{Value: 0x8004011e, Name: "MAPI_E_UNKNOWN_CPID"},
	{Value: 0x8004011f, Name: "MAPI_E_UNKNOWN_LCID"},
	{Value: 0x80040124, Name: "MAPI_E_ACCOUNT_DISABLED"},
	{Value: 0x80040200, Name: "MAPI_E_END_OF_SESSION"},
	{Value: 0x80040305, Name: "MAPI_E_TOO_BIG"},
	{Value: 0x80040403, Name: "MAPI_E_TABLE_TOO_BIG"},
	{Value: 0x80040405, Name: "MAPI_E_INVALID_BOOKMARK"},
	{Value: 0x80040700, Name: "MAPI_E_AMBIGUOUS_RECIP"},
	{Value: 0x80070005, Name: "MAPI_E_NO_ACCESS"},
	{Value: 0x8007000e, Name: "MAPI_E_NOT_ENOUGH_MEMORY"},
	{Value: 0x80070057, Name: "MAPI_E_INVALID_PARAMETER"},
}
