package zeo

import (
	"fmt"
	"maps"
)

// Plain returns a copy of v in which the objects that stand for builtin
// values are replaced by those values:
//
//   - builtins.dict(...) and collections.OrderedDict(...), with their
//     REDUCE arguments (a dict or an iterable of pairs) and SETITEMS items,
//     become a *Dict. ZODB's tests send transaction extensions this way.
//   - builtins.list(...) becomes a *List, builtins.tuple(...) a Tuple.
//   - builtins.bytes() / bytearray(...) and _codecs.encode(s, "latin1")
//     (how Python 3 pickles bytes at protocol 2) become []byte.
//
// Python 2's module name __builtin__ counts as builtins. Other objects
// stay objects, with their parts made plain. A server stores plain values
// so that it never echoes a global back: stock clients refuse every global
// that is not an exception class. Plain fails with ErrLimit when v nests
// deeper than lim.MaxDepth or, counting shared parts once per use, holds
// more than lim.MaxValues values; with ErrUnhashable when a converted
// value lands in a dict key.
func Plain(v any, lim Limits) (any, error) {
	lim = lim.withDefaults()
	w := &plainer{lim: lim, budget: lim.MaxValues}
	return w.plain(v, 0)
}

type plainer struct {
	lim    Limits
	budget int
}

func (w *plainer) plain(v any, depth int) (any, error) {
	if depth > w.lim.MaxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrLimit, w.lim.MaxDepth)
	}
	if w.budget--; w.budget < 0 {
		return nil, fmt.Errorf("%w: more than %d values", ErrLimit, w.lim.MaxValues)
	}
	if isNilPointer(v) {
		return v, nil
	}
	switch x := v.(type) {
	case Tuple:
		return w.items(x, depth)
	case *List:
		items, err := w.items(x.Items, depth)
		return &List{Items: items}, err
	case List:
		items, err := w.items(x.Items, depth)
		return &List{Items: items}, err
	case *Dict:
		return w.dict(x, depth)
	case *Object:
		return w.object(x, depth)
	}
	return v, nil
}

func (w *plainer) items(in []any, depth int) (Tuple, error) {
	if in == nil {
		return nil, nil
	}
	out := make(Tuple, len(in))
	for i, e := range in {
		p, err := w.plain(e, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func (w *plainer) dict(in *Dict, depth int) (*Dict, error) {
	out := NewDict(in.Len())
	for k, v := range in.All() {
		pk, err := w.plain(k, depth+1)
		if err != nil {
			return nil, err
		}
		pv, err := w.plain(v, depth+1)
		if err != nil {
			return nil, err
		}
		if err := out.Set(pk, pv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// object makes an object's parts plain, then converts it if its class is
// one of the builtins above and its arguments have the expected shape.
func (w *plainer) object(o *Object, depth int) (any, error) {
	out := &Object{New: o.New}
	var err error
	if out.Class, err = w.plain(o.Class, depth+1); err != nil {
		return nil, err
	}
	if out.Args, err = w.items(o.Args, depth); err != nil {
		return nil, err
	}
	if out.ListItems, err = w.items(o.ListItems, depth); err != nil {
		return nil, err
	}
	if o.DictItems != nil {
		if out.DictItems, err = w.dict(o.DictItems, depth); err != nil {
			return nil, err
		}
	}
	if o.State != nil {
		if out.State, err = w.plain(o.State, depth+1); err != nil {
			return nil, err
		}
	}
	if v, ok, err := convertBuiltin(out); ok || err != nil {
		return v, err
	}
	return out, nil
}

func isBuiltin(class any, name string) bool {
	g, ok := class.(Global)
	return ok && (g.Module == "builtins" || g.Module == "__builtin__") && g.Name == name
}

// convertBuiltin converts an object whose parts are already plain.
func convertBuiltin(o *Object) (any, bool, error) {
	if o.State != nil {
		return nil, false, nil
	}
	g, _ := o.Class.(Global)
	switch {
	case isBuiltin(g, "dict") || g == (Global{"collections", "OrderedDict"}):
		return dictFrom(o)
	case len(o.ListItems) > 0 || o.DictItems != nil:
		return nil, false, nil
	case isBuiltin(g, "list") || isBuiltin(g, "tuple"):
		items, ok := iterable(o.Args)
		if !ok {
			return nil, false, nil
		}
		if g.Name == "list" {
			return &List{Items: items}, true, nil
		}
		return Tuple(items), true, nil
	case isBuiltin(g, "bytes") || isBuiltin(g, "bytearray") || g == (Global{"_codecs", "encode"}):
		b, ok := bytesFrom(o.Args)
		return b, ok, nil
	}
	return nil, false, nil
}

// iterable returns the items of a call's only argument, or none for a call
// without arguments.
func iterable(args Tuple) ([]any, bool) {
	switch len(args) {
	case 0:
		return []any{}, true
	case 1:
		if d, ok := args[0].(*Dict); ok {
			keys := make([]any, 0, d.Len())
			for k := range d.All() {
				keys = append(keys, k)
			}
			return keys, true
		}
		t, ok := AsTuple(args[0])
		return t, ok
	}
	return nil, false
}

// dictFrom builds dict(arg) plus the object's SETITEMS items.
func dictFrom(o *Object) (any, bool, error) {
	d := NewDict(0)
	switch {
	case len(o.Args) > 1 || len(o.ListItems) > 0:
		return nil, false, nil
	case len(o.Args) == 1:
		if src, ok := o.Args[0].(*Dict); ok {
			d.items = append(d.items, src.items...)
			d.index = maps.Clone(src.index)
			break
		}
		pairs, ok := AsTuple(o.Args[0])
		if !ok {
			return nil, false, nil
		}
		for _, p := range pairs {
			kv, ok := AsTuple(p)
			if !ok || len(kv) != 2 {
				return nil, false, nil
			}
			if err := d.Set(kv[0], kv[1]); err != nil {
				return nil, false, err
			}
		}
	}
	if o.DictItems != nil {
		for k, v := range o.DictItems.All() {
			if err := d.Set(k, v); err != nil {
				return nil, false, err
			}
		}
	}
	return d, true, nil
}

// bytesFrom evaluates bytes()/bytearray() calls and _codecs.encode(s,
// "latin1").
func bytesFrom(args Tuple) ([]byte, bool) {
	switch len(args) {
	case 0:
		return []byte{}, true
	case 1:
		b, ok := args[0].([]byte)
		return append([]byte{}, b...), ok
	case 2:
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1") {
			return nil, false
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, false
			}
			b = append(b, byte(r))
		}
		return b, true
	}
	return nil, false
}
