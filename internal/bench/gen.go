package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/synth"
)

// story is the set of conversations of one sample capture, replayed together
// as one unit with the same user-name and handle patch.
type story struct {
	name  string
	convs []*conversation
	users []string // NTLM user names in it, patched per replay
}

// The sample captures whose conversations the benchmark traffic replays.
var storyFiles = []string{"clean.pcap", "ntlm-users.pcap", "leak-to-limit.pcap", "outlook-anon-first.pcap", "conn-close.pcap", "fragmented.pcap"}

func loadStories(testdata string) ([]*story, error) {
	var out []*story
	for _, f := range storyFiles {
		convs, err := loadConversations(testdata, f)
		if err != nil {
			return nil, err
		}
		mb, err := os.ReadFile(filepath.Join(testdata, strings.TrimSuffix(f, ".pcap")+".manifest.json"))
		if err != nil {
			return nil, err
		}
		var m synth.Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			return nil, err
		}
		var handles [][]byte
		users := map[string]bool{}
		for _, s := range m.Sessions {
			if h, err := hex.DecodeString(s.Handle); err == nil && len(h) == 20 {
				handles = append(handles, h)
			}
		}
		for _, c := range m.NSPI {
			if i := strings.IndexByte(c.User, '\\'); i >= 0 && len(c.User)-i-1 >= 4 {
				users[c.User[i+1:]] = true
			}
		}
		st := &story{name: f, convs: convs}
		for u := range users {
			st.users = append(st.users, u)
		}
		for _, c := range convs {
			c.handles = findHandles(c, handles)
		}
		out = append(out, st)
	}
	return out, nil
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

// patchUsers gives the replay's users other names of the same length: the
// last four letters become a number, so that thousands of users appear.
func (st *story) patchUsers(chunks [][]byte, seq uint64) {
	for _, u := range st.users {
		nu := u[:len(u)-4] + fmt.Sprintf("%04x", seq%0x10000)
		from, to := utf16le(u), utf16le(nu)
		for i := range chunks {
			if bytes.Contains(chunks[i], from) {
				chunks[i] = bytes.ReplaceAll(chunks[i], from, to)
			}
		}
	}
}

// task is one connection being written, a chunk at a time.
type task struct {
	conn   *tcpConn
	chunks [][]byte
	dirs   []capture.Dir
	next   int
	rst    bool
}

// step writes the next chunk; it returns false when the task is done.
func (t *task) step() bool {
	if !t.conn.open {
		t.conn.handshake()
		return true
	}
	if t.next < len(t.chunks) {
		t.conn.send(t.dirs[t.next] == capture.ClientToServer, t.chunks[t.next])
		t.next++
		return true
	}
	t.conn.close(t.rst)
	return false
}

type generator struct {
	w       *pcapWriter
	rng     *rand.Rand
	stories []*story
	tasks   []*task
	seq     uint64
	port    uint16
	isn     uint32
	rpcOnly bool
	// rpcShare is the fraction of bytes that DCE/RPC stories make up.
	rpcShare float64
	// pop, when not zero, is the number of client machines and users the
	// stories take turns with (a site whose people come back), instead of
	// a new machine and user for each replay.
	pop      uint64
	rpcBytes int64
}

func (g *generator) clientAddr(n uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func (g *generator) nextPort() uint16 {
	g.port++
	if g.port < 1025 {
		g.port = 1025
	}
	return g.port
}

// addStory schedules one replay of a sample capture's conversations.
func (g *generator) addStory() {
	st := g.stories[g.rng.Intn(len(g.stories))]
	g.seq++
	who := g.seq
	if g.pop > 0 {
		who = (g.seq-1)%g.pop + 1
	}
	client := g.clientAddr(who)
	server := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + g.seq%4)})
	for _, c := range st.convs {
		chunks := c.replay(g.seq, nil)
		st.patchUsers(chunks, who)
		t := &task{chunks: chunks, rst: g.rng.Intn(20) == 0}
		for _, ch := range c.chunks {
			t.dirs = append(t.dirs, ch.dir)
			g.rpcBytes += int64(len(ch.data))
		}
		port := uint16(4997)
		if strings.Contains(c.name, "#1") && (st.name == "clean.pcap" || st.name == "outlook-anon-first.pcap") {
			port = 135
		}
		g.isn += 0x9e3779b9
		t.conn = g.w.newConn(netip.AddrPortFrom(client, g.nextPort()), netip.AddrPortFrom(server, port), g.isn)
		g.tasks = append(g.tasks, t)
	}
}

func randBytes(rng *rand.Rand, n int, prefix []byte) []byte {
	b := make([]byte, n)
	rng.Read(b)
	copy(b, prefix)
	return b
}

// addOther schedules one connection of unrelated traffic: HTTP, TLS-like,
// SMB-like or a short request/response exchange.
func (g *generator) addOther() {
	g.seq++
	client := g.clientAddr(0x800000 + g.seq%0x7fffff)
	server := netip.AddrFrom4([4]byte{203, 0, 113, byte(g.seq % 50)})
	t := &task{}
	var port uint16
	switch k := g.rng.Intn(10); {
	case k < 4: // HTTP with a large body
		port = 80
		req := []byte("GET /files/" + fmt.Sprint(g.seq) + " HTTP/1.1\r\nHost: intranet\r\nUser-Agent: bench\r\n\r\n")
		body := 20000 + g.rng.Intn(300000)
		resp := randBytes(g.rng, body, []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", body)))
		t.chunks, t.dirs = [][]byte{req, resp}, []capture.Dir{0, 1}
	case k < 7: // TLS-like
		port = 443
		for i := 0; i < 2+g.rng.Intn(6); i++ {
			t.chunks = append(t.chunks, randBytes(g.rng, 200+g.rng.Intn(40000), []byte{0x17, 0x03, 0x03}))
			t.dirs = append(t.dirs, capture.Dir(i%2))
		}
	case k < 9: // SMB2-like
		port = 445
		for i := 0; i < 4+g.rng.Intn(8); i++ {
			t.chunks = append(t.chunks, randBytes(g.rng, 100+g.rng.Intn(60000), []byte{0, 0, 0, 0, 0xfe, 'S', 'M', 'B'}))
			t.dirs = append(t.dirs, capture.Dir(i%2))
		}
	default: // short exchange
		port = 8080
		t.chunks = [][]byte{randBytes(g.rng, 80, []byte("PING")), randBytes(g.rng, 120, []byte("PONG"))}
		t.dirs = []capture.Dir{0, 1}
	}
	g.isn += 0x9e3779b9
	t.conn = g.w.newConn(netip.AddrPortFrom(client, g.nextPort()), netip.AddrPortFrom(server, port), g.isn)
	g.tasks = append(g.tasks, t)
}

func (g *generator) dns() {
	q := randBytes(g.rng, 40, nil)
	g.w.udp(netip.AddrPortFrom(g.clientAddr(g.seq%5000), 53000+uint16(g.seq%1000)), netip.MustParseAddrPort("192.0.2.53:53"), q)
}

// run writes packets until the file holds size bytes, keeping about 64
// connections open at once, interleaved.
func (g *generator) run(size int64, step time.Duration) {
	for g.w.written < size {
		for len(g.tasks) < 64 {
			if g.rpcOnly || float64(g.rpcBytes) < g.rpcShare*float64(g.w.written) {
				g.addStory()
			} else {
				g.addOther()
			}
		}
		i := g.rng.Intn(len(g.tasks))
		if !g.tasks[i].step() {
			g.tasks[i] = g.tasks[len(g.tasks)-1]
			g.tasks = g.tasks[:len(g.tasks)-1]
		}
		if !g.rpcOnly && g.rng.Intn(50) == 0 {
			g.dns()
		}
		g.w.now = g.w.now.Add(step + time.Duration(g.rng.Intn(1000))*time.Microsecond)
	}
	// end every open connection cleanly
	for _, t := range g.tasks {
		for t.step() {
		}
	}
	g.tasks = nil
}

// manyFlows writes n short TCP connections.
func manyFlows(w *pcapWriter, n int) {
	rng := rand.New(rand.NewSource(3))
	req := []byte("HELLO 1\r\n")
	resp := []byte("OK\r\n")
	for i := 0; i < n; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 100 + byte(i>>16&3), byte(i >> 8), byte(i)}), uint16(1025+i%60000))
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 200)}), 7000)
		t := w.newConn(c, s, rng.Uint32())
		t.handshake()
		t.send(true, req)
		t.send(false, resp)
		t.close(false)
		w.now = w.now.Add(500 * time.Microsecond)
	}
}

// openConns writes n connections to the endpoint mapper port that each
// send the first 1000 bytes of a 4000-byte bind and are never closed: the
// worst case for memory per connection (a crafted capture).
func openConns(w *pcapWriter, n int) {
	rng := rand.New(rand.NewSource(4))
	bind := make([]byte, 1000)
	copy(bind, []byte{5, 0, 11, 3, 0x10, 0, 0, 0, 4000 & 0xff, 4000 >> 8, 0, 0, 1, 0, 0, 0})
	for i := 0; i < n; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 100 + byte(i>>16&3), byte(i >> 8), byte(i)}), uint16(1025+i%60000))
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 10}), 135)
		t := w.newConn(c, s, rng.Uint32())
		t.handshake()
		t.send(true, bind)
		w.now = w.now.Add(50 * time.Microsecond)
	}
}

// sitePopulation is the number of client machines and users of the site
// captures.
const sitePopulation = 500

var benchStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// generate writes one benchmark capture.
func generate(kind, path, testdata string, size int64) error {
	stories, err := loadStories(testdata)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	var out io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw, _ = gzip.NewWriterLevel(f, gzip.BestSpeed)
		out = zw
	}
	w := newPcapWriter(out, benchStart)
	g := &generator{w: w, rng: rand.New(rand.NewSource(1)), stories: stories}
	switch kind {
	case "ticket":
		g.rpcShare = 0.02
		g.run(size, 2*time.Millisecond)
	case "site":
		// the ticket's traffic from a site of sitePopulation machines
		// and users that come back again and again
		g.rpcShare = 0.02
		g.pop = sitePopulation
		g.run(size, 2*time.Millisecond)
	case "busydc":
		g.rpcOnly = true
		g.run(size, 300*time.Microsecond)
	case "manyflows":
		manyFlows(w, int(size))
	case "openconns":
		openConns(w, int(size))
	case "hostile":
		n := hostile(w, size)
		fmt.Fprintf(os.Stderr, "%s: %d packets, %+v\n", path, w.packets, n)
	case "hostile-conns":
		n := hostileConns(w, int(size))
		fmt.Fprintf(os.Stderr, "%s: %d packets, %+v\n", path, w.packets, n)
	case "hostile-sessions":
		conns, binds := hostileSessions(w, size)
		fmt.Fprintf(os.Stderr, "%s: %d packets, %d connections, %d NspiBind calls\n", path, w.packets, conns, binds)
	default:
		return fmt.Errorf("unknown capture kind %q", kind)
	}
	if err := w.flush(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// splitRing cuts a pcap into n files of about equal size, as dumpcap's ring
// buffer does.
func splitRing(src string, n int, dir string) ([]string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	hdr, recs := b[:24], b[24:]
	per := len(recs)/n + 1
	var files []string
	for i := 0; i < n; i++ {
		cut := 0
		for cut < len(recs) && cut < per {
			l := int(uint32(recs[cut+8]) | uint32(recs[cut+9])<<8 | uint32(recs[cut+10])<<16 | uint32(recs[cut+11])<<24)
			cut += 16 + l
		}
		if i == n-1 {
			cut = len(recs)
		}
		p := filepath.Join(dir, fmt.Sprintf("ring_%02d.pcap", i+1))
		if err := os.WriteFile(p, append(append([]byte(nil), hdr...), recs[:cut]...), 0o644); err != nil {
			return nil, err
		}
		files = append(files, p)
		recs = recs[cut:]
	}
	return files, nil
}
