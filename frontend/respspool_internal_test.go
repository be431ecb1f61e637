package frontend

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// testSpool spools data (then an error, if cut) through a spool whose
// file is f, and returns it with the channel its upstream connection's release reports
// to (true: handed back for reuse).
func testSpool(t *testing.T, data []byte, cut bool, f *os.File, limit int64) (*spool, chan bool) {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	if cut {
		r = io.MultiReader(r, iotestErr{io.ErrUnexpectedEOF})
	}
	released := make(chan bool, 1)
	src := &upstreamBody{r: r, size: -1, release: func(clean bool) { released <- clean }}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	s := &spool{src: src, conn: a, f: f, filling: true}
	s.cond.L = &s.mu
	go s.fill(limit, slog.New(slog.DiscardHandler))
	return s, released
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// TestSpoolWriteFails: a temporary file that cannot be written (a disk
// full; here a file open for reading only) loses nothing: the piece read
// goes on from memory, the rest straight from the upstream, and the
// connection is handed back once the body has been read to its end.
func TestSpoolWriteFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5*spoolPiece+123)
	for i := range data {
		data[i] = byte(i * 13)
	}
	s, released := testSpool(t, data, false, f, 1<<30)
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v); want the %d spooled", len(got), err, len(data))
	}
	s.CloseWithError(nil)
	if clean := <-released; !clean {
		t.Error("the connection was closed; want it handed back")
	}
}

// TestSpoolCut: a body the upstream cuts short ends the client's read with
// the error, after what had arrived, and the connection is closed.
func TestSpoolCut(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "s")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 3*spoolPiece)
	s, released := testSpool(t, data, true, f, 1<<30)
	got, err := io.ReadAll(s)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v); want the %d sent, then the cut", len(got), err, len(data))
	}
	if clean := <-released; clean {
		t.Error("a cut body's connection was handed back")
	}
	s.CloseWithError(err)
}
