package kerberos

import (
	"strings"

	"github.com/nspicap/nspicap/ntlmssp"
)

// The ticket of an AP-REQ is read on every Kerberos bind of a capture,
// thousands of times a second on a busy DC: ticketOfAPReq walks the DER of
// the AP-REQ (RFC 4120 5.5.1) down to its Ticket (5.3) and reads only what
// Ticket holds (the service principal, its realm, the etype, kvno and the
// digest of the encrypted part), without decoding the authenticator or
// allocating for the rest. It agrees with Decode on every message Decode
// reads (TestAPReqTicketAgrees, FuzzAPReqTicket).

// maxNameParts bounds the components of a principal name kept.
const maxNameParts = 16

// ticketOfAPReq reads the ticket of a raw AP-REQ.
func ticketOfAPReq(b []byte) (Ticket, bool) {
	if len(b) == 0 || b[0] != 0x6e { // [APPLICATION 14]
		return Ticket{}, false
	}
	seq, ok := sequenceIn(b)
	if !ok {
		return Ticket{}, false
	}
	for len(seq) > 0 {
		tag := seq[0]
		v, rest, err := derElem(seq, 0)
		if err != nil {
			return Ticket{}, false
		}
		if tag == 0xa3 { // ticket [3] Ticket
			return ticketIn(v)
		}
		seq = rest
	}
	return Ticket{}, false
}

// sequenceIn returns the content of the SEQUENCE that the explicitly
// tagged element at the start of b holds.
func sequenceIn(b []byte) ([]byte, bool) {
	c, _, err := derElem(b, 0)
	if err != nil || len(c) == 0 || c[0] != 0x30 {
		return nil, false
	}
	seq, _, err := derElem(c, 0)
	return seq, err == nil
}

// ticketIn reads Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0],
// realm [1] Realm, sname [2] PrincipalName, enc-part [3] EncryptedData }.
func ticketIn(v []byte) (Ticket, bool) {
	if len(v) == 0 || v[0] != 0x61 {
		return Ticket{}, false
	}
	seq, ok := sequenceIn(v)
	if !ok {
		return Ticket{}, false
	}
	var t Ticket
	var have uint8
	for len(seq) > 0 {
		tag := seq[0]
		f, rest, err := derElem(seq, 0)
		if err != nil {
			return Ticket{}, false
		}
		switch tag {
		case 0xa1: // realm: GeneralString
			s, ok := generalString(f)
			if !ok {
				return Ticket{}, false
			}
			t.Realm = s
			have |= 1
		case 0xa2: // sname: SEQUENCE { name-type [0], name-string [1] SEQUENCE OF GeneralString }
			s, ok := principalIn(f)
			if !ok {
				return Ticket{}, false
			}
			t.SName = s
			have |= 2
		case 0xa3: // enc-part: SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] OCTET STRING }
			if !encPartIn(f, &t) {
				return Ticket{}, false
			}
			have |= 4
		}
		seq = rest
	}
	return t, have == 7
}

func generalString(f []byte) (string, bool) {
	if len(f) == 0 || f[0] != 0x1b {
		return "", false
	}
	s, _, err := derElem(f, 0)
	if err != nil {
		return "", false
	}
	return ntlmssp.ClipName(string(s)), true
}

func principalIn(f []byte) (string, bool) {
	if len(f) == 0 || f[0] != 0x30 {
		return "", false
	}
	seq, _, err := derElem(f, 0)
	if err != nil {
		return "", false
	}
	for len(seq) > 0 {
		tag := seq[0]
		g, rest, err := derElem(seq, 0)
		if err != nil {
			return "", false
		}
		if tag == 0xa1 {
			if len(g) == 0 || g[0] != 0x30 {
				return "", false
			}
			list, _, err := derElem(g, 0)
			if err != nil {
				return "", false
			}
			var parts [maxNameParts]string
			n := 0
			for len(list) > 0 {
				if list[0] != 0x1b {
					return "", false
				}
				s, more, err := derElem(list, 0)
				if err != nil {
					return "", false
				}
				if n < maxNameParts {
					parts[n] = string(s)
					n++
				}
				list = more
			}
			return ntlmssp.ClipName(strings.Join(parts[:n], "/")), true
		}
		seq = rest
	}
	return "", false
}

func encPartIn(f []byte, t *Ticket) bool {
	if len(f) == 0 || f[0] != 0x30 {
		return false
	}
	seq, _, err := derElem(f, 0)
	if err != nil {
		return false
	}
	var have uint8
	for len(seq) > 0 {
		tag := seq[0]
		g, rest, err := derElem(seq, 0)
		if err != nil {
			return false
		}
		switch tag {
		case 0xa0:
			v, ok := integer(g)
			if !ok || v < -1<<31 || v >= 1<<31 {
				return false
			}
			t.EType = int32(v)
			have |= 1
		case 0xa1:
			v, ok := integer(g)
			if !ok || v < 0 || v >= 1<<32 {
				return false
			}
			t.KVNO = int(v)
		case 0xa2:
			if len(g) == 0 || g[0] != 0x04 {
				return false
			}
			c, _, err := derElem(g, 0)
			if err != nil {
				return false
			}
			t.Key, t.CipherLen = keyOf(c), len(c)
			have |= 2
		}
		seq = rest
	}
	return have == 3
}

// integer reads a DER INTEGER of at most 8 bytes.
func integer(g []byte) (int64, bool) {
	if len(g) == 0 || g[0] != 0x02 {
		return 0, false
	}
	c, _, err := derElem(g, 0)
	if err != nil || len(c) == 0 || len(c) > 8 {
		return 0, false
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, true
}
