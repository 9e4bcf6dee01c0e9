package synth

import "time"

// Named pipes over SMB (ncacn_np): the DCE/RPC binds carry no
// authentication, so the calls' user is the SMB session's (NTLM in
// SESSION_SETUP).

func smbScenarios() []Scenario {
	return []Scenario{
		{Name: "smb2-pipes", File: "smb2-pipes.pcap", Format: FormatPcap,
			Description: "SMB 2.1 on TCP 445, signed: CONTOSO\\alice sets up a session with NTLM in SPNEGO and connects to \\\\DC01\\IPC$. Pipe samr: bind and SamrCloseHandle by IOCTL FSCTL_PIPE_TRANSCEIVE, CLOSE. Pipe lsass: NSPI bound with a WRITE and READ compounded (related READ), NspiBind whose READ is answered STATUS_PENDING then asynchronously, NspiQueryRows whose answer spans TCP segments of 120 bytes, NspiGetPropList with WRITE and READ compounded (unrelated), NspiUnbind, CLOSE; FIN.",
			Expected:    "One clean NSPI session for CONTOSO\\alice (user from the SMB session) over \\PIPE\\lsass; samr.SamrCloseHandle over \\PIPE\\samr; calls carry transport ncacn_np; no anomaly.",
			build:       buildSMB2Pipes},
		{Name: "smb1-pipes", File: "smb1-pipes.pcap", Format: FormatPcap,
			Description: "SMB1 over NetBIOS (TCP 139, session request first): CONTOSO\\bob sets up a session (SESSION_SETUP_ANDX, extended security, NTLM in SPNEGO), TREE_CONNECT_ANDX to \\\\DC01\\IPC$, NT_CREATE_ANDX \\lsarpc: bind and LsarClose by TransactNmPipe, LsarClose by WRITE_ANDX and READ_ANDX, CLOSE; NT_CREATE_ANDX \\lsass: NSPI bind, NspiBind, NspiQueryRows whose READ_ANDX answer spans TCP segments of 100 bytes, NspiUnbind, CLOSE; FIN.",
			Expected:    "One clean NSPI session for CONTOSO\\bob over \\PIPE\\lsass; two lsarpc.LsarClose over \\PIPE\\lsarpc; no anomaly.",
			build:       buildSMB1Pipes},
	}
}

// pipeBind binds one interface on a pipe, without authentication, and
// gives the calls the SMB session's user.
func (e *env) pipeBind(r *RPC, iface SyntaxID, pipe string, cr Creds) {
	r.Bind(BindSpec{Contexts: WindowsContexts(iface, 0), NewAssoc: e.assoc(), SecAddr: pipe, PadByte: 0x5c})
	r.User, r.Auth = cr.Name(), AuthNTLM
}

// closeCall is SamrCloseHandle / LsarClose: a handle in, a zeroed handle
// and a status out.
func (e *env) closeCall(r *RPC, opnum uint16, op string) {
	h := e.c.NewHandle()
	r.Call(CallSpec{Ctx: 0, Opnum: opnum, Op: op, Req: h[:], Resp: make([]byte, 24)})
}

func buildSMB2Pipes(e *env) {
	cn := e.conn(client(70), 445)
	s := e.c.NewSMB(cn, 2)
	s.Signed = true
	s.Logon(Alice, DC01)
	e.c.Advance(10 * time.Millisecond)

	p := s.OpenPipe("samr", PipeTransceive)
	r := e.c.NewRPC(cn, 1)
	r.Pipe = p
	e.pipeBind(r, SyntaxSAMR, `\PIPE\samr`, Alice)
	e.closeCall(r, 1, "SamrCloseHandle")
	p.Close()
	e.c.Advance(20 * time.Millisecond)

	q := s.OpenPipe("lsass", PipeWriteRead)
	r = e.c.NewRPC(cn, 1)
	r.Pipe = q
	q.Compound = true
	e.pipeBind(r, SyntaxNSPI, `\PIPE\lsass`, Alice)
	q.Compound = false
	q.Pending = true
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	e.c.Advance(30 * time.Millisecond)
	q.MSS = 120
	r.NspiQueryRows(h, 0, 0)
	q.Compound, q.Unrelated = true, true // tshark follows the FileId of an unrelated READ only
	r.NspiGetPropList(h, 0x1a2, 0)
	q.Compound = false
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	q.Close()
	cn.CloseFIN(C2S)
}

func buildSMB1Pipes(e *env) {
	cn := e.conn(client(71), 139)
	s := e.c.NewSMB(cn, 1)
	s.Logon(Bob, DC01)
	e.c.Advance(10 * time.Millisecond)

	p := s.OpenPipe(`\lsarpc`, PipeTransceive)
	r := e.c.NewRPC(cn, 1)
	r.Pipe = p
	e.pipeBind(r, SyntaxLSARPC, `\PIPE\lsarpc`, Bob)
	e.closeCall(r, 0, "LsarClose")
	p.Mode = PipeWriteRead
	e.closeCall(r, 0, "LsarClose")
	p.Close()
	e.c.Advance(20 * time.Millisecond)

	q := s.OpenPipe(`\lsass`, PipeWriteRead)
	r = e.c.NewRPC(cn, 1)
	r.Pipe = q
	e.pipeBind(r, SyntaxNSPI, `\PIPE\lsass`, Bob)
	h := r.NspiBind(BindResult{ClientGUID: &UUID{}})
	q.MSS = 100
	r.NspiQueryRows(h, 0, 0)
	e.c.Advance(time.Second)
	r.NspiUnbind(h, StatusUnbindSuccess)
	q.Close()
	cn.CloseFIN(C2S)
}
