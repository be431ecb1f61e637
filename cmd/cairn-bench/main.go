// Command cairn-bench measures Cairn's tiers against the servers they
// replace: `cairn-bench load` is the load generator, `cairn-bench compare`
// and `cairn-bench zeo` run the side-by-side suites, `cairn-bench origin`
// serves the Zope stand-in that the suites proxy to.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cairnstack/cairn/bench"
	"github.com/cairnstack/cairn/bench/load"
	"github.com/cairnstack/cairn/internal/daemon"
)

func main() { daemon.Main("cairn-bench", run) }

const usage = "usage: cairn-bench load [flags] URL | cairn-bench load -scenario FILE | cairn-bench load -zeo ADDR | cairn-bench compare [flags] | cairn-bench generator [flags] | cairn-bench zeo [flags] | cairn-bench origin [flags] | cairn-bench -version"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("cairn-bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "-version", "--version", "version":
		_, err := fmt.Fprintln(stdout, "cairn-bench", daemon.Version())
		return err
	case "load":
		c := load.NewCommand()
		c.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return c.Run(ctx, fs.Args(), stdout, stderr)
	case "origin":
		var o bench.OriginOptions
		o.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return bench.ServeOrigin(ctx, o)
	case "zeo":
		var o bench.ZEOOptions
		o.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		o.Command = "go build -o bin/ ./cmd/... && bin/cairn-bench " + strings.Join(args, " ")
		rep, err := bench.CompareZEO(ctx, o, stderr)
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(stdout, rep.Markdown())
		return err
	case "generator":
		var o bench.GeneratorOptions
		o.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the load command: %w", err)
		}
		o.LoadCommand = []string{exe, "load"}
		o.Command = "go build -o bin/ ./cmd/... && bin/cairn-bench " + strings.Join(args, " ")
		rep, err := bench.CompareGenerators(ctx, o, stderr)
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(stdout, rep.Markdown())
		return err
	case "compare":
		var o bench.CompareOptions
		o.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the origin command: %w", err)
		}
		o.OriginCommand = []string{exe, "origin", "-name", "instance1"}
		o.LoadCommand = []string{exe, "load"}
		o.Command = "go build -o bin/ ./cmd/... && bin/cairn-bench " + strings.Join(args, " ")
		md, err := bench.Compare(ctx, o, stderr)
		fmt.Fprint(stdout, md) // what finished, also on an error
		return err
	}
	return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
}
