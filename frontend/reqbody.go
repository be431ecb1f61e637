package frontend

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// bodyPrefetch is how much of a request body fasthttp reads with the head
// (fasthttp reads at most 8 KiB anyway): the rest is read by takeBody, in
// the handler, where the route and the limits are known.
const bodyPrefetch = 8 << 10

// spooled is a request body on its way upstream: in memory (file nil,
// already set on the request) or in an unlinked temporary file.
type spooled struct {
	file *os.File
	size int64
}

// takeBody reads the client's request body before anything is sent
// upstream, as nginx's proxy_request_buffering does: a body of at most
// body_buffer_size is read into memory and set on req; a larger one, or a
// chunked one that grows past it, goes to an unlinked temporary file in
// body_temp_dir, which the caller sends with its Content-Length. Reading
// the whole body first means a slow upload holds no upstream connection
// (nor, behind it, a balancer slot and a Zope thread) while it trickles
// in, and a body cut short or over max_body_size is never half sent.
// Memory per upload is bounded by body_buffer_size, not by max_body_size.
//
// The error is fasthttp.ErrBodyTooLarge when the body exceeds
// max_body_size, or the error reading it (a timeout, a bad chunk, a
// client gone); requestErrorStatus maps either to a status.
func takeBody(req *fasthttp.Request, cfg *Config) (spooled, error) {
	src := req.BodyStream()
	if src == nil {
		// No body (fasthttp streams every request that has one), or one
		// already in memory.
		return spooled{size: int64(len(req.Body()))}, nil
	}
	limit, buffer := int64(cfg.MaxBodySize), int64(cfg.BodyBufferSize)
	// A chunked body's trailer fields are read with it, and dropped, as
	// nginx does: the body goes upstream with a Content-Length, where they
	// have no place, and fasthttp would turn them into headers, after the
	// client's forwarding headers were filtered.
	defer dropTrailer(&req.Header)
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	n, err := io.CopyN(buf, src, buffer+1)
	if errors.Is(err, io.EOF) {
		err = cutShort(req, n)
		if err == nil {
			req.SetBody(buf.B)
		}
		return spooled{size: n}, err
	}
	if err != nil {
		return spooled{}, err
	}
	f, err := os.CreateTemp(cfg.BodyTempDir, "cairn-body-")
	if err != nil {
		return spooled{}, err
	}
	// Unlinked at once: the file goes away with its last descriptor,
	// whatever becomes of the request.
	_ = os.Remove(f.Name())
	if _, err := f.Write(buf.B); err != nil {
		f.Close()
		return spooled{}, err
	}
	m, err := io.Copy(f, io.LimitReader(src, limit-n+1))
	n += m
	switch {
	case err != nil:
	case n > limit:
		err = fasthttp.ErrBodyTooLarge
	default:
		if err = cutShort(req, n); err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return spooled{}, err
	}
	return spooled{file: f, size: n}, nil
}

// discardBody reads and drops a request body, up to max_body_size; over it
// the error is fasthttp.ErrBodyTooLarge.
func discardBody(req *fasthttp.Request, cfg *Config) (int64, error) {
	defer dropTrailer(&req.Header)
	limit := int64(cfg.MaxBodySize)
	n, err := io.Copy(io.Discard, io.LimitReader(req.BodyStream(), limit+1))
	switch {
	case err != nil:
		return n, err
	case n > limit:
		return n, fasthttp.ErrBodyTooLarge
	}
	return n, cutShort(req, n)
}

// cutShort is io.ErrUnexpectedEOF when n is less than the body's declared
// length: fasthttp's stream ends a body of known length without an error
// when the client closes early, and a body cut short must not go upstream
// as if whole.
func cutShort(req *fasthttp.Request, n int64) error {
	if want := req.Header.ContentLength(); want >= 0 && n != int64(want) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// dropTrailer deletes the trailer fields fasthttp read into h, and the
// Trailer header announcing them.
func dropTrailer(h *fasthttp.RequestHeader) {
	keys := h.PeekTrailerKeys()
	if len(keys) == 0 && len(h.Peek(fasthttp.HeaderTrailer)) == 0 {
		return
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, string(k))
	}
	h.Del(fasthttp.HeaderTrailer)
	for _, k := range names {
		h.Del(k)
	}
}

// attach sets a spooled body on req (the request sent upstream); fasthttp
// closes the file once it is sent, or when req is reset.
func (s spooled) attach(req *fasthttp.Request) {
	if s.file != nil {
		req.SetBodyStream(s.file, int(s.size))
	}
}

// Lingering close, as nginx's lingering_close: after refusing a body the
// client is still sending, the connection is read and the data dropped for
// a while before it is closed. Closing a socket with unread data makes the
// kernel send a reset, and a client still uploading (a browser sending a
// file over max_body_size) would then lose the answer it had not read yet
// and report a broken connection instead of the 413.
const (
	lingerTime = 10 * time.Second // at most this long in all (nginx: 30s)
	lingerWait = 2 * time.Second  // and this long for each more piece (nginx: 5s)
)

// lingerClose sends the answer in ctx with Connection: close, and then
// lingers (above). It takes the connection from fasthttp (a hijack), since
// fasthttp would close it as soon as the answer is written.
func lingerClose(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		if _, err := ctx.Response.WriteTo(c); err != nil {
			return
		}
		end := time.Now().Add(lingerTime)
		buf := make([]byte, 16<<10)
		for {
			now := time.Now()
			if !now.Before(end) {
				return
			}
			wait := now.Add(lingerWait)
			if wait.After(end) {
				wait = end
			}
			if err := c.SetReadDeadline(wait); err != nil {
				return
			}
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}
