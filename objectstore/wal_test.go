package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// history is what a store must answer about the objects of
// TestTailAndFileAgree, whether its transactions sit in the bbolt file,
// in the tail, or on both sides of a checkpoint.
func checkHistory(t *testing.T, db *DB, o1, o2, o3 OID, tids []TID) {
	t.Helper()
	err := db.Read(func(r *Reader) error {
		// o1: "a" at tids[0], "b" at tids[1], deleted at tids[3].
		if rec, end, err := r.LoadBefore(o1, tids[1]); err != nil || string(rec.Data) != "a" || end != tids[1] {
			t.Errorf("loadBefore(o1, t1) = %q, %s, %v", rec.Data, end, err)
		}
		if rec, end, err := r.LoadBefore(o1, tids[3]); err != nil || string(rec.Data) != "b" || end != tids[3] {
			t.Errorf("loadBefore(o1, t3) = %q, %s, %v", rec.Data, end, err)
		}
		if _, _, err := r.LoadBefore(o1, tids[0]); !errors.Is(err, ErrNoRevision) {
			t.Errorf("loadBefore(o1, t0) = %v", err)
		}
		var ke *KeyError
		if _, err := r.Load(o1); !errors.As(err, &ke) {
			t.Errorf("load of deleted o1 = %v", err)
		}
		if rec, err := r.LoadSerial(o1, tids[1]); err != nil || string(rec.Data) != "b" {
			t.Errorf("loadSerial(o1, t1) = %q, %v", rec.Data, err)
		}
		var revs []string
		_ = r.Revisions(o1, func(rec Record) bool {
			revs = append(revs, rec.TID.String())
			return true
		})
		if want := []string{tids[3].String(), tids[1].String(), tids[0].String()}; !slices.Equal(revs, want) {
			t.Errorf("revisions of o1 = %v, want %v", revs, want)
		}
		// o2: "c" at tids[2], current.
		if rec, end, err := r.LoadBefore(o2, MaxTID); err != nil || string(rec.Data) != "c" || end != ZeroTID {
			t.Errorf("loadBefore(o2, max) = %q, %s, %v", rec.Data, end, err)
		}
		// o3 (below o2 in oid order): "d" at tids[3].
		if rec, ok := r.NextCurrent(OIDFromUint64(0)); !ok || rec.OID != o3 {
			t.Errorf("first current = %v %v", rec.OID, ok)
		}
		if rec, ok := r.NextCurrent(laterOID(o3)); !ok || rec.OID != o2 {
			t.Errorf("current after o3 = %v %v", rec.OID, ok)
		}
		if _, ok := r.NextCurrent(laterOID(o2)); ok {
			t.Error("a current object after o2")
		}
		var seen []TID
		from := ZeroTID
		for {
			info, ok, err := r.NextTxn(from)
			if err != nil || !ok {
				break
			}
			seen = append(seen, info.TID)
			from = laterThan(info.TID, info.TID)
		}
		var back []TID
		_ = r.TxnsBackward(func(info TxnInfo) bool { back = append(back, info.TID); return true })
		if len(seen) != len(tids) || len(back) != len(tids) {
			t.Fatalf("iteration: forward %v, backward %v, want %v", seen, back, tids)
		}
		for i := range tids {
			if seen[i] != tids[i] || back[len(tids)-1-i] != tids[i] {
				t.Errorf("iteration: forward %v, backward %v, want %v", seen, back, tids)
			}
		}
		if info, ok, _ := r.Txn(tids[2]); !ok || string(info.User) != "u2" || len(info.OIDs) != 1 {
			t.Errorf("txn 2 = %+v, %v", info, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.Objects != 3 || s.Last != tids[3] {
		t.Errorf("stats = %+v", s)
	}
}

func laterOID(o OID) OID { return OIDFromUint64(o.Uint64() + 1) }

// fillHistory commits the four transactions checkHistory expects, with a
// checkpoint after the first cut of them.
func fillHistory(t *testing.T, db *DB, cut int) (o1, o2, o3 OID, tids []TID) {
	o1, o2, o3 = OIDFromUint64(5), OIDFromUint64(9), OIDFromUint64(7)
	steps := []func() TID{
		func() TID { return store(t, db, o1, ZeroTID, "a") },
		func() TID { return store(t, db, o1, tids[0], "b") },
		func() TID {
			txn := &Txn{User: []byte("u2")}
			txn.Store(o2, ZeroTID, []byte("c"))
			return commit(t, db, txn)
		},
		func() TID {
			txn := &Txn{}
			txn.Delete(o1, tids[1])
			txn.Store(o3, ZeroTID, []byte("d"))
			return commit(t, db, txn)
		},
	}
	for i, step := range steps {
		if i == cut {
			if err := db.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
		tids = append(tids, step())
	}
	return o1, o2, o3, tids
}

// TestTailAndFileAgree answers the same questions with every split of the
// history between the bbolt file and the tail.
func TestTailAndFileAgree(t *testing.T) {
	for cut := range 5 {
		db := openTest(t, &Options{CheckpointInterval: -1})
		o1, o2, o3, tids := fillHistory(t, db, cut)
		checkHistory(t, db, o1, o2, o3, tids)
		if err := db.checkpoint(); err != nil {
			t.Fatal(err)
		}
		checkHistory(t, db, o1, o2, o3, tids)
	}
}

// copyStore copies a store's bbolt file and commit log into a new
// folder, as they are on disk at this moment: what a crash would leave.
func copyStore(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data.db")
	for _, suffix := range []string{"", ".wal-0", ".wal-1"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestRecoveryFromTheCommitLog opens what a crash leaves behind (some
// transactions only in the log, on both sides of a log switch), read-only
// and writable, and finds everything; a torn last frame loses only that
// transaction, which was never acknowledged.
func TestRecoveryFromTheCommitLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := Open(path, &Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	o1, o2, o3, tids := fillHistory(t, db, 2)
	crashed := copyStore(t, path)
	torn := copyStore(t, path)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(crashed, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, ro, o1, o2, o3, tids)
	if ids, _ := ro.NewOIDs(1); ids[0].Uint64() != o2.Uint64()+1 {
		t.Errorf("new oid after recovery = %v", ids[0])
	}
	ro.Close()

	rw, err := Open(crashed, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, rw, o1, o2, o3, tids)
	next := store(t, rw, o2, tids[2], "e")
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(crashed); err != nil {
		t.Fatal(err)
	}
	rw, err = Open(crashed, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rw.LastTransaction() != next {
		t.Errorf("last after recovery and a new commit = %s, want %s", rw.LastTransaction(), next)
	}
	rw.Close()

	// Tear the last frame of the newest log file.
	for _, p := range walPaths(torn) {
		b, _ := os.ReadFile(p)
		txns, _, n := decodeWAL(b, db.logSeed)
		if len(txns) > 0 && txns[len(txns)-1].info.TID == tids[3] {
			if err := os.WriteFile(p, b[:n-3], 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ro, err = Open(torn, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.LastTransaction() != tids[2] {
		t.Errorf("last after a torn frame = %s, want %s", ro.LastTransaction(), tids[2])
	}
}

// TestLogFrames round-trips frames and stops at damage of every kind.
func TestLogFrames(t *testing.T) {
	a := &tailTxn{info: TxnInfo{TID: TIDFromUint64(10), Status: ' ', User: []byte("u"), OIDs: []OID{OIDFromUint64(1), OIDFromUint64(2)}, Size: 3},
		records: []Record{{OID: OIDFromUint64(1), TID: TIDFromUint64(10), Data: []byte("abc")}, {OID: OIDFromUint64(2), TID: TIDFromUint64(10), NoData: true}}}
	b := &tailTxn{info: TxnInfo{TID: TIDFromUint64(11), Status: 'u', OIDs: []OID{OIDFromUint64(1)}}, prev: TIDFromUint64(10),
		records: []Record{{OID: OIDFromUint64(1), TID: TIDFromUint64(11), Data: []byte("x"), Blob: true, DataTxn: TIDFromUint64(10)}}}
	two := appendWALFrame(appendWALFrame(nil, 0, 7, a), 0, 7, b)
	txns, gen, n := decodeWAL(two, 0)
	if len(txns) != 2 || gen != 7 || n != int64(len(two)) {
		t.Fatalf("decoded %d frames, gen %d, %d of %d bytes", len(txns), gen, n, len(two))
	}
	if got := txns[1].records[0]; !bytes.Equal(got.Data, []byte("x")) || !got.Blob || got.DataTxn != TIDFromUint64(10) || string(txns[0].info.User) != "u" || !txns[0].records[1].NoData {
		t.Errorf("round trip: %+v %+v", txns[0], txns[1])
	}
	first := len(appendWALFrame(nil, 0, 7, a))
	cases := map[string][]byte{
		"short":          two[:len(two)-1],
		"bad checksum":   append(bytes.Clone(two[:len(two)-1]), two[len(two)-1]^1),
		"old generation": append(bytes.Clone(two[:first]), appendWALFrame(nil, 0, 5, b)...),
		"zeros":          append(bytes.Clone(two[:first]), make([]byte, 64)...),
		"out of chain":   append(bytes.Clone(two[:first]), appendWALFrame(nil, 0, 7, &tailTxn{info: b.info, prev: TIDFromUint64(9), records: b.records})...),
	}
	for name, data := range cases {
		if txns, _, n := decodeWAL(data, 0); len(txns) != 1 || n != int64(first) {
			t.Errorf("%s: %d frames, %d bytes", name, len(txns), n)
		}
	}
}

// FuzzDecodeWAL: no input makes the log reader panic, and what it accepts
// encodes to frames it reads back whole.
func FuzzDecodeWAL(f *testing.F) {
	a := &tailTxn{info: TxnInfo{TID: TIDFromUint64(10), Status: ' ', OIDs: []OID{OIDFromUint64(1)}},
		records: []Record{{OID: OIDFromUint64(1), TID: TIDFromUint64(10), Data: []byte("abc")}}}
	f.Add(appendWALFrame(nil, 0, 1, a))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		txns, gen, n := decodeWAL(data, 0)
		var again []byte
		for _, tx := range txns {
			again = appendWALFrame(again, 0, gen, tx)
		}
		back, _, m := decodeWAL(again, 0)
		if len(back) != len(txns) || m != int64(len(again)) || n > int64(len(data)) {
			t.Fatalf("%d frames re-encoded, %d read back (%d of %d bytes)", len(txns), len(back), m, len(again))
		}
	})
}

// TestLogMustContinueTheFile: a clean Close empties the log; a data file
// older than its log (a backup restored beside a newer log) is refused
// rather than given a history with a hole.
func TestLogMustContinueTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.db")
	db, err := Open(path, &Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := OIDFromUint64(1)
	last := store(t, db, o, ZeroTID, "0")
	if err := db.checkpoint(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		last = store(t, db, o, last, fmt.Sprint(i+1))
		if i < 2 {
			if err := db.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	restored := copyStore(t, path)
	if err := os.WriteFile(restored, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(restored, nil); !errors.Is(err, ErrLogGap) {
		t.Errorf("open of a data file older than its log: %v", err)
	}
	// A new data file beside an old log starts afresh: the log's frames
	// belong to another file.
	fresh := copyStore(t, path)
	if err := os.Remove(fresh); err != nil {
		t.Fatal(err)
	}
	if db2, err := Open(fresh, nil); err != nil || db2.LastTransaction() != ZeroTID {
		t.Errorf("new data file beside an old log: %v", err)
	} else {
		db2.Close()
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range walPaths(path) {
		if st, err := os.Stat(p); err != nil || st.Size() != 0 {
			t.Errorf("%s after a clean close: %v, %v bytes", p, err, st.Size())
		}
	}
}

// TestTooLargeATransaction: a transaction the log cannot frame is refused
// at vote — by its data, or by its metadata (a huge description) — and
// the store goes on.
func TestTooLargeATransaction(t *testing.T) {
	db := openTest(t, nil)
	db.maxTxnBytes = 1000
	big := &Txn{}
	big.Store(OIDFromUint64(1), ZeroTID, make([]byte, 1001))
	described := &Txn{Description: make([]byte, 1000)}
	described.Store(OIDFromUint64(1), ZeroTID, []byte("small"))
	for _, txn := range []*Txn{big, described} {
		c, err := db.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Vote(txn); !errors.Is(err, ErrTxnTooLarge) {
			t.Errorf("vote over a limit of 1000 bytes: %v", err)
		}
		c.Abort()
	}
	store(t, db, OIDFromUint64(1), ZeroTID, "small")
}
