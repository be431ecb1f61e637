package client

import (
	"errors"
	"fmt"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// Connection errors.
var (
	// ErrClosed is wrapped by every error of a call made on, or pending
	// when, the connection closed; the wrapping error says why it closed.
	ErrClosed = errors.New("client: connection closed")

	// ErrTxnDone is returned by Txn methods after Finish or Abort.
	ErrTxnDone = errors.New("client: transaction already finished or aborted")
)

// Errors a server reports, matched with errors.Is on a *ServerError.
var (
	// ErrNotFound: the oid does not exist, or not that revision
	// (POSKeyError).
	ErrNotFound = errors.New("client: object not found (POSKeyError)")

	// ErrNoRevision: loadBefore found the object, but no revision older
	// than the tid asked for (the server answered None).
	ErrNoRevision = errors.New("client: no revision before tid")

	// ErrReadOnly: a write on a read-only storage or connection
	// (ReadOnlyError).
	ErrReadOnly = errors.New("client: read-only (ReadOnlyError)")

	// ErrTxnState: a two-phase-commit call out of order
	// (StorageTransactionError).
	ErrTxnState = errors.New("client: transaction state (StorageTransactionError)")
)

// ServerError is an exception the server raised for a call.
type ServerError struct {
	Method    string
	Exception *zeo.Exception
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: %s: %s: %s", e.Method, e.Exception.Class, zeo.Repr(e.Exception.Args))
}

// Is matches the sentinels above by exception class.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Exception.Class == zeo.ClassPOSKeyError
	case ErrReadOnly:
		return e.Exception.Class == zeo.ClassReadOnlyError
	case ErrTxnState:
		return e.Exception.Class == zeo.ClassStorageTransactionError
	}
	return false
}

// ConflictError is a ConflictError or ReadConflictError the server
// raised: for a vote, a conflict the client cannot resolve by storing
// again (a failed checkCurrentSerialInTransaction, a stale delete).
type ConflictError struct {
	Method string
	Read   bool // ReadConflictError
	OID    OID
	// Committed is the serial now current; Serial the one the
	// transaction read or stored against.
	Committed, Serial TID
}

func (e *ConflictError) Error() string {
	kind := "conflict"
	if e.Read {
		kind = "read conflict"
	}
	return fmt.Sprintf("client: %s: %s on oid %s (committed %s, yours %s)", e.Method, kind, e.OID, e.Committed, e.Serial)
}

// remoteError turns an error reply into a Go error.
func remoteError(method string, exc *zeo.Exception) error {
	if c, ok := exc.Conflict(); ok {
		ce := &ConflictError{Method: method, Read: exc.Class == zeo.ClassReadConflictError}
		ce.OID, _ = as8(c.OID)
		ce.Committed, _ = as8(c.Committed)
		ce.Serial, _ = as8(c.Read)
		return ce
	}
	return &ServerError{Method: method, Exception: exc}
}
