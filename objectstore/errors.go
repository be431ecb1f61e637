package objectstore

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Open and Close.
var (
	// ErrSchema is returned by Open for a file written by a newer (or
	// foreign) schema.
	ErrSchema = errors.New("objectstore: unknown schema version")

	// ErrClosed is returned by every call on a closed store.
	ErrClosed = errors.New("objectstore: store closed")

	// ErrLogGap is returned by Open when the commit log does not continue
	// the data file.
	ErrLogGap = errors.New("objectstore: the commit log does not continue the data file")
)

// Errors returned by reads.
var (
	// ErrNoRevision is returned by LoadBefore when the object exists but
	// has no revision older than the given tid (ZEO answers None).
	ErrNoRevision = errors.New("objectstore: no revision before tid")
)

// Errors returned during two-phase commit.
var (
	// ErrTxnTooLarge is returned by Vote for a transaction whose data
	// passes 3 GiB, more than one commit log frame holds.
	ErrTxnTooLarge = errors.New("objectstore: transaction too large (over 3 GiB of data)")

	// ErrReadOnly is returned by Lock on a store opened read-only.
	ErrReadOnly = errors.New("objectstore: read-only")

	// ErrTIDOrder is returned by Vote for a restore whose explicit tid
	// is not newer than the last committed one.
	ErrTIDOrder = errors.New("objectstore: restored tid is not after the last transaction")

	// ErrTIDRange is returned by Vote for a restore whose explicit tid is
	// at or past ZODB's maxtid, and for any transaction once the last one
	// left no tid below it (roomAfter).
	ErrTIDRange = errors.New("objectstore: no transaction id left below ZODB's maxtid")

	// ErrFailed is returned by every commit after a write to the file
	// failed: the store stops accepting commits rather than guess what
	// reached the disk. Reopen it to recover.
	ErrFailed = errors.New("objectstore: an earlier commit failed to write; store is read-only until reopened")

	// ErrNotLocked is returned by Vote or Finish on a Commit that was
	// aborted or already finished.
	ErrNotLocked = errors.New("objectstore: commit is not active")
)

// KeyError reports an oid without data at the requested point (ZODB's
// POSKeyError): never stored, deleted, or without the named revision.
type KeyError struct {
	OID OID
	TID TID // the requested serial, or ZeroTID
}

func (e *KeyError) Error() string {
	if e.TID != ZeroTID {
		return fmt.Sprintf("objectstore: no record for oid %s at %s", e.OID, e.TID)
	}
	return "objectstore: no record for oid " + e.OID.String()
}

// ConflictError reports that a transaction's precondition on an object
// no longer holds: Committed is the object's current serial, Read the one
// the transaction expected. ReadOnly marks a failed
// checkCurrentSerialInTransaction (ZODB's ReadConflictError).
type ConflictError struct {
	OID       OID
	Committed TID
	Read      TID
	ReadOnly  bool
}

func (e *ConflictError) Error() string {
	kind := "conflict"
	if e.ReadOnly {
		kind = "read conflict"
	}
	return fmt.Sprintf("objectstore: %s on oid %s (committed %s, read %s)", kind, e.OID, e.Committed, e.Read)
}

// UndoError reports undos that cannot be applied: a later transaction
// changed the objects, and undoing would need conflict resolution, which
// only Python code can do.
type UndoError struct {
	Failures []UndoFailure
}

// UndoFailure is one object that could not be undone.
type UndoFailure struct {
	OID    OID
	Reason string
}

func (e *UndoError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.OID.String() + ": " + f.Reason
	}
	return "objectstore: undo failed: " + strings.Join(parts, "; ")
}
