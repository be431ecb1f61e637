package zeo_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestFrameRoundTrip(t *testing.T) {
	payloads := [][]byte{[]byte("Z5"), {}, bytes.Repeat([]byte{7}, 200_000), []byte("last")}
	var buf bytes.Buffer
	w := zeo.NewWriter(&buf)
	for _, p := range payloads {
		if err := w.WriteFrame(p); err != nil {
			t.Fatal(err)
		}
	}
	if w.Buffered() == 0 && buf.Len() == 0 {
		t.Fatal("nothing written")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Buffered() != 0 {
		t.Errorf("Buffered() = %d after Flush", w.Buffered())
	}
	// Read through a one-byte reader so that every length crosses reads.
	r := zeo.NewReader(iotest.OneByteReader(bytes.NewReader(buf.Bytes())), 1<<20)
	for i, want := range payloads {
		got, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("frame %d: got %d bytes; want %d", i, len(got), len(want))
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Errorf("after the last frame: %v; want io.EOF", err)
	}
}

func TestFrameWireFormat(t *testing.T) {
	var buf bytes.Buffer
	w := zeo.NewWriter(&buf)
	if err := w.WriteFrame([]byte("ruok")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// nagios.py sends exactly these bytes.
	if got, want := buf.String(), "\x00\x00\x00\x04ruok"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

// TestFrameLargeGrows reads a frame larger than the first allocation.
func TestFrameLargeGrows(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefgh"), 400_000) // 3.2 MB
	in := append([]byte{0x00, 0x30, 0xd4, 0x00}, payload...)
	got, err := zeo.NewReader(iotest.HalfReader(bytes.NewReader(in)), 0).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("got %d bytes; want %d", len(got), len(payload))
	}
}

func TestFrameTooLarge(t *testing.T) {
	// A 4 GiB header: the reader must refuse without reading or
	// allocating the payload.
	in := []byte("\xff\xff\xff\xffpayload")
	src := bytes.NewReader(in)
	r := zeo.NewReader(src, 1<<20)
	var err error
	allocs := testing.AllocsPerRun(1, func() { _, err = zeo.NewReader(bytes.NewReader(in), 1<<20).ReadFrame() })
	if !errors.Is(err, zeo.ErrFrameTooLarge) {
		t.Fatalf("got %v; want ErrFrameTooLarge", err)
	}
	if allocs > 10 && !raceEnabled {
		t.Errorf("%v allocations for a refused frame", allocs)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, zeo.ErrFrameTooLarge) {
		t.Fatalf("got %v; want ErrFrameTooLarge", err)
	}
	// The error sticks: the stream is out of sync.
	if _, err := r.ReadFrame(); !errors.Is(err, zeo.ErrFrameTooLarge) {
		t.Errorf("second call: %v; want ErrFrameTooLarge again", err)
	}
	// The limit itself is allowed.
	ok := zeo.NewReader(strings.NewReader("\x00\x00\x00\x02hi"), 2)
	if p, err := ok.ReadFrame(); err != nil || string(p) != "hi" {
		t.Errorf("frame at the limit: %q, %v", p, err)
	}
}

func TestFrameTruncated(t *testing.T) {
	for _, in := range []string{"\x00\x00", "\x00\x00\x00\x05abc"} {
		_, err := zeo.NewReader(strings.NewReader(in), 0).ReadFrame()
		if err != io.ErrUnexpectedEOF {
			t.Errorf("ReadFrame(%q): %v; want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// TestFrameStalledPeer checks that a big announced frame whose bytes never
// come costs one chunk, not the announced size.
func TestFrameStalledPeer(t *testing.T) {
	in := []byte("\x10\x00\x00\x00abc") // announces 256 MiB, sends 3 bytes
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := zeo.NewReader(bytes.NewReader(in), 0).ReadFrame()
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF || got != nil {
		t.Fatalf("got %q, %v; want io.ErrUnexpectedEOF", got, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
		t.Errorf("allocated %d bytes for a stalled 256 MiB frame", n)
	}
}
