package frontend

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// sockConn is a TCP connection that makes its read and write system calls
// with syscall.RawSyscall instead of syscall.Syscall. The socket is
// non-blocking (the runtime's poller waits for it), so the calls never
// block, and the runtime's entersyscall/exitsyscall around each one is
// wasted work; worse, the first entersyscall after a quiet spell wakes the
// runtime's sysmon thread into polling every 20 µs. A proxied request makes
// four of these calls and two more that find nothing to read; going around
// the bookkeeping cut the frontend's CPU per proxied request by about a
// seventh on the 2-core benchmark machine (README, Performance).
//
// A read still tries before it waits, though on a keep-alive connection the
// next request, or the upstream's answer to the request just written, is
// almost never there yet. Waiting first would save that read, but Go's
// poller cannot do it: syscall.RawConn.Read clears the connection's
// readiness before its first try, so data that arrived before the call
// would not wake the wait.
//
// Everything else (deadlines, addresses, ReadFrom's sendfile, Close) is the
// embedded *net.TCPConn's. Like any net.Conn given to fasthttp, a sockConn
// is read by one goroutine at a time and written by one at a time.
type sockConn struct {
	*net.TCPConn
	rc syscall.RawConn

	// The arguments and results of the read or write in progress, kept
	// here so that the functions handed to rc are bound once (a closure
	// built per call would be allocated per call).
	rbuf, wbuf       []byte
	rn, wn           int
	rerrno, werrno   syscall.Errno
	tryRead, doWrite func(fd uintptr) bool
}

// newSockConn wraps c; a connection that is not TCP is returned as it is.
func newSockConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &sockConn{TCPConn: tc, rc: rc}
	s.tryRead = s.readFD
	s.doWrite = s.writeFD
	return s
}

// Read reads what has arrived, waiting (under the read deadline) until
// something has.
func (s *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.tryRead)
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case s.rerrno != 0:
		return 0, os.NewSyscallError("read", s.rerrno)
	case s.rn == 0:
		return 0, io.EOF
	}
	return s.rn, nil
}

// readFD makes one read; false means nothing was there (EAGAIN).
func (s *sockConn) readFD(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.rn, s.rerrno = int(r), e
		return true
	}
}

// Write writes all of p, waiting (under the write deadline) while the
// peer's buffers are full.
func (s *sockConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wbuf, s.wn, s.werrno = p, 0, 0
	err := s.rc.Write(s.doWrite)
	n := s.wn
	s.wbuf = nil
	if err == nil && s.werrno != 0 {
		err = os.NewSyscallError("write", s.werrno)
	}
	return n, err
}

// writeFD writes until all is written (true), the socket is full (false:
// wait), or an error (true, with werrno).
func (s *sockConn) writeFD(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// sockListener wraps the connections a TCP listener accepts in sockConn.
type sockListener struct{ net.Listener }

func (l sockListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newSockConn(c), nil
}

// writeBufferSize is the buffer a client connection's responses are written
// through. fasthttp sends a response larger than its buffer with one writev
// only to a *net.TCPConn; to a sockConn it would take a write for the
// buffer and one for the rest. A buffer that holds a typical page (Plone's
// run to 20-30 KB) sends it with one write; larger responses take one more,
// which their size makes cheap in comparison.
const writeBufferSize = 32 << 10
