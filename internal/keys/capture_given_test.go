package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureGivenAsKeys: a capture given where a keys file or a keytab is
// expected stops at once with one error naming the format, before any
// warning (permissions, bad lines).
func TestCaptureGivenAsKeys(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		head []byte
		kind string
	}{
		{[]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, "pcap"},
		{[]byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4}, "pcap"},
		{[]byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0}, "pcap"},
		{[]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0}, "pcapng"},
		{[]byte("GMBU\x00\x02"), "netmon"},
		{[]byte("RTSS\x00\x01"), "netmon"},
		{[]byte{0x1f, 0x8b, 8, 0}, "gzip-compressed"},
	} {
		p := filepath.Join(dir, c.kind+".cap")
		if err := os.WriteFile(p, append(c.head, strings.Repeat("x\n", 300)...), 0o644); err != nil {
			t.Fatal(err)
		}
		ws, err := (&Store{}).LoadKeysFile(p)
		if len(ws) != 0 || err == nil || !strings.Contains(err.Error(), "looks like a packet capture ("+c.kind+")") {
			t.Errorf("keys %x: warnings %q, error %v", c.head, ws, err)
		}
		if err := (&Store{}).LoadKeytab(p); err == nil || !strings.Contains(err.Error(), "looks like a packet capture ("+c.kind+")") {
			t.Errorf("keytab %x: error %v", c.head, err)
		}
	}
	// A keys file is not taken for a capture.
	p := filepath.Join(dir, "ok.keys")
	os.WriteFile(p, []byte("CONTOSO\\alice:secret\n"), 0o600)
	if _, err := (&Store{}).LoadKeysFile(p); err != nil {
		t.Errorf("keys file: %v", err)
	}
}
