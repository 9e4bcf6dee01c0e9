package synth

import "time"

// SMB1 (MS-CIFS 2.2.3.1, 2.2.4; MS-SMB 2.2.4): the commands of a named
// pipe session.
const (
	smb1Close        = 0x04
	smb1Transaction  = 0x25
	smb1ReadAndX     = 0x2E
	smb1WriteAndX    = 0x2F
	smb1SessionSetup = 0x73
	smb1TreeConnect  = 0x75
	smb1NTCreateAndX = 0xA2
)

// hdr1 is an SMB1 header and the WordCount and words that follow.
func (s *SMB) hdr1(cmd uint8, resp bool, status uint32, mid uint16, words []byte) []byte {
	flags := byte(0x18)
	if resp {
		flags |= 0x80
	}
	flags2 := uint16(0xC803) // unicode, NT status, extended security, EAs, long names
	if s.Signed && s.sid != 0 && cmd != smb1SessionSetup {
		flags2 |= 0x0004
	}
	h := []byte{0xFF, 'S', 'M', 'B', cmd}
	h = le32(h, status)
	h = append(h, flags)
	h = le16(h, flags2)
	h = le16(h, 0)
	if flags2&0x0004 != 0 {
		h = append(h, s.cap.RandBytes(8)...)
	} else {
		h = append(h, make([]byte, 8)...)
	}
	h = le16(h, 0)
	tid := uint16(s.tree)
	if cmd == smb1SessionSetup || cmd == smb1TreeConnect && !resp {
		tid = 0xFFFF
	}
	h = le16(h, tid)
	h = le16(h, 0xFEFF)
	h = le16(h, uint16(s.sid))
	h = le16(h, mid)
	h = append(h, byte(len(words)/2))
	return append(h, words...)
}

// bytes1 appends ByteCount and the bytes.
func bytes1(m, b []byte) []byte {
	m = le16(m, uint16(len(b)))
	return append(m, b...)
}

// andx1 is an AndX block with no next command.
func andx1() []byte { return []byte{0xFF, 0, 0, 0} }

func (s *SMB) exchange1(req, resp []byte) {
	s.send(C2S, req, 0)
	s.cap.Advance(400 * time.Microsecond)
	s.send(S2C, resp, 0)
}

func (s *SMB) mid1() uint16 { return uint16(s.nextMid() + 1) }

// utf16z is a NUL-terminated UTF-16LE string.
func utf16z(v string) []byte { return append(UTF16LE(v), 0, 0) }

func (s *SMB) logon1(neg, ch, auth, done []byte) {
	setup := func(blob []byte) []byte {
		w := andx1()
		w = le16(w, 4356)
		w = le16(w, 50)
		w = le16(w, 0)
		w = le32(w, 0)
		w = le16(w, uint16(len(blob)))
		w = le32(w, 0)
		w = le32(w, 0x8000e3d4)
		m := s.hdr1(smb1SessionSetup, false, 0, s.mid1(), w)
		b := append([]byte(nil), blob...)
		if (len(m)+2+len(b))%2 == 1 {
			b = append(b, 0)
		}
		b = append(b, 0, 0, 0, 0) // NativeOS, NativeLanMan
		return bytes1(m, b)
	}
	setupResp := func(status uint32, blob []byte) []byte {
		w := andx1()
		w = le16(w, 0)
		w = le16(w, uint16(len(blob)))
		m := s.hdr1(smb1SessionSetup, true, status, uint16(s.mid), w)
		b := append([]byte(nil), blob...)
		if (len(m)+2+len(b))%2 == 1 {
			b = append(b, 0)
		}
		return bytes1(m, append(b, 0, 0, 0, 0))
	}
	req := setup(neg)
	s.sid = 0x0800 + uint64(s.cap.rng.IntN(0x100))
	s.exchange1(req, setupResp(statusMoreProcessing, ch))
	s.exchange1(setup(auth), setupResp(0, done))

	w := andx1()
	w = le16(w, 0x0008)
	w = le16(w, 1)
	mid := s.mid1()
	m := s.hdr1(smb1TreeConnect, false, 0, mid, w)
	b := []byte{0}
	if (len(m)+2+len(b))%2 == 1 {
		b = append(b, 0)
	}
	b = append(b, utf16z(`\\DC01\IPC$`)...)
	b = append(b, "?????\x00"...)
	req = bytes1(m, b)
	s.tree = 0x0800 + uint32(s.cap.rng.IntN(0x100))
	w = andx1()
	w = le16(w, 1)
	w = le32(w, 0x001f01ff)
	w = le32(w, 0)
	m = s.hdr1(smb1TreeConnect, true, 0, mid, w)
	s.exchange1(req, bytes1(m, []byte("IPC\x00\x00\x00")))
}

func (s *SMB) open1(p *SMBPipe, name string) {
	s.nextFID++
	fid := s.nextFID
	p.fid[0], p.fid[1] = byte(fid), byte(fid>>8)
	n := utf16z(name)
	w := andx1()
	w = append(w, 0)
	w = le16(w, uint16(len(n)))
	w = le32(w, 0)
	w = le32(w, 0)
	w = le32(w, 0x0002019f)
	w = le64(w, 0)
	w = le32(w, 0)
	w = le32(w, 7)
	w = le32(w, 1)
	w = le32(w, 0)
	w = le32(w, 2)
	w = append(w, 0)
	mid := s.mid1()
	m := s.hdr1(smb1NTCreateAndX, false, 0, mid, w)
	b := []byte{}
	if (len(m)+2)%2 == 1 {
		b = append(b, 0)
	}
	req := bytes1(m, append(b, n...))
	w = andx1()
	w = append(w, 0)
	w = le16(w, fid)
	w = le32(w, 1)
	w = append(w, make([]byte, 32)...)
	w = le32(w, 0x80)
	w = le64(w, 4096)
	w = le64(w, 0)
	w = le16(w, 2)      // ResourceType: message mode pipe
	w = le16(w, 0x05ff) // NMPipeStatus
	w = append(w, 0)
	s.exchange1(req, bytes1(s.hdr1(smb1NTCreateAndX, true, 0, mid, w), nil))
}

func (p *SMBPipe) fid1() uint16 { return uint16(p.fid[0]) | uint16(p.fid[1])<<8 }

func (p *SMBPipe) close1() {
	s := p.s
	w := le16(nil, p.fid1())
	w = le32(w, 0xFFFFFFFF)
	mid := s.mid1()
	s.exchange1(bytes1(s.hdr1(smb1Close, false, 0, mid, w), nil), bytes1(s.hdr1(smb1Close, true, 0, mid, nil), nil))
}

func (p *SMBPipe) sendPDUs1(d Dir, pdus [][]byte) (start, end uint64) {
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
			mid := s.mid1()
			if i == 0 && len(pdus) == 1 && p.Mode == PipeTransceive {
				// SMB_COM_TRANSACTION, TRANS_TRANSACT_NMPIPE (MS-CIFS 2.2.5.6)
				const dataOff = 84
				w := le16(nil, 0)
				w = le16(w, uint16(len(pdu)))
				w = le16(w, 0)
				w = le16(w, 4280)
				w = append(w, 0, 0)
				w = le16(w, 0)
				w = le32(w, 0)
				w = le16(w, 0)
				w = le16(w, 0)
				w = le16(w, dataOff)
				w = le16(w, uint16(len(pdu)))
				w = le16(w, dataOff)
				w = append(w, 2, 0)
				w = le16(w, 0x0026)
				w = le16(w, p.fid1())
				m := s.hdr1(smb1Transaction, false, 0, mid, w)
				b := []byte{0}
				b = append(b, utf16z(`\PIPE\`)...)
				for len(m)+2+len(b) < dataOff {
					b = append(b, 0)
				}
				span(s.send(C2S, bytes1(m, append(b, pdu...)), 0))
				p.trans, p.xmid = true, uint64(mid)
				continue
			}
			w := andx1()
			w = le16(w, p.fid1())
			w = le32(w, 0)
			w = le32(w, 0)
			w = le16(w, 0x0008)
			w = le16(w, uint16(len(pdu)))
			w = le16(w, 0)
			w = le16(w, uint16(len(pdu)))
			w = le16(w, 64)
			w = le32(w, 0)
			m := s.hdr1(smb1WriteAndX, false, 0, mid, w)
			span(s.send(C2S, bytes1(m, append([]byte{0}, pdu...)), 0))
			c.Advance(200 * time.Microsecond)
			w = andx1()
			w = le16(w, uint16(len(pdu)))
			w = le16(w, 0xFFFF)
			w = le32(w, 0)
			s.send(S2C, bytes1(s.hdr1(smb1WriteAndX, true, 0, mid, w), nil), 0)
		}
		return start, end
	}
	mss := p.MSS
	p.MSS = 0
	for i, pdu := range pdus {
		if i == 0 && p.trans {
			const dataOff = 56
			w := le16(nil, 0)
			w = le16(w, uint16(len(pdu)))
			w = le16(w, 0)
			w = le16(w, 0)
			w = le16(w, dataOff)
			w = le16(w, 0)
			w = le16(w, uint16(len(pdu)))
			w = le16(w, dataOff)
			w = le16(w, 0)
			w = append(w, 0, 0)
			m := s.hdr1(smb1Transaction, true, 0, uint16(p.xmid), w)
			span(s.send(S2C, bytes1(m, append([]byte{0}, pdu...)), mss))
			mss = 0
			continue
		}
		mid := s.mid1()
		w := andx1()
		w = le16(w, p.fid1())
		w = le32(w, 0)
		w = le16(w, 4280)
		w = le16(w, 4280)
		w = le32(w, 0)
		w = le16(w, 4280)
		w = le32(w, 0)
		s.send(C2S, bytes1(s.hdr1(smb1ReadAndX, false, 0, mid, w), nil), 0)
		c.Advance(300 * time.Microsecond)
		w = andx1()
		w = le16(w, 0)
		w = le16(w, 0)
		w = le16(w, 0)
		w = le16(w, uint16(len(pdu)))
		w = le16(w, 60)
		w = le16(w, 0)
		w = append(w, make([]byte, 8)...)
		m := s.hdr1(smb1ReadAndX, true, 0, mid, w)
		span(s.send(S2C, bytes1(m, append([]byte{0}, pdu...)), mss))
		mss = 0
	}
	return start, end
}
