package capture

import "encoding/binary"

// ETL files (Event Tracing for Windows logs, written by netsh trace and
// pktmon) are not packet captures: their packets are ETW events that need
// Microsoft's providers' manifests to be read. nspicap recognises them, to say
// what they are and how to convert them, and reads nothing else of them.
//
// An ETL file is a sequence of trace buffers. The first begins with a
// WMI_BUFFER_HEADER of 0x48 bytes whose first field is the buffer size;
// the first event follows it: a SYSTEM_TRACE_HEADER (0x20 bytes) of the
// logfile-header event, whose 32-bit marker has the flags byte 0xC0, a
// header type of 1 or 2 (32- or 64-bit session) and a version of 1 or 2,
// and whose hook id is 0 (WMI_LOG_TYPE_HEADER); then the
// TRACE_LOGFILE_HEADER, which begins with the buffer size again. (Layouts
// as described by Geoff Chappell's studies of the Windows kernel's ETW;
// Microsoft does not document the file format.) All of these must hold, so
// that nothing else is taken for an ETL file.
const etlPeek = 0x48 + 0x20 + 4

func isETL(h []byte) bool {
	if len(h) < etlPeek {
		return false
	}
	le := binary.LittleEndian
	size := le.Uint32(h[0:4])
	m := h[0x48:]
	return size >= 1024 &&
		m[3] == 0xC0 && (m[2] == 1 || m[2] == 2) && (le.Uint16(m[0:2]) == 1 || le.Uint16(m[0:2]) == 2) &&
		le.Uint16(m[6:8]) == 0 && le.Uint32(h[0x68:0x6c]) == size
}
