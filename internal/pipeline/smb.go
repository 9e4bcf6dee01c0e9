package pipeline

import (
	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/ntlmssp"
	"github.com/nspicap/nspicap/smb"
)

// DCE/RPC over SMB named pipes (ncacn_np). A TCP connection is told to be
// SMB once, by its first bytes (smb.Detect: a NetBIOS header and an SMB
// protocol identifier; the ports 139 and 445 only decide a connection whose
// start is not in the capture). Its bytes then go to an smb.Demux, never to
// the DCE/RPC parser; each pipe the demux finds is a DCE/RPC association of
// its own: a conn with its own dcerpc.Conn, a ConnID from pipeIDBase on, the
// TCP connection's ends, and the pipe's name on its rows.

// pipeIDBase starts the ConnIDs of named pipes, apart from those of TCP
// connections (numbered from 1 by the capture layer).
const pipeIDBase = 1 << 40

// smbBudget bounds the partial SMB messages held over all connections.
const smbBudget = 64 << 20

// Connection modes: a TCP connection is DCE/RPC (the default), or SMB.
const (
	modeUndecided = iota
	modeRPC
	modeSMB
)

// smbPort reports whether a port is SMB's (NetBIOS session service or
// direct TCP).
func smbPort(p uint16) bool { return p == 139 || p == 445 }

// smbData decides, at the connection's first bytes, whether it is SMB, and
// then hands it every byte. It reports whether it took b.
func (k *conn) smbData(dir capture.Dir, pos capture.Pos, b []byte) bool {
	if k.mode == modeHTTP {
		k.httpData(dir, pos, b)
		return true
	}
	if k.mode == modeUndecided {
		if httpStart(b) { // RPC over HTTP (http.go)
			k.startHTTP(dir, b)
			k.httpData(dir, pos, b)
			return true
		}
		if k.httpsStart(b) {
			if k.r.https++; k.r.https == 1 {
				k.r.httpsFile = pos.File
			}
		}
		m := k.c.Meta
		port := smbPort(m.Server.Port()) || smbPort(m.Client.Port())
		yes, more := smb.Detect(b, m.Server.Port() == 139 || m.Client.Port() == 139)
		if !yes && port && (more || !m.FromStart) {
			yes = true // too few bytes to tell, or a start not in the capture
		}
		if !yes {
			k.mode = modeRPC
			if !m.FromStart {
				k.newMid() // perhaps an RPC over HTTP channel (http_older.go)
			}
			return false
		}
		k.mode = modeSMB
		r := k.r
		if r.smbBudget == nil {
			r.smbBudget = smb.NewBudget(smbBudget)
		}
		k.smb = smb.NewDemux(m.Client, m.Server, m.FromStart, &smbHandler{k: k}, smb.Limits{Budget: r.smbBudget})
	}
	k.smb.Feed(smb.Dir(dir), smb.Pos(pos), b)
	return true
}

// smbEnd ends an SMB connection: its pipes end with it.
func (k *conn) smbEnd(pos capture.Pos, how capture.EndKind) {
	k.how = how
	k.smb.Close(smb.Pos(pos))
	st := k.smb.Stats()
	s := &k.r.smbStats
	s.Conns++
	s.Messages += st.Messages
	s.Encrypted += st.Encrypted
	s.Compressed += st.Compressed
	s.SignedSessions += st.SignedSessions
	s.Pipes += st.Pipes
}

// SMBStats count what the SMB connections of a run carried.
type SMBStats struct {
	Conns, Messages, Encrypted, Compressed, SignedSessions, Pipes int64
}

// smbHandler receives what the demux of one SMB connection reads.
type smbHandler struct{ k *conn }

func (h *smbHandler) PipeData(p *smb.Pipe, dir smb.Dir, pos smb.Pos, b []byte) {
	pk, _ := p.Ctx.(*conn)
	if pk == nil {
		pk = h.newPipe(p)
		p.Ctx = pk
	}
	was := pk.c.IsRPC()
	pk.c.Feed(dcerpc.Dir(dir), dcerpc.Pos(pos), b)
	if !was && pk.c.IsRPC() {
		pk.r.rpcConn++
	}
}

// newPipe makes the conn of a pipe, at its first bytes.
func (h *smbHandler) newPipe(p *smb.Pipe) *conn {
	r := h.k.r
	r.nPipes++
	d := h.k.smb
	pk := &conn{r: r, pipe: p, parent: h.k, mode: modeRPC}
	pk.tcp.data = true
	pk.c = dcerpc.NewConn(dcerpc.ConnMeta{ID: pipeIDBase + r.nPipes, Client: d.Client, Server: d.Server, FromStart: p.Opened}, pk, r.lim)
	pk.markCut(h.k.cutDirs)
	return pk
}

func (h *smbHandler) PipeClose(p *smb.Pipe, pos smb.Pos, closed bool) {
	pk, _ := p.Ctx.(*conn)
	if pk == nil {
		return
	}
	p.Ctx = nil
	how := capture.EndFIN
	if !closed {
		how = h.k.how
	}
	pk.End(capture.Pos(pos), how)
}

func (h *smbHandler) Logon(id smb.Identity, pos smb.Pos) {
	r := h.k.r
	if len(r.logons) < maxLogons {
		d := h.k.smb
		r.logons = append(r.logons, Logon{Frame: r.ref(dcerpc.Pos(pos)), Client: d.Client.String(), Server: d.Server.String(), User: id.User, Anonymous: id.Anonymous})
	}
}

func (h *smbHandler) Anomaly(kind string, pos smb.Pos, detail string) {
	if kind == smb.AnomalyGap {
		h.k.lost = true
	}
	h.k.r.anomaly(kind, dcerpc.Pos(pos), detail)
}

// pipeIdentity gives a call on a pipe without a DCE/RPC security context
// of its own the identity of the pipe's SMB session.
func (k *conn) pipeIdentity(c *dcerpc.Call) {
	if c.Sec.Authenticated {
		return
	}
	id := k.pipe.Identity()
	switch id.Mech {
	case ntlmssp.MechNTLM:
		c.Sec.AuthType = dcerpc.AuthNTLMSSP
	case ntlmssp.MechKerberos:
		c.Sec.AuthType = dcerpc.AuthKerberos
	default:
		return
	}
	c.Sec.Authenticated = true
	c.Sec.User, c.Sec.Anonymous = id.User, id.Anonymous
	switch {
	case id.Named != nil:
		// Kerberos in the SESSION_SETUP: one Origin per session, made
		// once for the calls of the pipe.
		if k.pipeOrigin == nil || k.pipeOrigin.named != id.Named {
			n := id.Named
			k.pipeOrigin = &pipeOrigin{named: n, Origin: dcerpc.Origin{From: n.From, Pos: dcerpc.Pos(n.Pos), Ticket: n.Ticket, Via: n.Via}}
		}
		c.Sec.Origin = &k.pipeOrigin.Origin
	case id.User != "" && id.At.Frame != 0:
		// The SESSION_SETUP that named the session's user: one Origin
		// per session, made once for the calls of the pipe.
		if o := k.pipeOrigin; o == nil || o.named != nil || o.at.Frame != id.At.Frame || o.at.File != id.At.File {
			k.pipeOrigin = &pipeOrigin{at: id.At, Origin: dcerpc.Origin{From: analyze.IdentityFromSMB, Pos: dcerpc.Pos(id.At)}}
		}
		c.Sec.Origin = &k.pipeOrigin.Origin
	case id.User != "":
		c.Sec.Origin = &smbOrigin
	}
}

// NameTicket names the client of a SESSION_SETUP's Kerberos AP-REQ from the
// ticket table (smb.TicketNamer).
func (h *smbHandler) NameTicket(tok []byte, pos smb.Pos) (string, *smb.Named, bool) {
	user, o := h.k.r.nameTicket(tok, dcerpc.Pos(pos))
	if o == nil {
		return "", nil, false
	}
	return user, &smb.Named{From: o.From, Pos: smb.Pos(o.Pos), Ticket: o.Ticket, Via: o.Via}, true
}

// smbOrigin is the origin of a pipe call's identity taken from its SMB
// session when the frame of its SESSION_SETUP is not known.
var smbOrigin = dcerpc.Origin{From: analyze.IdentityFromSMB}

// pipeQuality: bytes lost on the SMB connection that carries a pipe.
func (k *conn) pipeQuality() analyze.Quality {
	var q analyze.Quality
	if k.parent != nil && k.parent.lost {
		q |= analyze.BytesLost
	}
	if k.parent != nil && k.parent.cut {
		q |= analyze.SnapCut
	}
	return q
}

// pipeOrigin is the Origin made for the identity of an SMB session, with
// what it was made from: the session's Kerberos naming, or the frame of
// the SESSION_SETUP that named its user.
type pipeOrigin struct {
	named *smb.Named
	at    smb.Pos
	dcerpc.Origin
}
