package objectstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// handshakeTimeout bounds the handshake: a peer that connects and says
// nothing is dropped.
const handshakeTimeout = 30 * time.Second

// maxQueued bounds the bytes waiting to be written to one client; a
// client that stops reading while invalidations pile up is disconnected.
const maxQueued = 1 << 30

// conn is one client connection. One goroutine reads and handles messages
// in arrival order; one writes the queued frames in the order they were
// queued, which is how the protocol's ordering rules are kept (replies,
// invalidations and blob chunks are all queued frames). A vote waiting
// for the commit lock runs in its own goroutine so that the connection
// keeps serving loads meanwhile.
type conn struct {
	srv   *Server
	nc    net.Conn
	log   *slog.Logger
	enc   zeo.Encoding
	codec zeo.Codec

	// Set by register, in the reading goroutine, before any vote starts.
	st       *storage
	readOnly bool

	sock *socket

	outMu    sync.Mutex // guards out, spare, flushing and closed
	out      []byte     // framed messages waiting to be written, in order
	spare    []byte     // a written buffer kept for reuse
	flushing bool       // a goroutine is writing a taken out
	closed   bool
	wake     chan struct{} // wakes writeLoop (capacity 1)
	drained  chan struct{} // a write of queued frames ended (capacity 1; awaitRoom)
	done     chan struct{}
	closing  sync.Once

	txMu sync.Mutex // guards tx
	tx   *txnState

	// Owned by the reading goroutine.
	iters    map[int64]*iterState
	nextIter int64
	upload   *os.File // the blob being streamed (storeBlobStart…End)

	bg sync.WaitGroup // vote goroutines
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv: s, nc: nc, sock: newSocket(nc),
		log:     s.log.With("client", nc.RemoteAddr().String()),
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		done:    make(chan struct{}),
		iters:   map[int64]*iterState{},
	}
}

// serve runs the connection until the peer leaves, a protocol error
// closes it, or ctx ends.
func (c *conn) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic serving connection", "panic", p, "stack", string(debug.Stack()))
		}
		c.close()
		c.cleanup()
	}()
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	r := zeo.NewReader(c.sock, int(c.srv.cfg.MaxFrame))
	w := zeo.NewWriter(c.sock)
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	announce := zeo.Protocol{Encoding: zeo.Pickle, Version: zeo.Version}
	if c.srv.cfg.Msgpack {
		announce.Encoding = zeo.Msgpack
	}
	proto, err := zeo.ServerHandshake(r, w, announce)
	if errors.Is(err, zeo.ErrStatusRequest) {
		c.sendStatus(w)
		return
	}
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.log.Info("handshake failed", "err", err)
		}
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.enc, c.codec = proto.Encoding, c.srv.codecs[proto.Encoding]
	c.srv.met.connected.Inc()
	defer c.srv.met.connected.Dec()
	// As stock ZEO logs them: an instance coming and going is what an
	// operator looks for first.
	c.log.Info("client connected", "protocol", proto.Encoding.String())
	defer c.log.Info("client disconnected")
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writeLoop() }()
	defer func() { c.close(); <-writerDone }()
	for {
		if r.Buffered() == 0 {
			// About to wait for the client: write the replies now, from
			// this goroutine, rather than wake the writing one.
			c.flush(false)
		}
		frame, err := r.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Info("closing connection", "err", err)
			}
			return
		}
		m, err := c.codec.Decode(frame)
		if err != nil {
			c.log.Warn("closing connection: undecodable message", "err", err)
			return
		}
		if err := c.dispatch(m); err != nil {
			c.log.Warn("closing connection", "method", m.Method, "err", err)
			return
		}
	}
}

// sendStatus answers "ruok": one JSON frame {storage: status}, then close.
func (c *conn) sendStatus(w *zeo.Writer) {
	all := map[string]any{}
	for _, st := range c.srv.storages {
		all[st.name] = st.statusDict()
	}
	b, _ := json.Marshal(all)
	_ = w.WriteFrame(b)
	_ = w.Flush()
}

// inlineLimit is how many bytes the reading goroutine queues before it
// wakes the writing one instead of writing them itself (a blob streamed
// by sendBlob).
const inlineLimit = 256 << 10

// writeLoop writes the frames other goroutines queue (invalidations, vote
// replies, what the reading goroutine could not write at once) until the
// connection closes.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		if !c.flush(true) {
			return
		}
	}
}

// flush writes the queued frames, one write for all of them. With wait
// false (the reading goroutine) it writes what the socket takes at once
// and leaves the rest to writeLoop, so that a client that does not read
// cannot stop the server from reading; with wait true (writeLoop) it
// writes everything. Only one goroutine writes at a time: a flush that
// finds another one writing returns, and that one writes (or hands to
// writeLoop) what was queued meanwhile. It returns false once the
// connection is closed.
func (c *conn) flush(wait bool) bool {
	for {
		c.outMu.Lock()
		if c.closed {
			c.outMu.Unlock()
			return false
		}
		if c.flushing || len(c.out) == 0 {
			c.outMu.Unlock()
			return true
		}
		buf := c.out
		c.out, c.spare, c.flushing = c.spare[:0], nil, true
		c.outMu.Unlock()
		var n int
		var err error
		if wait {
			n, err = c.sock.Write(buf)
		} else {
			n, _, err = c.sock.TryWrite(buf)
		}
		c.outMu.Lock()
		c.flushing = false
		if n < len(buf) {
			c.out = append(append(make([]byte, 0, len(buf)-n+len(c.out)), buf[n:]...), c.out...)
		} else if cap(buf) <= inlineLimit {
			c.spare = buf[:0]
		}
		more := len(c.out) > 0
		c.outMu.Unlock()
		select {
		case c.drained <- struct{}{}:
		default:
		}
		if err != nil {
			c.close()
			return false
		}
		if !more {
			return true
		}
		if !wait {
			c.wakeWriter()
			return true
		}
	}
}

// awaitRoom waits until at most limit bytes wait to be written to the
// client (the reading goroutine, between the pieces of a long answer), so
// that what a connection holds follows what its client takes. It is false
// once the connection is closed.
func (c *conn) awaitRoom(limit int) bool {
	for {
		c.outMu.Lock()
		n, closed := len(c.out), c.closed
		c.outMu.Unlock()
		switch {
		case closed:
			return false
		case n <= limit:
			return true
		}
		c.wakeWriter()
		select {
		case <-c.drained:
		case <-c.done:
			return false
		}
	}
}

func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sendFrame queues an encoded frame. It never blocks: publication calls
// it while holding the store's visibility lock. wake asks writeLoop to
// write it; without it the frame waits for the reading goroutine's next
// flush, so only that goroutine, while handling a message, passes false.
func (c *conn) sendFrame(f []byte, wake bool) {
	if uint64(len(f)) > math.MaxUint32 {
		c.log.Error("closing connection: message too large for a frame", "bytes", len(f))
		c.close()
		return
	}
	c.outMu.Lock()
	if c.closed {
		c.outMu.Unlock()
		return
	}
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(len(f)))
	c.out = append(c.out, f...)
	n := len(c.out)
	c.outMu.Unlock()
	if n > maxQueued {
		c.log.Warn("closing connection: client does not read its messages")
		c.close()
		return
	}
	if wake || n > inlineLimit {
		c.wakeWriter()
	}
}

// send encodes and queues a message (see sendFrame for wake).
func (c *conn) send(m zeo.Message, wake bool) {
	f, err := c.codec.Encode(m)
	if err != nil {
		c.log.Error("cannot encode message; closing", "msg", m.String(), "err", err)
		c.close()
		return
	}
	c.sendFrame(f, wake)
}

// reply and replyError queue a reply from the reading goroutine.
func (c *conn) reply(id, v any) { c.send(zeo.Reply(id, v), false) }

func (c *conn) replyError(id any, err error) { c.send(zeo.ErrorReply(id, exception(err)), false) }

// close stops the connection; the reading goroutine cleans up.
func (c *conn) close() {
	c.closing.Do(func() {
		c.outMu.Lock()
		c.closed = true
		c.outMu.Unlock()
		close(c.done)
		_ = c.nc.Close()
	})
}

// cleanup releases what the connection held: its transaction (and the
// commit lock), its registration and a half-streamed blob.
func (c *conn) cleanup() {
	c.abortTxn() // cancels a vote waiting for the lock
	c.bg.Wait()
	c.abortTxn() // in case that vote had just taken it
	if c.st != nil {
		c.st.unregister(c)
	}
	if c.upload != nil {
		c.upload.Close()
		os.Remove(c.upload.Name())
		c.upload = nil
	}
}

// errNoReply is returned by handlers that reply themselves (or later).
var errNoReply = errors.New("no reply")

// fatalError closes the connection even for a synchronous call.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }

func fatalf(format string, args ...any) error { return fatalError{fmt.Errorf(format, args...)} }

// dispatch handles one message. A non-nil error closes the connection.
func (c *conn) dispatch(m zeo.Message) error {
	if m.IsHeartbeat() {
		return nil
	}
	if !zeo.ValidID(m.ID) {
		return fmt.Errorf("bad msgid %s", zeo.Repr(m.ID))
	}
	if m.IsReply() {
		c.log.Debug("ignoring a reply from the client", "msg", m.String())
		return nil
	}
	h, ok := methods[m.Method]
	if !ok {
		return fmt.Errorf("unknown method %q", m.Method)
	}
	if c.st == nil && m.Method != "register" {
		return fmt.Errorf("%s called before register", m.Method)
	}
	args, ok := zeo.AsTuple(m.Args)
	if !ok {
		return fmt.Errorf("%s: arguments are not a tuple", m.Method)
	}
	v, err := h(c, m.ID, args)
	if m.IsAsync() {
		if err != nil && !errors.Is(err, errNoReply) {
			return fmt.Errorf("%s (asynchronous): %w", m.Method, err)
		}
		return nil
	}
	var fe fatalError
	switch {
	case errors.Is(err, errNoReply):
	case errors.As(err, &fe):
		c.replyError(m.ID, fe.err)
		return fe.err
	case err != nil:
		c.log.Debug("error reply", "method", m.Method, "err", err)
		c.replyError(m.ID, err)
	default:
		c.reply(m.ID, v)
	}
	return nil
}

// exception turns an error into the exception a ZEO client rebuilds
// (zeo-protocol.md §2.3).
func exception(err error) *zeo.Exception {
	var (
		ke *KeyError
		ce *ConflictError
		ue *UndoError
		ze *zeo.Exception
		ae *argError
	)
	switch {
	case errors.As(err, &ze):
		return ze
	case errors.As(err, &ke):
		return zeo.POSKeyError(bytesOf(ke.OID))
	case errors.As(err, &ce):
		cf := zeo.Conflict{OID: bytesOf(ce.OID), Committed: bytesOf(ce.Committed), Read: bytesOf(ce.Read)}
		if ce.ReadOnly {
			return zeo.ReadConflictError(cf)
		}
		return zeo.ConflictError(cf)
	case errors.As(err, &ue):
		fails := make([]zeo.UndoFailure, len(ue.Failures))
		for i, f := range ue.Failures {
			fails[i] = zeo.UndoFailure{OID: bytesOf(f.OID), Reason: f.Reason}
		}
		return zeo.MultipleUndoErrors(fails)
	case errors.Is(err, ErrReadOnly):
		return zeo.ReadOnlyError()
	case errors.As(err, &ae):
		return zeo.NewException(zeo.ClassTypeError, ae.Error())
	case errors.Is(err, ErrTIDOrder), errors.Is(err, ErrTIDRange), errors.Is(err, ErrNotLocked), errors.Is(err, errTxnState):
		return zeo.StorageTransactionError(err.Error())
	}
	return zeo.NewException("ZODB.POSException.StorageError", err.Error())
}
