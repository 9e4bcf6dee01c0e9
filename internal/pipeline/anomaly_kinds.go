package pipeline

import "github.com/nspicap/nspicap/dcerpc"

// Kinds of the anomalies that the pipeline adds to those of the DCE/RPC
// connections (dcerpc.AnomalyKinds). Names are unique across both tables
// (TestAnomalyKindsUnique).
const (
	// AnomalyConnEvicted: more TCP connections were open at once than
	// --max-conns allows, and the longest idle ones were dropped; their
	// sessions count as open at the end.
	AnomalyConnEvicted = "conn_evicted"
	// AnomalySealedNotDecrypted: sealed stubs were met that the keys given
	// (--keys, --keytab) could not decrypt; Result.KeyWarnings says which.
	AnomalySealedNotDecrypted = "sealed_not_decrypted"
	// AnomalyIPFragmentsIncomplete: IP datagrams carrying TCP (or UDP to
	// or from port 88) arrived in fragments and were given up before all
	// of them came (30 s of capture time, the end of the capture, or the
	// reassembly limits); the bytes they carried are missing from their
	// connections (or the KDC message is not read).
	AnomalyIPFragmentsIncomplete = "ip_fragments_incomplete"
	// AnomalyNDR64NotDecoded: a call to NSPI, EMSMDB or RFR ran on a
	// presentation context that negotiated NDR64, which their decoders do
	// not read: its stubs are left undecoded (no handle, no status), never
	// read as NDR20.
	AnomalyNDR64NotDecoded = "ndr64_not_decoded"
	// AnomalyRTSMalformed: an RTS PDU, an HTTP head or the chunk framing
	// of a chunked body of RPC over HTTP could not be read (or the body has
	// a transfer coding other than chunked), or a channel's stream held no
	// DCE/RPC header where a PDU should start (http.go).
	AnomalyRTSMalformed = "rts_malformed"
	// AnomalyHTTPChannelUnpaired: DCE/RPC PDUs of an RPC over HTTP channel
	// could not be paired with the other channel of their virtual
	// connection (its opening RTS PDU or its other channel is not in the
	// capture, or a channel older than the capture showed its first RTS
	// PDU after more than http_older.go keeps).
	AnomalyHTTPChannelUnpaired = "http_channel_unpaired"
	// AnomalyHTTPChannelOlder: an RPC over HTTP channel opened before the
	// capture could not be paired with its other channel (no channel
	// cookie tied them, http_older.go), once per channel: its requests are
	// listed without answers (answer_elsewhere), its answers not at all. A
	// notice: nothing was misread. (A channel told by its first RTS PDU
	// too late to be read again as one is http_channel_unpaired.)
	AnomalyHTTPChannelOlder = "http_channel_older"
	// AnomalyKDCError (kdc.go): the KDC answered Kerberos requests with
	// KRB-ERRORs other than pre-authentication required: a disabled or
	// locked account, a wrong password, clock skew, an unknown principal.
	// The routine ones (pre-authentication required, response too big)
	// are not reported.
	AnomalyKDCError = "kdc_error"
)

// AnomalyKinds lists the pipeline's own anomaly kinds with the sentence of
// each constant.
var AnomalyKinds = []dcerpc.AnomalyKind{
	{Name: AnomalyConnEvicted, Description: "More TCP connections were open at once than --max-conns allows, and the longest idle ones were dropped."},
	{Name: AnomalySealedNotDecrypted, Description: "Sealed stubs were met that the keys given could not decrypt."},
	{Name: AnomalyNDR64NotDecoded, Description: "A call to NSPI, EMSMDB or RFR ran in the NDR64 transfer syntax, which their decoders do not read: its stubs are left undecoded, never read as NDR20."},
	{Name: AnomalyRTSMalformed, Description: "An RTS PDU, an HTTP head or the chunk framing of a chunked body of RPC over HTTP could not be read (or the body has a transfer coding other than chunked), or a channel held no DCE/RPC header where a PDU should start."},
	{Name: AnomalyHTTPChannelUnpaired, Description: "DCE/RPC PDUs of an RPC over HTTP channel could not be paired with the other channel of their virtual connection."},
	{Name: AnomalyHTTPChannelOlder, Description: "An RPC over HTTP channel opened before the capture could not be paired with its other channel: its requests are listed without answers and not counted unanswered, its answers are not listed (once per channel; a notice)."},
	{Name: AnomalyKDCError, Description: "The KDC refused Kerberos requests (KRB-ERROR other than pre-authentication required): an account disabled or locked out, a wrong password, clock skew, an unknown principal."},
	{Name: AnomalyIPFragmentsIncomplete, Description: "IP datagrams carrying TCP (or UDP to or from the KDC's port 88) arrived in fragments and were given up before all of them came; the bytes they carried are missing from their connections, or the KDC message they carried is not read."},
}
