package zeo_test

import (
	"errors"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestPlain(t *testing.T) {
	b := func(name string) zeo.Global { return zeo.Global{Module: "builtins", Name: name} }
	prefix := &zeo.Object{Class: zeo.Global{Module: "ZopeUndo.Prefix", Name: "Prefix"}, New: true, State: dict("length", int64(1))}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"dict from dict", &zeo.Object{Class: b("dict"), Args: zeo.Tuple{dict("a", int64(1))}}, dict("a", int64(1))},
		{"dict from pairs list", &zeo.Object{Class: b("dict"), Args: zeo.Tuple{list(list("a", int64(1)))}}, dict("a", int64(1))},
		{"dict()", &zeo.Object{Class: zeo.Global{Module: "__builtin__", Name: "dict"}}, dict()},
		{"dict with items", &zeo.Object{Class: b("dict"), DictItems: dict("x", int64(2))}, dict("x", int64(2))},
		{"list", &zeo.Object{Class: b("list"), Args: zeo.Tuple{zeo.Tuple{int64(1)}}}, list(int64(1))},
		{"tuple of dict keys", &zeo.Object{Class: b("tuple"), Args: zeo.Tuple{dict("k", nil)}}, zeo.Tuple{"k"}},
		{"bytes()", &zeo.Object{Class: b("bytes")}, []byte{}},
		{"bytearray", &zeo.Object{Class: b("bytearray"), Args: zeo.Tuple{[]byte("ab")}}, []byte("ab")},
		{"codecs", &zeo.Object{Class: zeo.Global{Module: "_codecs", Name: "encode"}, Args: zeo.Tuple{"\u00ff\u0001", "latin1"}}, []byte{0xff, 1}},
		{"codecs not latin1", &zeo.Object{Class: zeo.Global{Module: "_codecs", Name: "encode"}, Args: zeo.Tuple{"a", "utf-8"}},
			&zeo.Object{Class: zeo.Global{Module: "_codecs", Name: "encode"}, Args: zeo.Tuple{"a", "utf-8"}}},
		{"nested", zeo.Tuple{list(dict("e", &zeo.Object{Class: b("dict")}))}, zeo.Tuple{list(dict("e", dict()))}},
		{"other objects stay", prefix, prefix},
		{"bad pairs stay", &zeo.Object{Class: b("dict"), Args: zeo.Tuple{zeo.Tuple{int64(1)}}},
			&zeo.Object{Class: b("dict"), Args: zeo.Tuple{zeo.Tuple{int64(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := zeo.Plain(tt.in, zeo.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tt.want) {
				t.Errorf("Plain(%s) = %s; want %s", zeo.Repr(tt.in), zeo.Repr(got), zeo.Repr(tt.want))
			}
		})
	}
}

func TestPlainErrors(t *testing.T) {
	dag := any("x")
	for range 40 {
		dag = zeo.Tuple{dag, dag}
	}
	cyclic := &zeo.List{}
	cyclic.Items = append(cyclic.Items, cyclic)
	for _, v := range []any{dag, cyclic} {
		if _, err := zeo.Plain(v, zeo.Limits{MaxValues: 1 << 16}); !errors.Is(err, zeo.ErrLimit) {
			t.Errorf("Plain: %v; want ErrLimit", err)
		}
	}
	// A dict key that becomes a dict is unhashable.
	in := dict(&zeo.Object{Class: zeo.Global{Module: "builtins", Name: "dict"}}, int64(1))
	if _, err := zeo.Plain(in, zeo.Limits{}); !errors.Is(err, zeo.ErrUnhashable) {
		t.Errorf("Plain: %v; want ErrUnhashable", err)
	}
}
