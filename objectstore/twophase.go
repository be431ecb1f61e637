package objectstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// errTxnState is a two-phase-commit call out of order: for the wrong
// transaction, or before tpc_begin or vote.
var errTxnState = errors.New("objectstore: transaction state")

// txnState is a connection's open transaction (zeo-protocol.md §5). Its
// fields are guarded by conn.txMu.
type txnState struct {
	key    string // txnKey of the client's id(txn)
	txn    *Txn
	commit *Commit            // held commit lock, from the first vote on
	voted  bool               // the last vote passed: tpc_finish may come
	voting bool               // a vote goroutine is running
	cancel context.CancelFunc // cancels a vote waiting for the lock
	timer  *time.Timer        // transaction timeout while the lock is held
	begun  time.Time
}

func txnStateErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errTxnState}, args...)...)
}

// current returns the open transaction if key names it.
func (c *conn) current(key string) (*txnState, error) {
	if c.tx == nil {
		return nil, txnStateErr("no transaction in progress")
	}
	if c.tx.key != key {
		return nil, txnStateErr("wrong transaction %s (open: %s)", key, c.tx.key)
	}
	return c.tx, nil
}

func (c *conn) tpcBegin(_ any, args zeo.Tuple) (any, error) {
	if err := need(args, 4); err != nil {
		return nil, err
	}
	if c.readOnly {
		return nil, ErrReadOnly
	}
	key := txnKey(args[0])
	user, err := argBytes(args, 1)
	if err != nil {
		return nil, err
	}
	desc, err := argBytes(args, 2)
	if err != nil {
		return nil, err
	}
	ext, err := encodeExtension(args[3])
	if err != nil {
		return nil, err
	}
	txn := &Txn{User: user, Description: desc, Extension: ext}
	if !zeo.IsNone(arg(args, 4)) {
		if txn.TID, err = argTID(args, 4); err != nil {
			return nil, err
		}
		if s, ok := asBytes(arg(args, 5)); ok && len(s) == 1 {
			txn.Status = s[0]
		}
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if c.tx != nil {
		if c.tx.key == key {
			return nil, nil // ZEO ignores a repeated tpc_begin
		}
		return nil, txnStateErr("tpc_begin for %s while %s is in progress", key, c.tx.key)
	}
	c.tx = &txnState{key: key, txn: txn, begun: time.Now()}
	c.st.stats.active.Add(1)
	return nil, nil
}

// encodeExtension stores the extension dict as a plain pickle: dict
// subclasses with a custom reduce (zeo-protocol.md §2.2) become dicts.
func encodeExtension(v any) ([]byte, error) {
	if zeo.IsNone(v) {
		return nil, nil
	}
	p, err := zeo.Plain(v, zeo.Limits{})
	if err != nil {
		return nil, argErrorf("extension: %v", err)
	}
	d, ok := p.(*zeo.Dict)
	if !ok {
		return nil, argErrorf("extension is not a dict: %s", zeo.Repr(v))
	}
	if d.Len() == 0 {
		return nil, nil
	}
	return zeo.Codec{Encoding: zeo.Pickle}.Marshal(d)
}

// writable returns the open transaction for an asynchronous write call,
// refusing writes while a vote is running or after it passed.
func (c *conn) writable(key any) (*txnState, error) {
	st, err := c.current(txnKey(key))
	if err != nil {
		return nil, err
	}
	if st.voting || st.voted {
		return nil, txnStateErr("write after vote")
	}
	return st, nil
}

func (c *conn) storea(_ any, args zeo.Tuple) (any, error) {
	if err := need(args, 4); err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, _, err := argTIDOrNone(args, 1)
	if err != nil {
		return nil, err
	}
	data, err := argBytes(args, 2)
	if err != nil {
		return nil, err
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st, err := c.writable(args[3])
	if err != nil {
		return nil, err
	}
	st.txn.Store(oid, serial, data)
	c.st.stats.stores.Add(1)
	c.st.met.stores.Inc()
	return nil, nil
}

func (c *conn) deleteObject(_ any, args zeo.Tuple) (any, error) {
	return c.oidSerialCall(args, func(st *txnState, oid OID, serial TID) { st.txn.Delete(oid, serial) })
}

func (c *conn) checkCurrentSerial(_ any, args zeo.Tuple) (any, error) {
	return c.oidSerialCall(args, func(st *txnState, oid OID, serial TID) { st.txn.CheckCurrent(oid, serial) })
}

// oidSerialCall decodes the (oid, serial, transaction) arguments that
// deleteObject and checkCurrentSerialInTransaction share, and runs fn on
// the writable transaction under txMu.
func (c *conn) oidSerialCall(args zeo.Tuple, fn func(st *txnState, oid OID, serial TID)) (any, error) {
	if err := need(args, 3); err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1)
	if err != nil {
		return nil, err
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st, err := c.writable(args[2])
	if err != nil {
		return nil, err
	}
	fn(st, oid, serial)
	return nil, nil
}

func (c *conn) restorea(_ any, args zeo.Tuple) (any, error) {
	if err := need(args, 5); err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	var data []byte
	noData := zeo.IsNone(args[2])
	if !noData {
		if data, err = argBytes(args, 2); err != nil {
			return nil, err
		}
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st, err := c.writable(args[4])
	if err != nil {
		return nil, err
	}
	st.txn.Restore(oid, data, noData)
	return nil, nil
}

func (c *conn) undoa(_ any, args zeo.Tuple) (any, error) {
	if err := need(args, 2); err != nil {
		return nil, err
	}
	raw, err := argBytes(args, 0)
	if err != nil {
		return nil, err
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st, err := c.writable(args[1])
	if err != nil {
		return nil, err
	}
	tid, ok := parseUndoID(raw)
	if !ok {
		tid = MaxTID // no such transaction: the vote reports it
	}
	st.txn.Undo(tid)
	return nil, nil
}

// vote takes the commit lock and checks the transaction. When the lock
// is free, or already held by this transaction (a vote after conflicts),
// the vote runs here; otherwise in a goroutine that waits for the lock,
// so that the connection keeps serving loads meanwhile. Its reply is a
// list: the conflicts for the client to resolve (as dicts), or the undone
// oids.
func (c *conn) vote(id any, args zeo.Tuple) (any, error) {
	c.txMu.Lock()
	st, err := c.current(txnKey(arg(args, 0)))
	if err == nil && st.voting {
		err = txnStateErr("vote already in progress")
	}
	if err != nil {
		c.txMu.Unlock()
		return nil, err
	}
	st.voting, st.voted = true, false
	commit := st.commit
	if commit == nil {
		commit = c.st.db.TryLock()
	}
	if commit != nil {
		c.txMu.Unlock()
		c.runVote(context.Background(), st, id, commit, false)
		return nil, errNoReply
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer cancel()
		c.runVote(ctx, st, id, nil, true)
	}()
	c.txMu.Unlock()
	return nil, errNoReply
}

// runVote votes with commit, or first takes the lock when commit is nil.
// wake is false when it runs in the reading goroutine (see sendFrame).
func (c *conn) runVote(ctx context.Context, st *txnState, id any, commit *Commit, wake bool) {
	if commit == nil {
		c.st.stats.waiting.Add(1)
		var err error
		commit, err = c.st.db.Lock(ctx)
		c.st.stats.waiting.Add(-1)
		if err != nil {
			c.txMu.Lock()
			st.voting = false
			c.txMu.Unlock()
			if ctx.Err() == nil { // not aborted: tell the client
				c.send(zeo.ErrorReply(id, exception(err)), wake)
			}
			return
		}
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st.voting = false
	if c.tx != st || ctx.Err() != nil { // aborted while waiting
		if commit != st.commit {
			commit.Abort()
		}
		return
	}
	if st.commit == nil {
		c.st.met.lockWait.Observe(commit.Waited.Seconds())
		st.commit = commit
		if d := c.srv.cfg.transactionTimeout(); d > 0 {
			st.timer = time.AfterFunc(d, func() {
				c.log.Warn("transaction timed out; closing the connection", "timeout", d)
				c.close()
			})
		}
	}
	res, err := commit.Vote(st.txn)
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			c.st.stats.conflicts.Add(1)
			c.st.met.conflicts.Inc()
		}
		c.releaseLock(st)
		c.send(zeo.ErrorReply(id, exception(err)), wake)
		return
	}
	if len(res.Conflicts) > 0 {
		c.st.stats.conflicts.Add(int64(len(res.Conflicts)))
		c.st.met.conflicts.Add(float64(len(res.Conflicts)))
		list := &zeo.List{Items: make([]any, len(res.Conflicts))}
		for i, cf := range res.Conflicts {
			d := zeo.NewDict(3)
			d.SetString("oid", bytesOf(cf.OID))
			d.SetString("serials", zeo.Tuple{bytesOf(cf.Committed), bytesOf(cf.Read)})
			d.SetString("data", cf.Data)
			list.Items[i] = d
		}
		c.send(zeo.Reply(id, list), wake) // the lock stays held while the client resolves
		return
	}
	st.voted = true
	c.send(zeo.Reply(id, oidList(res.Undone)), wake)
}

// releaseLock gives the commit lock back (the transaction stays open).
func (c *conn) releaseLock(st *txnState) {
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	if st.commit != nil {
		st.commit.Abort()
		st.commit = nil
	}
	st.voted = false
}

// tpcFinish commits: publication queues the other connections'
// invalidations, then this connection's info and reply.
func (c *conn) tpcFinish(id any, args zeo.Tuple) (any, error) {
	c.txMu.Lock()
	st, err := c.current(txnKey(arg(args, 0)))
	if err == nil && !st.voted {
		err = txnStateErr("tpc_finish before a successful vote")
	}
	if err != nil {
		c.txMu.Unlock()
		return nil, err
	}
	c.tx = nil
	if st.timer != nil {
		st.timer.Stop()
	}
	c.txMu.Unlock()
	fin := &finishing{c: c, id: id}
	st.txn.Tag = fin
	start := time.Now()
	_, err = st.commit.Finish()
	for _, o := range fin.others {
		o.flush(false)
	}
	c.st.stats.active.Add(-1)
	if err != nil {
		c.removeBlobs(st)
		return nil, fatalError{err}
	}
	c.st.stats.commits.Add(1)
	c.st.met.commits.Inc()
	c.st.met.commitTime.Observe(time.Since(start).Seconds())
	return nil, errNoReply
}

func (c *conn) tpcAbort(_ any, args zeo.Tuple) (any, error) {
	c.txMu.Lock()
	ok := c.tx != nil && c.tx.key == txnKey(arg(args, 0))
	c.txMu.Unlock()
	if ok {
		c.abortTxn()
	}
	return zeo.None{}, nil
}

// abortTxn drops the open transaction: it cancels a waiting vote,
// releases the lock and removes temporary blob files.
func (c *conn) abortTxn() {
	c.txMu.Lock()
	st := c.tx
	c.tx = nil
	if st != nil {
		if st.cancel != nil {
			st.cancel()
		}
		c.releaseLock(st)
	}
	c.txMu.Unlock()
	if st != nil {
		c.st.stats.active.Add(-1)
		c.st.stats.aborts.Add(1)
		c.removeBlobs(st)
	}
}

func (c *conn) removeBlobs(st *txnState) {
	for _, p := range st.txn.Blobs() {
		os.Remove(p)
	}
}
