package frontend

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// A client connection's states in the loop.
const (
	csIdle     = iota // waiting for a request head, or the rest of one
	csUpstream        // its request is with an upstream
	csWriting         // its answer is being sent
)

// clientConn is a client connection a loop serves.
type clientConn struct {
	fd, li int
	peer   netip.Addr
	// buf[r:w] is what the client sent that is not answered yet, the
	// request in hand first; it is not moved while a request is in hand
	// (req points into it).
	buf        []byte
	r, w       int
	out        []byte // the answer being sent, out[sent:] not yet
	sent       int
	state      uint8
	eof        bool // the client will send no more
	closeAfter bool // close once the answer is sent
	unread     bool // buf was full: the socket may hold more
	hup        bool // an event said the client hung up: read to the end
	heading    bool // part of a head has come: read_timeout runs
	deadline   time.Time
	// file, when set, is a cached static file whose body follows out,
	// sent with sendfile from fileOff (sendFile).
	file       *staticFile
	fileOff    int64
	sendN      int   // sendfile's result, from sendfileFn
	sendErr    error // sendfile's error, from sendfileFn
	sendfileFn func(fd uintptr)
	req        laneRequest
	x          exchange
}

// exchange is a request in hand, between its head and its answer.
type exchange struct {
	rt      *router
	r       *route
	start   time.Time
	up      *upConn
	request []byte // for the upstream
	tried   uint64 // addresses that failed to connect, for this request
	lastErr error  // of the last of them
	// waitUntil is when a request waiting for a connection (loop.wait)
	// gives up.
	waitUntil time.Time
	stale     int // pooled connections found closed, for this request
}

// maxStaleRetries bounds how many pooled connections one request may find
// closed before one is dialled (fasthttp tries an idempotent request 5
// times in all).
const maxStaleRetries = 4

func (c *clientConn) event(lp *loop, ev uint32) {
	if ev&unix.EPOLLOUT != 0 && c.state == csWriting {
		c.flush(lp)
	}
	if c.fd >= 0 && ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup = c.hup || ev&hangup != 0
		c.read(lp)
		if c.fd >= 0 && c.state == csIdle {
			c.serve(lp)
		}
	}
}

// read takes what the socket holds, as far as buf allows: a head of
// max_header_size, plus pipelined requests. A read that leaves room in buf
// has taken all there was (see drained).
func (c *clientConn) read(lp *loop) {
	limit := int(lp.ln.f.cfg().MaxHeaderSize) + laneReadSize
	c.unread = false
	for {
		if c.w == len(c.buf) {
			if c.r > 0 && c.state == csIdle {
				c.w = copy(c.buf, c.buf[c.r:c.w])
				c.r = 0
			}
			if c.w == len(c.buf) {
				if len(c.buf) >= limit {
					c.unread = true
					return
				}
				nb := make([]byte, min(max(2*len(c.buf), 4<<10), limit))
				copy(nb, c.buf[:c.w])
				c.buf = nb
			}
		}
		n, err := unix.Read(c.fd, c.buf[c.w:])
		switch {
		case n > 0:
			if c.w == c.r && c.state == csIdle && !c.heading {
				c.heading = true
				c.deadline = lp.now.Add(lp.ln.f.cfg().ReadTimeout.D())
			}
			short := c.w+n < len(c.buf)
			c.w += n
			if drained(short, c.hup) {
				return
			}
		case err == nil:
			c.eof = true
			return
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return
		default:
			c.close(lp)
			return
		}
	}
}

// serve starts on the next request received, if it is whole; a request
// the loop does not serve goes to the fasthttp server with the
// connection.
func (c *clientConn) serve(lp *loop) {
	cfg := lp.ln.f.cfg()
	for c.fd >= 0 && c.state == csIdle {
		in := c.buf[c.r:c.w]
		if len(in) == 0 {
			c.heading = false
			if c.eof || c.closeAfter {
				c.close(lp)
				return
			}
			c.r, c.w = 0, 0
			if c.unread {
				c.read(lp)
				continue
			}
			c.deadline = lp.now.Add(cfg.IdleTimeout.D())
			return
		}
		n := parseLaneRequest(in, &c.req, cfg.MaxHeaders)
		switch {
		case n == 0 && len(in) < int(cfg.MaxHeaderSize) && !c.eof:
			if !c.heading { // begun behind an earlier request
				c.heading = true
				c.deadline = lp.now.Add(cfg.ReadTimeout.D())
			}
			if c.unread {
				c.read(lp)
				continue
			}
			return // the rest is to come, within read_timeout
		case n <= 0 || n > int(cfg.MaxHeaderSize):
			lp.give(c)
			return
		}
		c.start(lp)
	}
}

// start routes the request in hand and sends it upstream, unless it is
// not a proxied request the loop can take.
func (c *clientConn) start(lp *loop) {
	f := lp.ln.f
	rt := f.acquire()
	path := string(c.req.path)
	r, groups, slash := rt.host(c.req.host).match(path)
	if slash || r == nil || (r.pool == nil || r.Rewrite != "") && r.static == nil || len(r.allow) > 0 || len(r.deny) > 0 || r.users != nil {
		rt.release()
		lp.give(c)
		return
	}
	c.x = exchange{rt: rt, r: r, start: lp.now, request: c.x.request[:0]}
	if r.static != nil {
		if c.req.close {
			c.closeAfter = true
		}
		if !c.staticCached(lp, r.rest(path, groups)) {
			c.static(lp, r.rest(path, groups))
		}
		return
	}
	if !c.buildRequest() {
		rt.release()
		c.x.rt = nil
		lp.give(c)
		return
	}
	c.state, c.heading, c.deadline = csUpstream, false, time.Time{}
	if c.req.close {
		c.closeAfter = true
	}
	c.send(lp)
}

// static answers the request in hand from the route's folder, with the
// fasthttp path's own serveStatic on a context of the loop's: a file in
// the static cache is answered here; a file sent from disk goes, with the
// connection, to the fasthttp server, which sends it with sendfile.
func (c *clientConn) static(lp *loop, rel string) {
	ctx := lp.staticCtx()
	lp.rd.Reset(c.buf[c.r : c.r+c.req.headLen])
	lp.br.Reset(&lp.rd)
	if err := ctx.Request.Header.Read(lp.br); err != nil {
		c.replay(lp) // cannot be: the head was read once already
		return
	}
	lp.ln.f.serveStatic(ctx, c.x.r, rel)
	if ctx.Response.IsBodyStream() {
		_ = ctx.Response.CloseBodyStream()
		c.replay(lp)
		return
	}
	c.state, c.heading, c.deadline = csUpstream, false, time.Time{}
	c.answer(lp, &ctx.Response)
	c.flush(lp)
}

// staticCached answers the commonest static request, a whole file in the
// static cache without conditions, with the head serveStatic and the
// fasthttp server would give it, written directly; false when the
// request is not that (static then takes it, and looks the file up
// again).
func (c *clientConn) staticCached(lp *loop, rel string) bool {
	r, f := c.x.r, lp.ln.f
	if c.req.conditional || r.Expires.D() > 0 || len(r.headers) > 0 {
		return false
	}
	e, file, err := r.static.lookup(rel, r.Index, bytes.HasSuffix(c.req.path, []byte("/")), lp.now)
	if err != nil || file != nil {
		if file != nil {
			file.Close()
		}
		return false
	}
	body, enc := e.body, ""
	// HEAD gets GET's fields, a compressed answer's without its length
	// (compressHead); so the compressed form is not made for it.
	vary := e.size <= maxCompressStatic && f.compressibleType(e.ctype, e.size)
	if vary {
		if enc = acceptedEncoding(c.req.acceptEncoding); enc != "" && !c.req.head {
			body = r.static.encoded(e, enc)
		}
	}
	b := append(c.out[:0], "HTTP/1.1 200 OK\r\nServer: "+serverName+"\r\n"...)
	b = lp.appendDate(b)
	b = appendField(b, "Content-Type", e.ctype)
	if enc != "" {
		b = appendField(b, "Content-Encoding", enc)
	}
	if c.req.head && enc != "" {
		b = append(b, "Transfer-Encoding: chunked\r\n"...) // as fasthttp writes an unknown length
	} else {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	if enc == "" {
		b = appendField(b, "ETag", e.etag)
		b = appendField(b, "Accept-Ranges", "bytes")
	} else {
		b = appendField(b, "ETag", weakETag(e.etag))
	}
	b = appendField(b, "Last-Modified", e.lastMod)
	if r.CacheControl != "" {
		b = appendField(b, "Cache-Control", r.CacheControl)
	}
	if vary {
		b = appendField(b, "Vary", "Accept-Encoding")
	}
	if c.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	c.out = append(b, "\r\n"...)
	resp := &lp.resp
	resp.Reset()
	resp.SetBodyRaw(body)
	switch {
	case c.req.head:
		resp.SkipBody, body = true, nil
	case enc == "" && e.file != nil:
		c.file, c.fileOff, body = e, 0, nil // after the head (flush)
	}
	c.state, c.heading, c.deadline = csUpstream, false, time.Time{}
	c.emit(lp, resp, body)
	c.flush(lp)
	return true
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// buildRequest writes the request for the upstream: the client's, with the
// route's path (VirtualHostMonster's), without Connection, with the
// forwarding fields — setForwarded's for a client that sent none of them.
func (c *clientConn) buildRequest() bool {
	r, q := c.x.r, &c.req
	b := append(c.x.request, q.method...)
	b = append(b, ' ')
	if r.vhm != nil {
		host, port, ok := simpleHostPort(q.host, "http")
		if !ok {
			return false
		}
		b = r.vhm.appendPath(b, "http", host, port, string(q.path))
		if q.query != nil {
			b = append(append(b, '?'), q.query...)
		}
	} else {
		b = append(b, q.target...)
	}
	b = append(b, " HTTP/1.1\r\n"...)
	if q.hasConn {
		b = append(b, q.fields[:q.conn[0]]...)
		b = append(b, q.fields[q.conn[1]:]...)
	} else {
		b = append(b, q.fields...)
	}
	b = append(b, "X-Forwarded-For: "...)
	b = c.peer.AppendTo(b)
	b = append(b, "\r\nX-Forwarded-Proto: http\r\nX-Real-IP: "...)
	b = c.peer.AppendTo(b)
	b = append(b, "\r\n\r\n"...)
	c.x.request = b
	return true
}

// send puts the request in hand on a connection to the route's upstream:
// a pooled one, or a new one to the next address up.
func (c *clientConn) send(lp *loop) {
	p := c.x.r.pool
	n := len(p.clients)
	first := int(p.next.Add(1)) % n
	all := ^uint64(0)
	if n < 64 {
		all = 1<<n - 1
	}
	skip := p.downAddrs(n) | c.x.tried
	if skip&all == all {
		skip = c.x.tried // all down: try those not tried yet, as pool.do
	}
	for i := range n {
		a := (first + i) % n
		if a < 64 && skip&(1<<a) != 0 {
			continue
		}
		u := lp.pooled(p, a)
		if u == nil {
			var err error
			if u, err = lp.dial(p, a); err != nil {
				switch err {
				case errNoAddr: // the fasthttp path resolves it itself
					c.replay(lp)
					return
				case errBusy:
					// At max_conns: wait, as the fasthttp path waits for
					// one of its own, up to connect_timeout.
					lp.wait(c)
					return
				}
				c.dialFailed(lp, a, err)
				return
			}
		}
		u.client, c.x.up = c, u
		u.out = c.x.request
		if !u.connecting {
			u.write(lp)
		}
		return
	}
	c.fail(lp, c.x.lastErr) // every address tried
}

// dialFailed counts a connection to address a that failed, and tries the
// next address.
func (c *clientConn) dialFailed(lp *loop, a int, err error) {
	c.x.r.pool.dialFailed(a, err)
	c.x.lastErr = err
	if a >= 64 {
		c.fail(lp, err) // not marked tried: would be tried again
		return
	}
	c.x.tried |= 1 << a
	c.send(lp)
}

// replay gives the request in hand, not sent, to the fasthttp server.
func (c *clientConn) replay(lp *loop) {
	c.x.rt.release()
	c.x.rt, c.x.up = nil, nil
	c.state = csIdle
	lp.give(c)
}

// fail answers the request in hand with the error page for err.
func (c *clientConn) fail(lp *loop, err error) {
	x := &c.x
	p := x.r.pool
	p.latency.Observe(lp.now.Sub(x.start).Seconds())
	if !isDialError(err) {
		p.errs.WithLabelValues(p.name, errorKind(err)).Inc()
	}
	status := statusFor(err)
	lp.ln.f.logger.Warn("upstream failed", "upstream", p.name, "path", string(c.req.path), "status", status, "err", err)
	resp := &lp.resp
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	setErrorPage(resp, x.rt, status)
	c.answer(lp, resp)
	c.flush(lp)
}

// answer makes resp, the answer to the request in hand, the frontend's as
// serve makes it, puts it in out (flush sends it), and logs the request.
func (c *clientConn) answer(lp *loop, resp *fasthttp.Response) {
	c.finishHead(lp.ln.f, resp)
	resp.SkipBody = c.req.head
	// What fasthttp's server adds when it writes a response.
	if code := resp.StatusCode(); code >= 200 && code != fasthttp.StatusNoContent && code != fasthttp.StatusNotModified &&
		(!c.req.head || len(resp.Body()) > 0) {
		resp.Header.SetContentLength(len(resp.Body()))
	}
	if len(resp.Header.Server()) == 0 {
		resp.Header.SetServer(serverName)
	}
	c.out = resp.Header.AppendBytes(c.out[:0])
	var body []byte
	if !resp.SkipBody {
		body = resp.Body()
	}
	c.emit(lp, resp, body)
}

// emit logs the request in hand, answered with resp, whose head is in out
// and body is body, and sends them as far as the socket takes them.
func (c *clientConn) emit(lp *loop, resp *fasthttp.Response, body []byte) {
	x := &c.x
	c.account(lp.ln.f, resp)
	c.r += c.req.headLen
	x.rt.release()
	*x = exchange{request: x.request[:0]}
	c.state, c.sent = csWriting, 0
	// Head and body in one writev, as nginx sends them; only what the
	// socket does not take is copied (the body belongs to the upstream
	// connection's buffer, the static cache or the loop's scratch).
	n := c.writev(c.out, body)
	if n >= len(c.out) {
		c.sent, n = len(c.out), n-len(c.out)
		c.out = append(c.out, body[n:]...)
	} else {
		c.sent = n
		c.out = append(c.out, body...)
	}
}

// writev writes head and body at once, as far as the socket takes them
// now; flush sends the rest, or finds the error.
func (c *clientConn) writev(head, body []byte) int {
	if len(body) == 0 {
		return 0 // flush writes the head alone
	}
	iov := [2]unix.Iovec{{Base: &head[0]}, {Base: &body[0]}}
	iov[0].SetLen(len(head))
	iov[1].SetLen(len(body))
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&iov[0])), 2)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(n)
	}
}

// finishHead does to the answer to the request in hand what serve does
// after a route: the route's headers, compression; and Connection: close
// when the connection ends with it.
func (c *clientConn) finishHead(f *Frontend, resp *fasthttp.Response) {
	if r := c.x.r; r != nil && len(r.headers) > 0 {
		setAddedHeaders(resp, r.headers)
	}
	f.compressResponse(resp, c.req.head, true, c.req.acceptEncoding) // the loops take HTTP/1.1 only
	if c.closeAfter {
		resp.Header.SetConnectionClose()
	}
}

// account counts and logs the request in hand, answered with resp.
func (c *clientConn) account(f *Frontend, resp *fasthttp.Response) {
	al := f.access.Load()
	var lr logRequest
	if al != nil {
		q := &c.req
		lr = logRequest{method: q.method, uri: q.target, proto: http11, referer: q.referer,
			userAgent: q.userAgent, status: resp.StatusCode()}
		if q.authorization != nil {
			lr.user, _, _ = parseBasicAuth(q.authorization)
		}
	}
	// Received: the head without its request line, as RawHeaders counts.
	f.account(c.x.r, resp, int64(c.req.headLen-c.req.lineLen), al, lr, c.peer, c.x.start)
}

// flush writes the answer; once it is out, the next request is served.
func (c *clientConn) flush(lp *loop) {
	for c.sent < len(c.out) || c.file != nil {
		var n int
		var err error
		switch {
		case c.sent < len(c.out) && c.file != nil:
			// The head, held back (MSG_MORE) to leave in one segment
			// with the start of the file, as nginx's tcp_nopush does.
			n, err = unix.SendmsgN(c.fd, c.out[c.sent:], nil, nil, unix.MSG_MORE)
			c.sent += max(n, 0)
		case c.sent < len(c.out):
			n, err = unix.Write(c.fd, c.out[c.sent:])
			c.sent += max(n, 0)
		default:
			if n, err = c.sendFile(); err == errFromMemory {
				continue
			}
		}
		switch {
		case n > 0:
			c.deadline = lp.now.Add(lp.ln.f.cfg().WriteTimeout.D())
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if c.deadline.IsZero() {
				c.deadline = lp.now.Add(lp.ln.f.cfg().WriteTimeout.D())
			}
			return
		default:
			c.close(lp)
			return
		}
	}
	if cap(c.out) > 256<<10 {
		c.out = nil // an answer this large is rare: not kept per connection
	}
	c.state, c.deadline = csIdle, time.Time{}
	if c.closeAfter {
		c.close(lp)
		return
	}
	c.serve(lp)
}

// sendFile sends the rest of c.file's body with sendfile, as far as the
// socket takes it; its result is flush's to handle. When the file cannot
// be sent (the cache has closed it, or it is no longer the file that was
// read: changed in place since), the rest is sent from the cached body
// instead, by flush, like any answer: the answer's head is the cached
// file's. A file that ends early once part of it has gone (changed while
// being sent) ends the connection, as nginx ends it: the rest from
// memory would make a body that was never on disk.
func (c *clientConn) sendFile() (int, error) {
	e := c.file
	if c.sendfileFn == nil {
		c.sendfileFn = c.sendfile
	}
	c.sendN, c.sendErr = 0, nil
	err := e.fileRaw.Control(c.sendfileFn)
	switch {
	case err == nil && c.sendN > 0:
		if c.fileOff += int64(c.sendN); c.fileOff == e.size {
			c.file = nil
		}
		return c.sendN, nil
	case err == nil && (c.sendErr == unix.EAGAIN || c.sendErr == unix.EINTR):
		return 0, c.sendErr
	case err == nil && c.sendErr == nil && c.fileOff > 0:
		return 0, errFileShrank
	}
	c.out = append(c.out[:0], e.body[c.fileOff:]...)
	c.sent, c.file = 0, nil
	return 0, errFromMemory
}

var (
	// errFromMemory: sendFile has put the rest of the body in out.
	errFromMemory = errors.New("frontend: file sent from memory")
	// errFileShrank: the file ended before its cached size, part of it
	// sent; flush closes the connection.
	errFileShrank = errors.New("frontend: static file shrank while sent")
	// errFileMoved: sendfile's check found the file changed before any of
	// it went; sendFile sends the cached body instead.
	errFileMoved = errors.New("frontend: static file changed since cached")
)

// sendfile is sendFile's call, with the file's descriptor held open. An
// answer's first call checks that the file is still the one read into the
// cache (a rewrite in place keeps the descriptor, and the cache looks
// again only once a second), so that no answer mixes two versions.
func (c *clientConn) sendfile(fd uintptr) {
	e := c.file
	if c.fileOff == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(int(fd), &st); err != nil || st.Size != e.size || st.Mtim.Nano() != e.mtime {
			c.sendN, c.sendErr = 0, errFileMoved
			return
		}
	}
	off := c.fileOff
	c.sendN, c.sendErr = unix.Sendfile(c.fd, int(fd), &off, int(e.size-c.fileOff))
}

func (c *clientConn) timedOut(lp *loop) {
	// A head begun and not finished within read_timeout is answered 408,
	// as the fasthttp path answers it; waiting for a request past
	// idle_timeout, or for the client to take an answer past
	// write_timeout, the connection is closed, as fasthttp closes it.
	if c.state == csIdle && c.heading {
		status, msg := requestErrorStatus(os.ErrDeadlineExceeded)
		fd := c.fd
		lp.forget(fd)
		lp.dropClient(c)
		c.fd = -1
		lp.refuse(fd, status, msg)
		// Counted and logged as the fasthttp path does, without a request
		// line (the head was not read).
		f := lp.ln.f
		f.account(nil, &lp.resp, 0, f.access.Load(), logRequest{status: status}, c.peer, lp.now)
		return
	}
	c.close(lp)
}

func (c *clientConn) close(lp *loop) {
	if !lp.discard(&c.fd) {
		return
	}
	lp.dropClient(c)
	if u := c.x.up; u != nil {
		// Its answer is still to come: the connection cannot carry another.
		u.client = nil
		u.close(lp)
	}
	if c.x.rt != nil {
		c.x.rt.release()
		c.x.rt = nil
	}
}

// upConn is a connection to an upstream address, owned by one loop.
type upConn struct {
	fd         int
	addr       string
	a          int // index of addr in pool
	pool       *pool
	client     *clientConn // whose request it carries; nil when pooled
	connecting bool
	reused     bool // it carried an answer before
	got        bool // bytes of this answer came
	suspect    bool // its last answer had no body: looked at before reuse
	out        []byte
	buf        []byte
	n          int
	headLen    int // of the answer in buf; 0 until it is whole
	bodyLen    int
	interim    int  // 1xx answers skipped
	eof        bool // the upstream closed (or reset) the connection
	hup        bool // an event said it hung up: read to the end
	resp       fasthttp.Response
	deadline   time.Time
}

// errNoAddr: the address did not resolve when the configuration was
// loaded; errBusy: the address has max_conns connections.
var (
	errNoAddr = errors.New("frontend: upstream address not resolved")
	errBusy   = errors.New("frontend: upstream at max_conns")
)

// pooled takes an idle connection to address a, if the loop has one that
// is still open.
func (lp *loop) pooled(p *pool, a int) *upConn {
	addr := p.clients[a].Addr
	for {
		list := lp.idle[addr]
		if len(list) == 0 {
			return nil
		}
		u := list[len(list)-1]
		lp.idle[addr] = list[:len(list)-1]
		if u.pool != p {
			// Of a configuration a reload replaced: same address, but
			// its timeouts and counters are the old upstream's.
			u.close(lp)
			continue
		}
		if u.suspect && !socketQuiet(u.fd) {
			u.close(lp)
			continue
		}
		u.reused, u.deadline = true, time.Time{}
		return u
	}
}

// socketQuiet reports whether nothing has come on fd unasked and it is
// not closed (rawsock.Socket.Quiet).
func socketQuiet(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN // not bytes, an end, or an error
}

// dial opens a connection to address a, without waiting for it.
func (lp *loop) dial(p *pool, a int) (*upConn, error) {
	sa := p.sockaddrs[a]
	hc := p.clients[a]
	count := lp.ln.upCount(hc.Addr)
	maxConns := hc.MaxConns
	if maxConns <= 0 {
		maxConns = fasthttp.DefaultMaxConnsPerHost
	}
	if sa == nil {
		return nil, errNoAddr
	}
	// Taken before the connection is made (the loops share the count);
	// given back below if it fails.
	if int(count.Add(1))+hc.ConnsCount() > maxConns {
		count.Add(-1)
		return nil, errBusy
	}
	ok := false
	defer func() {
		if !ok {
			count.Add(-1)
		}
	}()
	domain := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", err)}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	u := &upConn{fd: fd, addr: hc.Addr, a: a, pool: p, connecting: err != nil}
	if err := lp.add(fd, u); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	ok = true
	u.deadline = lp.now.Add(p.connectTimeout)
	return u, nil
}

func (u *upConn) event(lp *loop, ev uint32) {
	c := u.client
	if c == nil {
		if ev&^unix.EPOLLOUT != 0 {
			u.close(lp) // pooled: closed by the upstream, or unasked bytes
		}
		return
	}
	if u.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		if soerr, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
			if err == nil {
				err = unix.Errno(soerr)
			}
			u.client = nil
			u.close(lp)
			c.dialFailed(lp, u.a, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
			return
		}
		u.connecting = false
	}
	if len(u.out) > 0 && !u.write(lp) {
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.hup = u.hup || ev&hangup != 0
		u.read(lp)
	}
}

// hangup are the events after which a socket is read to its end: the
// peer's FIN (or an error) may already be queued behind the data, and
// would not be signalled again.
const hangup = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR

// drained tells that a read took all a socket held, so that reading on
// would only get EAGAIN: a read that did not fill its buffer took the
// whole receive queue, and data that comes later raises a new
// edge-triggered event (nginx's rule too). Not after a hang-up, whose
// end of file is read now or never.
func drained(short, hup bool) bool { return short && !hup }

// write sends the request; false when the connection failed (the
// request is then retried or answered).
func (u *upConn) write(lp *loop) bool {
	for len(u.out) > 0 {
		n, err := unix.Write(u.fd, u.out)
		switch {
		case n > 0:
			u.out = u.out[n:]
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			u.deadline = lp.now.Add(u.pool.writeTimeout)
			return true
		default:
			u.failed(lp, os.NewSyscallError("write", err))
			return false
		}
	}
	u.deadline = lp.now.Add(u.pool.readTimeout)
	return true
}

// read takes the answer; once it is whole it is sent to the client.
func (u *upConn) read(lp *loop) {
	eof := false
	for !eof {
		if u.n == len(u.buf) {
			if u.n >= u.limit() {
				// The head, or the whole answer, may be there: an
				// answer's head sets the room its body needs. Reading
				// stops here only when parse has ended the exchange
				// (edge-triggered: what is left unread would never be
				// signalled again).
				if u.fd < 0 || !u.parse(lp, false) {
					return
				}
			}
			nb := make([]byte, min(max(2*len(u.buf), laneReadSize), u.limit()))
			copy(nb, u.buf[:u.n])
			u.buf = nb
		}
		n, err := unix.Read(u.fd, u.buf[u.n:])
		switch {
		case n > 0:
			short := u.n+n < len(u.buf)
			u.n += n
			u.got = true // read_timeout runs from the request's sending, as on the fasthttp path
			if drained(short, u.hup) {
				u.parse(lp, false)
				return
			}
		case err == nil:
			eof = true
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			u.parse(lp, false)
			return
		default:
			// An answer may have come whole before the reset (a server
			// that refuses a request, answers and closes at once).
			if u.n > 0 {
				u.eof = true
				if u.parse(lp, true) {
					u.failed(lp, os.NewSyscallError("read", err))
				}
				return
			}
			u.failed(lp, os.NewSyscallError("read", err))
			return
		}
	}
	u.eof = eof
	u.parse(lp, eof)
}

// limit is how much of an answer buf may hold: a head of 64 KiB, then
// the head and its body.
func (u *upConn) limit() int {
	if u.headLen > 0 {
		return u.headLen + u.bodyLen
	}
	return maxUpstreamHead
}

// maxUpstreamHead is the longest answer head taken, as the fasthttp path's
// HostClient reads heads through a 32 KiB buffer (longer: 502).
const maxUpstreamHead = 32 << 10

// parse looks at what came of the answer: its head, then its body. It is
// true while the exchange waits for more of it.
func (u *upConn) parse(lp *loop, eof bool) bool {
	c := u.client
	for u.headLen == 0 {
		end := bytes.Index(u.buf[:u.n], crlfcrlf)
		if end < 0 {
			switch {
			case bytes.Contains(u.buf[:u.n], []byte("\n\n")) || bytes.Contains(u.buf[:u.n], []byte("\n\r\n")):
				u.hard(lp) // bare line feeds: fasthttp reads them
			case eof:
				u.failed(lp, io.EOF)
			case u.n >= maxUpstreamHead:
				u.failed(lp, errHeadTooLarge)
			default:
				return true
			}
			return false
		}
		resp := &u.resp
		resp.Reset()
		resp.Header.DisableNormalizing()
		resp.Header.SetNoDefaultContentType(true) // as the fasthttp server's
		lp.rd.Reset(u.buf[:end+4])
		lp.br.Reset(&lp.rd)
		if err := resp.Header.Read(lp.br); err != nil {
			u.failed(lp, redactHead(err))
			return false
		}
		code := resp.StatusCode()
		if code >= 100 && code < 200 && code != fasthttp.StatusSwitchingProtocols {
			if u.interim++; u.interim > maxInterimResponses {
				u.failed(lp, errInterim)
				return false
			}
			u.n = copy(u.buf, u.buf[end+4:u.n])
			continue
		}
		size := resp.Header.ContentLength()
		noBody := c.req.head || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified
		if code == fasthttp.StatusSwitchingProtocols || !resp.Header.IsHTTP11() ||
			!noBody && (size < 0 || size > maxBufferedBody || code == fasthttp.StatusRequestedRangeNotSatisfiable) {
			u.hard(lp)
			return false
		}
		u.headLen = end + 4
		if !noBody {
			u.bodyLen = size
		}
	}
	switch {
	case u.n-u.headLen >= u.bodyLen:
		u.done(lp)
	case eof:
		u.failed(lp, io.ErrUnexpectedEOF)
	default:
		return true
	}
	return false
}

var errHeadTooLarge = &net.OpError{Op: "read", Err: os.ErrInvalid}

// done sends the whole answer to the client, and pools the connection
// when it can carry another.
func (u *upConn) done(lp *loop) {
	c, resp := u.client, &u.resp
	code := resp.StatusCode()
	// Not when the answer came before the whole request went (the rest
	// would go out ahead of the next one).
	reuse := u.n == u.headLen+u.bodyLen && len(u.out) == 0 && !u.eof && !resp.Header.ConnectionClose() && !(c.req.head && declaresBody(&resp.Header))
	// Looked at before reuse, too, when reading stopped at a full buffer:
	// bytes past the answer may wait unread, and would not be signalled
	// again.
	u.suspect = c.req.head || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified || u.n == len(u.buf)
	c.x.r.pool.latency.Observe(lp.now.Sub(c.x.start).Seconds())
	if u.bodyLen > 0 {
		resp.SetBodyRaw(u.buf[u.headLen : u.headLen+u.bodyLen])
	}
	adaptResponse(resp)
	u.client, c.x.up = nil, nil
	c.answer(lp, resp)
	resp.Reset()
	u.n, u.headLen, u.bodyLen, u.interim, u.got = 0, 0, 0, 0, false
	if cap(u.buf) > 256<<10 {
		u.buf = nil
	}
	if reuse {
		// Pooled before the answer goes: a request pipelined behind it
		// may take the connection.
		u.deadline = lp.now.Add(u.pool.idleTimout)
		lp.idle[u.addr] = append(lp.idle[u.addr], u)
	} else {
		u.close(lp)
	}
	lp.retryWaiting()
	c.flush(lp)
}

// failed ends the exchange on a connection that failed: a pooled
// connection the upstream had closed before answering is replaced, as
// fasthttp does for an idempotent request; anything else is the error
// page fasthttp's path gives.
func (u *upConn) failed(lp *loop, err error) {
	c := u.client
	u.client = nil
	u.close(lp)
	c.x.up = nil
	if u.reused && !u.got && c.x.stale < maxStaleRetries {
		c.x.stale++
		c.send(lp)
		return
	}
	c.fail(lp, err)
}

func (u *upConn) timedOut(lp *loop) {
	c := u.client
	switch {
	case c == nil: // pooled, idle_timeout
		u.close(lp)
	case u.connecting:
		u.client = nil
		u.close(lp)
		c.x.up = nil
		c.dialFailed(lp, u.a, fasthttp.ErrDialTimeout)
	default:
		u.client = nil
		u.close(lp)
		c.x.up = nil
		c.fail(lp, fasthttp.ErrTimeout)
	}
}

func (u *upConn) close(lp *loop) {
	if !lp.discard(&u.fd) {
		return
	}
	lp.ln.upCount(u.addr).Add(-1)
	if list := lp.idle[u.addr]; len(list) > 0 {
		for i, v := range list {
			if v == u {
				lp.idle[u.addr] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}
}

// hard gives an answer the loop does not take, with both connections, to
// a goroutine that finishes the exchange as the fasthttp path would
// (laneHard) and gives the client connection to the fasthttp server.
func (u *upConn) hard(lp *loop) {
	c := u.client
	lp.forget(u.fd)
	lp.ln.upCount(u.addr).Add(-1)
	lp.forget(c.fd)
	lp.dropClient(c)
	up, uerr := fdConn(u.fd)
	cl, cerr := fdConn(c.fd)
	u.fd, c.fd = -1, -1
	if uerr != nil || cerr != nil {
		for _, x := range []*net.TCPConn{up, cl} {
			if x != nil {
				x.Close()
			}
		}
		c.x.rt.release()
		return
	}
	lp.ln.hard.Add(1)
	go lp.ln.f.laneHard(lp.ln, c, u, cl, up)
}

// laneHard finishes an exchange the loop gave over: the answer in u.buf
// (and what follows on up) read as the fasthttp path reads it (readHead,
// readBody: streamed, spooled), made the frontend's, and sent; then the
// client connection goes to the fasthttp server. up is closed at the end
// (not pooled: the loops' pools are theirs).
func (f *Frontend) laneHard(ln *lane, c *clientConn, u *upConn, client, up *net.TCPConn) {
	defer ln.hard.Done()
	x := &c.x
	defer x.rt.release()
	cfg := x.rt.cfg
	if ln.stopping.Load() {
		c.closeAfter = true // shutting down: answered, then closed, as the loops' own
	}
	p := x.r.pool
	cc := newSockConn(client, cfg.WriteTimeout.D(), cfg.ReadTimeout.D())
	uc := newCoarseConn(newSockConn(up, p.writeTimeout, 0), p.readTimeout)
	_ = uc.SetReadDeadline(time.Now().Add(p.readTimeout))
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.DisableNormalizing()
	resp.Header.SetNoDefaultContentType(true)
	resp.SkipBody = c.req.head
	first := bytes.NewReader(u.buf[:u.n])
	br := bufio.NewReaderSize(io.MultiReader(first, uc), 32<<10)
	_, err := readHead(resp, br)
	err = redactHead(err)
	var body *upstreamBody
	reusable := false
	if err == nil {
		body, reusable, err = readBody(resp, br, true)
	}
	// As RoundTrip: the connection carries another exchange when nothing
	// came past this one and nothing more may come.
	keep := err == nil && resp.Header.IsHTTP11() && !resp.Header.ConnectionClose() &&
		!(resp.SkipBody && declaresBody(&resp.Header))
	release := func(clean bool) {
		if clean && keep && br.Buffered() == 0 && first.Len() == 0 {
			ln.adopt(u, up)
			return
		}
		uc.Close()
	}
	p.latency.Observe(time.Since(x.start).Seconds())
	switch {
	case err != nil:
		uc.Close()
		p.errs.WithLabelValues(p.name, errorKind(err)).Inc()
		status := statusFor(err)
		f.logger.Warn("upstream failed", "upstream", p.name, "path", string(c.req.path), "status", status, "err", err)
		resp.Reset()
		setErrorPage(resp, x.rt, status)
		resp.Header.SetServer(serverName) // what fasthttp's server adds
	case body != nil:
		t, _ := p.clients[u.a].Transport.(transport)
		body.cut = t.cut
		uc.streaming = true // each read gets the whole read_timeout
		body.release = func(clean bool) { uc.streaming = false; release(clean) }
		resp.SetBodyStream(t.stream(body, uc), body.size)
		adaptResponse(resp)
	default:
		release(reusable)
		adaptResponse(resp)
	}
	c.finishHead(f, resp)
	c.account(f, resp)
	bw := bufio.NewWriterSize(cc, writeBufferSize)
	err = resp.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil || c.closeAfter {
		cc.Close()
		return
	}
	var nc net.Conn = cc
	if rest := c.buf[c.r+c.req.headLen : c.w]; len(rest) > 0 {
		nc = &prefixConn{Conn: cc, prefix: rest}
	}
	ln.given[c.li].give(nc)
}

// redactHead drops the quote of a malformed head from fasthttp's error (a
// Set-Cookie with a session, in the log): the fasthttp path's HostClient
// asks for that with SecureErrorLogMessage, which a response header read
// outside a HostClient cannot be given.
func redactHead(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	i := strings.Index(msg, ", contents: ")
	if i < 0 {
		return err
	}
	return redacted{msg: msg[:i], err: errors.Unwrap(err)}
}

type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

// adopt takes back into a loop's pool an upstream connection laneHard
// finished with, clean: the next request reuses it, as the fasthttp path
// reuses its own after a streamed or spooled answer.
func (ln *lane) adopt(u *upConn, tc *net.TCPConn) {
	fd := -1
	rc, err := tc.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(d uintptr) { fd, err = unix.FcntlInt(d, unix.F_DUPFD_CLOEXEC, 0) })
		if err == nil {
			err = cerr
		}
	}
	tc.Close() // the duplicate, non-blocking as the runtime made it, stays
	if err != nil || fd < 0 {
		return
	}
	*u = upConn{fd: fd, addr: u.addr, a: u.a, pool: u.pool, reused: true, suspect: true, buf: u.buf[:0]}
	lp := ln.loops[fd%len(ln.loops)]
	lp.mu.Lock()
	if lp.closed {
		lp.mu.Unlock()
		unix.Close(fd)
		return
	}
	lp.inbox = append(lp.inbox, u)
	lp.mu.Unlock()
	lp.wake()
}
