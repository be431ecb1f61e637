package frontend

import (
	"io"
	"net"
	"time"
)

// coarseConn is an upstream connection whose read deadline moves only when
// it must. fasthttp's HostClient sets a read deadline on every request (now
// plus the upstream's timeout), and each one changes a runtime timer. A
// deadline already armed between the one asked for and slack after it is
// kept, and a new one is armed slack late, so a keep-alive connection
// re-arms its timer once per slack rather than once per request. An
// upstream that hangs is cut off up to slack after its timeout, never
// before. (The write deadline is the sockConn's own, armed only around
// waits for the upstream, as on client connections.)
//
// Upstream connections only: on a client connection fasthttp's server
// alternates each request between the idle timeout (waiting for the next
// request) and the read timeout (reading it), so a deadline that is kept
// would have to be late by their difference.
//
// Like the net.Conn it wraps for fasthttp, a coarseConn is used by one
// goroutine at a time.
//
// While a response body is streamed to the client (transport.go), each
// read is given the whole read timeout from its start (moved in the same
// coarse steps): the upstream's read_timeout then bounds each wait for
// more of the body, as nginx's proxy_read_timeout does, and not the time
// the frontend spends waiting for a slow client in between.
type coarseConn struct {
	net.Conn
	readTimeout time.Duration
	read        time.Time // what Conn has armed; zero for none
	streaming   bool      // a body is being streamed: a deadline per read
	used        bool      // an answer came on it: a failure before the next one is a closed keep-alive connection
	// suspect is set when the last answer ended at its head by rule (to
	// HEAD, 204, 304), or was streamed: an application that produced a
	// body for a bodiless answer anyway (a view answering HEAD with a
	// page, which waitress then sends), or an upstream sending on past a
	// body, leaves bytes that would be read as the next request's answer,
	// another client's. Bytes already read are seen at once; such a
	// connection is also looked at before its next use (quiet), for bytes
	// that came later. (Answers read whole are not: a look costs a system
	// call per request, and bytes past a body that came with it are seen.)
	suspect bool

	// A request that goes out in one small write, on a connection whose
	// previous request was sent moments ago, is held (hold, pending) and
	// written by the read of its answer (sendThenRead). sendErr is that
	// write's failure, which the transport treats as a failed send, not a
	// failed answer.
	hold     bool
	pending  []byte
	sendErr  error
	lastSent time.Time  // when the previous request was sent on it
	st       sendInRead // Conn, when it can write inside a read (a sockConn); else nothing is held
}

// sendInRead is a connection that can write inside a read
// (rawsock.Socket.SendThenRead).
type sendInRead interface {
	SendThenRead(w, r []byte) (sent, n int, err error)
}

// Holding a request for the read of its answer skips the first read of
// the answer, which would find nothing; but that read also finds what
// came before the request and was not read, such as the FIN of an
// upstream that closed the idle connection, and without it such a
// connection is noticed only when the upstream resets it (an upstream
// that closes lingering, reading on, never does: the answer's read_timeout
// then runs out). So a request is held only on a connection whose previous
// request went out less than sendThenReadWithin ago (under load, every
// pooled connection; the saving matters only there), and only when it
// goes out in one write of at most maxHeld bytes (a request sent in parts
// can be answered, and the connection kept, before its last part).
const (
	sendThenReadWithin = 10 * time.Millisecond
	maxHeld            = 16 << 10
)

func newCoarseConn(c net.Conn, readTimeout time.Duration) *coarseConn {
	st, _ := c.(sendInRead)
	return &coarseConn{Conn: c, readTimeout: readTimeout, st: st}
}

// slack is how late a kept or newly armed deadline may be: a sixteenth of
// its timeout (3.75 s of the default 60 s).
func slack(timeout time.Duration) time.Duration { return timeout / 16 }

// quiet reports whether nothing came on the connection since its last
// answer; true when the connection cannot tell.
func (c *coarseConn) quiet() bool {
	q, ok := c.Conn.(interface{ Quiet() bool })
	return !ok || q.Quiet()
}

func (c *coarseConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		return c.sendThenRead(p)
	}
	if c.streaming && c.readTimeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *coarseConn) SetReadDeadline(t time.Time) error {
	if keep(c.read, t, slack(c.readTimeout)) {
		return nil
	}
	t = late(t, slack(c.readTimeout))
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	c.read = t
	return nil
}

// holdRequest is called as a request, sent at now, is about to be
// written: it is held if it can be (above).
func (c *coarseConn) holdRequest(now time.Time) {
	c.hold = c.st != nil && c.used && now.Sub(c.lastSent) < sendThenReadWithin
	c.lastSent, c.sendErr, c.pending = now, nil, c.pending[:0]
}

// Write sends p, or holds it (copied: it is the pool's writer buffer) as a
// request's only write. A second write, or a large one, ends the holding:
// what was held goes first.
func (c *coarseConn) Write(p []byte) (int, error) {
	if !c.hold {
		return c.Conn.Write(p)
	}
	if len(c.pending) > 0 || len(p) > maxHeld {
		c.hold = false
		if err := c.sendPending(); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	c.pending = append(c.pending, p...)
	return len(p), nil
}

func (c *coarseConn) sendPending() error {
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

// sendThenRead sends the held request and reads the first of its
// answer, the write made inside the read (rawsock.Socket.SendThenRead),
// which saves the read that would find nothing; about one system call of
// the six a proxied request costs.
func (c *coarseConn) sendThenRead(p []byte) (int, error) {
	w := c.pending
	c.pending, c.hold = c.pending[:0], false
	sent, n, err := c.st.SendThenRead(w, p)
	if sent == len(w) {
		return n, err
	}
	if err == nil { // the socket was full: the rest goes as any write
		_, err = c.Conn.Write(w[sent:])
	}
	if err != nil {
		c.sendErr = err
		return 0, err
	}
	return c.Conn.Read(p)
}

// ReadFrom hands a request body to the wrapped connection's ReadFrom
// (sockConn sends a file, a body from body_temp_dir, with sendfile) rather
// than through fasthttp's 4 KiB writer buffer a piece at a time.
func (c *coarseConn) ReadFrom(r io.Reader) (int64, error) {
	c.hold = false
	if err := c.sendPending(); err != nil {
		return 0, err
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// SetDeadline sets both deadlines exactly (fasthttp uses it only around a
// TLS handshake).
func (c *coarseConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetDeadline(t); err != nil {
		return err
	}
	c.read = t
	return nil
}

// keep reports whether the armed deadline serves for t: neither is "none",
// and armed falls between t and t+slack.
func keep(armed, t time.Time, slack time.Duration) bool {
	return !t.IsZero() && !armed.IsZero() && !armed.Before(t) && armed.Sub(t) <= slack
}

// late is the deadline to arm for t: slack later, so that the next requests
// keep it.
func late(t time.Time, slack time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(slack)
}
