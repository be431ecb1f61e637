package frontend

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Response spooling, as nginx's proxy_buffering with its temporary files.
// A response body too large to read whole into memory (maxBufferedBody, or
// of unknown length) is read from the upstream as fast as the upstream
// sends it, into an unlinked temporary file in body_temp_dir, while the
// client is sent what has arrived. The upstream connection (behind it, for
// a Zope site, a balancer slot and a Zope thread) is free again once the
// upstream has sent everything, not once the slowest client has received
// it. Past max_temp_file_size the rest is passed on as the client takes it,
// as nginx does past proxy_max_temp_file_size, and so it is once all the
// spooled responses together hold max_temp_total (nginx has no such
// bound; where the folder is a tmpfs, the files are memory).
//
// Written by hand: fasthttp streams a body or reads it whole, and no
// served library fills a file from one goroutine while another follows
// it.

// spooling is how an upstream's responses are spooled: the frontend's
// body_temp_dir, max_temp_file_size and max_temp_total (with either at 0
// there is none, and bodies are streamed as the client takes them).
type spooling struct {
	dir     string
	limit   int64
	room    tempRoom           // max_temp_total: what all the frontend's response files hold
	spooled prometheus.Counter // responses that went through a temporary file
	logger  *slog.Logger
}

// spoolPiece is how much the filler reads from the upstream at a time.
const spoolPiece = 64 << 10

// spool is a response body read from the upstream (src) into a file by its
// own goroutine (fill), and read from the file by fasthttp as it writes
// the response to the client (Read). fasthttp closes it (CloseWithError)
// when the response is over; if the filler still runs then, the upstream
// connection is closed under it, and it stops.
type spool struct {
	src  *upstreamBody
	conn net.Conn // the upstream connection
	f    spoolFile
	sp   *spooling

	mu      sync.Mutex
	cond    sync.Cond
	written int64 // bytes in f
	filling bool  // fill runs
	handoff bool  // fill stopped at a limit (or a failed write): the rest is read from tail, then src, here
	tail    []byte
	tailEnd error // what src said with the tail (io.EOF: the body ended there), said after it
	err     error // why fill stopped short of the end: the body is cut
	closed  bool  // the response is over (CloseWithError)
	stopped bool  // closed while fill ran: its connection was closed under it

	// Read's own, used by fasthttp's writer only.
	read int64
	sentBytes
}

// spoolFile is what a spool uses of its temporary file (an *os.File).
type spoolFile interface {
	io.WriterAt
	io.ReaderAt
	io.Closer
}

// newSpool starts spooling src, the body of a response from conn. It fails
// only when the temporary file cannot be made; the body is then streamed.
func newSpool(src *upstreamBody, conn net.Conn, sp *spooling) (*spool, error) {
	f, err := os.CreateTemp(sp.dir, "cairn-response-")
	if err != nil {
		return nil, err
	}
	// Unlinked at once: the file goes away with its descriptor, whatever
	// becomes of the response.
	_ = os.Remove(f.Name())
	s := &spool{src: src, conn: conn, f: f, sp: sp, filling: true}
	s.cond.L = &s.mu
	sp.spooled.Inc()
	go s.fill()
	return s, nil
}

// fill reads the upstream's body into the file until its end, an error,
// a limit, or the client's leaving, and then hands the upstream connection
// back (or closes it), unless the reader is to go on with it.
func (s *spool) fill() {
	buf := make([]byte, spoolPiece)
	var off int64
	var err error
	var handoff, stopped, closeFile bool
	for filling := true; filling; {
		var n int
		n, err = s.src.Read(buf)
		var tail []byte
		if n > 0 {
			k := s.reserve(off, n)
			if k > 0 {
				if _, werr := s.f.WriteAt(buf[:k], off); werr != nil {
					// A disk full: what was read goes on from memory, the
					// rest as the client takes it. Nothing is lost.
					s.sp.logger.Error("response temporary file", "err", werr)
					s.sp.room.give(int64(k))
					k = 0
				}
			}
			off += int64(k)
			if k < n {
				tail = buf[k:n]
			}
		}
		s.mu.Lock()
		s.written = off
		filling = false
		switch {
		case tail != nil:
			s.handoff, s.tail, s.tailEnd = true, tail, err
		case err == io.EOF:
		case err != nil:
			s.err = err
		case off >= s.sp.limit:
			s.handoff = true
		default:
			filling = !s.stopped
		}
		s.filling = filling
		handoff, stopped, closeFile = s.handoff, s.stopped, s.closed
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	if closeFile {
		s.closeFile()
	}
	if handoff && !stopped {
		return // Read goes on with tail and src, CloseWithError releases it
	}
	switch {
	case stopped:
		err = errClientGone
	case err == io.EOF:
		err = nil
	}
	s.src.CloseWithError(err) // released for reuse only after a clean end
}

// reserve is how many of the n bytes read at off may go into the file:
// within max_temp_file_size, and within max_temp_total for all the
// frontend's response files together (counted in the room until the file
// is closed).
func (s *spool) reserve(off int64, n int) int {
	k := min(int64(n), s.sp.limit-off)
	if k <= 0 {
		return 0
	}
	if !s.sp.room.take(k) {
		return 0
	}
	return int(k)
}

// closeFile closes the file and gives its bytes back to max_temp_total.
// It is called once, by whichever of fill and CloseWithError ends last.
func (s *spool) closeFile() {
	s.f.Close()
	s.sp.room.give(s.written)
}

// errClientGone ends a spooled response whose client left before the
// upstream had sent it all.
var errClientGone = errors.New("frontend: the client left during the response")

// Read hands the client what the file holds past what it was given,
// waiting while the filler is behind; after a handoff, the tail and then
// the upstream's body itself.
func (s *spool) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	written, handoff, err := s.wait()
	var n int
	switch {
	case s.read < written:
		n, err = s.f.ReadAt(p[:min(int64(len(p)), written-s.read)], s.read)
		s.read += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		}
	case handoff && len(s.tail) > 0:
		n = copy(p, s.tail)
		s.tail = s.tail[n:]
	case handoff && s.tailEnd != nil:
		err = s.tailEnd
	case handoff:
		n, err = s.src.Read(p)
	case err == nil:
		err = io.EOF
	}
	s.n += int64(n)
	return n, err
}

// wait waits while the client has had all the file holds and the filler
// runs, and tells what the file holds then, whether the rest is read from
// the upstream here (handoff), and why the filler stopped short.
func (s *spool) wait() (written int64, handoff bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.read == s.written && s.filling {
		s.cond.Wait()
	}
	return s.written, s.handoff, s.err
}

// WriteTo sends the body of known length to the client's writer: what is
// in the file goes with sendfile, from the page cache to the socket (w is
// fasthttp's body writer, whose ReadFrom hands a file to the connection's,
// sockConn.ReadFrom, once its buffer is flushed), instead of a pread and a
// write per 32 KiB; the rest (a handoff's tail and the upstream) as Read
// gives it. fasthttp calls it for a body of known length only; a chunked
// one is read with Read.
func (s *spool) WriteTo(w io.Writer) (total int64, err error) {
	file, isFile := s.f.(*os.File)
	rf, isRF := w.(io.ReaderFrom)
	if isFile && isRF {
		for {
			written, _, _ := s.wait()
			if s.read >= written {
				break // the file is all sent: the rest, or the end, below
			}
			// sendfile sends from the file's offset (the filler writes
			// with WriteAt, Read reads with ReadAt: neither moves it).
			if _, err := file.Seek(s.read, io.SeekStart); err != nil {
				return total, err
			}
			n, err := rf.ReadFrom(&io.LimitedReader{R: file, N: written - s.read})
			s.read += n
			s.n += n
			total += n
			if err != nil {
				return total, err
			}
			if n == 0 {
				return total, io.ErrUnexpectedEOF // the file is shorter than written
			}
		}
	}
	n, err := io.Copy(writerOnly{w}, readerOnly{s}) // through Read and w.Write, as before the file
	return total + n, err
}

// CloseWithError is called by fasthttp once the response has been written
// (err is the write's error), or dropped. A filler still reading from the
// upstream has its connection closed under it: the client is gone, or the
// body was cut, and nobody will read the rest.
func (s *spool) CloseWithError(err error) error {
	s.mu.Lock()
	s.closed = true
	filling, handoff := s.filling, s.handoff
	s.stopped = filling
	s.mu.Unlock()
	switch {
	case filling:
		s.conn.Close() // fill closes the file and releases the connection
	case handoff:
		s.closeFile()
		s.src.CloseWithError(err)
	default:
		s.closeFile()
	}
	s.report()
	return nil
}
