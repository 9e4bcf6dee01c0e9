package report

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nspicap/nspicap/analyze"
)

// encodeLikeStream is what writeJSONStream writes for one list element
// through encoding/json.
func encodeLikeStream(t *testing.T, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// randomFill sets every field of the struct v points to (recursively, and
// pointers to a value or nil) from rng, with strings that need escaping.
func randomFill(rng *rand.Rand, v reflect.Value) {
	pieces := []string{"", "a", "CONTOSO\\alice", "\"", "<&>", "\x00", "\x1f", "\b\f\n\r\t", "\x7f", "é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x82", "\U0001F600", "/"}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			locs := []*time.Location{time.UTC, time.Local, time.FixedZone("X", -7*3600-30*60)}
			ts := time.Unix(rng.Int63n(4e9)-1e9, rng.Int63n(1e9)*int64(rng.Intn(2))).In(locs[rng.Intn(len(locs))])
			if rng.Intn(10) == 0 {
				ts = time.Time{}
			}
			v.Set(reflect.ValueOf(ts))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				randomFill(rng, v.Field(i))
			}
		}
	case reflect.Pointer:
		if rng.Intn(3) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		randomFill(rng, p.Elem())
		v.Set(p)
	case reflect.String:
		var b strings.Builder
		for range rng.Intn(4) {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		v.SetString(b.String())
	case reflect.Bool:
		v.SetBool(rng.Intn(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(rng.Int63n(1<<40) - 1<<39)
	case reflect.Uint16:
		v.SetUint(uint64(rng.Intn(65536)))
	default:
		panic("randomFill: field of kind " + v.Kind().String())
	}
}

// TestJSONFastIsEncodingJSON: appendSession and appendRefusal write the
// bytes encoding/json writes, on values with every field set at random.
func TestJSONFastIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 3000 {
		var s analyze.Session
		randomFill(rng, reflect.ValueOf(&s).Elem())
		got, ok := appendSession(nil, &s, "    ")
		if !ok {
			t.Fatalf("session %d: refused", i)
		}
		if want := encodeLikeStream(t, s); !bytes.Equal(got, want) {
			t.Fatalf("session %d:\nencoding/json %s\nappendSession %s", i, want, got)
		}
		var r analyze.Refusal
		randomFill(rng, reflect.ValueOf(&r).Elem())
		got, ok = appendRefusal(nil, &r, "    ")
		if !ok {
			t.Fatalf("refusal %d: refused", i)
		}
		if want := encodeLikeStream(t, r); !bytes.Equal(got, want) {
			t.Fatalf("refusal %d:\nencoding/json %s\nappendRefusal %s", i, want, got)
		}
	}
	// A year encoding/json refuses is left to it.
	s := analyze.Session{BindTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, ok := appendSession(nil, &s, ""); ok {
		t.Errorf("a session of year 10000 was written by appendSession")
	}
}
