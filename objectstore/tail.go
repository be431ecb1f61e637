package objectstore

import (
	"cmp"
	"slices"
	"sort"
)

// tail holds the transactions that are durable in the commit log but not
// yet in the bbolt file, in tid order: every tid in it is newer than
// every tid in the file. Readers merge it with the file (the methods of
// Reader). It changes only under DB.vis held exclusively (publication
// adds, a checkpoint drops), so a Read sees it fixed.
type tail struct {
	txns  []*tailTxn
	revs  map[OID][]*Record // per object, oldest first
	bytes int64             // data bytes held
}

// tailTxn is one transaction in the tail.
type tailTxn struct {
	info TxnInfo
	// prev is the tid of the transaction before it, so that recovery can
	// check that the log continues the bbolt file.
	prev    TID
	records []Record
	// newObjects counts the records whose oid had no earlier revision.
	newObjects int64
}

func newTail() *tail { return &tail{revs: map[OID][]*Record{}} }

// add appends t, whose tid is newer than all others.
func (tl *tail) add(t *tailTxn) {
	tl.txns = append(tl.txns, t)
	for i := range t.records {
		r := &t.records[i]
		tl.revs[r.OID] = append(tl.revs[r.OID], r)
		tl.bytes += int64(len(r.Data))
	}
}

// dropThrough removes the transactions up to and including tid (they are
// in the bbolt file now).
func (tl *tail) dropThrough(tid TID) {
	n := sort.Search(len(tl.txns), func(i int) bool { return tid.Less(tl.txns[i].info.TID) })
	for _, t := range tl.txns[:n] {
		for i := range t.records {
			r := &t.records[i]
			revs := tl.revs[r.OID]
			k := 0
			for k < len(revs) && !tid.Less(revs[k].TID) {
				k++
			}
			if k == len(revs) {
				delete(tl.revs, r.OID)
			} else if k > 0 {
				tl.revs[r.OID] = slices.Clone(revs[k:])
			}
			tl.bytes -= int64(len(r.Data))
		}
	}
	clear(tl.txns[:n])
	tl.txns = tl.txns[n:]
	if len(tl.txns) == 0 {
		tl.txns = nil
	}
}

// visible narrows a tid-ordered slice to the entries a view sees: newer
// than its file (base) and not newer than its last tid.
func visible[T any](s []T, tid func(T) TID, base, last TID) []T {
	lo := sort.Search(len(s), func(i int) bool { return base.Less(tid(s[i])) })
	hi := sort.Search(len(s), func(i int) bool { return last.Less(tid(s[i])) })
	if hi < lo {
		return nil
	}
	return s[lo:hi]
}

func recTID(r *Record) TID  { return r.TID }
func txnTID(t *tailTxn) TID { return t.info.TID }
func (r *Reader) tailRevs(o OID) []*Record {
	return visible(r.tail.revs[o], recTID, r.base, r.last)
}
func (r *Reader) tailTxns() []*tailTxn {
	return visible(r.tail.txns, txnTID, r.base, r.last)
}

// tailRev returns the view's tail revision of o written by tid.
func (r *Reader) tailRev(o OID, tid TID) (*Record, bool) {
	revs := r.tailRevs(o)
	i := sort.Search(len(revs), func(i int) bool { return !revs[i].TID.Less(tid) })
	if i < len(revs) && revs[i].TID == tid {
		return revs[i], true
	}
	return nil, false
}

// tailTxnsFrom returns the view's tail transactions at or after tid.
func (r *Reader) tailTxnsFrom(tid TID) []*tailTxn {
	txns := r.tailTxns()
	return txns[sort.Search(len(txns), func(i int) bool { return !txns[i].info.TID.Less(tid) }):]
}

// tailTxn returns the view's tail transaction tid.
func (r *Reader) tailTxn(tid TID) (*tailTxn, bool) {
	if txns := r.tailTxnsFrom(tid); len(txns) > 0 && txns[0].info.TID == tid {
		return txns[0], true
	}
	return nil, false
}

// tailOIDs returns the objects at or after o that the view's tail
// changed, in oid order.
func (r *Reader) tailOIDs(from OID) []OID {
	var out []OID
	for _, t := range r.tailTxns() {
		for i := range t.records {
			if o := t.records[i].OID; o.Uint64() >= from.Uint64() {
				out = append(out, o)
			}
		}
	}
	slices.SortFunc(out, func(a, b OID) int { return cmp.Compare(a.Uint64(), b.Uint64()) })
	return slices.Compact(out)
}
