package objectstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Txn collects the writes of one transaction until Vote. It is not safe
// for concurrent use; the ZEO server keeps one per connection.
type Txn struct {
	// TID, when not zero, is the tid to commit under (a restore, as
	// copyTransactionsFrom sends); it must be newer than the last one.
	TID TID
	// Status is the transaction's status byte: ' ' normally, 'p' for a
	// packed transaction copied from another storage. Zero means ' '.
	Status byte
	// User, Description and Extension are the transaction's metadata;
	// Extension is the encoded (pickled) extension dict, stored as given.
	User, Description, Extension []byte
	// Tag is handed to Options.OnPublish (the committing connection).
	Tag any

	writes map[OID]*write
	order  []OID
	checks []check
	undos  []TID
}

type writeKind uint8

const (
	kindStore writeKind = iota
	kindDelete
	kindRestore
)

type write struct {
	kind   writeKind
	serial TID
	data   []byte
	noData bool
	blob   string // temporary blob file, moved into place at commit
}

type check struct {
	oid    OID
	serial TID
}

func (t *Txn) put(oid OID, w *write) {
	if t.writes == nil {
		t.writes = map[OID]*write{}
	}
	old, ok := t.writes[oid]
	if !ok {
		t.order = append(t.order, oid)
	}
	if ok && old.blob != "" && old.blob != w.blob {
		// The blob file of the store replaced: the transaction owns it,
		// and nothing else would remove it.
		os.Remove(old.blob)
	}
	t.writes[oid] = w
}

// Store writes data as the new revision of oid; serial is the revision
// the client read (ZeroTID for a new object). A later store of the same
// oid in the transaction replaces this one.
func (t *Txn) Store(oid OID, serial TID, data []byte) {
	t.put(oid, &write{kind: kindStore, serial: serial, data: data})
}

// StoreBlob is Store with a blob: the file at path (a temporary file in
// the blob directory) becomes the blob of the new revision at commit.
func (t *Txn) StoreBlob(oid OID, serial TID, data []byte, path string) {
	t.put(oid, &write{kind: kindStore, serial: serial, data: data, blob: path})
}

// Delete removes oid (IExternalGC's deleteObject): serial must be its
// current serial.
func (t *Txn) Delete(oid OID, serial TID) {
	t.put(oid, &write{kind: kindDelete, serial: serial, noData: true})
}

// Restore writes a record unchanged, without any conflict check (a copy
// from another storage). noData writes a deletion or undone creation.
func (t *Txn) Restore(oid OID, data []byte, noData bool) {
	t.put(oid, &write{kind: kindRestore, data: data, noData: noData})
}

// CheckCurrent requires oid's serial to still be serial at vote and until
// the commit (checkCurrentSerialInTransaction).
func (t *Txn) CheckCurrent(oid OID, serial TID) {
	t.checks = append(t.checks, check{oid, serial})
}

// Undo undoes the transaction tid within this transaction.
func (t *Txn) Undo(tid TID) { t.undos = append(t.undos, tid) }

// Blobs returns the temporary blob files the transaction holds, so that
// a caller can remove them after an abort.
func (t *Txn) Blobs() []string {
	var out []string
	for _, w := range t.writes {
		if w.blob != "" {
			out = append(out, w.blob)
		}
	}
	return out
}

// Data returns the data of the last store of oid, for conflict replies.
func (t *Txn) Data(oid OID) []byte {
	if w, ok := t.writes[oid]; ok {
		return w.data
	}
	return nil
}

// Empty reports whether the transaction writes nothing yet.
func (t *Txn) Empty() bool { return len(t.order) == 0 && len(t.undos) == 0 && len(t.checks) == 0 }

// TxnInfo is a committed transaction's metadata.
type TxnInfo struct {
	TID         TID
	Status      byte
	User        []byte
	Description []byte
	Extension   []byte // as given to the Txn
	OIDs        []OID  // the objects it wrote, in order
	Size        int64  // bytes of data it wrote
}

// encodeTxn writes a txns value: status, then user, description and
// extension each as uvarint length + bytes, then the data size, then the
// oid count and the oids.
func encodeTxn(t *TxnInfo) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(t.User)+len(t.Description)+len(t.Extension)+2*binary.MaxVarintLen64+8*len(t.OIDs))
	b = append(b, t.Status)
	for _, f := range [][]byte{t.User, t.Description, t.Extension} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendUvarint(b, uint64(t.Size))
	b = binary.AppendUvarint(b, uint64(len(t.OIDs)))
	for _, o := range t.OIDs {
		b = append(b, o[:]...)
	}
	return b
}

var errTxnRecord = errors.New("objectstore: corrupt transaction record")

func decodeTxn(tid TID, b []byte) (TxnInfo, error) {
	t := TxnInfo{TID: tid}
	if len(b) < 1 {
		return t, errTxnRecord
	}
	t.Status, b = b[0], b[1:]
	fields := []*[]byte{&t.User, &t.Description, &t.Extension}
	for _, f := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return t, errTxnRecord
		}
		*f = append([]byte(nil), b[k:k+int(n)]...)
		b = b[k+int(n):]
	}
	size, k := binary.Uvarint(b)
	if k <= 0 {
		return t, errTxnRecord
	}
	t.Size, b = int64(size), b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) != 8*n {
		return t, fmt.Errorf("%w: %d oids in %d bytes", errTxnRecord, n, len(b)-k)
	}
	b = b[k:]
	t.OIDs = make([]OID, n)
	for i := range t.OIDs {
		copy(t.OIDs[i][:], b[8*i:])
	}
	return t, nil
}
