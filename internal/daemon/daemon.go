// Package daemon runs one Cairn tier as a long-lived process, the same way
// for every tier binary: flags or the site file, structured logs, the admin
// listener, and the signals an operator expects (SIGTERM/SIGINT drain and
// stop, SIGHUP reloads, SIGUSR1 reopens log files for logrotate).
//
// A cmd/*/main.go stays thin: it declares a Program and calls Run.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/cairnstack/cairn/internal/admin"
	"github.com/cairnstack/cairn/internal/logfile"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// Config is what a tier's configuration offers the runner. Validate applies
// defaults, resolves address names against the site's [hosts] and [ports],
// and reports problems (as *sitefile.FieldError where a key is at fault).
type Config interface {
	Validate(site sitefile.Site) error
	RegisterFlags(fs *flag.FlagSet)
}

// Service is a started tier.
type Service[C Config] interface {
	// Serve runs until ctx is cancelled, then drains and returns.
	Serve(ctx context.Context) error
	// Reload swaps in a new, already validated configuration, or refuses it
	// and keeps the old one.
	Reload(cfg C) error
	// Health is nil when the tier is ready to serve.
	Health() error
	// ReopenLogs reopens the tier's own log files (its access log).
	ReopenLogs() error
}

// Env is what the runner gives a tier when it starts.
type Env struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Program describes one tier binary.
type Program[C Config] struct {
	Name    string // binary name, e.g. "cairn-frontend"
	Section string // its section of the site file, e.g. "frontend"
	// AdminPort is the default admin port (on 127.0.0.1).
	AdminPort int
	// NewConfig returns a configuration holding the built-in defaults.
	NewConfig func() C
	// Start builds the service; it may open listeners.
	Start func(env Env, cfg C) (Service[C], error)
}

// Main is every Cairn binary's main: run gets the command line and a
// context cancelled on SIGINT or SIGTERM; an error (other than -h's) is
// printed as "name: error" and exits 1.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// ServerMain is Main for a tier's server binary: it first keeps the
// runtime's sysmon thread from deep sleep (keepSysmonAwake), which cuts the
// CPU a server spends per request when its clients are few and sequential.
func ServerMain(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	keepSysmonAwake()
	Main(name, run)
}

// Version is the module version stamped by the Go toolchain, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// common holds the flags that every tier binary has.
type common struct {
	config    string
	admin     string
	logLevel  string
	logFormat string
	logFile   string
	version   bool
}

func (c *common) register(fs *flag.FlagSet, adminPort int) {
	fs.StringVar(&c.config, "config", "", "site file (TOML); this tier reads its own section")
	fs.StringVar(&c.admin, "admin", "127.0.0.1:"+strconv.Itoa(adminPort), "admin listener: /metrics, /healthz, /debug/pprof (empty: none)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logFile, "log-file", "stderr", "log destination: a file path, stdout or stderr (reopened on SIGUSR1)")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
}

// load builds the effective configuration: built-in defaults, then the
// section of the site file, then the flags given explicitly. Flags are
// parsed twice, first to find -config and then onto the loaded
// configuration, so that an explicit flag always wins over the file.
func (p Program[C]) load(args []string, stderr io.Writer) (C, *common, error) {
	var zero C
	com := &common{}
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	com.register(fs, p.AdminPort)
	p.NewConfig().RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return zero, nil, err
	}
	if fs.NArg() > 0 {
		return zero, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if com.version {
		return zero, com, nil
	}
	cfg := p.NewConfig()
	var site sitefile.Site
	var doc *sitefile.Doc
	if com.config != "" {
		var err error
		if doc, err = sitefile.Load(com.config, p.Section, &site, cfg); err != nil {
			return zero, nil, err
		}
	}
	fs2 := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	(&common{}).register(fs2, p.AdminPort)
	cfg.RegisterFlags(fs2)
	if err := fs2.Parse(args); err != nil {
		return zero, nil, err
	}
	if err := cfg.Validate(site); err != nil {
		return zero, nil, doc.Locate(err)
	}
	return cfg, com, nil
}

// Run runs the program with args until ctx is cancelled (main cancels it on
// SIGTERM or SIGINT).
func (p Program[C]) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// SIGHUP and SIGUSR1 are caught for the whole run: outside it the
	// runtime's default for SIGHUP ends the process, which a reload sent
	// while the tier starts (a database recovering) or drains would do.
	// Caught before the tier serves, they wait; once it stops, dropped.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	cfg, com, err := p.load(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if com.version {
		_, err := fmt.Fprintf(stdout, "%s %s\n", p.Name, Version())
		return err
	}
	logOut, err := logfile.Open(com.logFile)
	if err != nil {
		return err
	}
	defer logOut.Close()
	logger, err := newLogger(logOut, com.logLevel, com.logFormat)
	if err != nil {
		return err
	}
	logger = logger.With("tier", p.Section)
	logger.Info("starting", "version", Version(), "config", fmt.Sprintf("%+v", cfg))

	// The admin port first: a port taken is found before the tier starts
	// (which may recover a database), and nothing started is left open.
	var adminLn net.Listener
	if com.admin != "" {
		if adminLn, err = net.Listen("tcp", com.admin); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	reg := admin.NewRegistry()
	svc, err := p.Start(Env{Logger: logger, Registry: reg}, cfg)
	if err != nil {
		if adminLn != nil {
			adminLn.Close()
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if adminLn != nil {
		logger.Info("admin listening", "addr", adminLn.Addr().String())
		g.Go(func() error { return admin.Serve(gctx, adminLn, reg, svc.Health) })
	}
	g.Go(func() error { return svc.Serve(gctx) })
	g.Go(func() error { p.signals(gctx, sigs, args, logger, logOut, svc); return nil })
	err = g.Wait()
	logger.Info("stopped", "err", err)
	return err
}

// signals handles SIGHUP (reload) and SIGUSR1 (reopen logs) from ch until
// ctx ends.
func (p Program[C]) signals(ctx context.Context, ch <-chan os.Signal, args []string, logger *slog.Logger, logOut *logfile.File, svc Service[C]) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-ch:
			switch sig {
			case syscall.SIGHUP:
				cfg, _, err := p.load(args, io.Discard)
				if err == nil {
					err = svc.Reload(cfg)
				}
				if err != nil {
					logger.Error("reload refused; the old configuration stays", "err", err)
					continue
				}
				logger.Info("reloaded", "config", fmt.Sprintf("%+v", cfg))
			case syscall.SIGUSR1:
				err := errors.Join(logOut.Reopen(), svc.ReopenLogs())
				if err != nil {
					logger.Error("reopening logs", "err", err)
					continue
				}
				logger.Info("logs reopened")
			}
		}
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is neither text nor json", format)
}
