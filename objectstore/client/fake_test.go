package client_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cairnstack/cairn/objectstore/client"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// fakeServer accepts one connection, announces proto, answers register
// and hands every later message to the test.
type fakeServer struct {
	t     *testing.T
	codec zeo.Codec
	r     *zeo.Reader
	w     *zeo.Writer
}

func startFake(t *testing.T, proto zeo.Protocol) (string, <-chan *fakeServer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *fakeServer, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		f := &fakeServer{t: t, r: zeo.NewReader(nc, 0), w: zeo.NewWriter(nc)}
		p, err := zeo.ServerHandshake(f.r, f.w, proto)
		if err != nil {
			t.Error(err)
			return
		}
		f.codec = zeo.Codec{Encoding: p.Encoding}
		m, ok := f.next()
		if !ok || m.Method != "register" {
			t.Errorf("first message %v", m)
			return
		}
		f.send(zeo.Reply(m.ID, make([]byte, 8)))
		ch <- f
	}()
	return ln.Addr().String(), ch
}

func (f *fakeServer) next() (zeo.Message, bool) {
	for {
		fr, err := f.r.ReadFrame()
		if err != nil {
			return zeo.Message{}, false
		}
		m, err := f.codec.Decode(fr)
		if err != nil {
			f.t.Error(err)
			return zeo.Message{}, false
		}
		if !m.IsHeartbeat() {
			return m, true
		}
	}
}

func (f *fakeServer) send(ms ...zeo.Message) {
	for _, m := range ms {
		b, err := f.codec.Encode(m)
		if err != nil {
			f.t.Error(err)
			return
		}
		f.w.WriteFrame(b)
	}
	f.w.Flush()
}

// TestRepliesMatchedByMsgid: replies come back in reverse order, between
// a heartbeat-shaped message and an invalidation; each reaches its
// caller, and loadBefore's tuple msgid is echoed and matched.
func TestRepliesMatchedByMsgid(t *testing.T) {
	for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
		t.Run(enc.String(), func(t *testing.T) {
			addr, fakes := startFake(t, zeo.Protocol{Encoding: enc, Version: "5"})
			ctx := ctxT(t)
			got := make(chan client.Invalidation, 1)
			c := dial(t, addr, client.Options{OnInvalidate: func(inv client.Invalidation) { got <- inv }})
			if c.Protocol().Encoding != enc {
				t.Fatalf("protocol %s; want the server's letter %s", c.Protocol(), enc)
			}
			f := <-fakes
			oid, tid := client.OIDFromUint64(3), client.TIDFromUint64(9)
			type res struct {
				rev client.Revision
				err error
			}
			loads := make(chan res, 2)
			for range 2 { // identical loads in flight share one request
				go func() {
					rev, err := c.LoadBefore(ctx, oid, client.MaxTID)
					loads <- res{rev, err}
				}()
			}
			pings := make(chan error, 1)
			lb, _ := f.next()
			if lb.Method != "loadBefore" {
				t.Fatalf("got %s", lb)
			}
			for client.Waiters(c) < 2 { // both loads wait, on one request
				time.Sleep(time.Millisecond)
			}
			go func() { pings <- c.Ping(ctx) }()
			ping, _ := f.next()
			if ping.Method != "ping" {
				t.Fatalf("got %s; want ping (the second load must not be sent)", ping)
			}
			f.send(
				zeo.Heartbeat(),
				zeo.Reply(ping.ID, zeo.None{}),
				zeo.AsyncCall("invalidateTransaction", tid[:], &zeo.List{Items: []any{oid[:]}}),
				zeo.Reply(lb.ID, zeo.Tuple{[]byte("data"), tid[:], zeo.None{}}),
			)
			if err := <-pings; err != nil {
				t.Error(err)
			}
			for range 2 {
				r := <-loads
				if r.err != nil || string(r.rev.Data) != "data" || r.rev.Serial != tid {
					t.Errorf("load = %+v, %v", r.rev, r.err)
				}
			}
			if inv := <-got; inv.TID != tid || len(inv.OIDs) != 1 || inv.OIDs[0] != oid {
				t.Errorf("invalidation %+v", inv)
			}
			if c.LastTID() != tid {
				t.Errorf("LastTID = %s", c.LastTID())
			}

			// A cancelled call's late reply is dropped; the next call works.
			short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if _, err := c.LastTransaction(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("unanswered call = %v", err)
			}
			late, _ := f.next()
			f.send(zeo.Reply(late.ID, tid[:]))
			go func() { pings <- c.Ping(ctx) }()
			ping, _ = f.next()
			f.send(zeo.ErrorReply(ping.ID, zeo.POSKeyError(oid[:])))
			if err := <-pings; !errors.Is(err, client.ErrNotFound) {
				t.Errorf("error reply = %v; want ErrNotFound", err)
			}
		})
	}
}

// TestContextBoundsWrites: a server that stops reading cannot hold a call
// past its context, neither the one writing nor one waiting to write; the
// connection then closes (a frame was cut short), and calls abandoned on
// a server that never answers are forgotten.
func TestContextBoundsWrites(t *testing.T) {
	addr, fakes := startFake(t, zeo.Protocol{Encoding: zeo.Pickle, Version: "5"})
	c := dial(t, addr, client.Options{})
	f := <-fakes

	// Never answered: each abandoned call is forgotten.
	read := make(chan struct{})
	go func() { // read the three pings, answer none, then read no more
		defer close(read)
		for range 3 {
			f.next()
		}
	}()
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("an unanswered ping: %v", err)
		}
		cancel()
	}
	if n := client.Pending(c); n != 0 {
		t.Errorf("%d abandoned calls still pending; want 0", n)
	}
	<-read

	// The server reads no more: a large call blocks in its write.
	big := make([]byte, 32<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	go func() { _, err := c.Call(ctx, "store_the_world", big); done <- err }()
	for client.Waiters(c) == 0 { // encoded (slow under -race), now writing
		time.Sleep(time.Millisecond)
	}
	go func() { done <- c.Ping(ctx) }() // waits for the writer
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Error("a call went through to a server that reads nothing")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call outlived its context by seconds")
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("calls took %v after their context ended", took)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Error("the connection stayed open after a frame was cut short")
	}
}
