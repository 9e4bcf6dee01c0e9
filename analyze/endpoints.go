package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// The endpoints tracker follows the endpoint mapper (C706 appendix L,
// MS-RPCE 2.2.1.2.5 ept_map): which endpoints it handed out for which
// interface, the interfaces it answered ept_s_not_registered for, and the
// connection attempts to a mapped endpoint that were reset or never
// answered. Its findings are endpoint_not_registered and
// endpoint_unreachable.

// Bounds of the endpoints tracker.
const (
	maxMapped = 4096 // endpoints learned from ept_map answers
	maxEPKeys = 1024 // (mapper, interface) pairs answered not registered
)

// endpointTracker is the endpoints tracker.
type endpointTracker struct {
	*core
	mapped  map[netip.AddrPort]*epMapped
	notReg  map[epKey]*epNotReg
	unreach map[netip.AddrPort]*epUnreach
}

func newEndpointTracker(c *core) *endpointTracker {
	return &endpointTracker{
		core:    c,
		mapped:  map[netip.AddrPort]*epMapped{},
		notReg:  map[epKey]*epNotReg{},
		unreach: map[netip.AddrPort]*epUnreach{},
	}
}

type epKey struct {
	mapper netip.Addr
	iface  string
}

type epMapped struct {
	iface, uuid string
	mapper      netip.Addr
	client      netip.Addr
	seq         int
	reply       FrameRef
}

type epNotReg struct {
	uuid, version string
	frames        frameList
	cl            clientTrack
	lastSeq       int
	okSeq         int // seq of a later successful answer, -1 for none
}

type epUnreach struct {
	m          *epMapped
	frames     frameList
	rst, quiet int
	cl         clientTrack
}

// exchangeIfaces are the interfaces whose absence from the endpoint map
// stops MAPI clients.
var exchangeIfaces = map[string]string{
	"nspi":        "the address book (NSPI: the global catalog, or Exchange's address book service)",
	"rfr":         "the address book referral service (RFR)",
	"emsmdb":      "the Exchange store (EMSMDB: the Information Store, or the RPC Client Access service)",
	"asyncemsmdb": "the Exchange store's notifications (AsyncEMSMDB)",
	"drsuapi":     "directory replication (DRSUAPI) of the domain controller",
}

func (t *endpointTracker) add(ev *EndpointAnswer) {
	mapper := ev.Server.Addr().Unmap()
	client := ev.Client.Addr().Unmap()
	k := epKey{mapper, ev.Iface}
	if ev.NotRegistered {
		if _, ok := exchangeIfaces[ev.Iface]; !ok {
			return
		}
		n := t.notReg[k]
		if n == nil {
			if len(t.notReg) >= maxEPKeys {
				return
			}
			n = &epNotReg{uuid: ev.IfaceUUID, version: ev.IfaceVersion, okSeq: -1}
			t.notReg[k] = n
		}
		n.frames.add(t.seq, ev.replyFrame(ev.Frame))
		n.cl.add(peerOf(&ev.Meta))
		n.lastSeq = t.seq
		return
	}
	if ev.Status != 0 {
		return
	}
	if n := t.notReg[k]; n != nil {
		n.okSeq = t.seq
	}
	for _, ep := range ev.Endpoints {
		ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
		if _, ok := t.mapped[ep]; !ok && len(t.mapped) >= maxMapped {
			continue
		}
		t.mapped[ep] = &epMapped{iface: ev.Iface, uuid: ev.IfaceUUID, mapper: mapper, client: client, seq: t.seq, reply: ev.replyFrame(ev.Frame)}
	}
}

func (t *endpointTracker) attempt(ev *ConnAttempt) {
	if ev.How != HowRST && ev.How != HowEndOfCapture {
		return
	}
	ep := netip.AddrPortFrom(ev.Server.Addr().Unmap(), ev.Server.Port())
	m := t.mapped[ep]
	if m == nil || ev.FirstTime.IsZero() {
		return
	}
	u := t.unreach[ep]
	if u == nil {
		u = &epUnreach{m: m}
		u.frames.add(m.seq, m.reply)
		t.unreach[ep] = u
	}
	if ev.How == HowRST {
		u.rst++
	} else {
		u.quiet++
	}
	u.cl.add(peerOf(&ev.Meta))
	u.frames.add(t.seq, ev.First)
	if ev.How == HowRST && ev.Frame != ev.First {
		u.frames.add(t.seq, ev.Frame)
	}
}

// findings adds the endpoint findings.
func (t *endpointTracker) findings(add func(*Finding, string)) {
	keys := make([]epKey, 0, len(t.notReg))
	for k := range t.notReg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].mapper != keys[j].mapper {
			return keys[i].mapper.Less(keys[j].mapper)
		}
		return keys[i].iface < keys[j].iface
	})
	for _, k := range keys {
		n := t.notReg[k]
		what := exchangeIfaces[k.iface]
		msg := fmt.Sprintf("The endpoint mapper on %s answered ept_s_not_registered (0x16c9a0d6) to %s for %s (%s v%s): no process has registered that interface, so clients cannot find the port to connect to, fail to log on and Outlook prompts for credentials again and again.",
			k.mapper, plural(n.frames.n, "ept_map", "ept_map calls"), k.iface, n.uuid, n.version)
		msg += fmt.Sprintf(" Check on %s that the service providing %s is running, and that it could register: a service set to a static port fails to register when another process already holds that port (look for the service's startup errors in the event log, and for the port's owner with netstat -ano).", k.mapper, what)
		sev := SevError
		if n.okSeq > n.lastSeq {
			sev = SevWarning
			msg += " A later ept_map for it was answered: the service registered in the meantime."
		}
		sentence := ""
		if sev == SevError {
			sentence = fmt.Sprintf("The endpoint mapper on %s does not know %s (ept_s_not_registered): the service that provides it is not running or could not register its port.", k.mapper, k.iface)
		}
		add(t.framesFinding(KindEndpointNotRegistered, sev, k.mapper, "", n.cl.one(), &n.frames, msg), sentence)
	}
	eps := make([]netip.AddrPort, 0, len(t.unreach))
	for ep := range t.unreach {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Compare(eps[j]) < 0 })
	for _, ep := range eps {
		u := t.unreach[ep]
		var how []string
		if u.rst > 0 {
			how = append(how, fmt.Sprintf("%d reset by the server (RST)", u.rst))
		}
		if u.quiet > 0 {
			how = append(how, fmt.Sprintf("%d never answered", u.quiet))
		}
		attempts := u.rst + u.quiet
		msg := fmt.Sprintf("The endpoint mapper on %s sent clients to %s for %s, but %s there failed (%s). Nothing listens on that port, or a firewall between the client and the server blocks it. Check that the service providing %s listens on port %d of %s (netstat -ano), and that firewalls allow it (dynamic RPC ports are 49152-65535 by default).",
			u.m.mapper, ep, u.m.iface, plural(attempts, "connection attempt", "connection attempts"), strings.Join(how, ", "), u.m.iface, ep.Port(), ep.Addr())
		f := t.framesFinding(KindEndpointUnreachable, SevError, ep.Addr(), "", u.cl.one(), &u.frames, msg)
		f.Count = attempts
		add(f, fmt.Sprintf("%s (%s, from the endpoint mapper) is unreachable: %s.", ep, u.m.iface, plural(attempts, "connection attempt failed", "connection attempts failed")))
	}
}
