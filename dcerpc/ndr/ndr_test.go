package ndr

import (
	"errors"
	"testing"
)

func TestReaderAlignmentAndSticky(t *testing.T) {
	b := []byte{0x01, 0xff, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0xaa, 0xbb}
	r := NewReader(b, true)
	if r.U8("a") != 1 || r.U16("b") != 0x1234 || r.U32("c") != 0x12345678 {
		t.Fatal("little-endian reads wrong")
	}
	r.U32("d") // only 2 bytes left
	var e *Error
	if !errors.As(r.Err(), &e) || e.Field != "d" || e.Offset != 8 || !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("error %v", r.Err())
	}
	if r.U8("e") != 0 || r.Err() != e {
		t.Fatal("error not sticky")
	}
	be := NewReader([]byte{0x12, 0x34, 0, 0, 0, 0, 0, 1}, false)
	if be.U16("x") != 0x1234 || be.U32("y") != 1 || be.Err() != nil {
		t.Fatal("big-endian reads wrong")
	}
}

func TestCountBounds(t *testing.T) {
	// a conformant varying string claiming 2^32-1 elements
	b := []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'a'}
	r := NewReader(b, true)
	if s := r.ConformantVaryingString("name", 1<<20); s != "" || !errors.Is(r.Err(), ErrBound) {
		t.Fatalf("huge count accepted: %q %v", s, r.Err())
	}
	ok := []byte{3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'h', 'i', 0}
	r = NewReader(ok, true)
	if s := r.ConformantVaryingString("name", 100); s != "hi" || r.Err() != nil {
		t.Fatalf("got %q %v", s, r.Err())
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'h', 'i', 0}, true)
	f.Fuzz(func(t *testing.T, b []byte, le bool) {
		r := NewReader(b, le)
		r.U8("a")
		r.ContextHandle("h")
		r.ConformantVaryingString("s", 1<<16)
		r.UUID("u")
		r.U64("x")
		if r.Offset() > len(b) {
			t.Fatalf("offset %d past %d", r.Offset(), len(b))
		}
	})
}
