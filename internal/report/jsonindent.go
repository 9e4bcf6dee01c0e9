package report

// appendIndent appends src, compact JSON as encoding/json writes it (no
// space outside strings), indented exactly as json.Indent would with
// prefix and indent: a newline and the indent after every opening bracket
// and comma, ": " after a key, "{}" and "[]" for empty ones. It is the
// Encoder's indenting without its byte-by-byte scanner, which took a
// fifth of the time of writing a busy DC's report; json.Indent stays the
// reference (TestAppendIndentAsJSON, FuzzAppendIndent).
func appendIndent(dst, src []byte, prefix, indent string) []byte {
	needIndent, inStr, esc := false, false, false
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for _, c := range src {
		if inStr {
			dst = append(dst, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			newline()
		}
		switch c {
		case '"':
			inStr = true
			dst = append(dst, c)
		case '{', '[':
			// An empty object or array stays {} or [].
			needIndent = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				newline()
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
