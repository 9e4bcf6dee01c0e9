package smb

import (
	"strconv"
	"strings"
)

// SMB2 commands, flags and statuses used here (MS-SMB2 2.2.1, MS-ERREF).
const (
	cmd2SessionSetup = 0x01
	cmd2TreeConnect  = 0x03
	cmd2Create       = 0x05
	cmd2Close        = 0x06
	cmd2Read         = 0x08
	cmd2Write        = 0x09
	cmd2Ioctl        = 0x0B

	flag2Response = 0x00000001
	flag2Async    = 0x00000002
	flag2Related  = 0x00000004
	flag2Signed   = 0x00000008

	statusPending        = 0x00000103
	statusBufferOverflow = 0x80000005

	// FsctlPipeTransceive is the IOCTL that writes a message to a pipe
	// and reads its answer (MS-FSCC 2.3.49).
	FsctlPipeTransceive = 0x0011C017

	header2Len = 64
	shareIPC   = 0x02 // TREE_CONNECT response ShareType: named pipe
)

// allFF is the FileId of a related operation: the file of the previous
// operation in the compound (MS-SMB2 3.2.4.1.4).
var allFF = fileID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// chain2 is what the operations of one compound share.
type chain2 struct {
	file fileID
	ok   bool
}

// smb2 handles one SMB2 message, which may be a compound.
func (d *Demux) smb2(dir Dir, pos Pos, m []byte) {
	var ch chain2
	for off, n := 0, 0; n < 64; n++ {
		msg := m[off:]
		r := reader{b: msg}
		next := int(r.u32("NextCommand", 20))
		if r.err != nil || r.u16("StructureSize", 4) != header2Len || string(msg[:4]) != "\xfeSMB" {
			d.malformed(pos, off, r.err, "SMB2 header")
			return
		}
		if next != 0 {
			if next < header2Len || next > len(msg) || next%8 != 0 {
				d.malformed(pos, off, nil, "SMB2 NextCommand "+strconv.Itoa(next)+" out of the message")
				return
			}
			msg = msg[:next]
		}
		d.command2(&dir, pos, msg, &ch)
		if next == 0 {
			return
		}
		off += next
	}
}

func (d *Demux) malformed(pos Pos, off int, err error, what string) {
	detail := what
	if err != nil {
		detail = what + ": " + err.Error()
	}
	if off > 0 {
		detail += " (compound operation at offset " + strconv.Itoa(off) + ")"
	}
	d.anomaly(AnomalyMalformed, pos, detail)
}

func (r *reader) file(field string, off int) fileID {
	var f fileID
	copy(f[:], r.bytes(field, off, 16))
	return f
}

// command2 handles one SMB2 header and its body; msg ends where the next
// compounded operation starts.
func (d *Demux) command2(dir *Dir, pos Pos, msg []byte, ch *chain2) {
	r := reader{b: msg}
	flags := r.u32("Flags", 16)
	resp := flags&flag2Response != 0
	d.settle(dir, resp)
	if resp != (*dir == ServerToClient) {
		return // a message from the wrong side: not ours to read
	}
	cmd := r.u16("Command", 12)
	status := r.u32("Status", 8)
	mid := r.u64("MessageId", 24)
	var tree uint32
	if flags&flag2Async == 0 {
		tree = r.u32("TreeId", 36)
	}
	sid := r.u64("SessionId", 40)
	if r.err != nil {
		d.malformed(pos, 0, r.err, "SMB2 header")
		return
	}
	d.stats.Messages++
	if flags&flag2Signed != 0 && sid != 0 {
		if s := d.session(sid); !s.signed {
			s.signed = true
			d.stats.SignedSessions++
		}
	}
	if resp {
		d.response2(pos, &r, cmd, status, mid, tree, sid, flags, ch)
	} else {
		d.request2(pos, &r, cmd, mid, tree, sid, flags, ch)
	}
	if r.err != nil {
		d.malformed(pos, 0, r.err, "SMB2 "+cmd2Name(cmd))
	}
}

func cmd2Name(c uint16) string {
	switch c {
	case cmd2SessionSetup:
		return "SESSION_SETUP"
	case cmd2TreeConnect:
		return "TREE_CONNECT"
	case cmd2Create:
		return "CREATE"
	case cmd2Close:
		return "CLOSE"
	case cmd2Read:
		return "READ"
	case cmd2Write:
		return "WRITE"
	case cmd2Ioctl:
		return "IOCTL"
	}
	return "command 0x" + strconv.FormatUint(uint64(c), 16)
}

// fileOf resolves the FileId of a request, a related one to the file of
// the compound's previous operation.
func (ch *chain2) fileOf(f fileID, flags uint32) (fileID, bool) {
	if flags&flag2Related != 0 && f == allFF {
		return ch.file, ch.ok
	}
	return f, true
}

func (d *Demux) pend(mid uint64, q *req2) {
	if len(d.pend2) >= d.lim.MaxPending {
		d.anomaly(AnomalyTooMany, Pos{}, "more than "+strconv.Itoa(d.lim.MaxPending)+" SMB2 requests awaiting their answer: the oldest are forgotten")
		clear(d.pend2)
	}
	d.pend2[mid] = q
}

// pipe2 returns the pipe of a FileId; a pipe opened before the capture
// is followed from the first bytes that look like DCE/RPC on an IPC$
// share (or a share whose TREE_CONNECT is not in the capture).
func (d *Demux) pipe2(f fileID, tree uint32, sid uint64, data []byte) *Pipe {
	if p := d.pipes2[f]; p != nil {
		return p
	}
	ipc, known := d.ipc2[tree]
	if data == nil || known && !ipc || !looksRPC(data) {
		return nil
	}
	p := d.newPipe("", false, 2, d.session(sid))
	if p != nil {
		d.pipes2[f] = p
	}
	return p
}

func (d *Demux) request2(pos Pos, r *reader, cmd uint16, mid uint64, tree uint32, sid uint64, flags uint32, ch *chain2) {
	const b = header2Len
	switch cmd {
	case cmd2SessionSetup:
		off, n := int(r.u16("SecurityBufferOffset", b+12)), int(r.u16("SecurityBufferLength", b+14))
		blob := r.bytes("SecurityBuffer", off, n)
		switch {
		case r.err != nil:
		case sid != 0:
			d.securityBlob(d.session(sid), pos, blob)
		default:
			// The first leg: the session's id comes with the answer.
			s := &session{}
			d.securityBlob(s, pos, blob)
			if s.id.Named != nil {
				d.pend(mid, &req2{cmd: cmd, setup: s})
			}
		}
	case cmd2TreeConnect:
		off, n := int(r.u16("PathOffset", b+4)), int(r.u16("PathLength", b+6))
		path := r.bytes("Path", off, n)
		if r.err == nil {
			d.pend(mid, &req2{cmd: cmd, name: utf16String(path), sess: sid})
		}
	case cmd2Create:
		off, n := int(r.u16("NameOffset", b+44)), int(r.u16("NameLength", b+46))
		var name []byte
		if n > 0 {
			name = r.bytes("Buffer", off, n)
		}
		ch.ok = false
		if r.err == nil {
			if ipc, known := d.ipc2[tree]; !known || ipc {
				d.pend(mid, &req2{cmd: cmd, name: utf16String(name), tree: tree, sess: sid})
			}
		}
	case cmd2Close:
		f, ok := ch.fileOf(r.file("FileId", b+8), flags)
		if r.err == nil && ok {
			ch.file, ch.ok = f, true
			if p := d.pipes2[f]; p != nil {
				delete(d.pipes2, f)
				d.closePipe(p, pos)
			}
		}
	case cmd2Write:
		off, n := int(r.u16("DataOffset", b+2)), int(r.u32("Length", b+4))
		f, ok := ch.fileOf(r.file("FileId", b+16), flags)
		data := r.bytes("Buffer", off, n)
		if r.err == nil && ok {
			ch.file, ch.ok = f, true
			d.data(d.pipe2(f, tree, sid, data), ClientToServer, pos, data)
		}
	case cmd2Read:
		f, ok := ch.fileOf(r.file("FileId", b+16), flags)
		if r.err == nil && ok {
			ch.file, ch.ok = f, true
			if ipc, known := d.ipc2[tree]; d.pipes2[f] != nil || !known || ipc {
				d.pend(mid, &req2{cmd: cmd, file: f, tree: tree, sess: sid})
			}
		}
	case cmd2Ioctl:
		code := r.u32("CtlCode", b+4)
		f, ok := ch.fileOf(r.file("FileId", b+8), flags)
		off, n := int(r.u32("InputOffset", b+24)), int(r.u32("InputCount", b+28))
		if r.err != nil || !ok {
			return
		}
		ch.file, ch.ok = f, true
		if code != FsctlPipeTransceive {
			return
		}
		var in []byte
		if n > 0 {
			in = r.bytes("Input", off, n)
		}
		if r.err != nil {
			return
		}
		p := d.pipe2(f, tree, sid, in)
		d.data(p, ClientToServer, pos, in)
		if p != nil {
			d.pend(mid, &req2{cmd: cmd, file: f, tree: tree, sess: sid})
		}
	}
}

func (d *Demux) response2(pos Pos, r *reader, cmd uint16, status uint32, mid uint64, tree uint32, sid uint64, flags uint32, ch *chain2) {
	const b = header2Len
	if status == statusPending && flags&flag2Async != 0 {
		return // interim: the answer comes later, with the same MessageId
	}
	q := d.pend2[mid]
	if q == nil || q.cmd != cmd {
		return
	}
	delete(d.pend2, mid)
	if q.setup != nil {
		// Success, or more processing required (0xc0000016): the
		// session exists under the id of the answer.
		if sid != 0 && (status == 0 || status == 0xc0000016) {
			if s := d.session(sid); s.id.User == "" && s.id.Named == nil {
				s.id = q.setup.id
			}
		}
		return
	}
	ok := status == 0 || status == statusBufferOverflow && (cmd == cmd2Read || cmd == cmd2Ioctl)
	if !ok {
		return
	}
	switch cmd {
	case cmd2TreeConnect:
		typ := r.u8("ShareType", b+2)
		if r.err == nil {
			if len(d.ipc2) >= d.lim.MaxPipes {
				clear(d.ipc2)
			}
			d.ipc2[tree] = typ == shareIPC || isIPC(q.name)
		}
	case cmd2Create:
		f := r.file("FileId", b+64)
		if r.err != nil {
			return
		}
		ch.file, ch.ok = f, true
		if ipc, known := d.ipc2[q.tree]; known && !ipc || !known && !knownPipe(q.name) {
			return
		}
		if old := d.pipes2[f]; old != nil {
			delete(d.pipes2, f)
			d.closePipe(old, pos)
		}
		if p := d.newPipe(q.name, true, 2, d.session(q.sess)); p != nil {
			d.pipes2[f] = p
		} else {
			d.anomaly(AnomalyTooMany, pos, "more than "+strconv.Itoa(d.lim.MaxPipes)+" named pipes open on one SMB connection: "+pipeName(q.name)+" is not followed")
		}
	case cmd2Read:
		off, n := int(r.u8("DataOffset", b+2)), int(r.u32("DataLength", b+4))
		var data []byte
		if n > 0 {
			data = r.bytes("Buffer", off, n)
		}
		if r.err == nil {
			d.data(d.pipe2(q.file, q.tree, q.sess, data), ServerToClient, pos, data)
		}
	case cmd2Ioctl:
		off, n := int(r.u32("OutputOffset", b+32)), int(r.u32("OutputCount", b+36))
		var out []byte
		if n > 0 {
			out = r.bytes("Output", off, n)
		}
		if r.err == nil {
			d.data(d.pipes2[q.file], ServerToClient, pos, out)
		}
	}
}

// looksRPC: b starts like a connection-oriented DCE/RPC PDU (version 5.0).
func looksRPC(b []byte) bool {
	return len(b) >= 16 && b[0] == 5 && b[1] == 0 && b[2] <= 20
}

// knownPipe reports whether name is one of the well-known RPC pipes, for a
// CREATE whose share's TREE_CONNECT is not in the capture.
func knownPipe(name string) bool {
	n := strings.ToLower(strings.TrimPrefix(strings.TrimLeft(pipeName(name), `\`), `PIPE\`))
	switch n {
	case "lsarpc", "lsass", "samr", "netlogon", "srvsvc", "wkssvc", "winreg", "spoolss", "svcctl", "atsvc",
		"epmapper", "eventlog", "ntsvcs", "browser", "drsuapi", "protected_storage", "initshutdown", "efsrpc",
		"netdfs", "dnsserver", "trkwks", "keysvc", "scerpc", "tapsrv", "w32time", "msgsvc", "ntds":
		return true
	}
	return false
}
