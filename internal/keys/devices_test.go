//go:build unix

package keys

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeyFilesFromDevices: --keys and --keytab on /dev/zero, /dev/urandom
// and a FIFO that a writer fills without end (none has a size to stat) end
// at once with a one-line error.
func TestKeyFilesFromDevices(t *testing.T) {
	fifo := func(pattern string) string {
		p := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skip("no FIFO:", err)
		}
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			b := []byte(strings.Repeat(pattern, 64<<10/len(pattern)))
			for {
				if _, err := w.Write(b); err != nil {
					return // the reader is gone
				}
			}
		}()
		return p
	}
	type load func(path string) error
	keysFile := func(p string) error { _, err := (&Store{}).LoadKeysFile(p); return err }
	keytabFile := func(p string) error { return (&Store{}).LoadKeytab(p) }
	for _, tc := range []struct {
		name string
		load load
		path func() string
		want string // the error's beginning, after the kind and the path
	}{
		{"keys /dev/zero", keysFile, func() string { return "/dev/zero" }, " line 1: longer than 64 KiB"},
		{"keys /dev/urandom", keysFile, func() string { return "/dev/urandom" }, " line "},
		{"keys FIFO of comments", keysFile, func() string { return fifo("# comment\n") }, ": larger than 16 MiB"},
		{"keys FIFO of keys", keysFile, func() string { return fifo("CONTOSO\\bob:pw\n") }, " line 100001: more than 100000 keys"},
		{"keytab /dev/zero", keytabFile, func() string { return "/dev/zero" }, ": not an MIT keytab"},
		{"keytab /dev/urandom", keytabFile, func() string { return "/dev/urandom" }, ": "},
		{"keytab FIFO", keytabFile, func() string { return fifo("\x05\x02\xff\xff\xff\xf0") }, ": larger than 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path()
			if _, err := os.Stat(p); err != nil {
				t.Skip(err)
			}
			kind := "keys file "
			if strings.HasPrefix(tc.name, "keytab") {
				kind = "keytab "
			}
			done := make(chan error, 1)
			go func() { done <- tc.load(p) }()
			select {
			case err := <-done:
				if err == nil || !strings.HasPrefix(err.Error(), kind+p+tc.want) {
					t.Fatalf("error %v, want %q", err, kind+p+tc.want+"...")
				}
				oneLine(t, err.Error(), p)
			case <-time.After(20 * time.Second):
				t.Fatal("still reading after 20 s")
			}
		})
	}
}
