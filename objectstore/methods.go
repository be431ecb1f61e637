package objectstore

import (
	"encoding/base64"
	"errors"
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// handler serves one method. It returns the reply value, or errNoReply
// when it replied itself or will reply later.
type handler func(c *conn, id any, args zeo.Tuple) (any, error)

// methods are the calls a ZEO 5 client makes (zeo-protocol.md §3).
var methods map[string]handler

func init() {
	methods = map[string]handler{
		"register":         (*conn).register,
		"lastTransaction":  (*conn).lastTransaction,
		"getInvalidations": (*conn).getInvalidations,
		"get_info":         (*conn).getInfo,
		"ping":             func(*conn, any, zeo.Tuple) (any, error) { return zeo.None{}, nil },
		"set_client_label": (*conn).setClientLabel,
		"server_status":    (*conn).serverStatus,

		"loadBefore":      (*conn).loadBefore,
		"loadSerial":      (*conn).loadSerial,
		"getTid":          (*conn).getTid,
		"history":         (*conn).history,
		"record_iternext": (*conn).recordIternext,
		"new_oids":        (*conn).newOIDs,
		"new_oid":         (*conn).newOID,
		"sendBlob":        (*conn).sendBlob,

		"iterator_start":        (*conn).iteratorStart,
		"iterator_next":         (*conn).iteratorNext,
		"iterator_record_start": (*conn).iteratorRecordStart,
		"iterator_record_next":  (*conn).iteratorRecordNext,
		"iterator_gc":           (*conn).iteratorGC,

		"tpc_begin":                       (*conn).tpcBegin,
		"storea":                          (*conn).storea,
		"deleteObject":                    (*conn).deleteObject,
		"checkCurrentSerialInTransaction": (*conn).checkCurrentSerial,
		"restorea":                        (*conn).restorea,
		"undoa":                           (*conn).undoa,
		"storeBlobStart":                  (*conn).storeBlobStart,
		"storeBlobChunk":                  (*conn).storeBlobChunk,
		"storeBlobEnd":                    (*conn).storeBlobEnd,
		"storeBlobShared":                 (*conn).storeBlobShared,
		"vote":                            (*conn).vote,
		"tpc_finish":                      (*conn).tpcFinish,
		"tpc_abort":                       (*conn).tpcAbort,

		"undoLog":  (*conn).undoLog,
		"undoInfo": (*conn).undoInfo,
		"pack":     (*conn).pack,
	}
}

var errPackLater = errors.New("pack is not implemented yet: cairn-objectstore keeps all history (packing comes in a later issue)")

func (c *conn) register(id any, args zeo.Tuple) (any, error) {
	if c.st != nil {
		return nil, zeo.NewException(zeo.ClassValueError, "Already registered")
	}
	name, ok := arg(args, 0).(string)
	if !ok {
		if b, isBytes := arg(args, 0).([]byte); isBytes {
			name = string(b)
		} else {
			return nil, argErrorf("register: storage name must be a str")
		}
	}
	readOnly := truthy(arg(args, 1))
	st := c.srv.storage(name)
	if st == nil {
		return nil, zeo.NewException(zeo.ClassValueError, "unknown storage: "+name)
	}
	if !readOnly && st.readOnly {
		return nil, zeo.ReadOnlyError()
	}
	c.readOnly = readOnly || st.readOnly
	c.st = st
	last := c.st.register(c)
	c.log.Debug("registered", "storage", name, "read_only", readOnly)
	return bytesOf(last), nil
}

func (c *conn) lastTransaction(any, zeo.Tuple) (any, error) {
	return bytesOf(c.st.db.LastTransaction()), nil
}

func (c *conn) getInvalidations(_ any, args zeo.Tuple) (any, error) {
	tid, err := argTID(args, 0)
	if err != nil {
		return nil, err
	}
	last, oids, ok := c.st.invalidationsSince(tid)
	if !ok {
		return zeo.None{}, nil
	}
	return zeo.Tuple{bytesOf(last), oidList(oids)}, nil
}

func oidList(oids []OID) *zeo.List {
	l := &zeo.List{Items: make([]any, len(oids))}
	for i, o := range oids {
		l.Items[i] = bytesOf(o)
	}
	return l
}

func (c *conn) getInfo(any, zeo.Tuple) (any, error) {
	s := c.st.db.Stats()
	d := zeo.NewDict(6)
	d.SetString("length", s.Objects)
	d.SetString("size", s.Size)
	d.SetString("name", c.st.name)
	d.SetString("supportsUndo", true)
	d.SetString("supports_record_iternext", true)
	ifaces := zeo.Tuple{
		zeo.Tuple{"ZODB.interfaces", "IStorageRestoreable"},
		zeo.Tuple{"ZODB.interfaces", "IStorageIteration"},
		zeo.Tuple{"ZODB.interfaces", "IStorageUndoable"},
		zeo.Tuple{"ZODB.interfaces", "IStorageCurrentRecordIteration"},
		zeo.Tuple{"ZODB.interfaces", "IExternalGC"},
		zeo.Tuple{"ZODB.interfaces", "IStorage"},
		zeo.Tuple{"zope.interface", "Interface"},
	}
	if c.st.blobs != nil {
		ifaces = append(zeo.Tuple{
			zeo.Tuple{"ZODB.interfaces", "IBlobStorageRestoreable"},
			zeo.Tuple{"ZODB.interfaces", "IBlobStorage"},
		}, ifaces...)
	}
	d.SetString("interfaces", ifaces)
	return d, nil
}

func (c *conn) setClientLabel(_ any, args zeo.Tuple) (any, error) {
	if label, ok := arg(args, 0).(string); ok {
		c.log = c.log.With("label", label)
	}
	return nil, nil
}

func (c *conn) serverStatus(any, zeo.Tuple) (any, error) {
	d := zeo.NewDict(12)
	for k, v := range c.st.statusDict() {
		d.SetString(k, v)
	}
	return d, nil
}

// statusDict is server_status as ZEO reports it.
func (sto *storage) statusDict() map[string]any {
	s, st := sto.srv, sto.status()
	return map[string]any{
		"connections":             int64(st.Connections),
		"loads":                   st.Loads,
		"stores":                  st.Stores,
		"commits":                 st.Commits,
		"aborts":                  st.Aborts,
		"active_txns":             st.ActiveTxns,
		"conflicts":               st.Conflicts,
		"conflicts_resolved":      st.ConflictsResolved,
		"lock_time":               zeo.None{},
		"start":                   st.Start.Format(time.ANSIC),
		"waiting":                 st.Waiting,
		"timeout-thread-is-alive": s.cfg.TransactionTimeout.D() > 0,
		"last-transaction":        st.LastTransaction.String(),
	}
}

func (c *conn) loadBefore(id any, args zeo.Tuple) (any, error) {
	oid, tid, err := c.loadArgs(args)
	if err != nil {
		return nil, err
	}
	// Reply inside the read view: see DB.Read.
	_ = c.st.db.Read(func(r *Reader) error {
		rec, end, err := r.LoadBefore(oid, tid)
		switch {
		case errors.Is(err, ErrNoRevision):
			c.reply(id, zeo.None{})
		case err != nil:
			c.replyError(id, err)
		default:
			var endv any = zeo.None{}
			if end != ZeroTID {
				endv = bytesOf(end)
			}
			c.reply(id, zeo.Tuple{rec.Data, bytesOf(rec.TID), endv})
		}
		return nil
	})
	return nil, errNoReply
}

func (c *conn) loadSerial(_ any, args zeo.Tuple) (any, error) {
	oid, tid, err := c.loadArgs(args)
	if err != nil {
		return nil, err
	}
	c.st.db.WaitVisible(tid) // a vote may have named a tid still being written
	var data []byte
	err = c.st.db.Read(func(r *Reader) error {
		rec, err := r.LoadSerial(oid, tid)
		data = rec.Data
		return err
	})
	return data, err
}

func (c *conn) getTid(_ any, args zeo.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	var tid TID
	err = c.st.db.Read(func(r *Reader) error {
		rec, err := r.Load(oid)
		tid = rec.TID
		return err
	})
	return bytesOf(tid), err
}

// extension decodes a stored extension dict; an empty or unreadable one
// is an empty dict.
func extension(b []byte) *zeo.Dict {
	if len(b) > 0 {
		if v, err := (zeo.Codec{Encoding: zeo.Pickle}).Unmarshal(b); err == nil {
			if d, ok := v.(*zeo.Dict); ok {
				return d
			}
		}
	}
	return zeo.NewDict(0)
}

// txnDict is the dict history and undoLog report for a transaction: the
// given keys, then the extension's keys (which do not override them).
func txnDict(t TxnInfo, first ...any) *zeo.Dict {
	d := zeo.NewDict(len(first)/2 + 4)
	for i := 0; i+1 < len(first); i += 2 {
		d.SetString(first[i].(string), first[i+1])
	}
	d.SetString("time", t.TID.Seconds())
	d.SetString("user_name", t.User)
	d.SetString("description", t.Description)
	for k, v := range extension(t.Extension).All() {
		if _, ok := d.Get(k); !ok {
			_ = d.Set(k, v)
		}
	}
	return d
}

func (c *conn) history(_ any, args zeo.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	size, err := argInt(args, 1, 1)
	if err != nil {
		return nil, err
	}
	out := &zeo.List{}
	err = c.st.db.Read(func(r *Reader) error {
		var ierr error
		err := r.Revisions(oid, func(rec Record) bool {
			info, ok, err := r.Txn(rec.TID)
			if err != nil || !ok {
				ierr = err
				return err == nil
			}
			out.Items = append(out.Items, txnDict(info, "tid", bytesOf(rec.TID), "serial", bytesOf(rec.TID), "size", int64(len(rec.Data))))
			return int64(len(out.Items)) < size
		})
		if err != nil {
			return err
		}
		return ierr
	})
	return out, err
}

func (c *conn) recordIternext(_ any, args zeo.Tuple) (any, error) {
	var from OID
	if !zeo.IsNone(arg(args, 0)) {
		o, err := argOID(args, 0)
		if err != nil {
			return nil, err
		}
		from = o
	}
	var out any = zeo.None{}
	err := c.st.db.Read(func(r *Reader) error {
		rec, ok := r.NextCurrent(from)
		if !ok {
			return &KeyError{OID: from}
		}
		var next any = zeo.None{}
		if n, ok := r.NextCurrent(OIDFromUint64(rec.OID.Uint64() + 1)); ok && rec.OID.Uint64() != ^uint64(0) {
			next = bytesOf(n.OID)
		}
		out = zeo.Tuple{bytesOf(rec.OID), bytesOf(rec.TID), rec.Data, next}
		return nil
	})
	return out, err
}

func (c *conn) newOIDs(_ any, args zeo.Tuple) (any, error) {
	n, err := argInt(args, 0, 100)
	if err != nil {
		return nil, err
	}
	if c.readOnly {
		return nil, ErrReadOnly
	}
	n = max(1, min(n, 100))
	oids, err := c.st.db.NewOIDs(int(n))
	if err != nil {
		return nil, err
	}
	return oidList(oids), nil
}

func (c *conn) newOID(any, zeo.Tuple) (any, error) {
	if c.readOnly {
		return nil, ErrReadOnly
	}
	oids, err := c.st.db.NewOIDs(1)
	if err != nil {
		return nil, err
	}
	return bytesOf(oids[0]), nil
}

// undoID is FileStorage's undo id: base64 of the tid, newline stripped.
func undoID(t TID) []byte { return []byte(base64.StdEncoding.EncodeToString(t[:])) }

func parseUndoID(b []byte) (TID, bool) {
	raw, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(raw) != 8 {
		return ZeroTID, false
	}
	return TID(raw), true
}

func (c *conn) undoLog(_ any, args zeo.Tuple) (any, error) {
	return c.undoEntries(args, nil)
}

func (c *conn) undoInfo(_ any, args zeo.Tuple) (any, error) {
	spec, _ := arg(args, 2).(*zeo.Dict)
	return c.undoEntries(args, spec)
}

// undoEntries lists undoable transactions, newest first, from index first
// to last (exclusive; a negative last means -last entries), keeping those
// whose dicts match every item of spec.
func (c *conn) undoEntries(args zeo.Tuple, spec *zeo.Dict) (any, error) {
	first, err := argInt(args, 0, 0)
	if err != nil {
		return nil, err
	}
	last, err := argInt(args, 1, -20)
	if err != nil {
		return nil, err
	}
	if last < 0 {
		last = first - last
	}
	out := &zeo.List{}
	var i int64
	err = c.st.db.Read(func(r *Reader) error {
		return r.UndoLog(func(t TxnInfo) bool {
			if i >= last {
				return false
			}
			d := txnDict(t, "id", undoID(t.TID))
			if spec != nil && !matchSpec(d, spec) {
				return true
			}
			if i >= first {
				out.Items = append(out.Items, d)
			}
			i++
			return true
		})
	})
	return out, err
}

func (c *conn) pack(any, zeo.Tuple) (any, error) {
	// Logged here too: the client (Zope's ZMI) shows only a generic error
	// page, and the reason would reach no operator.
	c.log.Warn("pack refused: not implemented yet", "storage", c.st.name)
	return nil, errPackLater
}

// loadArgs decodes the (oid, tid) that loadBefore and loadSerial share and
// counts the load.
func (c *conn) loadArgs(args zeo.Tuple) (OID, TID, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return oid, TID{}, err
	}
	tid, err := argTID(args, 1)
	if err != nil {
		return oid, tid, err
	}
	c.st.stats.loads.Add(1)
	c.st.met.loads.Inc()
	return oid, tid, nil
}
