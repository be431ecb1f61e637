package objectstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnstack/cairn/blobstore"
	"github.com/cairnstack/cairn/internal/listener"
	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// Server is the ZEO 5 server: it accepts ZEO client connections and
// serves named storages, each from its own DB. Create it with New, run it
// with Serve, release it with Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	met      *serverMetrics
	tls      *tls.Config
	storages []*storage // the default storage first; fixed after New
	start    time.Time
	codecs   map[zeo.Encoding]zeo.Codec

	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}
	wg    sync.WaitGroup // connection goroutines
	close sync.Once
}

// storage is one named storage and the connections registered on it.
type storage struct {
	name     string
	readOnly bool
	db       *DB
	blobs    *blobstore.Dir
	srv      *Server
	met      *metrics

	// mu guards conns and invq. Registration adds a connection inside a
	// DB.Read, and publication reads conns while holding the DB's
	// visibility lock, so joining the broadcast is atomic with reading
	// the last tid (zeo-protocol.md §5.4 rule 4).
	mu    sync.Mutex
	conns map[*conn]struct{}
	invq  []invalidation // the newest transactions, oldest first
	first TID            // the oldest transaction in the store

	stats storageStats
}

type invalidation struct {
	tid  TID
	oids []OID
}

// storageStats are the counters server_status reports.
type storageStats struct {
	loads, stores, commits, aborts, conflicts, resolved atomic.Int64
	active, waiting                                     atomic.Int64
}

// New opens the storage files (and blob directories) that cfg names. cfg
// must have been validated. A nil logger discards; a nil registerer
// registers nothing.
func New(cfg *Config, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // registers nothing anyone reads
	}
	s := &Server{
		cfg: *cfg, log: logger, start: time.Now(),
		conns:  map[*conn]struct{}{},
		codecs: map[zeo.Encoding]zeo.Codec{},
	}
	s.cfg.Storages = slices.Clone(cfg.Storages)
	for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
		s.codecs[enc] = zeo.Codec{Encoding: enc, Limits: zeo.Limits{MaxEncoded: int(cfg.MaxFrame)}}
	}
	if cfg.TLSCert != "" {
		cert, err := sitefile.KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("objectstore: tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if cfg.TLSClientCA != "" {
			pem, err := sitefile.ReadFile(cfg.TLSClientCA, sitefile.MaxPEMFile)
			if err != nil {
				return nil, fmt.Errorf("objectstore: tls: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("objectstore: tls: no certificate in %s", cfg.TLSClientCA)
			}
			s.tls.ClientCAs, s.tls.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}
	for _, sc := range cfg.all() {
		st, err := s.openStorage(sc, reg)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("objectstore: storage %q: %w", sc.Name, err)
		}
		s.storages = append(s.storages, st)
	}
	s.met = newServerMetrics(reg)
	return s, nil
}

// openStorage opens one storage's file and blob directory.
func (s *Server) openStorage(sc StorageConfig, reg prometheus.Registerer) (*storage, error) {
	st := &storage{name: sc.Name, readOnly: sc.ReadOnly, srv: s, conns: map[*conn]struct{}{}}
	if sc.BlobDir != "" {
		b, err := blobstore.Open(sc.BlobDir)
		if err != nil {
			return nil, err
		}
		st.blobs = b
	}
	if err := os.MkdirAll(dirOf(sc.Data), 0o700); err != nil {
		if st.blobs != nil {
			st.blobs.Close()
		}
		return nil, err
	}
	db, err := Open(sc.Data, &Options{
		ReadOnly: sc.ReadOnly && fileExists(sc.Data),
		Blobs:    st.blobs, NoSync: s.cfg.NoSync, Logger: s.log.With("storage", sc.Name),
		OnPublish: st.publish,
	})
	if err != nil {
		if st.blobs != nil {
			st.blobs.Close()
		}
		return nil, err
	}
	st.db = db
	if st.blobs != nil && !sc.ReadOnly {
		// After recovery, which needs no temporary file: a crashed run's
		// uploads and claimed votes would otherwise stay for good.
		files, size, err := st.blobs.Sweep()
		if files > 0 {
			s.log.Info("removed temporary blob files of an earlier run", "storage", sc.Name, "files", files, "bytes", size)
		}
		if err != nil {
			s.log.Warn("temporary blob files", "storage", sc.Name, "err", err)
		}
	}
	st.loadInvalidations(s.cfg.InvalidationQueueSize)
	st.met = newMetrics(reg, st)
	return st, nil
}

// storage returns the storage registered under name, or nil.
func (s *Server) storage(name string) *storage {
	for _, st := range s.storages {
		if st.name == name {
			return st
		}
	}
	return nil
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			if i == 0 {
				return "/"
			}
			return p[:i]
		}
	}
	return "."
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Listen opens the configured listener.
func (s *Server) Listen() (net.Listener, error) {
	network, addr := s.cfg.ListenAddr()
	if network == "unix" {
		_ = os.Remove(addr) // a stale socket from an earlier run
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("objectstore: listen: %w", err)
	}
	return ln, nil
}

// DB returns the database of the storage named name ("" for the default
// storage), or nil if there is none.
func (s *Server) DB(name string) *DB {
	if name == "" {
		return s.storages[0].db
	}
	if st := s.storage(name); st != nil {
		return st.db
	}
	return nil
}

// Health is nil while every writable storage accepts commits.
func (s *Server) Health() error {
	for _, st := range s.storages {
		if st.readOnly {
			continue
		}
		if err := st.db.Err(); err != nil {
			return fmt.Errorf("storage %q: %w", st.name, err)
		}
	}
	return nil
}

// Serve accepts ZEO connections on ln until ctx is cancelled, then closes
// the listener and every connection (clients reconnect on their own) and
// waits for their goroutines. A transaction being written is finished
// first.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	names := make([]string, len(s.storages))
	for i, st := range s.storages {
		names[i] = st.name
	}
	s.log.Info("zeo listening", "addr", ln.Addr().String(), "storages", names)
	ln = &listener.Patient{Listener: ln, Logger: s.log}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Close closes the databases. It is safe to call twice.
func (s *Server) Close() error {
	var errs []error
	s.close.Do(func() {
		for _, st := range s.storages {
			errs = append(errs, st.db.Close())
			if st.blobs != nil {
				errs = append(errs, st.blobs.Close())
			}
		}
	})
	return errors.Join(errs...)
}

// Status is the server_status dict of the storage, as a Go struct.
type Status struct {
	Connections       int
	Loads, Stores     int64
	Commits, Aborts   int64
	Conflicts         int64
	ConflictsResolved int64
	ActiveTxns        int64
	Waiting           int64
	Start             time.Time
	LastTransaction   TID
	Objects, Size     int64
}

// Status returns a copy of the default storage's counters.
func (s *Server) Status() Status { return s.storages[0].status() }

// StatusOf returns a copy of the counters of the storage named name.
func (s *Server) StatusOf(name string) (Status, bool) {
	st := s.storage(name)
	if st == nil {
		return Status{}, false
	}
	return st.status(), true
}

func (st *storage) status() Status {
	s := st.srv
	st.mu.Lock()
	n := len(st.conns)
	st.mu.Unlock()
	ds := st.db.Stats()
	return Status{
		Connections: n,
		Loads:       st.stats.loads.Load(), Stores: st.stats.stores.Load(),
		Commits: st.stats.commits.Load(), Aborts: st.stats.aborts.Load(),
		Conflicts: st.stats.conflicts.Load(), ConflictsResolved: st.stats.resolved.Load(),
		ActiveTxns: st.stats.active.Load(), Waiting: st.stats.waiting.Load(),
		Start: s.start, LastTransaction: ds.Last, Objects: ds.Objects, Size: ds.Size,
	}
}

// register adds c to the broadcast set and returns the last tid, both
// under one read view.
func (st *storage) register(c *conn) TID {
	var last TID
	_ = st.db.Read(func(r *Reader) error {
		last = r.Last()
		st.mu.Lock()
		st.conns[c] = struct{}{}
		st.mu.Unlock()
		return nil
	})
	return last
}

func (st *storage) unregister(c *conn) {
	st.mu.Lock()
	delete(st.conns, c)
	st.mu.Unlock()
}

// finishing tags a Txn with the connection and msgid of its tpc_finish,
// so that publication queues the committer's info and reply right after
// the other connections' invalidations.
type finishing struct {
	c  *conn
	id any
	// others are the connections publication queued invalidations on
	// without waking their writers: the committer writes them itself
	// once Finish returns, which saves a goroutine switch per client.
	others []*conn
}

// publish runs inside the DB's publication (see Options.OnPublish): it
// records the transaction for getInvalidations, queues
// invalidateTransaction on every other registered connection, then info
// and the tpc_finish reply on the committer's.
func (st *storage) publish(p Publication) {
	oids := make([]any, len(p.OIDs))
	for i, o := range p.OIDs {
		oids[i] = bytesOf(o)
	}
	msg := zeo.AsyncCall("invalidateTransaction", bytesOf(p.TID), &zeo.List{Items: oids})
	fin, _ := p.Tag.(*finishing)
	st.mu.Lock()
	if st.first == ZeroTID {
		st.first = p.TID
	}
	st.invq = append(st.invq, invalidation{tid: p.TID, oids: p.OIDs})
	if n := st.srv.cfg.InvalidationQueueSize; len(st.invq) > n {
		st.invq = append(st.invq[:0:0], st.invq[len(st.invq)-n:]...)
	}
	frames := map[zeo.Encoding][]byte{}
	for c := range st.conns {
		if fin != nil && c == fin.c {
			continue
		}
		f, ok := frames[c.enc]
		if !ok {
			f, _ = st.srv.codecs[c.enc].Encode(msg)
			frames[c.enc] = f
		}
		if fin != nil {
			c.sendFrame(f, false)
			fin.others = append(fin.others, c)
		} else {
			c.sendFrame(f, true)
		}
	}
	st.mu.Unlock()
	if fin != nil {
		info := zeo.NewDict(2)
		info.SetString("length", p.Objects)
		info.SetString("size", p.Size)
		// The committer's reading goroutine is waiting in Finish and
		// writes these as soon as it returns.
		fin.c.send(zeo.AsyncCall("info", info), false)
		fin.c.send(zeo.Reply(fin.id, bytesOf(p.TID)), false)
	}
}

// loadInvalidations fills the invalidation queue from the newest
// transactions, so reconnecting clients keep their caches after a restart.
func (st *storage) loadInvalidations(n int) {
	var q []invalidation
	_ = st.db.Read(func(r *Reader) error {
		return r.TxnsBackward(func(t TxnInfo) bool {
			q = append(q, invalidation{tid: t.TID, oids: t.OIDs})
			return len(q) < n
		})
	})
	for i, j := 0, len(q)-1; i < j; i, j = i+1, j-1 {
		q[i], q[j] = q[j], q[i]
	}
	st.invq = q
	st.first = firstTID(st.db)
}

// invalidationsSince answers getInvalidations: the oids changed after
// tid, or ok false when the queue no longer reaches back to tid.
func (st *storage) invalidationsSince(tid TID) (last TID, oids []OID, ok bool) {
	last = st.db.LastTransaction()
	st.mu.Lock()
	defer st.mu.Unlock()
	if tid == last {
		return last, nil, true
	}
	if len(st.invq) == 0 {
		return last, nil, false
	}
	// Every transaction after tid must be in the queue: tid is at least
	// the oldest queued one, or the queue goes back to the first.
	if tid.Less(st.invq[0].tid) && st.invq[0].tid != st.first {
		return last, nil, false
	}
	seen := map[OID]bool{}
	for _, inv := range st.invq {
		if !tid.Less(inv.tid) || last.Less(inv.tid) {
			continue
		}
		for _, o := range inv.oids {
			if !seen[o] {
				seen[o] = true
				oids = append(oids, o)
			}
		}
	}
	return last, oids, true
}

func firstTID(db *DB) TID {
	var first TID
	_ = db.Read(func(r *Reader) error {
		if t, ok, _ := r.NextTxn(ZeroTID); ok {
			first = t.TID
		}
		return nil
	})
	return first
}

func bytesOf[T OID | TID](v T) []byte { b := v; return b[:] }
