package analyze

import (
	"encoding/hex"
	"net/netip"
	"time"
)

// The NSPI sessions tracker keeps the sessions and refused binds it lists
// packed: strings as indexes in core.strList, times as Unix seconds and
// nanoseconds. This file packs and unpacks them.

type sessRec struct {
	bindSec    int64
	endSec     int64
	bindFrame  int64
	endFrame   int64
	calls      int
	client     netip.Addr // the connection's
	handle     [20]byte
	bindNsec   int32
	endNsec    int32
	bindFile   uint32
	endFile    uint32
	server     uint32
	user       uint32
	auth       uint32
	clientPort uint16
	serverPort uint16
	transport  uint8 // a Transport
	end        uint8 // index in endNames
	unbind     uint8 // index in unbindNames
	flags      uint8
}

const (
	recHandle   = 1 << iota // the handle was read
	recBindZero             // zero bind time
	recEndZero              // zero end time
	recInferred             // sealed bind: accepted as inferred, not decoded
)

var (
	endNames    = []string{EndOpenAtEnd, EndUnbind, EndConnectionClosed}
	unbindNames = []string{"", "ok", "failed", "unanswered", "unknown"}
)

func nameIndex(names []string, s string) uint8 {
	for i, n := range names {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

func packTime(t time.Time) (int64, int32, bool) {
	if t.IsZero() {
		return 0, 0, true
	}
	return t.Unix(), int32(t.Nanosecond()), false
}

func unpackTime(sec int64, nsec int32, zero bool) time.Time {
	if zero {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// listRef names a listed session or refusal (its index in
// nspiTracker.sessions or refusals).
type listRef struct {
	refusal bool
	i       int
}

// refRec is a refused bind as listed in the report, packed like sessRec.
type refRec struct {
	timeSec   int64
	frame     int64
	reply     int64
	client    netip.Addr // the connection's
	ug        *group
	timeNsec  int32
	frameFile uint32
	replyFile uint32
	server    uint32
	user      uint32
	auth      uint32
	ordinal   int32
	held      int32
	before    int32
	flags     uint8
	transport uint8 // a Transport
}

const (
	refAnonymous = 1 << iota
	refZeroTime
	refLimit   // session_limit by count
	refPending // authenticated below 80%: session_limit or other (refState)
)

func clamp32(n int) int32 { return int32(min(n, 1<<31-1)) }

func (a *nspiTracker) packRefusal(r *refusal, server netip.Addr, ukey string) refRec {
	sec, nsec, zero := packTime(r.Time)
	p := refRec{
		timeSec: sec, timeNsec: nsec,
		frame: r.Frame.Frame, frameFile: a.str(r.Frame.File),
		reply: r.ReplyFrame.Frame, replyFile: a.str(r.ReplyFrame.File),
		client: r.client.sock, ug: r.ug, transport: uint8(r.tr),
		server: a.server(server).idx, user: a.str(string(a.name(ukey))), auth: a.str(r.Auth),
		ordinal: clamp32(r.Ordinal), held: clamp32(r.Held), before: clamp32(r.HeldBeforeCapture),
	}
	if r.Anonymous {
		p.flags |= refAnonymous
	}
	if zero {
		p.flags |= refZeroTime
	}
	switch {
	case r.pending:
		p.flags |= refPending
	case r.Cause == CauseSessionLimit:
		p.flags |= refLimit
	}
	return p
}

// refusal unpacks a listed refusal; stable tells the cause of a pending one.
func (a *nspiTracker) refusal(i int, stable func(*group) bool) Refusal {
	p := a.refusals.at(i)
	r := Refusal{
		Server:            a.strList[p.server],
		Client:            p.client.String(),
		ClientAddress:     addrString(a.behind[listRef{refusal: true, i: i}]),
		Transport:         Transport(p.transport).String(),
		User:              a.showName(NullString(a.strList[p.user])),
		Auth:              a.strList[p.auth],
		Anonymous:         p.flags&refAnonymous != 0,
		Frame:             FrameRef{File: a.strList[p.frameFile], Frame: p.frame},
		ReplyFrame:        FrameRef{File: a.strList[p.replyFile], Frame: p.reply},
		Time:              unpackTime(p.timeSec, p.timeNsec, p.flags&refZeroTime != 0),
		Ordinal:           int(p.ordinal),
		Held:              int(p.held),
		HeldBeforeCapture: int(p.before),
	}
	switch {
	case r.Anonymous:
		r.Cause = CauseAnonymous
	case p.flags&refLimit != 0:
		r.Cause = CauseSessionLimit
	case stable(p.ug):
		r.Cause = CauseSessionLimit
	default:
		r.Cause = CauseOther
	}
	return r
}

// refusal is a refused bind, as the findings count it.

func (a *nspiTracker) session(i int) Session {
	r := a.sessions.at(i)
	s := Session{
		Server:        a.strList[r.server],
		ServerPort:    r.serverPort,
		Client:        netip.AddrPortFrom(r.client, r.clientPort).String(),
		ClientAddress: addrString(a.behind[listRef{i: i}]),
		Transport:     Transport(r.transport).String(),
		User:          a.showName(NullString(a.strList[r.user])),
		Auth:          a.strList[r.auth],
		BindFrame:     FrameRef{File: a.strList[r.bindFile], Frame: r.bindFrame},
		BindTime:      unpackTime(r.bindSec, r.bindNsec, r.flags&recBindZero != 0),
		End:           endNames[r.end],
		Calls:         r.calls,
	}
	if r.flags&recHandle != 0 {
		s.Handle = hex.EncodeToString(r.handle[:])
	}
	if r.end != 0 {
		f := FrameRef{File: a.strList[r.endFile], Frame: r.endFrame}
		t := unpackTime(r.endSec, r.endNsec, r.flags&recEndZero != 0)
		s.EndFrame, s.EndTime = &f, &t
	}
	if s.End == EndUnbind {
		s.UnbindStatus = unbindNames[r.unbind]
	}
	s.Inferred = r.flags&recInferred != 0
	return s
}
