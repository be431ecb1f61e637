package objectstore

import (
	"bytes"
	"strings"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// matchSpec reports whether a transaction dict matches an undoInfo
// specification: every key of spec is in d with an equal value. Zope
// sends ZopeUndo.Prefix values, which match path prefixes.
func matchSpec(d, spec *zeo.Dict) bool {
	for k, want := range spec.All() {
		got, ok := d.Get(k)
		if !ok {
			return false
		}
		if p, isPrefix := prefixOf(want); isPrefix {
			if !p.match(got) {
				return false
			}
			continue
		}
		if !equalValues(got, want) {
			return false
		}
	}
	return true
}

func equalValues(a, b any) bool {
	ab, aok := asBytes(a)
	bb, bok := asBytes(b)
	if aok && bok {
		return bytes.Equal(ab, bb)
	}
	ha, err1 := zeo.HashKey(a)
	hb, err2 := zeo.HashKey(b)
	return err1 == nil && err2 == nil && ha == hb
}

// prefix is ZopeUndo.Prefix.Prefix: the first length '/'-separated
// segments must equal path.
type prefix struct {
	path   []string
	length int
}

func prefixOf(v any) (prefix, bool) {
	o, ok := v.(*zeo.Object)
	if !ok {
		return prefix{}, false
	}
	g, ok := o.Class.(zeo.Global)
	if !ok || g.Module != "ZopeUndo.Prefix" || g.Name != "Prefix" {
		return prefix{}, false
	}
	var p prefix
	if state, ok := o.State.(*zeo.Dict); ok {
		if l, ok := state.Get("length"); ok {
			n, _ := zeo.AsInt64(l)
			p.length = int(n)
		}
		if path, ok := state.Get("path"); ok {
			items, _ := zeo.AsTuple(path)
			for _, s := range items {
				b, _ := asBytes(s)
				p.path = append(p.path, string(b))
			}
		}
	} else if len(o.Args) == 1 { // Prefix(path) built by REDUCE
		b, _ := asBytes(o.Args[0])
		p.path = strings.Split(string(b), "/")
		p.length = len(p.path)
	}
	return p, true
}

// match is Prefix.__eq__: the user name logged after the last space of
// the last segment is ignored.
func (p prefix) match(v any) bool {
	b, ok := asBytes(v)
	if !ok {
		return false
	}
	other := strings.Split(string(b), "/")
	if last := other[len(other)-1]; strings.Contains(last, " ") {
		other[len(other)-1] = last[:strings.LastIndex(last, " ")]
	}
	n := p.length
	if n < 0 { // Python slices from the end (a hostile state; no panic)
		n = max(len(other)+n, 0)
	}
	if len(other) > n {
		other = other[:n]
	}
	if len(other) != len(p.path) {
		return false
	}
	for i := range other {
		if other[i] != p.path[i] {
			return false
		}
	}
	return true
}
