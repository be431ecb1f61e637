// Command cairn-frontend runs the front web server tier (nginx's role).
package main

import (
	"context"
	"fmt"
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
		Workers:   workers,
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
	lns := env.Listeners
	if lns == nil {
		if lns, err = f.Listen(); err != nil {
			f.Close()
			return nil, err
		}
	} else if len(lns) != len(cfg.Listeners) {
		f.Close()
		return nil, fmt.Errorf("the site file names %d listeners, the master bound %d; restart the master to apply", len(cfg.Listeners), len(lns))
	}
	return service{f, lns}, nil
}

// workers reads the [frontend] workers setting for the runner.
func workers(cfg *frontend.Config) daemon.Workers {
	w := daemon.Workers{Count: cfg.Workers, Grace: cfg.Grace.D()}
	for _, l := range cfg.Listeners {
		w.Addrs = append(w.Addrs, l.Addr)
	}
	return w
}
