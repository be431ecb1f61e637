package rawsock_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/rawsock"
)

// pair is a connected Socket (over c) and the plain connection at the
// other end, over TCP or a Unix socket.
func pair(t *testing.T, network string) (*rawsock.Socket, net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	s, err := rawsock.New(c.(syscall.Conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return s, c, peer
}

// TestWriteBackpressure writes far more than the socket buffers hold to a
// peer that reads slowly: every byte arrives, in order.
func TestWriteBackpressure(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		s, _, peer := pair(t, network)
		want := make([]byte, 16<<20)
		for i := range want {
			want[i] = byte(i * 7)
		}
		got := make(chan []byte)
		go func() {
			var b bytes.Buffer
			buf := make([]byte, 4096)
			for b.Len() < len(want) {
				n, err := peer.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
				if b.Len() < 1<<20 {
					time.Sleep(time.Millisecond) // slow at first: the writer must wait
				}
			}
			got <- b.Bytes()
		}()
		n, err := s.Write(want)
		if err != nil || n != len(want) {
			t.Fatalf("%s: Write = %d, %v; want %d, nil", network, n, err, len(want))
		}
		if !bytes.Equal(<-got, want) {
			t.Fatalf("%s: the peer read different bytes", network)
		}
	}
}

// TestTryWriteNeverWaits fills the socket with TryWrite: it returns short,
// without an error, when the kernel takes no more.
func TestTryWriteNeverWaits(t *testing.T) {
	s, _, peer := pair(t, "tcp")
	big := make([]byte, 64<<20)
	n, err := s.TryWrite(big)
	if err != nil || n == 0 || n >= len(big) {
		t.Fatalf("TryWrite of 64 MiB to a peer that does not read = %d, %v; want a short write", n, err)
	}
	go io.Copy(io.Discard, peer)
	if m, err := s.Write(big[n:]); err != nil || m != len(big)-n {
		t.Fatalf("Write of the rest = %d, %v", m, err)
	}
}

// TestWriteSome: on a full socket WriteSome waits (under the deadline)
// until the peer takes something, then returns what the kernel took, short
// of the whole when the peer is slow.
func TestWriteSome(t *testing.T) {
	s, c, peer := pair(t, "tcp")
	big := make([]byte, 64<<20)
	n, err := s.TryWrite(big)
	if err != nil || n == 0 {
		t.Fatalf("TryWrite = %d, %v", n, err)
	}
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if m, err := s.WriteSome(big[n:]); m != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteSome to a peer that reads nothing = %d, %v; want 0 and the deadline", m, err)
	}
	c.SetWriteDeadline(time.Time{})
	go func() { // takes 1 MiB, then stops
		buf := make([]byte, 64<<10)
		for got := 0; got < 1<<20; {
			k, err := peer.Read(buf)
			if err != nil {
				return
			}
			got += k
		}
	}()
	m, err := s.WriteSome(big[n:])
	if err != nil || m == 0 || n+m == len(big) {
		t.Fatalf("WriteSome to a slow peer = %d, %v; want part of %d", m, err, len(big)-n)
	}
}

func TestReadDeadlineAndEOF(t *testing.T) {
	s, c, peer := pair(t, "tcp")
	buf := make([]byte, 64)
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v; want a deadline error", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond) // the read waits for it
		peer.Write([]byte("hello"))
		peer.Close()
	}()
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want hello then EOF", b, err)
	}
}

func TestCloseWakesRead(t *testing.T) {
	s, c, _ := pair(t, "tcp")
	done := make(chan error)
	go func() {
		_, err := s.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed conn: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after Close")
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on a closed conn: %v; want net.ErrClosed", err)
	}
}

// TestSendThenRead: the request goes out, and the answer is read whether it
// comes at once or after the wait has begun, many times in a row on one
// connection (a lost wake-up would hang a round).
func TestSendThenRead(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		s, c, peer := pair(t, network)
		go func() {
			buf := make([]byte, 64)
			for i := 0; ; i++ {
				n, err := peer.Read(buf)
				if err != nil {
					return
				}
				if i%2 == 1 {
					time.Sleep(time.Millisecond)
				}
				peer.Write(bytes.ToUpper(buf[:n]))
			}
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		for i := range 2000 {
			sent, n, err := s.SendThenRead([]byte("ping"), buf)
			if sent != 4 || err != nil || string(buf[:n]) != "PING" {
				t.Fatalf("%s round %d: SendThenRead = %d, %q, %v; want 4, PING, nil", network, i, sent, buf[:n], err)
			}
		}
	}
}

// TestSendThenReadFull: a request larger than the socket takes is sent in
// part, nothing is read, and no error: the caller goes on with Write and
// Read.
func TestSendThenReadFull(t *testing.T) {
	s, _, peer := pair(t, "tcp")
	big := make([]byte, 64<<20)
	sent, n, err := s.SendThenRead(big, make([]byte, 64))
	if err != nil || n != 0 || sent == 0 || sent >= len(big) {
		t.Fatalf("SendThenRead of 64 MiB to a peer that does not read = %d, %d, %v; want a short send, nothing read", sent, n, err)
	}
	go func() {
		io.CopyN(io.Discard, peer, int64(len(big)))
		peer.Write([]byte("done"))
	}()
	if m, err := s.Write(big[sent:]); err != nil || m != len(big)-sent {
		t.Fatalf("Write of the rest = %d, %v", m, err)
	}
	buf := make([]byte, 64)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "done" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

// TestSendThenReadErrors: a write to a reset connection is the write's
// error with nothing sent; an answer that does not come is the read
// deadline's, with all sent.
func TestSendThenReadErrors(t *testing.T) {
	s, c, peer := pair(t, "tcp")
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	sent, _, err := s.SendThenRead([]byte("ping"), make([]byte, 64))
	if sent != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no answer: SendThenRead = %d, %v; want 4 and the deadline", sent, err)
	}
	c.SetReadDeadline(time.Time{})
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()                      // a reset
	time.Sleep(50 * time.Millisecond) // the reset arrives
	sent, _, err = s.SendThenRead([]byte("ping"), make([]byte, 64))
	var se *os.SyscallError
	if sent != 0 || !errors.As(err, &se) || se.Syscall != "write" {
		t.Fatalf("reset peer: SendThenRead = %d, %v; want 0 and the write's error", sent, err)
	}
}

// TestQuiet: Quiet sees data and the peer's FIN without taking either,
// and never waits.
func TestQuiet(t *testing.T) {
	s, c, peer := pair(t, "tcp")
	if !s.Quiet() {
		t.Fatal("a fresh connection is not quiet")
	}
	peer.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	if s.Quiet() {
		t.Error("quiet with a byte waiting")
	}
	b := make([]byte, 4)
	if n, err := s.Read(b); n != 1 || err != nil {
		t.Fatalf("the byte looked at is still there to read: %d %v", n, err)
	}
	if !s.Quiet() {
		t.Error("not quiet once it was read")
	}
	c.SetReadDeadline(time.Now().Add(-time.Second)) // an idle pooled connection's, long passed
	if !s.Quiet() {
		t.Error("not quiet past its read deadline")
	}
	peer.Close()
	time.Sleep(20 * time.Millisecond)
	if s.Quiet() {
		t.Error("quiet after the peer closed")
	}
}
