package objectstore

import (
	"bytes"
)

// undoState is what an oid becomes when an undo in the transaction
// restores an older revision of it.
type undoState struct {
	rec      Record
	blobFrom TID // the revision whose blob the new revision copies
}

// undoSet collects the undo results of one vote in first-touch order.
type undoSet struct {
	byOID map[OID]*undoState
	order []OID
}

// prepareUndos computes what the transaction's undos write. Each undone
// transaction's records must still be current (or equal in content to the
// current revision), since resolving conflicts needs Python; an undo of a
// transaction that created an object writes an "undone creation" record.
func (c *Commit) prepareUndos(r *Reader, txn *Txn) (map[OID]*undoState, error) {
	set := undoSet{byOID: map[OID]*undoState{}}
	c.undoSet = &set
	var fails []UndoFailure
	for _, u := range txn.undos {
		info, ok, err := r.Txn(u)
		if err != nil {
			return nil, err
		}
		if !ok || info.Status == 'p' {
			fails = append(fails, UndoFailure{Reason: "Invalid undo transaction id"})
			continue
		}
		for _, oid := range info.OIDs {
			undone, ok := r.TxnRecord(oid, u)
			if !ok {
				continue
			}
			cur, hasCur := r.current(oid)
			if prev, ok := set.byOID[oid]; ok {
				cur, hasCur = prev.rec, true
			}
			if !hasCur || (cur.TID != u && !sameContent(cur, undone)) {
				fails = append(fails, UndoFailure{OID: oid, Reason: "Some data were modified by a later transaction"})
				continue
			}
			st := &undoState{rec: Record{OID: oid, NoData: true}}
			if prev, ok := r.before(oid, u); ok {
				st.rec = Record{OID: oid, Data: prev.Data, NoData: prev.NoData, Blob: prev.Blob, DataTxn: prev.TID}
				if prev.DataTxn != ZeroTID {
					st.rec.DataTxn = prev.DataTxn
				}
				if prev.NoData {
					st.rec.DataTxn = ZeroTID
				}
				st.blobFrom = prev.TID
			}
			st.rec.TID = u // the revision it replaces, for sameContent of later undos
			if _, seen := set.byOID[oid]; !seen {
				set.order = append(set.order, oid)
			}
			set.byOID[oid] = st
		}
	}
	if len(fails) > 0 {
		return nil, &UndoError{Failures: fails}
	}
	return set.byOID, nil
}

// undoRecords returns the undo results that no later store replaced, in
// the order they were first touched.
func (c *Commit) undoRecords(left map[OID]*undoState) []*undoState {
	if c.undoSet == nil {
		return nil
	}
	var out []*undoState
	for _, oid := range c.undoSet.order {
		if st, ok := left[oid]; ok {
			rec := st.rec
			rec.TID = ZeroTID
			out = append(out, &undoState{rec: rec, blobFrom: st.blobFrom})
		}
	}
	return out
}

func sameContent(a, b Record) bool {
	return a.NoData == b.NoData && bytes.Equal(a.Data, b.Data)
}

// UndoLog calls fn for the transactions that can be undone, newest first,
// until fn returns false. Packed transactions are not listed.
func (r *Reader) UndoLog(fn func(TxnInfo) bool) error {
	return r.TxnsBackward(func(t TxnInfo) bool {
		if t.Status == 'p' {
			return true
		}
		return fn(t)
	})
}
