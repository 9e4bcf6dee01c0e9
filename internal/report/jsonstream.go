package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"

	"github.com/nspicap/nspicap/analyze"
)

// writeJSONStream writes the struct v points to exactly as a json.Encoder
// with SetIndent("", "  ") and SetEscapeHTML(false) would, but one top-level
// field, and one element of each top-level list, at a time: a report with
// hundreds of thousands of sessions never exists as one JSON buffer.
func writeJSONStream(w io.Writer, v any) error {
	rv := reflect.Indirect(reflect.ValueOf(v))
	if rv.Kind() != reflect.Struct {
		return writeJSONDoc(w, v)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	encode := func(x reflect.Value, prefix string) error {
		buf.Reset()
		enc.SetIndent(prefix, "  ")
		if err := enc.Encode(x.Interface()); err != nil {
			return err
		}
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return nil
	}
	var fast []byte // an element written by appendSession or appendRefusal
	rt := rv.Type()
	bw.WriteString("{")
	first := true
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		if strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if !first {
			bw.WriteString(",")
		}
		first = false
		key, _ := json.Marshal(name)
		bw.WriteString("\n  ")
		bw.Write(key)
		bw.WriteString(": ")
		if rep, ok := v.(*analyze.Report); ok && (f.Name == "Sessions" && len(rep.Sessions) == 0 && rep.NumSessions() > 0 || f.Name == "Refusals" && len(rep.Refusals) == 0 && rep.NumRefusals() > 0) {
			// a streamed report: its lists come one element at a time
			bw.WriteString("[")
			j := 0
			elem := func(x any, ok bool) error {
				if j > 0 {
					bw.WriteString(",")
				}
				j++
				bw.WriteString("\n    ")
				if ok {
					bw.Write(fast)
					return nil
				}
				return encode(reflect.ValueOf(x).Elem(), "    ")
			}
			var err error
			if f.Name == "Sessions" {
				err = rep.EachSession(func(s *analyze.Session) error {
					var ok bool
					fast, ok = appendSession(fast[:0], s, "    ")
					return elem(s, ok)
				})
			} else {
				err = rep.EachRefusal(func(x *analyze.Refusal) error {
					var ok bool
					fast, ok = appendRefusal(fast[:0], x, "    ")
					return elem(x, ok)
				})
			}
			if err != nil {
				return err
			}
			bw.WriteString("\n  ]")
			continue
		}
		if fv.Kind() == reflect.Slice && fv.Len() > 0 && fv.Type().Elem().Kind() != reflect.Uint8 {
			bw.WriteString("[")
			sessions, _ := fv.Interface().([]analyze.Session)
			refusals, _ := fv.Interface().([]analyze.Refusal)
			for j := 0; j < fv.Len(); j++ {
				if j > 0 {
					bw.WriteString(",")
				}
				bw.WriteString("\n    ")
				ok := false
				switch {
				case sessions != nil:
					fast, ok = appendSession(fast[:0], &sessions[j], "    ")
				case refusals != nil:
					fast, ok = appendRefusal(fast[:0], &refusals[j], "    ")
				}
				if ok {
					bw.Write(fast)
					continue
				}
				if err := encode(fv.Index(j), "    "); err != nil {
					return err
				}
			}
			bw.WriteString("\n  ]")
			continue
		}
		if err := encode(fv, "  "); err != nil {
			return err
		}
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}
