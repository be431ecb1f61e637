package frontend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// The lane is the frontend's fast path for plain-HTTP listeners: event
// loops over raw sockets (epoll, one loop per processor, as nginx's
// workers) that serve the common proxied request — a GET or HEAD to a
// proxy route, answered with a Content-Length of at most 1 MiB — without
// a goroutine per connection or fasthttp's parsing in either direction.
// On the 2-core benchmark machine those two were most of the frontend's
// CPU per proxied request beyond nginx's (README, Performance).
//
// Everything else is the fasthttp server's, which implements all of it:
// a request the loop does not take (laneRequest says which) is given,
// with its connection and every byte received, to that listener's server,
// which serves the connection from then on; an answer the loop does not
// take (chunked, long, HTTP/1.0, Zope's 416) is finished by a goroutine
// with the same code the fasthttp path uses (laneHard), which then gives
// the connection over the same way. The lane never answers what the
// fasthttp path would answer otherwise: both share the routing, the
// forwarding rules, the response rewriting, compression, error pages,
// metrics and access log.
type lane struct {
	f       *Frontend
	loops   []*loop
	conns   atomic.Int64       // client connections the loops hold
	lconns  []atomic.Int64     // the same by listener index, for max_conns
	given   []*givenListener   // by listener index: where given connections go
	servers []*fasthttp.Server // by listener index, for their connection counts
	// upConns counts the loops' upstream connections per address, which
	// with the fasthttp pool's own stay within the upstream's max_conns.
	upConns sync.Map // string → *atomic.Int64
	done    chan struct{}
	// hard counts the exchanges laneHard is finishing, which shutdown
	// waits for as for the loops' own; stopping is set once it begins.
	hard     sync.WaitGroup
	stopping atomic.Bool
}

// laneListener is a listener whose connections the loops accept.
type laneListener struct {
	index int
	fd    int
}

// newLane starts loops accepting on lns (the plain listeners whose
// indexes are in the map's keys); servers are the listeners' fasthttp
// servers, given serve from the givenListeners.
func newLane(f *Frontend, lns map[int]net.Listener, given []*givenListener, servers []*fasthttp.Server) (*lane, error) {
	ln := &lane{f: f, given: given, servers: servers, done: make(chan struct{}), lconns: make([]atomic.Int64, len(servers))}
	var lls []laneListener
	for i, l := range lns {
		fd, err := listenerFD(l)
		if err != nil {
			return nil, err
		}
		lls = append(lls, laneListener{index: i, fd: fd})
	}
	n := f.cfg().EventLoops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		lp, err := newLoop(ln, lls)
		if err != nil {
			for _, o := range ln.loops {
				o.closeFDs()
			}
			return nil, err
		}
		ln.loops = append(ln.loops, lp)
	}
	var wg sync.WaitGroup
	for _, lp := range ln.loops {
		wg.Go(lp.run)
	}
	go func() { wg.Wait(); close(ln.done) }()
	return ln, nil
}

// listenerFD is the descriptor of a TCP listener, which stays the
// listener's (the loops accept on it; the runtime's poller, which also
// has it, has no goroutine waiting in Accept).
func listenerFD(l net.Listener) (int, error) {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return -1, errors.New("frontend: event loop needs a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// shutdown stops accepting, closes idle connections, lets requests in
// flight finish, and closes what is left when ctx ends.
func (ln *lane) shutdown(ctx context.Context) {
	ln.stopping.Store(true)
	for _, lp := range ln.loops {
		lp.stopping.Store(true)
		lp.wake()
	}
	select {
	case <-ln.done:
	case <-ctx.Done():
		for _, lp := range ln.loops {
			lp.force.Store(true)
			lp.wake()
		}
		<-ln.done
	}
	hard := make(chan struct{})
	go func() { ln.hard.Wait(); close(hard) }()
	select {
	case <-hard:
	case <-ctx.Done():
	}
}

// upCount is the counter of the loops' connections to addr.
func (ln *lane) upCount(addr string) *atomic.Int64 {
	if c, ok := ln.upConns.Load(addr); ok {
		return c.(*atomic.Int64)
	}
	c, _ := ln.upConns.LoadOrStore(addr, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// loop is one event loop: its own epoll set, connections and idle
// upstream connections; only its goroutine touches them.
type loop struct {
	ln       *lane
	epfd     int
	wakefd   int // an eventfd: shutdown's nudge
	lns      []laneListener
	paused   bool // accepting paused (out of descriptors), until the next sweep
	stopping atomic.Bool
	force    atomic.Bool
	stopped  bool // stopping seen: listeners left

	mu     sync.Mutex
	inbox  []*upConn // connections adopt gives back, for the pool
	closed bool      // the loop has ended: adopt closes what it would give

	fds     map[int32]laneFD
	clients int
	idle    map[string][]*upConn // by address, most recently used last
	waiting []*clientConn        // requests waiting for an address under max_conns (wait)
	now     time.Time
	sweep   time.Time

	// Scratch for answers read whole.
	resp    fasthttp.Response
	sctx    *fasthttp.RequestCtx // for static files (staticCtx)
	date    []byte               // "Date: …\r\n" of dateSec (appendDate)
	dateSec int64
	rd      bytes.Reader
	br      *bufio.Reader
	up      []byte // an upstream request being built
}

// laneFD is what a registered descriptor stands for.
type laneFD interface {
	event(lp *loop, ev uint32)
}

const (
	laneEvents   = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	sweepEvery   = 250 * time.Millisecond
	laneReadSize = 32 << 10
)

func newLoop(ln *lane, lls []laneListener) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	lp := &loop{ln: ln, epfd: epfd, wakefd: wakefd, lns: lls, fds: map[int32]laneFD{}, idle: map[string][]*upConn{}}
	lp.br = bufio.NewReaderSize(&lp.rd, 64<<10)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		lp.closeFDs()
		return nil, err
	}
	lp.fds[int32(wakefd)] = waker{}
	if err := lp.listen(); err != nil {
		lp.closeFDs()
		return nil, err
	}
	return lp, nil
}

// listen adds the listeners to the loop's set. Level-triggered and
// exclusive: a connection waiting wakes one loop, which takes a few.
func (lp *loop) listen() error {
	for _, l := range lp.lns {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.fd)}
		if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, l.fd, &ev); err != nil {
			return err
		}
		lp.fds[int32(l.fd)] = l
	}
	return nil
}

// unlisten removes the listeners from the loop's set.
func (lp *loop) unlisten() {
	for _, l := range lp.lns {
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
		delete(lp.fds, int32(l.fd))
	}
}

func (lp *loop) closeFDs() {
	lp.mu.Lock()
	lp.closed = true
	for _, u := range lp.inbox {
		unix.Close(u.fd)
	}
	lp.inbox = nil
	unix.Close(lp.wakefd)
	unix.Close(lp.epfd)
	lp.mu.Unlock()
}

// wake nudges the loop out of its wait, unless it has ended (its
// eventfd's number may then be another file's).
func (lp *loop) wake() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.closed {
		var one = [8]byte{1}
		_, _ = unix.Write(lp.wakefd, one[:])
	}
}

// appendDate appends the Date field, formatted once a second.
func (lp *loop) appendDate(b []byte) []byte {
	if sec := lp.now.Unix(); sec != lp.dateSec || lp.date == nil {
		lp.dateSec = sec
		lp.date = lp.now.UTC().AppendFormat(append(lp.date[:0], "Date: "...), http1Date)
		lp.date = append(lp.date, "\r\n"...)
	}
	return append(b, lp.date...)
}

// staticCtx is the loop's request context for serveStatic, emptied.
func (lp *loop) staticCtx() *fasthttp.RequestCtx {
	if lp.sctx == nil {
		lp.sctx = new(fasthttp.RequestCtx)
		lp.sctx.Init(new(fasthttp.Request), nil, fasthttpLogger{lp.ln.f.logger})
	}
	lp.sctx.Request.Reset()
	lp.sctx.Response.Reset()
	// As the fasthttp server's contexts (DisableHeaderNamesNormalizing).
	lp.sctx.Request.Header.DisableNormalizing()
	lp.sctx.Response.Header.DisableNormalizing()
	lp.sctx.Response.Header.SetNoDefaultContentType(true)
	return lp.sctx
}

type waker struct{}

func (waker) event(lp *loop, _ uint32) {
	var b [8]byte
	_, _ = unix.Read(lp.wakefd, b[:])
	lp.mu.Lock()
	in := lp.inbox
	lp.inbox = nil
	lp.mu.Unlock()
	for _, u := range in {
		if lp.stopped || lp.add(u.fd, u) != nil {
			unix.Close(u.fd)
			continue
		}
		lp.ln.upCount(u.addr).Add(1)
		u.deadline = lp.now.Add(u.pool.idleTimout)
		lp.idle[u.addr] = append(lp.idle[u.addr], u)
	}
}

func (lp *loop) run() {
	defer lp.closeFDs()
	events := make([]unix.EpollEvent, 128)
	lp.now = time.Now()
	lp.sweep = lp.now.Add(sweepEvery)
	for {
		n, err := unix.EpollWait(lp.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil && err != unix.EINTR {
			lp.ln.f.logger.Error("event loop", "err", err)
			return
		}
		lp.now = time.Now()
		for i := range max(n, 0) {
			if h, ok := lp.fds[events[i].Fd]; ok {
				h.event(lp, events[i].Events)
			}
		}
		if lp.stopping.Load() && !lp.stopped {
			lp.stopped = true
			lp.unlisten()
			lp.drain()
		}
		if lp.force.Load() {
			lp.closeAll()
			return
		}
		if !lp.now.Before(lp.sweep) {
			lp.sweep = lp.now.Add(sweepEvery)
			lp.expire()
		}
		if lp.stopped && lp.clients == 0 {
			lp.closeAll()
			return
		}
	}
}

// drain closes the connections waiting for a request and asks the others
// to close once their answer is sent.
func (lp *loop) drain() {
	for _, h := range lp.fds {
		if c, ok := h.(*clientConn); ok {
			c.closeAfter = true
			if c.state == csIdle && c.r == c.w {
				c.close(lp)
			}
		}
	}
}

func (lp *loop) closeAll() {
	for _, h := range lp.fds {
		switch x := h.(type) {
		case *clientConn:
			x.close(lp)
		case *upConn:
			x.close(lp)
		}
	}
}

// expire applies the timeouts, checked every sweepEvery: a deadline is
// met up to that much late.
func (lp *loop) expire() {
	if lp.paused && !lp.stopped {
		lp.paused = false
		if err := lp.listen(); err != nil {
			lp.paused = true
		}
	}
	lp.retryWaiting()
	for _, h := range lp.fds {
		switch x := h.(type) {
		case *clientConn:
			if !x.deadline.IsZero() && lp.now.After(x.deadline) {
				x.timedOut(lp)
			}
		case *upConn:
			if !x.deadline.IsZero() && lp.now.After(x.deadline) {
				x.timedOut(lp)
			}
		}
	}
}

// wait parks a request whose upstream addresses are all at max_conns;
// retryWaiting sends it once a connection can be had, or answers 503
// after connect_timeout, as the fasthttp path (kind "busy").
func (lp *loop) wait(c *clientConn) {
	if c.x.waitUntil.IsZero() {
		c.x.waitUntil = lp.now.Add(c.x.r.pool.connectTimeout)
	}
	lp.waiting = append(lp.waiting, c)
}

// retryWaiting tries the parked requests again: on every sweep, and when
// a connection of the loop's is closed or pooled.
func (lp *loop) retryWaiting() {
	if len(lp.waiting) == 0 {
		return
	}
	waiting := lp.waiting
	lp.waiting = nil
	for _, c := range waiting {
		switch {
		case c.fd < 0 || c.x.rt == nil || c.x.up != nil:
		case lp.now.After(c.x.waitUntil):
			c.fail(lp, fasthttp.ErrNoFreeConns)
		default:
			c.send(lp)
		}
	}
}

// dropClient uncounts a client connection leaving the loop.
func (lp *loop) dropClient(c *clientConn) {
	lp.clients--
	lp.ln.conns.Add(-1)
	lp.ln.lconns[c.li].Add(-1)
}

func (lp *loop) add(fd int, h laneFD) error {
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: laneEvents, Fd: int32(fd)}); err != nil {
		return err
	}
	lp.fds[int32(fd)] = h
	return nil
}

// discard removes *fd from the loop and closes it (-1 after); false when
// it was closed already.
func (lp *loop) discard(fd *int) bool {
	if *fd < 0 {
		return false
	}
	lp.forget(*fd)
	unix.Close(*fd)
	*fd = -1
	return true
}

// forget removes fd from the loop, before it is closed or given away (a
// descriptor duplicated stays in the epoll set otherwise).
func (lp *loop) forget(fd int) {
	_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	delete(lp.fds, int32(fd))
}

// event accepts connections on a listener.
func (l laneListener) event(lp *loop, _ uint32) {
	f := lp.ln.f
	cfg := f.cfg()
	for range 8 {
		fd, sa, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR || err == unix.ECONNABORTED:
			return
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM:
			// Out of descriptors: the connections wait in the backlog
			// until the next sweep, as listener.Patient makes the
			// fasthttp servers wait.
			f.logger.Error("accept failed; trying again", "err", err, "in", sweepEvery)
			lp.unlisten()
			lp.paused = true
			return
		case err != nil:
			f.logger.Error("accept", "err", err)
			return
		}
		c := &clientConn{fd: fd, li: l.index, peer: sockaddrIP(sa)}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		srv := lp.ln.servers[l.index]
		if int(lp.ln.lconns[l.index].Load())+int(srv.GetOpenConnectionsCount()) >= cfg.MaxConns {
			lp.refuse(fd, fasthttp.StatusServiceUnavailable, "The connection cannot be served because Server.Concurrency limit exceeded")
			continue
		}
		if err := lp.add(fd, c); err != nil {
			unix.Close(fd)
			continue
		}
		lp.clients++
		lp.ln.conns.Add(1)
		lp.ln.lconns[l.index].Add(1)
		c.deadline = lp.now.Add(cfg.ReadTimeout.D()) // the first request's, as fasthttp
	}
}

// refuse answers a connection with status and msg, and closes it: one
// over max_conns as the fasthttp server answers one over its Concurrency,
// a request head that did not come within read_timeout as requestError
// answers it.
func (lp *loop) refuse(fd, status int, msg string) {
	resp := &lp.resp
	resp.Reset()
	resp.SetStatusCode(status)
	resp.SetConnectionClose()
	resp.Header.SetServer(serverName)
	resp.Header.SetContentType("text/plain")
	resp.Header.SetContentLength(len(msg))
	resp.SetBodyString(msg) // in resp too, for the access log's count
	b := append(resp.Header.AppendBytes(lp.up[:0]), msg...)
	_, _ = unix.Write(fd, b) // a new connection's buffer takes it
	unix.Close(fd)
	lp.up = b[:0]
}

func sockaddrIP(sa unix.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap()
	}
	return netip.IPv4Unspecified()
}

// give hands a client connection, with what it sent that was not
// answered, to its listener's fasthttp server.
func (lp *loop) give(c *clientConn) {
	if _, ok := lp.fds[int32(c.fd)]; ok {
		lp.forget(c.fd)
		lp.dropClient(c)
	}
	conn, err := fdConn(c.fd)
	c.fd = -1
	if err != nil {
		lp.ln.f.logger.Warn("event loop: giving a connection", "err", err)
		return
	}
	cfg := lp.ln.f.cfg()
	var nc net.Conn = newSockConn(conn, cfg.WriteTimeout.D(), cfg.ReadTimeout.D())
	if c.r < c.w {
		nc = &prefixConn{Conn: nc, prefix: c.buf[c.r:c.w]}
	}
	lp.ln.given[c.li].give(nc)
}

// fdConn makes a socket the loop owned a net.Conn of the runtime's, and
// closes fd (the connection has a duplicate).
func fdConn(fd int) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("not a TCP connection")
	}
	return tc, nil
}

// prefixConn is a connection given to the fasthttp server with bytes the
// loop had read from it first.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// ReadFrom keeps sendfile for static files (sockConn.ReadFrom).
func (p *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := p.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{p.Conn}, r)
}

// CloseWrite and UnsafeConn are for answerLingering.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (p *prefixConn) UnsafeConn() net.Conn { return p.Conn }

// givenListener is what a lane listener's fasthttp server accepts from:
// the connections the loops give it.
type givenListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newGivenListener(addr net.Addr) *givenListener {
	return &givenListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// give passes c to the server, without making the loop wait for it.
func (g *givenListener) give(c net.Conn) {
	select {
	case g.conns <- c:
		return
	default:
	}
	go func() {
		select {
		case g.conns <- c:
		case <-g.closed:
			c.Close()
		}
	}()
}

func (g *givenListener) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.closed:
		return nil, net.ErrClosed
	}
}

func (g *givenListener) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}

func (g *givenListener) Addr() net.Addr { return g.addr }
