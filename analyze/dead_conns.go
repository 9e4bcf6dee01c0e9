package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// The dead connections tracker finds NSPI and EMSMDB connections that went
// silent with a call unanswered and were never closed (no FIN or RST)
// while the same client connected to the same server again: the pattern of
// a VPN or network drop. The server keeps such a connection, and the
// sessions on it, until TCP keep-alive gives up. Its finding is
// dead_connection.

// Bounds and times of the dead connections tracker.
const (
	maxDeadKeys = 4096 // (server, client) pairs with dead connections
	// deadSilence: a connection must have been silent this long at the end
	// of the capture to be called dead.
	deadSilence = 30 * time.Second
	// keepAlive is Windows' default TCP KeepAliveTime (2 hours).
	keepAlive = 2 * time.Hour
)

// Protocols of a dead connection (deadConn.protos).
const (
	protoNSPI  uint8 = 1
	protoStore uint8 = 2
)

type deadConn struct {
	server     netip.Addr
	client     peer
	ukey       string
	protos     uint8 // protoNSPI, protoStore
	lastT      time.Time
	lastF      FrameRef
	unanswered bool
	unansF     FrameRef
}

type deadAcc struct {
	conns    int
	sessions int
	protos   uint8
	users    []string
	frames   frameList
	lastT    time.Time
}

// deadTracker is the dead connections tracker.
type deadTracker struct {
	*core
	conns  map[uint64]*deadConn
	reopen recentSet[ckey, time.Time] // last bind or connect per (server, client), the latest maxReopen
	dead   map[ckey]*deadAcc
}

func newDeadTracker(c *core) *deadTracker {
	return &deadTracker{
		core:   c,
		conns:  map[uint64]*deadConn{},
		reopen: newRecentSet[ckey, time.Time](maxReopen(c.opt)),
		dead:   map[ckey]*deadAcc{},
	}
}

// see follows a call of a session protocol (proto protoNSPI or
// protoStore); open says it opens a session (NspiBind, EcDoConnect(Ex)).
func (t *deadTracker) see(m *Meta, id *Identity, ans *Answer, proto uint8, open bool) {
	d := t.conns[m.ConnID]
	if d == nil {
		d = &deadConn{server: m.Server.Addr().Unmap(), client: peerOf(m)}
		t.conns[m.ConnID] = d
	}
	d.protos |= proto
	if id.User != "" && d.ukey == "" {
		d.ukey = t.userKey(id.User)
	}
	d.lastT, d.lastF = m.Time, m.Frame
	if ans.Answered {
		d.lastT, d.lastF = ans.ReplyTime, ans.ReplyFrame
	} else if !ans.Elsewhere {
		d.unanswered = true
		d.unansF = m.Frame
	}
	if open {
		t.reopen.put(ckey{d.server, d.client}, m.Time)
	}
}

// end follows the end of a connection; sessions is the number of
// sessions (NSPI and store) still open on it.
func (t *deadTracker) end(ev *ConnEnd, sessions int) {
	d := t.conns[ev.ConnID]
	if d == nil {
		return
	}
	delete(t.conns, ev.ConnID)
	if ev.How != HowEndOfCapture || !d.unanswered {
		return
	}
	k := ckey{d.server, d.client}
	re, ok := t.reopen.get(k)
	if !ok || !re.After(d.lastT) || t.lastTime.Sub(d.lastT) < deadSilence {
		return
	}
	acc := t.dead[k]
	if acc == nil {
		if len(t.dead) >= maxDeadKeys {
			return
		}
		acc = &deadAcc{}
		t.dead[k] = acc
	}
	acc.conns++
	acc.protos |= d.protos
	acc.sessions += sessions
	if d.ukey != "" && len(acc.users) < 8 && !containsStr(acc.users, d.ukey) {
		acc.users = append(acc.users, d.ukey)
	}
	if d.lastT.After(acc.lastT) {
		acc.lastT = d.lastT
	}
	acc.frames.add(t.seq, d.unansF)
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// findings adds the dead_connection findings.
func (t *deadTracker) findings(p *reporter, add func(*Finding, string)) {
	keys := make([]ckey, 0, len(t.dead))
	for k := range t.dead {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].server != keys[j].server {
			return keys[i].server.Less(keys[j].server)
		}
		return keys[i].client.Compare(keys[j].client) < 0
	})
	for _, k := range keys {
		d := t.dead[k]
		var protos []string
		if d.protos&protoNSPI != 0 {
			protos = append(protos, "NSPI")
		}
		if d.protos&protoStore != 0 {
			protos = append(protos, "EMSMDB")
		}
		ukey := ""
		var names []string
		for _, u := range d.users {
			names = append(names, p.who(u))
		}
		if len(d.users) == 1 {
			ukey = d.users[0]
		}
		users := ""
		if len(names) > 0 {
			users = " (" + strings.Join(names, ", ") + ")"
		}
		until := d.lastT.Add(keepAlive).UTC().Format("15:04:05 UTC")
		msg := fmt.Sprintf("%s from %s%s to %s went silent with a call unanswered and never closed (no FIN or RST), while the client opened new connections and logged on again: the pattern of a VPN or network drop. They held %s. The server keeps a dead connection, and the sessions on it, until TCP keep-alive gives up on the peer: with the default KeepAliveTime of 2 hours (7200000 ms) that is about 2 hours after the last packet (here until about %s), and every such session counts against the user's session limit meanwhile. Lower KeepAliveTime under HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters on the server (for example to 300000, 5 minutes; it takes effect after a restart), and look at the VPN or network path that drops the connections. Frames: the last unanswered call of each.",
			plural(d.conns, strings.Join(protos, "/")+" connection", strings.Join(protos, "/")+" connections"), k.client, users, k.server,
			plural(d.sessions, "session", "sessions"), until)
		f := t.framesFinding(KindDeadConnection, SevWarning, k.server, ukey, k.client, &d.frames, msg)
		f.Count = d.conns
		add(f, fmt.Sprintf("%s from %s to %s died silently (VPN or network drop); the server keeps them, and their %s, for about 2 hours (TCP KeepAliveTime).",
			plural(d.conns, "connection", "connections"), k.client, k.server, plural(d.sessions, "session", "sessions")))
	}
}

// mergeTimeline makes one row of the series of a row that was retired and
// came back (--max-rows, --max-open-sessions): its periods follow one
// another, and what a retired period still held counts as held until the
