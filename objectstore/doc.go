// Package objectstore is Cairn's ZODB object database tier: a ZEO 5
// storage server (the role of ZEO's runzeo with a FileStorage) whose
// storage engine keeps every object revision in one bbolt file, so that
// unmodified Python ZODB clients (ZEO.ClientStorage from ZEO 5.x/6.x) use
// it unchanged. The wire codec is the subpackage zeo; blob files live in
// a blobstore.Dir.
//
// # Storage engine
//
// Open returns a *DB: a history-keeping (MVCC) storage. Reads go through
// DB.Read, which hands a *Reader a consistent view of the published
// state; writes go through two-phase commit: Lock takes the commit lock,
// Commit.Vote checks a Txn against the committed state, Commit.Finish
// assigns the tid and makes the transaction durable and visible.
//
// # Storages, transport and encodings
//
// One server serves several named storages (ZEO's several storage
// sections): the default one from the top-level keys (name "1" unless
// set) and one per [[objectstore.storages]] table or -storage flag, each
// with its own file, blob directory, read-only switch, commit lock,
// invalidation queue and metrics (label storage). A client picks one with
// register(name, read_only), and only connections registered on a storage
// receive its invalidations. Clients connect over TCP or a Unix socket,
// optionally with TLS (tls_cert and tls_key; tls_client_ca also requires
// client certificates, as ZEO's <ssl> authenticate does). The server
// announces pickle ("Z5") or, with msgpack set, msgpack ("M5"); stock
// clients follow the announcement, and either reply is accepted.
//
// # Schema
//
// One bbolt file holds four buckets (the commit log holds the newest
// transactions until they are checkpointed into it, see below). Oids and tids are 8-byte big-endian
// keys, so bbolt's byte order is their numeric order.
//
//	meta      "version" → "1" (Open refuses other values)
//	          "last"    → tid of the newest committed transaction
//	          "count"   → uint64, the number of objects in "current"
//	          "logid"   → uint64, seeds the commit log's checksums
//	          "oids"    → uint64, no oid at or above it was handed out
//	current   oid → tid of the object's newest revision (deletions included)
//	records   oid‖tid → flags byte ‖ data: one entry per revision.
//	          flags bit 0: no data (a deletion or an undone creation);
//	          bit 1: the revision has a blob file in the blob directory.
//	txns      tid → status byte ‖ uvarint-prefixed user, description and
//	          extension (the pickled dict as the client sent it) ‖
//	          uvarint data size ‖ uvarint oid count ‖ oids (8 bytes each)
//
// loadBefore(oid, tid) is one cursor seek in records: the entry before
// oid‖tid is the revision, the entry after it (same oid) gives its end.
// New oids continue after the largest oid in current and after every oid
// handed out before (meta "oids", moved 65536 ahead, durably, before an
// oid past it is handed out): a client keeps the oids it was given across
// a restart of the server, and the same oid given to another client made
// both commits conflict (stock ZEO's FileStorage has that weakness).
//
// # Commits, durability and group commit
//
// Vote runs under the storage's commit lock, which is granted in arrival
// order. It checks every store's serial against the object's current
// serial; stale stores come back as Conflicts for the client to resolve
// (the lock stays held until the client votes again or aborts, see
// zeo-protocol.md Essentials 16). Finish assigns the tid (a TimeStamp of
// the current time, later than every earlier tid), queues the transaction
// for writing and releases the lock at once, so the next transaction can
// vote while this one is written: votes check serials against both the
// store and the queued transactions. Whoever writes takes every queued
// transaction, moves their blob files into place, appends them to the
// commit log in one write and fdatasyncs once (group commit), then
// publishes them one by one in tid order. The writer is the first
// committer that finds nobody writing (it writes until its own
// transaction is published), or else a writer goroutine that takes over
// the queue such a committer leaves; Finish returns only after its
// transaction is published. A write error makes the store refuse every
// later commit (ErrFailed) until it is reopened.
//
// # Commit log and checkpoints
//
// A commit is durable once its frame is in the commit log (FILE.wal-0
// and FILE.wal-1 beside the bbolt file; format in wal.go): one append and
// one fdatasync, where a bbolt transaction costs two fdatasyncs and about
// ten page writes. Published transactions stay in memory (the tail,
// tail.go), and every read merges the tail with the bbolt file. A
// checkpoint, every second while the tail holds anything (sooner when
// the log passes 32 MiB), writes the tail into the bbolt file in one
// bbolt transaction and drops it from memory; the two log files take
// turns so that the one being appended to never holds what a checkpoint
// is writing. Open replays the log's transactions that the file lacks (a
// crash between commit and checkpoint), Close checkpoints everything, so
// a cleanly closed file holds the whole history by itself. A read-only
// Open keeps the replayed transactions in the tail.
//
// # Visibility and ordering
//
// Publishing takes the read/write lock that Read holds shared, advances
// the visible tid and calls Options.OnPublish: the ZEO server queues its
// invalidations there. A read therefore either sees a transaction and
// queues its reply after that transaction's invalidations, or does not see
// it and queues its reply before them (zeo-protocol.md §5.4 rule 1).
// Records written but not yet published are invisible to readers, except
// that WaitVisible lets a conflict-resolving client wait for the revision
// a vote told it about.
//
// # Connections
//
// Each connection has a reading goroutine that handles messages in order
// and a writing goroutine. Replies the reading goroutine produces, and
// the committer's info and tpc_finish reply, are written by the reading
// goroutine itself before it waits for the next message (without
// blocking: what the socket does not take goes to the writing
// goroutine); invalidations are written by the committing connection
// once its transaction is published. The writing goroutine serves the
// rest (votes that waited for the lock, a full socket, large blobs). All
// of this avoids goroutine switches, which on a 2-core machine with
// Python clients cost more CPU than the requests (see socket.go for the
// system calls).
//
// # Caveats
//
//   - Pack and garbage collection are not implemented yet; history grows.
//   - Undo needs the undone records to still be current (or equal in
//     content): resolving undo conflicts would need Python.
//   - Restores (copyTransactionsFrom) must arrive in increasing tid order.
//   - A commit whose log fdatasync fails is refused to its client and the
//     store stops committing, but its frame may still have reached the disk
//     and come back after a restart (the usual ambiguity of a failed fsync).
//   - A transaction's data is limited to 3 GiB (one log frame).
package objectstore
