package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cairnstack/cairn/blobstore"
)

// openTest opens a store in a temporary directory and checks its
// consistency when the test ends.
func openTest(t *testing.T, opts *Options) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
		if err := Check(path); err != nil {
			t.Errorf("consistency: %v", err)
		}
	})
	return db
}

// commit runs one whole transaction.
func commit(t testing.TB, db *DB, txn *Txn) TID {
	t.Helper()
	c, err := db.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Vote(txn)
	if err != nil {
		c.Abort()
		t.Fatal(err)
	}
	if len(res.Conflicts) > 0 {
		c.Abort()
		t.Fatalf("conflicts: %+v", res.Conflicts)
	}
	tid, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

func store(t *testing.T, db *DB, oid OID, serial TID, data string) TID {
	t.Helper()
	txn := &Txn{}
	txn.Store(oid, serial, []byte(data))
	return commit(t, db, txn)
}

func TestTimeStamp(t *testing.T) {
	at := time.Date(2024, 7, 29, 13, 45, 30, 500_000_000, time.UTC)
	tid := TimeStamp(at)
	// persistent.TimeStamp(2024, 7, 29, 13, 45, 30.5).raw().hex()
	if got, want := tid.String(), "03fa44f982222222"; got != want {
		t.Errorf("TimeStamp = %s; want %s", got, want)
	}
	if got := tid.Time(); got.Sub(at).Abs() > time.Microsecond {
		t.Errorf("Time() = %v; want %v", got, at)
	}
	if got := tid.Seconds(); got-float64(at.UnixNano())/1e9 > 1e-6 {
		t.Errorf("Seconds() = %v", got)
	}
	if got := laterThan(tid, tid); got.Uint64() != tid.Uint64()+1 {
		t.Errorf("laterThan(t, t) = %s", got)
	}
	roll := TIDFromUint64(5<<32 | 0xffffffff)
	if got := laterThan(ZeroTID, roll); got.Uint64() != 6<<32 {
		t.Errorf("laterThan rollover = %x", got.Uint64())
	}
}

func TestStoreAndLoad(t *testing.T) {
	db := openTest(t, nil)
	root := ZeroOID
	r := db.Read(func(r *Reader) error {
		if _, _, err := r.LoadBefore(root, MaxTID); !errors.As(err, new(*KeyError)) {
			t.Errorf("empty store: %v; want KeyError", err)
		}
		return nil
	})
	_ = r
	t1 := store(t, db, root, ZeroTID, "one")
	t2 := store(t, db, root, t1, "two")
	if !t1.Less(t2) {
		t.Fatalf("tids not increasing: %s %s", t1, t2)
	}
	if db.LastTransaction() != t2 {
		t.Errorf("last = %s; want %s", db.LastTransaction(), t2)
	}
	_ = db.Read(func(r *Reader) error {
		rec, end, err := r.LoadBefore(root, MaxTID)
		if err != nil || string(rec.Data) != "two" || rec.TID != t2 || end != ZeroTID {
			t.Errorf("LoadBefore(max) = %q %s %s %v", rec.Data, rec.TID, end, err)
		}
		rec, end, err = r.LoadBefore(root, t2)
		if err != nil || string(rec.Data) != "one" || rec.TID != t1 || end != t2 {
			t.Errorf("LoadBefore(t2) = %q %s %s %v", rec.Data, rec.TID, end, err)
		}
		if _, _, err := r.LoadBefore(root, t1); !errors.Is(err, ErrNoRevision) {
			t.Errorf("LoadBefore(t1) = %v; want ErrNoRevision", err)
		}
		if rec, err := r.LoadSerial(root, t1); err != nil || string(rec.Data) != "one" {
			t.Errorf("LoadSerial(t1) = %q %v", rec.Data, err)
		}
		if _, err := r.LoadSerial(root, laterThan(t2, t2)); !errors.As(err, new(*KeyError)) {
			t.Errorf("LoadSerial(unknown) = %v", err)
		}
		var revs []string
		_ = r.Revisions(root, func(rec Record) bool { revs = append(revs, string(rec.Data)); return true })
		if fmt.Sprint(revs) != "[two one]" {
			t.Errorf("revisions = %v", revs)
		}
		return nil
	})
	if s := db.Stats(); s.Objects != 1 || s.Last != t2 || s.Size == 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestConflicts(t *testing.T) {
	db := openTest(t, nil)
	o := OIDFromUint64(7)
	t1 := store(t, db, o, ZeroTID, "a")
	t2 := store(t, db, o, t1, "b")

	c, err := db.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	txn := &Txn{}
	txn.Store(o, t1, []byte("stale"))
	res, err := c.Vote(txn)
	if err != nil || len(res.Conflicts) != 1 {
		t.Fatalf("vote: %+v %v", res, err)
	}
	cf := res.Conflicts[0]
	if cf.OID != o || cf.Committed != t2 || cf.Read != t1 || string(cf.Data) != "stale" {
		t.Errorf("conflict = %+v", cf)
	}
	// The client resolves and stores again; the second vote passes.
	txn.Store(o, t2, []byte("resolved"))
	if res, err = c.Vote(txn); err != nil || len(res.Conflicts) != 0 {
		t.Fatalf("second vote: %+v %v", res, err)
	}
	t3, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Read(func(r *Reader) error {
		if rec, err := r.Load(o); err != nil || string(rec.Data) != "resolved" || rec.TID != t3 {
			t.Errorf("after resolution: %q %v", rec.Data, err)
		}
		return nil
	})

	// Read conflicts and stale deletes are errors.
	for name, txn := range map[string]*Txn{
		"check":  func() *Txn { x := &Txn{}; x.CheckCurrent(o, t2); return x }(),
		"delete": func() *Txn { x := &Txn{}; x.Delete(o, t1); return x }(),
	} {
		c, _ := db.Lock(context.Background())
		_, err := c.Vote(txn)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Committed != t3 || ce.ReadOnly != (name == "check") {
			t.Errorf("%s: %v", name, err)
		}
		c.Abort()
	}
	c, _ = db.Lock(context.Background())
	txn = &Txn{}
	txn.Delete(OIDFromUint64(99), t1)
	if _, err := c.Vote(txn); !errors.As(err, new(*KeyError)) {
		t.Errorf("delete unknown: %v", err)
	}
	c.Abort()
}

func TestDeleteAndEmptyTransactions(t *testing.T) {
	db := openTest(t, nil)
	o := OIDFromUint64(3)
	t1 := store(t, db, o, ZeroTID, "x")
	txn := &Txn{}
	txn.Delete(o, t1)
	t2 := commit(t, db, txn)
	e1 := commit(t, db, &Txn{})
	e2 := commit(t, db, &Txn{})
	if !(t2.Less(e1) && e1.Less(e2)) || db.LastTransaction() != e2 {
		t.Errorf("empty transactions do not advance: %s %s %s", t2, e1, e2)
	}
	_ = db.Read(func(r *Reader) error {
		if _, _, err := r.LoadBefore(o, MaxTID); !errors.As(err, new(*KeyError)) {
			t.Errorf("deleted object loads: %v", err)
		}
		if rec, _, err := r.LoadBefore(o, t2); err != nil || string(rec.Data) != "x" {
			t.Errorf("before the delete: %q %v", rec.Data, err)
		}
		return nil
	})
	if ids, _ := db.NewOIDs(2); ids[0].Uint64() != 4 || ids[1].Uint64() != 5 {
		t.Errorf("new oids after oid 3: %v", ids)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := OIDFromUint64(0xf0)
	t1 := store(t, db, o, ZeroTID, "kept")
	db.Close()
	db.Close() // twice is fine
	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.LastTransaction() != t1 {
		t.Errorf("last after reopen = %s", db.LastTransaction())
	}
	if ids, _ := db.NewOIDs(1); ids[0].Uint64() != 0xf1 {
		t.Errorf("new oid after reopen = %v", ids[0])
	}
	if _, err := db.Lock(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Lock on read-only: %v", err)
	}
}

func TestCommitLockQueuesVoters(t *testing.T) {
	db := openTest(t, nil)
	c1, _ := db.Lock(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := db.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Lock while held: %v", err)
	}
	got := make(chan *Commit)
	go func() { c, _ := db.Lock(context.Background()); got <- c }()
	c1.Abort()
	c2 := <-got
	c2.Abort()
	c2.Abort()
}

// TestGroupCommit runs many concurrent committers on distinct and shared
// objects and checks that every acknowledged tid is there, in order, with
// conflicts on the shared object detected.
func TestGroupCommit(t *testing.T) {
	db := openTest(t, nil)
	shared := OIDFromUint64(1)
	store(t, db, shared, ZeroTID, "0")
	const workers, each = 8, 20
	var mu sync.Mutex
	acked := map[TID]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				oid := OIDFromUint64(uint64(100 + w*each + i))
				for {
					var serial TID
					var cur []byte
					_ = db.Read(func(r *Reader) error {
						rec, _ := r.Load(shared)
						serial, cur = rec.TID, rec.Data
						return nil
					})
					c, err := db.Lock(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					txn := &Txn{}
					txn.Store(oid, ZeroTID, []byte("w"))
					txn.Store(shared, serial, append(bytes.Clone(cur), 'x'))
					res, err := c.Vote(txn)
					if err != nil {
						c.Abort()
						t.Error(err)
						return
					}
					if len(res.Conflicts) > 0 {
						c.Abort()
						continue
					}
					tid, err := c.Finish()
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked[tid] = oid.String()
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	if len(acked) != workers*each {
		t.Fatalf("%d acknowledged commits; want %d", len(acked), workers*each)
	}
	_ = db.Read(func(r *Reader) error {
		rec, _ := r.Load(shared)
		if len(rec.Data) != 1+workers*each {
			t.Errorf("shared object has %d bytes; want %d (a lost update)", len(rec.Data), 1+workers*each)
		}
		for tid := range acked {
			if _, ok, _ := r.Txn(tid); !ok {
				t.Errorf("acknowledged %s missing", tid)
			}
		}
		return nil
	})
}

func TestUndo(t *testing.T) {
	db := openTest(t, nil)
	a, b := OIDFromUint64(1), OIDFromUint64(2)
	t1 := store(t, db, a, ZeroTID, "a1")
	t2 := store(t, db, a, t1, "a2")
	t3 := store(t, db, b, ZeroTID, "b1")

	undo := func(tid TID) (VoteResult, error) {
		c, _ := db.Lock(context.Background())
		defer c.Abort()
		txn := &Txn{}
		txn.Undo(tid)
		res, err := c.Vote(txn)
		if err != nil {
			return res, err
		}
		_, err = c.Finish()
		return res, err
	}
	if res, err := undo(t2); err != nil || len(res.Undone) != 1 || res.Undone[0] != a {
		t.Fatalf("undo t2: %+v %v", res, err)
	}
	if _, err := undo(t3); err != nil {
		t.Fatalf("undo creation: %v", err)
	}
	_ = db.Read(func(r *Reader) error {
		if rec, err := r.Load(a); err != nil || string(rec.Data) != "a1" {
			t.Errorf("after undo: %q %v", rec.Data, err)
		}
		if _, err := r.Load(b); !errors.As(err, new(*KeyError)) {
			t.Errorf("undone creation still loads: %v", err)
		}
		var n int
		_ = r.UndoLog(func(TxnInfo) bool { n++; return true })
		if n != 5 {
			t.Errorf("undo log has %d entries; want 5", n)
		}
		return nil
	})
	// A later transaction changed a: undoing t1 must fail.
	var cur TID
	_ = db.Read(func(r *Reader) error { cur, _ = r.Serial(a); return nil })
	store(t, db, a, cur, "a3")
	var ue *UndoError
	if _, err := undo(t1); !errors.As(err, &ue) || ue.Failures[0].OID != a {
		t.Errorf("undo of overwritten: %v", err)
	}
}

func TestIterationAndRestore(t *testing.T) {
	src := openTest(t, nil)
	o := OIDFromUint64(1)
	t1 := store(t, src, o, ZeroTID, "1")
	txn := &Txn{User: []byte("u"), Description: []byte("d"), Extension: []byte("ext")}
	txn.Store(o, t1, []byte("2"))
	txn.Store(OIDFromUint64(2), ZeroTID, []byte("new"))
	t2 := commit(t, src, txn)

	dst := openTest(t, nil)
	var infos []TxnInfo
	_ = src.Read(func(r *Reader) error {
		for from := ZeroTID; ; {
			info, ok, err := r.NextTxn(from)
			if err != nil || !ok {
				return err
			}
			infos = append(infos, info)
			from = laterThan(info.TID, info.TID)
		}
	})
	if len(infos) != 2 || infos[1].TID != t2 || string(infos[1].User) != "u" || len(infos[1].OIDs) != 2 {
		t.Fatalf("iteration: %+v", infos)
	}
	for _, info := range infos {
		cp := &Txn{TID: info.TID, Status: info.Status, User: info.User, Description: info.Description, Extension: info.Extension}
		_ = src.Read(func(r *Reader) error {
			for _, oid := range info.OIDs {
				rec, _ := r.TxnRecord(oid, info.TID)
				cp.Restore(oid, rec.Data, rec.NoData)
			}
			return nil
		})
		commit(t, dst, cp)
	}
	if dst.LastTransaction() != t2 {
		t.Errorf("copy's last = %s", dst.LastTransaction())
	}
	c, _ := dst.Lock(context.Background())
	if _, err := c.Vote(&Txn{TID: t1}); !errors.Is(err, ErrTIDOrder) {
		t.Errorf("restore of an old tid: %v", err)
	}
	c.Abort()
}

// TestTIDsStayBelowMaxTID: a restore may not take its tid at or past
// ZODB's maxtid (one at 0xffffffffffffffff made the next tid wrap to zero
// and the database look empty, also after reopening), and once the last
// tid leaves no room below maxtid, further transactions are refused at
// their vote, without touching what is stored.
func TestTIDsStayBelowMaxTID(t *testing.T) {
	db := openTest(t, nil)
	o := OIDFromUint64(1)
	store(t, db, o, ZeroTID, "1")
	for _, tid := range []TID{TIDFromUint64(^uint64(0)), MaxTID} {
		c, _ := db.Lock(context.Background())
		txn := &Txn{TID: tid}
		txn.Restore(OIDFromUint64(2), []byte("x"), false)
		if _, err := c.Vote(txn); !errors.Is(err, ErrTIDRange) {
			t.Errorf("restore at %s: %v; want ErrTIDRange", tid, err)
		}
		c.Abort()
	}
	last := TIDFromUint64(MaxTID.Uint64() - 1)
	txn := &Txn{TID: last}
	txn.Restore(OIDFromUint64(2), []byte("x"), false)
	commit(t, db, txn)
	c, _ := db.Lock(context.Background())
	next := &Txn{}
	next.Store(o, ZeroTID, []byte("2"))
	if _, err := c.Vote(next); !errors.Is(err, ErrTIDRange) {
		t.Errorf("a transaction after %s: %v; want ErrTIDRange", last, err)
	}
	c.Abort()
	if got := db.LastTransaction(); got != last {
		t.Errorf("last transaction %s; want %s", got, last)
	}
}

// TestBlobClaimedAtVote: a blob file is taken into the blob directory at
// vote. A client removing its file after voting cannot stop the commit
// (the write of a commit that fails stops every later commit of the
// storage), one removing it before voting fails its own vote only, and a
// blob replaced by a later store of the same oid is removed.
func TestBlobClaimedAtVote(t *testing.T) {
	blobs, err := blobstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	db := openTest(t, &Options{Blobs: blobs})
	tempBlob := func(content string) string {
		f, err := blobs.CreateTemp()
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Close()
		return f.Name()
	}
	o := OIDFromUint64(1)
	first, second := tempBlob("replaced"), tempBlob("blob data")
	txn := &Txn{}
	txn.StoreBlob(o, ZeroTID, []byte("rec"), first)
	txn.StoreBlob(o, ZeroTID, []byte("rec"), second)
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the replaced blob file: %v; want it removed", err)
	}
	c, _ := db.Lock(context.Background())
	if _, err := c.Vote(txn); err != nil {
		t.Fatal(err)
	}
	os.Remove(second) // the client's name: the file is the storage's now
	tid, err := c.Finish()
	if err != nil {
		t.Fatalf("finish after the client removed its file: %v", err)
	}
	if b, err := os.ReadFile(blobs.BlobPath(o, tid)); err != nil || string(b) != "blob data" {
		t.Errorf("the committed blob: %q, %v", b, err)
	}

	gone := tempBlob("x")
	os.Remove(gone)
	txn = &Txn{}
	txn.StoreBlob(OIDFromUint64(2), ZeroTID, []byte("rec"), gone)
	c, _ = db.Lock(context.Background())
	if _, err := c.Vote(txn); err == nil {
		t.Error("voted with its blob file gone")
	}
	c.Abort()
	store(t, db, OIDFromUint64(3), ZeroTID, "the storage goes on")
}

// Check verifies a closed store file: the counters match the buckets, and
// every current entry and transaction oid has its record.
func Check(path string) error {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer b.Close()
	return b.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		cur, recs := tx.Bucket(bucketCurrent), tx.Bucket(bucketRecords)
		n := 0
		err := cur.ForEach(func(k, v []byte) error {
			n++
			if recs.Get(append(bytes.Clone(k), v...)) == nil {
				return fmt.Errorf("current %x@%x has no record", k, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c := getUint64(tx.Bucket(bucketMeta).Get(keyCount)); c != uint64(n) {
			return fmt.Errorf("count %d; current has %d", c, n)
		}
		var last []byte
		err = tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
			var tid TID
			copy(tid[:], k)
			info, err := decodeTxn(tid, v)
			if err != nil {
				return err
			}
			for _, o := range info.OIDs {
				if recs.Get(recordKey(o, tid)) == nil {
					return fmt.Errorf("transaction %s lacks record %s", tid, o)
				}
			}
			last = k
			return nil
		})
		if err != nil {
			return err
		}
		if m := tx.Bucket(bucketMeta).Get(keyLast); !bytes.Equal(m, last) {
			return fmt.Errorf("meta last %x; newest transaction %x", m, last)
		}
		return nil
	})
}

// TestNewOIDsAcrossRestart: oids handed out and never stored are not
// handed out again after a restart (a client keeps the ones it was given,
// and another client given the same made both commits conflict).
func TestNewOIDsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	given := map[uint64]bool{}
	for range 3 {
		ids, err := db.NewOIDs(100)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range ids {
			given[o.Uint64()] = true
		}
	}
	store(t, db, OIDFromUint64(1), ZeroTID, "one") // the highest stored oid is 1
	db.Close()
	db, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := db.NewOIDs(100)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ids {
		if given[o.Uint64()] || o.Uint64() <= 1 {
			t.Fatalf("oid %d handed out again after a restart", o.Uint64())
		}
	}
}
