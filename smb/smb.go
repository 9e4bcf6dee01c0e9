package smb

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nspicap/nspicap/ntlmssp"
)

// Dir is a direction on the connection: 0 client to server, 1 server to
// client.
type Dir uint8

const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

// Pos says where bytes came from: input file index, 1-based frame number,
// capture time. It has the shape of the capture layer's position.
type Pos struct {
	File  int
	Frame int64
	Time  time.Time
}

// Handler receives what a Demux reads.
type Handler interface {
	// PipeData gives bytes the client wrote to a pipe (ClientToServer) or
	// read from it (ServerToClient), in order per direction. pos is the
	// frame that completed the SMB message that carried them. b is
	// borrowed for the call.
	PipeData(p *Pipe, dir Dir, pos Pos, b []byte)
	// PipeClose says that a pipe was closed (closed: an SMB CLOSE), or
	// that its connection ended (at Demux.Close). No PipeData follows.
	PipeClose(p *Pipe, pos Pos, closed bool)
	// Logon reports the NTLM AUTHENTICATE of a SESSION_SETUP.
	Logon(id Identity, pos Pos)
	// Anomaly reports one of AnomalyKinds.
	Anomaly(kind string, pos Pos, detail string)
}

// Identity is what an SMB session says about its user.
type Identity struct {
	// User is DOMAIN\user from an NTLM AUTHENTICATE, "" when unknown.
	User string
	// Anonymous: an NTLM anonymous (null session) logon.
	Anonymous bool
	// Mech is the mechanism of the session's authentication, MechUnknown
	// when its SESSION_SETUP is not in the capture.
	Mech ntlmssp.Mechanism
	// Named is what a TicketNamer said of the session's Kerberos AP-REQ:
	// the user is then User (when known) and Named.Ticket labels its
	// ticket; nil otherwise.
	Named *Named
	// At is the SESSION_SETUP request that named User from its token:
	// the frame that completed the message carrying the NTLM
	// AUTHENTICATE (or, SMB1 without extended security, the account
	// name). Zero when Named says who named the user, or none did.
	At Pos
}

// Named is what named a Kerberos session without keys (TicketNamer).
type Named struct {
	// From is "tgs_rep" when the KDC reply that issued the ticket named
	// the user, "" when no one did; Pos is that reply's frame.
	From string
	Pos  Pos
	// Ticket labels the ticket when the user is unknown; Via is the
	// service that obtained the ticket by delegation.
	Ticket, Via string
}

// TicketNamer is implemented by a Handler that can name the client of the
// Kerberos AP-REQ of a SESSION_SETUP without keys. tok is the raw or
// GSS-framed token, borrowed for the call; ok is false when it is not an
// AP-REQ.
type TicketNamer interface {
	NameTicket(tok []byte, pos Pos) (user string, n *Named, ok bool)
}

// Pipe is one open named pipe of an SMB connection.
type Pipe struct {
	// ID numbers the pipes of a Demux from 1, in the order first seen.
	ID uint64
	// Name is the pipe's name as `\PIPE\name`; "" when its CREATE is not
	// in the capture.
	Name string
	// Opened: the CREATE (or NT_CREATE_ANDX) is in the capture, so the
	// pipe's bytes are seen from their start.
	Opened bool
	// Version is 1 for SMB1, 2 for SMB2/3.
	Version int
	// Ctx is the handler's, for its state of the pipe.
	Ctx any

	sess *session
}

// Identity returns what the pipe's SMB session says about its user.
func (p *Pipe) Identity() Identity {
	if p.sess == nil {
		return Identity{}
	}
	return p.sess.id
}

type session struct {
	id     Identity
	signed bool
}

// Stats count what a Demux saw.
type Stats struct {
	Messages   int64 // SMB messages (a compound counts once per command)
	Encrypted  int64 // TRANSFORM_HEADER messages
	Compressed int64 // COMPRESSION_TRANSFORM_HEADER messages
	// SignedSessions: sessions with at least one signed message.
	SignedSessions int64
	Pipes          int64 // pipes followed
}

// Budget bounds the bytes of partial messages held by every Demux that
// shares it. Not safe for concurrent use.
type Budget struct{ max, held int }

// NewBudget returns a budget of max bytes.
func NewBudget(max int) *Budget { return &Budget{max: max} }

// Held is the bytes held now.
func (b *Budget) Held() int { return b.held }

// Limits bound what one connection holds.
type Limits struct {
	// MaxMessage is the longest message buffered when it spans segments
	// (longer ones are skipped, AnomalyTooLarge).
	MaxMessage int
	// MaxPipes and MaxPending bound the open pipes and the requests
	// awaiting their answer that a connection follows.
	MaxPipes, MaxPending int
	// Budget, when set, bounds the partial messages of all connections.
	Budget *Budget
}

// DefaultLimits are used for the fields of Limits left zero.
var DefaultLimits = Limits{MaxMessage: 16 << 20, MaxPipes: 1024, MaxPending: 4096}

// fileID is an SMB2 FileId (persistent and volatile halves).
type fileID [16]byte

// req2 is an SMB2 request awaiting its answer.
type req2 struct {
	cmd    uint16
	file   fileID
	pipe   *Pipe  // READ, IOCTL: the pipe answered
	name   string // CREATE: the name; TREE_CONNECT: the path
	tree   uint32
	sess   uint64
	hasReq bool
	// setup: SESSION_SETUP without a SessionId yet (the first leg, where
	// Kerberos puts its AP-REQ): the identity its token gave, for the
	// session its answer names.
	setup *session
}

// req1 is an SMB1 request awaiting its answer.
type req1 struct {
	cmd  uint8
	pipe *Pipe
	name string
	tid  uint16
	uid  uint16
	fid  uint16
	at   Pos // SESSION_SETUP_ANDX: the request's frame
}

type framer struct {
	buf  []byte // partial message, NetBIOS header included
	need int    // its full length once the header is known
	skip int    // bytes of the current message still to drop
	scan bool   // looking for a message start
	held int    // charged to the budget
}

// Demux reads one SMB connection.
type Demux struct {
	// Client and Server are the connection's ends; they are swapped when
	// the first message shows the guess (no SYN) was wrong.
	Client, Server netip.AddrPort

	h         Handler
	lim       Limits
	fromStart bool
	decided   bool // the roles are settled
	swapped   bool
	dead      bool
	closed    bool
	dirs      [2]framer

	sessions map[uint64]*session // SMB2 SessionId, SMB1 UID
	ipc2     map[uint32]bool     // SMB2 TreeId -> IPC$
	ipc1     map[uint16]bool     // SMB1 TID -> IPC$
	pipes2   map[fileID]*Pipe
	pipes1   map[uint16]*Pipe
	pend2    map[uint64]*req2
	pend1    map[uint64]*req1 // by MID, PID and command
	order    []*Pipe          // open pipes in the order opened, for Close
	nPipes   uint64
	stats    Stats
}

// NewDemux returns a reader for one connection. fromStart: the connection's
// first bytes are in the capture (its SYN was seen).
func NewDemux(client, server netip.AddrPort, fromStart bool, h Handler, lim Limits) *Demux {
	if lim.MaxMessage <= 0 {
		lim.MaxMessage = DefaultLimits.MaxMessage
	}
	if lim.MaxPipes <= 0 {
		lim.MaxPipes = DefaultLimits.MaxPipes
	}
	if lim.MaxPending <= 0 {
		lim.MaxPending = DefaultLimits.MaxPending
	}
	d := &Demux{Client: client, Server: server, h: h, lim: lim, fromStart: fromStart, decided: fromStart,
		sessions: map[uint64]*session{}, ipc2: map[uint32]bool{}, ipc1: map[uint16]bool{},
		pipes2: map[fileID]*Pipe{}, pipes1: map[uint16]*Pipe{}, pend2: map[uint64]*req2{}, pend1: map[uint64]*req1{}}
	if !fromStart {
		d.dirs[0].scan, d.dirs[1].scan = true, true
	}
	return d
}

// Stats returns the counts so far.
func (d *Demux) Stats() Stats { return d.stats }

// Detect reports whether the first bytes of a connection are SMB: a
// NetBIOS session message whose payload starts with an SMB protocol
// identifier, or on the NetBIOS session port (139) a session request or
// keepalive. more: b is too short to tell.
func Detect(b []byte, port139 bool) (yes, more bool) {
	if len(b) < 4 {
		return false, true
	}
	switch b[0] {
	case 0x00:
		if len(b) < 8 {
			return false, true
		}
		return isMagic(b[4:8]) && int(b[1])<<16|int(b[2])<<8|int(b[3]) >= 4, false
	case 0x81, 0x85:
		return port139, false
	}
	return false, false
}

func isMagic(b []byte) bool {
	return len(b) >= 4 && b[1] == 'S' && b[2] == 'M' && b[3] == 'B' && (b[0] == 0xFF || b[0] == 0xFE || b[0] == 0xFD || b[0] == 0xFC)
}

func (d *Demux) anomaly(kind string, pos Pos, detail string) {
	d.h.Anomaly(kind, pos, detail)
}

// Feed gives the demux in-order bytes of one direction; b is borrowed.
func (d *Demux) Feed(dir Dir, pos Pos, b []byte) {
	if d.dead || d.closed {
		return
	}
	// The framers follow the directions as the capture layer gives them;
	// frame turns them into the roles the messages show.
	f := &d.dirs[dir]
	for len(b) > 0 && !d.dead {
		if f.skip > 0 {
			n := min(f.skip, len(b))
			f.skip -= n
			b = b[n:]
			continue
		}
		if f.scan {
			i := scanStart(b)
			if i < 0 {
				return // the next start may straddle the segments: a few bytes lost at worst
			}
			b = b[i:]
			f.scan = false
		}
		if f.need > 0 || len(f.buf) > 0 {
			if f.need == 0 {
				n := min(4-len(f.buf), len(b))
				f.buf = append(f.buf, b[:n]...)
				b = b[n:]
				if len(f.buf) < 4 {
					return
				}
				hb := f.buf
				f.buf = f.buf[:0]
				if !d.startMessage(dir, pos, f, hb, nil) {
					continue
				}
				f.buf = append(f.buf, hb...)
				d.charge(f)
			}
			n := min(f.need-len(f.buf), len(b))
			f.buf = append(f.buf, b[:n]...)
			b = b[n:]
			if len(f.buf) == f.need {
				d.frame(dir, pos, f.buf[0], f.buf[4:])
				f.reset(d)
			}
			continue
		}
		if len(b) < 4 {
			f.buf = append(f.buf[:0], b...)
			d.charge(f)
			return
		}
		total := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		if b[0] == 0 && len(b) >= total {
			d.frame(dir, pos, 0, b[4:total])
			b = b[total:]
			continue
		}
		if !d.startMessage(dir, pos, f, b[:4], b) {
			b = b[4:] // the header; skip holds the rest
			continue
		}
		n := min(f.need, len(b))
		f.buf = append(f.buf[:0], b[:n]...)
		b = b[n:]
		if len(f.buf) == f.need { // a session service packet without payload
			d.frame(dir, pos, f.buf[0], f.buf[4:])
			f.reset(d)
			continue
		}
		d.charge(f)
	}
}

// startMessage checks a NetBIOS header h (rest: the bytes from it on, when
// at hand) and sets up f for its message: need for one to buffer, skip for
// one to drop. It reports whether the message is to be buffered.
func (d *Demux) startMessage(dir Dir, pos Pos, f *framer, h, rest []byte) bool {
	total := 4 + (int(h[1])<<16 | int(h[2])<<8 | int(h[3]))
	switch h[0] {
	case 0x00:
	case 0x81, 0x82, 0x83, 0x84, 0x85:
		f.skip = total - 4
		return false
	default:
		d.anomaly(AnomalyBadFraming, pos, "NetBIOS session header of type 0x"+strconv.FormatUint(uint64(h[0]), 16)+": the connection is not read further")
		d.dead = true
		d.release()
		return false
	}
	if total-4 > d.lim.MaxMessage || d.lim.Budget != nil && d.lim.Budget.held+total > d.lim.Budget.max {
		d.anomaly(AnomalyTooLarge, pos, "a message of "+strconv.Itoa(total-4)+" bytes was skipped (over the size limit or the buffering budget)")
		f.skip = total - 4
		return false
	}
	f.need = total
	return true
}

func (d *Demux) charge(f *framer) {
	if b := d.lim.Budget; b != nil {
		b.held += cap(f.buf) - f.held
		f.held = cap(f.buf)
	}
}

func (f *framer) reset(d *Demux) {
	f.need = 0
	if cap(f.buf) > 64<<10 {
		f.buf = nil // do not keep a large buffer
	} else {
		f.buf = f.buf[:0]
	}
	d.charge(f)
}

func (d *Demux) release() {
	for i := range d.dirs {
		d.dirs[i].buf = nil
		d.dirs[i].need = 0
		d.charge(&d.dirs[i])
	}
}

// scanStart returns the offset of the first plausible message start in b:
// a NetBIOS session message header, with a length that can hold an SMB
// header, whose payload starts with an SMB protocol identifier (and, for
// SMB2, the header's StructureSize); -1 when there is none. The length
// check passes over the SMB2 header of an operation inside a compound,
// preceded by padding.
func scanStart(b []byte) int {
	for i := 0; i+10 <= len(b); i++ {
		if b[i] != 0 || b[i+5] != 'S' || b[i+6] != 'M' || b[i+7] != 'B' || !isMagic(b[i+4:i+8]) {
			continue
		}
		n := int(b[i+1])<<16 | int(b[i+2])<<8 | int(b[i+3])
		if n < 32 || b[i+4] == 0xFE && (n < 64 || b[i+8] != 64 || b[i+9] != 0) {
			continue
		}
		return i
	}
	return -1
}

// Gap says that n bytes of dir were not captured (n < 0: unknown).
func (d *Demux) Gap(dir Dir, pos Pos, n int) { d.lose(dir, pos, n, true) }

// Cut is Gap for bytes the capture's snap length cut: the message they
// fall in is dropped the same way, but nothing was lost in transit, so no
// anomaly is reported (the pipeline says once per input what the snap
// length cut). It reports whether it dropped a message.
func (d *Demux) Cut(dir Dir, pos Pos, n int) bool { return d.lose(dir, pos, n, false) }

// lose forgets n bytes that were not captured, reporting an anomaly when
// report is set; it returns whether a message in assembly was dropped.
func (d *Demux) lose(dir Dir, pos Pos, n int, report bool) (dropped bool) {
	if d.dead || d.closed {
		return false
	}
	f := &d.dirs[dir]
	detail := "bytes of unknown length were not captured"
	if n >= 0 {
		detail = strconv.Itoa(n) + " bytes were not captured"
	}
	if f.need > 0 && n >= 0 && f.need-len(f.buf) >= n {
		// the message in assembly lost bytes: drop it, and skip its rest
		f.skip = f.need - len(f.buf) - n
		detail += "; an SMB message they cut was dropped"
		dropped = true
	} else if f.skip > 0 && n >= 0 && f.skip >= n {
		f.skip -= n
	} else {
		f.scan = true
		f.skip = 0
	}
	f.buf = f.buf[:0]
	f.need = 0
	d.charge(f)
	if report {
		d.anomaly(AnomalyGap, pos, detail)
	}
	return dropped
}

// EachPipe calls f for every open pipe.
func (d *Demux) EachPipe(f func(*Pipe)) {
	for _, p := range d.order {
		if p != nil {
			f(p)
		}
	}
}

// Close ends the connection: every open pipe is closed. pos is where it
// ended.
func (d *Demux) Close(pos Pos) {
	if d.closed {
		return
	}
	d.closed = true
	for _, p := range d.order {
		if p != nil {
			d.h.PipeClose(p, pos, false)
		}
	}
	d.order = nil
	d.release()
}

// frame handles one NetBIOS session message (typ 0x00) of direction raw
// (as the capture layer gives it).
func (d *Demux) frame(raw Dir, pos Pos, typ byte, m []byte) {
	if typ != 0 {
		return
	}
	dir := raw
	if d.swapped {
		dir ^= 1
	}
	if len(m) < 4 {
		d.anomaly(AnomalyMalformed, pos, "a NetBIOS session message of "+strconv.Itoa(len(m))+" bytes is too short for SMB")
		return
	}
	switch {
	case m[0] == 0xFE && m[1] == 'S' && m[2] == 'M' && m[3] == 'B':
		d.smb2(dir, pos, m)
	case m[0] == 0xFF && m[1] == 'S' && m[2] == 'M' && m[3] == 'B':
		d.smb1(dir, pos, m)
	case m[0] == 0xFD && m[1] == 'S' && m[2] == 'M' && m[3] == 'B':
		d.stats.Encrypted++
		if d.stats.Encrypted == 1 {
			d.anomaly(AnomalyEncrypted, pos, "SMB 3 encryption (TRANSFORM_HEADER): the session's messages, and the DCE/RPC calls of its pipes, cannot be read")
		}
	case m[0] == 0xFC && m[1] == 'S' && m[2] == 'M' && m[3] == 'B':
		d.stats.Compressed++
		if d.stats.Compressed == 1 {
			d.anomaly(AnomalyCompressed, pos, "SMB 3 compression (COMPRESSION_TRANSFORM_HEADER): the messages are not decompressed")
		}
	default:
		d.anomaly(AnomalyBadFraming, pos, "a NetBIOS session message does not start with an SMB protocol identifier: the connection is not read further")
		d.dead = true
		d.release()
	}
}

// settle decides the roles, on a connection whose SYN was not seen, from
// the first message: a response travels from the server.
func (d *Demux) settle(dir *Dir, response bool) {
	if d.decided {
		return
	}
	d.decided = true
	if (*dir == ClientToServer) == response {
		d.swapped = true
		d.Client, d.Server = d.Server, d.Client
		*dir ^= 1
	}
}

// session returns the session with key k, creating it.
func (d *Demux) session(k uint64) *session {
	s := d.sessions[k]
	if s == nil {
		if len(d.sessions) >= d.lim.MaxPipes {
			return &session{}
		}
		s = &session{}
		d.sessions[k] = s
	}
	return s
}

// securityBlob reads the identity from a SESSION_SETUP security buffer.
func (d *Demux) securityBlob(s *session, pos Pos, blob []byte) {
	if len(blob) == 0 {
		return
	}
	var t ntlmssp.Token
	if len(blob) >= 8 && string(blob[:7]) == "NTLMSSP" {
		t = ntlmssp.Inspect(10, blob)
	} else {
		t = ntlmssp.Inspect(9, blob)
	}
	if t.Mech != ntlmssp.MechUnknown && s.id.Mech == ntlmssp.MechUnknown {
		s.id.Mech = t.Mech
	}
	if t.Kerberos != nil && s.id.User == "" {
		if n, ok := d.h.(TicketNamer); ok {
			if user, named, ok := n.NameTicket(t.Kerberos, pos); ok {
				s.id = Identity{User: user, Mech: ntlmssp.MechKerberos, Named: named}
			}
		}
	}
	if t.NTLM != nil && t.NTLM.Type == ntlmssp.TypeAuthenticate {
		s.id = Identity{User: t.NTLM.Identity(), Anonymous: t.NTLM.Anonymous(), Mech: ntlmssp.MechNTLM, At: pos}
		d.h.Logon(s.id, pos)
	}
}

// newPipe starts following a pipe.
func (d *Demux) newPipe(name string, opened bool, version int, s *session) *Pipe {
	if len(d.order) >= d.lim.MaxPipes {
		return nil
	}
	d.nPipes++
	d.stats.Pipes++
	p := &Pipe{ID: d.nPipes, Name: pipeName(name), Opened: opened, Version: version, sess: s}
	d.order = append(d.order, p)
	return p
}

// closePipe ends a pipe.
func (d *Demux) closePipe(p *Pipe, pos Pos) {
	for i, q := range d.order {
		if q == p {
			d.order = append(d.order[:i], d.order[i+1:]...)
			break
		}
	}
	d.h.PipeClose(p, pos, true)
}

// pipeName normalises a pipe's name to `\PIPE\name`.
func pipeName(s string) string {
	if s == "" {
		return ""
	}
	s = strings.TrimLeft(s, `\/`)
	if len(s) >= 5 && strings.EqualFold(s[:5], `PIPE\`) {
		s = s[5:]
	}
	return `\PIPE\` + s
}

// data hands pipe bytes to the handler.
func (d *Demux) data(p *Pipe, dir Dir, pos Pos, b []byte) {
	if p != nil && len(b) > 0 {
		d.h.PipeData(p, dir, pos, b)
	}
}

// isIPC reports whether a share path names IPC$.
func isIPC(path string) bool {
	return len(path) >= 4 && strings.EqualFold(path[len(path)-4:], "IPC$")
}

// Alive reports whether the connection is still read (not stopped by a
// framing error).
func (d *Demux) Alive() bool { return !d.dead }
