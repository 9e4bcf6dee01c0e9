package nspi

import "encoding/binary"

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

// StatusName names an NSPI return value. Unbind's 1 and 2 are named only for
// NspiUnbind.
func StatusName(opnum uint16, s uint32) string {
	if opnum == OpUnbind {
		switch s {
		case UnbindSuccess:
			return "UnbindSuccess"
		case UnbindFailure:
			return "UnbindFailure"
		}
	}
	return MAPIName(s)
}

// MAPIName names a MAPI status code, using the common MAPI_E_ names that
// administrators search for; "" when unknown.
func MAPIName(s uint32) string { return mapiNames[s] }

var mapiNames = map[uint32]string{
	0x00000000: "Success",
	0x00040380: "MAPI_W_ERRORS_RETURNED",
	0x80004005: "MAPI_E_CALL_FAILED",
	0x80040102: "MAPI_E_NO_SUPPORT",
	0x80040108: "MAPI_E_INVALID_OBJECT",
	0x8004010e: "MAPI_E_NOT_ENOUGH_RESOURCES",
	0x8004010f: "MAPI_E_NOT_FOUND",
	0x80040110: "MAPI_E_VERSION",
	0x80040111: "MAPI_E_LOGON_FAILED",
	0x80040112: "MAPI_E_SESSION_LIMIT",
	0x80040115: "MAPI_E_NETWORK_ERROR",
	0x80040117: "MAPI_E_TOO_COMPLEX",
	0x8004011e: "MAPI_E_UNKNOWN_CPID",
	0x8004011f: "MAPI_E_UNKNOWN_LCID",
	0x80040124: "MAPI_E_ACCOUNT_DISABLED",
	0x80040200: "MAPI_E_END_OF_SESSION",
	0x80040305: "MAPI_E_TOO_BIG",
	0x80040403: "MAPI_E_TABLE_TOO_BIG",
	0x80040405: "MAPI_E_INVALID_BOOKMARK",
	0x80040700: "MAPI_E_AMBIGUOUS_RECIP",
	0x80070005: "MAPI_E_NO_ACCESS",
	0x8007000e: "MAPI_E_NOT_ENOUGH_MEMORY",
	0x80070057: "MAPI_E_INVALID_PARAMETER",
}
