package rpch

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/nspicap/nspicap/ntlmssp"
)

// Banner is what the server sends first on an ncacn_http connection
// (MS-RPCH 2.1.2.2.1).
const Banner = "ncacn_http/1.0"

// HTTP methods of the channels (MS-RPCH 2.1.2.1).
const (
	MethodIn  = "RPC_IN_DATA"
	MethodOut = "RPC_OUT_DATA"
)

// MaxHead bounds an HTTP request or response head (the lines up to the
// empty line). IIS refuses heads far shorter.
const MaxHead = 16 << 10

// maxToken bounds a decoded Authorization token.
const maxToken = 8 << 10

// StartsChannel reports whether b, the first bytes of a direction of a
// TCP connection, begin an ncacn_http connection: the server's banner or a
// client's RPC_IN_DATA or RPC_OUT_DATA request.
func StartsChannel(b []byte) bool {
	return bytes.HasPrefix(b, []byte(Banner)) || bytes.HasPrefix(b, []byte(MethodIn+" ")) || bytes.HasPrefix(b, []byte(MethodOut+" "))
}

// HeadEnd returns the length of the HTTP head at the start of b, its
// ending empty line included, or -1 when b does not hold all of it.
func HeadEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}

// Head is an HTTP request or response head.
type Head struct {
	Request bool
	// Method and Target of a request (Target is what follows the method:
	// /rpc/rpcproxy.dll?server:port); Status of a response.
	Method, Target string
	Status         int
	// ContentLength is -1 when the head has none.
	ContentLength int64
	// Chunked: the Transfer-Encoding's last coding is chunked (RFC 9112
	// 6.1: the body is then chunked whatever Content-Length says);
	// Coding names a transfer coding other than chunked that the body also
	// has (gzip, ...), which nspicap does not undo.
	Chunked bool
	Coding  string
	// AuthScheme is the Authorization header's scheme (Basic, NTLM,
	// Negotiate); User the user it names (DOMAIN\user), "" when it names
	// none (an NTLM NEGOTIATE, a Kerberos token, anonymous).
	AuthScheme, User string
	Anonymous        bool
	// AuthErr says why the Authorization header could not be read.
	AuthErr string
}

// ParseHead reads an HTTP head (b ends at or before the empty line).
// Errors name the line and its offset.
func ParseHead(b []byte) (Head, error) {
	h := Head{ContentLength: -1}
	if len(b) > MaxHead {
		return h, perr("HTTP head", 0, "%d bytes, more than %d", len(b), MaxHead)
	}
	off := 0
	line := func() (string, int) {
		at := off
		i := bytes.Index(b[off:], []byte("\r\n"))
		if i < 0 {
			s := string(b[off:])
			off = len(b)
			return s, at
		}
		s := string(b[off : off+i])
		off += i + 2
		return s, at
	}
	first, _ := line()
	f := strings.SplitN(first, " ", 3)
	if len(f) < 2 {
		return h, perr("HTTP start line", 0, "%q is neither a request nor a status line", clip(first))
	}
	if strings.HasPrefix(f[0], "HTTP/") {
		st, err := strconv.Atoi(f[1])
		if err != nil || st < 100 || st > 999 {
			return h, perr("HTTP status", len(f[0])+1, "%q", clip(f[1]))
		}
		h.Status = st
	} else {
		if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") {
			return h, perr("HTTP request line", 0, "%q", clip(first))
		}
		h.Request, h.Method, h.Target = true, f[0], f[1]
	}
	for off < len(b) {
		l, at := line()
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return h, perr("HTTP header", at, "%q has no colon", clip(l))
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return h, perr("Content-Length", at, "%q", clip(v))
			}
			h.ContentLength = n
		case "transfer-encoding":
			h.readCodings(v)
		case "authorization":
			h.readAuth(v)
		}
	}
	return h, nil
}

// readCodings reads a Transfer-Encoding header's list of codings (several
// headers make one list).
func (h *Head) readCodings(v string) {
	for _, c := range strings.Split(v, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if i := strings.IndexByte(c, ';'); i >= 0 {
			c = strings.TrimSpace(c[:i])
		}
		switch c {
		case "":
		case "chunked":
			h.Chunked = true
		case "identity":
			h.Chunked = false
		default:
			h.Chunked = false // chunked must come last
			if h.Coding == "" {
				h.Coding = clip(c)
			}
		}
	}
}

// readAuth reads an Authorization header's value: the user name, never a
// password.
func (h *Head) readAuth(v string) {
	scheme, tok, _ := strings.Cut(v, " ")
	h.AuthScheme = scheme
	tok = strings.TrimSpace(tok)
	if len(tok) > base64.StdEncoding.EncodedLen(maxToken) {
		h.AuthErr = scheme + " token longer than " + strconv.Itoa(maxToken) + " bytes"
		return
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		h.AuthErr = scheme + " token is not base64"
		return
	}
	switch strings.ToLower(scheme) {
	case "basic":
		user, _, ok := bytes.Cut(raw, []byte(":"))
		if !ok {
			h.AuthErr = "Basic credentials without a colon"
		} else {
			h.User = ntlmssp.ClipName(string(user))
		}
		clear(raw) // the password goes no further
	case "ntlm", "negotiate":
		var m *ntlmssp.Message
		if bytes.HasPrefix(raw, ntlmssp.Signature) {
			m, err = ntlmssp.Parse(raw)
		} else {
			t := ntlmssp.Inspect(9, raw) // SPNEGO (MS-RPCE auth type 9)
			m, err = t.NTLM, t.Err
		}
		if err != nil {
			h.AuthErr = err.Error()
			return
		}
		if m != nil && m.Type == ntlmssp.TypeAuthenticate {
			h.User, h.Anonymous = m.Identity(), m.Anonymous()
		}
	}
}

// clip shortens wire text quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
