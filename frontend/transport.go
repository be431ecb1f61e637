package frontend

import (
	"bufio"
	"errors"
	"io"
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
// The retry rules are fasthttp's: a failure to send the request or to read
// the response head asks HostClient.Do to retry an idempotent request on
// another connection (a keep-alive connection the upstream has just
// closed fails so).
type transport struct{}

// maxInterimResponses bounds the 1xx responses skipped before the final
// one, as fasthttp does.
const maxInterimResponses = 10

var errInterim = errors.New("frontend: too many 1xx responses from the upstream")

func (transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	resp.ParseNetConn(conn)
	if hc.WriteTimeout > 0 {
		if err := conn.SetWriteDeadline(time.Now().Add(hc.WriteTimeout)); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}
	if hc.ReadTimeout > 0 {
		if err := conn.SetReadDeadline(time.Now().Add(hc.ReadTimeout)); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	br := hc.AcquireReader(conn)
	body, err := readResponse(resp, br)
	if err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, err
	}
	reuse := !req.ConnectionClose() && !resp.ConnectionClose()
	if body == nil {
		hc.ReleaseReader(br)
		if reuse {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
		return false, nil
	}
	body.release = func(clean bool) {
		hc.ReleaseReader(br)
		if clean && reuse && body.reusable {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}
	resp.SetBodyStream(body, body.size)
	return false, nil
}

// readResponse reads the response head from br (skipping 1xx answers) and
// a body of known length up to maxBufferedBody; any other body is returned
// as a stream to read from br.
func readResponse(resp *fasthttp.Response, br *bufio.Reader) (*upstreamBody, error) {
	for n := 0; ; n++ {
		if err := resp.Header.Read(br); err != nil {
			return nil, err
		}
		if code := resp.StatusCode(); code < 100 || code > 199 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterimResponses {
			return nil, errInterim
		}
	}
	code := resp.StatusCode()
	if resp.SkipBody || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		return nil, nil
	}
	switch size := resp.Header.ContentLength(); {
	case size >= 0 && size <= maxBufferedBody:
		return nil, resp.ReadBody(br, 0)
	case size >= 0:
		return &upstreamBody{r: &io.LimitedReader{R: br, N: int64(size)}, size: size, reusable: true}, nil
	case size == -1: // chunked: decoded here, sent on chunked
		// The trailer after the last chunk is left unread, so the
		// connection is not used again.
		return &upstreamBody{r: httputil.NewChunkedReader(br), size: -1}, nil
	default: // the body ends where the upstream closes
		return &upstreamBody{r: br, size: -1}, nil
	}
}

// upstreamBody is a response body read from the upstream connection as
// the client's response is sent. fasthttp closes it when the response is
// written (or not), and the connection goes back to the pool only if the
// body was read to its end and its framing leaves the connection usable.
type upstreamBody struct {
	r        io.Reader
	size     int // Content-Length, or -1: sent chunked
	reusable bool
	ended    bool
	release  func(clean bool)
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	lr, sized := b.r.(*io.LimitedReader)
	switch {
	case sized && lr.N == 0:
		b.ended = true // the writer may not ask again to see io.EOF
	case err == io.EOF && sized:
		err = io.ErrUnexpectedEOF // the upstream closed mid-body
	case err == io.EOF:
		b.ended = true
	}
	return n, err
}

// CloseWithError is called by fasthttp once the response has been written
// (err is the write's error).
func (b *upstreamBody) CloseWithError(err error) error {
	if b.release != nil {
		b.release(err == nil && b.ended)
		b.release = nil
	}
	return nil
}
