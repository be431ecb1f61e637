package objectstore

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// When checkpoints run (see wal.go): every Options.CheckpointInterval
// while the tail holds anything, or sooner once the active log file passes
// walCheckpointBytes. A tail larger than tailLimit (a big import that
// outruns the checkpointer) is checkpointed by the writer itself before
// it appends more, which bounds the memory the tail holds.
const (
	walCheckpointBytes = 32 << 20
	tailLimit          = 256 << 20
)

// recover reads the commit log at Open. A writable store writes the
// log's transactions that the bbolt file lacks into it and opens the log
// for appending; a read-only store keeps them in the tail.
func (db *DB) recover(path string) error {
	txns, gen, err := readWAL(path, db.logSeed)
	if err != nil {
		return err
	}
	base := db.visible
	n := 0
	for _, t := range txns {
		if base.Less(t.info.TID) {
			txns[n] = t
			n++
		}
	}
	txns = txns[:n]
	prev := base
	for _, t := range txns {
		if t.prev != prev {
			return fmt.Errorf("%w: %s.wal-*: transaction %s follows %s, but the data file's last transaction is %s (a data file older than its log, restored from a backup?); put the data file that goes with this log back, or move the .wal files away to open the data file as it is, without the log's transactions", ErrLogGap, path, t.info.TID, t.prev, prev)
		}
		prev = t.info.TID
	}
	if len(txns) > 0 {
		db.opts.Logger.Info("objectstore: recovering from the commit log", "path", path, "transactions", len(txns))
	}
	if db.opts.ReadOnly {
		err := db.bolt.View(func(tx *bolt.Tx) error {
			current := tx.Bucket(bucketCurrent)
			seen := map[OID]bool{}
			for _, t := range txns {
				for _, r := range t.records {
					if !seen[r.OID] && current.Get(r.OID[:]) == nil {
						t.newObjects++
					}
					seen[r.OID] = true
					db.noteOID(r.OID)
				}
				db.tail.add(t)
				db.objects += t.newObjects
				db.visible = t.info.TID
			}
			return nil
		})
		return err
	}
	if len(txns) > 0 {
		if _, err := db.writeTxns(txns); err != nil {
			return fmt.Errorf("objectstore: recovering %s: %w", path, err)
		}
		if err := db.init(); err != nil { // reload last tid, next oid and counters
			return err
		}
	}
	db.wal, err = openWAL(path, db.logSeed, gen, db.opts.NoSync)
	return err
}

// writeTxns writes txns into the bbolt file in one bbolt transaction and
// returns the file's size after it.
func (db *DB) writeTxns(txns []*tailTxn) (size int64, err error) {
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		for _, t := range txns {
			if err := writeTxn(tx, t); err != nil {
				return err
			}
		}
		size = tx.Size()
		return nil
	})
	return size, err
}

// checkpointer runs checkpoints in the background until Close.
func (db *DB) checkpointer() {
	defer close(db.ckDone)
	var tick <-chan time.Time
	if d := db.opts.CheckpointInterval; d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-db.ckWake:
		case <-tick:
		case <-db.ckStop:
			return
		}
		db.checkpoint()
	}
}

func (db *DB) wakeCheckpointer() {
	select {
	case db.ckWake <- struct{}{}:
	default:
	}
}

// tailBytes returns the data bytes the tail holds.
func (db *DB) tailBytes() int64 {
	db.vis.RLock()
	defer db.vis.RUnlock()
	return db.tail.bytes
}

// checkpoint writes the tail's transactions into the bbolt file (one bbolt
// transaction, with bbolt's fsyncs) and drops them from the tail. The log
// file they were appended to is free for reuse afterwards. After a write
// error the store refuses commits and checkpoints stop, so the log file
// that holds the unwritten transactions is never reused.
func (db *DB) checkpoint() error {
	db.ckMu.Lock()
	defer db.ckMu.Unlock()
	if err := db.Err(); err != nil {
		return err
	}
	db.walMu.Lock()
	db.vis.RLock()
	txns := db.tail.txns
	db.vis.RUnlock()
	if len(txns) == 0 {
		db.walMu.Unlock()
		return nil
	}
	db.wal.switchFile()
	db.walMu.Unlock()

	start := time.Now()
	size, err := db.writeTxns(txns)
	if err != nil {
		err = fmt.Errorf("objectstore: checkpoint through %s: %w", txns[len(txns)-1].info.TID, err)
		db.fail(err, nil)
		return err
	}
	db.vis.Lock()
	db.tail.dropThrough(txns[len(txns)-1].info.TID)
	db.fileSize = size
	db.checkpoints++
	db.checkpointTime += time.Since(start)
	db.vis.Unlock()
	db.walMu.Lock()
	err = db.wal.release()
	db.walMu.Unlock()
	return err
}
