package objectstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Commit is a held commit lock and the transaction being voted and
// finished under it. The lock is taken by Lock and released by Finish (as
// soon as the transaction is queued for writing, so the next voter can go
// on while it is written) or Abort. A Commit belongs to one goroutine.
type Commit struct {
	db     *DB
	locked bool

	// Set by Vote.
	txn     *Txn
	records []Record
	blobs   []blobMove
	undone  []OID
	undoSet *undoSet
	size    int64
	// newObjects counts the records of objects that had no revision.
	newObjects int64

	// Set by Finish and the writer.
	tid  TID
	done chan struct{}
	err  error

	// Waited is how long Lock waited; Held is set at Finish.
	Waited time.Duration
	lockAt time.Time
}

// blobMove is a blob file that becomes a revision's blob at commit: a
// temporary file to rename, or (undo) an older revision's blob to copy.
type blobMove struct {
	oid      OID
	src      string
	copyFrom TID
}

// Conflict is a store whose serial is no longer the object's current one,
// as the vote reports it for the client to resolve.
type Conflict struct {
	OID       OID
	Committed TID    // the current serial
	Read      TID    // the serial the store was based on
	Data      []byte // the data the client stored
}

// VoteResult is a successful vote's outcome.
type VoteResult struct {
	// Conflicts lists stores the client must resolve and store again
	// before voting again; the lock stays held. Empty means the
	// transaction is ready to finish.
	Conflicts []Conflict
	// Undone lists the objects that undos in the transaction changed.
	Undone []OID
}

// Lock takes the commit lock, waiting in arrival order behind the other
// voters, until ctx ends.
func (db *DB) Lock(ctx context.Context) (*Commit, error) {
	if db.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := db.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case db.commitLock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-db.stop:
		return nil, ErrClosed
	}
	now := time.Now()
	return &Commit{db: db, locked: true, Waited: now.Sub(start), lockAt: now}, nil
}

// TryLock takes the commit lock if it is free, and returns nil if it is
// not (or the store refuses commits: Lock then says why). A free lock
// means nobody is waiting for it, so this keeps the arrival order.
func (db *DB) TryLock() *Commit {
	if db.opts.ReadOnly || db.Err() != nil {
		return nil
	}
	select {
	case <-db.stop:
		return nil
	default:
	}
	select {
	case db.commitLock <- struct{}{}:
		return &Commit{db: db, locked: true, lockAt: time.Now()}
	default:
		return nil
	}
}

// Abort releases the lock if it is still held. It is safe to call more
// than once, and after Finish.
func (c *Commit) Abort() {
	if c.locked {
		c.locked = false
		<-c.db.commitLock
	}
}

// Locked reports whether c still holds the commit lock.
func (c *Commit) Locked() bool { return c.locked }

// Vote checks txn against the committed state under the lock and prepares
// its records. Stores whose serials are stale come back as Conflicts; the
// client resolves them, stores again and votes again with the same Commit.
// Failed read checks (*ConflictError with ReadOnly), stale deletes
// (*ConflictError), deletes of unknown objects (*KeyError) and undos that
// cannot be applied (*UndoError) are errors.
func (c *Commit) Vote(txn *Txn) (VoteResult, error) {
	if !c.locked {
		return VoteResult{}, ErrNotLocked
	}
	db := c.db
	db.mu.Lock()
	assigned := db.assigned
	db.mu.Unlock()
	switch {
	case txn.TID == ZeroTID && !roomAfter(assigned):
		return VoteResult{}, fmt.Errorf("%w: the last is %s", ErrTIDRange, assigned)
	case txn.TID == ZeroTID:
	case !txn.TID.Less(MaxTID):
		return VoteResult{}, fmt.Errorf("%w: restore at %s", ErrTIDRange, txn.TID)
	case !assigned.Less(txn.TID):
		return VoteResult{}, fmt.Errorf("%w: %s <= %s", ErrTIDOrder, txn.TID, assigned)
	}
	if len(txn.undos) > 0 {
		// Undo reads older revisions and blobs: let the writer catch up
		// so the published view is the whole committed state.
		db.mu.Lock()
		assigned := db.assigned
		db.mu.Unlock()
		db.WaitVisible(assigned)
	}
	c.txn, c.records, c.blobs, c.undone, c.undoSet, c.size, c.newObjects = txn, nil, nil, nil, nil, 0, 0
	var res VoteResult
	err := db.Read(func(r *Reader) error {
		serial := func(o OID) (TID, bool) {
			db.mu.Lock()
			t, ok := db.pending[o]
			db.mu.Unlock()
			if ok {
				return t, true
			}
			return r.Serial(o)
		}
		for _, ck := range txn.checks {
			if cur, _ := serial(ck.oid); cur != ck.serial {
				return &ConflictError{OID: ck.oid, Committed: cur, Read: ck.serial, ReadOnly: true}
			}
		}
		undone, err := c.prepareUndos(r, txn)
		if err != nil {
			return err
		}
		for _, oid := range txn.order {
			w := txn.writes[oid]
			cur, exists := serial(oid)
			switch w.kind {
			case kindDelete:
				if !exists {
					return &KeyError{OID: oid}
				}
				if cur != w.serial {
					return &ConflictError{OID: oid, Committed: cur, Read: w.serial}
				}
			case kindStore:
				if exists && cur != w.serial {
					res.Conflicts = append(res.Conflicts, Conflict{OID: oid, Committed: cur, Read: w.serial, Data: w.data})
					continue
				}
				if w.blob != "" {
					if _, err := os.Stat(w.blob); err != nil {
						return fmt.Errorf("objectstore: blob of oid %s: %w", oid, err)
					}
				}
			}
			if !exists {
				c.newObjects++
			}
			if _, ok := undone[oid]; ok {
				delete(undone, oid) // a later store of an undone oid wins
			}
			c.records = append(c.records, Record{OID: oid, Data: w.data, NoData: w.noData, Blob: w.blob != ""})
			c.size += int64(len(w.data))
			if w.blob != "" {
				c.blobs = append(c.blobs, blobMove{oid: oid, src: w.blob})
			}
		}
		for _, u := range c.undoRecords(undone) {
			c.records = append(c.records, u.rec)
			c.size += int64(len(u.rec.Data))
			if u.rec.Blob {
				c.blobs = append(c.blobs, blobMove{oid: u.rec.OID, copyFrom: u.blobFrom})
			}
			c.undone = append(c.undone, u.rec.OID)
		}
		return nil
	})
	if err != nil {
		return VoteResult{}, err
	}
	if len(res.Conflicts) > 0 {
		c.records, c.blobs, c.undone = nil, nil, nil
		return res, nil
	}
	// The commit log frame holds the metadata and every record's oid and
	// framing too: counted here, so that no frame outgrows its 32-bit
	// length (with max_frame raised, a huge description could).
	framed := c.size + int64(len(txn.User)+len(txn.Description)+len(txn.Extension)) + int64(len(c.records))*recordOverhead
	if framed > db.maxTxnBytes {
		c.records, c.blobs, c.undone = nil, nil, nil
		return VoteResult{}, ErrTxnTooLarge
	}
	if err := c.claimBlobs(txn); err != nil {
		c.records, c.blobs, c.undone = nil, nil, nil
		return VoteResult{}, err
	}
	res.Undone = c.undone
	return res, nil
}

// recordOverhead bounds what a record adds to its data in a commit log
// frame: its oid, length and encoding.
const recordOverhead = 64

// claimBlobs takes the transaction's blob files into the blob directory's
// tmp/ (blobstore.Dir.Claim) once its vote has passed: from then on only
// the storage's own disk can fail their move into place at commit. The
// transaction follows the files to their new names, so that an abort
// removes them there.
func (c *Commit) claimBlobs(txn *Txn) error {
	for i := range c.blobs {
		b := &c.blobs[i]
		if b.src == "" {
			continue
		}
		if c.db.opts.Blobs == nil {
			return errNoBlobs
		}
		claimed, err := c.db.opts.Blobs.Claim(b.src)
		if err != nil {
			return fmt.Errorf("objectstore: blob of oid %s: %w", b.oid, err)
		}
		b.src = claimed
		txn.writes[b.oid].blob = claimed
	}
	return nil
}

// Finish assigns the transaction's tid, queues it for the writer, releases
// the lock, and waits until the transaction is durable and published. It
// returns the tid.
func (c *Commit) Finish() (TID, error) {
	if !c.locked || c.txn == nil {
		return ZeroTID, ErrNotLocked
	}
	db := c.db
	db.mu.Lock()
	if db.failed != nil || db.writerGone {
		err := db.failed
		if err == nil {
			err = ErrClosed
		}
		db.mu.Unlock()
		c.Abort()
		return ZeroTID, err
	}
	tid := c.txn.TID
	if tid == ZeroTID {
		tid = laterThan(TimeStamp(db.opts.Now()), db.assigned)
	}
	c.tid = tid
	db.assigned = tid
	for i := range c.records {
		c.records[i].TID = tid
		db.pending[c.records[i].OID] = tid
		db.noteOID(c.records[i].OID)
	}
	c.done = make(chan struct{})
	db.queue = append(db.queue, c)
	// The first committer to find nobody writing writes the queue itself
	// (its own commit and whatever joins the batch), rather than handing
	// it to the writer goroutine and waiting to be woken: on a quiet
	// store that saves two goroutine switches per commit.
	lead := !db.writing && !isClosed(db.stop)
	if lead {
		db.writing = true
		db.leaders.Add(1)
	}
	wake := !lead && !db.writing
	db.mu.Unlock()
	if wake {
		db.wakeWriter()
	}
	c.Abort() // release the lock: the next voter sees our pending writes
	if lead {
		db.drain(c, false)
		db.leaders.Done()
	}
	<-c.done
	return tid, c.err
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (db *DB) wakeWriter() {
	select {
	case db.wake <- struct{}{}:
	default:
	}
}

// TID returns the tid Finish assigned.
func (c *Commit) TID() TID { return c.tid }

// Held returns how long the lock has been held so far.
func (c *Commit) Held() time.Duration { return time.Since(c.lockAt) }

// writer is the group-commit loop for commits no committer writes
// itself (see Finish): it writes every queued commit, up to MaxBatch per
// bbolt transaction with one fsync each, and publishes them in tid order.
// At Close it writes what is left and exits.
func (db *DB) writer() {
	defer close(db.done)
	for {
		stopping := false
		select {
		case <-db.wake:
		case <-db.stop:
			stopping = true
			// Finish no longer leads once stop is closed (it checks under
			// mu), so after this the running leaders are all counted.
			db.mu.Lock()
			db.mu.Unlock()
			db.leaders.Wait()
		}
		db.mu.Lock()
		if db.writing { // a leader writes; it wakes us if it leaves work
			db.mu.Unlock()
			continue
		}
		db.writing = true
		db.mu.Unlock()
		db.drain(nil, stopping)
		if stopping {
			return
		}
	}
}

// drain writes queued commits in batches until the queue is empty or,
// when own is set (a leading committer), until own is published; work
// left then goes to the writer goroutine. The caller has set db.writing,
// which drain clears. With stopping set, an empty queue also marks the
// writer gone, so that later commits are refused instead of queued.
func (db *DB) drain(own *Commit, stopping bool) {
	for {
		db.mu.Lock()
		n := min(len(db.queue), db.opts.MaxBatch)
		if n == 0 || (own != nil && isClosed(own.done)) {
			db.writing = false
			if n == 0 && stopping {
				db.writerGone = true
			}
			db.mu.Unlock()
			if n > 0 {
				db.wakeWriter()
			}
			return
		}
		batch := db.queue[:n:n]
		db.queue = db.queue[n:]
		db.mu.Unlock()
		db.writeBatch(batch)
	}
}

// writeBatch makes a batch durable in the commit log (one write, one
// fdatasync) and publishes it.
func (db *DB) writeBatch(batch []*Commit) {
	if db.tailBytes() > tailLimit {
		// Checkpoints fell behind (a huge import): write the tail into
		// the file before it grows further.
		db.checkpoint()
	}
	txns := make([]*tailTxn, len(batch))
	for i, c := range batch {
		txns[i] = c.tailTxn()
	}
	err := db.moveBlobs(batch)
	db.walMu.Lock()
	if err == nil {
		for _, t := range txns {
			t.prev, db.logLast = db.logLast, t.info.TID
		}
		err = db.wal.append(txns)
	}
	if err != nil {
		db.walMu.Unlock()
		db.fail(fmt.Errorf("objectstore: writing transaction %s: %w", batch[0].tid, err), batch)
		return
	}
	for i, c := range batch {
		db.publish(c, txns[i])
	}
	full := db.wal.bytes() > walCheckpointBytes
	db.walMu.Unlock()
	if full {
		db.wakeCheckpointer()
	}
}

// fail makes the store refuse every later commit after a write error, and
// fails the batch that met it and every queued commit.
func (db *DB) fail(err error, batch []*Commit) {
	db.opts.Logger.Error("commit failed; refusing further commits", "err", err)
	db.mu.Lock()
	if db.failed == nil {
		db.failed = err
	}
	rest := db.queue
	db.queue = nil
	db.mu.Unlock()
	for _, c := range append(batch, rest...) {
		c.err = ErrFailed
		close(c.done)
	}
	db.vis.Lock()
	close(db.visCh)
	db.visCh = make(chan struct{})
	db.vis.Unlock()
}

// tailTxn is the transaction as the log and the tail keep it.
func (c *Commit) tailTxn() *tailTxn {
	info := TxnInfo{TID: c.tid, Status: c.txn.Status, User: c.txn.User, Description: c.txn.Description, Extension: c.txn.Extension, Size: c.size}
	if info.Status == 0 {
		info.Status = ' '
	}
	info.OIDs = make([]OID, len(c.records))
	for i := range c.records {
		info.OIDs[i] = c.records[i].OID
	}
	return &tailTxn{info: info, records: c.records, newObjects: c.newObjects}
}

// moveBlobs puts the batch's blob files in place before the records that
// name them are written: a crash in between leaves an unreferenced file,
// never a record without its blob.
func (db *DB) moveBlobs(batch []*Commit) error {
	for _, c := range batch {
		for _, b := range c.blobs {
			if db.opts.Blobs == nil {
				return fmt.Errorf("objectstore: blob store without a blob directory")
			}
			var err error
			if b.src != "" {
				err = db.opts.Blobs.Commit(b.src, b.oid, c.tid)
			} else {
				err = db.opts.Blobs.CopyBlob(b.oid, b.copyFrom, c.tid)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// writeTxn writes one transaction into the bbolt file (a checkpoint or
// recovery).
func writeTxn(tx *bolt.Tx, t *tailTxn) error {
	records, current, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketCurrent), tx.Bucket(bucketMeta)
	count := getUint64(meta.Get(keyCount))
	for i := range t.records {
		rec := &t.records[i]
		if err := records.Put(recordKey(rec.OID, t.info.TID), encodeRecord(rec)); err != nil {
			return err
		}
		if current.Get(rec.OID[:]) == nil {
			count++
		}
		if err := current.Put(bytes.Clone(rec.OID[:]), bytes.Clone(t.info.TID[:])); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketTxns).Put(bytes.Clone(t.info.TID[:]), encodeTxn(&t.info)); err != nil {
		return err
	}
	if err := meta.Put(keyCount, putUint64(count)); err != nil {
		return err
	}
	return meta.Put(keyLast, bytes.Clone(t.info.TID[:]))
}

// publish makes a durable commit visible: readers see it from now on, and
// OnPublish runs before any reader can.
func (db *DB) publish(c *Commit, t *tailTxn) {
	db.vis.Lock()
	db.tail.add(t)
	db.objects += t.newObjects
	db.visible = c.tid
	close(db.visCh)
	db.visCh = make(chan struct{})
	db.mu.Lock()
	for _, o := range t.info.OIDs {
		if db.pending[o] == c.tid {
			delete(db.pending, o)
		}
	}
	db.mu.Unlock()
	if db.opts.OnPublish != nil {
		db.opts.OnPublish(Publication{TID: c.tid, OIDs: t.info.OIDs, Tag: c.txn.Tag, Objects: db.objects, Size: db.size()})
	}
	db.vis.Unlock()
	close(c.done)
}
