// Package client is a Go ZEO 5 client: it speaks to cairn-objectstore, or
// to a stock Python ZEO server, the way ZEO's ClientStorage does
// (ZEO/ClientStorage.py and ZEO/asyncio/client.py), without the object
// cache, blob handling or reconnection that ClientStorage adds on top. It
// serves tests, cairn-bench's load generator and command-line tools.
//
// # Use
//
// Dial connects (TCP, a Unix socket, optionally TLS), runs the handshake
// (mirroring the server's encoding letter, "Z5" or "M5") and registers
// with a named storage, read-only or not. Then:
//
//   - Load, LoadBefore and LoadSerial read records; an unknown oid is
//     ErrNotFound, and "exists but no revision before tid" ErrNoRevision.
//   - NewOIDs reserves oids; LastTransaction asks the server for its last
//     tid, while LastTID is the client's own view (register's reply,
//     advanced by invalidations and its own commits).
//   - Begin opens a two-phase commit: Txn.Store, CheckCurrent and Delete
//     are buffered and sent with the vote, Txn.Vote returns the conflicts
//     the client must resolve (store again, vote again), Txn.Finish
//     returns the new tid, Txn.Abort drops the transaction.
//   - Options.OnInvalidate receives every other client's commit, in tid
//     order.
//   - Call reaches any other server method (history, undoLog,
//     server_status…) with the zeo package's values.
//
// # Concurrency
//
// A Client is safe for concurrent use: calls from many goroutines share
// the connection and their replies are matched by msgid, in whatever
// order the server sends them. Like ClientStorage, loadBefore uses the
// tuple (oid, tid) as its msgid, so identical loads in flight share one
// request. One transaction at a time per connection, as ZEO requires:
// Begin waits until the previous transaction has finished or aborted.
//
// Two goroutines belong to a Client: one reads replies and server calls,
// one sends the heartbeat (every 60 s by default, as ZEO does). Close
// stops both; when the connection fails, every pending and later call
// returns an error wrapping ErrClosed.
//
// # Caveats
//
//   - No reconnection: a broken connection stays broken; dial again.
//   - No blobs: receiveBlob* calls from the server are ignored and there
//     are no storeBlob helpers.
//   - Cancelling a call's context abandons the wait, not the request: the
//     server still runs it. After a cancelled Vote or Finish the state of
//     the transaction is unknown; Abort it (a Finish may have committed).
//   - OnInvalidate runs on the reading goroutine: it must not block, or
//     every reply on the connection waits.
package client
