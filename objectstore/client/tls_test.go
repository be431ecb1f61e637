package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairnstack/cairn/objectstore"
	"github.com/cairnstack/cairn/objectstore/client"
	"github.com/cairnstack/cairn/objectstore/testcert"
)

// TestTLS: a server with a certificate that also authenticates clients;
// only a client that trusts the server and presents its own certificate
// gets through, and then works as over plain TCP.
func TestTLS(t *testing.T) {
	certs, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, func(c *objectstore.Config) {
		c.TLSCert, c.TLSKey, c.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CA
	})
	ctx := ctxT(t)
	good, err := certs.ClientConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, client.Options{TLS: good})
	tid := commit(t, c, client.OID{}, client.TID{}, "over TLS")
	if rev, err := c.Load(ctx, client.OID{}); err != nil || rev.Serial != tid || string(rev.Data) != "over TLS" {
		t.Errorf("Load = %+v, %v", rev, err)
	}

	// A plain client waits for an announcement that never comes: a TLS
	// server waits for a ClientHello first.
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	noCert, _ := certs.ClientConfig(false)
	if c, err := client.Dial(short(), addr, client.Options{TLS: noCert}); err == nil {
		c.Close()
		t.Error("a client without a certificate got through")
	}
	if c, err := client.Dial(short(), addr, client.Options{}); err == nil {
		c.Close()
		t.Error("a plain client got through to a TLS server")
	}
	untrusting := good.Clone()
	untrusting.RootCAs = nil
	if c, err := client.Dial(short(), addr, client.Options{TLS: untrusting}); err == nil {
		c.Close()
		t.Error("the client accepted a certificate it has no authority for")
	}
}

// TestMsgpack: a server announcing M5; the client follows, and commits,
// conflicts and loads go through the msgpack encoding.
func TestMsgpack(t *testing.T) {
	addr := startServer(t, func(c *objectstore.Config) { c.Msgpack = true })
	ctx := ctxT(t)
	got := make(chan client.Invalidation, 10)
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{OnInvalidate: func(inv client.Invalidation) { got <- inv }})
	if p := a.Protocol().String(); p != "M5" {
		t.Fatalf("protocol %s; want M5", p)
	}
	oid := client.OIDFromUint64(1)
	t1 := commit(t, a, oid, client.TID{}, "v1")
	if inv := <-got; inv.TID != t1 || len(inv.OIDs) != 1 || inv.OIDs[0] != oid {
		t.Errorf("invalidation %+v", inv)
	}
	t2 := commit(t, a, oid, t1, "v2")
	tx, err := b.Begin(ctx, client.TxnMeta{User: "u", Extension: map[string]any{"note": "msgpack"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	tx.Store(oid, t1, []byte("stale"))
	cfs, err := tx.Vote(ctx)
	if err != nil || len(cfs) != 1 || cfs[0].Committed != t2 || cfs[0].Serial != t1 {
		t.Fatalf("vote = %+v, %v", cfs, err)
	}
	tx.Store(oid, t2, []byte("resolved"))
	if cfs, err := tx.Vote(ctx); err != nil || len(cfs) != 0 {
		t.Fatalf("second vote = %+v, %v", cfs, err)
	}
	if _, err := tx.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, err := a.LoadBefore(ctx, oid, t2); err != nil || string(rev.Data) != "v1" || rev.End != t2 {
		t.Errorf("LoadBefore = %+v, %v", rev, err)
	}
	if _, err := a.Load(ctx, client.OIDFromUint64(99)); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Load(missing) = %v", err)
	}
}
