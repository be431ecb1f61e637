// Command cairn-frontend runs the front web server tier (nginx's role).
package main

import (
	"context"
	"io"
	"net"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/daemon"
)

func main() { daemon.ServerMain("cairn-frontend", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return daemon.Program[*frontend.Config]{
		Name:      "cairn-frontend",
		Section:   "frontend",
		AdminPort: 9100,
		NewConfig: frontend.NewConfig,
		Start:     start,
	}.Run(ctx, args, stdout, stderr)
}

// service joins the frontend to its listeners for the runner.
type service struct {
	*frontend.Frontend
	lns []net.Listener
}

func (s service) Serve(ctx context.Context) error {
	defer s.Close()
	return s.Frontend.Serve(ctx, s.lns)
}

func start(env daemon.Env, cfg *frontend.Config) (daemon.Service[*frontend.Config], error) {
	f, err := frontend.New(cfg, env.Logger, env.Registry)
	if err != nil {
		return nil, err
	}
	lns, err := f.Listen()
	if err != nil {
		f.Close()
		return nil, err
	}
	return service{f, lns}, nil
}
