package pipeline

import (
	"testing"

	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/smb"
)

// TestAnomalyKindsUnique: a report merges the anomalies of the DCE/RPC
// connections and of the pipeline by kind, so one name must mean one thing
// across both tables.
func TestAnomalyKindsUnique(t *testing.T) {
	owner := map[string]string{}
	var smbKinds []dcerpc.AnomalyKind
	for _, k := range smb.AnomalyKinds {
		smbKinds = append(smbKinds, dcerpc.AnomalyKind{Name: k.Name, Description: k.Description})
	}
	for _, tab := range []struct {
		pkg   string
		kinds []dcerpc.AnomalyKind
	}{{"dcerpc", dcerpc.AnomalyKinds}, {"pipeline", AnomalyKinds}, {"smb", smbKinds}} {
		for _, k := range tab.kinds {
			if o, dup := owner[k.Name]; dup {
				t.Errorf("anomaly kind %q is in the tables of %s and %s", k.Name, o, tab.pkg)
			}
			owner[k.Name] = tab.pkg
			if k.Description == "" {
				t.Errorf("%s anomaly kind %q has no description", tab.pkg, k.Name)
			}
		}
	}
}
