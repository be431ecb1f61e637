package zeo

import (
	"fmt"
	"iter"
	"math"
	"math/big"
	"strconv"
)

// Dict is a Python dict: insertion-ordered, with Python's key equality
// (1, 1.0 and True are the same key; b"a" and "a" are not). The zero value
// is an empty dict. A Dict is not safe for concurrent mutation.
type Dict struct {
	items []dictItem
	index map[string]int // HashKey of a key → position in items
}

// dictItem is one key/value pair of a Dict.
type dictItem struct {
	Key, Value any
}

// NewDict returns an empty dict with room for n items.
func NewDict(n int) *Dict {
	return &Dict{items: make([]dictItem, 0, n), index: make(map[string]int, n)}
}

// Len returns the number of items.
func (d *Dict) Len() int { return len(d.items) }

// All yields the items in insertion order.
func (d *Dict) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		for _, it := range d.items {
			if !yield(it.Key, it.Value) {
				return
			}
		}
	}
}

// Get returns the value stored under key.
func (d *Dict) Get(key any) (any, bool) {
	h, err := HashKey(key)
	if err != nil {
		return nil, false
	}
	i, ok := d.index[h]
	if !ok {
		return nil, false
	}
	return d.items[i].Value, true
}

// Set stores value under key, replacing the value of an equal key in
// place as Python does. It returns ErrUnhashable for a key Python could not
// hash (a list or a dict), and ErrLimit for a tuple key too large to index.
func (d *Dict) Set(key, value any) error {
	h, err := HashKey(key)
	if err != nil {
		return err
	}
	d.setHashed(h, key, value)
	return nil
}

// SetString stores value under a str key; it cannot fail.
func (d *Dict) SetString(key string, value any) {
	d.setHashed(string(appendStrKey(nil, 's', key)), key, value)
}

func (d *Dict) setHashed(h string, key, value any) {
	if i, ok := d.index[h]; ok {
		d.items[i].Value = value // Python keeps the first key object
		return
	}
	if d.index == nil {
		d.index = make(map[string]int)
	}
	d.index[h] = len(d.items)
	d.items = append(d.items, dictItem{Key: key, Value: value})
}

// maxKeyBytes bounds the canonical form of one tuple key, and maxKeyDepth
// the nesting of tuple keys. A str or bytes key alone is not bounded: its
// cost is its own length.
const (
	maxKeyBytes = 1 << 20
	maxKeyDepth = 100
)

// HashKey returns a string that two values share exactly when Python
// would treat them as the same dict key. A Go ZEO client can use it to
// index pending calls by msgid, which may be a tuple. It fails with
// ErrUnhashable for lists and dicts, and with ErrLimit for a tuple whose
// canonical form would exceed 1 MiB or nest deeper than 100 tuples.
func HashKey(v any) (string, error) {
	total := math.MaxInt
	b, err := appendKey(nil, v, &total)
	return string(b), err
}

// appendKey appends v's canonical key and charges its size to total,
// which a decoder shares across all the keys of one message: values
// reached through the memo can repeat without costing input bytes.
func appendKey(dst []byte, v any, total *int) ([]byte, error) {
	k := keyBuilder{buf: dst, start: len(dst)}
	err := k.add(v, 0)
	if *total -= len(k.buf) - k.start; err == nil && *total < 0 {
		err = fmt.Errorf("%w: dict keys too large", ErrLimit)
	}
	return k.buf, err
}

type keyBuilder struct {
	buf   []byte
	start int // where this key began in buf
}

// room fails when n more bytes would push a tuple key past maxKeyBytes.
func (k *keyBuilder) room(n, depth int) error {
	if depth > 0 && len(k.buf)-k.start+n > maxKeyBytes {
		return fmt.Errorf("%w: tuple key longer than %d bytes", ErrLimit, maxKeyBytes)
	}
	return nil
}

func (k *keyBuilder) add(v any, depth int) error {
	if depth > maxKeyDepth {
		return fmt.Errorf("%w: tuple key nests deeper than %d", ErrLimit, maxKeyDepth)
	}
	if err := k.room(32, depth); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil, None:
		k.buf = append(k.buf, 'N')
	case bool:
		k.buf = append(k.buf, 'i', '0'+boolByte(x), ';')
	case int64:
		k.buf = append(strconv.AppendInt(append(k.buf, 'i'), x, 10), ';')
	case float64:
		k.buf = appendFloatKey(k.buf, x)
	case float32:
		k.buf = appendFloatKey(k.buf, float64(x))
	case string:
		return k.str('s', x, depth)
	case []byte:
		return k.str('b', string(x), depth)
	case Global:
		if err := k.room(len(x.Module)+len(x.Name)+32, depth); err != nil {
			return err
		}
		k.buf = appendStrKey(append(k.buf, 'g'), 's', x.Module)
		k.buf = appendStrKey(k.buf, 's', x.Name)
	case *Object:
		k.buf = fmt.Appendf(k.buf, "o%p;", x) // identity, as object.__hash__
	case Tuple:
		k.buf = strconv.AppendInt(append(k.buf, 't'), int64(len(x)), 10)
		k.buf = append(k.buf, ':')
		for _, e := range x {
			if err := k.add(e, depth+1); err != nil {
				return err
			}
		}
	case *List, List, *Dict:
		return fmt.Errorf("%w: %s", ErrUnhashable, typeName(v))
	default:
		b, ok := asBigInt(v)
		if !ok {
			return fmt.Errorf("%w: %T", ErrUnsupportedType, v)
		}
		if err := k.room(b.BitLen()/3+32, depth); err != nil {
			return err
		}
		k.buf = append(b.Append(append(k.buf, 'i'), 10), ';')
	}
	return nil
}

func (k *keyBuilder) str(kind byte, s string, depth int) error {
	if err := k.room(len(s)+32, depth); err != nil {
		return err
	}
	k.buf = appendStrKey(k.buf, kind, s)
	return nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func appendStrKey(dst []byte, kind byte, s string) []byte {
	dst = strconv.AppendInt(append(dst, kind), int64(len(s)), 10)
	return append(append(dst, ':'), s...)
}

// appendFloatKey gives integral floats the key of the equal int, as
// Python's hash(1.0) == hash(1) and 1.0 == 1 make them one key.
func appendFloatKey(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		if f >= -(1<<63) && f < 1<<63 {
			return append(strconv.AppendInt(append(dst, 'i'), int64(f), 10), ';')
		}
		i, _ := new(big.Float).SetFloat64(f).Int(nil)
		return append(i.Append(append(dst, 'i'), 10), ';')
	}
	return append(strconv.AppendFloat(append(dst, 'f'), f, 'g', -1, 64), ';')
}
