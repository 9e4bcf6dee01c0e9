package analyze

import (
	"net/netip"
	"time"
)

// gen builds fake events in capture order: every request and every answer
// takes the next frame number and, by default, the next second.
type gen struct {
	t     time.Time
	step  time.Duration
	frame int64
	file  string
	evs   []Event
}

func newGen() *gen {
	return &gen{t: time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC), step: time.Second, file: "t.pcap"}
}

func (g *gen) next() (FrameRef, time.Time) {
	g.frame++
	g.t = g.t.Add(g.step)
	return FrameRef{File: g.file, Frame: g.frame}, g.t
}

var (
	srv1 = netip.MustParseAddrPort("10.0.0.1:4997")
	srv2 = netip.MustParseAddrPort("10.0.0.2:4997")
	cl1  = netip.MustParseAddrPort("10.0.1.5:50001")
	cl1b = netip.MustParseAddrPort("10.0.1.5:50002")
	cl2  = netip.MustParseAddrPort("10.0.1.6:50001")
)

type mod func(*NSPICall)

func unanswered(e *NSPICall) {
	e.Answered, e.HasStatus, e.ReplyFrame, e.ReplyTime = false, false, FrameRef{}, time.Time{}
}

func fault(v uint32) mod {
	return func(e *NSPICall) { e.HasStatus, e.HasFault, e.Fault = false, true, v }
}

func sealed(e *NSPICall) {
	e.Sealed, e.HasStatus, e.HasHandle = true, false, false
	e.Handle = [20]byte{}
}

func anonFlag(e *NSPICall) { e.Anonymous = true }

func hd(n int) [20]byte {
	var h [20]byte
	h[4], h[5], h[19] = byte(n), byte(n>>8), 0xaa
	return h
}

func (g *gen) call(op SessionOp, conn uint64, c, s netip.AddrPort, user string, status uint32, h int, mods ...mod) *gen {
	f, t := g.next()
	rf, rt := g.next()
	ev := &NSPICall{
		Meta:     Meta{Time: t, Frame: f, ConnID: conn, Client: c, Server: s},
		Identity: Identity{User: user, Auth: "ntlmssp", AuthLevel: "connect"},
		Answer:   Answer{ReplyFrame: rf, ReplyTime: rt, Answered: true, HasStatus: true, Status: status},
		Op:       op,
	}
	switch op {
	case OpOpen:
		ev.Name = "NspiBind"
	case OpClose:
		ev.Name, ev.Opnum = "NspiUnbind", 1
	case OpUse:
		ev.Name, ev.Opnum = "NspiQueryRows", 3
	}
	if user == "" {
		ev.Auth, ev.AuthLevel, ev.Anonymous = "none", "none", true
	}
	if h != 0 {
		ev.HasHandle, ev.Handle = true, hd(h)
	} else if op == OpOpen {
		ev.HasHandle = true // zero handle on failure
	}
	for _, m := range mods {
		m(ev)
	}
	g.evs = append(g.evs, ev)
	return g
}

// bind: an NspiBind returning status and handle h (0: none).
func (g *gen) bind(conn uint64, c, s netip.AddrPort, user string, status uint32, h int, mods ...mod) *gen {
	return g.call(OpOpen, conn, c, s, user, status, h, mods...)
}

func (g *gen) ok(conn uint64, c, s netip.AddrPort, user string, h int, mods ...mod) *gen {
	return g.bind(conn, c, s, user, 0, h, mods...)
}

func (g *gen) refused(conn uint64, c, s netip.AddrPort, user string, mods ...mod) *gen {
	return g.bind(conn, c, s, user, StatusLogonFailed, 0, mods...)
}

func (g *gen) unbind(conn uint64, c, s netip.AddrPort, user string, h int, mods ...mod) *gen {
	return g.call(OpClose, conn, c, s, user, UnbindSuccess, h, mods...)
}

func (g *gen) use(conn uint64, c, s netip.AddrPort, user string, h int, mods ...mod) *gen {
	return g.call(OpUse, conn, c, s, user, 0, h, mods...)
}

func (g *gen) end(conn uint64, c, s netip.AddrPort, how How) *gen {
	f, t := g.next()
	g.evs = append(g.evs, &ConnEnd{Meta: Meta{Time: t, Frame: f, ConnID: conn, Client: c, Server: s}, How: how})
	return g
}

func (g *gen) report(limit int) *Report {
	a := New(Options{Limit: limit})
	for _, e := range g.evs {
		a.Add(e)
	}
	return a.Report([]Input{{Path: g.file, Format: "pcapng", Packets: g.frame}})
}

func userRow(r *Report, server, user string) *UserRow {
	for i := range r.Users {
		if r.Users[i].Server == server && string(r.Users[i].User) == user {
			return &r.Users[i]
		}
	}
	return nil
}

func clientRow(r *Report, server, client string) *ClientRow {
	for i := range r.Clients {
		if r.Clients[i].Server == server && r.Clients[i].Client == client {
			return &r.Clients[i]
		}
	}
	return nil
}

func findings(r *Report, kind string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}
