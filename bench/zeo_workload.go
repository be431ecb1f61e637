package bench

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairnstack/cairn/bench/load"
	"github.com/cairnstack/cairn/objectstore/client"
)

// zeoMaxClients is the most clients a scenario uses; prepare makes one
// object per commit client.
const zeoMaxClients = 8

// zeoHotSet is each client's working set in the hot load scenario.
const zeoHotSet = 100

// zeoValue is the payload of a committed record (about 200 bytes with
// the pickle around it, as in the Python workload).
const zeoValue = 150

// zeoScenario is one workload: a driver, an operation and a client count.
type zeoScenario struct {
	Driver  string // "python" or "go"
	Kind    string // "commit", "cold" or "hot"
	Clients int
}

// Name is the scenario's label in the report.
func (s zeoScenario) Name() string {
	op := map[string]string{"commit": "commits", "cold": "cold loads", "hot": "hot loads"}[s.Kind]
	plural := "s"
	if s.Clients == 1 {
		plural = ""
	}
	return fmt.Sprintf("%s, %d client%s", op, s.Clients, plural)
}

// zeoDefaultScenarios are commits with 1 and 8 clients, cold loads with 1
// and 8 and hot loads with 8, for each driver asked for (the Go driver
// skips the 1-client cold loads).
func zeoDefaultScenarios(drivers string) []zeoScenario {
	var out []zeoScenario
	for _, d := range strings.Split(drivers, ",") {
		out = append(out, zeoScenario{d, "commit", 1}, zeoScenario{d, "commit", 8})
		if d == "python" {
			out = append(out, zeoScenario{d, "cold", 1})
		}
		out = append(out, zeoScenario{d, "cold", 8}, zeoScenario{d, "hot", 8})
	}
	return out
}

// zeoRun is one measured run of one scenario against one server.
type zeoRun struct {
	Ops       int64         // operations completed
	Rate      float64       // operations per second, summed over clients
	P50, P99  time.Duration // commit latency; zero for loads
	ServerCPU time.Duration // the server process, during the run
	ClientCPU time.Duration // the clients (Python processes, or this process)
	PeakRSS   int64         // server VmHWM, bytes
}

// ServerCPUPerOp is the server's CPU per operation, in µs.
func (r zeoRun) ServerCPUPerOp() float64 { return perRequest(r.ServerCPU, r.Ops) }

// ClientCPUPerOp is the clients' CPU per operation, in µs.
func (r zeoRun) ClientCPUPerOp() float64 { return perRequest(r.ClientCPU, r.Ops) }

func (r zeoRun) String() string {
	s := fmt.Sprintf("%.0f ops/s, server %.0f µs/op, clients %.0f µs/op", r.Rate, r.ServerCPUPerOp(), r.ClientCPUPerOp())
	if r.P99 > 0 {
		s += fmt.Sprintf(", p99 %.2f ms", ms(r.P99))
	}
	return s
}

// zeoClientResult is what one client reports: the Python workload's JSON
// line, or a Go client's tally.
type zeoClientResult struct {
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu"`
	Lat     []int64 `json:"lat"` // µs per commit
}

// zeoDriver runs a scenario's clients: ready brings them to the starting
// line, start lets them go for d and returns their results.
type zeoDriver interface {
	ready(ctx context.Context) error
	start(ctx context.Context, d time.Duration) ([]zeoClientResult, error)
	close()
}

// zeoMeasure runs one scenario once against one server. reset reports
// whether the peak RSS could be reset before the run.
func zeoMeasure(ctx context.Context, o *ZEOOptions, srv *zeoServer, sc zeoScenario) (zeoRun, bool, error) {
	var drv zeoDriver
	if sc.Driver == "python" {
		drv = &zeoPython{o: o, srv: srv, sc: sc}
	} else {
		drv = &zeoGo{srv: srv, sc: sc}
	}
	defer drv.close()
	if err := drv.ready(ctx); err != nil {
		return zeoRun{}, false, err
	}
	proc := procFS{root: "/proc"}
	reset := proc.resetPeakRSS(srv.proc.PID()) == nil
	cpu0, err := zeoProcCPU(srv.proc.PID())
	if err != nil {
		return zeoRun{}, false, err
	}
	self0, _ := zeoProcCPU(os.Getpid())
	results, err := drv.start(ctx, o.Duration)
	if err != nil {
		return zeoRun{}, false, err
	}
	cpu1, err := zeoProcCPU(srv.proc.PID())
	if err != nil {
		return zeoRun{}, false, err
	}
	self1, _ := zeoProcCPU(os.Getpid())
	r := zeoSummarizeClients(results)
	r.ServerCPU = cpu1 - cpu0
	if sc.Driver == "go" {
		r.ClientCPU = self1 - self0
	}
	r.PeakRSS, _ = zeoPeakRSS(srv.proc.PID())
	return r, reset, nil
}

// zeoSummarizeClients adds the clients' results up: rates, CPU, and the
// commit latencies' percentiles over all of them.
func zeoSummarizeClients(results []zeoClientResult) zeoRun {
	var r zeoRun
	var lat []int64
	var cpu float64
	for _, c := range results {
		r.Ops += c.Ops
		if c.Seconds > 0 {
			r.Rate += float64(c.Ops) / c.Seconds
		}
		cpu += c.CPU
		lat = append(lat, c.Lat...)
	}
	r.ClientCPU = time.Duration(cpu * float64(time.Second))
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50 = time.Duration(zeoPercentile(lat, 50)) * time.Microsecond
		r.P99 = time.Duration(zeoPercentile(lat, 99)) * time.Microsecond
	}
	return r
}

// zeoPercentile is the nearest-rank percentile of sorted values.
func zeoPercentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// zeoProcCPU is the user plus system time of one process.
func zeoProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	s, err := parseStat(b)
	if err != nil {
		return 0, err
	}
	return s.CPU(), nil
}

// zeoPeakRSS is one process's VmHWM in bytes.
func zeoPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return parseVmHWM(b)
}

// zeoGoVersion is the Go release a binary was built with.
func zeoGoVersion(bin string) string {
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		return "cairn-objectstore built with " + bi.GoVersion
	}
	return "cairn-objectstore (Go version unknown)"
}

// zeoPython drives Python client processes through the ready/go protocol
// of zeobench.py.
type zeoPython struct {
	o     *ZEOOptions
	srv   *zeoServer
	sc    zeoScenario
	procs []*zeoPyProc
}

type zeoPyProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout lines; closed at EOF
	log   string
	done  chan struct{}
}

// zeoClientTimeout bounds a Python client's start (imports, connecting) and
// its report after the run.
const zeoClientTimeout = 60 * time.Second

func (p *zeoPython) argv(i int) []string {
	args := []string{p.o.python(), p.o.Script}
	switch p.sc.Kind {
	case "commit":
		return append(args, "commit", p.srv.addr, strconv.Itoa(i))
	case "cold":
		return append(args, "load", p.srv.addr, strconv.Itoa(i), strconv.Itoa(p.sc.Clients), p.srv.oidFile, "0")
	}
	return append(args, "load", p.srv.addr, strconv.Itoa(i), strconv.Itoa(p.sc.Clients), p.srv.oidFile, strconv.Itoa(zeoHotSet))
}

func (p *zeoPython) ready(ctx context.Context) error {
	for i := range p.sc.Clients {
		proc, err := p.spawn(p.argv(i), filepath.Join(filepath.Dir(p.srv.oidFile), fmt.Sprintf("client-%d.log", i)))
		if err != nil {
			return err
		}
		p.procs = append(p.procs, proc)
	}
	for _, proc := range p.procs {
		if _, err := proc.line(ctx, "ready", zeoClientTimeout); err != nil {
			return err
		}
	}
	return nil
}

func (p *zeoPython) spawn(argv []string, logPath string) (*zeoPyProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = logf
	cmd.Dir = filepath.Dir(logPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting the Python client: %w", err)
	}
	proc := &zeoPyProc{cmd: cmd, stdin: stdin, lines: make(chan string, 4), log: logPath, done: make(chan struct{})}
	// This goroutine ends at the child's EOF, which close guarantees.
	go func() {
		defer close(proc.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20) // the latencies of a whole run
		for sc.Scan() {
			proc.lines <- sc.Text()
		}
		close(proc.lines)
		_ = cmd.Wait()
	}()
	return proc, nil
}

// line waits for the next stdout line, at most wait; want, if set, must
// start it.
func (p *zeoPyProc) line(ctx context.Context, want string, wait time.Duration) (string, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("bench: a Python client exited early:\n%s", zeoTail(p.log))
		}
		if !strings.HasPrefix(l, want) {
			return "", fmt.Errorf("bench: a Python client said %q; want %q\n%s", l, want, zeoTail(p.log))
		}
		return l, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(wait):
		return "", fmt.Errorf("bench: a Python client did not say %q within %s\n%s", want, wait, zeoTail(p.log))
	}
}

func (p *zeoPython) start(ctx context.Context, d time.Duration) ([]zeoClientResult, error) {
	goLine := fmt.Sprintf("go %g\n", d.Seconds())
	for _, proc := range p.procs {
		if _, err := io.WriteString(proc.stdin, goLine); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	var out []zeoClientResult
	for _, proc := range p.procs {
		// A client reports after the run: d, then the timeout.
		l, err := proc.line(ctx, "{", d+zeoClientTimeout)
		if err != nil {
			return nil, err
		}
		var r zeoClientResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("bench: a Python client's report: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// close ends the clients: stdin's EOF lets them disconnect and exit;
// those that do not within termGrace are killed.
func (p *zeoPython) close() {
	for _, proc := range p.procs {
		proc.stdin.Close()
	}
	for _, proc := range p.procs {
		select {
		case <-proc.done:
		case <-time.After(termGrace):
			_ = proc.cmd.Process.Kill()
			<-proc.done
		}
	}
}

func zeoTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// zeoGo drives objectstore/client connections, one per client.
type zeoGo struct {
	srv     *zeoServer
	sc      zeoScenario
	clients []*client.Client
	oids    []client.OID   // commit: each client's own object
	serials []client.TID   // commit: its current serial
	sets    [][]client.OID // loads: each client's oids
}

func (g *zeoGo) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, zeoClientTimeout)
	defer cancel()
	for i := range g.sc.Clients {
		c, err := client.Dial(ctx, g.srv.addr, client.Options{})
		if err != nil {
			return err
		}
		g.clients = append(g.clients, c)
		if g.sc.Kind == "commit" {
			oids, err := c.NewOIDs(ctx)
			if err != nil {
				return err
			}
			tid, err := zeoCommitOne(ctx, c, oids[0], client.TID{})
			if err != nil {
				return err
			}
			g.oids, g.serials = append(g.oids, oids[0]), append(g.serials, tid)
			continue
		}
		var set []client.OID
		for j := i; j < len(g.srv.oids); j += g.sc.Clients {
			set = append(set, g.srv.oids[j])
		}
		if g.sc.Kind == "hot" {
			set = set[:min(len(set), zeoHotSet)]
		}
		g.sets = append(g.sets, set)
	}
	return nil
}

// zeoCommitOne stores a fresh value for oid in one transaction.
func zeoCommitOne(ctx context.Context, c *client.Client, oid client.OID, serial client.TID) (client.TID, error) {
	data := make([]byte, zeoValue)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	return load.Commit(ctx, c, []client.OID{oid}, []client.TID{serial}, data)
}

func (g *zeoGo) start(ctx context.Context, d time.Duration) ([]zeoClientResult, error) {
	results := make([]zeoClientResult, len(g.clients))
	errs := make([]error, len(g.clients))
	var wg sync.WaitGroup
	for i, c := range g.clients {
		wg.Go(func() { results[i], errs[i] = g.work(ctx, i, c, d) })
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// work is one client's run.
func (g *zeoGo) work(ctx context.Context, i int, c *client.Client, d time.Duration) (zeoClientResult, error) {
	var r zeoClientResult
	t0 := time.Now()
	end := t0.Add(d)
	now := t0
	j := 0
	for now.Before(end) {
		if g.sc.Kind == "commit" {
			tid, err := zeoOp(ctx, func(ctx context.Context) (client.TID, error) {
				return zeoCommitOne(ctx, c, g.oids[i], g.serials[i])
			})
			if err != nil {
				return r, err
			}
			g.serials[i] = tid
			t := time.Now()
			r.Lat = append(r.Lat, t.Sub(now).Microseconds())
			r.Ops++
			now = t
			continue
		}
		set := g.sets[i]
		for range 50 {
			if _, err := zeoOp(ctx, func(ctx context.Context) (client.Revision, error) { return c.Load(ctx, set[j]) }); err != nil {
				return r, err
			}
			j = (j + 1) % len(set)
		}
		r.Ops += 50
		now = time.Now()
	}
	r.Seconds = now.Sub(t0).Seconds()
	return r, nil
}

// zeoOp runs one load or commit within zeoClientTimeout: a server that
// stops answering fails the run instead of holding the suite for good.
func zeoOp[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, zeoClientTimeout)
	defer cancel()
	return op(ctx)
}

func (g *zeoGo) close() {
	for _, c := range g.clients {
		c.Close()
	}
}
