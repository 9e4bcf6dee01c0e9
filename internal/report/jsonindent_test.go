package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

// indentCases are compact JSON texts as the encoder writes them.
var indentCases = []string{
	`{}`, `[]`, `null`, `"a"`, `1.5e+300`, `{"a":{},"b":[],"c":[{}],"d":[[]]}`,
	`{"k":"a,b:{c}[d]\"e\\","l":[1,2,{"m":null,"n":true}]}`,
	`["\u2028","é","ユーザー","\\\"","\\\\"]`,
	`{"frames":[{"file":"a.pcap","frame":1},{"file":"b.pcap","frame":2}],"count":2}`,
}

func TestAppendIndentAsJSON(t *testing.T) {
	for _, c := range indentCases {
		for _, p := range []string{"", "    "} {
			var want bytes.Buffer
			if err := json.Indent(&want, []byte(c+"\n"), p, "  "); err != nil {
				t.Fatal(err)
			}
			if got := appendIndent(nil, []byte(c+"\n"), p, "  "); string(got) != want.String() {
				t.Errorf("appendIndent(%s, %q) =\n%s\nwant\n%s", c, p, got, want.String())
			}
		}
	}
}

// FuzzAppendIndent: on any valid JSON, compacted as the encoder writes it,
// appendIndent and json.Indent agree byte for byte.
func FuzzAppendIndent(f *testing.F) {
	for _, c := range indentCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		var compact bytes.Buffer
		enc := json.NewEncoder(&compact)
		enc.SetEscapeHTML(false)
		if enc.Encode(v) != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), "    ", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndent(nil, compact.Bytes(), "    ", "  "); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendIndent(%q) =\n%s\nwant\n%s", compact.Bytes(), got, want.Bytes())
		}
	})
}
