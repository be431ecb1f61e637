package objectstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cairnstack/cairn/blobstore"
)

// schemaVersion is written to meta/version; Open refuses other values.
const schemaVersion = "1"

// Bucket and key names (see the schema in doc.go).
var (
	bucketMeta    = []byte("meta")
	bucketCurrent = []byte("current")
	bucketRecords = []byte("records")
	bucketTxns    = []byte("txns")

	keyVersion = []byte("version")
	keyLast    = []byte("last")
	keyCount   = []byte("count")
	keyLogID   = []byte("logid")
	keyOIDs    = []byte("oids")
)

// oidReserve is how many oids beyond those asked for NewOIDs reserves in
// the file at a time (one small bbolt write per reservation).
const oidReserve = 1 << 16

// Options tune Open. A nil *Options means all defaults.
type Options struct {
	// ReadOnly opens the file read-only (shared lock) and refuses commits.
	ReadOnly bool

	// Blobs is the blob directory committed blob files move into. Nil:
	// blob stores are refused.
	Blobs *blobstore.Dir

	// OnPublish is called once per committed transaction, in tid order,
	// after the transaction is durable and while no read can run (see
	// Read): the moment it becomes visible. The ZEO server queues its
	// invalidations and the committer's reply here. It must not block or
	// call back into the store.
	OnPublish func(Publication)

	// MaxBatch bounds how many transactions one group commit writes
	// (with one fsync). Zero means 64.
	MaxBatch int

	// NoSync skips fsync (tests only: a crash can lose commits).
	NoSync bool

	// CheckpointInterval is how often the commit log's transactions are
	// written into the bbolt file (see wal.go). Zero means 1 second;
	// negative means only when the log grows large, and at Close.
	CheckpointInterval time.Duration

	// Now is the clock tids follow. Nil means time.Now.
	Now func() time.Time

	// Logger receives the store's few log lines. Nil discards.
	Logger *slog.Logger

	// LockTimeout bounds waiting for another process's lock on the file.
	// Zero means 5 seconds.
	LockTimeout time.Duration
}

// DB is an open object store: an MVCC, history-keeping ZODB storage in one
// bbolt file. All methods are safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	opts Options

	// commitLock is the storage's commit lock, a one-token semaphore:
	// waiting senders are served in arrival order.
	commitLock chan struct{}

	// vis orders reads against publication: Read holds it shared,
	// publication exclusively. visible is the newest published tid.
	vis     sync.RWMutex
	visible TID
	// visCh is closed (and replaced) at every publication.
	visCh chan struct{}
	// The fields from tail to checkpointTime change under vis held
	// exclusively: the transactions published but not yet checkpointed,
	// the object count, the bbolt file's size at the last checkpoint,
	// and the checkpoints' count and time.
	tail           *tail
	objects        int64
	fileSize       int64
	checkpoints    int64
	checkpointTime time.Duration

	// walMu serializes appends to the commit log and the checkpoint's
	// switch of log files; ckMu serializes checkpoints.
	walMu   sync.Mutex
	wal     *wal
	logLast TID    // tid of the newest transaction in the log (under walMu)
	logSeed uint32 // checksum of the file's log id (wal.go)
	// maxTxnBytes limits a transaction's data: the constant maxTxnBytes,
	// lowered by tests.
	maxTxnBytes int64
	ckMu        sync.Mutex
	ckWake      chan struct{}
	ckStop      chan struct{}
	ckDone      chan struct{}

	// mu guards the fields below: the state of committed but not yet
	// durable transactions, which votes must see.
	mu         sync.Mutex
	assigned   TID           // newest tid handed to a commit
	pending    map[OID]TID   // newest pending serial per oid
	nextOID    uint64        // lowest oid never handed out or stored
	oidMark    uint64        // oids below it may have been handed out (meta/oids; under oidMu)
	oidMu      sync.Mutex    // serializes NewOIDs, which writes oidMark to the file
	failed     error         // sticky write failure
	queue      []*Commit     // commits waiting for the writer
	wake       chan struct{} // signals the writer (capacity 1)
	stop       chan struct{} // closed by Close
	done       chan struct{} // closed when the writer exits
	closing    sync.Once
	writerGone bool // set when the writer has exited
	writing    bool // a committer (leader) or the writer goroutine is writing the queue

	leaders sync.WaitGroup // committers writing the queue themselves
}

// Open opens (creating if needed) the store at path.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("objectstore: open read-only: %w", err)
		}
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly, NoSync: o.NoSync, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("objectstore: open %s: %w", path, err)
	}
	db := &DB{
		bolt: b, opts: o,
		commitLock: make(chan struct{}, 1),
		visCh:      make(chan struct{}),
		tail:       newTail(),
		pending:    map[OID]TID{},
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		ckWake:     make(chan struct{}, 1),
		ckStop:     make(chan struct{}),
		ckDone:     make(chan struct{}),

		maxTxnBytes: maxTxnBytes,
	}
	if err := db.init(); err != nil {
		b.Close()
		return nil, err
	}
	if err := db.recover(path); err != nil {
		b.Close()
		return nil, err
	}
	db.assigned = db.visible
	db.logLast = db.visible
	go db.writer()
	if db.wal != nil {
		go db.checkpointer()
	} else {
		close(db.ckDone)
	}
	o.Logger.Info("objectstore opened", "path", path, "last", db.visible, "read_only", o.ReadOnly)
	return db, nil
}

// init creates the buckets of a new file, checks the schema of an old one
// and loads the last tid and the next oid.
func (db *DB) init() error {
	setup := func(tx *bolt.Tx) error {
		if tx.Writable() {
			for _, name := range [][]byte{bucketMeta, bucketCurrent, bucketRecords, bucketTxns} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			if meta.Get(keyVersion) == nil {
				if err := meta.Put(keyVersion, []byte(schemaVersion)); err != nil {
					return err
				}
			}
			if meta.Get(keyLogID) == nil {
				if err := meta.Put(keyLogID, putUint64(rand.Uint64())); err != nil {
					return err
				}
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketCurrent) == nil || tx.Bucket(bucketRecords) == nil || tx.Bucket(bucketTxns) == nil {
			return fmt.Errorf("%w: missing buckets", ErrSchema)
		}
		if v := meta.Get(keyVersion); string(v) != schemaVersion {
			return fmt.Errorf("%w: %q", ErrSchema, v)
		}
		if v := meta.Get(keyLast); len(v) == 8 {
			copy(db.visible[:], v)
		}
		db.objects = int64(getUint64(meta.Get(keyCount)))
		db.logSeed = logSeed(meta.Get(keyLogID))
		db.fileSize = tx.Size()
		if k, _ := tx.Bucket(bucketCurrent).Cursor().Last(); len(k) == 8 {
			db.nextOID = binary.BigEndian.Uint64(k) + 1
		}
		// Above every oid handed out before, stored or not: a client
		// holds the oids it was given across a restart of the server, and
		// one given again to another client made both commits conflict
		// (stock ZEO has the same weakness).
		db.oidMark = getUint64(meta.Get(keyOIDs))
		db.nextOID = max(db.nextOID, db.oidMark, 1)
		return nil
	}
	if db.opts.ReadOnly {
		return db.bolt.View(setup)
	}
	return db.bolt.Update(setup)
}

// Close waits for queued commits to be written, writes the commit log's
// transactions into the bbolt file, and closes both. It is safe to call
// more than once.
func (db *DB) Close() error {
	var err error
	db.closing.Do(func() {
		close(db.stop)
		<-db.done
		close(db.ckStop)
		<-db.ckDone
		var errs []error
		if db.wal != nil {
			if db.Err() == nil { // after a failure the log keeps what the file lacks
				if err := db.checkpoint(); err != nil {
					errs = append(errs, err)
				} else {
					errs = append(errs, db.wal.empty())
				}
			}
			errs = append(errs, db.wal.close())
		}
		errs = append(errs, db.bolt.Close())
		err = errors.Join(errs...)
	})
	return err
}

// Path returns the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// ReadOnly reports whether the store refuses commits.
func (db *DB) ReadOnly() bool { return db.opts.ReadOnly }

// Blobs returns the blob directory, or nil.
func (db *DB) Blobs() *blobstore.Dir { return db.opts.Blobs }

// Err returns the sticky write failure, if a commit failed to write.
func (db *DB) Err() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.failed
}

// LastTransaction returns the newest published tid (ZeroTID when empty).
func (db *DB) LastTransaction() TID {
	db.vis.RLock()
	defer db.vis.RUnlock()
	return db.visible
}

// NewOIDs hands out n fresh oids, above every oid ever stored or handed
// out, also before a restart: before any is handed out past the mark kept
// in the file, the mark is moved oidReserve past it, durably (not for a
// read-only store, where no oid can be used).
func (db *DB) NewOIDs(n int) ([]OID, error) {
	db.oidMu.Lock()
	defer db.oidMu.Unlock()
	db.mu.Lock()
	first := db.nextOID
	db.nextOID += uint64(n)
	end := db.nextOID
	db.mu.Unlock()
	if end > db.oidMark && !db.opts.ReadOnly {
		mark := end + oidReserve
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyOIDs, putUint64(mark))
		})
		if err != nil {
			return nil, fmt.Errorf("objectstore: reserving oids: %w", err)
		}
		db.oidMark = mark
	}
	out := make([]OID, n)
	for i := range out {
		out[i] = OIDFromUint64(first + uint64(i))
	}
	return out, nil
}

// noteOID keeps the oid counter above a stored oid.
func (db *DB) noteOID(o OID) {
	if n := o.Uint64(); n >= db.nextOID {
		db.nextOID = n + 1
	}
}

// WaitVisible blocks until tid is published, when it belongs to a commit
// that is being written (a conflicting voter may learn of a tid before it
// is durable and then ask for its data). It returns at once for other tids.
func (db *DB) WaitVisible(tid TID) {
	for {
		db.vis.RLock()
		vis, ch := db.visible, db.visCh
		db.vis.RUnlock()
		if !vis.Less(tid) {
			return
		}
		db.mu.Lock()
		assigned := db.assigned
		failed := db.failed
		db.mu.Unlock()
		if assigned.Less(tid) || failed != nil {
			return
		}
		select {
		case <-ch:
		case <-db.done:
			return
		}
	}
}

// Publication describes a transaction as it becomes visible.
type Publication struct {
	TID     TID
	OIDs    []OID // the objects it changed
	Tag     any   // the Txn's Tag
	Objects int64 // objects in the store after it
	Size    int64 // bytes of the file after it
}

// Stats are the store's counters, for get_info, server_status and metrics.
type Stats struct {
	Last    TID   // newest published tid
	Objects int64 // objects ever stored and not packed away (deleted ones included, as FileStorage counts)
	Size    int64 // bytes of the file, plus the data of logged transactions not yet in it
	// Logged counts the transactions in the commit log that are not yet
	// in the bbolt file; Checkpoints and CheckpointTime count the
	// checkpoints that wrote them there and the time they took.
	Logged         int
	Checkpoints    int64
	CheckpointTime time.Duration
}

// Stats returns a consistent copy of the counters.
func (db *DB) Stats() Stats {
	db.vis.RLock()
	defer db.vis.RUnlock()
	return Stats{Last: db.visible, Objects: db.objects, Size: db.size(),
		Logged: len(db.tail.txns), Checkpoints: db.checkpoints, CheckpointTime: db.checkpointTime}
}

// size is the bbolt file's size plus the data waiting in the tail (vis
// held).
func (db *DB) size() int64 { return db.fileSize + db.tail.bytes }

// Read runs fn with a read view of the published state. Publication waits
// while fn runs, so whatever fn queues (a reply) is queued before the
// invalidations of any transaction fn did not see.
func (db *DB) Read(fn func(r *Reader) error) error {
	db.vis.RLock()
	defer db.vis.RUnlock()
	return db.bolt.View(func(tx *bolt.Tx) error {
		r := &Reader{tx: tx, last: db.visible, tail: db.tail}
		copy(r.base[:], tx.Bucket(bucketMeta).Get(keyLast))
		return fn(r)
	})
}

// Reader is a read view: it sees the transactions up to Last, those in
// the bbolt file (up to base) and those after base in the tail. It is
// valid only inside the Read call that made it.
type Reader struct {
	tx   *bolt.Tx
	last TID
	base TID
	tail *tail
}

// Last returns the newest tid this view sees.
func (r *Reader) Last() TID { return r.last }

// Record is one revision of an object.
type Record struct {
	OID    OID
	TID    TID
	Data   []byte // nil when NoData
	NoData bool   // a deletion, or an undone creation
	Blob   bool   // a blob file belongs to this revision
	// DataTxn is, for a revision that reuses an older revision's data
	// (an undo), the tid of the transaction that wrote that data. It is
	// what FileStorage's back pointers report to iterators.
	DataTxn TID
}

func recordKey(o OID, t TID) []byte {
	k := make([]byte, 16)
	copy(k, o[:])
	copy(k[8:], t[:])
	return k
}

func decodeRecord(k, v []byte) Record {
	var r Record
	copy(r.OID[:], k[:8])
	copy(r.TID[:], k[8:16])
	if len(v) > 0 {
		r.NoData = v[0]&recNoData != 0
		r.Blob = v[0]&recBlob != 0
		v2 := v[1:]
		if v[0]&recDataTxn != 0 && len(v2) >= 8 {
			copy(r.DataTxn[:], v2)
			v2 = v2[8:]
		}
		if !r.NoData {
			r.Data = bytes.Clone(v2)
		}
	}
	return r
}

// Record flags, the first byte of a records value.
const (
	recNoData = 1 << 0
	recBlob   = 1 << 1
	// recDataTxn: 8 bytes of DataTxn follow the flags.
	recDataTxn = 1 << 2
)

func encodeRecord(r *Record) []byte {
	return appendRecord(make([]byte, 0, recordSize(r)), r)
}

// recordSize is the length of r's encoding.
func recordSize(r *Record) int {
	if r.DataTxn != ZeroTID {
		return 9 + len(r.Data)
	}
	return 1 + len(r.Data)
}

// appendRecord appends r's encoding (encodeRecord) to dst.
func appendRecord(dst []byte, r *Record) []byte {
	var flags byte
	if r.NoData {
		flags |= recNoData
	}
	if r.Blob {
		flags |= recBlob
	}
	if r.DataTxn != ZeroTID {
		return append(append(append(dst, flags|recDataTxn), r.DataTxn[:]...), r.Data...)
	}
	return append(append(dst, flags), r.Data...)
}

// visibleTID reads a tid value and hides it if it is newer than the view.
func (r *Reader) seen(t TID) bool { return !r.last.Less(t) }

// Serial returns the object's current serial in this view.
func (r *Reader) Serial(o OID) (TID, bool) {
	rec, ok := r.current(o)
	return rec.TID, ok
}

// current returns the newest revision of o that the view sees.
func (r *Reader) current(o OID) (Record, bool) {
	if revs := r.tailRevs(o); len(revs) > 0 {
		return *revs[len(revs)-1], true
	}
	c := r.tx.Bucket(bucketRecords).Cursor()
	k, v := seekBefore(c, recordKey(o, laterThan(r.last, r.last)))
	if k == nil || !bytes.Equal(k[:8], o[:]) {
		return Record{}, false
	}
	return decodeRecord(k, v), true
}

// seekBefore positions c at the last key below key.
func seekBefore(c *bolt.Cursor, key []byte) ([]byte, []byte) {
	k, _ := c.Seek(key)
	if k == nil {
		return c.Last()
	}
	return c.Prev()
}

// Load returns the current revision of o. A deleted object, or one never
// stored, is a *KeyError.
func (r *Reader) Load(o OID) (Record, error) {
	rec, ok := r.current(o)
	if !ok || rec.NoData {
		return Record{}, &KeyError{OID: o}
	}
	return rec, nil
}

// LoadBefore returns the newest revision of o older than tid, and the tid
// of the revision after it (ZeroTID when it is current in this view). An
// object never stored, or whose selected revision has no data, is a
// *KeyError; an object whose revisions are all at or after tid is
// ErrNoRevision.
func (r *Reader) LoadBefore(o OID, tid TID) (rec Record, end TID, err error) {
	limit := tid
	if r.last.Less(tid) {
		limit = laterThan(r.last, r.last)
	}
	revs := r.tailRevs(o)
	if i := sort.Search(len(revs), func(i int) bool { return !revs[i].TID.Less(limit) }); i > 0 {
		if revs[i-1].NoData {
			return Record{}, ZeroTID, &KeyError{OID: o, TID: tid}
		}
		if i < len(revs) {
			end = revs[i].TID
		}
		return *revs[i-1], end, nil
	}
	c := r.tx.Bucket(bucketRecords).Cursor()
	k, v := seekBefore(c, recordKey(o, limit))
	if k == nil || !bytes.Equal(k[:8], o[:]) {
		if first, _ := c.Seek(o[:]); len(revs) > 0 || first != nil && bytes.Equal(first[:8], o[:]) && r.seen(tidOf(first)) {
			return Record{}, ZeroTID, ErrNoRevision
		}
		return Record{}, ZeroTID, &KeyError{OID: o}
	}
	rec = decodeRecord(k, v)
	if rec.NoData {
		return Record{}, ZeroTID, &KeyError{OID: o, TID: tid}
	}
	if nk, _ := c.Next(); nk != nil && bytes.Equal(nk[:8], o[:]) && r.seen(tidOf(nk)) {
		end = tidOf(nk)
	} else if len(revs) > 0 {
		end = revs[0].TID
	}
	return rec, end, nil
}

func tidOf(k []byte) TID {
	var t TID
	copy(t[:], k[8:16])
	return t
}

// LoadSerial returns exactly the revision of o written by tid.
func (r *Reader) LoadSerial(o OID, tid TID) (Record, error) {
	rec, ok := r.TxnRecord(o, tid)
	if !ok || rec.NoData {
		return Record{}, &KeyError{OID: o, TID: tid}
	}
	return rec, nil
}

// Revisions calls fn for the revisions of o, newest first, until fn
// returns false. An object never stored is a *KeyError.
func (r *Reader) Revisions(o OID, fn func(Record) bool) error {
	revs := r.tailRevs(o)
	c := r.tx.Bucket(bucketRecords).Cursor()
	k, v := seekBefore(c, recordKey(o, laterThan(r.last, r.last)))
	inFile := k != nil && bytes.Equal(k[:8], o[:])
	if !inFile && len(revs) == 0 {
		return &KeyError{OID: o}
	}
	for i := len(revs) - 1; i >= 0; i-- {
		if !fn(*revs[i]) {
			return nil
		}
	}
	for ; inFile && k != nil && bytes.Equal(k[:8], o[:]); k, v = c.Prev() {
		if !fn(decodeRecord(k, v)) {
			return nil
		}
	}
	return nil
}

// NextCurrent returns the current revision of the first object at or
// after o that has data (record_iternext), and whether there is one.
func (r *Reader) NextCurrent(o OID) (Record, bool) {
	fromTail := r.tailOIDs(o)
	c := r.tx.Bucket(bucketCurrent).Cursor()
	k, _ := c.Seek(o[:])
	for k != nil || len(fromTail) > 0 {
		var oid OID
		switch {
		case k == nil:
			oid, fromTail = fromTail[0], fromTail[1:]
		case len(fromTail) > 0 && fromTail[0].Uint64() <= binary.BigEndian.Uint64(k):
			oid, fromTail = fromTail[0], fromTail[1:]
			if bytes.Equal(oid[:], k) {
				k, _ = c.Next()
			}
		default:
			copy(oid[:], k)
			k, _ = c.Next()
		}
		if rec, err := r.Load(oid); err == nil {
			return rec, true
		}
	}
	return Record{}, false
}

func getUint64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func putUint64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}
