package report

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nspicap/nspicap/analyze"
)

// The sessions and refusals lists are most of a large JSON report (10 of
// the 17 MB of the 1 GB ticket bench capture's). encoding/json spends a
// few microseconds on each element (reflection, the marshalers of
// NullString and time.Time, then the indentation pass); the appenders
// below write the same bytes directly (TestJSONFastIsEncodingJSON). A
// field added to analyze.Session or analyze.Refusal must be added here
// too: the test compares every field of randomly filled values.

// jsonObj appends the members of one JSON object as json.Encoder with
// SetIndent(prefix, "  ") does.
type jsonObj struct {
	b      []byte
	prefix string // of the object's closing brace
	n      int    // members so far
}

func (o *jsonObj) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '\n')
	o.b = append(o.b, o.prefix...)
	o.b = append(o.b, "  \""...)
	o.b = append(o.b, k...)
	o.b = append(o.b, "\": "...)
}

func (o *jsonObj) end() []byte {
	if o.n == 0 {
		return append(o.b, "{}"...)
	}
	o.b = append(o.b, '\n')
	o.b = append(o.b, o.prefix...)
	return append(o.b, '}')
}

func (o *jsonObj) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v, false)
}

func (o *jsonObj) null(k string, v analyze.NullString) {
	o.key(k)
	if v == "" {
		o.b = append(o.b, "null"...)
		return
	}
	// NullString's MarshalJSON calls json.Marshal, which escapes HTML.
	o.b = appendJSONString(o.b, string(v), true)
}

func (o *jsonObj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *jsonObj) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *jsonObj) time(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

func (o *jsonObj) frame(k string, f analyze.FrameRef) {
	o.key(k)
	in := jsonObj{b: o.b, prefix: o.prefix + "  "}
	in.str("file", f.File)
	in.int("frame", f.Frame)
	o.b = in.end()
}

// jsonFastOK says whether t can be written by time: encoding/json refuses
// years outside 0..9999 (an error the appenders leave to it).
func jsonFastOK(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// appendSession appends s as json.Encoder with SetIndent(prefix, "  ") and
// SetEscapeHTML(false) encodes it, without the final newline; ok is false
// when a time is out of range.
func appendSession(b []byte, s *analyze.Session, prefix string) ([]byte, bool) {
	if !jsonFastOK(s.BindTime) || s.EndTime != nil && !jsonFastOK(*s.EndTime) {
		return b, false
	}
	o := jsonObj{b: b, prefix: prefix}
	o.str("server", s.Server)
	o.int("server_port", int64(s.ServerPort))
	o.str("client", s.Client)
	if s.ClientAddress != "" {
		o.str("client_address", s.ClientAddress)
	}
	o.str("transport", s.Transport)
	o.null("user", s.User)
	o.str("auth", s.Auth)
	o.str("handle", s.Handle)
	if s.Inferred {
		o.bool("inferred", true)
	}
	o.frame("bind_frame", s.BindFrame)
	o.time("bind_time", s.BindTime)
	o.str("end", s.End)
	if s.EndFrame == nil {
		o.key("end_frame")
		o.b = append(o.b, "null"...)
	} else {
		o.frame("end_frame", *s.EndFrame)
	}
	if s.EndTime == nil {
		o.key("end_time")
		o.b = append(o.b, "null"...)
	} else {
		o.time("end_time", *s.EndTime)
	}
	if s.UnbindStatus != "" {
		o.str("unbind_status", s.UnbindStatus)
	}
	o.int("calls", int64(s.Calls))
	return o.end(), true
}

// appendRefusal is appendSession for a refusal.
func appendRefusal(b []byte, r *analyze.Refusal, prefix string) ([]byte, bool) {
	if !jsonFastOK(r.Time) {
		return b, false
	}
	o := jsonObj{b: b, prefix: prefix}
	o.str("server", r.Server)
	o.str("client", r.Client)
	if r.ClientAddress != "" {
		o.str("client_address", r.ClientAddress)
	}
	o.str("transport", r.Transport)
	o.null("user", r.User)
	o.str("auth", r.Auth)
	o.bool("anonymous", r.Anonymous)
	o.frame("frame", r.Frame)
	o.frame("reply_frame", r.ReplyFrame)
	o.time("time", r.Time)
	o.int("ordinal", int64(r.Ordinal))
	o.int("held", int64(r.Held))
	o.int("held_before_capture", int64(r.HeldBeforeCapture))
	if r.StatusInferred {
		o.bool("status_inferred", true)
	}
	o.str("cause", r.Cause)
	return o.end(), true
}

// appendJSONString appends s quoted as encoding/json does: ", \ and
// control characters escaped (\b \f \n \r \t by name, the others as
// \u00xx), invalid UTF-8 as \ufffd, U+2028 and U+2029 as escapes, and with
// html <, > and & as \u00xx.
func appendJSONString(b []byte, s string, html bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && !(html && (c == '<' || c == '>' || c == '&')) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
