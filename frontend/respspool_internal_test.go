package frontend

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// testSpool spools r through a spool whose file is f, within limit and a
// total of which inUse is taken, and returns it with the channel its
// upstream connection's release reports to (true: handed back for reuse).
func testSpool(t *testing.T, r io.Reader, f spoolFile, limit, total int64, inUse *atomic.Int64) (*spool, chan bool) {
	t.Helper()
	released := make(chan bool, 1)
	src := &upstreamBody{r: r, size: -1, release: func(clean bool) { released <- clean }}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	sp := &spooling{limit: limit, room: tempRoom{inUse: inUse, total: total}, logger: slog.New(slog.DiscardHandler)}
	s := &spool{src: src, conn: a, f: f, sp: sp, filling: true}
	s.cond.L = &s.mu
	go s.fill()
	return s, released
}

// lastWithEOF returns its last bytes together with io.EOF, as Go's chunked
// reader does when the last chunk's end is already buffered.
type lastWithEOF struct{ b []byte }

func (r *lastWithEOF) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func patternBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 13)
	}
	return b
}

// failingAfter is a file whose writes fail past a size, as on a full disk.
type failingAfter struct {
	*os.File
	size int64
}

func (f failingAfter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.size {
		return 0, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// tempFile is a new temporary file, or one open for reading only (its
// writes fail, as on a full disk).
func tempFile(t *testing.T, readOnly bool) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// TestSpoolHandoff: whatever stops the file — a write that fails (a disk
// full), max_temp_file_size reached mid-piece, max_temp_total taken by
// other responses — loses nothing: the piece read goes on from memory, the
// rest straight from the upstream, also when the upstream said EOF with
// that piece; the connection is handed back once the body was read to its
// end, and the bytes counted against max_temp_total are given back.
func TestSpoolHandoff(t *testing.T) {
	data := patternBytes(5*spoolPiece + 123)
	for _, tc := range []struct {
		name         string
		readOnly     bool
		full         int64 // writes fail past this (0: never)
		limit, taken int64
		eofWithData  bool
	}{
		{"a write fails", true, 0, 1 << 30, 0, false},
		{"a write fails on the last piece", false, 5 * spoolPiece, 1 << 30, 0, true},
		{"max_temp_file_size mid-piece", false, 0, 2*spoolPiece + 1000, 0, false},
		{"max_temp_file_size on the last piece", false, 0, int64(len(data)) - 50, 0, true},
		{"max_temp_total taken", false, 0, 1 << 30, 1 << 20, false},
	} {
		for _, sendfile := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(data)
			if tc.eofWithData {
				r = &lastWithEOF{data}
			}
			var inUse atomic.Int64
			inUse.Store(tc.taken)
			var f spoolFile = tempFile(t, tc.readOnly)
			if tc.full > 0 {
				f = failingAfter{f.(*os.File), tc.full}
			}
			total := int64(1 << 30)
			if tc.taken > 0 {
				total = tc.taken + spoolPiece/2 // not room for a whole piece
			}
			s, released := testSpool(t, r, f, tc.limit, total, &inUse)
			var got []byte
			var err error
			if sendfile { // as fasthttp sends a body of known length
				var sink fileSink
				_, err = s.WriteTo(&sink)
				got = sink.b
			} else {
				got, err = io.ReadAll(s)
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s (sendfile %v): read %d bytes (%v); want the %d spooled", tc.name, sendfile, len(got), err, len(data))
			}
			s.CloseWithError(nil)
			if clean := <-released; !clean {
				t.Errorf("%s: the connection was closed; want it handed back", tc.name)
			}
			if n := inUse.Load(); n != tc.taken {
				t.Errorf("%s: max_temp_total holds %d after the response; want %d", tc.name, n, tc.taken)
			}
		}
	}
}

// fileSink is a writer with ReadFrom, as fasthttp's body writer is, which
// takes what it is handed, a file or not.
type fileSink struct{ b []byte }

func (w *fileSink) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *fileSink) ReadFrom(r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	w.b = append(w.b, b...)
	return int64(len(b)), err
}

// TestSpoolSendfile: a body of known length goes from the file to the
// client's connection as a file (so that sockConn.ReadFrom can send it
// with sendfile), piece after piece as the filler writes them, from where
// the client is in it.
func TestSpoolSendfile(t *testing.T) {
	data := patternBytes(7*spoolPiece + 5)
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(data); off += spoolPiece {
			pw.Write(data[off:min(off+spoolPiece, len(data))])
		}
		pw.Close()
	}()
	var inUse atomic.Int64
	s, released := testSpool(t, pr, tempFile(t, false), 1<<30, 1<<30, &inUse)
	var sink fileSinkOfFiles
	n, err := s.WriteTo(&sink)
	if err != nil || n != int64(len(data)) || !bytes.Equal(sink.b, data) {
		t.Fatalf("WriteTo: %d bytes, %v; want the %d spooled", n, err, len(data))
	}
	if sink.files == 0 || sink.others != 0 {
		t.Errorf("handed %d files and %d other readers; want files only", sink.files, sink.others)
	}
	if s.n != int64(len(data)) {
		t.Errorf("counted %d bytes sent; want %d", s.n, len(data))
	}
	s.CloseWithError(nil)
	if !<-released {
		t.Error("the connection was closed; want it handed back")
	}
}

// fileSinkOfFiles is a fileSink that counts what ReadFrom is handed.
type fileSinkOfFiles struct {
	fileSink
	files, others int
}

func (w *fileSinkOfFiles) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			w.files++
			return w.fileSink.ReadFrom(r)
		}
	}
	w.others++
	return w.fileSink.ReadFrom(r)
}

// TestSpoolCut: a body the upstream cuts short ends the client's read with
// the error, after what had arrived, and the connection is closed.
func TestSpoolCut(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 3*spoolPiece)
	var inUse atomic.Int64
	s, released := testSpool(t, io.MultiReader(bytes.NewReader(data), iotestErr{io.ErrUnexpectedEOF}), tempFile(t, false), 1<<30, 1<<30, &inUse)
	got, err := io.ReadAll(s)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v); want the %d sent, then the cut", len(got), err, len(data))
	}
	if clean := <-released; clean {
		t.Error("a cut body's connection was handed back")
	}
	s.CloseWithError(err)
	if n := inUse.Load(); n != 0 {
		t.Errorf("max_temp_total holds %d after the response", n)
	}
}
