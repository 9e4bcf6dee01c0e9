package dcerpc

// Kinds of Anomaly: the stable short names that reports print and scripts
// match (Zeek's weird names are the model). A name never changes once
// released; a new condition gets a new name, added here with its sentence.
const (
	// AnomalyBadHeader: bytes where a PDU should start fail the common
	// header checks (C706 12.6.3.1); the connection is scanned for the next
	// plausible header.
	AnomalyBadHeader = "bad_header"
	// AnomalyResync: bytes were skipped to reach the next plausible PDU
	// header, after a bad header, a gap or a mid-connection start.
	AnomalyResync = "resync"
	// AnomalyGap: the capture lacks bytes of the stream (TCP reassembly
	// reported a gap); the calls it cuts are marked damaged.
	AnomalyGap = "gap"
	// AnomalyLostPDU: a gap fell inside a PDU being assembled; its fragment
	// is kept as damaged and parsing goes on after it.
	AnomalyLostPDU = "lost_pdu"
	// AnomalyMalformedPDU: a PDU whose header is sound has a body that does
	// not parse (C706 12.6.4).
	AnomalyMalformedPDU = "malformed_pdu"
	// AnomalyWrongDirection: a PDU came from the side that never sends it (a
	// bind_ack, response or fault from the client, a request from the
	// server).
	AnomalyWrongDirection = "wrong_direction"
	// AnomalyOrphanBindAck: a bind_ack or alter_context_resp answers no bind
	// or alter_context of the capture.
	AnomalyOrphanBindAck = "orphan_bind_ack"
	// AnomalyOrphanResponse: a response answers a call_id whose request is
	// not in the capture.
	AnomalyOrphanResponse = "orphan_response"
	// AnomalyOrphanFault: a fault answers a call_id whose request is not in
	// the capture.
	AnomalyOrphanFault = "orphan_fault"
	// AnomalyFragmentWithoutFirst: a request fragment arrived without the
	// first fragment of its call (C706 12.6.3.7).
	AnomalyFragmentWithoutFirst = "fragment_without_first"
	// AnomalyBadAllocHint: a request or response announces in alloc_hint
	// more stub bytes than a call may hold (C706 12.6.4.9).
	AnomalyBadAllocHint = "bad_alloc_hint"
	// AnomalyIncompletePDU: the connection ended inside a PDU (frag_length
	// runs past its last byte).
	AnomalyIncompletePDU = "incomplete_pdu"
	// AnomalyIncompleteRequest: the connection ended before the last
	// fragment of a request.
	AnomalyIncompleteRequest = "incomplete_request"
	// AnomalyIncompleteResponse: a response never got its last fragment,
	// before the connection ended or the call was answered otherwise.
	AnomalyIncompleteResponse = "incomplete_response"
	// AnomalyMalformedAuthToken: the auth verifier of a bind, alter_context
	// or auth3 carries a security token (NTLMSSP, SPNEGO, Kerberos) that
	// does not parse.
	AnomalyMalformedAuthToken = "malformed_auth_token"
	// AnomalyMalformedPAC: the PAC (MS-PAC) of a Kerberos ticket that a
	// keytab decrypted does not parse; the detail names the structure,
	// the field and its offset. The bind is decoded and named as usual;
	// only the domain names the PAC would have paired are not learned.
	AnomalyMalformedPAC = "malformed_pac"
	// AnomalyTooManyOpenCalls: a call, request or response was dropped
	// because the connection, or all of them, held the most open calls that
	// Limits and the Budget allow.
	AnomalyTooManyOpenCalls = "too_many_open_calls"
	// AnomalyTooManyContexts: presentation contexts of a bind were ignored
	// over the per-connection limit or the Budget.
	AnomalyTooManyContexts = "too_many_contexts"
	// AnomalyTooManySecurityContexts: a security context was ignored over the
	// per-connection limit or the Budget.
	AnomalyTooManySecurityContexts = "too_many_security_contexts"
	// AnomalyTooManyCallBytes: a stub was cut because the calls awaiting
	// reassembly or an answer hold the most stub bytes the Budget allows.
	AnomalyTooManyCallBytes = "too_many_call_bytes"
	// AnomalyTooManyBufferedBytes: a partial PDU was dropped because the
	// connections hold the most bytes of partial PDUs the Budget allows.
	AnomalyTooManyBufferedBytes = "too_many_buffered_bytes"
)

// AnomalyKind is a kind of anomaly and the sentence that says what it means.
type AnomalyKind struct {
	Name        string
	Description string
}

// AnomalyKinds lists every kind of Anomaly that a Conn reports, with the
// sentence of its constant.
var AnomalyKinds = []AnomalyKind{
	{AnomalyBadHeader, "Bytes where a PDU should start fail the common header checks; the connection is scanned for the next plausible header."},
	{AnomalyResync, "Bytes were skipped to reach the next plausible PDU header, after a bad header, a gap or a mid-connection start."},
	{AnomalyGap, "The capture lacks bytes of the stream; the calls the gap cuts are marked damaged."},
	{AnomalyLostPDU, "A gap fell inside a PDU being assembled; its fragment is kept as damaged and parsing goes on after it."},
	{AnomalyMalformedPDU, "A PDU whose header is sound has a body that does not parse."},
	{AnomalyWrongDirection, "A PDU came from the side that never sends it."},
	{AnomalyOrphanBindAck, "A bind_ack or alter_context_resp answers no bind or alter_context of the capture."},
	{AnomalyOrphanResponse, "A response answers a call whose request is not in the capture."},
	{AnomalyOrphanFault, "A fault answers a call whose request is not in the capture."},
	{AnomalyFragmentWithoutFirst, "A request fragment arrived without the first fragment of its call."},
	{AnomalyBadAllocHint, "A request or response announces more stub bytes than a call may hold."},
	{AnomalyIncompletePDU, "The connection ended inside a PDU."},
	{AnomalyIncompleteRequest, "The connection ended before the last fragment of a request."},
	{AnomalyIncompleteResponse, "A response never got its last fragment."},
	{AnomalyMalformedAuthToken, "The auth verifier of a bind, alter_context or auth3 carries a security token that does not parse."},
	{AnomalyMalformedPAC, "The PAC of a Kerberos ticket that the keytab decrypted does not parse; the bind is decoded as usual."},
	{AnomalyTooManyOpenCalls, "A call, request or response was dropped over the limit of open calls."},
	{AnomalyTooManyContexts, "Presentation contexts of a bind were ignored over the limit."},
	{AnomalyTooManySecurityContexts, "A security context was ignored over the limit."},
	{AnomalyTooManyCallBytes, "A stub was cut over the limit of stub bytes held by calls in flight."},
	{AnomalyTooManyBufferedBytes, "A partial PDU was dropped over the limit of bytes of partial PDUs held."},
}
