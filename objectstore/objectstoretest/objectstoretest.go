// Package objectstoretest starts an in-process object store on a loopback
// port for tests, as net/http/httptest does for HTTP servers: the server's
// own tests and the Go client's share it.
package objectstoretest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/cairnstack/cairn/objectstore"
)

// Start runs a Server with its data in t.TempDir() (fsync off, blobs on)
// until the test ends; mod may change the configuration first. It returns
// the address clients dial and the server.
func Start(t testing.TB, mod func(*objectstore.Config)) (string, *objectstore.Server) {
	t.Helper()
	return StartRegistered(t, nil, mod)
}

// StartRegistered is Start with the server's metrics in reg.
func StartRegistered(t testing.TB, reg prometheus.Registerer, mod func(*objectstore.Config)) (string, *objectstore.Server) {
	t.Helper()
	dir := t.TempDir()
	cfg := objectstore.NewConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = filepath.Join(dir, "data.db")
	cfg.BlobDir = filepath.Join(dir, "blobs")
	cfg.NoSync = true
	if mod != nil {
		mod(cfg)
	}
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	srv, err := objectstore.New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return ln.Addr().String(), srv
}
