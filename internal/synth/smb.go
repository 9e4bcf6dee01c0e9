package synth

import (
	"encoding/binary"
	"time"
)

// SMB named pipes (ncacn_np): SMB2 (MS-SMB2 2.2) and SMB1 (MS-CIFS 2.2.4,
// MS-SMB 2.2.4) messages over the NetBIOS session service framing (RFC 1002
// 4.3.1), written from the specifications. An SMB carries the session
// (NTLM in SPNEGO in SESSION_SETUP) and the IPC$ tree; an SMBPipe carries
// the DCE/RPC PDUs of one RPC (RPC.Pipe).

// Interfaces carried over pipes in the generated captures.
var (
	SAMRUUID     = MustUUID("12345778-1234-abcd-ef00-0123456789ac")
	LSARPCUUID   = MustUUID("12345778-1234-abcd-ef00-0123456789ab")
	SyntaxSAMR   = SyntaxID{SAMRUUID, 1, 0}
	SyntaxLSARPC = SyntaxID{LSARPCUUID, 0, 0}
)

// SMB is one SMB connection's session and IPC$ tree.
type SMB struct {
	C       *Conn
	cap     *Capture
	Version int // 1 or 2
	mid     uint64
	sid     uint64 // SMB2 SessionId; SMB1 UID
	tree    uint32 // SMB2 TreeId; SMB1 TID
	nextFID uint16
	// Signed sets the SIGNED flag (SMB2) / SECURITY_SIGNATURE (SMB1) on
	// the session's messages, with a fake signature.
	Signed bool
	// APReq, when set, makes Logon (SMB2) authenticate with this Kerberos
	// AP-REQ in SPNEGO, in one SESSION_SETUP leg answered with success.
	APReq []byte
}

// PipeMode says how an SMBPipe carries PDUs.
type PipeMode int

const (
	// PipeWriteRead: WRITE the request PDUs, READ the response PDUs
	// (SMB1 WRITE_ANDX / READ_ANDX).
	PipeWriteRead PipeMode = iota
	// PipeTransceive: one request PDU in an IOCTL FSCTL_PIPE_TRANSCEIVE
	// (SMB1: SMB_COM_TRANSACTION TransactNmPipe), its answer in the
	// output; further request fragments by WRITE, answers by READ.
	PipeTransceive
)

// SMBPipe is one open named pipe.
type SMBPipe struct {
	s    *SMB
	fid  [16]byte // SMB2 FileId; SMB1: FID in the first 2 bytes
	Mode PipeMode
	// Compound (SMB2, PipeWriteRead): the WRITE of the next request and
	// the READ of its answer go in one compounded message (the READ a
	// related operation), and so do their answers.
	Compound bool
	// Unrelated (with Compound): the READ names the FileId instead of
	// being a related operation.
	Unrelated bool
	// Pending (SMB2, PipeWriteRead): the next READ is answered first by an
	// interim STATUS_PENDING, then by the async answer with the data.
	Pending bool
	// MSS, when set, is the segment size of the next answer (an SMB
	// message spanning several TCP segments).
	MSS int

	trans  bool   // the request went by transceive: the answer comes in its output
	xmid   uint64 // its MessageId (SMB1: MID)
	rdMid  uint64 // the READ sent compounded with the last WRITE
	asyncs uint64
}

// NewSMB starts SMB on a connection: SMB1 over port 139 starts with a
// NetBIOS session request.
func (c *Capture) NewSMB(cn *Conn, version int) *SMB {
	s := &SMB{C: cn, cap: c, Version: version, mid: 0, nextFID: 0x4000}
	if version == 1 && cn.Server.Port() == 139 {
		req := append([]byte{0x81, 0, 0, 68}, make([]byte, 68)...)
		req[4], req[38] = 0x20, 0x20 // two encoded NetBIOS names (RFC 1002 4.1)
		for i := 5; i < 37; i++ {
			req[i], req[i+34] = 'C', 'A'
		}
		cn.Send(C2S, req)
		c.Advance(300 * time.Microsecond)
		cn.Send(S2C, []byte{0x82, 0, 0, 0})
	}
	return s
}

// send frames msg (NetBIOS session message) from d and returns its range.
func (s *SMB) send(d Dir, msg []byte, mss int) (start, end uint64) {
	b := make([]byte, 4, 4+len(msg))
	b[1], b[2], b[3] = byte(len(msg)>>16), byte(len(msg)>>8), byte(len(msg))
	b = append(b, msg...)
	if mss > 0 {
		return s.C.SendPlan(d, b, PlanSplit(len(b), mss))
	}
	return s.C.Send(d, b)
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// --- SMB2 ---

const (
	smb2SessionSetup = 0x01
	smb2TreeConnect  = 0x03
	smb2Create       = 0x05
	smb2Close        = 0x06
	smb2Read         = 0x08
	smb2Write        = 0x09
	smb2Ioctl        = 0x0B
	smb2Negotiate    = 0x00

	statusMoreProcessing = 0xC0000016
	statusPendingSMB     = 0x00000103
)

// hdr2 is an SMB2 header (MS-SMB2 2.2.1): sync unless async != 0.
func (s *SMB) hdr2(cmd uint16, resp bool, status uint32, mid uint64, async uint64, related bool) []byte {
	var flags uint32
	if resp {
		flags |= 1
	}
	if async != 0 {
		flags |= 2
	}
	if related {
		flags |= 4
	}
	signed := s.Signed && s.sid != 0 && cmd != smb2SessionSetup
	if signed {
		flags |= 8
	}
	h := []byte{0xFE, 'S', 'M', 'B'}
	h = le16(h, 64)
	h = le16(h, 1)
	h = le32(h, status)
	h = le16(h, cmd)
	h = le16(h, 1)
	h = le32(h, flags)
	h = le32(h, 0) // NextCommand
	h = le64(h, mid)
	if async != 0 {
		h = le64(h, async)
	} else {
		h = le32(h, 0xFEFF)
		tree := s.tree
		if cmd == smb2Negotiate || cmd == smb2SessionSetup || cmd == smb2TreeConnect && !resp {
			tree = 0
		}
		h = le32(h, tree)
	}
	sid := s.sid
	if cmd == smb2Negotiate {
		sid = 0
	}
	h = le64(h, sid)
	if signed {
		h = append(h, s.cap.RandBytes(16)...)
	} else {
		h = append(h, make([]byte, 16)...)
	}
	return h
}

// compound chains SMB2 operations (NextCommand, 8-byte aligned).
func compound(ops ...[]byte) []byte {
	var out []byte
	for i, op := range ops {
		if i < len(ops)-1 {
			for len(op)%8 != 0 {
				op = append(op, 0)
			}
			binary.LittleEndian.PutUint32(op[20:], uint32(len(op)))
		}
		out = append(out, op...)
	}
	return out
}

func (s *SMB) nextMid() uint64 {
	m := s.mid
	s.mid++
	return m
}

// exchange2 sends a request and its answer.
func (s *SMB) exchange2(req, resp []byte) {
	s.send(C2S, req, 0)
	s.cap.Advance(400 * time.Microsecond)
	s.send(S2C, resp, 0)
}

// Logon negotiates and sets up a session with NTLM in SPNEGO (SMB2), or
// with NTLM in SESSION_SETUP_ANDX extended security (SMB1), then connects
// to \\DC01\IPC$.
func (s *SMB) Logon(cr Creds, t Target) {
	c := s.cap
	ts := uint64(c.now.Unix()+11644473600)*10_000_000 + uint64(c.now.Nanosecond()/100)
	var chal, cc [8]byte
	copy(chal[:], c.RandBytes(8))
	copy(cc[:], c.RandBytes(8))
	neg := SPNEGOInit([][]byte{OIDNTLM}, NTLMNegotiate(NTLMNegotiateFlags))
	ch := SPNEGOResp(NegAcceptIncomplete, OIDNTLM, NTLMChallenge(NTLMChallengeFlags, t, chal, ts), nil)
	auth := SPNEGOResp(-1, nil, NTLMAuthenticate(cr, t, ts, cc, c.RandBytes), nil)
	done := SPNEGOResp(NegAcceptCompleted, nil, nil, nil)
	if s.Version == 1 {
		s.logon1(neg, ch, auth, done)
		return
	}
	// NEGOTIATE (2.2.3, 2.2.4): SMB 2.1.
	mid := s.nextMid()
	req := s.hdr2(smb2Negotiate, false, 0, mid, 0, false)
	req = le16(req, 36)
	req = le16(req, 1)
	req = le16(req, 1)
	req = le16(req, 0)
	req = le32(req, 0)
	req = append(req, c.RandBytes(16)...)
	req = le64(req, 0)
	req = le16(req, 0x0210)
	resp := s.hdr2(smb2Negotiate, true, 0, mid, 0, false)
	resp = le16(resp, 65)
	resp = le16(resp, 1)
	resp = le16(resp, 0x0210)
	resp = le16(resp, 0)
	resp = append(resp, c.RandBytes(16)...)
	resp = le32(resp, 0)
	resp = le32(resp, 65536)
	resp = le32(resp, 65536)
	resp = le32(resp, 65536)
	resp = le64(resp, ts)
	resp = le64(resp, 0)
	resp = le16(resp, 128)
	resp = le16(resp, 0)
	resp = le32(resp, 0)
	resp = append(resp, 0)
	s.exchange2(req, resp)
	// SESSION_SETUP (2.2.5, 2.2.6), two legs.
	setup := func(blob []byte) []byte {
		r := s.hdr2(smb2SessionSetup, false, 0, s.nextMid(), 0, false)
		r = le16(r, 25)
		r = append(r, 0, 1)
		r = le32(r, 0)
		r = le32(r, 0)
		r = le16(r, 64+24)
		r = le16(r, uint16(len(blob)))
		r = le64(r, 0)
		return append(r, blob...)
	}
	setupResp := func(status uint32, blob []byte) []byte {
		r := s.hdr2(smb2SessionSetup, true, status, s.mid-1, 0, false)
		r = le16(r, 9)
		r = le16(r, 0)
		r = le16(r, 64+8)
		r = le16(r, uint16(len(blob)))
		return append(r, blob...)
	}
	if s.APReq != nil {
		// Kerberos: the AP-REQ in the first leg, without a SessionId;
		// the answer gives the session its id.
		req = setup(SPNEGOInit([][]byte{OIDMSKRB5, OIDKRB5}, GSSKrb5(s.APReq)))
		s.sid = 0x0000100000000041 + uint64(c.rng.IntN(0x1000))<<8
		s.exchange2(req, setupResp(0, done))
	} else {
		req = setup(neg)
		s.sid = 0x0000100000000041 + uint64(c.rng.IntN(0x1000))<<8
		s.exchange2(req, setupResp(statusMoreProcessing, ch))
		s.exchange2(setup(auth), setupResp(0, done))
	}
	// TREE_CONNECT (2.2.9, 2.2.10) to IPC$.
	path := UTF16LE(`\\` + t.NbHost + `\IPC$`)
	mid = s.nextMid()
	req = s.hdr2(smb2TreeConnect, false, 0, mid, 0, false)
	req = le16(req, 9)
	req = le16(req, 0)
	req = le16(req, 64+8)
	req = le16(req, uint16(len(path)))
	req = append(req, path...)
	s.tree = 1 + uint32(c.rng.IntN(8))
	resp = s.hdr2(smb2TreeConnect, true, 0, mid, 0, false)
	resp = le16(resp, 16)
	resp = append(resp, 2, 0) // ShareType PIPE
	resp = le32(resp, 0x30)
	resp = le32(resp, 0)
	resp = le32(resp, 0x001f01ff)
	s.exchange2(req, resp)
}

// OpenPipe opens a named pipe on IPC$ (SMB2 CREATE, SMB1 NT_CREATE_ANDX).
func (s *SMB) OpenPipe(name string, mode PipeMode) *SMBPipe {
	c := s.cap
	p := &SMBPipe{s: s, Mode: mode}
	if s.Version == 1 {
		s.open1(p, name)
		return p
	}
	copy(p.fid[:], c.RandBytes(16))
	n := UTF16LE(name)
	mid := s.nextMid()
	req := s.hdr2(smb2Create, false, 0, mid, 0, false)
	req = le16(req, 57)
	req = append(req, 0, 0)
	req = le32(req, 2) // impersonation
	req = le64(req, 0)
	req = le64(req, 0)
	req = le32(req, 0x0012019f)
	req = le32(req, 0)
	req = le32(req, 7)
	req = le32(req, 1) // FILE_OPEN
	req = le32(req, 0x00400040)
	req = le16(req, 64+56)
	req = le16(req, uint16(len(n)))
	req = le32(req, 0)
	req = le32(req, 0)
	req = append(req, n...)
	resp := s.hdr2(smb2Create, true, 0, mid, 0, false)
	resp = le16(resp, 89)
	resp = append(resp, 0, 0)
	resp = le32(resp, 1) // FILE_OPENED
	for i := 0; i < 4; i++ {
		resp = le64(resp, 0)
	}
	resp = le64(resp, 4096)
	resp = le64(resp, 0)
	resp = le32(resp, 0x80)
	resp = le32(resp, 0)
	resp = append(resp, p.fid[:]...)
	resp = le32(resp, 0)
	resp = le32(resp, 0)
	resp = append(resp, 0)
	s.exchange2(req, resp)
	return p
}

// Close closes the pipe.
func (p *SMBPipe) Close() {
	s := p.s
	if s.Version == 1 {
		p.close1()
		return
	}
	mid := s.nextMid()
	req := s.hdr2(smb2Close, false, 0, mid, 0, false)
	req = le16(req, 24)
	req = le16(req, 0)
	req = le32(req, 0)
	req = append(req, p.fid[:]...)
	resp := s.hdr2(smb2Close, true, 0, mid, 0, false)
	resp = le16(resp, 60)
	resp = le16(resp, 0)
	resp = le32(resp, 0)
	resp = append(resp, make([]byte, 52)...)
	s.exchange2(req, resp)
}

func (p *SMBPipe) write2(mid uint64, data []byte, related bool) []byte {
	s := p.s
	r := s.hdr2(smb2Write, false, 0, mid, 0, related)
	r = le16(r, 49)
	r = le16(r, 64+48)
	r = le32(r, uint32(len(data)))
	r = le64(r, 0)
	r = append(r, p.fid[:]...)
	r = le32(r, 0)
	r = le32(r, 0)
	r = le16(r, 0)
	r = le16(r, 0)
	r = le32(r, 0)
	return append(r, data...)
}

func (p *SMBPipe) writeResp2(mid uint64, n int) []byte {
	r := p.s.hdr2(smb2Write, true, 0, mid, 0, false)
	r = le16(r, 17)
	r = le16(r, 0)
	r = le32(r, uint32(n))
	r = le32(r, 0)
	r = le16(r, 0)
	r = le16(r, 0)
	return r
}

func (p *SMBPipe) read2(mid uint64, related bool) []byte {
	s := p.s
	r := s.hdr2(smb2Read, false, 0, mid, 0, related)
	r = le16(r, 49)
	r = append(r, 0x50, 0)
	r = le32(r, 4280)
	r = le64(r, 0)
	if related {
		r = append(r, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	} else {
		r = append(r, p.fid[:]...)
	}
	r = le32(r, 0)
	r = le32(r, 0)
	r = le32(r, 0)
	r = le16(r, 0)
	r = le16(r, 0)
	return append(r, 0)
}

func (p *SMBPipe) readResp2(mid, async uint64, data []byte) []byte {
	r := p.s.hdr2(smb2Read, true, 0, mid, async, false)
	r = le16(r, 17)
	r = append(r, 64+16, 0)
	r = le32(r, uint32(len(data)))
	r = le32(r, 0)
	r = le32(r, 0)
	return append(r, data...)
}

// sendPDUs carries the PDUs of one direction of a call (RPC.sendPDUs) and
// returns the range, on the TCP stream of d, of the SMB messages that carry
// them.
func (p *SMBPipe) sendPDUs(d Dir, pdus [][]byte) (start, end uint64) {
	if p.s.Version == 1 {
		return p.sendPDUs1(d, pdus)
	}
	s := p.s
	c := s.cap
	first := true
	span := func(a, b uint64) {
		if first {
			start, first = a, false
		}
		end = b
	}
	if d == C2S {
		p.trans = false
		for i, pdu := range pdus {
			mid := s.nextMid()
			switch {
			case i == 0 && len(pdus) == 1 && p.Mode == PipeTransceive:
				r := s.hdr2(smb2Ioctl, false, 0, mid, 0, false)
				r = le16(r, 57)
				r = le16(r, 0)
				r = le32(r, 0x0011C017)
				r = append(r, p.fid[:]...)
				r = le32(r, 64+56)
				r = le32(r, uint32(len(pdu)))
				r = le32(r, 0)
				r = le32(r, 64+56)
				r = le32(r, 0)
				r = le32(r, 4280)
				r = le32(r, 1)
				r = le32(r, 0)
				r = append(r, pdu...)
				span(s.send(C2S, r, 0))
				p.trans, p.xmid = true, mid
			case i == len(pdus)-1 && p.Compound:
				p.rdMid = s.nextMid()
				span(s.send(C2S, compound(p.write2(mid, pdu, false), p.read2(p.rdMid, !p.Unrelated)), 0))
			default:
				span(s.send(C2S, p.write2(mid, pdu, false), 0))
				c.Advance(200 * time.Microsecond)
				s.send(S2C, p.writeResp2(mid, len(pdu)), 0)
			}
		}
		return start, end
	}
	mss := p.MSS
	p.MSS = 0
	for i, pdu := range pdus {
		switch {
		case i == 0 && p.trans:
			r := s.hdr2(smb2Ioctl, true, 0, p.xmid, 0, false)
			r = le16(r, 49)
			r = le16(r, 0)
			r = le32(r, 0x0011C017)
			r = append(r, p.fid[:]...)
			r = le32(r, 64+48)
			r = le32(r, 0)
			r = le32(r, 64+48)
			r = le32(r, uint32(len(pdu)))
			r = le32(r, 0)
			r = le32(r, 0)
			r = append(r, pdu...)
			span(s.send(S2C, r, mss))
		case i == 0 && p.rdMid != 0:
			// the answers of the compounded WRITE and READ
			wmid := p.rdMid - 1
			span(s.send(S2C, compound(p.writeResp2(wmid, 0), p.readResp2(p.rdMid, 0, pdu)), mss))
			p.rdMid = 0
		default:
			mid := s.nextMid()
			s.send(C2S, p.read2(mid, false), 0)
			c.Advance(300 * time.Microsecond)
			var async uint64
			if p.Pending {
				p.Pending = false
				p.asyncs++
				async = 0x20 + p.asyncs
				r := s.hdr2(smb2Read, true, statusPendingSMB, mid, async, false)
				r = le16(r, 9)
				r = append(r, 0, 0)
				r = le32(r, 0)
				r = append(r, 0)
				s.send(S2C, r, 0)
				c.Advance(5 * time.Millisecond)
			}
			span(s.send(S2C, p.readResp2(mid, async, pdu), mss))
		}
		mss = 0
	}
	return start, end
}
