package smb

import (
	"strconv"
)

// SMB1 commands, flags and the named pipe subcommand used here (MS-CIFS
// 2.2.2.1, 2.2.3.1, 2.2.5).
const (
	cmd1Close          = 0x04
	cmd1Transaction    = 0x25
	cmd1TransSecondary = 0x26
	cmd1ReadAndX       = 0x2E
	cmd1WriteAndX      = 0x2F
	cmd1SessionSetup   = 0x73
	cmd1LogoffAndX     = 0x74
	cmd1TreeConnect    = 0x75
	cmd1NTCreateAndX   = 0xA2

	flag1Reply      = 0x80
	flags2Unicode   = 0x8000
	flags2Signature = 0x0004

	transactNmPipe = 0x0026

	header1Len = 32

	writeModeRaw   = 0x0004
	writeModeStart = 0x0008
)

// andx reports whether cmd carries an AndX block (MS-CIFS 2.2.3.4).
func andx(cmd uint8) bool {
	switch cmd {
	case cmd1ReadAndX, cmd1WriteAndX, cmd1SessionSetup, cmd1LogoffAndX, cmd1TreeConnect, cmd1NTCreateAndX, 0x24:
		return true
	}
	return false
}

// hdr1 is what the commands of one SMB1 message share.
type hdr1 struct {
	status  uint32
	unicode bool
	tid     uint16
	uid     uint16
	key     uint32 // MID and PID: the request an answer belongs to
}

// smb1 handles one SMB1 message and its AndX chain.
func (d *Demux) smb1(dir Dir, pos Pos, m []byte) {
	r := reader{b: m}
	cmd := r.u8("Command", 4)
	status := r.u32("Status", 5)
	flags := r.u8("Flags", 9)
	flags2 := r.u16("Flags2", 10)
	h := hdr1{status: status, unicode: flags2&flags2Unicode != 0, tid: r.u16("TID", 24), uid: r.u16("UID", 28)}
	h.key = uint32(r.u16("MID", 30)) | uint32(r.u16("PIDLow", 26))<<16
	if r.err != nil || len(m) < header1Len+1 {
		d.malformed(pos, 0, r.err, "SMB1 header")
		return
	}
	resp := flags&flag1Reply != 0
	d.settle(&dir, resp)
	if resp != (dir == ServerToClient) {
		return
	}
	d.stats.Messages++
	if flags2&flags2Signature != 0 && h.uid != 0 {
		if s := d.session(uint64(h.uid)); !s.signed {
			s.signed = true
			d.stats.SignedSessions++
		}
	}
	off := header1Len
	for n := 0; n < 16; n++ {
		wc := int(r.u8("WordCount", off))
		words := off + 1
		bc := int(r.u16("ByteCount", words+2*wc))
		data := words + 2*wc + 2
		if r.err != nil || len(m)-data < bc {
			if r.err == nil {
				r.fail("Bytes", data, bc)
			}
			d.malformed(pos, off, r.err, "SMB1 command 0x"+strconv.FormatUint(uint64(cmd), 16))
			return
		}
		if resp {
			d.response1(pos, &r, cmd, h, words, wc, data, bc)
		} else {
			d.request1(pos, &r, cmd, h, words, wc, data, bc)
		}
		if r.err != nil {
			d.malformed(pos, off, r.err, "SMB1 command 0x"+strconv.FormatUint(uint64(cmd), 16))
			return
		}
		if !andx(cmd) || wc < 2 {
			return
		}
		next, nextOff := m[words], int(r.u16("AndXOffset", words+2))
		if next == 0xFF || nextOff <= off || nextOff >= len(m) {
			return
		}
		cmd, off = next, nextOff
	}
}

// str1 reads a NUL-terminated string at off: UTF-16 (aligned to 2 from the
// header's start) when unicode, else OEM. It returns the string and the
// offset after its terminator.
func str1(m []byte, off int, unicode bool) (string, int) {
	if off >= len(m) {
		return "", off
	}
	if !unicode {
		s := asciiString(m[off:])
		return s, off + len(s) + 1
	}
	if off%2 == 1 {
		off++
	}
	end := off
	for end+1 < len(m) && (m[end] != 0 || m[end+1] != 0) {
		end += 2
	}
	return utf16String(m[off:min(end, len(m))]), end + 2
}

func key1(k uint32, cmd uint8) uint64 { return uint64(k) | uint64(cmd)<<32 }

func (d *Demux) pend1Put(k uint32, q *req1) {
	if len(d.pend1) >= d.lim.MaxPending {
		d.anomaly(AnomalyTooMany, Pos{}, "more than "+strconv.Itoa(d.lim.MaxPending)+" SMB1 requests awaiting their answer: the oldest are forgotten")
		clear(d.pend1)
	}
	d.pend1[key1(k, q.cmd)] = q
}

// pipe1 returns the pipe of an FID, or follows one opened before the
// capture (see pipe2).
func (d *Demux) pipe1(fid, tid, uid uint16, data []byte) *Pipe {
	if p := d.pipes1[fid]; p != nil {
		return p
	}
	ipc, known := d.ipc1[tid]
	if data == nil || known && !ipc || !looksRPC(data) {
		return nil
	}
	p := d.newPipe("", false, 1, d.session(uint64(uid)))
	if p != nil {
		d.pipes1[fid] = p
	}
	return p
}

func (d *Demux) request1(pos Pos, r *reader, cmd uint8, h hdr1, w, wc, data, bc int) {
	m := r.b
	switch cmd {
	case cmd1SessionSetup:
		switch wc {
		case 12: // extended security (MS-SMB 2.2.4.6.1)
			n := int(r.u16("SecurityBlobLength", w+14))
			blob := r.bytes("SecurityBlob", data, min(n, bc))
			if r.err == nil && h.uid != 0 {
				d.securityBlob(d.session(uint64(h.uid)), pos, blob)
			}
		case 13: // NT LM 0.12 without extended security (MS-CIFS 2.2.4.53.1)
			p := data + int(r.u16("OEMPasswordLen", w+14)) + int(r.u16("UnicodePasswordLen", w+16))
			if r.err != nil || p > data+bc {
				return
			}
			user, next := str1(m[:data+bc], p, h.unicode)
			domain, _ := str1(m[:data+bc], next, h.unicode)
			id := Identity{User: user, Anonymous: user == ""}
			if user != "" && domain != "" {
				id.User = domain + `\` + user
			}
			d.pend1Put(h.key, &req1{cmd: cmd, name: id.User, at: pos})
		}
	case cmd1TreeConnect:
		if wc != 4 {
			return
		}
		pl := int(r.u16("PasswordLength", w+6))
		if r.err != nil || pl > bc {
			return
		}
		path, _ := str1(m[:data+bc], data+pl, h.unicode)
		d.pend1Put(h.key, &req1{cmd: cmd, name: path})
	case cmd1NTCreateAndX:
		if wc != 24 {
			return
		}
		n := int(r.u16("NameLength", w+5))
		if r.err != nil {
			return
		}
		var name string
		if h.unicode {
			off := data
			if off%2 == 1 {
				off++
			}
			name = utf16String(r.bytes("FileName", off, min(n, data+bc-off)))
		} else {
			name = asciiString(r.bytes("FileName", data, min(n, bc)))
		}
		if r.err != nil {
			return
		}
		if ipc, known := d.ipc1[h.tid]; !known || ipc {
			d.pend1Put(h.key, &req1{cmd: cmd, name: name, tid: h.tid, uid: h.uid})
		}
	case cmd1Close:
		if wc < 1 {
			return
		}
		fid := r.u16("FID", w)
		if p := d.pipes1[fid]; p != nil && r.err == nil {
			delete(d.pipes1, fid)
			d.closePipe(p, pos)
		}
	case cmd1WriteAndX:
		if wc != 12 && wc != 14 {
			return
		}
		fid := r.u16("FID", w+4)
		mode := r.u16("WriteMode", w+14)
		n := int(r.u16("DataLength", w+20)) | int(r.u16("DataLengthHigh", w+18))<<16
		off := int(r.u16("DataOffset", w+22))
		b := r.bytes("Data", off, n)
		if r.err != nil {
			return
		}
		if mode&(writeModeRaw|writeModeStart) == writeModeRaw|writeModeStart && len(b) >= 2 {
			b = b[2:] // a raw-mode message start carries the message's length first
		}
		d.data(d.pipe1(fid, h.tid, h.uid, b), ClientToServer, pos, b)
	case cmd1ReadAndX:
		if wc != 10 && wc != 12 {
			return
		}
		fid := r.u16("FID", w+4)
		if r.err != nil {
			return
		}
		if ipc, known := d.ipc1[h.tid]; d.pipes1[fid] != nil || !known || ipc {
			d.pend1Put(h.key, &req1{cmd: cmd, pipe: d.pipes1[fid], tid: h.tid, uid: h.uid, fid: fid})
		}
	case cmd1Transaction:
		if wc < 16 {
			return
		}
		dn, doff := int(r.u16("DataCount", w+22)), int(r.u16("DataOffset", w+24))
		sc := int(r.u8("SetupCount", w+26))
		if r.err != nil || sc < 2 || 14+sc > wc {
			return
		}
		if r.u16("Setup[0]", w+28) != transactNmPipe {
			return
		}
		fid := r.u16("Setup[1]", w+30)
		b := r.bytes("Data", doff, dn)
		if r.err != nil {
			return
		}
		p := d.pipe1(fid, h.tid, h.uid, b)
		d.data(p, ClientToServer, pos, b)
		if p != nil {
			d.pend1Put(h.key, &req1{cmd: cmd, pipe: p})
		}
	case cmd1TransSecondary:
		if wc < 8 {
			return
		}
		dn, doff := int(r.u16("DataCount", w+10)), int(r.u16("DataOffset", w+12))
		b := r.bytes("Data", doff, dn)
		if q := d.pend1[key1(h.key, cmd1Transaction)]; q != nil && r.err == nil {
			d.data(q.pipe, ClientToServer, pos, b)
		}
	}
}

func (d *Demux) response1(pos Pos, r *reader, cmd uint8, h hdr1, w, wc, data, bc int) {
	m := r.b
	k := key1(h.key, cmd)
	q := d.pend1[k]
	if q == nil || q.cmd != cmd {
		return
	}
	ok := h.status == 0 || h.status == statusBufferOverflow && (cmd == cmd1ReadAndX || cmd == cmd1Transaction)
	if !ok {
		delete(d.pend1, k)
		return
	}
	switch cmd {
	case cmd1SessionSetup:
		delete(d.pend1, k)
		if h.uid != 0 {
			s := d.session(uint64(h.uid))
			s.id = Identity{User: q.name, Anonymous: q.name == "", At: q.at}
			d.h.Logon(s.id, pos)
		}
	case cmd1TreeConnect:
		delete(d.pend1, k)
		service := ""
		if wc >= 3 && bc > 0 {
			service = asciiString(m[data : data+bc])
		}
		if len(d.ipc1) >= d.lim.MaxPipes {
			clear(d.ipc1)
		}
		d.ipc1[h.tid] = service == "IPC" || isIPC(q.name)
	case cmd1NTCreateAndX:
		delete(d.pend1, k)
		if wc < 3 {
			return
		}
		fid := r.u16("FID", w+5)
		if r.err != nil {
			return
		}
		if ipc, known := d.ipc1[q.tid]; known && !ipc || !known && !knownPipe(q.name) {
			return
		}
		if old := d.pipes1[fid]; old != nil {
			delete(d.pipes1, fid)
			d.closePipe(old, pos)
		}
		if p := d.newPipe(q.name, true, 1, d.session(uint64(q.uid))); p != nil {
			d.pipes1[fid] = p
		} else {
			d.anomaly(AnomalyTooMany, pos, "more than "+strconv.Itoa(d.lim.MaxPipes)+" named pipes open on one SMB connection: "+pipeName(q.name)+" is not followed")
		}
	case cmd1ReadAndX:
		delete(d.pend1, k)
		if wc < 12 {
			return
		}
		n := int(r.u16("DataLength", w+10)) | int(r.u16("DataLengthHigh", w+14))<<16
		off := int(r.u16("DataOffset", w+12))
		b := r.bytes("Data", off, n)
		if r.err != nil {
			return
		}
		p := q.pipe
		if p == nil {
			p = d.pipe1(q.fid, q.tid, q.uid, b)
		}
		d.data(p, ServerToClient, pos, b)
	case cmd1Transaction:
		if wc < 10 {
			return // the interim answer to a request in several parts
		}
		total := int(r.u16("TotalDataCount", w+2))
		dn, doff, disp := int(r.u16("DataCount", w+12)), int(r.u16("DataOffset", w+14)), int(r.u16("DataDisplacement", w+16))
		b := r.bytes("Data", doff, dn)
		if r.err != nil {
			return
		}
		if disp+dn >= total {
			delete(d.pend1, k)
		}
		d.data(q.pipe, ServerToClient, pos, b)
	}
}
