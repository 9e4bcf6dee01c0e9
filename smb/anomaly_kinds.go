package smb

// Kinds of the anomalies a Demux reports: stable short names, each with its
// sentence in AnomalyKinds. They are distinct from the DCE/RPC layer's.
const (
	// AnomalyEncrypted: SMB 3 messages were encrypted (TRANSFORM_HEADER);
	// the pipes and calls they carry cannot be read without the session's
	// keys, which nspicap does not take.
	AnomalyEncrypted = "smb_encrypted"
	// AnomalyCompressed: SMB 3 messages were compressed
	// (COMPRESSION_TRANSFORM_HEADER); nspicap does not decompress them.
	AnomalyCompressed = "smb_compressed"
	// AnomalyBadFraming: a NetBIOS session header of an unknown type, or
	// a message whose protocol identifier is not SMB's; the connection is
	// not read further.
	AnomalyBadFraming = "smb_bad_framing"
	// AnomalyMalformed: an SMB message whose framing is sound does not
	// parse; it is skipped.
	AnomalyMalformed = "smb_malformed"
	// AnomalyGap: bytes of an SMB connection were not captured; the
	// message they cut is dropped, and reading resumes at the next
	// message header.
	AnomalyGap = "smb_gap"
	// AnomalyTooLarge: a message longer than the limit, or one that would
	// take the connections' partial messages over their budget, was
	// skipped.
	AnomalyTooLarge = "smb_message_too_large"
	// AnomalyTooMany: a pipe, or a request awaiting its answer, was not
	// followed over the per-connection limit.
	AnomalyTooMany = "smb_too_many_open"
)

// AnomalyKind is a kind of anomaly and the sentence that says what it means.
type AnomalyKind struct {
	Name        string
	Description string
}

// AnomalyKinds lists every kind a Demux reports.
var AnomalyKinds = []AnomalyKind{
	{AnomalyEncrypted, "SMB 3 messages were encrypted; the named pipes and calls they carry cannot be read."},
	{AnomalyCompressed, "SMB 3 messages were compressed; nspicap does not decompress them, so the calls they carry are not read."},
	{AnomalyBadFraming, "A NetBIOS session header of an unknown type, or a message that is not SMB; the connection is not read further."},
	{AnomalyMalformed, "An SMB message whose framing is sound does not parse; it is skipped."},
	{AnomalyGap, "Bytes of an SMB connection were not captured; the message they cut is dropped."},
	{AnomalyTooLarge, "An SMB message over the size limit or the buffering budget was skipped."},
	{AnomalyTooMany, "A named pipe or a pending SMB request was not followed over the per-connection limit."},
}
