package zeo_test

import (
	"bytes"
	"math"
	"math/big"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// equal compares decoded values structurally: the Go types must match the
// value set (int64 vs *big.Int included), dict items compare in order.
func equal(a, b any) bool { return equalDepth(a, b, 0) }

func equalDepth(a, b any, depth int) bool {
	if depth > 5000 {
		return false
	}
	if zeo.IsNone(a) || zeo.IsNone(b) {
		return zeo.IsNone(a) && zeo.IsNone(b)
	}
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case zeo.Tuple:
		y, ok := b.(zeo.Tuple)
		return ok && equalSeq(x, y, depth)
	case *zeo.List:
		y, ok := b.(*zeo.List)
		return ok && equalSeq(x.Items, y.Items, depth)
	case *zeo.Dict:
		y, ok := b.(*zeo.Dict)
		return ok && equalDict(x, y, depth)
	case zeo.Global:
		y, ok := b.(zeo.Global)
		return ok && x == y
	case *zeo.Object:
		y, ok := b.(*zeo.Object)
		return ok && x.New == y.New && equalDepth(x.Class, y.Class, depth+1) &&
			equalSeq(x.Args, y.Args, depth) && equalSeq(x.ListItems, y.ListItems, depth) &&
			(x.DictItems == nil) == (y.DictItems == nil) &&
			(x.DictItems == nil || equalDict(x.DictItems, y.DictItems, depth)) &&
			(x.State == nil) == (y.State == nil) &&
			(x.State == nil || equalDepth(x.State, y.State, depth+1))
	}
	return false
}

func equalSeq(a, b []any, depth int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalDepth(a[i], b[i], depth+1) {
			return false
		}
	}
	return true
}

func equalDict(a, b *zeo.Dict, depth int) bool {
	if a.Len() != b.Len() {
		return false
	}
	var ka, kb []any
	for k, v := range a.All() {
		ka = append(ka, k, v)
	}
	for k, v := range b.All() {
		kb = append(kb, k, v)
	}
	return equalSeq(ka, kb, depth)
}

// tuplesOnly converts lists to tuples, as msgpack decoding does.
func tuplesOnly(v any) any {
	switch x := v.(type) {
	case zeo.Tuple:
		out := make(zeo.Tuple, len(x))
		for i, e := range x {
			out[i] = tuplesOnly(e)
		}
		return out
	case *zeo.List:
		return tuplesOnly(zeo.Tuple(x.Items))
	case *zeo.Dict:
		d := zeo.NewDict(x.Len())
		for k, v := range x.All() {
			if err := d.Set(tuplesOnly(k), tuplesOnly(v)); err != nil {
				panic(err)
			}
		}
		return d
	}
	return v
}

// dict builds a *Dict from alternating keys and values.
func dict(kv ...any) *zeo.Dict {
	d := zeo.NewDict(len(kv) / 2)
	for i := 0; i < len(kv); i += 2 {
		if err := d.Set(kv[i], kv[i+1]); err != nil {
			panic(err)
		}
	}
	return d
}

func list(items ...any) *zeo.List { return &zeo.List{Items: items} }

func bigInt(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic(s)
	}
	return b
}

func msgTuple(m zeo.Message) zeo.Tuple {
	return zeo.Tuple{m.ID, int64(m.Flag), m.Method, m.Args}
}
