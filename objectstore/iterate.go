package objectstore

import (
	"bytes"
)

// Txn returns the metadata of the transaction tid, or false if this view
// has no such transaction.
func (r *Reader) Txn(tid TID) (TxnInfo, bool, error) {
	if !r.seen(tid) {
		return TxnInfo{}, false, nil
	}
	if t, ok := r.tailTxn(tid); ok {
		return t.info, true, nil
	}
	v := r.tx.Bucket(bucketTxns).Get(tid[:])
	if v == nil {
		return TxnInfo{}, false, nil
	}
	info, err := decodeTxn(tid, v)
	return info, err == nil, err
}

// NextTxn returns the oldest transaction at or after from that the view
// sees, or false when there is none.
func (r *Reader) NextTxn(from TID) (TxnInfo, bool, error) {
	k, v := r.tx.Bucket(bucketTxns).Cursor().Seek(from[:])
	if k == nil {
		if txns := r.tailTxnsFrom(from); len(txns) > 0 {
			return txns[0].info, true, nil
		}
		return TxnInfo{}, false, nil
	}
	var tid TID
	copy(tid[:], k)
	if !r.seen(tid) {
		return TxnInfo{}, false, nil
	}
	info, err := decodeTxn(tid, v)
	return info, err == nil, err
}

// TxnsBackward calls fn for the transactions the view sees, newest first,
// until fn returns false.
func (r *Reader) TxnsBackward(fn func(TxnInfo) bool) error {
	txns := r.tailTxns()
	for i := len(txns) - 1; i >= 0; i-- {
		if !fn(txns[i].info) {
			return nil
		}
	}
	c := r.tx.Bucket(bucketTxns).Cursor()
	limit := laterThan(r.last, r.last)
	for k, v := seekBefore(c, limit[:]); k != nil; k, v = c.Prev() {
		var tid TID
		copy(tid[:], k)
		info, err := decodeTxn(tid, v)
		if err != nil {
			return err
		}
		if !fn(info) {
			return nil
		}
	}
	return nil
}

// TxnRecord returns the record of oid written by tid, deletions and
// undone creations included (NoData).
func (r *Reader) TxnRecord(oid OID, tid TID) (Record, bool) {
	if !r.seen(tid) {
		return Record{}, false
	}
	if rec, ok := r.tailRev(oid, tid); ok {
		return *rec, true
	}
	k := recordKey(oid, tid)
	v := r.tx.Bucket(bucketRecords).Get(k)
	if v == nil {
		return Record{}, false
	}
	return decodeRecord(k, v), true
}

// before returns the newest revision of oid older than tid, deletions
// included.
func (r *Reader) before(oid OID, tid TID) (Record, bool) {
	revs := r.tailRevs(oid)
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].TID.Less(tid) {
			return *revs[i], true
		}
	}
	c := r.tx.Bucket(bucketRecords).Cursor()
	k, v := seekBefore(c, recordKey(oid, tid))
	if k == nil || !bytes.Equal(k[:8], oid[:]) {
		return Record{}, false
	}
	return decodeRecord(k, v), true
}
