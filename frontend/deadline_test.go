package frontend

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// deadlineRecorder is a net.Conn that records the read deadlines set on it.
type deadlineRecorder struct {
	net.Conn
	set []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

func TestCoarseConnDeadlines(t *testing.T) {
	rec := &deadlineRecorder{}
	c := newCoarseConn(rec, 16*time.Second) // slack 1s
	base := time.Now()
	for _, tc := range []struct {
		at      time.Duration // the deadline asked for, after base
		wantSet bool
	}{
		{0, true},                         // nothing armed yet: armed at 1s
		{500 * time.Millisecond, false},   // 1s serves: at most 500ms late
		{time.Second, false},              // exactly on the armed deadline
		{1001 * time.Millisecond, true},   // armed would be early: re-armed
		{-5 * time.Second, true},          // much earlier (shutdown): re-armed
		{-4500 * time.Millisecond, false}, // within slack of the armed -4s
		{-3 * time.Second, true},          // later than armed
	} {
		n := len(rec.set)
		want := base.Add(tc.at)
		if err := c.SetReadDeadline(want); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.set) > n; got != tc.wantSet {
			t.Fatalf("deadline %v: set on the conn %v; want %v", tc.at, got, tc.wantSet)
		}
		if c.read.Before(want) || c.read.Sub(want) > time.Second {
			t.Fatalf("deadline %v: armed %v, outside [asked, asked+slack]", tc.at, c.read.Sub(base))
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if last := rec.set[len(rec.set)-1]; !last.IsZero() || !c.read.IsZero() {
		t.Fatalf("clearing the deadline armed %v", last)
	}
}

// tcpPair is a connected pair of TCP connections on loopback.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// sendThenReadCounter counts the sends made inside a read.
type sendThenReadCounter struct {
	*sockConn
	n int
}

func (s *sendThenReadCounter) SendThenRead(w, r []byte) (int, int, error) {
	s.n++
	return s.sockConn.SendThenRead(w, r)
}

// TestHeldRequests: a request is held for the read of its answer only on
// a connection used moments ago, and only when it is one small write; the
// answer comes either way.
func TestHeldRequests(t *testing.T) {
	c, peer := tcpPair(t)
	go func() { // answers every write with "ok"
		buf := make([]byte, 64<<10)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
			peer.Write([]byte("ok"))
		}
	}()
	counter := &sendThenReadCounter{sockConn: newSockConn(c, time.Second, 0).(*sockConn)}
	cs := newCoarseConn(counter, time.Second)
	now := time.Now()
	for _, tc := range []struct {
		name string
		used bool
		gap  time.Duration
		size int
		held bool
	}{
		{"a new connection", false, 0, 100, false},
		{"moments after the last", true, time.Millisecond, 100, true},
		{"long after the last", true, time.Second, 100, false},
		{"a large request", true, time.Millisecond, maxHeld + 1, false},
	} {
		cs.used, cs.lastSent = tc.used, now
		now = now.Add(tc.gap)
		counter.n = 0
		cs.holdRequest(now)
		if _, err := cs.Write(make([]byte, tc.size)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(cs, buf); err != nil || string(buf) != "ok" {
			t.Fatalf("%s: answer %q, %v", tc.name, buf, err)
		}
		if held := counter.n > 0; held != tc.held {
			t.Errorf("%s: sent inside the read %v; want %v", tc.name, held, tc.held)
		}
	}
	// Two writes: the first goes when the second comes.
	cs.used, cs.lastSent = true, now
	cs.holdRequest(now)
	cs.Write([]byte("head"))
	cs.Write([]byte("body"))
	if len(cs.pending) != 0 || cs.hold {
		t.Errorf("a request of two writes is still held (%d bytes)", len(cs.pending))
	}
}

// TestHeldSendFails: a held request that cannot be sent is a failed send
// (sendErr), which the transport retries on a reused connection, or
// reports as a timeout.
func TestHeldSendFails(t *testing.T) {
	c, peer := tcpPair(t)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // a reset
	time.Sleep(50 * time.Millisecond)
	cs := newCoarseConn(newSockConn(c, time.Second, 0), time.Second)
	cs.used, cs.lastSent = true, time.Now()
	cs.holdRequest(time.Now())
	if _, err := cs.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Read(make([]byte, 64)); err == nil || cs.sendErr == nil {
		t.Fatalf("read %v, sendErr %v; want the send's failure", err, cs.sendErr)
	}
	if retry, err := sendFailed(cs.sendErr, true); !retry || !errors.As(err, new(staleConn)) {
		t.Errorf("sendFailed = %v, %v; want a retry of a stale connection", retry, err)
	}
	if retry, err := sendFailed(os.ErrDeadlineExceeded, true); retry || err != fasthttp.ErrTimeout {
		t.Errorf("sendFailed(timeout) = %v, %v; want no retry, ErrTimeout", retry, err)
	}
}
