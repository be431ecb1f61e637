package frontend

import (
	"net"

	"github.com/cairnstack/cairn/internal/rawsock"
)

// sockConn is a TCP connection whose reads and writes are a
// rawsock.Socket's: system calls without the runtime's hooks, which cut the
// frontend's CPU per proxied request by about a sixth on the 2-core
// benchmark machine (README, Performance). Everything else (deadlines,
// addresses, ReadFrom's sendfile, Close) is the embedded *net.TCPConn's.
// Like any net.Conn given to fasthttp, a sockConn is read by one goroutine
// at a time and written by one at a time.
type sockConn struct {
	*net.TCPConn
	raw *rawsock.Socket
}

// newSockConn wraps c; a connection that is not TCP is returned as it is.
func newSockConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := rawsock.New(tc)
	if err != nil {
		return c
	}
	return &sockConn{TCPConn: tc, raw: raw}
}

func (s *sockConn) Read(p []byte) (int, error)  { return s.raw.Read(p) }
func (s *sockConn) Write(p []byte) (int, error) { return s.raw.Write(p) }

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
