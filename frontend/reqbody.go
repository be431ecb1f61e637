package frontend

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// bodyPrefetch is how much of a request body fasthttp reads with the head
// (fasthttp reads at most 8 KiB anyway): the rest is read by takeBody, in
// the handler, where the route and the limits are known.
const bodyPrefetch = 8 << 10

// declaredTooLarge reports whether a request's Content-Length is over
// max_body_size (a chunked body is counted as it is read).
func (c *Config) declaredTooLarge(h *fasthttp.RequestHeader) bool {
	return int64(h.ContentLength()) > int64(c.MaxBodySize)
}

// spooled is a request body on its way upstream: in memory (file nil,
// already set on the request) or in an unlinked temporary file.
type spooled struct {
	file *os.File
	size int64
	room *tempRoom // what the file's bytes are counted in, given back by close
}

// errNoRoom refuses an upload that would take the request bodies'
// temporary files past max_body_temp_total: 503, try again later.
var errNoRoom = errors.New("frontend: temporary files of request bodies at max_body_temp_total")

// spoolError is a failure of the frontend's own temporary file (a disk
// full, descriptors run out, the folder gone): the server's fault, 500,
// not the client's.
type spoolError struct{ err error }

func (e spoolError) Error() string { return "request body temporary file: " + e.err.Error() }
func (e spoolError) Unwrap() error { return e.err }

// takeBody reads the client's request body before anything is sent
// upstream, as nginx's proxy_request_buffering does: a body of at most
// body_buffer_size is read into memory and set on req; a larger one, or a
// chunked one that grows past it, goes to an unlinked temporary file in
// body_temp_dir, which the caller sends with its Content-Length (attach)
// and closes. Reading the whole body first means a slow upload holds no
// upstream connection (nor, behind it, a balancer slot and a Zope thread)
// while it trickles in, and a body cut short or over max_body_size is
// never half sent. An upload holds at most body_buffer_size of memory (a
// chunked one up to twice that while its buffer grows), not max_body_size.
//
// The error is fasthttp.ErrBodyTooLarge when the body exceeds
// max_body_size, errNoRoom past max_body_temp_total (room; nil: no bound),
// a spoolError, or the error reading it (a timeout, a bad chunk, a client
// gone); requestErrorStatus maps each to a status. With an error, the size
// is what was read before it (for the metrics).
func takeBody(req *fasthttp.Request, cfg *Config, room *tempRoom) (spooled, error) {
	src := req.BodyStream()
	if src == nil {
		// No body (fasthttp streams every request that has one), or one
		// already in memory.
		return spooled{size: int64(len(req.Body()))}, nil
	}
	defer dropTrailer(&req.Header)()
	limit := int64(cfg.MaxBodySize)
	buffer := min(int64(cfg.BodyBufferSize), limit)
	if cl := int64(req.Header.ContentLength()); cl >= 0 && cl <= buffer {
		// The common case, a form: exactly its size, read once.
		b := make([]byte, cl)
		if m, err := io.ReadFull(src, b); err != nil {
			if err == io.EOF { // none of it came: cut short too
				err = io.ErrUnexpectedEOF
			}
			return spooled{size: int64(m)}, err
		}
		setBody(req, b)
		return spooled{size: cl}, nil
	}
	b, err := io.ReadAll(io.LimitReader(src, buffer+1))
	n := int64(len(b))
	switch {
	case err != nil:
		return spooled{size: n}, err
	case n <= buffer:
		if err := cutShort(req, n); err != nil {
			return spooled{size: n}, err
		}
		setBody(req, b)
		return spooled{size: n}, nil
	case n > limit:
		return spooled{size: n}, fasthttp.ErrBodyTooLarge
	}
	// Counted as written, not as declared: a client declaring a large
	// body and sending little would otherwise hold the room for nothing,
	// and a few such clients refuse every upload.
	w := &writeSpool{room: room}
	f, err := os.CreateTemp(cfg.BodyTempDir, "cairn-body-")
	if err != nil {
		return spooled{size: n}, spoolError{err}
	}
	// Unlinked at once: the file goes away with its last descriptor,
	// whatever becomes of the request.
	_ = os.Remove(f.Name())
	w.f = f
	if _, err := w.Write(b); err != nil {
		w.close()
		return spooled{size: n}, err
	}
	if n, err = copyBody(w, req, src, n, limit); err != nil {
		w.close()
		return spooled{size: n}, err
	}
	return spooled{file: f, size: n, room: w.room}, nil // its close gives the count back
}

// setBody sets a body read whole on req, with its length (a chunked one
// goes upstream with a Content-Length too).
func setBody(req *fasthttp.Request, b []byte) {
	req.SetBodyRaw(b)
	req.Header.SetContentLength(len(b))
}

// writeSpool writes a request body's temporary file, counting its bytes
// in room as they are written, and marks the errors writing the file as
// spoolErrors, apart from the errors reading the client's body in the
// same io.Copy.
type writeSpool struct {
	f    *os.File
	room *tempRoom // nil: not counted
	n    int64     // bytes written, and counted in room
}

func (w *writeSpool) Write(p []byte) (int, error) {
	if w.room != nil && !w.room.take(int64(len(p))) {
		return 0, errNoRoom
	}
	n, err := w.f.Write(p)
	if w.room != nil && n < len(p) {
		w.room.give(int64(len(p) - n)) // what did not go in
	}
	w.n += int64(n)
	if err != nil {
		err = spoolError{err}
	}
	return n, err
}

// close closes the file of a body that will not go upstream, and gives
// back its count.
func (w *writeSpool) close() {
	w.f.Close()
	if w.room != nil {
		w.room.give(w.n)
	}
}

// attach sets a spooled body on req (the request sent upstream), for one
// attempt, and returns the descriptor it gave it, which the caller closes
// after the attempt (fasthttp closes a body stream only once it has sent
// it). Each attempt gets its own descriptor of the file, from its start,
// sent with sendfile (sockConn.ReadFrom).
func (s spooled) attach(req *fasthttp.Request) (*os.File, error) {
	if s.file == nil {
		return nil, nil
	}
	rc, err := s.file.SyscallConn()
	if err != nil {
		return nil, spoolError{err}
	}
	var fd int
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil, spoolError{errors.Join(err, derr)}
	}
	d := os.NewFile(uintptr(fd), s.file.Name())
	// The copies share one offset: every attempt starts from the start.
	if _, err := d.Seek(0, io.SeekStart); err != nil {
		d.Close()
		return nil, spoolError{err}
	}
	req.SetBodyStream(d, int(s.size))
	return d, nil
}

// close closes the temporary file, if any (each attempt's copy is closed
// by pool.do), and gives its bytes back to max_body_temp_total.
func (s spooled) close() {
	if s.file != nil {
		s.file.Close()
		if s.room != nil {
			s.room.give(s.size)
		}
	}
}

// discardBody reads and drops a request body, up to max_body_size; over it
// the error is fasthttp.ErrBodyTooLarge.
func discardBody(req *fasthttp.Request, cfg *Config) (int64, error) {
	defer dropTrailer(&req.Header)()
	return copyBody(io.Discard, req, req.BodyStream(), 0, int64(cfg.MaxBodySize))
}

// copyBody copies the rest of req's body from src to dst, n bytes of it
// taken already, and returns the body's size: over limit (max_body_size)
// the error is fasthttp.ErrBodyTooLarge, and a body of known length that
// ends early is cut short.
func copyBody(dst io.Writer, req *fasthttp.Request, src io.Reader, n, limit int64) (int64, error) {
	m, err := io.Copy(dst, io.LimitReader(src, limit-n+1))
	n += m
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

// dropTrailer prepares h for reading a chunked body, and returns what
// drops its trailer fields once it is read, as nginx does: the body goes
// upstream with a Content-Length, where they have no place, and fasthttp
// would turn them into headers, after the client's forwarding headers
// were filtered. The Trailer header goes first (fasthttp would also file
// the header fields it names as trailer fields); header fields that share
// a name with a trailer field are kept.
func dropTrailer(h *fasthttp.RequestHeader) func() {
	h.Del(fasthttp.HeaderTrailer)
	if h.ContentLength() != -1 {
		return func() {}
	}
	var before fasthttp.RequestHeader
	h.CopyTo(&before)
	return func() {
		var names []string
		for _, k := range h.PeekTrailerKeys() {
			names = append(names, string(k))
		}
		for _, k := range names {
			h.Del(k)
		}
		// Only now, with no values left to return to the header section:
		// fasthttp sends a request with trailer names chunked.
		_ = h.SetTrailer("")
		for _, k := range names {
			for _, v := range before.PeekAll(k) {
				h.Add(k, string(v))
			}
		}
	}
}

// Lingering close, as nginx's lingering_close: after refusing a body the
// client is still sending, the answer is sent, the connection half closed,
// and what the client still sends is read and dropped for a while before
// the connection is closed. Closing a socket with unread data makes the
// kernel send a reset, and a client still uploading (a browser sending a
// file over max_body_size) would then lose the answer it had not read yet
// and report a broken connection instead of the 413.
const (
	lingerTime = 10 * time.Second // at most this long in all (nginx: 30s)
	lingerWait = 2 * time.Second  // and this long for each more piece (nginx: 5s)
	// maxLingering bounds the connections lingering at once: fasthttp
	// counts a connection it handed over no longer against max_conns,
	// and a client could otherwise pile up descriptors with refused
	// uploads. Past it a connection is closed at once.
	maxLingering = 256
)

// lingerClose sends the answer in ctx with Connection: close, and then
// lingers (above). It takes the connection from fasthttp (a hijack), since
// fasthttp would close it as soon as the answer is written.
func (f *Frontend) lingerClose(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) { f.answerLingering(ctx, c) })
}

// answerLingering writes the answer in ctx to c, half closes c, and reads
// and drops what the client still sends (above); the caller closes c.
func (f *Frontend) answerLingering(ctx *fasthttp.RequestCtx, c net.Conn) {
	// Counted here: fasthttp may close the connection without calling
	// this (a failed flush of earlier pipelined answers).
	if _, err := ctx.Response.WriteTo(c); err != nil {
		return
	}
	if f.lingering.Add(1) > maxLingering {
		f.lingering.Add(-1)
		return
	}
	defer f.lingering.Add(-1)
	conn := c
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		conn = u.UnsafeConn()
	}
	if tc, ok := conn.(*tls.Conn); ok {
		_ = tc.CloseWrite()
		conn = tc.NetConn()
	}
	if sc, ok := conn.(*sockConn); ok {
		sc.recvTimeout = 0 // the deadlines below alone, not moved by what arrives
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
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
		n, err := c.Read(buf)
		f.m.bytesIn.Add(float64(n)) // received, if dropped
		if err != nil {
			return
		}
	}
}
