package zeo_test

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestPickleValues(t *testing.T) {
	g := zeo.Global{Module: "m", Name: "C"}
	tests := []struct {
		name string
		in   any
		want []byte
	}{
		{"nil", nil, p3("N")},
		{"int", 7, p3("K\x07")},
		{"int8", int8(-1), p3("J\xff\xff\xff\xff")},
		{"uint16", uint16(65535), p3("M\xff\xff")},
		{"int32 min", int32(math.MinInt32), p3("J\x00\x00\x00\x80")},
		{"uint32 max", uint32(math.MaxUint32), p3("\x8a\x05\xff\xff\xff\xff\x00")},
		{"int64 -2^31-1", int64(math.MinInt32 - 1), p3("\x8a\x05\xff\xff\xff\x7f\xff")},
		{"uint64 max", uint64(math.MaxUint64), p3("\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00")},
		{"big -128", big.NewInt(-128), p3("J\x80\xff\xff\xff")},
		{"big 2^64", new(big.Int).Lsh(big.NewInt(1), 64), p3("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01")},
		{"big -2^64", new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64)), p3("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xff")},
		{"float32", float32(0.5), p3("G?\xe0\x00\x00\x00\x00\x00\x00")},
		{"List value", zeo.List{Items: []any{1}}, p3("]K\x01a")},
		{"zero Dict", &zeo.Dict{}, p3("}")},
		{"Global", g, p3("cm\nC\n")},
		{"Object REDUCE", &zeo.Object{Class: g, Args: zeo.Tuple{1}}, p3("cm\nC\nK\x01\x85R")},
		{"Object NEWOBJ state", &zeo.Object{Class: g, New: true, State: zeo.None{}}, p3("cm\nC\n)\x81Nb")},
		{"Object items", &zeo.Object{Class: g, ListItems: []any{1}, DictItems: dict(1, 2)},
			p3("cm\nC\n)RK\x01aK\x01K\x02s")},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Marshal(%s) = %q; want %q", zeo.Repr(tt.in), got, tt.want)
			}
		})
	}
}

// TestPickleObjectBatches checks an Object's items follow CPython's
// iterator batching, where a last batch of one is a lone APPEND.
func TestPickleObjectBatches(t *testing.T) {
	items := make([]any, 1001)
	for i := range items {
		items[i] = zeo.None{}
	}
	b, err := zeo.Codec{Encoding: zeo.Pickle}.Marshal(&zeo.Object{Class: zeo.Global{Module: "m", Name: "C"}, ListItems: items})
	if err != nil {
		t.Fatal(err)
	}
	want := "cm\nC\n)R(" + string(bytes.Repeat([]byte("N"), 1000)) + "eNa"
	if string(b) != string(p3(want)) {
		t.Errorf("got %q", b[len(b)-10:])
	}
}

func TestMarshalErrors(t *testing.T) {
	deep := any(zeo.Tuple{})
	for range 50 {
		deep = zeo.Tuple{deep}
	}
	cyclic := &zeo.List{}
	cyclic.Items = append(cyclic.Items, cyclic)
	// Each level refers twice to the one below: 2^60 leaves.
	dag := any("x")
	for range 60 {
		dag = zeo.Tuple{dag, dag}
	}
	tests := []struct {
		name string
		lim  zeo.Limits
		in   any
		want error
	}{
		{"[]any", zeo.Limits{}, []any{1}, zeo.ErrUnsupportedType},
		{"map", zeo.Limits{}, map[string]any{}, zeo.ErrUnsupportedType},
		{"struct", zeo.Limits{}, struct{}{}, zeo.ErrUnsupportedType},
		{"nested unsupported", zeo.Limits{}, zeo.Tuple{1, zeo.Tuple{[]string{}}}, zeo.ErrUnsupportedType},
		{"depth", zeo.Limits{MaxDepth: 20}, deep, zeo.ErrLimit},
		{"cycle", zeo.Limits{}, cyclic, zeo.ErrLimit},
		{"shared parts", zeo.Limits{MaxEncoded: 1 << 20}, dag, zeo.ErrLimit},
		{"size", zeo.Limits{MaxEncoded: 100}, make([]byte, 200), zeo.ErrLimit},
	}
	for _, tt := range tests {
		for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
			t.Run(tt.name+"/"+enc.String(), func(t *testing.T) {
				_, err := zeo.Codec{Encoding: enc, Limits: tt.lim}.Marshal(tt.in)
				if !errors.Is(err, tt.want) {
					t.Errorf("got %v; want %v", err, tt.want)
				}
			})
		}
	}
	if _, err := (zeo.Codec{Encoding: 'X'}).Marshal(1); !errors.Is(err, zeo.ErrUnknownEncoding) {
		t.Errorf("unknown encoding: got %v", err)
	}
	if _, err := (zeo.Codec{}).Unmarshal([]byte("N.")); !errors.Is(err, zeo.ErrUnknownEncoding) {
		t.Errorf("zero encoding: got %v", err)
	}
}

// TestPickleRoundTrip encodes and decodes values of every kind.
func TestPickleRoundTrip(t *testing.T) {
	values := []any{
		zeo.None{}, true, false, int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64),
		bigInt("123456789012345678901234567890"), bigInt("-123456789012345678901234567890"),
		math.Inf(1), -0.0, 3.25, []byte{}, []byte("\x00\xff"), "", "\u2603",
		zeo.Tuple{}, zeo.Tuple{int64(1), zeo.Tuple{"a"}}, list(list(), dict()),
		dict(zeo.Tuple{int64(1), "x"}, list(int64(2)), []byte("k"), 1.5),
		zeo.Global{Module: "a.b", Name: "C"},
		&zeo.Object{Class: zeo.Global{Module: "a", Name: "B"}, Args: zeo.Tuple{int64(1)}, New: true,
			ListItems: []any{int64(2)}, DictItems: dict("k", "v"), State: dict("s", int64(3))},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, v := range values {
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", zeo.Repr(v), err)
		}
		got, err := c.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(%q): %v", b, err)
		}
		if !equal(got, v) {
			t.Errorf("round trip of %s gave %s", zeo.Repr(v), zeo.Repr(got))
		}
	}
}

func TestNilPointers(t *testing.T) {
	for _, v := range []any{(*zeo.List)(nil), (*zeo.Dict)(nil), (*zeo.Object)(nil), (*big.Int)(nil)} {
		for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
			if _, err := (zeo.Codec{Encoding: enc}).Marshal(zeo.Tuple{v}); !errors.Is(err, zeo.ErrUnsupportedType) {
				t.Errorf("%v Marshal(%T nil): %v; want ErrUnsupportedType", enc, v, err)
			}
		}
		_ = zeo.Repr(v)
		if _, err := zeo.Plain(v, zeo.Limits{}); err != nil {
			t.Errorf("Plain(%T nil): %v", v, err)
		}
	}
}
