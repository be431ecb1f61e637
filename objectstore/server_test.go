package objectstore_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cairnstack/cairn/blobstore"
	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/cairnstack/cairn/objectstore"
	"github.com/cairnstack/cairn/objectstore/objectstoretest"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// startServer runs a Server on a loopback port until the test ends.
func startServer(t *testing.T, mod func(*objectstore.Config)) (string, *objectstore.Server) {
	return objectstoretest.Start(t, mod)
}

// client is a minimal ZEO client for tests.
type client struct {
	t      *testing.T
	nc     net.Conn
	w      *zeo.Writer
	codec  zeo.Codec
	in     chan zeo.Message
	gone   chan struct{}
	nextID int64
	async  []zeo.Message // server→client calls seen so far
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	r, w := zeo.NewReader(nc, 0), zeo.NewWriter(nc)
	p, err := zeo.ClientHandshake(r, w)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, w: w, codec: zeo.Codec{Encoding: p.Encoding}, in: make(chan zeo.Message, 1000), gone: make(chan struct{})}
	go func() {
		defer close(c.gone)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			m, err := c.codec.Decode(f)
			if err != nil {
				return
			}
			c.in <- m
		}
	}()
	t.Cleanup(func() { nc.Close() })
	return c
}

func (c *client) send(m zeo.Message) {
	c.t.Helper()
	f, err := c.codec.Encode(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(f)
}

func (c *client) sendRaw(f []byte) {
	if err := c.w.WriteFrame(f); err != nil {
		c.t.Fatal(err)
	}
	if err := c.w.Flush(); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message from the server.
func (c *client) next() zeo.Message {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-c.gone:
		c.t.Fatal("connection closed")
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message from the server")
	}
	return zeo.Message{}
}

// waitReply returns the reply to id, keeping server calls in c.async.
func (c *client) waitReply(id any) (any, *zeo.Exception) {
	c.t.Helper()
	for {
		m := c.next()
		if !m.IsReply() {
			c.async = append(c.async, m)
			continue
		}
		if zeo.Repr(m.ID) != zeo.Repr(id) {
			c.t.Fatalf("reply to %s; want %s", zeo.Repr(m.ID), zeo.Repr(id))
		}
		if m.IsError() {
			e, err := m.Exception()
			if err != nil {
				c.t.Fatal(err)
			}
			return nil, e
		}
		return m.Args, nil
	}
}

func (c *client) call(method string, args ...any) (any, *zeo.Exception) {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	c.send(zeo.Call(id, method, args...))
	return c.waitReply(id)
}

func (c *client) must(method string, args ...any) any {
	c.t.Helper()
	v, e := c.call(method, args...)
	if e != nil {
		c.t.Fatalf("%s: %v", method, e)
	}
	return v
}

func (c *client) cast(method string, args ...any) {
	c.t.Helper()
	c.send(zeo.AsyncCall(method, args...))
}

// closed reports whether the server closed the connection within a while.
func (c *client) closed() bool {
	for {
		select {
		case <-c.in:
		case <-c.gone:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
}

func p64(n uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, n); return b }

var (
	z64    = p64(0)
	maxtid = p64(1<<63 - 1)
)

// commit stores data for oid in one transaction and returns the tid.
func (c *client) commit(txnid any, oid, serial, data []byte) []byte {
	c.t.Helper()
	c.cast("tpc_begin", txnid, []byte("user"), []byte("desc"), zeo.NewDict(0))
	c.cast("storea", oid, serial, data, txnid)
	if v := c.must("vote", txnid); len(v.(*zeo.List).Items) != 0 {
		c.t.Fatalf("vote: %s", zeo.Repr(v))
	}
	return c.must("tpc_finish", txnid).([]byte)
}

func TestRegisterLoadAndCommit(t *testing.T) {
	addr, _ := startServer(t, nil)
	a, b := dial(t, addr), dial(t, addr)
	if v := a.must("register", "1", false); !bytes.Equal(v.([]byte), z64) {
		t.Errorf("register on an empty store = %s", zeo.Repr(v))
	}
	b.must("register", "1", false)
	// The heartbeat is dropped without a reply.
	a.send(zeo.Heartbeat())

	// loadBefore of the missing root: POSKeyError, with the tuple msgid echoed.
	id := zeo.Tuple{z64, maxtid}
	a.send(zeo.Call(id, "loadBefore", z64, maxtid))
	if _, e := a.waitReply(id); e == nil || e.Class != zeo.ClassPOSKeyError {
		t.Fatalf("loadBefore(missing) = %v", e)
	}

	// A big transaction id, as CPython's id(txn) arrives.
	txnid := new(big.Int).Lsh(big.NewInt(1), 45)
	tid := a.commit(txnid, z64, z64, []byte("root"))
	if len(a.async) != 1 || a.async[0].Method != "info" {
		t.Errorf("committer got %v before the tpc_finish reply; want info", a.async)
	}
	// The other client is told, and loads the new state.
	m := b.next()
	if m.Method != "invalidateTransaction" || zeo.Repr(m.Args) != zeo.Repr(zeo.Tuple{tid, &zeo.List{Items: []any{z64}}}) {
		t.Errorf("b got %s; want invalidateTransaction", m)
	}
	id = zeo.Tuple{z64, maxtid}
	b.send(zeo.Call(id, "loadBefore", z64, maxtid))
	v, e := b.waitReply(id)
	if e != nil || zeo.Repr(v) != zeo.Repr(zeo.Tuple{[]byte("root"), tid, zeo.None{}}) {
		t.Errorf("loadBefore = %s %v", zeo.Repr(v), e)
	}
	// An empty transaction still gets a tid and is broadcast.
	a.cast("tpc_begin", int64(2), []byte(""), []byte(""), zeo.NewDict(0))
	a.must("vote", int64(2))
	tid2 := a.must("tpc_finish", int64(2)).([]byte)
	if m := b.next(); m.Method != "invalidateTransaction" || !bytes.Equal(m.Args.(zeo.Tuple)[0].([]byte), tid2) {
		t.Errorf("empty transaction: b got %s", m)
	}
	if v := b.must("lastTransaction"); !bytes.Equal(v.([]byte), tid2) {
		t.Errorf("lastTransaction = %s", zeo.Repr(v))
	}
	if v := b.must("getInvalidations", tid); zeo.Repr(v) != zeo.Repr(zeo.Tuple{tid2, &zeo.List{}}) {
		t.Errorf("getInvalidations = %s", zeo.Repr(v))
	}
	info := b.must("get_info").(*zeo.Dict)
	if n, _ := info.Get("length"); n != int64(1) {
		t.Errorf("get_info length = %v", n)
	}
	if oids := b.must("new_oids").(*zeo.List); len(oids.Items) != 100 || bytes.Equal(oids.Items[0].([]byte), z64) {
		t.Errorf("new_oids = %d oids starting %s", len(oids.Items), zeo.Repr(oids.Items[0]))
	}
	if _, e := b.call("pack", 0.0, true); e == nil || e.Class == zeo.ClassTypeError {
		t.Errorf("pack = %v; want a clear error", e)
	}
}

func TestVoteConflictsKeepTheLock(t *testing.T) {
	addr, _ := startServer(t, nil)
	a, b := dial(t, addr), dial(t, addr)
	a.must("register", "1", false)
	b.must("register", "1", false)
	t1 := a.commit(int64(1), z64, z64, []byte("v1"))
	t2 := a.commit(int64(2), z64, t1, []byte("v2"))

	// b stores against the old serial: the vote returns a conflict dict.
	b.cast("tpc_begin", int64(7), []byte(""), []byte(""), zeo.NewDict(0))
	b.cast("storea", z64, t1, []byte("mine"), int64(7))
	v := b.must("vote", int64(7)).(*zeo.List)
	if len(v.Items) != 1 {
		t.Fatalf("vote = %s", zeo.Repr(v))
	}
	d := v.Items[0].(*zeo.Dict)
	if s, _ := d.Get("serials"); zeo.Repr(s) != zeo.Repr(zeo.Tuple{t2, t1}) {
		t.Errorf("serials = %s", zeo.Repr(s))
	}
	// b still holds the lock: a's vote waits until b is done.
	a.cast("tpc_begin", int64(3), []byte(""), []byte(""), zeo.NewDict(0))
	a.cast("storea", p64(5), z64, []byte("other"), int64(3))
	a.nextID++
	voteID := a.nextID
	a.send(zeo.Call(voteID, "vote", int64(3)))
	// Meanwhile a keeps being served.
	if v := a.must("lastTransaction"); !bytes.Equal(v.([]byte), t2) {
		t.Errorf("lastTransaction during the wait = %s", zeo.Repr(v))
	}
	// b resolves (loads the committed revision) and stores again.
	if v := b.must("loadSerial", z64, t2); !bytes.Equal(v.([]byte), []byte("v2")) {
		t.Errorf("loadSerial = %s", zeo.Repr(v))
	}
	b.cast("storea", z64, t2, []byte("resolved"), int64(7))
	if v := b.must("vote", int64(7)); len(v.(*zeo.List).Items) != 0 {
		t.Fatalf("second vote = %s", zeo.Repr(v))
	}
	t3 := b.must("tpc_finish", int64(7)).([]byte)
	if v, e := a.waitReply(voteID); e != nil || len(v.(*zeo.List).Items) != 0 {
		t.Fatalf("a's queued vote = %s %v", zeo.Repr(v), e)
	}
	t4 := a.must("tpc_finish", int64(3)).([]byte)
	if bytes.Compare(t3, t4) >= 0 {
		t.Errorf("tids out of order: %x then %x", t3, t4)
	}
	// a saw b's invalidation before its own tpc_finish reply.
	var saw bool
	for _, m := range a.async {
		if m.Method == "invalidateTransaction" && bytes.Equal(m.Args.(zeo.Tuple)[0].([]byte), t3) {
			saw = true
		}
	}
	if !saw {
		t.Errorf("a did not get the invalidation of %x: %v", t3, a.async)
	}

	// A read conflict is an error reply, and the lock is released.
	b.cast("tpc_begin", int64(8), []byte(""), []byte(""), zeo.NewDict(0))
	b.cast("checkCurrentSerialInTransaction", z64, t1, int64(8))
	if _, e := b.call("vote", int64(8)); e == nil || e.Class != zeo.ClassReadConflictError {
		t.Errorf("vote with a stale read = %v", e)
	}
	b.must("tpc_abort", int64(8))
	a.commit(int64(4), p64(6), z64, []byte("after"))
}

func TestAbortAndDisconnectReleaseTheLock(t *testing.T) {
	addr, _ := startServer(t, nil)
	a, b := dial(t, addr), dial(t, addr)
	a.must("register", "1", false)
	b.must("register", "1", false)
	a.cast("tpc_begin", int64(1), []byte(""), []byte(""), zeo.NewDict(0))
	a.must("vote", int64(1)) // a holds the lock
	a.nc.Close()             // and goes away
	b.commit(int64(1), z64, z64, []byte("x"))

	c := dial(t, addr)
	c.must("register", "1", false)
	c.cast("tpc_begin", int64(1), []byte(""), []byte(""), zeo.NewDict(0))
	c.must("vote", int64(1))
	if v := c.must("tpc_abort", int64(1)); !zeo.IsNone(v) {
		t.Errorf("tpc_abort = %s", zeo.Repr(v))
	}
	b.commit(int64(2), p64(1), z64, []byte("y"))
}

func TestBadInputClosesTheConnection(t *testing.T) {
	addr, _ := startServer(t, func(c *objectstore.Config) { c.MaxFrame = 1 << 20 })
	cases := map[string]func(c *client){
		"call before register": func(c *client) { c.send(zeo.Call(int64(1), "loadBefore", z64, maxtid)) },
		"unknown method":       func(c *client) { c.must("register", "1", false); c.send(zeo.Call(int64(2), "nosuch")) },
		"garbage pickle":       func(c *client) { c.sendRaw([]byte("\x80\x03garbage")) },
		"oversized frame": func(c *client) {
			c.nc.Write([]byte{0x7f, 0xff, 0xff, 0xff})
		},
		"storea without tpc_begin": func(c *client) {
			c.must("register", "1", false)
			c.cast("storea", z64, z64, []byte("x"), int64(1))
		},
		"bad msgid": func(c *client) { c.send(zeo.Call(zeo.Tuple{int64(1)}, "ping")) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.t = t
			f(c)
			if !c.closed() {
				t.Error("connection stays open")
			}
		})
	}
	// Errors of synchronous calls are replies, and the connection lives on.
	c := dial(t, addr)
	c.must("register", "1", false)
	if _, e := c.call("tpc_finish", int64(9)); e == nil || e.Class != zeo.ClassStorageTransactionError {
		t.Errorf("tpc_finish without a transaction = %v", e)
	}
	if _, e := c.call("history", z64, zeo.None{}); e == nil || e.Class != zeo.ClassTypeError {
		t.Errorf("history(z64, None) = %v; want TypeError", e)
	}
	if _, e := c.call("register", "1", false); e == nil {
		t.Error("second register accepted")
	}
	c.must("ping")
	// The server survived all of it.
	dial(t, addr).must("register", "1", false)
}

func TestReadOnlyAndUnknownStorage(t *testing.T) {
	addr, _ := startServer(t, nil)
	c := dial(t, addr)
	if _, e := c.call("register", "nosuch", false); e == nil {
		t.Error("unknown storage accepted")
	}
	c.must("register", "1", true)
	if _, e := c.call("new_oids"); e == nil || e.Class != zeo.ClassReadOnlyError {
		t.Errorf("new_oids on a read-only connection = %v", e)
	}
	c.cast("tpc_begin", int64(1), []byte(""), []byte(""), zeo.NewDict(0))
	if !c.closed() {
		t.Error("tpc_begin on a read-only connection leaves it open")
	}
	// ClientStorage sends read_only as its caller gave it: 1 is true, as
	// in Python, and 0 is false.
	ro := dial(t, addr)
	ro.must("register", "1", int64(1))
	if _, e := ro.call("new_oids"); e == nil || e.Class != zeo.ClassReadOnlyError {
		t.Errorf("new_oids after register(read_only=1) = %v; want ReadOnlyError", e)
	}
	rw := dial(t, addr)
	rw.must("register", "1", int64(0))
	rw.must("new_oids")
}

func TestStatusRequest(t *testing.T) {
	addr, _ := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, w := zeo.NewReader(nc, 0), zeo.NewWriter(nc)
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	w.WriteFrame([]byte("ruok"))
	w.Flush()
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]map[string]any
	if err := json.Unmarshal(f, &status); err != nil || status["1"]["last-transaction"] != "0000000000000000" {
		t.Errorf("ruok = %s (%v)", f, err)
	}
	if lt, ok := status["1"]["lock_time"]; !ok || lt != nil {
		t.Errorf("ruok lock_time = %#v; want null, as ZEO's json.dumps of None", lt)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after the status: %v; want EOF", err)
	}
}

func TestUnixSocketAndTransactionTimeout(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zeo.sock")
	startServer(t, func(c *objectstore.Config) {
		c.Listen = "unix:" + sock
		c.TransactionTimeout = sitefile.Dur(200 * time.Millisecond)
	})
	a, b := dial(t, sock), dial(t, sock)
	a.must("register", "1", false)
	b.must("register", "1", false)
	a.cast("tpc_begin", int64(1), []byte(""), []byte(""), zeo.NewDict(0))
	a.must("vote", int64(1)) // takes the lock, then stalls
	if !a.closed() {
		t.Fatal("a client holding the lock past the timeout stays connected")
	}
	b.commit(int64(1), z64, z64, []byte("after the timeout"))
}

// TestMetrics: the storage's metrics pass promlint and count what
// happened, the commit log's checkpoints included.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	addr, _ := objectstoretest.StartRegistered(t, reg, nil)
	a := dial(t, addr)
	a.must("register", "1", false)
	tid := a.commit(int64(1), z64, z64, []byte("root"))
	a.commit(int64(2), z64, tid, []byte("root 2"))
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	value := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if c, o := value("cairn_objectstore_commits_total"), value("cairn_objectstore_objects"); c != 2 || o != 1 {
		t.Errorf("commits %v, objects %v; want 2 and 1", c, o)
	}
	// A checkpoint follows within a second or so.
	deadline := time.Now().Add(10 * time.Second)
	for value("cairn_objectstore_checkpoints_total") < 1 || value("cairn_objectstore_logged_transactions") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint: %v checkpoints, %v logged transactions", value("cairn_objectstore_checkpoints_total"), value("cairn_objectstore_logged_transactions"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if value("cairn_objectstore_db_size_bytes") <= 0 || value("cairn_objectstore_checkpoint_seconds_total") <= 0 {
		t.Error("no size or checkpoint time")
	}
}

// TestSendBlobFollowsTheClient: a blob is sent as the client takes it, a
// few chunks ahead: a client asking for a large blob and not reading makes
// the server hold a few MiB, not the whole blob (64 MiB here, held whole
// before).
func TestSendBlobFollowsTheClient(t *testing.T) {
	var blobDir string
	addr, _ := startServer(t, func(c *objectstore.Config) { blobDir = c.BlobDir })
	oid, tid := [8]byte{7: 1}, [8]byte{0: 3, 7: 1}
	// The server holds the directory (blobstore.Open locks it): the path
	// is written out.
	path := filepath.Join(blobDir, "0x00/0x00/0x00/0x00/0x00/0x00/0x00/0x01", blobstore.Repr(tid)+".blob")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20) // sparse
	f.Close()

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, w := zeo.NewReader(nc, 0), zeo.NewWriter(nc)
	p, err := zeo.ClientHandshake(r, w)
	if err != nil {
		t.Fatal(err)
	}
	codec := zeo.Codec{Encoding: p.Encoding}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, m := range []zeo.Message{zeo.Call(int64(1), "register", "1", true), zeo.Call(int64(2), "sendBlob", oid[:], tid[:])} {
		frame, err := codec.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(frame); err != nil || w.Flush() != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the server sends what it can, then waits for us
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("a client not reading a 64 MiB blob: the heap grew %d MiB", grown>>20)
	}
	// Read now, the whole blob comes, then the reply.
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := 0
	for {
		frame, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes of the blob: %v", got, err)
		}
		m, err := codec.Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		if args, ok := m.Args.(zeo.Tuple); ok && m.Method == "receiveBlobChunk" && len(args) == 3 {
			b, _ := args[2].([]byte)
			got += len(b)
		}
		if m.Method == zeo.ReplyMethod && m.ID == int64(2) {
			break
		}
	}
	if got != 64<<20 {
		t.Errorf("received %d bytes of the blob; want %d", got, 64<<20)
	}
}

// TestBlobLeftoversAndLock: a server starting on a blob directory removes
// the temporary files a killed run left in tmp/ (an upload, a claimed
// vote), not a client's; and a second server cannot open a blob directory
// a running one holds (their files, named by oid and tid, would clash).
func TestBlobLeftoversAndLock(t *testing.T) {
	blobDir := filepath.Join(t.TempDir(), "blobs")
	tmp := filepath.Join(blobDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	left := []string{filepath.Join(tmp, "upload-123.tmp"), filepath.Join(tmp, "vote-456.tmp")}
	client := filepath.Join(tmp, "tmpabc.tmp")
	for _, p := range append(left, client) {
		if err := os.WriteFile(p, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	startServer(t, func(c *objectstore.Config) { c.BlobDir = blobDir })
	for _, p := range left {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after start: %v", p, err)
		}
	}
	if _, err := os.Stat(client); err != nil {
		t.Errorf("a client's file: %v", err)
	}

	cfg := objectstore.NewConfig()
	cfg.Listen, cfg.Data, cfg.BlobDir, cfg.NoSync = "127.0.0.1:0", filepath.Join(t.TempDir(), "other.db"), blobDir, true
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	if srv, err := objectstore.New(cfg, nil, nil); !errors.Is(err, blobstore.ErrInUse) {
		if srv != nil {
			srv.Close()
		}
		t.Errorf("a second server on the same blob directory: %v", err)
	}
}
