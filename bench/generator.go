package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// GeneratorOptions configures `cairn-bench generator`: cairn-bench's own
// load generator against wrk on a trivial target (performance.md's goal
// for the bench tier: its maximum request rate at least wrk's).
type GeneratorOptions struct {
	Duration    time.Duration
	Warmup      time.Duration
	Runs        int
	Connections int
	Out         string // Markdown file written; "" none
	README      string // file whose generator block is replaced
	Keep        bool

	// LoadCommand is the argv of the caller's own `cairn-bench load`.
	LoadCommand []string
	// Command is how the comparison was invoked, printed to reproduce it.
	Command string
}

// Markers of the generator block in the README.
const (
	GeneratorMarkerStart = "<!-- bench:generator:start -->"
	GeneratorMarkerEnd   = "<!-- bench:generator:end -->"
)

// RegisterFlags registers one flag per option and sets the defaults.
func (o *GeneratorOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&o.Runs, "runs", 3, "runs per generator")
	fs.IntVar(&o.Connections, "connections", 64, "connections of both generators")
	fs.StringVar(&o.Out, "out", "", "Markdown file to write the results to")
	fs.StringVar(&o.README, "readme", "", "file whose "+GeneratorMarkerStart+" … "+GeneratorMarkerEnd+" block gets the table")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work folder with the nginx configuration and logs")
}

func (o *GeneratorOptions) validate() error {
	if err := checkRuns(o.Runs, o.Duration); err != nil {
		return err
	}
	switch {
	case o.Connections < 2:
		return errors.New("bench: -connections must be at least 2 (wrk runs 2 threads)")
	case len(o.LoadCommand) == 0:
		return errors.New("bench: no load command")
	}
	return nil
}

// generatorRun is one measured run of one generator.
type generatorRun struct {
	RPS      float64
	P99      time.Duration
	CPU      time.Duration // the generator's own user+system time
	Requests int64
	Errors   int64
}

// CPUPerRequest is the generator's CPU per request, in µs.
func (r generatorRun) CPUPerRequest() float64 { return perRequest(r.CPU, r.Requests) }

// GeneratorReport holds the runs of both generators.
type GeneratorReport struct {
	Machine, Versions, Command, Method string
	Wrk, Cairn                         []generatorRun
}

// CompareGenerators starts nginx answering a fixed 3-byte response (the
// cheapest target on hand, so that the generators, not the target, set the
// pace), then alternates wrk and `cairn-bench load` runs against it.
func CompareGenerators(ctx context.Context, o GeneratorOptions, progress io.Writer) (*GeneratorReport, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := ensureTools(ctx, progress); err != nil {
		return nil, err
	}
	dir, done, err := workDir("cairn-bench-generator-", o.Keep, progress)
	if err != nil {
		return nil, err
	}
	defer done()
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := loopback(ports[0])
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(trivialNginx(dir, addr)), 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var all children
	defer func() { all.stopAll() }() // all as it is at the end, not now
	argv := []string{"nginx", "-p", dir + "/", "-e", filepath.Join(dir, "nginx-error.log"), "-c", conf}
	fmt.Fprintf(progress, "starting nginx: %s\n", strings.Join(argv, " "))
	nginx, err := startChild("nginx", argv, filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, err
	}
	all = append(all, nginx)
	url := "http://" + addr + "/"
	if err := nginx.waitReady(ctx, url); err != nil {
		return nil, err
	}
	rep := &GeneratorReport{Machine: machine(), Versions: versions(ctx, "cairn-bench", o.LoadCommand[0]), Command: o.Command,
		Method: fmt.Sprintf("Medians of %d runs per generator, alternating wrk and cairn-bench, each `-c%d` for %s after a %s warm-up, against nginx (1 worker, `return 200`, access log off) on 127.0.0.1. "+
			"wrk runs `-t2`; cairn-bench runs with GOMAXPROCS = the machine's CPUs. CPU is the generator process's utime+stime divided by its requests.",
			o.Runs, o.Connections, o.Duration, o.Warmup)}
	for i := range o.Runs {
		for _, gen := range []string{genWrk, genCairn} {
			fmt.Fprintf(progress, "generator: %s run %d/%d\n", gen, i+1, o.Runs)
			r, err := o.runGenerator(ctx, gen, url)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(progress, "  %.0f req/s, p99 %v, %.2f µs CPU/req\n", r.RPS, r.P99, r.CPUPerRequest())
			if gen == genWrk {
				rep.Wrk = append(rep.Wrk, r)
			} else {
				rep.Cairn = append(rep.Cairn, r)
			}
		}
	}
	return rep, writeMarked(o.Out, o.README, "# Load generator: cairn-bench vs wrk (issue 4)", GeneratorMarkerStart, GeneratorMarkerEnd, rep.Markdown(), progress)
}

// runGenerator does one warm-up and one measured run of gen.
func (o *GeneratorOptions) runGenerator(ctx context.Context, gen, url string) (generatorRun, error) {
	l := wrkLoad{Threads: 2, Connections: o.Connections}
	if o.Warmup > 0 {
		l.Duration = o.Warmup
		if _, err := generate(ctx, gen, o.LoadCommand, url, l); err != nil {
			return generatorRun{}, err
		}
	}
	l.Duration = o.Duration
	w, err := generate(ctx, gen, o.LoadCommand, url, l)
	if err != nil {
		return generatorRun{}, err
	}
	return generatorRun{RPS: w.RPS, P99: w.P99, CPU: w.CPU, Requests: w.Requests, Errors: w.Errors()}, nil
}

// Markdown renders the comparison.
func (r *GeneratorReport) Markdown() string {
	med := func(runs []generatorRun, f func(generatorRun) float64) float64 {
		xs := make([]float64, len(runs))
		for i, x := range runs {
			xs[i] = f(x)
		}
		return median(xs)
	}
	rps := func(g generatorRun) float64 { return g.RPS }
	p99 := func(g generatorRun) float64 { return float64(g.P99) / 1e6 }
	cpu := func(g generatorRun) float64 { return g.CPUPerRequest() }
	errs := func(g generatorRun) float64 { return float64(g.Errors) }
	var b strings.Builder
	b.WriteString("| generator | req/s | p99 ms | generator CPU µs/req | errors |\n|---|--:|--:|--:|--:|\n")
	for _, g := range []struct {
		name string
		runs []generatorRun
	}{{"wrk", r.Wrk}, {"cairn-bench load", r.Cairn}} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f |\n", g.name, fmtRPS(med(g.runs, rps)),
			fmtFloat(med(g.runs, p99), 2), fmtFloat(med(g.runs, cpu), 2), med(g.runs, errs))
	}
	ratioRPS := ratio(med(r.Cairn, rps), med(r.Wrk, rps))
	verdict := "met"
	if !(ratioRPS >= 1.0) {
		verdict = "not met"
	}
	fmt.Fprintf(&b, "\ncairn-bench / wrk: req/s %s, CPU per request %s. Goal (performance.md: the generator's maximum rate ≥ wrk's): **%s**.\n\n",
		fmtRatio(ratioRPS), fmtRatio(ratio(med(r.Cairn, cpu), med(r.Wrk, cpu))), verdict)
	fmt.Fprintf(&b, "%s\n\nMachine: %s. Versions: %s.\n\nReproduce: `%s`\n", r.Method, r.Machine, r.Versions, r.Command)
	return b.String()
}

// trivialNginx is the target's configuration: one worker answering every
// request with a fixed body.
func trivialNginx(dir, addr string) string {
	return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp-body;
    proxy_temp_path %[1]s/tmp-proxy;
    fastcgi_temp_path %[1]s/tmp-fastcgi;
    uwsgi_temp_path %[1]s/tmp-uwsgi;
    scgi_temp_path %[1]s/tmp-scgi;
    server {
        listen %[2]s;
        keepalive_requests 1000000;
        location / { return 200 "ok\n"; }
    }
}
`, dir, addr)
}
