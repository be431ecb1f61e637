package zeo_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestHashKeyEquality(t *testing.T) {
	obj := &zeo.Object{}
	same := [][]any{
		{int64(1), 1, uint8(1), true, 1.0, big.NewInt(1)},
		{int64(0), false, 0.0},
		{new(big.Int).Lsh(big.NewInt(1), 70), 1180591620717411303424.0},
		{zeo.Tuple{int64(1), "a"}, zeo.Tuple{true, "a"}},
		{nil, zeo.None{}},
		{obj, obj},
	}
	for _, group := range same {
		want, err := zeo.HashKey(group[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range group[1:] {
			if got, err := zeo.HashKey(v); err != nil || got != want {
				t.Errorf("HashKey(%s) = %q, %v; want %q like %s", zeo.Repr(v), got, err, want, zeo.Repr(group[0]))
			}
		}
	}
	different := []any{"a", []byte("a"), zeo.Tuple{"a"}, zeo.Tuple{zeo.Tuple{"a"}}, 1.5, int64(2),
		zeo.Global{Module: "a", Name: "b"}, &zeo.Object{}, zeo.Tuple{"ab", "c"}, zeo.Tuple{"a", "bc"}}
	seen := map[string]any{}
	for _, v := range different {
		h, err := zeo.HashKey(v)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[h]; ok {
			t.Errorf("%s and %s share the key %q", zeo.Repr(prev), zeo.Repr(v), h)
		}
		seen[h] = v
	}
	for _, v := range []any{list(), dict(), zeo.Tuple{list()}} {
		if _, err := zeo.HashKey(v); !errors.Is(err, zeo.ErrUnhashable) {
			t.Errorf("HashKey(%s): %v; want ErrUnhashable", zeo.Repr(v), err)
		}
	}
}

func TestDictSetGet(t *testing.T) {
	var d zeo.Dict // the zero value is usable
	if err := d.Set(int64(1), "one"); err != nil {
		t.Fatal(err)
	}
	d.SetString("k", "v")
	if err := d.Set(1.0, "uno"); err != nil { // Python: same key, first key object kept
		t.Fatal(err)
	}
	if d.Len() != 2 {
		t.Fatalf("Len() = %d; want 2", d.Len())
	}
	if v, ok := d.Get(true); !ok || v != "uno" {
		t.Errorf("Get(True) = %v, %v", v, ok)
	}
	if v, ok := d.Get("k"); !ok || v != "v" {
		t.Errorf("Get(k) = %v, %v", v, ok)
	}
	if _, ok := d.Get([]byte("k")); ok {
		t.Errorf("b'k' found a str key")
	}
	if _, ok := d.Get(list()); ok {
		t.Errorf("Get of an unhashable key found something")
	}
	var keys []any
	for k := range d.All() {
		keys = append(keys, k)
	}
	if !equal(zeo.Tuple(keys), zeo.Tuple{int64(1), "k"}) {
		t.Errorf("keys %s", zeo.Repr(zeo.Tuple(keys)))
	}
	if err := d.Set(list(), 1); !errors.Is(err, zeo.ErrUnhashable) {
		t.Errorf("Set(list): %v", err)
	}
}
