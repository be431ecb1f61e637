package zeo_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// p3 wraps opcodes in PROTO 3 … STOP.
func p3(body string) []byte { return []byte("\x80\x03" + body + ".") }

func TestUnpickleOpcodes(t *testing.T) {
	g := zeo.Global{Module: "m", Name: "C"}
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"NONE", p3("N"), zeo.None{}},
		{"NEWTRUE", p3("\x88"), true},
		{"NEWFALSE", p3("\x89"), false},
		{"BININT1", p3("K\xff"), int64(255)},
		{"BININT2", p3("M\x01\x02"), int64(0x0201)},
		{"BININT", p3("J\xff\xff\xff\xff"), int64(-1)},
		{"BININT min", p3("J\x00\x00\x00\x80"), int64(math.MinInt32)},
		{"LONG1 empty", p3("\x8a\x00"), int64(0)},
		{"LONG1 6 bytes", p3("\x8a\x06\xcb\xb4\x9a\xe7\x8a\x7f"), int64(140234567890123)},
		{"LONG1 negative", p3("\x8a\x01\x80"), int64(-128)},
		{"LONG1 2^63", p3("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"), bigInt("0x8000000000000000")},
		{"LONG1 -2^63-1", p3("\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\xff"), bigInt("-9223372036854775809")},
		{"LONG4", p3("\x8b\x02\x00\x00\x00\x00\x01"), int64(256)},
		{"BINFLOAT", p3("G?\xf8\x00\x00\x00\x00\x00\x00"), 1.5},
		{"SHORT_BINBYTES", p3("C\x03abc"), []byte("abc")},
		{"BINBYTES", p3("B\x03\x00\x00\x00abc"), []byte("abc")},
		{"BINBYTES8", p3("\x8e\x03\x00\x00\x00\x00\x00\x00\x00abc"), []byte("abc")},
		{"SHORT_BINUNICODE", p3("\x8c\x02\xc3\xa9"), "\u00e9"},
		{"BINUNICODE", p3("X\x02\x00\x00\x00hi"), "hi"},
		{"BINUNICODE8", p3("\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi"), "hi"},
		{"SHORT_BINSTRING", p3("U\x02hi"), "hi"},
		{"BINSTRING", p3("T\x02\x00\x00\x00hi"), "hi"},
		{"EMPTY_TUPLE", p3(")"), zeo.Tuple{}},
		{"TUPLE1", p3("K\x01\x85"), zeo.Tuple{int64(1)}},
		{"TUPLE2", p3("K\x01K\x02\x86"), zeo.Tuple{int64(1), int64(2)}},
		{"TUPLE3", p3("K\x01K\x02K\x03\x87"), zeo.Tuple{int64(1), int64(2), int64(3)}},
		{"MARK TUPLE", p3("(K\x01K\x02K\x03K\x04t"), zeo.Tuple{int64(1), int64(2), int64(3), int64(4)}},
		{"EMPTY_LIST", p3("]"), list()},
		{"APPEND", p3("]K\x01a"), list(int64(1))},
		{"APPENDS", p3("](K\x01K\x02e"), list(int64(1), int64(2))},
		{"LIST", p3("(K\x01l"), list(int64(1))},
		{"EMPTY_DICT", p3("}"), dict()},
		{"SETITEM", p3("}K\x01K\x02s"), dict(int64(1), int64(2))},
		{"SETITEMS", p3("}(K\x01K\x02K\x03K\x04u"), dict(int64(1), int64(2), int64(3), int64(4))},
		{"SETITEMS same key", p3("}(K\x01K\x02\x88K\x04u"), dict(int64(1), int64(4))},
		{"DICT", p3("(K\x01K\x02d"), dict(int64(1), int64(2))},
		{"tuple key", p3("}K\x01K\x02\x86Ns"), dict(zeo.Tuple{int64(1), int64(2)}, nil)},
		{"POP", p3("K\x01K\x020"), int64(1)},
		{"POP drops a mark", p3("K\x01(0"), int64(1)},
		{"POP_MARK", p3("K\x01(K\x02K\x031"), int64(1)},
		{"DUP", p3("]2\x86"), zeo.Tuple{list(), list()}},
		{"BINPUT BINGET", p3("K\x07q\x050h\x05"), int64(7)},
		{"LONG_BINPUT LONG_BINGET", p3("K\x07r\x00\x00\x01\x000j\x00\x00\x01\x00"), int64(7)},
		{"MEMOIZE", p3("K\x07\x940h\x00"), int64(7)},
		{"PUT GET", []byte("I7\np3\n0g3\n."), int64(7)},
		{"FRAME", []byte("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00K\x01."), int64(1)},
		{"INT", []byte("I-42\n."), int64(-42)},
		{"INT bool", []byte("I01\n."), true},
		{"LONG", []byte("L123456789012345678901234567890L\n."), bigInt("123456789012345678901234567890")},
		{"FLOAT", []byte("F0.25\n."), 0.25},
		{"GLOBAL", p3("cm\nC\n"), g},
		{"STACK_GLOBAL", []byte("\x80\x04\x8c\x01m\x8c\x01C\x93."), g},
		{"REDUCE", p3("cm\nC\nK\x01\x85R"), &zeo.Object{Class: g, Args: zeo.Tuple{int64(1)}}},
		{"NEWOBJ BUILD", p3("cm\nC\n)\x81}X\x01\x00\x00\x00aK\x01sb"),
			&zeo.Object{Class: g, Args: zeo.Tuple{}, New: true, State: dict("a", int64(1))}},
		{"BUILD None", p3("cm\nC\n)RNb"), &zeo.Object{Class: g, Args: zeo.Tuple{}, State: zeo.None{}}},
		{"OBJ", []byte("(cm\nC\nK\x01o."), &zeo.Object{Class: g, Args: zeo.Tuple{int64(1)}}},
		{"INST", []byte("(K\x01im\nC\n."), &zeo.Object{Class: g, Args: zeo.Tuple{int64(1)}}},
		{"APPENDS on object", p3("cm\nC\n)R(K\x01K\x02e"),
			&zeo.Object{Class: g, Args: zeo.Tuple{}, ListItems: []any{int64(1), int64(2)}}},
		{"SETITEM on object", p3("cm\nC\n)RK\x01K\x02s"),
			&zeo.Object{Class: g, Args: zeo.Tuple{}, DictItems: dict(int64(1), int64(2))}},
		{"no PROTO", []byte("K\x01."), int64(1)},
		{"PROTO 5", []byte("\x80\x05K\x01."), int64(1)},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Unmarshal(tt.in)
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", tt.in, err)
			}
			if !equal(got, tt.want) {
				t.Errorf("Unmarshal(%q) = %s; want %s", tt.in, zeo.Repr(got), zeo.Repr(tt.want))
			}
		})
	}
}

func TestUnpickleErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, zeo.ErrTruncated},
		{"no STOP", []byte("\x80\x03K\x01"), zeo.ErrTruncated},
		{"truncated BININT", []byte("\x80\x03J\x01\x02"), zeo.ErrTruncated},
		{"huge BINBYTES", p3("B\xff\xff\xff\xff"), zeo.ErrTruncated},
		{"huge BINBYTES8", p3("\x8e\xff\xff\xff\xff\xff\xff\xff\xff"), zeo.ErrTruncated},
		{"huge BINUNICODE8", p3("\x8d\x00\x00\x00\x00\x00\x00\x00\x80"), zeo.ErrTruncated},
		{"huge FRAME", []byte("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xffN."), zeo.ErrTruncated},
		{"negative BINSTRING", p3("T\xff\xff\xff\xff"), zeo.ErrMalformed},
		{"negative LONG4", p3("\x8b\xff\xff\xff\xff"), zeo.ErrMalformed},
		{"STOP on empty stack", p3(""), zeo.ErrMalformed},
		{"STOP across a mark", p3("K\x01("), zeo.ErrMalformed},
		{"TUPLE2 underflow", p3("K\x01\x86"), zeo.ErrMalformed},
		{"TUPLE without MARK", p3("K\x01t"), zeo.ErrMalformed},
		{"APPEND to int", p3("K\x01K\x02a"), zeo.ErrMalformed},
		{"APPEND without target", p3("K\x01a"), zeo.ErrMalformed},
		{"APPEND across mark", p3("](K\x01a"), zeo.ErrMalformed},
		{"SETITEM on list", p3("]K\x01K\x02s"), zeo.ErrMalformed},
		{"SETITEMS odd", p3("}(K\x01u"), zeo.ErrMalformed},
		{"list key", p3("}]K\x01s"), zeo.ErrUnhashable},
		{"dict key", p3("(}K\x01d"), zeo.ErrUnhashable},
		{"BINGET unset", p3("h\x01"), zeo.ErrMalformed},
		{"BINPUT empty stack", p3("q\x01N"), zeo.ErrMalformed},
		{"DUP empty", p3("2"), zeo.ErrMalformed},
		{"POP_MARK without mark", p3("N1"), zeo.ErrMalformed},
		{"REDUCE args not a tuple", p3("cm\nC\nK\x01R"), zeo.ErrMalformed},
		{"NEWOBJ args not a tuple", p3("cm\nC\n]\x81"), zeo.ErrMalformed},
		{"BUILD on int", p3("K\x01Nb"), zeo.ErrMalformed},
		{"OBJ without class", p3("(o"), zeo.ErrMalformed},
		{"STACK_GLOBAL ints", p3("K\x01K\x02\x93"), zeo.ErrMalformed},
		{"GLOBAL without newline", p3("cm\nC"), zeo.ErrTruncated},
		{"GLOBAL line too long", p3("c" + strings.Repeat("m", 5000) + "\nC\n"), zeo.ErrLimit},
		{"bad INT", []byte("Ifoo\n."), zeo.ErrMalformed},
		{"bad FLOAT", []byte("Fx\n."), zeo.ErrMalformed},
		{"negative GET", []byte("g-1\n."), zeo.ErrMalformed},
		{"trailing bytes", []byte("\x80\x03N.N"), zeo.ErrMalformed},
		{"PROTO 6", []byte("\x80\x06N."), zeo.ErrUnsupported},
		{"BINPERSID", p3("K\x01Q"), zeo.ErrUnsupported},
		{"STRING", []byte("S'a'\n."), zeo.ErrUnsupported},
		{"EXT1", p3("\x82\x01"), zeo.ErrUnsupported},
		{"EMPTY_SET", []byte("\x80\x04\x8f."), zeo.ErrUnsupported},
		{"NEWOBJ_EX", []byte("\x80\x04\x92."), zeo.ErrUnsupported},
		{"unknown opcode", p3("\xff"), zeo.ErrUnsupported},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := c.Unmarshal(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%q) = %s, %v; want %v", tt.in, zeo.Repr(v), err, tt.want)
			}
			var de *zeo.DecodeError
			if !errors.As(err, &de) {
				t.Errorf("error %v is not a *DecodeError", err)
			}
		})
	}
}

func TestUnpickleLimits(t *testing.T) {
	tests := []struct {
		name string
		lim  zeo.Limits
		in   []byte
	}{
		{"values", zeo.Limits{MaxValues: 3}, p3("(NNNNt")},
		{"marks count", zeo.Limits{MaxValues: 3}, p3("((((")},
		{"memo gets count", zeo.Limits{MaxValues: 4}, p3("Nq\x00h\x00h\x00h\x00h\x00")},
		{"memo", zeo.Limits{MaxMemo: 2}, p3("Nq\x00q\x01q\x02")},
		{"tuple key too large", zeo.Limits{}, p3("}B\x00\x00\x10\x00" +
			strings.Repeat("a", 1<<20) + "q\x000h\x00h\x00\x86Ns")},
		// Integers past Python's 4300 digits: converting one of a few MiB
		// (to build an error message or a dict key) took seconds of CPU.
		{"LONG4 of 1 MiB", zeo.Limits{}, p3("\x8b\x00\x00\x10\x00" + strings.Repeat("\x01", 1<<20))},
		{"LONG4 just over", zeo.Limits{}, p3("\x8b\xfb\x06\x00\x00" + strings.Repeat("\x01", 1787))},
		{"text INT of 5000 digits", zeo.Limits{}, p3("I" + strings.Repeat("7", 5000) + "\n")},
		{"text LONG of 5000 digits", zeo.Limits{}, p3("L" + strings.Repeat("7", 5000) + "L\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := zeo.Codec{Encoding: zeo.Pickle, Limits: tt.lim}.Unmarshal(tt.in)
			if !errors.Is(err, zeo.ErrLimit) {
				t.Fatalf("got %v; want ErrLimit", err)
			}
		})
	}
}

// TestUnpickleLargestInts: integers up to the bounds (4300 decimal digits
// in binary, Python's own; a text argument's 4096 bytes) still decode.
func TestUnpickleLargestInts(t *testing.T) {
	for _, in := range [][]byte{
		p3("\x8b\xfa\x06\x00\x00" + strings.Repeat("\x01", 1786)),
		p3("I-" + strings.Repeat("7", 4000) + "\n"),
	} {
		if _, err := (zeo.Codec{Encoding: zeo.Pickle}).Unmarshal(in); err != nil {
			t.Errorf("%.20q…: %v", in, err)
		}
	}
}

// TestUnpickleSharedKeys checks that dict keys reached through the memo
// cannot make hashing cost more than the input allows.
func TestUnpickleSharedKeys(t *testing.T) {
	// A tuple doubles at each level through the memo: 40 levels would
	// make a 2^40-node key.
	var b strings.Builder
	b.WriteString("\x80\x03}N")
	for i := range 40 {
		b.WriteString("q" + string(rune(i)) + "h" + string(rune(i)) + "\x86")
	}
	b.WriteString("Ns.")
	_, err := zeo.Codec{Encoding: zeo.Pickle}.Unmarshal([]byte(b.String()))
	if !errors.Is(err, zeo.ErrLimit) {
		t.Fatalf("got %v; want ErrLimit", err)
	}
}

// TestUnpickleAliasesInput documents that bytes share the frame's memory
// but cannot grow into it.
func TestUnpickleAliasesInput(t *testing.T) {
	in := p3("C\x03abcK\x01\x86")
	v, err := zeo.Codec{Encoding: zeo.Pickle}.Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	b := v.(zeo.Tuple)[0].([]byte)
	if cap(b) != len(b) {
		t.Errorf("cap = %d; want %d so that append copies", cap(b), len(b))
	}
	_ = append(b, 'x')
	if string(in[4:7]) != "abc" || in[7] != 'K' {
		t.Errorf("append wrote into the input: %q", in)
	}
}
