package rpch

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// dechunk runs a Dechunker over body cut into pieces of step bytes and
// returns the data, the bytes left after the body, and the error.
func dechunk(body []byte, step int) (data, rest []byte, err error) {
	var d Dechunker
	for i := 0; i < len(body); i += step {
		b := body[i:min(i+step, len(body))]
		for len(b) > 0 {
			if d.Done() {
				rest = append(rest, b...)
				break
			}
			x, n, e := d.Next(b)
			data = append(data, x...)
			b = b[n:]
			if e != nil {
				return data, rest, e
			}
			if n == 0 && !d.Done() {
				return data, rest, errors.New("no progress")
			}
		}
	}
	if !d.Done() {
		return data, rest, errors.New("not done")
	}
	return data, rest, nil
}

// TestDechunk: a chunked body with extensions, upper- and lower-case hex,
// leading zeros, a last chunk with trailers, and the next message's bytes
// after it, cut at every step size: the same data and the same rest.
func TestDechunk(t *testing.T) {
	want := []byte("\x05\x00\x14\x03hello, RPC over HTTP: a PDU cut across chunks\r\n0\r\n")
	body := []byte("4\r\n\x05\x00\x14\x03\r\n" +
		"00A;name=value;x\r\nhello, RPC\r\n" +
		"1c ; ext=\"q\"\r\n over HTTP: a PDU cut across\r\n" +
		"c\r\n chunks\r\n0\r\n\r\n" +
		"0000;last\r\nX-Trailer: 1\r\nOther: 2\r\n\r\n" +
		"HTTP/1.1 200 OK\r\n")
	for step := 1; step <= len(body); step++ {
		data, rest, err := dechunk(body, step)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !bytes.Equal(data, want) || string(rest) != "HTTP/1.1 200 OK\r\n" {
			t.Fatalf("step %d: data %q rest %q", step, data, rest)
		}
	}
}

// TestDechunkBad: every framing error is an ErrChunked that names the
// offset of the byte at fault, whatever the cuts.
func TestDechunkBad(t *testing.T) {
	long := strings.Repeat("0", MaxChunkLine) + "1\r\n"
	cases := []struct{ body, want string }{
		{"zz\r\nab\r\n", "chunk-size \"zz\": not hexadecimal at offset 0"},
		{"2\r\nab\r\n3x\r\n", "chunk-size \"3x\": byte 0x78 after the size, where a chunk extension (;) or the line end should be at offset 7"},
		{"2\r\nabX\r\n", "chunk data not followed by CRLF (byte 0x58) at offset 5"},
		{"2\r\nab\rX", "chunk data not followed by CRLF (byte 0x58) at offset 6"},
		{"2\nab\r\n", "line ended by a bare LF, without CR at offset 1"},
		{long, "chunk-size line longer than 256 bytes at offset 0"},
		{"1000000000000000\r\n", "chunk-size \"1000000000000000\": more than 15 hexadecimal digits at offset 0"},
		{"0\r\n" + strings.Repeat("a", 300) + "\r\n\r\n", "trailer line longer than 256 bytes at offset 3"},
		{"\r\n", "chunk-size \"\": not hexadecimal at offset 0"},
	}
	for _, c := range cases {
		for step := 1; step <= len(c.body); step++ {
			_, _, err := dechunk([]byte(c.body), step)
			if !errors.Is(err, ErrChunked) || !strings.HasSuffix(err.Error(), c.want+" of the body") {
				t.Errorf("%q step %d: %v, want ...%s", c.body, step, err, c.want)
				break
			}
		}
	}
	// Trailers are bounded in all, not only per line.
	tr := "0\r\n" + strings.Repeat(strings.Repeat("t", 200)+"\r\n", MaxHead/200+1) + "\r\n"
	if _, _, err := dechunk([]byte(tr), 4096); err == nil || !strings.Contains(err.Error(), "trailers longer than") {
		t.Errorf("endless trailers: %v", err)
	}
}

// TestDechunkSkip: lost bytes inside chunk data are skipped; lost bytes
// of the framing end the body's reading.
func TestDechunkSkip(t *testing.T) {
	var d Dechunker
	data, n, err := d.Next([]byte("10\r\nabc"))
	if err != nil || string(data) != "abc" || n != 7 {
		t.Fatalf("%q %d %v", data, n, err)
	}
	if !d.Skip(5) {
		t.Fatal("a gap inside chunk data was not skipped")
	}
	data, _, _ = d.Next([]byte("ijklmnop\r\n0\r\n\r\n"))
	if string(data) != "ijklmnop" {
		t.Fatalf("after the gap: %q", data)
	}
	if d.Skip(1) || !d.Failed() {
		t.Error("a gap in the framing was skipped")
	}
	if _, n, _ := d.Next([]byte("1\r\na\r\n")); n != 0 {
		t.Error("a failed Dechunker read on")
	}
}

func FuzzDechunk(f *testing.F) {
	f.Add([]byte("4\r\nabcd\r\n0\r\nT: 1\r\n\r\nrest"), uint8(3))
	f.Add([]byte("1;x=y\r\na\r\n0\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, step uint8) {
		data, _, err := dechunk(body, int(step%32)+1)
		if len(data) > len(body) {
			t.Fatalf("%d bytes of data from %d", len(data), len(body))
		}
		if err != nil && !errors.Is(err, ErrChunked) && err.Error() != "not done" {
			t.Fatal(err)
		}
	})
}
