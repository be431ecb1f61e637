// Package rawsock makes the read and write system calls of a Go socket
// itself, through syscall.RawConn, with syscall.RawSyscall instead of
// syscall.Syscall.
//
// The socket is non-blocking (the runtime's poller waits for it), so these
// calls never block, and the runtime's entersyscall/exitsyscall around each
// one is wasted work. Worse, the first entersyscall after every P went idle
// wakes the runtime's sysmon thread into polling every 20 µs for a
// millisecond or more. A server whose clients send one request at a time
// goes idle between almost every request and its reply; in profiles of
// cairn-objectstore with Python clients that polling cost about a fifth of
// the server's CPU, and going around the hooks cut cairn-frontend's CPU
// per proxied request by about a sixth.
//
// A read still tries before it waits. Waiting first would save the read
// that finds nothing on a keep-alive connection, but syscall.RawConn.Read
// clears the socket's readiness before its first try, so a read that
// skipped the try could miss data that arrived just before the call.
package rawsock

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Socket reads and writes one socket. Read is used by one goroutine at a
// time, and Write and TryWrite by one at a time (the two sides may run
// concurrently).
type Socket struct {
	rc syscall.RawConn

	// The arguments and results of the read or write in progress, kept
	// here so that the functions handed to rc are bound once: a closure
	// built per call would be allocated per call.
	rbuf, wbuf                     []byte
	rn, wn                         int
	rerrno, werrno                 syscall.Errno
	sendFirst                      bool // the read in progress writes wbuf first (SendThenRead)
	readFn, writeFn, tryFn, someFn func(fd uintptr) bool
}

// How a write that finds the socket full goes on.
const (
	waitAll  = iota // wait, until all is written
	waitNone        // return what was written
	waitSome        // wait only if nothing was written yet
)

// New returns the Socket of c, a TCP or Unix connection.
func New(c syscall.Conn) (*Socket, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &Socket{rc: rc}
	s.readFn = s.read
	s.writeFn = func(fd uintptr) bool { return s.write(fd, waitAll) }
	s.tryFn = func(fd uintptr) bool { return s.write(fd, waitNone) }
	s.someFn = func(fd uintptr) bool { return s.write(fd, waitSome) }
	return s, nil
}

// Read reads what has arrived, waiting (under the connection's read
// deadline) until something has; a closed peer is io.EOF.
func (s *Socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerrno = p, 0, 0
	err := s.rc.Read(s.readFn)
	s.rbuf = nil
	return s.readResult(err)
}

// readResult is what a read that ended with err (the runtime's) returns.
func (s *Socket) readResult(err error) (int, error) {
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

// SendThenRead writes w, then waits for what arrives and reads it into r,
// without the read that Read tries first, which on a request just sent
// finds nothing (the answer cannot have come yet) and costs a system call.
// The write happens inside the read, after the runtime cleared the
// socket's readiness, so whatever arrives after the write wakes the wait.
// What arrived before the call and was not read does not: data, or the
// peer's FIN, stays unseen until more comes (a reset, the answer) or the
// read deadline passes. So SendThenRead is for a socket on which nothing
// can be waiting: one whose peer answers only what w asks, whose previous
// answer was read whole, and which the peer cannot have closed since
// (frontend/deadline.go uses it only right after the previous exchange).
//
// sent is how much of w went out. When the socket took less than all of w
// (it was full) or the write failed (err is then the write's, an
// *os.SyscallError "write"), nothing was read: the caller writes the rest
// with Write and reads with Read. Otherwise n and err are Read's.
//
// SendThenRead is a read and a write: no other Write may run meanwhile.
func (s *Socket) SendThenRead(w, r []byte) (sent, n int, err error) {
	if len(w) == 0 {
		n, err = s.Read(r)
		return 0, n, err
	}
	if len(r) == 0 {
		sent, err = s.Write(w)
		return sent, 0, err
	}
	s.wbuf, s.wn, s.werrno, s.sendFirst = w, 0, 0, true
	s.rbuf, s.rn, s.rerrno = r, 0, 0
	err = s.rc.Read(s.readFn)
	sent, s.wbuf, s.sendFirst = s.wn, nil, false
	s.rbuf = nil
	switch {
	case err != nil:
		return sent, 0, err
	case s.werrno != 0:
		return sent, 0, os.NewSyscallError("write", s.werrno)
	case sent < len(w):
		return sent, 0, nil
	}
	n, err = s.readResult(nil)
	return sent, n, err
}

// read makes one read; false means nothing was there (EAGAIN): wait. In a
// SendThenRead, the first call writes instead, and waits unless the write
// failed or the socket was full.
func (s *Socket) read(fd uintptr) bool {
	if s.sendFirst {
		s.sendFirst = false
		s.write(fd, waitNone)
		return s.werrno != 0 || s.wn < len(s.wbuf)
	}
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

// Write writes all of p, waiting (under the connection's write deadline)
// while the peer's buffers are full.
func (s *Socket) Write(p []byte) (int, error) {
	return s.writeAll(p, s.writeFn)
}

// TryWrite writes what the kernel takes at once, and never waits.
func (s *Socket) TryWrite(p []byte) (int, error) {
	return s.writeAll(p, s.tryFn)
}

// WriteSome writes what the kernel takes, waiting (under the connection's
// write deadline) only while it takes nothing: a caller can then move the
// deadline after each bit of progress, as nginx's send_timeout is the time
// between two writes rather than for a whole response.
func (s *Socket) WriteSome(p []byte) (int, error) {
	return s.writeAll(p, s.someFn)
}

func (s *Socket) writeAll(p []byte, fn func(uintptr) bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wbuf, s.wn, s.werrno = p, 0, 0
	err := s.rc.Write(fn)
	n := s.wn
	s.wbuf = nil
	if err == nil && s.werrno != 0 {
		err = os.NewSyscallError("write", s.werrno)
	}
	return n, err
}

// write writes until all is written or an error (true, with werrno set
// for the error), or the socket is full: then false to wait, or true to
// return what was written, as mode says.
func (s *Socket) write(fd uintptr, mode int) bool {
	for s.wn < len(s.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return mode == waitNone || mode == waitSome && s.wn > 0
		default:
			s.werrno = e
			return true
		}
	}
	return true
}

// Quiet reports whether nothing is waiting to be read: no data and no
// end of stream (the peer's FIN). It looks without reading or waiting
// (recv with MSG_PEEK and MSG_DONTWAIT). A pooled keep-alive connection on
// which something came unasked must not carry another request: its next
// answer would be read from those bytes.
//
// It goes through Control, not Read: Read fails at once on a socket whose
// read deadline has passed (an idle pooled connection's, armed for its
// last request), which would count as something waiting.
func (s *Socket) Quiet() bool {
	quiet := false
	err := s.rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			if e != syscall.EINTR {
				quiet = e == syscall.EAGAIN
				return
			}
		}
	})
	return err == nil && quiet
}
