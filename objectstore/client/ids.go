package client

import "github.com/cairnstack/cairn/objectstore/zeo"

// OID and TID are the wire package's ids (objectstore/zeo/ids.go).
type (
	OID = zeo.OID
	TID = zeo.TID
)

// MaxTID is ZODB's maxtid: loadBefore(oid, MaxTID) reads the current
// revision.
var MaxTID = zeo.MaxTID

// OIDFromUint64 returns the oid n.
func OIDFromUint64(n uint64) OID { return zeo.OIDFromUint64(n) }

// TIDFromUint64 returns the tid n.
func TIDFromUint64(n uint64) TID { return zeo.TIDFromUint64(n) }

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
