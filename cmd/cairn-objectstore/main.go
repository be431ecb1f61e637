// Command cairn-objectstore runs the ZODB object database tier: a ZEO 5
// server (ZEO's runzeo role) on a bbolt storage file.
package main

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"

	"github.com/cairnstack/cairn/internal/daemon"
	"github.com/cairnstack/cairn/objectstore"
)

func main() { daemon.ServerMain("cairn-objectstore", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return daemon.Program[*objectstore.Config]{
		Name:      "cairn-objectstore",
		Section:   "objectstore",
		AdminPort: 9104,
		NewConfig: objectstore.NewConfig,
		Start:     start,
	}.Run(ctx, args, stdout, stderr)
}

// service joins the server to its listener for the runner.
type service struct {
	*objectstore.Server
	ln  net.Listener
	cfg objectstore.Config
}

func (s service) Serve(ctx context.Context) error {
	defer s.Close()
	return s.Server.Serve(ctx, s.ln)
}

// Reload accepts only an unchanged configuration: the storage file and
// the listener cannot change under connected clients. Every field counts
// (a reload that added tls_client_ca was once reported done while clients
// went on without certificates).
func (s service) Reload(cfg *objectstore.Config) error {
	if !reflect.DeepEqual(*cfg, s.cfg) {
		return errors.New("the objectstore configuration cannot change while running; restart it")
	}
	return nil
}

func (s service) ReopenLogs() error { return nil }

func start(env daemon.Env, cfg *objectstore.Config) (daemon.Service[*objectstore.Config], error) {
	srv, err := objectstore.New(cfg, env.Logger, env.Registry)
	if err != nil {
		return nil, err
	}
	ln, err := srv.Listen()
	if err != nil {
		srv.Close()
		return nil, err
	}
	return service{srv, ln, *cfg}, nil
}
