package smb

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nspicap/nspicap/internal/synth"
)

var (
	tClient = netip.MustParseAddrPort("192.0.2.9:49700")
	tServer = netip.MustParseAddrPort("198.51.100.10:445")
)

// seg is one TCP payload of a generated conversation.
type seg struct {
	dir Dir
	b   []byte
}

// conversation generates an SMB connection carrying two pipes (samr by
// transceive, NSPI by WRITE/READ with a compound, a STATUS_PENDING and an
// answer spanning segments) and returns its payloads in capture order.
func conversation(t testing.TB, version int) []seg {
	t.Helper()
	c := synth.NewCapture(fmt.Sprintf("smb-test-%d", version))
	port := uint16(445)
	if version == 1 {
		port = 139
	}
	cn := c.NewConn(tClient, netip.AddrPortFrom(tServer.Addr(), port))
	cn.Open()
	s := c.NewSMB(cn, version)
	s.Signed = version == 2
	s.Logon(synth.Alice, synth.DC01)
	p := s.OpenPipe("samr", synth.PipeTransceive)
	r := c.NewRPC(cn, 1)
	r.Pipe = p
	r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxSAMR, 0), NewAssoc: 0x1234, SecAddr: `\PIPE\samr`})
	h := c.NewHandle()
	r.Call(synth.CallSpec{Opnum: 1, Op: "SamrCloseHandle", Req: h[:], Resp: make([]byte, 24)})
	p.Close()
	q := s.OpenPipe("lsass", synth.PipeWriteRead)
	r = c.NewRPC(cn, 1)
	r.Pipe = q
	q.Compound = version == 2
	r.Bind(synth.BindSpec{Contexts: synth.WindowsContexts(synth.SyntaxNSPI, 0), NewAssoc: 0x1235, SecAddr: `\PIPE\lsass`})
	q.Compound, q.Pending = false, true
	nh := r.NspiBind(synth.BindResult{ClientGUID: &synth.UUID{}})
	q.MSS = 50
	r.NspiQueryRows(nh, 0, 0)
	r.NspiUnbind(nh, synth.StatusUnbindSuccess)
	cn.CloseFIN(synth.C2S)
	var out []seg
	for _, pk := range c.Packets {
		if len(pk.Payload) == 0 {
			continue
		}
		d := ClientToServer
		if pk.Src != cn.Client {
			d = ServerToClient
		}
		out = append(out, seg{d, pk.Payload})
	}
	return out
}

// recorder keeps what a Demux reports, as text.
type recorder struct {
	log   []string
	pipes map[uint64]*[2]bytes.Buffer
	names map[uint64]string
	anoms []string
	users []string
	at    map[int64]bool // the Identity.At frames of the data's sessions
	ids   []Identity     // of the logons
}

func newRecorder() *recorder {
	return &recorder{pipes: map[uint64]*[2]bytes.Buffer{}, names: map[uint64]string{}, at: map[int64]bool{}}
}

func (r *recorder) PipeData(p *Pipe, dir Dir, pos Pos, b []byte) {
	if r.pipes[p.ID] == nil {
		r.pipes[p.ID] = &[2]bytes.Buffer{}
	}
	r.pipes[p.ID][dir].Write(b)
	r.names[p.ID] = p.Name
	r.at[p.Identity().At.Frame] = true
	r.log = append(r.log, fmt.Sprintf("data %d %d %d %s", p.ID, dir, len(b), p.Identity().User))
}
func (r *recorder) PipeClose(p *Pipe, pos Pos, closed bool) {
	r.log = append(r.log, fmt.Sprintf("close %d %v", p.ID, closed))
}
func (r *recorder) Logon(id Identity, pos Pos) {
	r.users = append(r.users, id.User)
	r.ids = append(r.ids, id)
}
func (r *recorder) Anomaly(kind string, pos Pos, detail string) {
	r.anoms = append(r.anoms, kind+": "+detail)
}

// pdus splits a pipe's stream into DCE/RPC PDUs by frag_length and returns
// their packet types; ok is false when the stream does not split exactly.
func pdus(b []byte) (types []byte, ok bool) {
	for len(b) > 0 {
		if len(b) < 16 || b[0] != 5 {
			return types, false
		}
		n := int(b[8]) | int(b[9])<<8
		if n < 16 || n > len(b) {
			return types, false
		}
		types = append(types, b[2])
		b = b[n:]
	}
	return types, true
}

func feedAll(d *Demux, segs []seg, split int) {
	for i, s := range segs {
		pos := Pos{Frame: int64(i + 1)}
		if split > 0 && split < len(s.b) {
			d.Feed(s.dir, pos, s.b[:split])
			d.Feed(s.dir, pos, s.b[split:])
			continue
		}
		d.Feed(s.dir, pos, s.b)
	}
	d.Close(Pos{Frame: int64(len(segs) + 1)})
}

func TestDemux(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("smb%d", v), func(t *testing.T) {
			segs := conversation(t, v)
			if yes, _ := Detect(segs[0].b, v == 1); !yes {
				t.Fatalf("Detect refuses the first bytes % x", segs[0].b[:8])
			}
			r := newRecorder()
			d := NewDemux(tClient, tServer, true, r, Limits{})
			feedAll(d, segs, 0)
			if len(r.anoms) != 0 {
				t.Errorf("anomalies: %v", r.anoms)
			}
			if strings.Join(r.users, ",") != `CONTOSO\alice` {
				t.Errorf("logons %v", r.users)
			}
			if len(r.pipes) != 2 || r.names[1] != `\PIPE\samr` || r.names[2] != `\PIPE\lsass` {
				t.Fatalf("pipes %v", r.names)
			}
			// bind, request / bind_ack, response per pipe; NSPI: 3 calls
			want := map[uint64][2]string{1: {"\x0b\x00", "\x0c\x02"}, 2: {"\x0b\x00\x00\x00", "\x0c\x02\x02\x02"}}
			for id, w := range want {
				for dir := range 2 {
					ty, ok := pdus(r.pipes[id][dir].Bytes())
					if !ok || string(ty) != w[dir] {
						t.Errorf("pipe %d dir %d: PDU types % x (whole PDUs: %v), want % x", id, dir, ty, ok, w[dir])
					}
				}
			}
			if !strings.Contains(strings.Join(r.log, "\n"), `data 2 0`) || !strings.HasSuffix(r.log[len(r.log)-1], "close 2 false") {
				t.Errorf("log %v", r.log)
			}
			for _, l := range r.log {
				if strings.HasPrefix(l, "data") && !strings.HasSuffix(l, `CONTOSO\alice`) {
					t.Errorf("pipe data without the session's user: %s", l)
				}
			}
			// The session's identity names the segment (frame, in
			// feedAll) that carried the NTLM AUTHENTICATE.
			auth := int64(0)
			for i, s := range segs {
				if s.dir == ClientToServer && bytes.Contains(s.b, []byte("NTLMSSP\x00\x03\x00\x00\x00")) {
					auth = int64(i + 1)
				}
			}
			if len(r.at) != 1 || !r.at[auth] || auth == 0 {
				t.Errorf("identity frames %v, want only the AUTHENTICATE's %d", r.at, auth)
			}
			st := d.Stats()
			if st.Pipes != 2 || st.Encrypted != 0 || (v == 2) != (st.SignedSessions == 1) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestDemuxEverySplit: the same result whatever the segment boundaries.
func TestDemuxEverySplit(t *testing.T) {
	for _, v := range []int{1, 2} {
		segs := conversation(t, v)
		ref := newRecorder()
		feedAll(NewDemux(tClient, tServer, true, ref, Limits{}), segs, 0)
		for split := 1; split < 200; split++ {
			r := newRecorder()
			feedAll(NewDemux(tClient, tServer, true, r, Limits{Budget: NewBudget(1 << 20)}), segs, split)
			for id, p := range ref.pipes {
				for dir := range 2 {
					if r.pipes[id] == nil || !bytes.Equal(r.pipes[id][dir].Bytes(), p[dir].Bytes()) {
						t.Fatalf("smb%d split %d: pipe %d dir %d differs", v, split, id, dir)
					}
				}
			}
			if len(r.anoms) != 0 {
				t.Fatalf("smb%d split %d: anomalies %v", v, split, r.anoms)
			}
		}
	}
}

// TestDemuxMidstream: a capture that starts inside the connection, and
// guesses the roles wrong, still finds the pipe opened in it.
func TestDemuxMidstream(t *testing.T) {
	segs := conversation(t, 2)
	for cut := 1; cut < len(segs); cut++ {
		r := newRecorder()
		d := NewDemux(tServer, tClient, false, r, Limits{})
		for i, s := range segs[cut:] {
			b := s.b
			if i == 0 {
				b = b[min(3, len(b)):] // the capture starts inside a message
			}
			d.Feed(s.dir^1, Pos{Frame: int64(i + 1)}, b)
		}
		d.Close(Pos{})
		for _, a := range r.anoms {
			t.Errorf("cut %d: %s", cut, a)
		}
		if d.Stats().Messages > 0 && d.Client != tClient {
			t.Fatalf("cut %d: roles not settled: client %v", cut, d.Client)
		}
		if cut < len(segs)-8 && len(r.pipes) == 0 {
			t.Errorf("cut %d: no pipe followed in the %d segments left", cut, len(segs)-cut)
		}
	}
}

// TestDemuxGap: a lost segment drops the message it cuts and no other.
func TestDemuxGap(t *testing.T) {
	segs := conversation(t, 1)
	r := newRecorder()
	d := NewDemux(tClient, tServer, true, r, Limits{})
	var lost int
	drop := -1
	for i, s := range segs {
		if drop < 0 && s.dir == ServerToClient && bytes.Contains(s.b, []byte{5, 0, 2, 3}) {
			drop = i // the samr call's answer
		}
	}
	for i, s := range segs {
		if i == drop {
			lost = len(s.b)
			d.Gap(s.dir, Pos{Frame: int64(i + 1)}, len(s.b))
			continue
		}
		d.Feed(s.dir, Pos{Frame: int64(i + 1)}, s.b)
	}
	d.Close(Pos{})
	if len(r.anoms) != 1 || !strings.HasPrefix(r.anoms[0], AnomalyGap) {
		t.Fatalf("anomalies %v (lost %d bytes)", r.anoms, lost)
	}
	if ty, ok := pdus(r.pipes[2][1].Bytes()); !ok || len(ty) != 4 {
		t.Errorf("the second pipe lost answers: % x", ty)
	}
}

// TestDemuxNotSMB: encrypted and compressed messages are counted and never
// handed on; a bad NetBIOS type stops the connection.
func TestDemuxNotSMB(t *testing.T) {
	r := newRecorder()
	d := NewDemux(tClient, tServer, true, r, Limits{})
	enc := append([]byte{0, 0, 0, 60, 0xFD, 'S', 'M', 'B'}, make([]byte, 56)...)
	comp := append([]byte{0, 0, 0, 20, 0xFC, 'S', 'M', 'B'}, make([]byte, 16)...)
	d.Feed(ClientToServer, Pos{Frame: 1}, enc)
	d.Feed(ServerToClient, Pos{Frame: 2}, enc)
	d.Feed(ClientToServer, Pos{Frame: 3}, comp)
	if st := d.Stats(); st.Encrypted != 2 || st.Compressed != 1 || len(r.log) != 0 {
		t.Errorf("stats %+v, log %v", st, r.log)
	}
	d.Feed(ClientToServer, Pos{Frame: 4}, []byte{0x42, 0, 0, 1, 0})
	if d.Alive() || len(r.anoms) != 3 {
		t.Errorf("alive %v, anomalies %v", d.Alive(), r.anoms)
	}
	if yes, _ := Detect([]byte{5, 0, 11, 3, 0x10, 0, 0, 0}, false); yes {
		t.Error("a DCE/RPC bind taken for SMB")
	}
}

// TestDemuxTruncated: every prefix of every message, given as a whole
// message, is read or reported, never a panic.
func TestDemuxTruncated(t *testing.T) {
	for _, v := range []int{1, 2} {
		for _, s := range conversation(t, v) {
			if len(s.b) < 8 || s.b[0] != 0 {
				continue
			}
			for n := 4; n < len(s.b); n++ {
				m := append([]byte{0, byte((n - 4) >> 16), byte((n - 4) >> 8), byte(n - 4)}, s.b[4:n]...)
				d := NewDemux(tClient, tServer, true, newRecorder(), Limits{})
				d.Feed(s.dir, Pos{}, m)
				d.Close(Pos{})
			}
		}
	}
}

func FuzzSMB(f *testing.F) {
	for _, v := range []int{1, 2} {
		var cs, sc []byte
		for _, s := range conversation(f, v) {
			if s.dir == ClientToServer {
				cs = append(cs, s.b...)
			} else {
				sc = append(sc, s.b...)
			}
		}
		f.Add(cs, sc, uint16(7), false)
		f.Add(cs[40:], sc, uint16(300), true)
	}
	f.Fuzz(func(t *testing.T, a, b []byte, split uint16, midstream bool) {
		budget := NewBudget(1 << 16)
		d := NewDemux(tClient, tServer, !midstream, newRecorder(), Limits{MaxMessage: 1 << 15, MaxPipes: 8, MaxPending: 8, Budget: budget})
		s := int(split) % (len(a) + 1)
		d.Feed(ClientToServer, Pos{}, a[:s])
		d.Feed(ServerToClient, Pos{}, b)
		if split%5 == 0 {
			d.Gap(ClientToServer, Pos{}, int(split%300)-1)
		}
		d.Feed(ClientToServer, Pos{}, a[s:])
		if budget.Held() > 1<<16 {
			t.Fatalf("budget overdrawn: %d", budget.Held())
		}
		d.Close(Pos{})
		if budget.Held() != 0 {
			t.Fatalf("%d bytes still charged after Close", budget.Held())
		}
		if len(d.pipes1) > 8 || len(d.pipes2) > 8 || len(d.pend1) > 8 || len(d.pend2) > 8 {
			t.Fatalf("maps over their limits")
		}
	})
}

// TestSMB1PlainLogonFrame: an SMB1 SESSION_SETUP_ANDX without extended
// security (MS-CIFS 2.2.4.53) names its account in the request; the
// identity the answer confirms keeps the request's frame.
func TestSMB1PlainLogonFrame(t *testing.T) {
	msg := func(flags byte, uid uint16, words, data []byte) []byte {
		m := make([]byte, 32)
		copy(m, "\xffSMB")
		m[4], m[9] = cmd1SessionSetup, flags
		m[28], m[29] = byte(uid), byte(uid>>8)
		m[30] = 7 // MID
		m = append(m, byte(len(words)/2))
		m = append(m, words...)
		m = append(m, byte(len(data)), byte(len(data)>>8))
		m = append(m, data...)
		return append([]byte{0, 0, byte(len(m) >> 8), byte(len(m))}, m...)
	}
	words := make([]byte, 26)
	words[0] = 0xff              // no AndX
	words[14], words[16] = 24, 0 // OEMPasswordLen, UnicodePasswordLen
	data := append(make([]byte, 24), "carol\x00FABRIKAM\x00Unix\x00Samba\x00"...)
	r := newRecorder()
	d := NewDemux(tClient, netip.AddrPortFrom(tServer.Addr(), 139), true, r, Limits{})
	d.Feed(ClientToServer, Pos{Frame: 4}, msg(0, 0, words, data))
	d.Feed(ServerToClient, Pos{Frame: 5}, msg(flag1Reply, 0x801, []byte{0xff, 0, 0, 0, 0, 0}, nil))
	if len(r.ids) != 1 || r.ids[0].User != `FABRIKAM\carol` || r.ids[0].At.Frame != 4 || len(r.anoms) != 0 {
		t.Errorf("logons %+v, anomalies %v", r.ids, r.anoms)
	}
}
