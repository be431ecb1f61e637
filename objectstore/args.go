package objectstore

import (
	"fmt"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// argError is a call whose arguments have the wrong number or type; a
// synchronous caller gets a TypeError, an asynchronous one is closed.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func argErrorf(format string, args ...any) error { return &argError{fmt.Sprintf(format, args...)} }

// arg returns args[i], or None past the end (optional arguments).
func arg(args zeo.Tuple, i int) any {
	if i < len(args) {
		return args[i]
	}
	return zeo.None{}
}

func need(args zeo.Tuple, n int) error {
	if len(args) < n {
		return argErrorf("expected at least %d arguments, got %d", n, len(args))
	}
	return nil
}

// arg8 reads an 8-byte oid or tid.
func arg8(args zeo.Tuple, i int) ([8]byte, error) {
	var out [8]byte
	b, ok := asBytes(arg(args, i))
	if !ok || len(b) != 8 {
		return out, argErrorf("argument %d: expected 8 bytes, got %s", i+1, zeo.Repr(arg(args, i)))
	}
	copy(out[:], b)
	return out, nil
}

func argOID(args zeo.Tuple, i int) (OID, error) { b, err := arg8(args, i); return OID(b), err }
func argTID(args zeo.Tuple, i int) (TID, error) { b, err := arg8(args, i); return TID(b), err }

// argTIDOrNone reads a tid that may be None (ZeroTID then).
func argTIDOrNone(args zeo.Tuple, i int) (TID, bool, error) {
	if zeo.IsNone(arg(args, i)) {
		return ZeroTID, false, nil
	}
	t, err := argTID(args, i)
	return t, true, err
}

// truthy is Python's truth value of a decoded argument: ClientStorage sends
// register's read_only flag as its caller gave it, often 1 rather than
// True.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case zeo.None:
		return false
	case []byte:
		return len(x) > 0
	case string:
		return len(x) > 0
	}
	if n, ok := zeo.AsInt64(v); ok {
		return n != 0
	}
	return true
}

// asBytes accepts bytes, and str as old clients send it.
func asBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		return []byte(x), true
	}
	return nil, false
}

func argBytes(args zeo.Tuple, i int) ([]byte, error) {
	b, ok := asBytes(arg(args, i))
	if !ok {
		return nil, argErrorf("argument %d: expected bytes, got %s", i+1, zeo.Repr(arg(args, i)))
	}
	return b, nil
}

// argInt reads an int, or def when the argument is absent.
func argInt(args zeo.Tuple, i int, def int64) (int64, error) {
	if i >= len(args) {
		return def, nil
	}
	n, ok := zeo.AsInt64(args[i])
	if _, isBool := args[i].(bool); !ok || isBool {
		return 0, argErrorf("argument %d: expected an int, got %s", i+1, zeo.Repr(args[i]))
	}
	return n, nil
}

// txnKey turns the client's transaction id (id(txn), often a big int)
// into a comparable key.
func txnKey(v any) string { return zeo.Repr(v) }
