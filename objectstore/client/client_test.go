package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnstack/cairn/objectstore"
	"github.com/cairnstack/cairn/objectstore/client"
	"github.com/cairnstack/cairn/objectstore/objectstoretest"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// startServer runs an in-process cairn-objectstore on a loopback port (or
// the listen address mod sets) until the test ends, and returns its
// address.
func startServer(t *testing.T, mod func(*objectstore.Config)) string {
	addr, _ := objectstoretest.Start(t, mod)
	if strings.HasPrefix(addr, "/") {
		return "unix:" + addr
	}
	return addr
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxT(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// commit stores data for oid against serial in one transaction.
func commit(t *testing.T, c *client.Client, oid client.OID, serial client.TID, data string) client.TID {
	t.Helper()
	ctx := ctxT(t)
	tx, err := c.Begin(ctx, client.TxnMeta{User: "test", Description: "commit"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	if err := tx.Store(oid, serial, []byte(data)); err != nil {
		t.Fatal(err)
	}
	if cf, err := tx.Vote(ctx); err != nil || len(cf) != 0 {
		t.Fatalf("vote = %v, %v", cf, err)
	}
	tid, err := tx.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tid
}

// invalidations collects what OnInvalidate delivers.
type invalidations struct {
	mu  sync.Mutex
	got []client.Invalidation
	ch  chan struct{}
}

func newInvalidations() *invalidations { return &invalidations{ch: make(chan struct{}, 100)} }

func (iv *invalidations) add(inv client.Invalidation) {
	iv.mu.Lock()
	iv.got = append(iv.got, inv)
	iv.mu.Unlock()
	iv.ch <- struct{}{}
}

func (iv *invalidations) wait(t *testing.T) client.Invalidation {
	t.Helper()
	select {
	case <-iv.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no invalidation")
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return iv.got[len(iv.got)-1]
}

func TestRegisterLoadCommitInvalidate(t *testing.T) {
	addr := startServer(t, nil)
	ctx := ctxT(t)
	inv := newInvalidations()
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{OnInvalidate: inv.add})
	if got := a.LastTID(); !got.IsZero() {
		t.Errorf("LastTID on an empty store = %s", got)
	}
	if p := a.Protocol().String(); p != "Z5" {
		t.Errorf("protocol %s; want Z5", p)
	}
	root := client.OID{}
	if _, err := a.Load(ctx, root); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Load(missing root) = %v; want ErrNotFound", err)
	}
	tid := commit(t, a, root, client.TID{}, "root v1")
	if a.LastTID() != tid {
		t.Errorf("committer's LastTID = %s; want %s", a.LastTID(), tid)
	}
	if got := inv.wait(t); got.TID != tid || len(got.OIDs) != 1 || got.OIDs[0] != root {
		t.Errorf("invalidation %+v; want tid %s, oids [root]", got, tid)
	}
	if b.LastTID() != tid {
		t.Errorf("other client's LastTID = %s; want %s", b.LastTID(), tid)
	}
	rev, err := b.Load(ctx, root)
	if err != nil || string(rev.Data) != "root v1" || rev.Serial != tid || rev.End != (client.TID{}) {
		t.Errorf("Load = %+v, %v", rev, err)
	}
	if _, err := b.LoadBefore(ctx, root, tid); !errors.Is(err, client.ErrNoRevision) {
		t.Errorf("LoadBefore(root, its first tid) = %v; want ErrNoRevision", err)
	}
	tid2 := commit(t, b, root, tid, "root v2")
	rev, err = a.LoadBefore(ctx, root, tid2)
	if err != nil || string(rev.Data) != "root v1" || rev.End != tid2 {
		t.Errorf("LoadBefore(root, tid2) = %+v, %v", rev, err)
	}
	if data, err := a.LoadSerial(ctx, root, tid); err != nil || string(data) != "root v1" {
		t.Errorf("LoadSerial = %q, %v", data, err)
	}
	if last, err := a.LastTransaction(ctx); err != nil || last != tid2 {
		t.Errorf("LastTransaction = %s, %v; want %s", last, err, tid2)
	}
	oids, err := a.NewOIDs(ctx)
	if err != nil || len(oids) == 0 || oids[0] == root {
		t.Fatalf("NewOIDs = %v, %v", oids, err)
	}
	info, err := a.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := info.Get("length"); n != int64(1) || a.Len() != 1 {
		t.Errorf("get_info length = %v, Len() = %d; want 1", n, a.Len())
	}
	if err := a.Ping(ctx); err != nil {
		t.Error(err)
	}
	if v, err := a.Call(ctx, "history", root[:], int64(5)); err != nil {
		t.Errorf("history: %v", err)
	} else if l, ok := v.(*zeo.List); !ok || len(l.Items) != 2 {
		t.Errorf("history = %s; want 2 entries", zeo.Repr(v))
	}
}

func TestVoteConflictResolution(t *testing.T) {
	addr := startServer(t, nil)
	ctx := ctxT(t)
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{})
	oid := client.OIDFromUint64(7)
	t1 := commit(t, a, oid, client.TID{}, "1")
	t2 := commit(t, a, oid, t1, "2")

	// b stores against t1: the vote names the conflict and keeps the lock.
	tx, err := b.Begin(ctx, client.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	tx.Store(oid, t1, []byte("mine"))
	cfs, err := tx.Vote(ctx)
	if err != nil || len(cfs) != 1 {
		t.Fatalf("vote = %v, %v; want one conflict", cfs, err)
	}
	cf := cfs[0]
	if cf.OID != oid || cf.Committed != t2 || cf.Serial != t1 || string(cf.Data) != "mine" {
		t.Errorf("conflict %+v", cf)
	}
	// Meanwhile a's commit waits for the lock, while a still loads.
	aDone := make(chan client.TID, 1)
	go func() { aDone <- commit(t, a, client.OIDFromUint64(8), client.TID{}, "other") }()
	committed, err := b.LoadSerial(ctx, oid, cf.Committed)
	if err != nil || string(committed) != "2" {
		t.Fatalf("LoadSerial = %q, %v", committed, err)
	}
	tx.Store(oid, cf.Committed, []byte("2+mine"))
	if cfs, err := tx.Vote(ctx); err != nil || len(cfs) != 0 {
		t.Fatalf("second vote = %v, %v", cfs, err)
	}
	t3, err := tx.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if t4 := <-aDone; t4.Uint64() <= t3.Uint64() {
		t.Errorf("a committed %s, not after b's %s", t4, t3)
	}
	if rev, err := a.Load(ctx, oid); err != nil || string(rev.Data) != "2+mine" {
		t.Errorf("Load = %q, %v", rev.Data, err)
	}

	// A failed read check is a *ConflictError; Abort releases the lock.
	tx, _ = b.Begin(ctx, client.TxnMeta{})
	tx.CheckCurrent(oid, t1)
	var ce *client.ConflictError
	if _, err := tx.Vote(ctx); !errors.As(err, &ce) || !ce.Read || ce.OID != oid || ce.Committed != t3 || ce.Serial != t1 {
		t.Fatalf("vote with a stale read = %v (%+v)", err, ce)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Finish(ctx); !errors.Is(err, client.ErrTxnDone) {
		t.Errorf("Finish after Abort = %v", err)
	}
	commit(t, a, oid, t3, "after")
}

// TestConcurrentCalls shares one connection between goroutines that load,
// ping and commit at once: every reply must reach its own caller.
func TestConcurrentCalls(t *testing.T) {
	addr := startServer(t, nil)
	ctx := ctxT(t)
	c := dial(t, addr, client.Options{})
	const n = 8
	tids := make([]client.TID, n)
	for i := range n {
		tids[i] = commit(t, c, client.OIDFromUint64(uint64(i+1)), client.TID{}, fmt.Sprint("value ", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for g := range 4 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				i := (g + j) % n
				oid := client.OIDFromUint64(uint64(i + 1))
				if g%4 == 3 && j%10 == 0 { // some commits in between
					tx, err := c.Begin(ctx, client.TxnMeta{})
					if err != nil {
						errs <- err
						return
					}
					tx.Store(client.OIDFromUint64(uint64(1000+g*100+j)), client.TID{}, []byte("x"))
					if _, err := tx.Vote(ctx); err != nil {
						errs <- err
						return
					}
					if _, err := tx.Finish(ctx); err != nil {
						errs <- err
						return
					}
					continue
				}
				rev, err := c.LoadBefore(ctx, oid, client.MaxTID)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprint("value ", i); string(rev.Data) != want || rev.Serial != tids[i] {
					errs <- fmt.Errorf("load of %s = %q@%s; want %q@%s", oid, rev.Data, rev.Serial, want, tids[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReadOnly(t *testing.T) {
	addr := startServer(t, nil)
	ctx := ctxT(t)
	c := dial(t, addr, client.Options{ReadOnly: true})
	if _, err := c.NewOIDs(ctx); !errors.Is(err, client.ErrReadOnly) {
		t.Errorf("NewOIDs on a read-only connection = %v; want ErrReadOnly", err)
	}
	// tpc_begin is asynchronous: the server closes the connection.
	tx, err := c.Begin(ctx, client.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Vote(ctx); !errors.Is(err, client.ErrClosed) {
		t.Errorf("vote on a read-only connection = %v; want ErrClosed", err)
	}
	tx.Abort(ctx)
	if _, err := c.Load(ctx, client.OID{}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Load after the server closed = %v; want ErrClosed", err)
	}

	roAddr := startServer(t, func(c *objectstore.Config) { c.ReadOnly = true })
	if _, err := client.Dial(ctx, roAddr, client.Options{}); !errors.Is(err, client.ErrReadOnly) {
		t.Errorf("read-write register on a read-only server = %v; want ErrReadOnly", err)
	}
	dial(t, roAddr, client.Options{ReadOnly: true})
	var se *client.ServerError
	if _, err := client.Dial(ctx, addr, client.Options{Storage: "nosuch"}); !errors.As(err, &se) || se.Exception.Class != zeo.ClassValueError {
		t.Errorf("register with an unknown storage = %v; want a ValueError", err)
	}
}

func TestUnixSocketAndHeartbeat(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zeo.sock")
	addr := startServer(t, func(c *objectstore.Config) { c.Listen = "unix:" + sock })
	if addr != "unix:"+sock {
		t.Fatalf("address %q", addr)
	}
	ctx := ctxT(t)
	c := dial(t, sock, client.Options{Heartbeat: time.Millisecond})
	time.Sleep(50 * time.Millisecond) // let heartbeats go out
	tid := commit(t, c, client.OID{}, client.TID{}, "over a unix socket")
	if rev, err := c.Load(ctx, client.OID{}); err != nil || rev.Serial != tid {
		t.Errorf("Load = %+v, %v", rev, err)
	}
}

func TestCloseFailsCallsAndBegin(t *testing.T) {
	addr := startServer(t, nil)
	ctx := ctxT(t)
	c := dial(t, addr, client.Options{})
	tx, err := c.Begin(ctx, client.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	// A second Begin waits for the first transaction.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.Begin(short, client.TxnMeta{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Begin = %v; want a timeout", err)
	}
	c.Close()
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := tx.Vote(ctx); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Vote after Close = %v", err)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Errorf("Abort after Close = %v", err)
	}
	if _, err := c.Begin(ctx, client.TxnMeta{}); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Begin after Close = %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed")
	}
}
