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
	var out []byte
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	encode := func(x reflect.Value, prefix string) error {
		buf.Reset()
		if err := enc.Encode(x.Interface()); err != nil {
			return err
		}
		out = appendIndent(out[:0], bytes.TrimSuffix(buf.Bytes(), []byte("\n")), prefix, "  ")
		bw.Write(out)
		return nil
	}
	var fast []byte // an element written by appendSession or appendRefusal
	rep, _ := v.(*analyze.Report)
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
		done, err := writeList(bw, rep, f.Name, fv, &fast, encode)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if err := encode(fv, "  "); err != nil {
			return err
		}
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// writeList writes fv, the field name of the struct being written, one
// element at a time when it is a list with elements, and reports whether it
// did. A report's sessions and refusals come from EachSession and
// EachRefusal, which unpack them one at a time in a streamed report
// (analyze.ReportStreamed), and are written by their appenders.
func writeList(bw *bufio.Writer, rep *analyze.Report, name string, fv reflect.Value, fast *[]byte, encode func(reflect.Value, string) error) (bool, error) {
	j := 0
	next := func() {
		if j > 0 {
			bw.WriteString(",")
		}
		j++
		bw.WriteString("\n    ")
	}
	var err error
	switch {
	case rep != nil && name == "Sessions" && rep.NumSessions() > 0:
		bw.WriteString("[")
		err = rep.EachSession(func(s *analyze.Session) error {
			next()
			return writeElem(bw, fast, s, appendSession, encode)
		})
	case rep != nil && name == "Refusals" && rep.NumRefusals() > 0:
		bw.WriteString("[")
		err = rep.EachRefusal(func(r *analyze.Refusal) error {
			next()
			return writeElem(bw, fast, r, appendRefusal, encode)
		})
	case fv.Kind() == reflect.Slice && fv.Len() > 0 && fv.Type().Elem().Kind() != reflect.Uint8:
		bw.WriteString("[")
		for i := 0; i < fv.Len() && err == nil; i++ {
			next()
			err = encode(fv.Index(i), "    ")
		}
	default:
		return false, nil
	}
	bw.WriteString("\n  ]")
	return true, err
}

// writeElem writes x with its appender, or with the encoder when the
// appender declines it.
func writeElem[T any](bw *bufio.Writer, fast *[]byte, x *T, appendFast func([]byte, *T, string) ([]byte, bool), encode func(reflect.Value, string) error) error {
	b, ok := appendFast((*fast)[:0], x, "    ")
	*fast = b
	if ok {
		bw.Write(b)
		return nil
	}
	return encode(reflect.ValueOf(x).Elem(), "    ")
}
