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
)

// AnomalyKinds lists the pipeline's own anomaly kinds with the sentence of
// each constant.
var AnomalyKinds = []dcerpc.AnomalyKind{
	{Name: AnomalyConnEvicted, Description: "More TCP connections were open at once than --max-conns allows, and the longest idle ones were dropped."},
	{Name: AnomalySealedNotDecrypted, Description: "Sealed stubs were met that the keys given could not decrypt."},
}
