package rpch

import (
	"errors"
	"fmt"
)

// Chunked transfer coding (RFC 9112 section 7.1): some RPC proxies send the
// OUT channel's RPC_OUT_DATA response (and some clients the RPC_IN_DATA
// body) as chunks instead of one long Content-Length body:
//
//	chunked-body   = *chunk last-chunk trailer-section CRLF
//	chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	chunk-size     = 1*HEXDIG
//	last-chunk     = 1*("0") [ chunk-ext ] CRLF
//	trailer-section = *( field-line CRLF )
//
// Dechunker reads such a body as it arrives, in pieces cut anywhere (a
// chunk-size line may straddle TCP segments), with bounded state: a
// chunk-size line (extensions included) or a trailer line of more than
// MaxChunkLine bytes, or trailers of more than MaxHead bytes in all, are
// errors, as are a chunk-size that is not hexadecimal or overflows, and
// chunk data not followed by CRLF. Line ends are CRLF; a bare LF is an
// error. Errors name the byte offset in the body (the first byte of the
// chunked body is offset 0).

// MaxChunkLine bounds a chunk-size line, its extensions included, and a
// trailer line.
const MaxChunkLine = 256

// maxChunkDigits bounds the hexadecimal digits of a chunk-size: 15 of them
// stay below 2^60, more than any body.
const maxChunkDigits = 15

// ErrChunked is wrapped by every error of Dechunker.
var ErrChunked = errors.New("malformed chunked body")

// Dechunker states.
const (
	chSize    = iota // collecting a chunk-size line
	chData           // in chunk data
	chDataCR         // after chunk data: want CR
	chDataLF         // want LF
	chTrailer        // collecting a trailer line (an empty one ends the body)
	chDone           // the body ended
	chFailed         // an error was met: nothing more is read
)

// Dechunker de-chunks one chunked body. Its zero value is ready for the
// body's first byte.
type Dechunker struct {
	state  uint8
	line   [MaxChunkLine]byte
	n      int   // bytes of the line collected
	lineAt int64 // offset of the line's first byte
	left   int64 // bytes of chunk data left
	off    int64 // bytes of the body consumed
	trail  int   // bytes of trailers read
}

// Done reports whether the body's last chunk and trailers were read: the
// bytes after it are the next message's.
func (d *Dechunker) Done() bool { return d.state == chDone }

// Failed reports whether an error was returned.
func (d *Dechunker) Failed() bool { return d.state == chFailed }

// Offset is the number of body bytes consumed so far.
func (d *Dechunker) Offset() int64 { return d.off }

func (d *Dechunker) fail(at int64, format string, a ...any) error {
	d.state = chFailed
	return fmt.Errorf("%w: %s at offset %d of the body", ErrChunked, fmt.Sprintf(format, a...), at)
}

// Next reads from b, the next bytes of the body, up to the end of the first
// piece of chunk data they hold (or to their end). It returns that data (a
// slice of b, possibly empty) and how many bytes of b it used; the caller
// calls it again with the rest. Once Done or after an error it uses
// nothing.
func (d *Dechunker) Next(b []byte) (data []byte, used int, err error) {
	for used < len(b) {
		switch d.state {
		case chDone, chFailed:
			return nil, used, nil
		case chData:
			n := len(b) - used
			if int64(n) > d.left {
				n = int(d.left)
			}
			data = b[used : used+n]
			used += n
			d.off += int64(n)
			if d.left -= int64(n); d.left == 0 {
				d.state = chDataCR
			}
			return data, used, nil
		case chDataCR, chDataLF:
			want := byte('\r')
			if d.state == chDataLF {
				want = '\n'
			}
			if b[used] != want {
				return nil, used, d.fail(d.off, "chunk data not followed by CRLF (byte 0x%02x)", b[used])
			}
			used++
			d.off++
			if d.state++; d.state > chDataLF {
				d.state = chSize
			}
		case chSize, chTrailer:
			c := b[used]
			if d.n == 0 {
				d.lineAt = d.off
			}
			used++
			d.off++
			if c != '\n' {
				if d.n >= MaxChunkLine {
					what := "chunk-size line"
					if d.state == chTrailer {
						what = "trailer line"
					}
					return nil, used, d.fail(d.lineAt, "%s longer than %d bytes", what, MaxChunkLine)
				}
				d.line[d.n] = c
				d.n++
				continue
			}
			line := d.line[:d.n]
			d.n = 0
			if len(line) == 0 || line[len(line)-1] != '\r' {
				return nil, used, d.fail(d.off-1, "line ended by a bare LF, without CR")
			}
			line = line[:len(line)-1]
			if d.state == chTrailer {
				if len(line) == 0 {
					d.state = chDone
					return nil, used, nil
				}
				if d.trail += len(line) + 2; d.trail > MaxHead {
					return nil, used, d.fail(d.lineAt, "trailers longer than %d bytes", MaxHead)
				}
				continue
			}
			size, err := chunkSize(line)
			if err != "" {
				return nil, used, d.fail(d.lineAt, "chunk-size %q: %s", clip(string(line)), err)
			}
			if size == 0 {
				d.state = chTrailer
				continue
			}
			d.left, d.state = size, chData
		}
	}
	return data, used, nil
}

// Skip says that the next n bytes of the body were not captured. It
// reports whether they lay inside chunk data, so that the body can go on
// after them; otherwise the chunk framing is lost, and Dechunker reads
// nothing more.
func (d *Dechunker) Skip(n int64) bool {
	if d.state == chData && n >= 0 && n < d.left {
		d.left -= n
		d.off += n
		return true
	}
	d.state = chFailed
	return false
}

// chunkSize reads a chunk-size line without its CRLF: 1*HEXDIG, then
// optional whitespace and chunk extensions (";" name ["=" value], which are
// skipped). It returns an explanation for a line that is none.
func chunkSize(line []byte) (int64, string) {
	var v int64
	i := 0
	for ; i < len(line); i++ {
		x, ok := hexDigit(line[i])
		if !ok {
			break
		}
		if i >= maxChunkDigits {
			return 0, fmt.Sprintf("more than %d hexadecimal digits", maxChunkDigits)
		}
		v = v<<4 | int64(x)
	}
	if i == 0 {
		return 0, "not hexadecimal"
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, fmt.Sprintf("byte 0x%02x after the size, where a chunk extension (;) or the line end should be", rest[0])
	}
	return v, ""
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
