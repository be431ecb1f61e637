package load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

// Command is `cairn-bench load`: the generator's flags and what it does
// with them.
type Command struct {
	Options
	Scenario string // scenario file; or one URL as the argument
	Method   string
	Headers  listFlag // "Name: value"
	Cookies  listFlag // "name=value"
	Body     string
	BodyFile string
	Format   string // text, json or html, to stdout
	JSONFile string
	HTMLFile string
	Quiet    bool
	Profile  string // CPU profile of the generator itself
	Procs    int    // GOMAXPROCS for the run
	ZEO      ZEOWorkload
	Storage  string
}

// NewCommand is a Command with the flags' defaults.
func NewCommand() *Command {
	return &Command{Options: DefaultOptions(), Method: "GET", Format: "text", ZEO: DefaultZEOWorkload(), Storage: "1",
		Procs: max(1, runtime.NumCPU()/2)}
}

// RegisterFlags adds the command's flags to fs.
func (c *Command) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Connections, "c", c.Connections, "connections (closed model: requests in flight; open model: at most in flight)")
	fs.DurationVar(&c.Duration, "d", c.Duration, "measured duration, after the warm-up")
	fs.Int64Var(&c.Requests, "n", c.Requests, "stop after this many measured requests (0: run for -d)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "open model: requests per second on a fixed schedule, latency from the scheduled start (0: closed model)")
	fs.DurationVar(&c.WarmUp, "warmup", c.WarmUp, "warm-up before measuring; its requests are not counted")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per-request timeout")
	fs.BoolVar(&c.KeepAlive, "keepalive", c.KeepAlive, "reuse connections (false: Connection: close on every request)")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "skip TLS certificate verification")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the request mix")
	fs.StringVar(&c.Label, "label", c.Label, "name of the run in reports")
	fs.StringVar(&c.Scenario, "scenario", c.Scenario, "scenario file (TOML: [[scenario.requests]] with url, weight, method, headers, cookies, body)")
	fs.StringVar(&c.Method, "X", c.Method, "request method (one URL)")
	fs.Var(&c.Headers, "H", `request header "Name: value" (repeatable; one URL)`)
	fs.Var(&c.Cookies, "cookie", `cookie "name=value" (repeatable; one URL)`)
	fs.StringVar(&c.Body, "body", c.Body, "request body (one URL)")
	fs.StringVar(&c.BodyFile, "body-file", c.BodyFile, "file whose content is the request body (one URL)")
	fs.StringVar(&c.Format, "format", c.Format, "report on standard output: text, json or html")
	fs.StringVar(&c.JSONFile, "json", c.JSONFile, "also write the JSON report to this file")
	fs.StringVar(&c.HTMLFile, "html", c.HTMLFile, "also write the HTML report to this file")
	fs.BoolVar(&c.Quiet, "q", c.Quiet, "no progress line")
	fs.StringVar(&c.Profile, "cpuprofile", c.Profile, "write a CPU profile of the generator itself to this file")
	fs.IntVar(&c.Procs, "procs", c.Procs, "CPUs the generator runs on at once (GOMAXPROCS); by default half the machine's, since the server under test shares it")
	fs.StringVar(&c.ZEO.Addr, "zeo", c.ZEO.Addr, "ZEO mode: load this object store (host:port or socket path) instead of a URL")
	fs.StringVar(&c.Storage, "storage", c.Storage, "ZEO mode: storage name")
	fs.Float64Var(&c.ZEO.Loads, "loads", c.ZEO.Loads, "ZEO mode: fraction of operations that are loads (the rest commit one object)")
	fs.IntVar(&c.ZEO.Size, "size", c.ZEO.Size, "ZEO mode: bytes per stored object")
	fs.IntVar(&c.ZEO.Objects, "objects", c.ZEO.Objects, "ZEO mode: objects created before the run and loaded at random")
}

// Run performs the run that the flags and args (at most one URL) describe
// and writes the reports. An interrupted run still reports what it
// measured, then returns the interruption.
func (c *Command) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch c.Format {
	case "text", "json", "html":
	default:
		return fmt.Errorf("-format %q: want text, json or html", c.Format)
	}
	var progress io.Writer = stderr
	if c.Quiet {
		progress = nil
	}
	if c.Procs < 1 || c.Procs > 1024 {
		return fmt.Errorf("-procs %d: want 1…1024", c.Procs)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.Procs))
	if c.Profile != "" {
		f, err := os.Create(c.Profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res *Result
	var runErr error
	if c.ZEO.Addr != "" {
		if len(args) > 0 || c.Scenario != "" {
			return errors.New("-zeo takes no URL and no scenario")
		}
		c.ZEO.Client.Storage = c.Storage
		res, runErr = ZEO(ctx, c.ZEO, c.Options, progress)
	} else {
		sc, err := c.scenario(args)
		if err != nil {
			return err
		}
		res, runErr = HTTP(ctx, sc, c.Options, progress)
	}
	if res == nil {
		return runErr
	}
	if err := c.report(res, stdout); err != nil {
		return err
	}
	return runErr
}

// scenario is the scenario file, or the one URL with the request flags.
func (c *Command) scenario(args []string) (Scenario, error) {
	if c.Scenario != "" {
		if len(args) > 0 {
			return Scenario{}, errors.New("give a URL or -scenario, not both")
		}
		return LoadScenario(c.Scenario)
	}
	if len(args) != 1 {
		return Scenario{}, errors.New("give one URL (or -scenario FILE, or -zeo ADDR)")
	}
	r := Request{URL: args[0], Method: c.Method, Body: c.Body, Headers: map[string]string{}, Cookies: map[string]string{}}
	for _, h := range c.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return Scenario{}, fmt.Errorf("-H %q: want \"Name: value\"", h)
		}
		r.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, kv := range c.Cookies {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Scenario{}, fmt.Errorf("-cookie %q: want name=value", kv)
		}
		r.Cookies[k] = v
	}
	if c.BodyFile != "" {
		b, err := readBody(c.BodyFile)
		if err != nil {
			return Scenario{}, err
		}
		r.Body = string(b)
	}
	if err := r.validate(); err != nil {
		return Scenario{}, err
	}
	return Scenario{Requests: []Request{r}}, nil
}

func (c *Command) report(res *Result, stdout io.Writer) error {
	for _, f := range []struct {
		path  string
		write func(io.Writer) error
	}{{c.JSONFile, res.WriteJSON}, {c.HTMLFile, res.WriteHTML}} {
		if f.path == "" {
			continue
		}
		if err := writeFile(f.path, f.write); err != nil {
			return err
		}
	}
	switch c.Format {
	case "json":
		return res.WriteJSON(stdout)
	case "html":
		return res.WriteHTML(stdout)
	}
	return res.WriteText(stdout)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
