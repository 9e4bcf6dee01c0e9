package analyze

import (
	"fmt"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/nspi"
)

// StatusLogonFailed is MAPI_E_LOGON_FAILED (MS-OXCDATA 2.4: LogonFailed).
const StatusLogonFailed uint32 = nspi.LogonFailed

// NSPI return values of NspiUnbind (MS-OXNSPI 3.1.4.1.2).
const (
	UnbindSuccess uint32 = nspi.UnbindSuccess
	UnbindFailure uint32 = nspi.UnbindFailure
)

// StatusName returns "0x80040111 MAPI_E_LOGON_FAILED" or just the hex value
// for a status that nspi.Statuses does not name: the names are those of
// package nspi, as in every other output.
func StatusName(v uint32) string {
	if n, ok := nspi.StatusName(v); ok {
		return fmt.Sprintf("0x%08x %s", v, n)
	}
	return fmt.Sprintf("0x%08x", v)
}

// FaultName returns "fault 0x1c00001a nca_s_fault_context_mismatch" or the
// hex value alone; the names are those of dcerpc.Faults.
func FaultName(v uint32) string {
	if n, ok := dcerpc.FaultName(v); ok {
		return fmt.Sprintf("fault 0x%08x %s", v, n)
	}
	return fmt.Sprintf("fault 0x%08x", v)
}
