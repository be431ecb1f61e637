package frontend

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"time"

	"github.com/valyala/fasthttp"
)

// maxBufferedBody is the largest upstream body read whole before the
// response is sent: in memory it can be compressed, and leaves with the
// headers in one write. A larger body, or one of unknown length (chunked,
// or until the upstream closes), is streamed to the client as it comes, so
// a download costs the buffers' memory, not its size (nginx's
// proxy_buffering spills such bodies to temporary files; streaming needs
// neither memory nor disk).
const maxBufferedBody = 1 << 20

// transport is fasthttp's HostClient round trip (its default transport,
// client.go) with one change: the response head is read first, then a body
// of known length up to maxBufferedBody is read whole as fasthttp does, and
// any other is handed on as a stream (upstreamBody). fasthttp's own
// streaming (StreamResponseBody) streams every body, at four allocations
// and a lock per response: 5 % more CPU per proxied 100 B or 20 KB
// response in interleaved runs.
//
// A request is sent again (by HostClient.Do, for an idempotent request)
// only when it failed on a keep-alive connection used before, while being
// sent or before a byte of the answer came: the upstream had closed that
// connection (staleConn). fasthttp's own transport also retries after a
// timeout, and after an answer cut short, so a hung upstream took five
// times its read_timeout, and five of its threads, before the 504.
type transport struct {
	spool *spooling                  // nil: bodies are streamed as the client takes them
	cut   func(got int64, err error) // told of a streamed body the upstream cut short, with the bytes it sent
}

// staleConn is the error of a request that failed on a keep-alive
// connection the upstream had closed (it restarted, or timed the
// connection out): sent but not answered at all. It may be sent again, as
// Go's net/http also does for idempotent requests; pool.do does so for a
// body in a temporary file, which fasthttp never retries.
type staleConn struct{ error }

func (e staleConn) Unwrap() error { return e.error }

// maxInterimResponses bounds the 1xx responses skipped before the final
// one, as fasthttp does.
const maxInterimResponses = 10

var (
	errInterim  = errors.New("frontend: too many 1xx responses from the upstream")
	errSwitched = errors.New("frontend: upstream switched protocols unasked (101)")
)

func (t transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	cs, _ := conn.(*coarseConn)
	for cs != nil && (cs.suspect || cs.used && !idempotent(&req.Header)) {
		// Something sent after the last answer is not the next one's; and
		// a request that may not be sent twice (a POST) goes only on a
		// pooled connection the upstream has not closed meanwhile (a Zope
		// instance restarted: it would fail, 502, and not be retried). A
		// connection that is not quiet is dropped, and the pool asked
		// again (each turn closes one, so this ends, at a new connection
		// at the latest).
		cs.suspect = false
		if cs.quiet() {
			break
		}
		hc.CloseConn(cc)
		if cc, err = hc.AcquireConn(0, req.ConnectionClose()); err != nil {
			return false, err
		}
		conn = cc.Conn()
		cs, _ = conn.(*coarseConn)
	}
	reused := cs != nil && cs.used
	now := time.Now()
	if hc.WriteTimeout > 0 {
		if err := conn.SetWriteDeadline(now.Add(hc.WriteTimeout)); err != nil {
			hc.CloseConn(cc)
			return false, err
		}
	}
	if cs != nil {
		cs.holdRequest(now)
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		return sendFailed(err, reused)
	}
	if hc.ReadTimeout > 0 {
		if err := conn.SetReadDeadline(now.Add(hc.ReadTimeout)); err != nil {
			hc.CloseConn(cc)
			return false, err
		}
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	br := hc.AcquireReader(conn)
	answered, err := readHead(resp, br)
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		if cs != nil && cs.sendErr != nil {
			return sendFailed(cs.sendErr, reused)
		}
		if reused && !answered {
			return true, staleConn{err}
		}
		return false, err
	}
	if cs != nil {
		cs.used = true
	}
	body, reusable, err := readBody(resp, br, req.Header.IsHTTP11())
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return false, err
	}
	// An HTTP/1.0 answer is never followed by another on the connection:
	// its framing rules differ (a Transfer-Encoding it carries is not to be
	// trusted, RFC 9112 §6.1), and upstreams speak HTTP/1.1.
	reuse := !req.ConnectionClose() && !resp.ConnectionClose() && resp.Header.IsHTTP11()
	if body == nil {
		// Bytes already read past the answer are not the next one's; nor
		// is a body an answer to HEAD declares, which waitress sends when
		// the application produced one, and which may still be on its way
		// (no look before the next use could be sure to see it).
		reuse = reuse && reusable && br.Buffered() == 0 && !(resp.SkipBody && declaresBody(&resp.Header))
		hc.ReleaseReader(br)
		if reuse {
			if cs != nil {
				code := resp.StatusCode()
				cs.suspect = resp.SkipBody || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified
			}
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
		return false, nil
	}
	if cs != nil {
		cs.streaming = true
	}
	body.release = func(clean bool) {
		if cs != nil {
			cs.streaming = false
		}
		clean = clean && br.Buffered() == 0 // bytes past the body are not the next answer's
		hc.ReleaseReader(br)
		if clean && reuse {
			if cs != nil {
				cs.suspect = true
			}
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}
	body.cut = t.cut
	resp.SetBodyStream(t.stream(body, conn), body.size)
	return false, nil
}

// stream is what the client is sent body from: a spool, or the body
// itself when spooling is off or its temporary file cannot be made.
func (t transport) stream(body *upstreamBody, conn net.Conn) io.Reader {
	if t.spool == nil {
		return body
	}
	s, err := newSpool(body, conn, t.spool)
	if err != nil {
		t.spool.logger.Error("response temporary file", "err", err)
		return body
	}
	return s
}

// declaresBody reports whether an answer's head announces a body: a
// Content-Length over zero, chunked (-1), or no length, a body until the
// upstream closes (-2).
func declaresBody(h *fasthttp.ResponseHeader) bool {
	return h.ContentLength() != 0
}

// sendFailed is RoundTrip's answer to a request that could not be sent:
// a timeout, or on a reused connection one the upstream had closed.
func sendFailed(err error, reused bool) (retry bool, _ error) {
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return false, fasthttp.ErrTimeout
	}
	if reused {
		return true, staleConn{err}
	}
	return false, err
}

// readHead reads the response head from br, skipping 1xx answers.
// answered is false when the upstream sent nothing at all: fasthttp
// reports that as a bare io.EOF, whatever the read's error (a head cut
// short is another error, which may wrap io.EOF).
func readHead(resp *fasthttp.Response, br *bufio.Reader) (answered bool, err error) {
	for n := 0; ; n++ {
		if err := resp.Header.Read(br); err != nil {
			return n > 0 || err != io.EOF, err
		}
		code := resp.StatusCode()
		if code == fasthttp.StatusSwitchingProtocols {
			// Upgrade is never forwarded (a hop-by-hop field), so a
			// switch was not asked for: what follows is not HTTP.
			return true, errSwitched
		}
		if code < 100 || code > 199 {
			return true, nil
		}
		if n >= maxInterimResponses {
			return true, errInterim
		}
	}
}

// readBody reads the body after the head: whole when it is known to be at
// most maxBufferedBody (or turns out so), else as a stream to read from
// br. A client that is not HTTP/1.1 cannot take a chunked answer, so for
// it a body of unknown length is read whole, however large. reusable is
// false when a body read whole leaves the connection unusable (it ended
// where the upstream closed).
func readBody(resp *fasthttp.Response, br *bufio.Reader, http11 bool) (body *upstreamBody, reusable bool, err error) {
	code := resp.StatusCode()
	if resp.SkipBody || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return nil, true, nil
	}
	size := resp.Header.ContentLength()
	if code == fasthttp.StatusRequestedRangeNotSatisfiable && size != 0 {
		// Zope's files (OFS.Image.File) answer 416 with the whole file's
		// Content-Length and no body, then close: a download resumed past
		// its end (browsers do that) got an empty reply or a 502. A 416's
		// content is only an explanation (RFC 9110 §15.5.17): the answer
		// goes without it. The connection is kept only when a short body
		// came whole and is dropped; otherwise what it carries is unknown.
		resp.Header.SetContentLength(0)
		if size > 0 && br.Buffered() >= size {
			_, err := br.Discard(size)
			return nil, err == nil, err
		}
		return nil, false, nil
	}
	switch {
	case size >= 0 && size <= maxBufferedBody:
		return nil, true, resp.ReadBody(br, 0)
	case size >= 0:
		return &upstreamBody{r: &io.LimitedReader{R: br, N: int64(size)}, size: size}, false, nil
	case size == -1:
		return readChunked(resp, br, http11)
	case !http11: // the body ends where the upstream closes
		_, err := io.Copy(resp.BodyWriter(), br)
		return nil, false, err
	}
	return &upstreamBody{r: br, size: -1, untilClose: true}, false, nil
}

// readChunked reads a chunked body whole if it ends within
// maxBufferedBody (or the client needs it whole), its trailer included so
// that the connection can carry the next response; a longer one is
// streamed, what was read first ahead of the rest.
func readChunked(resp *fasthttp.Response, br *bufio.Reader, http11 bool) (*upstreamBody, bool, error) {
	cr := httputil.NewChunkedReader(br)
	n, err := io.Copy(resp.BodyWriter(), io.LimitReader(cr, maxBufferedBody+1))
	if err != nil {
		return nil, false, err
	}
	if n > maxBufferedBody && http11 {
		first := bytes.Clone(resp.Body())
		resp.ResetBody()
		return &upstreamBody{r: io.MultiReader(bytes.NewReader(first), cr), size: -1, br: br}, false, nil
	}
	if n > maxBufferedBody { // a client that cannot take chunked gets it whole
		if _, err := io.Copy(resp.BodyWriter(), cr); err != nil {
			return nil, false, err
		}
	}
	return nil, true, skipTrailer(br)
}

// maxTrailerLines bounds the trailer fields skipped after a chunked body.
const maxTrailerLines = 100

var errTrailer = errors.New("frontend: upstream's chunked trailer too long")

// skipTrailer reads the trailer section after a chunked body's last chunk
// up to the empty line that ends it, so that the connection is ready for
// the next response. Its fields are not passed on (nginx drops them too).
func skipTrailer(br *bufio.Reader) error {
	for range maxTrailerLines {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
	return errTrailer
}

// upstreamBody is a response body read from the upstream connection as
// the client's response is sent. fasthttp closes it when the response is
// written (or not), and the connection goes back to the pool only if the
// body was read to its end (a chunked one with its trailer).
type upstreamBody struct {
	r          io.Reader
	size       int           // Content-Length, or -1: sent chunked
	br         *bufio.Reader // set for a chunked body: its trailer is read at the end
	untilClose bool          // the body ends where the upstream closes
	ended      bool
	cut        func(got int64, err error) // told once if the upstream closes mid-body
	release    func(clean bool)
	sentBytes  // bytes read, so handed to the client's connection
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.ended {
		return 0, io.EOF // and the trailer is not looked for twice
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	lr, sized := b.r.(*io.LimitedReader)
	switch {
	case sized && lr.N == 0:
		b.ended = true // the writer may not ask again to see io.EOF
	case err != io.EOF:
	case sized:
		err = io.ErrUnexpectedEOF // the upstream closed mid-body
	case b.br != nil:
		if terr := skipTrailer(b.br); terr != nil {
			err = terr // told as a cut below
		} else {
			b.ended = true
		}
	default:
		b.ended = true
	}
	if err != nil && err != io.EOF && b.cut != nil && !errors.Is(err, net.ErrClosed) {
		// Closed, reset or timed out mid-body; not the frontend closing
		// the connection itself (the client left a spooled response).
		b.cut(b.n, err)
		b.cut = nil
	}
	return n, err
}

// streamedBody is a response body sent as it comes (an upstreamBody, or a
// spool): its bytes are counted and logged when it is over.
type streamedBody interface {
	onSent(func(int64))
}

// sentBytes counts the bytes of a streamed body handed to the client's
// connection, and tells them once the response is over (access log,
// metrics).
type sentBytes struct {
	n    int64
	sent func(int64)
}

// onSent sets what is told the bytes sent once the response is over.
func (c *sentBytes) onSent(f func(int64)) { c.sent = f }

// report tells the bytes sent, once.
func (c *sentBytes) report() {
	if c.sent != nil {
		c.sent(c.n)
		c.sent = nil
	}
}

// CloseWithError is called by fasthttp once the response has been written
// (err is the write's error), or dropped.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.release != nil {
		b.release(err == nil && b.ended && !b.untilClose)
		b.release = nil
	}
	b.report()
	return nil
}
