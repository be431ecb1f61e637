package frontend

import (
	"io"
	"net"
	"os"
	"time"

	"github.com/cairnstack/cairn/internal/rawsock"
)

// sockConn is a TCP connection whose reads and writes are a
// rawsock.Socket's: system calls without the runtime's hooks, which cut the
// frontend's CPU per proxied request by about a sixth on the 2-core
// benchmark machine (README, Performance). Everything else (read
// deadlines, addresses, sendfile, Close) is the embedded *net.TCPConn's.
// Like any net.Conn given to fasthttp, a sockConn is read by one goroutine
// at a time and written by one at a time.
//
// On a client connection, the timeouts follow the progress of long
// transfers, as nginx's do; fasthttp arms one deadline per request and one
// per response, which cut every upload longer than read_timeout and every
// download longer than write_timeout, however steady the client.
//   - sendTimeout is nginx's send_timeout: the time a write may wait for
//     the client to take more. The connection then owns its write
//     deadline, armed around each such wait only (never while a streamed
//     body waits for the upstream); a write the kernel takes at once
//     (nearly every response) costs nothing more.
//   - recvTimeout is re-armed after every recvProgress bytes read, like
//     nginx's client_body_timeout but asking for more than a byte: a slow
//     loris cannot earn time with a trickle, as a request head must arrive
//     whole within read_timeout (it is at most max_header_size, less than
//     recvProgress), while an upload that keeps coming is never cut.
type sockConn struct {
	*net.TCPConn
	raw *rawsock.Socket
	// 0: fasthttp's deadlines alone (upstream connections).
	sendTimeout, recvTimeout time.Duration
	received                 int // bytes read since the read deadline was last moved
}

// recvProgress is how much a client must send to have its read deadline
// moved.
const recvProgress = 64 << 10

// newSockConn wraps c; a connection that is not TCP is returned as it is.
func newSockConn(c net.Conn, sendTimeout, recvTimeout time.Duration) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := rawsock.New(tc)
	if err != nil {
		return c
	}
	return &sockConn{TCPConn: tc, raw: raw, sendTimeout: sendTimeout, recvTimeout: recvTimeout}
}

func (s *sockConn) Read(p []byte) (int, error) {
	n, err := s.raw.Read(p)
	if s.recvTimeout > 0 {
		if s.received += n; s.received >= recvProgress {
			s.received = 0
			if derr := s.TCPConn.SetReadDeadline(time.Now().Add(s.recvTimeout)); err == nil {
				err = derr
			}
		}
	}
	return n, err
}

// SendThenRead is rawsock.Socket.SendThenRead, for upstream connections
// (no recvTimeout).
func (s *sockConn) SendThenRead(w, r []byte) (sent, n int, err error) {
	return s.raw.SendThenRead(w, r)
}

// Quiet reports whether nothing came on the connection unread
// (rawsock.Socket.Quiet).
func (s *sockConn) Quiet() bool { return s.raw.Quiet() }

// SetWriteDeadline is fasthttp's per-response deadline. With a send
// timeout the connection arms its own, around each wait for the client
// only: a deadline running from the response's start would also count the
// time a streamed body spends waiting for the upstream.
func (s *sockConn) SetWriteDeadline(t time.Time) error {
	if s.sendTimeout > 0 {
		return nil
	}
	return s.TCPConn.SetWriteDeadline(t)
}

func (s *sockConn) Write(p []byte) (int, error) {
	if s.sendTimeout == 0 {
		return s.raw.Write(p)
	}
	n, err := s.raw.TryWrite(p)
	if err != nil || n == len(p) {
		return n, err
	}
	// Disarmed after the waits, so that a later write the kernel takes at
	// once does not meet the deadline.
	defer s.TCPConn.SetWriteDeadline(time.Time{})
	for err == nil && n < len(p) {
		if err = s.TCPConn.SetWriteDeadline(time.Now().Add(s.sendTimeout)); err != nil {
			break
		}
		var m int
		m, err = s.raw.WriteSome(p[n:])
		n += m
	}
	return n, err
}

// sendPiece is how much of a file ReadFrom sends under one deadline: the
// slowest client that keeps a download going takes this much per send
// timeout (512 KiB a minute by default, about 9 KB/s).
const sendPiece = 512 << 10

// ReadFrom sends a file (or the first N bytes of one: fasthttp hands over
// an *io.LimitedReader) with sendfile, in pieces that each get the whole
// send timeout. Any other reader is copied through Write, whose deadlines
// cover only the waits for the client, not the reads from r.
func (s *sockConn) ReadFrom(r io.Reader) (total int64, err error) {
	if s.sendTimeout == 0 {
		return s.TCPConn.ReadFrom(r)
	}
	lr, limited := r.(*io.LimitedReader)
	src := r
	if limited {
		src = lr.R
	}
	f, ok := src.(*os.File)
	if !ok {
		return io.Copy(writerOnly{s}, r)
	}
	defer s.TCPConn.SetWriteDeadline(time.Time{})
	for !limited || lr.N > 0 {
		piece := int64(sendPiece)
		if limited {
			piece = min(piece, lr.N)
		}
		if err = s.TCPConn.SetWriteDeadline(time.Now().Add(s.sendTimeout)); err != nil {
			return total, err
		}
		var n int64
		n, err = s.TCPConn.ReadFrom(&io.LimitedReader{R: f, N: piece})
		total += n
		if limited {
			lr.N -= n
		}
		if err != nil || n < piece {
			return total, err
		}
	}
	return total, nil
}

// writerOnly hides a writer's ReadFrom from io.Copy (sockConn's own, and
// fasthttp's body writer's when a spool copies what is not in its file),
// and readerOnly a body's WriteTo (sentFile's, spool's), which would call
// io.Copy back.
type (
	writerOnly struct{ io.Writer }
	readerOnly struct{ io.Reader }
)

// sockListener wraps the connections a TCP listener accepts in sockConn,
// with the frontend's write and read timeouts.
type sockListener struct {
	net.Listener
	sendTimeout, recvTimeout time.Duration
}

func (l sockListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newSockConn(c, l.sendTimeout, l.recvTimeout), nil
}

// writeBufferSize is the buffer a client connection's responses are written
// through. fasthttp sends a response larger than its buffer with one writev
// only to a *net.TCPConn; to a sockConn it would take a write for the
// buffer and one for the rest. A buffer that holds a typical page (Plone's
// run to 20-30 KB) sends it with one write; larger responses take one more,
// which their size makes cheap in comparison.
const writeBufferSize = 32 << 10
