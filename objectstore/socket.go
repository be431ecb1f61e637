package objectstore

import (
	"net"
	"syscall"

	"github.com/cairnstack/cairn/internal/rawsock"
)

// socket is a connection's byte stream: for TCP and Unix connections a
// rawsock.Socket, whose system calls skip the runtime's hooks (with Python
// clients the server goes idle between nearly every request and reply, and
// those hooks woke the runtime's sysmon thread each time); TLS connections
// go through net.Conn as usual.
//
// Read is used by the connection's reading goroutine, Write and TryWrite
// by one writer at a time (conn.flush serialises them).
type socket struct {
	nc  net.Conn
	raw *rawsock.Socket // nil: use nc
}

func newSocket(nc net.Conn) *socket {
	s := &socket{nc: nc}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		s.raw, _ = rawsock.New(nc.(syscall.Conn))
	}
	return s
}

// Read reads what has arrived, waiting (with the connection's deadline)
// until something has.
func (s *socket) Read(p []byte) (int, error) {
	if s.raw == nil {
		return s.nc.Read(p)
	}
	return s.raw.Read(p)
}

// Write writes all of p, waiting for the peer to read when its buffers
// are full.
func (s *socket) Write(p []byte) (int, error) {
	if s.raw == nil {
		return s.nc.Write(p)
	}
	return s.raw.Write(p)
}

// TryWrite writes what the kernel takes at once and never waits. ok is
// false when the socket cannot write without waiting (TLS): nothing was
// written then.
func (s *socket) TryWrite(p []byte) (n int, ok bool, err error) {
	if s.raw == nil {
		return 0, false, nil
	}
	n, err = s.raw.TryWrite(p)
	return n, true, err
}
