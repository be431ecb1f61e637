package objectstore

import (
	"path/filepath"
	"testing"
)

// BenchmarkCommit commits one 200-byte object per transaction, durably
// (a log append and an fdatasync each) and without fsync.
func BenchmarkCommit(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := map[bool]string{true: "fdatasync", false: "no-sync"}[sync]
		b.Run(name, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "data.db"), &Options{NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			data := make([]byte, 200)
			serial := ZeroTID
			b.ReportAllocs()
			for b.Loop() {
				txn := &Txn{}
				txn.Store(OIDFromUint64(1), serial, data)
				serial = commit(b, db, txn)
			}
		})
	}
}

// BenchmarkLoadBefore loads the current revision of one of 10,000 objects
// through a read view, with the objects in the bbolt file and in the
// commit log's tail.
func BenchmarkLoadBefore(b *testing.B) {
	for _, where := range []string{"file", "tail"} {
		b.Run(where, func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "data.db"), &Options{NoSync: true, CheckpointInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const n = 10000
			data := make([]byte, 200)
			for i := 0; i < n; i += 100 {
				txn := &Txn{}
				for j := range 100 {
					txn.Store(OIDFromUint64(uint64(i+j)), ZeroTID, data)
				}
				commit(b, db, txn)
			}
			if where == "file" {
				if err := db.checkpoint(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				i = (i + 7919) % n
				err := db.Read(func(r *Reader) error {
					_, _, err := r.LoadBefore(OIDFromUint64(i), MaxTID)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
