package client

import (
	"encoding/binary"
	"encoding/hex"
	"math"
)

// OID is an object id: 8 bytes, big-endian (ZODB's p64). The root object
// is the zero OID.
type OID [8]byte

// TID is a transaction id, also the serial of every record the
// transaction wrote. The zero TID means "no transaction" (z64).
type TID [8]byte

// MaxTID is ZODB's maxtid: loadBefore(oid, MaxTID) reads the current
// revision.
var MaxTID = TIDFromUint64(math.MaxInt64)

// OIDFromUint64 returns the oid n.
func OIDFromUint64(n uint64) OID {
	var o OID
	binary.BigEndian.PutUint64(o[:], n)
	return o
}

// Uint64 returns the oid as a number.
func (o OID) Uint64() uint64 { return binary.BigEndian.Uint64(o[:]) }

// String returns 16 hex digits.
func (o OID) String() string { return hex.EncodeToString(o[:]) }

// TIDFromUint64 returns the tid n.
func TIDFromUint64(n uint64) TID {
	var t TID
	binary.BigEndian.PutUint64(t[:], n)
	return t
}

// Uint64 returns the tid as a number.
func (t TID) Uint64() uint64 { return binary.BigEndian.Uint64(t[:]) }

// String returns 16 hex digits.
func (t TID) String() string { return hex.EncodeToString(t[:]) }

// IsZero reports whether t is z64.
func (t TID) IsZero() bool { return t == TID{} }

func (o OID) bytes() []byte { b := o; return b[:] }
func (t TID) bytes() []byte { b := t; return b[:] }

// as8 reads an 8-byte oid or tid from a decoded value.
func as8(v any) ([8]byte, bool) {
	var out [8]byte
	b, ok := v.([]byte)
	if !ok || len(b) != 8 {
		return out, false
	}
	copy(out[:], b)
	return out, true
}
