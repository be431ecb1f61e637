// Object and transaction ids, shared by the server, the Go client and the
// benchmarks so that each has one definition.

package zeo

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"time"
)

// OID is an object id: 8 bytes, big-endian, as ZODB's p64 writes it. The
// root object is ZeroOID.
type OID [8]byte

// TID is a transaction id, and the serial of every record the transaction
// wrote: a ZODB TimeStamp (8 bytes, big-endian) that follows UTC time and
// strictly increases in commit order. ZeroTID means "no transaction".
type TID [8]byte

// ZeroOID is the root object's oid (ZODB's z64).
var ZeroOID OID

// ZeroTID is ZODB's z64 as a tid: no transaction, or "new object" as a
// store's serial.
var ZeroTID TID

// MaxTID is ZODB's maxtid, the tid that loadBefore uses for "latest".
var MaxTID = TIDFromUint64(math.MaxInt64)

// OIDFromUint64 returns the oid n.
func OIDFromUint64(n uint64) OID {
	var o OID
	binary.BigEndian.PutUint64(o[:], n)
	return o
}

// Uint64 returns the oid as a number.
func (o OID) Uint64() uint64 { return binary.BigEndian.Uint64(o[:]) }

// String returns the oid as 16 hex digits.
func (o OID) String() string { return hex.EncodeToString(o[:]) }

// TIDFromUint64 returns the tid n.
func TIDFromUint64(n uint64) TID {
	var t TID
	binary.BigEndian.PutUint64(t[:], n)
	return t
}

// Uint64 returns the tid as a number.
func (t TID) Uint64() uint64 { return binary.BigEndian.Uint64(t[:]) }

// String returns the tid as 16 hex digits.
func (t TID) String() string { return hex.EncodeToString(t[:]) }

// Less reports whether t is older than u.
func (t TID) Less(u TID) bool { return t.Uint64() < u.Uint64() }

// TimeStamp returns the tid for a moment, as persistent's TimeStamp does
// (zeo-protocol.md §6): the high 32 bits count minutes since 1900 with
// 31-day months, the low 32 bits are the seconds within the minute scaled
// by 2^32/60 and truncated.
func TimeStamp(t time.Time) TID {
	t = t.UTC()
	a := ((((uint64(t.Year())-1900)*12+uint64(t.Month())-1)*31+uint64(t.Day())-1)*24+uint64(t.Hour()))*60 + uint64(t.Minute())
	secs := float64(t.Second()) + float64(t.Nanosecond())/1e9
	b := uint64(secs * (1 << 32) / 60)
	return TIDFromUint64(a<<32 | b)
}

// Time returns the moment a tid stands for (UTC).
func (t TID) Time() time.Time {
	n := t.Uint64()
	a, b := n>>32, n&0xffffffff
	minute := int(a % 60)
	hour := int(a / 60 % 24)
	day := int(a/(60*24)%31) + 1
	month := time.Month(a/(60*24*31)%12 + 1)
	year := int(a/(60*24*31*12)) + 1900
	secs := float64(b) * 60 / (1 << 32)
	return time.Date(year, month, day, hour, minute, 0, 0, time.UTC).Add(time.Duration(secs * 1e9))
}

// Seconds returns the tid's time as float seconds since the Unix epoch,
// as TimeStamp.timeTime() does; history and undo logs report it.
func (t TID) Seconds() float64 {
	n := t.Uint64()
	a, b := n>>32, n&0xffffffff
	minute := int(a % 60)
	hour := int(a / 60 % 24)
	day := int(a/(60*24)%31) + 1
	month := time.Month(a/(60*24*31)%12 + 1)
	year := int(a/(60*24*31*12)) + 1900
	base := time.Date(year, month, day, hour, minute, 0, 0, time.UTC).Unix()
	return float64(base) + float64(b)*60/(1<<32)
}

// IsZero reports whether t is z64.
func (t TID) IsZero() bool { return t == TID{} }

// Bytes returns the id as a byte slice (the wire form).
func (o OID) Bytes() []byte { b := o; return b[:] }

// Bytes returns the id as a byte slice (the wire form).
func (t TID) Bytes() []byte { b := t; return b[:] }
