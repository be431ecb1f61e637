package zeo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// frameChunk is how much of a large frame the Reader allocates before the
// bytes have arrived: a peer that announces a big frame and then stalls
// costs at most this much plus what it actually sent.
const frameChunk = 1 << 20

// ioBufferSize sizes the buffers of Reader and Writer. Most ZEO frames are
// small (loadBefore calls and their replies), so many fit in one read.
const ioBufferSize = 64 << 10

// Reader reads length-prefixed frames: a 4-byte big-endian length that
// does not count itself, then the payload. It is not safe for concurrent
// use; a connection has one reading goroutine.
type Reader struct {
	r   *bufio.Reader
	max int
	err error // sticky: after a bad header the stream is out of sync
}

// NewReader returns a Reader that refuses frames longer than maxFrame
// bytes (DefaultMaxFrame when maxFrame <= 0).
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < ioBufferSize {
		br = bufio.NewReaderSize(r, ioBufferSize)
	}
	return &Reader{r: br, max: maxFrame}
}

// ReadFrame returns the next frame's payload in a new slice that the
// caller owns. At a clean end of stream it returns io.EOF, and
// io.ErrUnexpectedEOF inside a frame. A header over the limit returns
// ErrFrameTooLarge without reading or allocating the payload; that error,
// like any read error, is returned again by every later call.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.readFrame()
	if err != nil {
		r.err = err
	}
	return p, err
}

func (r *Reader) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(r.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, r.max)
	}
	p, err := readPayload(r.r, int(n))
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return p, err
}

// Buffered returns the number of bytes read from the stream but not yet
// returned: zero means the next ReadFrame waits for the peer.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// readPayload reads n bytes, growing the buffer only as data arrives.
func readPayload(r io.Reader, n int) ([]byte, error) {
	p := make([]byte, min(n, frameChunk))
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	for len(p) < n {
		next := min(n, 2*len(p))
		grown := make([]byte, next)
		copy(grown, p)
		if _, err := io.ReadFull(r, grown[len(p):]); err != nil {
			return nil, err
		}
		p = grown
	}
	return p, nil
}

// Writer writes length-prefixed frames into a buffer. Write any number of
// frames, then Flush once: a burst of replies or invalidations goes out
// in few system calls. It is not safe for concurrent use; give each
// connection one writing goroutine, which also keeps the reply ordering
// rules of the protocol in one place.
type Writer struct {
	w *bufio.Writer
}

// NewWriter returns a Writer buffering into w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, ioBufferSize)}
}

// WriteFrame buffers one frame. Payloads larger than the buffer go
// straight through to the underlying writer, after what was buffered.
func (w *Writer) WriteFrame(p []byte) error {
	if uint64(len(p)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes do not fit a 32-bit length", ErrFrameTooLarge, len(p))
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	if _, err := w.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(p)
	return err
}

// Flush writes the buffered frames to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int { return w.w.Buffered() }
