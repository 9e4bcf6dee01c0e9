package dcerpc

import "fmt"

// Code is a status value and the one name nspicap prints for it. Each
// protocol package owns a table of them ([Faults] here, nspi.Statuses,
// emsmdb.Statuses, epm.Statuses) and a lookup function; every output asks
// that function, so that one code has one name wherever it is printed.
type Code struct {
	Value uint32
	Name  string
}

// CodeMap indexes a table of codes by value. It panics when a value is
// listed twice: a table gives one name per code.
func CodeMap(codes []Code) map[uint32]string {
	m := make(map[uint32]string, len(codes))
	for _, c := range codes {
		if _, dup := m[c.Value]; dup {
			panic(fmt.Sprintf("dcerpc: code 0x%08x listed twice", c.Value))
		}
		m[c.Value] = c.Name
	}
	return m
}

// FaultName names a fault status, the status of a fault PDU (C706 12.6.4.7;
// MS-RPCE 2.2.2.5); ok is false when [Faults] does not list it.
func FaultName(v uint32) (name string, ok bool) {
	name, ok = faultNames[v]
	return name, ok
}

var faultNames = CodeMap(Faults)

// Faults names the fault statuses: the NCA codes of C706 appendix E
// (nca_s_*, spelt as C706 spells them) and the Win32 values that Windows
// puts in fault PDUs instead (MS-RPCE 2.2.2.8 and 3.1.1.5.5, named as
// MS-ERREF 2.2 names them).
var Faults = []Code{
	{0x1c010002, "nca_s_op_rng_error"},
	{0x1c010003, "nca_s_unk_if"},
	{0x1c010006, "nca_s_wrong_boot_time"},
	{0x1c010009, "nca_s_you_crashed"},
	{0x1c01000b, "nca_s_proto_error"},
	{0x1c010013, "nca_s_out_args_too_big"},
	{0x1c010014, "nca_s_server_too_busy"},
	{0x1c010015, "nca_s_fault_string_too_long"},
	{0x1c010017, "nca_s_unsupported_type"},
	{0x1c000001, "nca_s_fault_int_div_by_zero"},
	{0x1c000002, "nca_s_fault_addr_error"},
	{0x1c000003, "nca_s_fault_fp_div_zero"},
	{0x1c000004, "nca_s_fault_fp_underflow"},
	{0x1c000005, "nca_s_fault_fp_overflow"},
	{0x1c000006, "nca_s_fault_invalid_tag"},
	{0x1c000007, "nca_s_fault_invalid_bound"},
	{0x1c000008, "nca_rpc_version_mismatch"},
	{0x1c000009, "nca_unspec_reject"},
	{0x1c00000a, "nca_s_bad_actid"},
	{0x1c00000b, "nca_who_are_you_failed"},
	{0x1c00000c, "nca_manager_not_entered"},
	{0x1c00000d, "nca_s_fault_cancel"},
	{0x1c00000e, "nca_s_fault_ill_inst"},
	{0x1c00000f, "nca_s_fault_fp_error"},
	{0x1c000010, "nca_s_fault_int_overflow"},
	{0x1c000012, "nca_s_fault_unspec"},
	{0x1c000013, "nca_s_fault_remote_comm_failure"},
	{0x1c000014, "nca_s_fault_pipe_empty"},
	{0x1c000015, "nca_s_fault_pipe_closed"},
	{0x1c000016, "nca_s_fault_pipe_order"},
	{0x1c000017, "nca_s_fault_pipe_discipline"},
	{0x1c000018, "nca_s_fault_pipe_comm_error"},
	{0x1c000019, "nca_s_fault_pipe_memory"},
	{0x1c00001a, "nca_s_fault_context_mismatch"},
	{0x1c00001b, "nca_s_fault_remote_no_memory"},
	{0x1c00001c, "nca_invalid_pres_context_id"},
	{0x1c00001d, "nca_unsupported_authn_level"},
	{0x1c00001f, "nca_invalid_checksum"},
	{0x1c000020, "nca_invalid_crc"},
	{0x1c000021, "nca_s_fault_user_defined"},
	{0x1c000022, "nca_s_fault_tx_open_failed"},
	{0x1c000023, "nca_s_fault_codeset_conv_error"},
	{0x1c000024, "nca_s_fault_object_not_found"},
	{0x1c000025, "nca_s_fault_no_client_stub"},
	{0x00000005, "ERROR_ACCESS_DENIED"},
	{0x000006b5, "RPC_S_UNKNOWN_IF"},
	{0x000006ba, "RPC_S_SERVER_UNAVAILABLE"},
	{0x000006bb, "RPC_S_SERVER_TOO_BUSY"},
	{0x000006be, "RPC_S_CALL_FAILED"},
	{0x000006c6, "RPC_S_INVALID_BOUND"},
	{0x000006d1, "RPC_S_PROCNUM_OUT_OF_RANGE"},
	{0x000006d8, "EPT_S_CANT_PERFORM_OP"},
	{0x000006d9, "EPT_S_NOT_REGISTERED"},
	{0x000006e4, "RPC_S_CANNOT_SUPPORT"},
	{0x000006ef, "RPC_X_SS_IN_NULL_CONTEXT"},
	{0x000006f1, "RPC_X_SS_CONTEXT_DAMAGED"},
	{0x000006f7, "RPC_X_BAD_STUB_DATA"},
	{0x0000071a, "RPC_S_CALL_CANCELLED"},
	{0x0000071d, "RPC_S_UNSUPPORTED_AUTHN_LEVEL"},
	{0x00000721, "RPC_S_SEC_PKG_ERROR"},
	{0x80070005, "E_ACCESSDENIED"},
	{0x800706d1, "RPC_S_PROCNUM_OUT_OF_RANGE"},
}
