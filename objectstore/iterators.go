package objectstore

import (
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// iterState is a server-side iterator: over transactions (start..stop,
// both inclusive) or over the records of one transaction.
type iterState struct {
	// Transaction iterators.
	next, stop TID
	done       bool
	last       *TxnInfo // the transaction returned last
	// Record iterators.
	records bool
	tid     TID
	oids    []OID
	pos     int
}

// maxIterators bounds the iterators one connection may keep open.
const maxIterators = 1000

func (c *conn) addIter(it *iterState) (any, error) {
	if len(c.iters) >= maxIterators {
		return nil, argErrorf("too many open iterators")
	}
	c.nextIter++
	c.iters[c.nextIter] = it
	return c.nextIter, nil
}

func (c *conn) iter(args zeo.Tuple) (int64, *iterState, error) {
	iid, err := argInt(args, 0, 0)
	if err != nil {
		return 0, nil, err
	}
	it, ok := c.iters[iid]
	if !ok {
		return 0, nil, zeo.NewException(zeo.ClassKeyError, iid)
	}
	return iid, it, nil
}

func (c *conn) iteratorStart(_ any, args zeo.Tuple) (any, error) {
	start, _, err := argTIDOrNone(args, 0)
	if err != nil {
		return nil, err
	}
	stop, ok, err := argTIDOrNone(args, 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		stop = c.st.db.LastTransaction() // transactions committed later are not included
	}
	return c.addIter(&iterState{next: start, stop: stop})
}

func (c *conn) iteratorNext(_ any, args zeo.Tuple) (any, error) {
	iid, it, err := c.iter(args)
	if err != nil {
		return nil, err
	}
	if it.records {
		return nil, argErrorf("iterator %d is a record iterator", iid)
	}
	var info TxnInfo
	var found bool
	if !it.done {
		err = c.st.db.Read(func(r *Reader) error {
			var err error
			info, found, err = r.NextTxn(it.next)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if !found || it.stop.Less(info.TID) {
		delete(c.iters, iid)
		return zeo.None{}, nil
	}
	it.next = laterThan(info.TID, info.TID)
	it.last = &info
	return zeo.Tuple{bytesOf(info.TID), string(rune(info.Status)), info.User, info.Description, extension(info.Extension)}, nil
}

func (c *conn) iteratorRecordStart(_ any, args zeo.Tuple) (any, error) {
	_, it, err := c.iter(args)
	if err != nil {
		return nil, err
	}
	tid, err := argTID(args, 1)
	if err != nil {
		return nil, err
	}
	if it.last == nil || it.last.TID != tid {
		return nil, zeo.NewException("builtins.Exception", "Out of sync with the transaction iterator")
	}
	return c.addIter(&iterState{records: true, tid: tid, oids: it.last.OIDs})
}

func (c *conn) iteratorRecordNext(_ any, args zeo.Tuple) (any, error) {
	iid, it, err := c.iter(args)
	if err != nil {
		return nil, err
	}
	if !it.records {
		return nil, argErrorf("iterator %d is a transaction iterator", iid)
	}
	if it.pos >= len(it.oids) {
		delete(c.iters, iid)
		return zeo.None{}, nil
	}
	oid := it.oids[it.pos]
	it.pos++
	var rec Record
	_ = c.st.db.Read(func(r *Reader) error { rec, _ = r.TxnRecord(oid, it.tid); return nil })
	var data any = zeo.None{}
	if !rec.NoData {
		data = rec.Data
	}
	var dataTxn any = zeo.None{}
	if rec.DataTxn != ZeroTID {
		dataTxn = bytesOf(rec.DataTxn)
	}
	return zeo.Tuple{bytesOf(oid), bytesOf(it.tid), data, dataTxn}, nil
}

func (c *conn) iteratorGC(_ any, args zeo.Tuple) (any, error) {
	ids, _ := zeo.AsTuple(arg(args, 0))
	for _, v := range ids {
		if n, ok := zeo.AsInt64(v); ok {
			delete(c.iters, n)
		}
	}
	return nil, nil
}
