package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// DefaultHeartbeat is how often a client sends ZEO's keep-alive message,
// (-1, 0, ".reply", None), as ClientStorage's heartbeat_interval does.
const DefaultHeartbeat = 60 * time.Second

// Options configure Dial. The zero value registers read-write with
// storage "1" over plain TCP.
type Options struct {
	// Storage is the storage name to register with. Default "1".
	Storage string
	// ReadOnly registers read-only: writes then fail with ErrReadOnly.
	ReadOnly bool
	// TLS, when set, wraps the connection in TLS with this configuration
	// (ServerName defaults to the address's host).
	TLS *tls.Config
	// Heartbeat is the keep-alive interval. Zero means DefaultHeartbeat;
	// negative sends none.
	Heartbeat time.Duration
	// MaxFrame is the largest message accepted from the server. Zero
	// means zeo.DefaultMaxFrame.
	MaxFrame int
	// OnInvalidate, when set, is called for every invalidateTransaction
	// the server sends (commits of other connections, in tid order). It
	// runs on the connection's reading goroutine and must not block, nor
	// call Close (which waits for that goroutine).
	OnInvalidate func(Invalidation)
}

// Invalidation is one committed transaction of another client: its tid
// and the oids it changed (none for an empty transaction).
type Invalidation struct {
	TID  TID
	OIDs []OID
}

// Client is one registered ZEO connection. It is safe for concurrent use;
// see the package documentation.
type Client struct {
	nc    net.Conn
	proto zeo.Protocol
	codec zeo.Codec
	opts  Options

	wsem chan struct{} // held (capacity 1) while writing to w: serializes frames
	w    *zeo.Writer

	mu      sync.Mutex // guards pending and err
	pending map[callKey]*pendingCall
	err     error // why the connection closed; nil while open

	nextID, nextTxn atomic.Int64
	last            atomic.Uint64 // LastTID as a number
	length, size    atomic.Int64  // from get_info and info messages
	txSem           chan struct{} // one open transaction at a time

	done      chan struct{} // closed when the connection ends
	closeOnce sync.Once
	wg        sync.WaitGroup // the reading and heartbeat goroutines
}

// callKey identifies a pending call by its msgid: an int, or
// loadBefore's (oid, tid) tuple.
type callKey struct {
	n int64
	s string // oid‖tid for loadBefore
}

// pendingCall is a request waiting for its reply; identical loadBefore
// requests share one.
type pendingCall struct {
	method  string
	waiters []chan result
}

type result struct {
	v   any
	err error
}

// Dial connects to addr ("host:port", or "unix:/path" or an absolute path
// for a Unix socket), runs the handshake and registers. ctx bounds the
// whole of it.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if opts.Storage == "" {
		opts.Storage = "1"
	}
	nc, err := dialConn(ctx, addr, opts.TLS)
	if err != nil {
		return nil, err
	}
	c, err := handshake(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	v, err := c.call(ctx, "register", opts.Storage, opts.ReadOnly)
	if err != nil {
		c.Close()
		return nil, err
	}
	last, ok := as8(v)
	if !ok && !zeo.IsNone(v) {
		c.Close()
		return nil, fmt.Errorf("client: register returned %s", zeo.Repr(v))
	}
	c.advance(TID(last))
	return c, nil
}

func dialConn(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	network := "tcp"
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	} else if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if tlsCfg == nil {
		return nc, nil
	}
	cfg := tlsCfg.Clone()
	if cfg.ServerName == "" && network == "tcp" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: tls: %w", err)
	}
	return tc, nil
}

// handshake answers the server's protocol announcement and starts the
// connection's goroutines.
func handshake(ctx context.Context, nc net.Conn, opts Options) (*Client, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	r, w := zeo.NewReader(nc, opts.MaxFrame), zeo.NewWriter(nc)
	proto, err := zeo.ClientHandshake(r, w)
	if !stop() || ctx.Err() != nil {
		return nil, fmt.Errorf("client: handshake: %w", ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("client: handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &Client{
		nc: nc, proto: proto, opts: opts, w: w, wsem: make(chan struct{}, 1),
		codec:   zeo.Codec{Encoding: proto.Encoding, Limits: zeo.Limits{MaxEncoded: opts.MaxFrame}},
		pending: map[callKey]*pendingCall{},
		txSem:   make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.readLoop(r) }()
	if hb := opts.Heartbeat; hb >= 0 {
		if hb == 0 {
			hb = DefaultHeartbeat
		}
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.heartbeat(hb) }()
	}
	return c, nil
}

// Protocol is what the handshake settled on ("Z5" or "M5").
func (c *Client) Protocol() zeo.Protocol { return c.proto }

// Done is closed when the connection has ended (Close, or a failure).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is open, then why it closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and waits for the client's goroutines.
// Pending calls fail with ErrClosed. It is safe to call twice.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

// shutdown records why the connection ends, fails every pending call and
// closes the socket. Only the first cause is kept.
func (c *Client) shutdown(cause error) {
	c.closeOnce.Do(func() {
		if !errors.Is(cause, ErrClosed) {
			cause = fmt.Errorf("%w: %w", ErrClosed, cause)
		}
		c.mu.Lock()
		c.err = cause
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		close(c.done)
		_ = c.nc.Close()
		for _, p := range pending {
			for _, ch := range p.waiters {
				ch <- result{err: cause}
			}
		}
	})
}

// writeFrames sends frames in order, in one flush. Waiting for another
// writer and writing both end with ctx: a server that stops reading made
// calls (and the heartbeat) block for good whatever their context said. A
// write cut off part way leaves a frame half sent, so the connection then
// closes.
func (c *Client) writeFrames(ctx context.Context, frames ...[]byte) error {
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
	defer func() { <-c.wsem }()
	if err := c.Err(); err != nil {
		return err
	}
	var mu sync.Mutex
	written := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !written {
			_ = c.nc.SetWriteDeadline(time.Unix(1, 0)) // the write in progress returns
		}
	})
	err := c.writeAll(frames)
	mu.Lock()
	written = true
	mu.Unlock()
	stop()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		c.shutdown(err)
		return c.Err()
	}
	return nil
}

func (c *Client) writeAll(frames [][]byte) error {
	for _, f := range frames {
		if err := c.w.WriteFrame(f); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

func (c *Client) encode(m zeo.Message) ([]byte, error) {
	f, err := c.codec.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("client: encoding %s: %w", m.Method, err)
	}
	return f, nil
}

// heartbeat sends the keep-alive message every interval until the
// connection ends.
func (c *Client) heartbeat(every time.Duration) {
	frame, err := c.encode(zeo.Heartbeat())
	if err != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.writeFrames(context.Background(), frame) != nil {
				return
			}
		}
	}
}

// call sends a synchronous call and waits for its reply.
func (c *Client) call(ctx context.Context, method string, args ...any) (any, error) {
	id := c.nextID.Add(1)
	return c.roundTrip(ctx, callKey{n: id}, zeo.Call(id, method, args...), nil)
}

// roundTrip sends before (buffered asynchronous calls), then m, and waits
// for the reply to key. A request identical to one in flight is not sent
// again: it waits for the same reply.
func (c *Client) roundTrip(ctx context.Context, key callKey, m zeo.Message, before [][]byte) (any, error) {
	frame, err := c.encode(m)
	if err != nil {
		return nil, err
	}
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	p, inFlight := c.pending[key] // only loadBefore keys can repeat
	if !inFlight {
		p = &pendingCall{method: m.Method}
		c.pending[key] = p
	}
	p.waiters = append(p.waiters, ch)
	c.mu.Unlock()
	if !inFlight {
		if err := c.writeFrames(ctx, append(before, frame)...); err != nil {
			c.abandon(key, ch) // not sent (ctx ended first), or the connection is gone
			return nil, err
		}
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		c.abandon(key, ch)
		return nil, ctx.Err()
	}
}

// abandon stops waiting for a reply; the reply, when it comes, is dropped
// (deliver drops replies nobody waits for), and a call nobody waits for
// any more is forgotten: against a server that never answers, abandoned
// calls piled up for the life of the connection.
func (c *Client) abandon(key callKey, ch chan result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[key]; ok {
		for i, w := range p.waiters {
			if w == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				break
			}
		}
		if len(p.waiters) == 0 {
			delete(c.pending, key)
		}
	}
}

// readLoop reads and dispatches messages until the connection fails.
func (c *Client) readLoop(r *zeo.Reader) {
	for {
		f, err := r.ReadFrame()
		if err != nil {
			c.shutdown(err)
			return
		}
		m, err := c.codec.Decode(f)
		if err != nil {
			c.shutdown(err)
			return
		}
		switch {
		case m.IsHeartbeat():
		case m.IsReply():
			c.deliver(m)
		default:
			c.serverCall(m)
		}
	}
}

// keyOf returns the pending-call key of a reply's msgid.
func keyOf(id any) (callKey, bool) {
	if n, ok := zeo.AsInt64(id); ok {
		return callKey{n: n}, true
	}
	if t, ok := id.(zeo.Tuple); ok && len(t) == 2 {
		oid, ok1 := t[0].([]byte)
		tid, ok2 := t[1].([]byte)
		if ok1 && ok2 {
			return callKey{s: string(oid) + string(tid)}, true
		}
	}
	return callKey{}, false
}

// deliver hands a reply to the calls waiting for it. Replies nobody waits
// for (abandoned calls) are dropped, as the Python client drops them.
func (c *Client) deliver(m zeo.Message) {
	key, ok := keyOf(m.ID)
	if !ok {
		return
	}
	c.mu.Lock()
	p, ok := c.pending[key]
	if ok {
		delete(c.pending, key)
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	res := result{v: m.Args}
	if m.IsError() {
		exc, err := m.Exception()
		if err != nil {
			res.err = fmt.Errorf("client: %s: %w", p.method, err)
		} else {
			res.err = remoteError(p.method, exc)
		}
	}
	for _, ch := range p.waiters {
		ch <- res
	}
}

// serverCall handles the server's asynchronous calls.
func (c *Client) serverCall(m zeo.Message) {
	args, _ := zeo.AsTuple(m.Args)
	switch m.Method {
	case "invalidateTransaction":
		if inv, ok := parseInvalidation(args); ok {
			c.advance(inv.TID)
			if c.opts.OnInvalidate != nil {
				c.opts.OnInvalidate(inv)
			}
		}
	case "info":
		if len(args) == 1 {
			c.setInfo(args[0])
		}
	}
	// receiveBlobStart/Chunk/Stop: blobs are not supported.
}

func parseInvalidation(args zeo.Tuple) (Invalidation, bool) {
	if len(args) != 2 {
		return Invalidation{}, false
	}
	tid, ok := as8(args[0])
	if !ok {
		return Invalidation{}, false
	}
	items, ok := zeo.AsTuple(args[1])
	if !ok {
		return Invalidation{}, false
	}
	inv := Invalidation{TID: tid, OIDs: make([]OID, 0, len(items))}
	for _, it := range items {
		if o, ok := as8(it); ok {
			inv.OIDs = append(inv.OIDs, o)
		}
	}
	return inv, true
}

// setInfo takes length and size from a get_info or info dict.
func (c *Client) setInfo(v any) {
	d, ok := v.(*zeo.Dict)
	if !ok {
		return
	}
	if n, ok := d.Get("length"); ok {
		if n, ok := zeo.AsInt64(n); ok {
			c.length.Store(n)
		}
	}
	if n, ok := d.Get("size"); ok {
		if n, ok := zeo.AsInt64(n); ok {
			c.size.Store(n)
		}
	}
}

// advance moves LastTID forward to t (never back).
func (c *Client) advance(t TID) {
	n := t.Uint64()
	for {
		old := c.last.Load()
		if n <= old || c.last.CompareAndSwap(old, n) {
			return
		}
	}
}

// LastTID is the newest tid this client knows of: register's reply,
// advanced by invalidations and by its own commits.
func (c *Client) LastTID() TID { return TIDFromUint64(c.last.Load()) }

// Len is the object count the server last reported (get_info, and info
// after each of this client's commits).
func (c *Client) Len() int64 { return c.length.Load() }

// Size is the storage size in bytes the server last reported.
func (c *Client) Size() int64 { return c.size.Load() }
