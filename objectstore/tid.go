package objectstore

import (
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// OID and TID are the wire package's ids (objectstore/zeo/ids.go): one
// definition for the server, the Go client and the benchmarks.
type (
	OID = zeo.OID
	TID = zeo.TID
)

// ZeroOID is the root object's oid (ZODB's z64).
var ZeroOID OID

// ZeroTID is ZODB's z64 as a tid: no transaction, or "new object" as a
// store's serial.
var ZeroTID TID

// MaxTID is ZODB's maxtid, the tid that loadBefore uses for "latest".
var MaxTID = zeo.MaxTID

// OIDFromUint64 returns the oid n.
func OIDFromUint64(n uint64) OID { return zeo.OIDFromUint64(n) }

// TIDFromUint64 returns the tid n.
func TIDFromUint64(n uint64) TID { return zeo.TIDFromUint64(n) }

// TimeStamp returns the tid for a moment (see zeo.TimeStamp).
func TimeStamp(t time.Time) TID { return zeo.TimeStamp(t) }

// laterThan returns t if it is newer than last, else the tid right after
// last. Past the last tick of a minute persistent's C code rolls over to
// the next minute with zero seconds, which the +1 reproduces except in the
// last moments of a month shorter than 31 days; those tids still increase.
func laterThan(t, last TID) TID {
	if last.Less(t) {
		return t
	}
	n := last.Uint64()
	if n&0xffffffff == 0xffffffff {
		return TIDFromUint64((n>>32 + 1) << 32)
	}
	return TIDFromUint64(n + 1)
}

// roomAfter reports whether a transaction may still follow last: its tid
// (laterThan) stays below ZODB's maxtid, which loadBefore asks "before"
// for the latest revision, so a tid at or past it would hide everything
// committed from then on. A tid past the last one would also wrap to
// zero, before all history. Only a restored tid can come this close.
func roomAfter(last TID) bool {
	next := laterThan(last, last)
	return last.Less(next) && next.Less(MaxTID)
}
