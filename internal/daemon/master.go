package daemon

import (
	"context"
	"errors"
	"slices"
	"syscall"

	"github.com/cairnstack/cairn/internal/prefork"
)

// master is the service of a process whose tier runs in worker processes:
// it keeps them running and passes the operator's signals on. Each worker
// reloads the site file itself on SIGHUP, after the master has checked it.
type master[C Config] struct {
	pool    *prefork.Pool
	plan    Workers
	workers func(C) Workers
}

func (m *master[C]) Serve(ctx context.Context) error { return m.pool.Run(ctx) }

// Reload refuses a new number of workers or new addresses (the sockets are
// bound once, at start) and otherwise has every worker reload.
func (m *master[C]) Reload(cfg C) error {
	plan := m.workers(cfg)
	if plan.Count != m.plan.Count || !slices.Equal(plan.Addrs, m.plan.Addrs) {
		return errors.New("workers or listening addresses changed; restart to apply")
	}
	m.pool.Signal(syscall.SIGHUP)
	return nil
}

func (m *master[C]) Health() error { return m.pool.Health() }

// ReopenLogs has every worker reopen its logs; the runner reopens the
// master's own.
func (m *master[C]) ReopenLogs() error {
	m.pool.Signal(syscall.SIGUSR1)
	return nil
}
