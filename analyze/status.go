package analyze

import "fmt"

// StatusLogonFailed is MAPI_E_LOGON_FAILED (MS-OXCDATA 2.4: LogonFailed).
const StatusLogonFailed uint32 = 0x80040111

// NSPI return values of NspiUnbind (MS-OXNSPI 3.1.4.1.2).
const (
	UnbindSuccess uint32 = 1
	UnbindFailure uint32 = 2
)

// statusNames names the NSPI return values of MS-OXCDATA 2.4 that a report is
// likely to show.
var statusNames = map[uint32]string{
	0x00000000: "Success",
	0x00000001: "UnbindSuccess",
	0x00000002: "UnbindFailure",
	0x00040380: "ErrorsReturned",
	0x80004005: "GeneralFailure",
	0x80040102: "NotSupported",
	0x80040108: "InvalidObject",
	0x8004010E: "OutOfResources",
	0x8004010F: "NotFound",
	0x80040110: "VersionMismatch",
	0x80040111: "MAPI_E_LOGON_FAILED",
	0x80040112: "MAPI_E_SESSION_LIMIT",
	0x80040115: "NetworkError",
	0x80040117: "TooComplex",
	0x8004011E: "InvalidCodepage",
	0x8004011F: "InvalidLocale",
	0x80040124: "MAPI_E_ACCOUNT_DISABLED",
	0x80040200: "EndOfSession",
	0x80070005: "AccessDenied",
	0x8007000E: "OutOfMemory",
	0x80070057: "InvalidParameter",
}

// faultNames names the fault statuses (C706 NCA codes and Win32 values) that
// NSPI calls are likely to meet.
var faultNames = map[uint32]string{
	0x00000005: "access_denied",
	0x000006bb: "rpc_s_server_too_busy",
	0x000006be: "rpc_s_call_failed",
	0x000006f7: "rpc_x_bad_stub_data",
	0x0000071a: "rpc_s_call_cancelled",
	0x0000071d: "rpc_s_unsupported_authn_level",
	0x00000721: "rpc_s_sec_pkg_error",
	0x1c010002: "nca_s_op_rng_error",
	0x1c010003: "nca_s_unk_if",
	0x1c010014: "nca_s_server_too_busy",
	0x1c00001a: "nca_s_fault_context_mismatch",
	0x1c00001d: "nca_unsupported_authn_level",
	0x1c000012: "nca_s_fault_unspec",
}

// StatusName returns "0x80040111 MAPI_E_LOGON_FAILED" or just the hex value
// for a status the table does not know.
func StatusName(v uint32) string {
	if n, ok := statusNames[v]; ok {
		return fmt.Sprintf("0x%08x %s", v, n)
	}
	return fmt.Sprintf("0x%08x", v)
}

// FaultName returns "fault 0x1c00001a nca_s_fault_context_mismatch" or the
// hex value alone.
func FaultName(v uint32) string {
	if n, ok := faultNames[v]; ok {
		return fmt.Sprintf("fault 0x%08x %s", v, n)
	}
	return fmt.Sprintf("fault 0x%08x", v)
}
