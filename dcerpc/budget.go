package dcerpc

// Budget bounds the stub bytes held, over all the connections that share
// it, by calls still in reassembly or waiting for their answer: with the
// per-call cap (Limits.MaxCallBytes) and the open-call cap
// (Limits.MaxOpenCalls) alone, what a connection may hold is their product,
// and what a capture may hold that times its connections. A message that
// finds the budget spent keeps the stub it has (and its last 4 bytes, the
// return value), is marked Truncated, and is reported once as the anomaly
// too_many_call_bytes; the bytes are given back when the call is delivered
// or dropped. A Budget is not safe for concurrent use: one per pipeline.
type Budget struct {
	max, held int
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int) *Budget { return &Budget{max: max} }

// Held is the stub bytes held now.
func (b *Budget) Held() int { return b.held }

// take grants up to want bytes.
func (b *Budget) take(want int) int {
	n := min(want, b.max-b.held)
	if n <= 0 {
		return 0
	}
	b.held += n
	return n
}

// release gives back what a message held, once it is delivered or dropped.
func (c *Conn) release(m *Message) {
	if m != nil && m.held > 0 {
		c.lim.Budget.held -= m.held
		m.held = 0
	}
}
