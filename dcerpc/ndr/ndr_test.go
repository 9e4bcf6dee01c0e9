package ndr

import (
	"errors"
	"strings"
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

func TestNDR64(t *testing.T) {
	// referent ID (8), pad to 8 is none, max_count 3 (8), offset 0 (8),
	// actual_count 3 (8), "ab\x00".
	b := []byte{0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 0}
	r := NewReader64(b, true)
	if p := r.Pointer("p"); p != 0x20000 {
		t.Fatalf("pointer %#x", p)
	}
	if s := r.ConformantVaryingString("s", 16); s != "ab" || r.Err() != nil {
		t.Fatalf("string %q, %v", s, r.Err())
	}
	// a referent whose low 32 bits are zero is not NULL
	r = NewReader64([]byte{0, 0, 0, 0, 1, 0, 0, 0}, true)
	if r.Pointer("p") == 0 {
		t.Error("non-NULL referent read as NULL")
	}
	// a 64-bit count beyond the bound fails, naming the field
	r = NewReader64([]byte{0, 0, 0, 0, 0, 0, 0, 1}, true)
	if r.Count("n", 1<<31, 0); r.Err() == nil || !strings.Contains(r.Err().Error(), "ndr: n at stub offset") {
		t.Errorf("count: %v", r.Err())
	}
}
