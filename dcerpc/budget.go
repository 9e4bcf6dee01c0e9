package dcerpc

import "sync"

// Budget bounds the memory held, over all the connections that share it,
// by what the DCE/RPC layer keeps between packets: the stubs of calls still
// in reassembly or waiting for their answer, and the fixed cost of the
// state each connection keeps (open calls, responses in reassembly, binds
// awaiting their answer, presentation and security contexts; see the cost
// constants below). With the per-connection caps alone (Limits.MaxCallBytes,
// Limits.MaxOpenCalls, 1024 presentation and 64 security contexts) what a
// connection may hold is their product, and what a capture may hold that
// times its connections; the budget makes the sum one number.
//
// A message that finds the budget's stub share spent keeps the stub it has (and its last
// 4 bytes, the return value), is marked Truncated, and is reported once as
// the anomaly too_many_call_bytes; a call, bind or context that finds it
// spent is not kept (too_many_open_calls, too_many_contexts,
// too_many_security_contexts). Everything is given back when the call is
// delivered or dropped, and at Close. The same Budget may also be
// Limits.Buffers, so that partial PDUs draw from the same sum. A Budget is
// not safe for concurrent use: one per pipeline.
type Budget struct {
	max, held int
	stubs     int // of held, stub bytes
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int) *Budget { return &Budget{max: max} }

// Held is the bytes held now.
func (b *Budget) Held() int { return b.held }

// Max is the budget's size.
func (b *Budget) Max() int { return b.max }

// Fixed costs charged to Limits.Budget for the state a connection keeps
// besides stub bytes. Each is at least what the structure costs on the heap
// (measured by TestStateCosts, which fails if one is too low).
const (
	// CostCall: a call in reassembly or awaiting its answer (Call,
	// request Message, map entry).
	CostCall = 512
	// CostMessage: a response in reassembly (Message, map entry).
	CostMessage = 256
	// CostPending: a bind or alter_context awaiting its answer, plus
	// CostContextOffer for each presentation context it offers.
	CostPending      = 64
	CostContextOffer = 128
	// CostContext: a presentation context accepted (map entry).
	CostContext = 64
	// CostSecContext: a security context; CostUnsealContext more when
	// an Unsealer follows it (with --keys: two RC4 ciphers of 1 KiB, the
	// session keys, the handshake's challenge).
	CostSecContext    = 256
	CostUnsealContext = 4096
)

// The budget is shared out so that no kind of use can starve the others:
// stubs may hold half of it, so that when stubs are cut calls are still
// paired and their return values (kept apart from the stub) still read;
// stubs and state together three quarters, so that the partial PDUs of a
// shared Limits.Buffers always have a quarter; partial PDUs all of it.

// stubShare and stateShare are the parts of the budget that stubs, and
// stubs and state together, may hold.
func (b *Budget) stubShare() int  { return b.max / 2 }
func (b *Budget) stateShare() int { return b.max - b.max/4 }

// take grants up to want bytes of stub.
func (b *Budget) take(want int) int {
	n := min(want, b.stateShare()-b.held, b.stubShare()-b.stubs)
	if n <= 0 {
		return 0
	}
	b.held += n
	b.stubs += n
	return n
}

// hold charges n bytes of state to the connection's budget, all or
// nothing; without a budget it always succeeds and charges nothing.
func (c *Conn) hold(n int) (int, bool) {
	b := c.lim.Budget
	if b == nil {
		return 0, true
	}
	if b.held+n > b.stateShare() {
		return 0, false
	}
	b.held += n
	return n, true
}

// unhold gives back what hold charged.
func (c *Conn) unhold(n int) {
	if n > 0 {
		c.lim.Budget.held -= n
	}
}

// spent is the detail of an anomaly caused by the budget.
func (c *Conn) spent() string {
	return "the connections' open calls, contexts and stubs hold " + itoa(c.lim.Budget.held) + " bytes, the limit (--max-call-bytes-total)"
}

// release gives back what a message held, once it is delivered or dropped.
func (c *Conn) release(m *Message) {
	if m != nil && m.held+m.cost > 0 {
		b := c.lim.Budget
		b.held -= m.held + m.cost
		b.stubs -= m.held
		m.held, m.cost = 0, 0
	}
}

// Calls and messages are pooled when the Handler gives them back (Free).
var (
	callPool = sync.Pool{New: func() any { return new(Call) }}
	msgPool  = sync.Pool{New: func() any { return new(Message) }}
)

// Free gives back a call delivered to Handler.Call, with its messages, once
// nothing refers to it or to them any more: the next calls reuse them. A
// Handler that keeps calls must not call it. The stubs are left to the
// collector.
func Free(c *Call) {
	if c == nil {
		return
	}
	for _, m := range []*Message{c.Request, c.Response} {
		if m != nil {
			*m = Message{}
			msgPool.Put(m)
		}
	}
	*c = Call{}
	callPool.Put(c)
}
