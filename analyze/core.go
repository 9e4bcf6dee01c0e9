package analyze

import (
	"net/netip"
	"strings"
	"time"
	"unique"
)

// core is what every tracker shares: the options, the position in the
// stream of events, and the names of users and servers, interned once so
// that every row and finding spells a user the same way.
type core struct {
	opt Options
	// seq counts the events added before the one being processed.
	seq      int
	lastTime time.Time
	// t0 is the time of the first event (started: there was one).
	t0      time.Time
	started bool
	// inferred counts the calls whose interface was inferred (their
	// connection's bind is not in the capture: Quality IfaceInferred).
	inferred int

	spell   map[string]spelling // user as spelled -> user key
	names   map[string]account  // user key -> its first spelling, user@REALM, what named it
	servers map[netip.Addr]*server
	// recentSrv: the servers last looked up (server()), newest first.
	recentSrv [4]recentServer
	strs      map[string]uint32
	strList   []string
	// live marks the user keys the trackers still refer to (pruneNames).
	live []func(map[string]bool)

	// Accounts (accounts.go): the NetBIOS and DNS domain pairs known, the
	// keys a second name of an account is sent to, the keys of ticket
	// labels, and the pairs of keys that had rows each when their alias was
	// learned.
	aliases  []alias
	redirect map[string]string
	tickets  map[string]string
	twins    [][2]string
	// fromNames: the Origin.From names seen (identityFrom.from).
	fromNames []string
}

func newCore(o Options) *core {
	return &core{
		opt:      o,
		spell:    map[string]spelling{},
		names:    map[string]account{},
		servers:  map[netip.Addr]*server{},
		strs:     map[string]uint32{},
		redirect: map[string]string{},
		tickets:  map[string]string{},
	}
}

// advance moves the clock to an event's request and answer times.
func (c *core) advance(t, reply time.Time) {
	if !c.started {
		c.t0, c.started = t, true
	}
	if t.After(c.lastTime) {
		c.lastTime = t
	}
	if reply.After(c.lastTime) {
		c.lastTime = reply
	}
}

// sessKey identifies a session: server IP and context handle. syn is
// non-zero for a session whose handle could not be read (it can then only
// end with its connection).
type sessKey struct {
	server netip.Addr
	handle [20]byte
	syn    int
}

// gkey identifies a user row: a server and a user key (lower-cased user).
type gkey struct {
	server netip.Addr
	who    string
}

// ckey identifies a client row: a server and a client.
type ckey struct {
	server netip.Addr
	client peer
}

// peer is a client as the NSPI tracker keys it: the IP of the connection's
// client (sock) and, when the connection came through an RPC proxy, the
// address of the client behind it (via, Meta.ClientAddress; zero
// otherwise). A proxied client is thus its own row, counted apart from the
// proxy's other clients, with the proxy beside it. The address behind is
// an interned handle: a peer is a map key in every client table, and a
// handle keeps it to one pointer beside the socket's address.
type peer struct {
	sock netip.Addr
	via  unique.Handle[netip.Addr]
}

// peerOf is the client of an event.
func peerOf(m *Meta) peer {
	p := peer{sock: m.Client.Addr().Unmap()}
	if m.ClientAddress.IsValid() {
		p.via = unique.Make(m.ClientAddress.Unmap())
	}
	return p
}

// ip is an address taken as a direct client.
func ip(a netip.Addr) peer { return peer{sock: a} }

// behind is the address of the client behind the RPC proxy, the zero
// Addr for a direct client.
func (c peer) behind() netip.Addr {
	if c.via == (unique.Handle[netip.Addr]{}) {
		return netip.Addr{}
	}
	return c.via.Value()
}

// String names the client in a finding's message: its IP, or the client
// behind a proxy and the proxy.
func (c peer) String() string {
	b := c.behind()
	if !b.IsValid() {
		return c.sock.String()
	}
	return b.String() + " (through the RPC proxy " + c.sock.String() + ")"
}

func (c peer) IsValid() bool { return c.sock.IsValid() }

// Compare orders clients by their connection's IP, then the client behind.
func (c peer) Compare(d peer) int {
	if x := c.sock.Compare(d.sock); x != 0 {
		return x
	}
	return c.behind().Compare(d.behind())
}

// addrString is the address, "" for none.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// setClient fills the client fields of a finding: Client the connection's
// IP, ClientAddress the client behind the proxy.
func (f *Finding) setClient(c peer) {
	f.cl = c
	if c.sock.IsValid() {
		f.Client = NullString(c.sock.String())
	}
	if b := c.behind(); b.IsValid() {
		f.ClientAddress = b.String()
	}
}

type server struct {
	idx    uint32
	name   string
	sealed evAcc // calls encrypted and not decrypted
}

func (a *core) str(s string) uint32 {
	if i, ok := a.strs[s]; ok {
		return i
	}
	i := uint32(len(a.strList))
	a.strs[s] = i
	a.strList = append(a.strList, s)
	return i
}

// spelling is a cached user key (core.spell); named says that what named
// the key's account is recorded (idKey), so its binds need not look.
type spelling struct {
	key   string
	named bool
}

func (a *core) userKey(user string) string {
	k, _ := a.spelled(user)
	return k
}

// spelled is userKey and the named mark of the spelling.
func (a *core) spelled(user string) (string, bool) {
	if user == "" {
		return "", false
	}
	if sp, ok := a.spell[user]; ok {
		return sp.key, sp.named
	}
	lower := strings.ToLower(user)
	k := lower
	if strings.HasPrefix(k, ticketKeyPrefix) {
		k = "\ufffd" + k[len(ticketKeyPrefix):] // never a ticket's key
	}
	show, upn := user, ""
	if r, ok := a.redirect[k]; ok {
		k = r
	} else if ck, s, u, ok := a.canon(user, lower); ok {
		k, show, upn = ck, s, u
	} else if strings.IndexByte(user, '@') > 0 {
		upn = user
	}
	if cur, ok := a.names[k]; !ok {
		if len(a.names) >= a.maxNames() {
			a.pruneNames()
		}
		if len(a.names) < a.maxNames() {
			a.names[k] = account{show: show, upn: upn}
		}
	} else if better := strings.IndexByte(cur.show, '\\') < 0 && strings.IndexByte(show, '\\') > 0; better || cur.upn == "" && upn != "" {
		if better {
			cur.show = show // DOMAIN\user rather than user@REALM
		}
		if cur.upn == "" {
			cur.upn = upn
		}
		a.names[k] = cur
	}
	if len(a.spell) >= a.maxNames() {
		clear(a.spell) // a cache of strings.ToLower
	}
	a.spell[user] = spelling{key: k}
	return k, false
}

// name is the first spelling seen of a user; beyond maxNames users
// followed at once, the lower-cased key.
func (a *core) name(ukey string) NullString {
	if isTicketKey(ukey) {
		return ""
	}
	if n, ok := a.names[ukey]; ok {
		return NullString(n.show)
	}
	return NullString(ukey)
}

func (a *core) server(addr netip.Addr) *server {
	// Captures name few servers: the last ones used are looked up first.
	for i := range a.recentSrv {
		if r := &a.recentSrv[i]; r.s != nil && r.addr == addr {
			return r.s
		}
	}
	s := a.servers[addr]
	if s == nil {
		name := addr.String()
		s = &server{idx: a.str(name), name: name}
		a.servers[addr] = s
	}
	copy(a.recentSrv[1:], a.recentSrv[:len(a.recentSrv)-1])
	a.recentSrv[0] = recentServer{addr, s}
	return s
}

// recentServer is an entry of Analyzer.recentSrv.
type recentServer struct {
	addr netip.Addr
	s    *server
}
