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

// generatorSeries is one generator configuration and its runs.
type generatorSeries struct {
	Name    string
	Gen     string // genWrk or genCairn
	Threads int    // wrk's -t
	Runs    []generatorRun
}

// GeneratorReport holds the runs of wrk with one and two threads (on two
// cores either can be the faster) and of cairn-bench load.
type GeneratorReport struct {
	Machine, Versions, Command, Method string
	Series                             []generatorSeries
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
	if err := os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := writeTemplate(conf, trivialNginx, struct{ Dir, Listen string }{dir, addr}); err != nil {
		return nil, err
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
		Method: fmt.Sprintf("Medians of %d runs per generator, alternating, each `-c%d` for %s after a %s warm-up, against nginx (1 worker, `return 200`, access log off) on 127.0.0.1. "+
			"wrk runs with `-t1` and `-t2` (the faster counts); cairn-bench with its default `-procs` (half the machine's CPUs). CPU is the generator process's utime+stime divided by its requests.",
			o.Runs, o.Connections, o.Duration, o.Warmup),
		Series: []generatorSeries{{Name: "wrk -t1", Gen: genWrk, Threads: 1}, {Name: "wrk -t2", Gen: genWrk, Threads: 2},
			{Name: "cairn-bench load", Gen: genCairn}}}
	for i := range o.Runs {
		for k := range rep.Series {
			sr := &rep.Series[k]
			fmt.Fprintf(progress, "generator: %s run %d/%d\n", sr.Name, i+1, o.Runs)
			r, err := o.runGenerator(ctx, sr.Gen, sr.Threads, url)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(progress, "  %.0f req/s, p99 %v, %.2f µs CPU/req\n", r.RPS, r.P99, r.CPUPerRequest())
			sr.Runs = append(sr.Runs, r)
		}
	}
	return rep, writeMarked(o.Out, o.README, "# Load generator: cairn-bench vs wrk (issue 4)", GeneratorMarkerStart, GeneratorMarkerEnd, rep.Markdown(), progress)
}

// runGenerator does one warm-up and one measured run of gen.
func (o *GeneratorOptions) runGenerator(ctx context.Context, gen string, threads int, url string) (generatorRun, error) {
	l := wrkLoad{Threads: max(threads, 1), Connections: o.Connections}
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
	var best, cairn []generatorRun // the faster wrk, and cairn-bench
	for _, g := range r.Series {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f |\n", g.Name, fmtRPS(med(g.Runs, rps)),
			fmtFloat(med(g.Runs, p99), 2), fmtFloat(med(g.Runs, cpu), 2), med(g.Runs, errs))
		switch {
		case g.Gen == genCairn:
			cairn = g.Runs
		case best == nil || med(g.Runs, rps) > med(best, rps):
			best = g.Runs
		}
	}
	ratioRPS := ratio(med(cairn, rps), med(best, rps))
	verdict := "met"
	if !(ratioRPS >= 1.0) {
		verdict = "not met"
	}
	fmt.Fprintf(&b, "\ncairn-bench / the faster wrk: req/s %s, CPU per request %s. Goal (performance.md: the generator's maximum rate ≥ wrk's): **%s**.\n\n",
		fmtRatio(ratioRPS), fmtRatio(ratio(med(cairn, cpu), med(best, cpu))), verdict)
	b.WriteString(r.Method + "\n" + provenance(r.Machine, r.Versions, r.Command))
	return b.String()
}

// trivialNginx is the target's configuration: one worker answering every
// request with a fixed body, no access log.
var trivialNginx = nginxTemplate("trivial", `# Written by cairn-bench generator.
{{template "process" .}}worker_processes 1;

http {
    access_log off;
{{template "temps" .}}
    server {
        listen {{.Listen}};
        keepalive_requests 1000000;
        location / { return 200 "ok\n"; }
    }
}
`)
