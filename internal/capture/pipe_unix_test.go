//go:build unix

package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pipes, FIFOs and devices among several inputs are read
// once.

// pipeInputs are three inputs whose packets interleave: the merge has to
// hold each stream's first packet while it reads the others.
func pipeInputs(t *testing.T) [][]byte {
	rs := convoRecs(t, linkEthernet)
	a := pcapLE(t, linkEthernet, false, []rec{rs[0], rs[2]})
	b := gz(t, pcapLE(t, linkEthernet, true, []rec{rs[1]}))
	late := convoRecs(t, linkEthernet)
	for i := range late {
		late[i].ts = late[i].ts.Add(time.Second)
	}
	c := netmonBytes(nmOpts{major: 2, minor: 3, media: 1}, nmRecs([]rec{late[1]}, 1))
	return [][]byte{a, b, c}
}

// devFdPipe returns a /dev/fd path for the read end of a pipe that a
// goroutine fills with data, as the shell's <(cat file) does.
func devFdPipe(t *testing.T, data []byte) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	go func() {
		w.Write(data)
		w.Close()
	}()
	return fmt.Sprintf("/dev/fd/%d", r.Fd())
}

// fifo makes a named pipe that a goroutine opens and fills with data once.
func fifo(t *testing.T, dir string, i int, data []byte) string {
	p := filepath.Join(dir, fmt.Sprintf("fifo%d", i))
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	go func() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	return p
}

// sameResult compares two runs, paths aside.
func sameResult(t *testing.T, what string, r0, r1 *recorder, i0, i1 []InputInfo) {
	t.Helper()
	checkEvents(t, r1.events, r0.events)
	for i := range i0 {
		a, b := i0[i], i1[i]
		a.Path, b.Path = "", ""
		if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
			t.Errorf("%s: input %d:\n got %+v\nwant %+v", what, i, b, a)
		}
	}
}

func TestPipesAmongInputs(t *testing.T) {
	if _, err := os.Stat("/dev/fd/0"); err != nil {
		t.Skip("no /dev/fd")
	}
	files := pipeInputs(t)
	for _, n := range []int{2, 3} {
		dir := t.TempDir()
		var paths []string
		for i, d := range files[:n] {
			p := filepath.Join(dir, fmt.Sprint(i))
			os.WriteFile(p, d, 0o644)
			paths = append(paths, p)
		}
		r0, i0, s0 := runFiles(t, paths, Options{})
		if s0.TCPPackets != int64(n+1) || len(r0.events) < 4 {
			t.Fatalf("%d files: %+v %q", n, s0, r0.events)
		}
		for _, kind := range []string{"pipe", "fifo", "pipe and file"} {
			t.Run(fmt.Sprintf("%d %s", n, kind), func(t *testing.T) {
				var in []string
				fdir := t.TempDir()
				for i, d := range files[:n] {
					switch {
					case kind == "fifo":
						in = append(in, fifo(t, fdir, i, d))
					case kind == "pipe" || i == 0:
						in = append(in, devFdPipe(t, d))
					default:
						in = append(in, paths[i])
					}
				}
				type result struct {
					r     *recorder
					infos []InputInfo
				}
				done := make(chan result, 1)
				go func() {
					r, infos, _ := runFiles(t, in, Options{})
					done <- result{r, infos}
				}()
				select {
				case res := <-done:
					for _, info := range res.infos {
						if info.Err != nil {
							t.Errorf("%v", info.Err)
						}
					}
					sameResult(t, strings.Join(in, " "), r0, res.r, i0, res.infos)
				case <-time.After(20 * time.Second):
					// A FIFO opened a second time waits for a writer
					// that is gone: give it one (an empty one), until
					// the run ends.
					for {
						select {
						case <-done:
							t.Fatal("the run waited for an input opened again")
						case <-time.After(50 * time.Millisecond):
							for _, p := range in {
								if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
									f.Close()
								}
							}
						}
					}
				}
			})
		}
	}
}
