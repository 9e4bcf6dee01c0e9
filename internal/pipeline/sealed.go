package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nspicap/nspicap/analyze"
	"github.com/nspicap/nspicap/dcerpc"
	"github.com/nspicap/nspicap/internal/capture"
	"github.com/nspicap/nspicap/internal/unseal"
	"github.com/nspicap/nspicap/nspi"
)

// Sealed traffic: with Options.Keys the DCE/RPC layer decrypts protected
// stubs (internal/unseal); what stays sealed is counted per identity, and
// the outcome of a sealed NspiBind is inferred from what the client does
// next on the same connection (README, "Sealed traffic").

// keyState counts the calls that stay sealed, per identity and reason.
type keyState struct {
	keys   bool // keys were given
	sealed map[string]*sealedCount
}

type sealedCount struct {
	first  string // the identity as first seen
	calls  int
	status map[dcerpc.UnsealStatus]int
	auth   string
}

// cutIdentity prefixes the identity of sealed calls that the snap length
// cut: their handshake (the user's name, the keys), or their own PDUs (a
// trailer cut off: the stub is taken as sealed). They are counted apart,
// and said to be cut, not missing.
const cutIdentity = "\x00cut"

// maxSealedIdentities bounds the identities counted.
const maxSealedIdentities = 10000

func (r *runner) setupKeys(o Options) {
	if o.Keys != nil {
		r.ks.keys = true
		r.lim.Unsealer = unseal.New(o.Keys)
		return
	}
	// Without keys, anonymous NTLM sessions are still decrypted: their
	// keys need no password (docs/modern-rpc.md).
	r.lim.Unsealer = unseal.New(nil)
}

// anonIdentity keys the sealed calls of anonymous NTLM sessions.
const anonIdentity = "\x00anonymous"

// unsealStatus is the worst status of a call's two messages.
func unsealStatus(c *dcerpc.Call) dcerpc.UnsealStatus {
	st := dcerpc.UnsealNone
	for _, m := range []*dcerpc.Message{c.Request, c.Response} {
		if m != nil && m.Sealed && rank(m.Unseal) > rank(st) {
			st = m.Unseal
		}
	}
	return st
}

// rank orders reasons: the one a user must act on first wins.
func rank(s dcerpc.UnsealStatus) int {
	switch s {
	case dcerpc.UnsealBadKey:
		return 6
	case dcerpc.UnsealBadSignature:
		return 5
	case dcerpc.UnsealLostSync:
		return 4
	case dcerpc.UnsealUnsupported:
		return 3
	case dcerpc.UnsealNoKey:
		return 2
	case dcerpc.UnsealNone:
		return 1
	}
	return 0
}

func (r *runner) countSealed(c *dcerpc.Call) {
	if !c.Sealed() {
		return
	}
	if r.ks.sealed == nil {
		r.ks.sealed = map[string]*sealedCount{}
	}
	id := strings.ToLower(c.Sec.User)
	if c.Sec.Anonymous && id == "" {
		id = anonIdentity
	}
	if callCut(c) {
		id = cutIdentity + id
	}
	n := r.ks.sealed[id]
	if n == nil {
		if len(r.ks.sealed) >= maxSealedIdentities {
			return
		}
		n = &sealedCount{first: c.Sec.User, status: map[dcerpc.UnsealStatus]int{}, auth: c.Sec.AuthName()}
		r.ks.sealed[id] = n
	}
	n.calls++
	st := unsealStatus(c)
	if !r.ks.keys && id != anonIdentity {
		// The keyless Unsealer tried anonymous sessions only.
		st = dcerpc.UnsealNone
	}
	n.status[st]++
}

// keyWarnings gives one line per identity whose calls stay sealed, in
// identity order. Identities are printed as first seen (lower-cased keys
// only group them).
func (r *runner) keyWarnings() []string {
	ids := make([]string, 0, len(r.ks.sealed))
	for id := range r.ks.sealed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		n := r.ks.sealed[id]
		worst := dcerpc.UnsealNone
		for st := range n.status {
			if rank(st) > rank(worst) {
				worst = st
			}
		}
		name := r.ks.names(id)
		calls := plural(n.calls, "call", "calls")
		stay := "stay"
		if n.calls == 1 {
			stay = "stays"
		}
		var w string
		krb := n.auth == "kerberos"
		switch {
		case id == anonIdentity:
			w = fmt.Sprintf("%s of anonymous NTLM sessions %s sealed: their keys, derived without a password from the all-zero session key (MS-NLMP 3.3.2), fail the signature check (%s)", calls, stay, worst)
		case id == cutIdentity:
			w = fmt.Sprintf("%s without a known user %s unread, taken as sealed: the capture's snap length cut their authentication or their PDUs (capture whole packets)", calls, stay)
		case strings.HasPrefix(id, cutIdentity):
			w = fmt.Sprintf("%s of %s %s unread, taken as sealed: the capture's snap length cut their authentication or their PDUs (capture whole packets)", calls, n.first, stay)
		case id == "" && krb && worst == dcerpc.UnsealBadKey:
			w = fmt.Sprintf("%s %s sealed under Kerberos: the keytab names their service but its keys do not decrypt their tickets (a wrong or outdated key: compare the tickets' kvno with the keytab's)", calls, stay)
		case id == "" && krb && worst == dcerpc.UnsealUnsupported:
			w = fmt.Sprintf("%s %s sealed under Kerberos without a known user: their tickets use an encryption type nspicap does not decrypt, or could not be read", calls, stay)
		case id == "" && krb:
			w = fmt.Sprintf("%s %s sealed under Kerberos without a known user: a keytab with the service key (--keytab) names the user", calls, stay)
		case id == "":
			w = fmt.Sprintf("%s %s sealed without a known user (the authentication is not in the capture)", calls, stay)
		case worst == dcerpc.UnsealBadKey:
			w = fmt.Sprintf("the key for %s does not match: signature check failed", name)
		case worst == dcerpc.UnsealBadSignature && krb:
			w = fmt.Sprintf("%s of %s %s sealed: their Kerberos tokens are truncated, malformed or fail their checksum", calls, name, stay)
		case worst == dcerpc.UnsealBadSignature:
			w = fmt.Sprintf("%s of %s %s sealed: truncated or malformed NTLM signature", calls, name, stay)
		case worst == dcerpc.UnsealLostSync:
			w = fmt.Sprintf("decryption for %s lost step (a protected PDU is missing from the capture): %s %s sealed", name, calls, stay)
		case worst == dcerpc.UnsealUnsupported && krb:
			w = fmt.Sprintf("%s of %s %s sealed: their Kerberos keys use an encryption type nspicap does not decrypt (it decrypts AES128, AES256 and RC4-HMAC), or the AP-REP that carries their key is not in the capture", calls, name, stay)
		case worst == dcerpc.UnsealUnsupported:
			w = fmt.Sprintf("%s of %s %s sealed: their NTLM handshake is not in the capture, or uses a variant nspicap does not decrypt", calls, name, stay)
		default:
			w = fmt.Sprintf("no key for %s: %s %s sealed", name, calls, stay)
		}
		out = append(out, w)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// names returns the identity as first seen.
func (k *keyState) names(lower string) string {
	if n := k.sealed[lower]; n != nil && n.first != "" {
		return n.first
	}
	return lower
}

// emit sends a call to the sink, holding back a sealed NspiBind until the
// connection shows its outcome.
func (k *conn) emit(out *Call) {
	r := k.r
	c := out.Raw
	r.countSealed(c)
	if r.rows {
		out.Row.Decrypted = c.Request != nil && c.Request.Decrypted || c.Response != nil && c.Response.Decrypted
	}
	if h := k.held; h != nil && out.Event != nil {
		switch {
		case c.Opnum == nspi.OpBind:
			// The client binds again at once: the first one was refused.
			k.infer(h, false)
		case c.ContextID == h.Raw.ContextID:
			// The client goes on using the presentation context.
			k.infer(h, true)
		}
		k.release()
	}
	if out.Event != nil && c.Opnum == nspi.OpBind && c.Response != nil && c.Response.Sealed && c.Fault == nil && !out.Event.HasStatus {
		k.held = out
		return
	}
	r.sendCall(out)
}

func (k *conn) release() {
	if h := k.held; h != nil {
		k.held = nil
		k.r.sendCall(h)
	}
}

// flushHeld ends the wait at the end of the connection: a client that closes
// right after a sealed NspiBind was refused; at the end of the capture
// nothing is known.
func (k *conn) flushHeld(how capture.EndKind) {
	if k.held == nil {
		return
	}
	if s := how.String(); s == "fin" || s == "rst" {
		k.infer(k.held, false)
	}
	k.release()
}

// infer sets an inferred outcome on a sealed NspiBind.
func (k *conn) infer(h *Call, accepted bool) {
	st := uint32(0)
	if !accepted {
		st = nspi.LogonFailed
	}
	if ev := h.Event; ev != nil {
		ev.HasStatus, ev.Status = true, st
		ev.Quality |= analyze.StatusInferred
	}
	if k.r.rows {
		s := fmt.Sprintf("0x%08x", st)
		h.Row.Status = &s
		h.Row.StatusName = codeName(nspi.StatusName(st))
		h.Row.StatusInferred = true
	}
}
