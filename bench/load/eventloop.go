package load

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"runtime"
	"sort"
	"syscall"
	"time"
	"unsafe"
)

// The event loop is how the closed model sends plain HTTP to one host:
// each loop is one OS thread that owns its share of the connections, with
// non-blocking sockets and epoll, as wrk does. With a goroutine per
// connection, Go's netpoller costs a read that finds nothing (EAGAIN)
// before every wait and a goroutine switch per request, which left the
// generator slower than wrk. Here a request costs one write, one read
// (level-triggered: nothing is read until the reply is there) and a share
// of an epoll_wait; reads and writes are raw system calls, since the
// sockets never block. Of the response head only the status and what
// delimits the body are read (respHead); bodies are counted by
// Content-Length or chunk sizes.
// The open model (requests on a schedule), TLS and scenarios with several
// hosts use the goroutine workers.

// loopTick bounds how long a loop waits for events, so that timeouts and
// the end of the run are noticed.
const loopTick = 10 * time.Millisecond

// maxHead bounds a response head; a larger one is a "bad response".
const maxHead = 64 << 10

// useEventLoop reports whether the run can use event loops.
func useEventLoop(o Options, hosts []*host) bool {
	return o.Rate == 0 && len(hosts) == 1 && hosts[0].tls == nil
}

// evConn is one connection of an event loop and the request on it.
type evConn struct {
	fd       int // -1: none
	shard    int // the recorder shard
	state    int
	req      *wireRequest
	wrote    int
	buf      []byte
	head     int // length of the response head, once parsed
	want     int // total bytes of the response; -1: read to the end, -2: chunked
	chunkAt  int // chunked: where the next chunk-size line starts
	chunked  int // chunked: the body bytes in the chunks so far
	begin    time.Time
	measured bool
	resp     respHead
	rng      *rand.Rand
}

const (
	evConnecting = iota + 1
	evWriting
	evReading
)

// loop is one event loop's state.
type loop struct {
	e       *engine
	epfd    int
	sa      syscall.Sockaddr
	family  int
	wires   []wireRequest
	cum     []int
	total   int
	timeout time.Duration
	conns   []*evConn // by fd; nil where none
	active  int
}

// sockaddr resolves addr for connect(2).
func sockaddr(addr string) (family int, sa syscall.Sockaddr, err error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		s4 := &syscall.SockaddrInet4{Port: a.Port}
		copy(s4.Addr[:], ip4)
		return syscall.AF_INET, s4, nil
	}
	s6 := &syscall.SockaddrInet6{Port: a.Port}
	copy(s6.Addr[:], a.IP.To16())
	return syscall.AF_INET6, s6, nil
}

// cloneSockaddr copies sa: connect(2) writes its raw form into the value,
// so loops on different threads must not share one.
func cloneSockaddr(sa syscall.Sockaddr) syscall.Sockaddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		c := *a
		return &c
	case *syscall.SockaddrInet6:
		c := *a
		return &c
	}
	return sa
}

// driveLoops runs the closed model on event loops, one per GOMAXPROCS
// (at most one per connection), the connections dealt out among them.
func (e *engine) driveLoops(ctx context.Context, family int, sa syscall.Sockaddr, wires []wireRequest, cum []int, total int, seed uint64) {
	n := min(runtime.GOMAXPROCS(0), e.o.Connections)
	conns := make([][]*evConn, n)
	for i := range e.o.Connections {
		conns[i%n] = append(conns[i%n], &evConn{fd: -1, shard: i, rng: rand.New(rand.NewPCG(seed, uint64(i)))})
	}
	done := make(chan struct{}, n)
	for i := range n {
		l := &loop{e: e, epfd: -1, sa: cloneSockaddr(sa), family: family, wires: wires, cum: cum, total: total,
			timeout: e.o.Timeout}
		go func() {
			l.run(ctx, conns[i])
			done <- struct{}{}
		}()
	}
	for range n {
		<-done
	}
}

func (l *loop) run(ctx context.Context, conns []*evConn) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		for _, c := range conns { // every request of this loop fails alike
			l.e.finish(c.shard, true, time.Now(), time.Now(), outcome{Err: "other"})
		}
		return
	}
	l.epfd = epfd
	defer syscall.Close(l.epfd)
	l.active = len(conns)
	for _, c := range conns {
		l.next(c)
	}
	events := make([]syscall.EpollEvent, 256)
	lastCheck := time.Now()
	for l.active > 0 {
		if ctx.Err() != nil {
			for _, c := range l.conns {
				if c != nil {
					l.closeConn(c)
				}
			}
			return
		}
		// Under load events are nearly always waiting: take them without
		// the runtime's system-call bookkeeping, and block (through it, so
		// that the runtime can run other goroutines) only when none are.
		n := epollPoll(l.epfd, events)
		if n == 0 {
			var err error
			n, err = syscall.EpollWait(l.epfd, events, int(loopTick/time.Millisecond))
			if err != nil && err != syscall.EINTR {
				return
			}
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd >= len(l.conns) || l.conns[fd] == nil {
				continue
			}
			c := l.conns[fd]
			switch c.state {
			case evConnecting:
				l.connected(c)
			case evWriting:
				l.write(c)
			case evReading:
				l.read(c)
			}
		}
		if now := time.Now(); now.Sub(lastCheck) >= loopTick {
			lastCheck = now
			for _, c := range l.conns {
				if c != nil && c.state != 0 && now.Sub(c.begin) > l.timeout {
					l.fail(c, "timeout")
				}
			}
		}
	}
}

// next starts the connection's next request, or retires the connection
// when the run is over.
func (l *loop) next(c *evConn) {
	for {
		begin := time.Now()
		measured, ok := l.e.admit(begin)
		if !ok {
			l.closeConn(c)
			c.state = 0
			l.active--
			return
		}
		k := 0
		if len(l.wires) > 1 {
			k = sort.SearchInts(l.cum, c.rng.IntN(l.total)+1)
		}
		c.req, c.wrote, c.buf, c.head, c.want, c.chunkAt, c.chunked = &l.wires[k], 0, c.buf[:0], 0, 0, 0, 0
		c.begin, c.measured = begin, measured
		if c.fd >= 0 {
			c.state = evWriting
			l.write(c)
			return
		}
		if kind := l.connect(c); kind == "" {
			return
		} else {
			l.e.finish(c.shard, measured, begin, time.Now(), outcome{Err: kind})
		}
	}
}

// connect opens a non-blocking socket to the host; "" when under way, else
// the error kind.
func (l *loop) connect(c *evConn) string {
	fd, err := syscall.Socket(l.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "connect error"
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) //nolint:errcheck // latency only
	err = syscall.Connect(fd, l.sa)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return connectErrorKind(err)
	}
	c.fd, c.state = fd, evConnecting
	for fd >= len(l.conns) {
		l.conns = append(l.conns, nil)
	}
	l.conns[fd] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.closeConn(c)
		return "connect error"
	}
	return ""
}

// connected finishes a connect and sends the request.
func (l *loop) connected(c *evConn) {
	errno, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err == nil && errno != 0 {
		err = syscall.Errno(errno)
	}
	if err != nil {
		l.fail(c, connectErrorKind(err))
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev) //nolint:errcheck // a dead socket shows on read
	c.state = evWriting
	l.write(c)
}

// write sends what is left of the request; a full socket buffer waits for
// EPOLLOUT.
func (l *loop) write(c *evConn) {
	p := c.req.bytes
	for c.wrote < len(p) {
		n, errno := rawIO(syscall.SYS_WRITE, c.fd, p[c.wrote:])
		switch errno {
		case 0:
			c.wrote += n
			continue
		case syscall.EAGAIN:
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(c.fd)}
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev) //nolint:errcheck // shows on the next write
			return
		}
		l.fail(c, errorKind(errno))
		return
	}
	if len(p) > 4096 { // may have waited for EPOLLOUT: back to reads only
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
		syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev) //nolint:errcheck
	}
	c.state = evReading
}

// read takes what has arrived and finishes the request when the response
// is complete.
func (l *loop) read(c *evConn) {
	if cap(c.buf)-len(c.buf) < 16<<10 {
		c.buf = append(c.buf, make([]byte, 32<<10)...)[:len(c.buf)]
	}
	n, errno := rawIO(syscall.SYS_READ, c.fd, c.buf[len(c.buf):cap(c.buf)])
	switch {
	case errno == syscall.EAGAIN:
		return
	case errno != 0:
		l.fail(c, errorKind(errno))
		return
	case n == 0:
		if c.want == -1 && c.head > 0 { // a body delimited by the close
			l.complete(c, true)
			return
		}
		l.fail(c, "connection closed")
		return
	}
	c.buf = c.buf[:len(c.buf)+n]
	if c.head == 0 && !l.parseHead(c) {
		return
	}
	switch {
	case c.want >= 0 && len(c.buf) >= c.want:
		l.complete(c, false)
	case c.want == -2 && l.chunksDone(c):
		l.complete(c, false)
	}
}

// parseHead parses the response head once it is all there; false when
// more is needed or the response failed.
func (l *loop) parseHead(c *evConn) bool {
	var h respHead
	for {
		end := bytes.Index(c.buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(c.buf) > maxHead {
				l.fail(c, "bad response")
			}
			return false
		}
		c.head = end + 4
		var ok bool
		if h, ok = parseRespHead(c.buf[:c.head]); !ok {
			l.fail(c, "bad response")
			return false
		}
		if h.status >= 200 || h.status == 101 {
			break
		}
		// An interim answer (100 Continue, 103 Early Hints): the final
		// one follows, as fasthttp's client (the other path) reads it.
		c.buf = append(c.buf[:0], c.buf[c.head:]...)
	}
	c.resp = h
	switch {
	case c.req.head || h.status == 204 || h.status == 304 || h.status < 200:
		c.want = c.head
	case h.chunked:
		c.want, c.chunkAt = -2, c.head
	case h.length >= 0:
		c.want = c.head + h.length
	default: // to the end of the connection
		c.want = -1
	}
	if c.want > c.head && c.want-c.head > MaxResponseBody {
		l.fail(c, "body too large")
		return false
	}
	return true
}

// chunksDone walks the chunk sizes received so far and reports whether the
// last chunk and the trailer's end are there.
func (l *loop) chunksDone(c *evConn) bool {
	for {
		rest := c.buf[c.chunkAt:]
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 {
			return false
		}
		size, ok := parseChunkSize(rest[:eol])
		if !ok || size > MaxResponseBody {
			l.fail(c, "bad response")
			return false
		}
		if size == 0 { // the last chunk: trailer fields, then an empty line
			trailer := rest[eol+2:]
			if bytes.HasPrefix(trailer, []byte("\r\n")) {
				c.want = c.chunkAt + eol + 4
				return true
			}
			if i := bytes.Index(trailer, []byte("\r\n\r\n")); i >= 0 {
				c.want = c.chunkAt + eol + 2 + i + 4
				return true
			}
			return false
		}
		next := eol + 2 + size + 2
		if len(rest) < next {
			return false
		}
		c.chunkAt += next
		c.chunked += size
	}
}

// parseChunkSize reads a chunk-size line's hex number (extensions after
// ';' ignored).
func parseChunkSize(line []byte) (int, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 8 {
		return 0, false
	}
	n := 0
	for _, b := range line {
		switch {
		case b >= '0' && b <= '9':
			n = n<<4 | int(b-'0')
		case b >= 'a' && b <= 'f':
			n = n<<4 | int(b-'a'+10)
		case b >= 'A' && b <= 'F':
			n = n<<4 | int(b-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// complete records the finished response and starts the next request.
func (l *loop) complete(c *evConn, closed bool) {
	total := len(c.buf)
	if c.want >= 0 {
		total = c.want
	}
	body := total - c.head
	if c.resp.chunked {
		body = c.chunked // the payload, as fasthttp counts it, not the framing
	}
	l.e.finish(c.shard, c.measured, c.begin, time.Now(), outcome{Status: c.resp.status, Bytes: int64(body)})
	if closed || c.want == -1 || c.req.close || c.resp.close || len(c.buf) > total {
		l.closeConn(c) // extra bytes would belong to no request
	}
	c.state = 0
	l.next(c)
}

// fail records a failed request, drops the connection and goes on.
func (l *loop) fail(c *evConn, kind string) {
	l.e.finish(c.shard, c.measured, c.begin, time.Now(), outcome{Err: kind})
	l.closeConn(c)
	c.state = 0
	l.next(c)
}

func (l *loop) closeConn(c *evConn) {
	if c.fd >= 0 {
		l.conns[c.fd] = nil
		syscall.Close(c.fd) // also leaves the epoll set
		c.fd = -1
	}
}

// rawIO is read(2) or write(2) on a non-blocking socket, without the
// runtime's system-call bookkeeping (the call never blocks), retried on
// EINTR.
func rawIO(trap uintptr, fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	for {
		r, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if errno != syscall.EINTR {
			return int(r), errno
		}
	}
}

// epollPoll takes the events that are ready without waiting (epoll_pwait
// with a zero timeout, as a raw system call: it cannot block).
func epollPoll(epfd int, events []syscall.EpollEvent) int {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(r)
}
