package zeo

import (
	"math"
	"math/big"
)

// The value set. Decoders produce only these types; encoders accept them
// plus nil (None) and Go's other integer and float types:
//
//	Python            Go
//	None              None (nil when encoding)
//	bool              bool
//	int               int64, or *big.Int outside the int64 range
//	float             float64
//	bytes             []byte
//	str               string
//	tuple             Tuple
//	list              *List
//	dict              *Dict
//	a class or func   Global
//	an instance       *Object (REDUCE, NEWOBJ, OBJ/INST, then BUILD)
//
// Lists, dicts and objects are pointers because a pickle may change them
// after storing them in its memo; a decoded value can therefore share
// parts, or even contain itself. Walk decoded values with a depth limit.

// None is Python's None.
type None struct{}

// MarshalJSON writes None as JSON's null, as Python's json module does
// (the "ruok" status probe answers in JSON).
func (None) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// Tuple is a Python tuple. ZEO compares tuples (the loadBefore msgid and
// result, serials, interfaces), so they must never become lists.
type Tuple []any

// List is a Python list.
type List struct {
	Items []any
}

// Global is a reference to a Python class or function by module and name,
// as GLOBAL and STACK_GLOBAL carry it. Stock clients refuse any global that
// is not an exception class, so a server should not send one.
type Global struct {
	Module string
	Name   string
}

// Object is a Python object built by a pickle: Class called with Args
// (REDUCE, or OBJ/INST), or Class.__new__(Class, *Args) when New is set
// (NEWOBJ), then given list items (APPEND/APPENDS), dict items
// (SETITEM/SETITEMS) and a state (BUILD), in that order when encoded, as
// Python's __reduce_ex__ does for list and dict subclasses.
type Object struct {
	Class     any   // usually a Global
	Args      Tuple // arguments of the call
	New       bool  // NEWOBJ rather than REDUCE
	ListItems []any // items appended to the object; nil when none
	DictItems *Dict // items set on the object; nil when none
	State     any   // the BUILD state; nil when there was no BUILD
}

// isNilPointer reports whether v is a nil *List, *Dict, *Object or
// *big.Int, which no decoder produces and no encoder accepts.
func isNilPointer(v any) bool {
	switch x := v.(type) {
	case *List:
		return x == nil
	case *Dict:
		return x == nil
	case *Object:
		return x == nil
	case *big.Int:
		return x == nil
	}
	return false
}

// IsNone reports whether v is Python's None (None, or a nil interface).
func IsNone(v any) bool {
	switch v.(type) {
	case nil, None:
		return true
	}
	return false
}

// AsInt64 returns v as an int64 if it is a Python int that fits (bool
// excluded), or any Go integer type that fits.
func AsInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case *big.Int:
		if x != nil && x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

// asBigInt returns any integer value as a *big.Int.
func asBigInt(v any) (*big.Int, bool) {
	if b, ok := v.(*big.Int); ok {
		return b, b != nil
	}
	if u, ok := v.(uint64); ok {
		return new(big.Int).SetUint64(u), true
	}
	if u, ok := v.(uint); ok {
		return new(big.Int).SetUint64(uint64(u)), true
	}
	if i, ok := AsInt64(v); ok {
		return big.NewInt(i), true
	}
	return nil, false
}

// AsBytes returns v if it is Python bytes ([]byte).
func AsBytes(v any) ([]byte, bool) {
	b, ok := v.([]byte)
	return b, ok
}

// AsString returns v if it is a Python str (string).
func AsString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// AsTuple returns the items of a tuple, or of a list: Python's f(*args)
// accepts both, so method arguments may come as either.
func AsTuple(v any) (Tuple, bool) {
	switch x := v.(type) {
	case Tuple:
		return x, true
	case *List:
		if x != nil {
			return Tuple(x.Items), true
		}
	case List:
		return Tuple(x.Items), true
	}
	return nil, false
}
