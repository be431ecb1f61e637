package zeo

import (
	"fmt"
)

// Exception classes that ZEO 5/6 clients rebuild (asyncio/client.py,
// exc_factories). Any other class name reaches the application as
// ZEO.Exceptions.ServerException(class, args).
const (
	ClassPOSKeyError             = "ZODB.POSException.POSKeyError"
	ClassConflictError           = "ZODB.POSException.ConflictError"
	ClassReadConflictError       = "ZODB.POSException.ReadConflictError"
	ClassBTreesConflictError     = "ZODB.POSException.BTreesConflictError"
	ClassReadOnlyError           = "ZODB.POSException.ReadOnlyError"
	ClassStorageTransactionError = "ZODB.POSException.StorageTransactionError"
	ClassMultipleUndoErrors      = "ZODB.POSException.MultipleUndoErrors"
	ClassKeyError                = "builtins.KeyError"
	ClassTypeError               = "builtins.TypeError"

	// ClassValueError is not rebuilt (the client sees ServerException),
	// but it is what ZEO raises for a bad register call.
	ClassValueError = "builtins.ValueError"
)

// Exception is a Python exception as an error reply carries it: the
// dotted class name and marshal.reduce_exception's payload, the instance's
// __dict__ (a *Dict) when it has attributes, else its args (a Tuple).
type Exception struct {
	Class string
	Args  any
}

// Error formats the exception like a Python traceback's last line.
func (e *Exception) Error() string {
	return "zeo: remote " + e.Class + ": " + Repr(e.Args)
}

// NewException returns an exception whose payload is its args.
func NewException(class string, args ...any) *Exception {
	return &Exception{Class: class, Args: Tuple(args)}
}

// ParseException reads the args of an error reply.
func ParseException(args any) (*Exception, error) {
	t, ok := AsTuple(args)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: error reply args %s are not (class, payload)", ErrBadMessage, Repr(args))
	}
	class, ok := t[0].(string)
	if !ok {
		return nil, fmt.Errorf("%w: exception class is a %s", ErrBadMessage, typeName(t[0]))
	}
	return &Exception{Class: class, Args: t[1]}, nil
}

// POSKeyError reports an unknown oid (or a missing revision or blob). A
// server must send it, never None, for an oid that was never stored.
func POSKeyError(oid []byte) *Exception {
	return NewException(ClassPOSKeyError, oid)
}

// ReadOnlyError reports a write to a read-only storage or connection.
func ReadOnlyError() *Exception { return NewException(ClassReadOnlyError) }

// StorageTransactionError reports a call for the wrong transaction or in
// the wrong state.
func StorageTransactionError(msg string) *Exception {
	return NewException(ClassStorageTransactionError, msg)
}

// Conflict is the state of a ZODB ConflictError or ReadConflictError.
// Committed and Read are the serials (tids): the revision now committed,
// and the one the transaction read or stored against.
type Conflict struct {
	Message   string // "" means Python's default message
	OID       []byte // nil means None
	ClassName string // "" means None
	Committed []byte // nil with Read nil means serials None
	Read      []byte
}

// ConflictError reports a write conflict. The payload is the instance
// __dict__ Python sends, keys in its order: message, oid, class_name,
// serials.
func ConflictError(c Conflict) *Exception {
	return conflictException(ClassConflictError, "database conflict error", c)
}

// ReadConflictError reports a failed checkCurrentSerialInTransaction.
func ReadConflictError(c Conflict) *Exception {
	return conflictException(ClassReadConflictError, "database read conflict error", c)
}

func conflictException(class, defaultMessage string, c Conflict) *Exception {
	msg := c.Message
	if msg == "" {
		msg = defaultMessage
	}
	d := NewDict(4)
	d.SetString("message", msg)
	d.SetString("oid", noneIfNil(c.OID))
	if c.ClassName == "" {
		d.SetString("class_name", None{})
	} else {
		d.SetString("class_name", c.ClassName)
	}
	if c.Committed == nil && c.Read == nil {
		d.SetString("serials", None{})
	} else {
		d.SetString("serials", Tuple{noneIfNil(c.Committed), noneIfNil(c.Read)})
	}
	return &Exception{Class: class, Args: d}
}

// Conflict returns the fields of a ConflictError or ReadConflictError
// payload; ok is false for other exceptions.
func (e *Exception) Conflict() (c Conflict, ok bool) {
	d, isDict := e.Args.(*Dict)
	if !isDict || (e.Class != ClassConflictError && e.Class != ClassReadConflictError) {
		return Conflict{}, false
	}
	get := func(k string) any { v, _ := d.Get(k); return v }
	c.Message, _ = AsString(get("message"))
	c.OID, _ = AsBytes(get("oid"))
	c.ClassName, _ = AsString(get("class_name"))
	if s, isTuple := get("serials").(Tuple); isTuple && len(s) == 2 {
		c.Committed, _ = AsBytes(s[0])
		c.Read, _ = AsBytes(s[1])
	}
	return c, true
}

// UndoFailure is one entry of MultipleUndoErrors: the oid that could not
// be undone and why.
type UndoFailure struct {
	OID    []byte
	Reason string
}

// MultipleUndoErrors reports failed undos; ZEO clients do not rebuild a
// plain UndoError. The payload mirrors the Python instance's __dict__,
// including its quirk: UndoError.__init__(self, *errs[0]) stores the first
// oid as _reason and the first reason as _oid.
func MultipleUndoErrors(errs []UndoFailure) *Exception {
	list := &List{Items: make([]any, len(errs))}
	for i, f := range errs {
		list.Items[i] = Tuple{f.OID, f.Reason}
	}
	d := NewDict(3)
	if len(errs) > 0 {
		d.SetString("_reason", errs[0].OID)
		d.SetString("_oid", errs[0].Reason)
	} else {
		d.SetString("_reason", None{})
		d.SetString("_oid", None{})
	}
	d.SetString("_errs", list)
	return &Exception{Class: ClassMultipleUndoErrors, Args: d}
}

func noneIfNil(b []byte) any {
	if b == nil {
		return None{}
	}
	return b
}
