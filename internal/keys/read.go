package keys

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nspicap/nspicap/internal/safetext"
)

// errTooBig: the input goes on beyond its limit.
var errTooBig = errors.New("input beyond its limit")

// errOddUTF16: UTF-16 text with an odd number of bytes.
var errOddUTF16 = errors.New("UTF-16 text that ends in the middle of a character (an odd number of bytes)")

// capReader reads at most left bytes of r and fails with errTooBig as soon
// as r holds more: the limit holds while reading, for devices and pipes
// that have no size.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a file of exactly the limit from a longer one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errTooBig
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// readAll reads r up to limit bytes; more is errTooBig.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(&capReader{r: r, left: limit})
}

// utf16Reader decodes UTF-16 text (after its byte-order mark) to UTF-8. An
// unpaired surrogate becomes U+FFFD.
type utf16Reader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	out   []byte // decoded, not yet read
	buf   [512]byte
	err   error
}

func (u *utf16Reader) unit() (uint16, error) {
	b, err := u.r.Peek(2)
	if len(b) == 2 {
		u.r.Discard(2)
		return u.order.Uint16(b), nil
	}
	if len(b) == 1 && err == io.EOF {
		return 0, errOddUTF16
	}
	return 0, err
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.out = u.buf[:0]
		for len(u.out) <= len(u.buf)-utf8.UTFMax && u.err == nil {
			c, err := u.unit()
			if err != nil {
				u.err = err
				break
			}
			r := rune(c)
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
				if c < 0xDC00 { // a high surrogate: the low one follows
					if b, _ := u.r.Peek(2); len(b) == 2 {
						if r2 := utf16.DecodeRune(rune(c), rune(u.order.Uint16(b))); r2 != utf8.RuneError {
							u.r.Discard(2)
							r = r2
						}
					}
				}
			}
			u.out = utf8.AppendRune(u.out, r)
		}
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}

// size formats a limit: "16 MiB", "64 KiB".
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readError is the reason of a read error, without the path that the
// message names already.
func readError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// printableName is a file name as messages give it: escaped as every text
// output of nspicap escapes what comes from outside (internal/safetext), so
// that each message stays one line.
func printableName(name string) string { return safetext.Escape(name) }

// checkKeytab walks the entries of a keytab (version 0x502, big-endian) as
// gokrb5's Unmarshal does and returns what exceeds the limits: more than
// MaxKeytabEntries entries, or a principal of more than
// maxPrincipalComponents components. gokrb5 checks every length against the
// bytes that remain before it allocates, but keeps a record of some 120
// bytes for an entry of 21 and a string header of 16 for a component of 2:
// these two bounds keep its allocations within a few times the input.
// Structural errors are left to gokrb5.
func checkKeytab(b []byte) string {
	n, entries := int64(2), 0
	for n+4 <= int64(len(b)) {
		l := int64(int32(binary.BigEndian.Uint32(b[n:])))
		n += 4
		switch {
		case l == 0:
			return ""
		case l < 0: // a hole left by a deleted entry
			n -= l
			continue
		case n+l > int64(len(b)):
			return "" // gokrb5 rejects it
		}
		if entries++; entries > MaxKeytabEntries {
			return fmt.Sprintf("more than %d entries, the most a keytab may hold", MaxKeytabEntries)
		}
		if l >= 2 {
			if c := int16(binary.BigEndian.Uint16(b[n:])); c > maxPrincipalComponents {
				return fmt.Sprintf("entry %d: a principal of %d name components (at most %d are read)", entries, c, maxPrincipalComponents)
			}
		}
		n += l
	}
	return ""
}
