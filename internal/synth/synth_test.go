package synth

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

func TestDeterministic(t *testing.T) {
	for _, s := range Scenarios() {
		a, ma, err := s.Generate()
		if err != nil {
			t.Fatal(err)
		}
		b, mb, err := s.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: capture bytes differ between runs", s.Name)
		}
		ja, _ := json.Marshal(ma)
		jb, _ := json.Marshal(mb)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: manifest differs between runs", s.Name)
		}
	}
}

// pdu is one DCE/RPC PDU recovered from a captured stream.
type pdu struct {
	b        []byte
	frame    int // frame in which its last missing byte was captured; 0 if incomplete
	complete bool
}

type streamKey struct {
	src, dst netip.AddrPort
}

// walkStreams rebuilds every TCP direction from the captured packets by
// sequence number (so reordering, retransmission and overlap are resolved)
// and cuts it into PDUs by frag_length.
func walkStreams(t *testing.T, c *Capture) map[streamKey][]pdu {
	t.Helper()
	type stream struct {
		base  uint32
		data  map[uint32]byte
		frame map[uint32]int
		max   uint32
	}
	streams := map[streamKey]*stream{}
	var order []streamKey
	for i, p := range c.Packets {
		if len(p.Payload) == 0 || p.UDP || p.Src.Port() == 88 || p.Dst.Port() == 88 || p.Src.Port() == 445 || p.Dst.Port() == 445 {
			// Kerberos on port 88 (kdc.go, checked by the kerberos
			// package and TestKDCTshark); SMB pipes (TestSMBPipesTshark).
			continue
		}
		k := streamKey{p.Src, p.Dst}
		s := streams[k]
		if s == nil {
			s = &stream{base: p.Seq, data: map[uint32]byte{}, frame: map[uint32]int{}}
			streams[k] = s
			order = append(order, k)
		}
		for j, b := range p.Payload {
			off := p.Seq + uint32(j) - s.base
			if off > 1<<30 { // segment before the first one seen (reordered)
				t.Fatalf("%s: stream %v: data before base", c.Name, k)
			}
			if old, ok := s.data[off]; ok {
				if old != b {
					t.Errorf("%s: frame %d: retransmitted byte differs", c.Name, i+1)
				}
				continue
			}
			s.data[off] = b
			s.frame[off] = i + 1
			s.max = max(s.max, off+1)
		}
	}
	out := map[streamKey][]pdu{}
	for _, k := range order {
		s := streams[k]
		for off := uint32(0); off < s.max; {
			hdr := make([]byte, 16)
			for j := range hdr {
				v, ok := s.data[off+uint32(j)]
				if !ok {
					t.Fatalf("%s: stream %v: PDU header at %d not captured", c.Name, k, off)
				}
				hdr[j] = v
			}
			if hdr[0] != 5 || hdr[1] != 0 {
				t.Fatalf("%s: stream %v: bad PDU header at %d: % x", c.Name, k, off, hdr)
			}
			bo := binary.ByteOrder(binary.LittleEndian)
			if hdr[4]&0xf0 == 0 {
				bo = binary.BigEndian
			}
			fl := uint32(bo.Uint16(hdr[8:]))
			p := pdu{b: make([]byte, fl), complete: true}
			for j := uint32(0); j < fl; j++ {
				v, ok := s.data[off+j]
				if !ok {
					p.complete = false
					continue
				}
				p.b[j] = v
				p.frame = max(p.frame, s.frame[off+j])
			}
			if !p.complete {
				p.frame = 0
			}
			out[k] = append(out[k], p)
			off += fl
		}
	}
	return out
}

func checkPDU(t *testing.T, name string, b []byte) {
	t.Helper()
	bo := binary.ByteOrder(binary.LittleEndian)
	if b[4]&0xf0 == 0 {
		bo = binary.BigEndian
	}
	fl := int(bo.Uint16(b[8:]))
	al := int(bo.Uint16(b[10:]))
	if fl != len(b) {
		t.Fatalf("%s: frag_length %d != %d", name, fl, len(b))
	}
	hdr := 16
	switch b[2] {
	case PTRequest, PTResponse, PTFault:
		hdr = 24
	}
	if al == 0 {
		if b[2] == PTRequest || b[2] == PTResponse {
			if hint := int(bo.Uint32(b[16:])); b[3]&FlagFirst != 0 && b[3]&FlagLast != 0 && hint != fl-24 {
				t.Errorf("%s: alloc_hint %d != stub %d", name, hint, fl-24)
			}
		}
		return
	}
	tr := fl - al - 8
	if tr < hdr {
		t.Fatalf("%s: auth_length %d too large for frag_length %d", name, al, fl)
	}
	pad := int(b[tr+2])
	switch b[2] {
	case PTRequest, PTResponse:
		if (tr-24)%16 != 0 {
			t.Errorf("%s: stub+pad %d not a multiple of 16", name, tr-24)
		}
		stub := tr - pad - 24
		if hint := int(bo.Uint32(b[16:])); b[3]&FlagLast != 0 && hint != stub {
			t.Errorf("%s: last fragment alloc_hint %d != stub %d", name, hint, stub)
		}
	default:
		if pad != 0 {
			t.Errorf("%s: auth pad %d on a bind-type PDU", name, pad)
		}
	}
	if at := b[tr]; at != AuthTypeNTLM && at != AuthTypeSPNEGO && at != AuthTypeKerberos {
		t.Errorf("%s: auth_type %d", name, at)
	}
}

// TestPDUsAndManifest walks every captured stream, checks every PDU's
// lengths and verifier layout, reassembles calls, and checks the manifest's
// frames, opnums and statuses against the bytes.
func TestPDUsAndManifest(t *testing.T) {
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			if strings.HasPrefix(s.Name, "smb") {
				// The streams are SMB, the PDUs inside pipes: the smb
				// package's tests and TestSMBPipesTshark read them.
				t.Skip("DCE/RPC over SMB named pipes")
			}
			if strings.HasPrefix(s.Name, "rpch") {
				// The streams start with the ncacn_http banner or HTTP heads,
				// carry RTS PDUs, and a call's request and answer travel on
				// two connections: cmd/nspicap's TestManifest and
				// TestTsharkRPCOverHTTP check them.
				t.Skip("RPC over HTTP channels")
			}
			c := NewCapture(s.Name)
			if s.Step != 0 {
				c.Step = s.Step
			}
			e := newEnv(c)
			if s.Ifaces != nil {
				e.link = Link{Kind: s.Ifaces[0].Link}
			}
			s.build(e)
			c.Manifest.finalize()
			type callKey struct {
				k      streamKey
				callID uint32
				ptype  uint8
			}
			type callInfo struct {
				opnum uint16
				stub  []byte
				frame int
				frags int
				ok    bool
			}
			calls := map[callKey]*callInfo{}
			for k, pdus := range walkStreams(t, c) {
				for i, p := range pdus {
					name := fmt.Sprintf("%v pdu %d", k, i)
					if !p.complete {
						continue
					}
					checkPDU(t, name, p.b)
					bo := binary.ByteOrder(binary.LittleEndian)
					if p.b[4]&0xf0 == 0 {
						bo = binary.BigEndian
					}
					pt := p.b[2]
					if pt != PTRequest && pt != PTResponse && pt != PTFault {
						continue
					}
					ck := callKey{k, bo.Uint32(p.b[12:]), pt}
					ci := calls[ck]
					if ci == nil || p.b[3]&FlagFirst != 0 {
						ci = &callInfo{ok: true}
						calls[ck] = ci
					}
					fl, al := len(p.b), int(bo.Uint16(p.b[10:]))
					end := fl
					if al > 0 {
						end = fl - al - 8 - int(p.b[fl-al-8+2])
					}
					if pt == PTRequest {
						ci.opnum = bo.Uint16(p.b[22:])
					}
					if pt == PTFault {
						ci.stub = p.b[24:28]
					} else {
						ci.stub = append(ci.stub, p.b[24:end]...)
					}
					ci.frame = p.frame
					ci.frags++
				}
			}
			all := append(append([]Call(nil), c.Manifest.NSPI...), c.Manifest.Other...)
			for _, mc := range all {
				cl, _ := netip.ParseAddrPort(mc.Client)
				sv, _ := netip.ParseAddrPort(mc.Server)
				if sv.Port() == 445 {
					continue // over an SMB pipe (TestSMBPipesTshark, TestManifest)
				}
				if mc.RequestFrame != 0 {
					rq := calls[callKey{streamKey{cl, sv}, mc.CallID, PTRequest}]
					if rq == nil || rq.frame != mc.RequestFrame || rq.opnum != mc.Opnum || rq.frags != mc.RequestFragments {
						t.Errorf("%s call %d: request mismatch: manifest frame %d opnum %d, bytes %+v", mc.Op, mc.CallID, mc.RequestFrame, mc.Opnum, rq)
					}
				}
				if mc.Reply == "none" {
					continue // unanswered (dead-conn.pcap)
				}
				pt := uint8(PTResponse)
				if mc.Reply == "fault" {
					pt = PTFault
				}
				rp := calls[callKey{streamKey{sv, cl}, mc.CallID, pt}]
				if rp == nil || rp.frame != mc.ReplyFrame || rp.frags != mc.ReplyFragments {
					t.Errorf("%s call %d: reply mismatch: manifest frame %d, bytes %+v", mc.Op, mc.CallID, mc.ReplyFrame, rp)
					continue
				}
				if mc.Sealed != "" {
					continue // ciphertext: cmd/nspicap's sealed tests decrypt it
				}
				bo := binary.ByteOrder(binary.LittleEndian)
				if mc.BigEndian {
					bo = binary.BigEndian
				}
				if got := bo.Uint32(rp.stub[len(rp.stub)-4:]); got != mc.Status {
					t.Errorf("%s call %d: status %#x, manifest %#x", mc.Op, mc.CallID, got, mc.Status)
				}
				if mc.Op == "NspiBind" && mc.Status == 0 {
					h := rp.stub[len(rp.stub)-24 : len(rp.stub)-4]
					if fmt.Sprintf("%x", h) != mc.Handle {
						t.Errorf("NspiBind call %d: handle %x, manifest %s", mc.CallID, h, mc.Handle)
					}
				}
			}
		})
	}
}

func TestCaptureFormats(t *testing.T) {
	for _, s := range Scenarios() {
		data, m, err := s.Generate()
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = bytes.NewReader(data)
		if s.Format == FormatPcapGz {
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		n := 0
		if s.Format == FormatPcapNG {
			ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			for {
				_, ci, err := ng.ReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", s.Name, err)
				}
				if n == 0 && !ci.Timestamp.Equal(Start) {
					t.Errorf("%s: first timestamp %v", s.Name, ci.Timestamp)
				}
				n++
			}
			if ng.NInterfaces() != len(s.Ifaces) {
				t.Errorf("%s: %d interfaces", s.Name, ng.NInterfaces())
			}
			for i := range s.Ifaces {
				intf, err := ng.Interface(i)
				if err != nil || intf.LinkType != s.Ifaces[i].Link.LinkType() || int(intf.TimestampResolution) != int(s.Ifaces[i].TSResol) {
					t.Errorf("%s: interface %d: %+v %v", s.Name, i, intf, err)
				}
			}
		} else {
			pr, err := pcapgo.NewReader(r)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			for {
				_, ci, err := pr.ReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", s.Name, err)
				}
				if n == 0 && !ci.Timestamp.Equal(Start) {
					t.Errorf("%s: first timestamp %v", s.Name, ci.Timestamp)
				}
				n++
			}
		}
		if n != m.Frames {
			t.Errorf("%s: read %d frames, manifest says %d", s.Name, n, m.Frames)
		}
	}
}

func TestNSPIStubLayouts(t *testing.T) {
	g := UUID{1}
	if n := len(NspiBindReq(false, 0, DefaultSTAT, &g)); n != 60 {
		t.Errorf("NspiBind request stub %d, want 60", n)
	}
	if n := len(NspiBindReq(false, 0, DefaultSTAT, nil)); n != 44 {
		t.Errorf("NspiBind request stub (NULL guid) %d, want 44", n)
	}
	if n := len(NspiBindResp(false, &g, Handle{}, StatusLogonFailed)); n != 44 {
		t.Errorf("NspiBind response stub %d, want 44", n)
	}
	if n := len(NspiBindResp(false, nil, Handle{}, StatusLogonFailed)); n != 28 {
		t.Errorf("NspiBind response stub (NULL guid) %d, want 28", n)
	}
	if n := len(NspiUnbindReq(false, Handle{})); n != 24 {
		t.Errorf("NspiUnbind request stub %d, want 24", n)
	}
	r := NspiBindResp(true, nil, Handle{}, StatusLogonFailed)
	if !bytes.Equal(r[len(r)-4:], []byte{0x80, 0x04, 0x01, 0x11}) {
		t.Errorf("big-endian status % x", r[len(r)-4:])
	}
	if n := len(Tower(SyntaxNSPI, 4997, netip.MustParseAddr("192.168.0.2"))); n != 75 {
		t.Errorf("tower length %d, want 75", n)
	}
	if got := NSPIUUID.Wire(false); !bytes.Equal(got, []byte{0x18, 0x5a, 0xcc, 0xf5, 0x64, 0x42, 0x1a, 0x10, 0x8c, 0x59, 0x08, 0x00, 0x2b, 0x2f, 0x84, 0x26}) {
		t.Errorf("NSPI uuid wire % x", got)
	}
}

func TestFragmentation(t *testing.T) {
	stub := make([]byte, 60)
	for i := range stub {
		stub[i] = byte(i)
	}
	o := CallPDUOpts{Drep: DrepLE, CallID: 7, Opnum: 0, MaxFrag: 64,
		Auth: &Verifier{Type: AuthTypeNTLM, Level: AuthLevelConnect, ContextID: 1, Value: ConnectVerifier()}}
	frags := RequestPDUs(o, stub)
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4", len(frags))
	}
	var got []byte
	for i, f := range frags {
		checkPDU(t, fmt.Sprint("frag ", i), f)
		if len(f) > 64 {
			t.Errorf("fragment %d is %d bytes", i, len(f))
		}
		wantFlags := uint8(0)
		if i == 0 {
			wantFlags |= FlagFirst
		}
		if i == len(frags)-1 {
			wantFlags |= FlagLast
		}
		if f[3] != wantFlags {
			t.Errorf("fragment %d flags %#x", i, f[3])
		}
		if hint := binary.LittleEndian.Uint32(f[16:]); int(hint) != 60-16*i {
			t.Errorf("fragment %d alloc_hint %d", i, hint)
		}
		tr := len(f) - 16 - 8
		got = append(got, f[24:tr-int(f[tr+2])]...)
	}
	if !bytes.Equal(got, stub) {
		t.Errorf("reassembled stub differs")
	}
}

func TestNTLMAuthenticate(t *testing.T) {
	c := NewCapture("t")
	msg := NTLMAuthenticate(Carol, DC01, 1, [8]byte{}, c.RandBytes)
	buf := func(off int) []byte {
		l := binary.LittleEndian.Uint16(msg[off:])
		o := binary.LittleEndian.Uint32(msg[off+4:])
		return msg[o : o+uint32(l)]
	}
	if !bytes.Equal(buf(28), UTF16LE("FABRIKAM")) || !bytes.Equal(buf(36), UTF16LE("carol")) {
		t.Errorf("domain/user buffers wrong")
	}
	if nt := buf(20); len(nt) <= 24 || nt[16] != 1 || nt[17] != 1 {
		t.Errorf("NT response is not NTLMv2-shaped")
	}
	if first := binary.LittleEndian.Uint32(msg[32:]); first != 88 {
		t.Errorf("payload starts at %d, want 88 (version + MIC)", first)
	}
	anon := NTLMAuthenticate(Anon, DC01, 1, [8]byte{}, c.RandBytes)
	if l := binary.LittleEndian.Uint16(anon[12:]); l != 1 {
		t.Errorf("anonymous LM length %d", l)
	}
	if l := binary.LittleEndian.Uint16(anon[20:]); l != 0 {
		t.Errorf("anonymous NT length %d", l)
	}
	if l := binary.LittleEndian.Uint16(anon[36:]); l != 0 {
		t.Errorf("anonymous user length %d", l)
	}
	if f := binary.LittleEndian.Uint32(anon[60:]); f&NTLMAnonymous == 0 {
		t.Errorf("anonymous flag missing")
	}
}

func TestBindAckAlignment(t *testing.T) {
	for _, addr := range []string{"", "135", "4997", "49669"} {
		b := BindAckBody(DrepLE, 5840, 5840, 1, addr, 0xee, []Result{{Result: 0, Transfer: SyntaxNDR}})
		n := 0
		if addr != "" {
			n = len(addr) + 1
		}
		p := 16 + 10 + n
		for p%4 != 0 {
			p++
		}
		if b[p-16] != 1 {
			t.Errorf("secaddr %q: n_results not at PDU offset %d", addr, p)
		}
	}
}
