package analyze

import "net/netip"

// Refused binds: each NspiBind refused with MAPI_E_LOGON_FAILED is listed
// and explained by what the user held and who else was refused (doc.go):
// at the session limit, anonymous (Outlook's first bind, normal when an
// authenticated bind from the client follows), or other (logon_failed).

// refState gathers the refusals of one (server, user) with a credential.
type refState struct {
	high refAcc // held at least 80% of the limit: session_limit
	// auth: the others. They are session_limit too when they all came at the
	// same count of at least 2 that the user never exceeded (doc.go).
	auth     refAcc
	authH    int
	authSame bool
	other    map[peer]*refAcc // auth by client, for logon_failed
}

// anonWait gathers, per (server, client), the anonymous refusals that no
// authenticated bind from that client to that server has followed yet.
type anonWait struct {
	users []string // user keys in order of first refusal
	accs  map[string]*refAcc
}

// refKey identifies a logon_failed finding without credentials.
type refKey struct {
	server netip.Addr
	ukey   string
	client peer
}

type refusal struct {
	Refusal
	q      Quality // of the refused bind
	tr     Transport
	seq    int
	client peer
	ug     *group
	// pending: authenticated, below 80% of the limit: its cause depends on
	// the user's other refusals (refState).
	pending bool
}

func (a *nspiTracker) refused(ev *NSPICall, server netip.Addr, client peer, ukey string, ug, cg *group) {
	r := refusal{seq: a.seq, client: client, ug: ug, tr: ev.Transport}
	r.Refusal = Refusal{
		Server:            a.server(server).name,
		Client:            cg.clientStr,
		ClientAddress:     addrString(client.behind()),
		Transport:         ev.Transport.String(),
		User:              a.name(ukey),
		Auth:              ev.Auth,
		Anonymous:         ev.Anonymous,
		Frame:             ev.Frame,
		ReplyFrame:        ev.replyFrame(ev.Frame),
		Time:              utc(ev.Time),
		Ordinal:           ug.c.Binds,
		Held:              ug.held,
		HeldBeforeCapture: ug.ghosts,
		StatusInferred:    ev.Quality&StatusInferred != 0,
	}
	h := ug.held + ug.ghosts
	switch {
	case ev.Anonymous:
		r.Cause = CauseAnonymous
		k := ckey{server, client}
		w := a.anonWait[k]
		if w == nil {
			if len(a.anonWait) >= a.maxAnonKeys() {
				a.anonDropped++
				break
			}
			w = &anonWait{accs: map[string]*refAcc{}}
			a.anonWait[k] = w
		}
		acc := w.accs[ukey]
		if acc == nil {
			acc = &refAcc{}
			w.accs[ukey] = acc
			w.users = append(w.users, ukey)
		}
		acc.add(&r)
	case h*5 >= a.opt.Limit*4:
		r.Cause = CauseSessionLimit
		a.refState(ug).high.add(&r)
	default:
		r.pending = true
		rs := a.refState(ug)
		if rs.auth.ev.n == 0 {
			rs.authH, rs.authSame = h, true
		} else if h != rs.authH {
			rs.authSame = false
		}
		rs.auth.add(&r)
		o := rs.other[client]
		if o == nil {
			o = &refAcc{}
			rs.other[client] = o
		}
		o.add(&r)
	}
	a.nRefusals++
	a.tl.refuseIn(&ug.ser, ug, "nspi", server, ukey, cg.client, false, ev.Time)
	a.tl.refuseIn(&cg.ser, cg, "nspi", server, ukey, cg.client, true, ev.Time)
	if a.refusals.n < a.opt.MaxRefusals {
		i := a.refusals.add(a.packRefusal(&r, server, ukey))
		if client.behind().IsValid() {
			a.behind[listRef{refusal: true, i: i}] = client.behind()
		}
	}
}

func (a *nspiTracker) refState(ug *group) *refState {
	if ug.ref == nil {
		ug.ref = &refState{other: map[peer]*refAcc{}}
	}
	return ug.ref
}

// followed: an authenticated bind from client to server; the anonymous
// refusals before it were followed by one.
func (a *nspiTracker) followed(server netip.Addr, client peer) {
	k := ckey{server, client}
	w := a.anonWait[k]
	if w == nil {
		return
	}
	delete(a.anonWait, k)
	for _, u := range w.users {
		rk := refKey{server, u, client}
		d := a.anonDone[rk]
		if d == nil {
			a.maybeRetireAnon()
			d = &refAcc{}
			a.anonDone[rk] = d
		}
		d.merge(w.accs[u])
	}
}
