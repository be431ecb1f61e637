package objectstore

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socket is a connection's byte stream. For TCP and Unix connections it
// makes the read and write system calls itself, through syscall.RawConn,
// with syscall.RawSyscall instead of syscall.Syscall. The socket is
// non-blocking (the runtime's poller waits for it), so these calls never
// block, and skipping the runtime's entersyscall/exitsyscall matters:
// the first entersyscall after the process was idle wakes the runtime's
// sysmon thread into 20 µs polling for at least a millisecond. A ZEO
// server with Python clients goes idle between almost every request and
// its reply, so that polling cost more CPU than the request itself
// (about 20 % of the server's CPU in profiles of loads and commits).
// TLS connections go through net.Conn as usual.
//
// Read is used by the connection's reading goroutine, Write and TryWrite
// by one writer at a time (conn.flush serialises them).
type socket struct {
	nc net.Conn
	rc syscall.RawConn // nil: use nc
}

func newSocket(nc net.Conn) *socket {
	s := &socket{nc: nc}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		if rc, err := nc.(syscall.Conn).SyscallConn(); err == nil {
			s.rc = rc
		}
	}
	return s
}

// Read reads what has arrived, waiting (with the connection's deadline)
// until something has.
func (s *socket) Read(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting for the peer to read when its buffers
// are full.
func (s *socket) Write(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Write(p)
	}
	return s.write(p, true)
}

// TryWrite writes what the kernel takes at once and never waits. ok is
// false when the socket cannot write without waiting (TLS): nothing was
// written then.
func (s *socket) TryWrite(p []byte) (n int, ok bool, err error) {
	if s.rc == nil {
		return 0, false, nil
	}
	n, err = s.write(p, false)
	return n, true, err
}

func (s *socket) write(p []byte, wait bool) (int, error) {
	var written int
	var errno syscall.Errno
	err := s.rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
			switch e {
			case 0:
				written += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return !wait
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return written, err
}
