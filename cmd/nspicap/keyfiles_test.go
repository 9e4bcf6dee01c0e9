package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestKeysFileEncodingsDecrypt: sealed-ntlm-all.keys saved by Notepad (UTF-8
// with a byte-order mark) or by PowerShell 5 (UTF-16 LE with one), or as
// UTF-16 BE, decrypts the same calls of sealed-ntlm.pcap as the plain file:
// the same calls output and the same messages.
func TestKeysFileEncodingsDecrypt(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(testdataDir, "sealed-ntlm-all.keys"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The plain file, private as the others (no warning about its mode).
	plainFile := filepath.Join(dir, "k")
	if err := os.WriteFile(plainFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	want, wantErr, code := nspicap(t, "calls", "--keys", plainFile, sealedPcap)
	if code != 0 || wantErr != "" || strings.Contains(want, "sealed") {
		t.Fatalf("plain file: exit %d, %s", code, wantErr)
	}
	crlf := strings.ReplaceAll(string(plain), "\n", "\r\n")
	u16 := func(order binary.AppendByteOrder) []byte {
		b := order.AppendUint16(nil, 0xFEFF)
		for _, u := range utf16.Encode([]rune(crlf)) {
			b = order.AppendUint16(b, u)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"utf8-bom.keys":  append([]byte{0xEF, 0xBB, 0xBF}, crlf...),
		"utf16le.keys":   u16(binary.LittleEndian),
		"utf16be.keys":   u16(binary.BigEndian),
		"utf8-crlf.keys": []byte(crlf),
	} {
		if err := os.WriteFile(plainFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := nspicap(t, "calls", "--keys", plainFile, sealedPcap)
		if code != 0 || out != want || errOut != wantErr {
			t.Errorf("%s: exit %d, stderr %q; calls differ from the plain file's: %v", name, code, errOut, out != want)
		}
	}
}

// TestKeyFileLimitErrors: a keys file or keytab beyond its limits is a
// usage error of one line that names the file and the limit.
func TestKeyFileLimitErrors(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long.keys")
	if err := os.WriteFile(long, []byte("# keys\nCONTOSO\\bob:"+strings.Repeat("p", 128<<10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.keytab")
	if err := os.WriteFile(big, append([]byte{5, 2}, make([]byte, 16<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][]string{
		{"--keys", long, "nspicap analyze: keys file " + long + " line 2: longer than 64 KiB, the longest line a keys file may have\n"},
		{"--keytab", big, "nspicap analyze: keytab " + big + ": larger than 16 MiB, the most a keytab may hold\n"},
	} {
		out, errOut, code := nspicap(t, "analyze", tc[0], tc[1], sealedPcap)
		if code != exitUsage || out != "" || errOut != tc[2] {
			t.Errorf("%s %s: exit %d, stderr %q, want %q", tc[0], tc[1], code, errOut, tc[2])
		}
	}
}
