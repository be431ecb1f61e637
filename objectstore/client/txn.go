package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// TxnMeta is a transaction's metadata, as tpc_begin carries it.
type TxnMeta struct {
	User, Description string
	// Extension becomes the transaction's extension dict; values must be
	// zeo values (string, []byte, int64, float64, bool…).
	Extension map[string]any
}

// Conflict is a store that voted against a stale serial. The client
// resolves it (for instance from LoadSerial of both serials and Data),
// stores the result with Serial Committed, and votes again; the server
// keeps the commit lock meanwhile.
type Conflict struct {
	OID OID
	// Committed is the serial now current; Serial the one the store was
	// made against.
	Committed, Serial TID
	// Data is what the transaction tried to store.
	Data []byte
}

// Txn is an open two-phase commit on one Client. Writes are buffered and
// go out with the next Vote. Its methods are not safe for concurrent use.
// After any error, call Abort.
type Txn struct {
	c       *Client
	id      int64
	frames  [][]byte // asynchronous calls not sent yet
	changed []OID
	sent    bool // some call of this transaction reached the connection
	done    bool
	release sync.Once
}

// maxBuffered bounds the buffered writes of a Txn: past it they are sent
// before the vote.
const maxBuffered = 1 << 20

// Begin opens a transaction, waiting while another one of this client is
// open (one at a time per connection, as ZEO requires).
func (c *Client) Begin(ctx context.Context, meta TxnMeta) (*Txn, error) {
	select {
	case c.txSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.Err()
	}
	if err := c.Err(); err != nil {
		<-c.txSem
		return nil, err
	}
	ext := zeo.NewDict(len(meta.Extension))
	for k, v := range meta.Extension {
		ext.SetString(k, v)
	}
	t := &Txn{c: c, id: c.nextTxn.Add(1)}
	if err := t.cast("tpc_begin", t.id, []byte(meta.User), []byte(meta.Description), ext, zeo.None{}, " "); err != nil {
		t.end()
		return nil, err
	}
	return t, nil
}

// end releases the client's transaction slot once.
func (t *Txn) end() {
	t.done = true
	t.release.Do(func() { <-t.c.txSem })
}

// cast buffers an asynchronous call.
func (t *Txn) cast(method string, args ...any) error {
	if t.done {
		return ErrTxnDone
	}
	f, err := t.c.encode(zeo.AsyncCall(method, args...))
	if err != nil {
		return err
	}
	t.frames = append(t.frames, f)
	if n := buffered(t.frames); n > maxBuffered {
		t.sent = true
		err = t.c.writeFrames(context.Background(), t.frames...)
		t.frames = t.frames[:0]
	}
	return err
}

func buffered(frames [][]byte) int {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// Store writes data as oid's new revision. serial is the revision the
// data was based on: zero for a new object.
func (t *Txn) Store(oid OID, serial TID, data []byte) error {
	return t.cast("storea", oid.Bytes(), serial.Bytes(), data, t.id)
}

// CheckCurrent makes the vote fail with a read *ConflictError unless
// serial is still oid's current revision.
func (t *Txn) CheckCurrent(oid OID, serial TID) error {
	return t.cast("checkCurrentSerialInTransaction", oid.Bytes(), serial.Bytes(), t.id)
}

// Delete removes oid, whose current revision must be serial (IExternalGC).
func (t *Txn) Delete(oid OID, serial TID) error {
	return t.cast("deleteObject", oid.Bytes(), serial.Bytes(), t.id)
}

// Vote sends the buffered writes and votes. It returns the conflicts to
// resolve: store again and vote again, or Abort. With none, Finish may
// follow.
func (t *Txn) Vote(ctx context.Context) ([]Conflict, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	id := t.c.nextID.Add(1)
	frames := t.frames
	t.frames, t.sent = nil, true
	v, err := t.c.roundTrip(ctx, callKey{n: id}, zeo.Call(id, "vote", t.id), frames)
	if err != nil {
		return nil, err
	}
	items, ok := zeo.AsTuple(v)
	if !ok && !zeo.IsNone(v) {
		return nil, badReply("vote", v)
	}
	var conflicts []Conflict
	for _, it := range items {
		if o, ok := as8(it); ok { // changed on the server (undo, server-side resolution)
			t.changed = append(t.changed, o)
			continue
		}
		cf, ok := parseConflict(it)
		if !ok {
			return nil, badReply("vote", v)
		}
		conflicts = append(conflicts, cf)
	}
	return conflicts, nil
}

// parseConflict reads a vote's {'oid', 'serials': (committed, yours),
// 'data'} dict.
func parseConflict(v any) (Conflict, bool) {
	d, ok := v.(*zeo.Dict)
	if !ok {
		return Conflict{}, false
	}
	var cf Conflict
	o, _ := d.Get("oid")
	s, _ := d.Get("serials")
	data, _ := d.Get("data")
	serials, ok1 := zeo.AsTuple(s)
	cf.OID, ok = as8(o)
	if !ok || !ok1 || len(serials) != 2 {
		return Conflict{}, false
	}
	cf.Committed, ok1 = as8(serials[0])
	cf.Serial, ok = as8(serials[1])
	cf.Data, _ = data.([]byte)
	return cf, ok && ok1
}

// Changed lists the oids the server itself changed in the last vote
// (undo, server-side conflict resolution): reload them after Finish.
func (t *Txn) Changed() []OID { return t.changed }

// Finish commits a transaction whose last vote returned no conflicts, and
// returns its tid.
func (t *Txn) Finish(ctx context.Context) (TID, error) {
	if t.done {
		return TID{}, ErrTxnDone
	}
	v, err := t.c.call(ctx, "tpc_finish", t.id)
	if err != nil {
		return TID{}, err
	}
	t.end()
	tid, ok := as8(v)
	if !ok {
		return TID{}, badReply("tpc_finish", v)
	}
	t.c.advance(tid)
	return tid, nil
}

// Abort drops the transaction and releases the server's commit lock if
// it held it. It is safe after Finish (it then does nothing), and after
// a failed call.
func (t *Txn) Abort(ctx context.Context) error {
	if t.done {
		return nil
	}
	defer t.end()
	if t.c.Err() != nil {
		return nil // the server drops the transaction with the connection
	}
	if !t.sent { // the server never heard of it
		t.frames = nil
		return nil
	}
	if _, err := t.c.call(ctx, "tpc_abort", t.id); err != nil {
		return fmt.Errorf("client: tpc_abort: %w", err)
	}
	return nil
}
