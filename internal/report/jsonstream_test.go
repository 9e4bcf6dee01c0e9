package report

import (
	"bytes"
	"testing"
)

// TestJSONStreamSameBytes: the streaming writer writes byte for byte what the
// encoding/json encoder writes for the whole document.
func TestJSONStreamSameBytes(t *testing.T) {
	type inner struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
	}
	type doc struct {
		Name   string   `json:"name"`
		Empty  []inner  `json:"empty"`
		List   []inner  `json:"list"`
		Strs   []string `json:"strs"`
		Nested inner    `json:"nested"`
		Skip   string   `json:"skip,omitempty"`
		Ptr    *int     `json:"ptr"`
		HTML   string   `json:"html"`
	}
	d := &doc{Name: "x", Empty: []inner{}, List: []inner{{1, "é<>&"}, {2, ""}}, Strs: []string{"a"}, Nested: inner{A: 3}, HTML: "<b>"}
	var a, b bytes.Buffer
	if err := writeJSONDoc(&a, d); err != nil {
		t.Fatal(err)
	}
	if err := writeJSONStream(&b, d); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("streamed JSON differs:\n%s\n---\n%s", a.String(), b.String())
	}
}
