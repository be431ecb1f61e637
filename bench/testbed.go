package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// scenario is one request the servers are loaded with.
type scenario struct {
	Name   string
	Path   string
	Static bool // served from the static folder, not proxied
	Slug   string
}

// frontendScenarios are issue 2's: pass-through on a 100-byte and a 20 KB
// response, and a static 20 KB file.
func frontendScenarios() []scenario {
	return []scenario{
		{Name: "proxy, 100 B response", Path: "/bytes?n=100", Slug: "proxy-100b"},
		{Name: "proxy, 20 KB page", Path: "/page", Slug: "proxy-20k"},
		{Name: "static, 20 KB file", Path: "/static/" + staticFile, Static: true, Slug: "static-20k"},
	}
}

// server is one server under test.
type server struct {
	name string // "nginx" or "cairn"
	base string // http://127.0.0.1:port
	proc *child
}

// testbed is the origin and the two servers, running.
type testbed struct {
	site    site
	proc    procFS
	origin  *child
	servers []server // nginx first: the order of the A B A B runs
	all     children
}

// startTestbed starts the origin, nginx and cairn-frontend and waits until
// each answers. The returned testbed is never nil, so that the caller can
// stop whatever was started even on an error.
func startTestbed(ctx context.Context, o *CompareOptions, dir string, progress io.Writer) (*testbed, error) {
	tb := &testbed{proc: procFS{root: "/proc"}}
	ports, err := freePorts(4)
	if err != nil {
		return tb, err
	}
	tb.site = site{Dir: dir, StaticDir: filepath.Join(dir, "static"), OriginAddr: loopback(ports[0]),
		NginxAddr: loopback(ports[1]), CairnAddr: loopback(ports[2]), CairnAdmin: loopback(ports[3]), ZopeSite: "Plone"}
	nginxConf, cairnConf, err := writeSite(tb.site)
	if err != nil {
		return tb, err
	}
	originArgv := append(append([]string(nil), o.OriginCommand...), "-listen", tb.site.OriginAddr, "-slots", strconv.Itoa(o.OriginSlots))
	if tb.origin, err = tb.start(ctx, "origin", originArgv, "http://"+tb.site.OriginAddr+"/bytes?n=1", progress); err != nil {
		return tb, err
	}
	nginx, err := tb.start(ctx, "nginx", nginxArgv(tb.site, nginxConf), "http://"+tb.site.NginxAddr+"/static/"+staticFile, progress)
	if err != nil {
		return tb, err
	}
	cairn, err := tb.start(ctx, "cairn-frontend", cairnArgv(o.BinDir, tb.site, cairnConf), "http://"+tb.site.CairnAdmin+"/healthz", progress)
	if err != nil {
		return tb, err
	}
	tb.servers = []server{{"nginx", "http://" + tb.site.NginxAddr, nginx}, {"cairn", "http://" + tb.site.CairnAddr, cairn}}
	return tb, nil
}

// start starts one child of the suite and waits until readyURL answers 200.
func (tb *testbed) start(ctx context.Context, name string, argv []string, readyURL string, progress io.Writer) (*child, error) {
	return tb.all.start(ctx, tb.site.Dir, name, argv, readyURL, progress)
}

func (tb *testbed) stop() {
	tb.all.stopAll()
}

// measure checks that both servers answer the scenario alike, then runs it
// o.Runs times per server, alternating between them.
func (tb *testbed) measure(ctx context.Context, o *CompareOptions, sc scenario, rep *Report, progress io.Writer) (ScenarioResult, error) {
	sr := ScenarioResult{Name: sc.Name}
	if err := tb.check(ctx, sc); err != nil {
		return sr, err
	}
	for i := range o.Runs {
		for _, srv := range tb.servers {
			r, peakReset, err := tb.runOnce(ctx, o, srv, sc)
			if err != nil {
				return sr, fmt.Errorf("bench: %s, %s run %d: %w", sc.Name, srv.name, i+1, err)
			}
			rep.PeakPerRun = rep.PeakPerRun && peakReset
			fmt.Fprintf(progress, "%s  %-24s %s run %d/%d: %s req/s, p50 %.2f ms, p99 %.2f ms, %.1f µs/req CPU, %s peak, wrk %.2f cores, %d failed\n",
				time.Now().Format("15:04:05"), sc.Name, srv.name, i+1, o.Runs, fmtRPS(r.Load.RPS), ms(r.Load.P50), ms(r.Load.P99),
				r.CPUPerRequest(), fmtMiB(float64(r.PeakRSS)), r.LoadCores(), r.Load.Errors())
			if srv.name == "nginx" {
				sr.Nginx = append(sr.Nginx, r)
			} else {
				sr.Cairn = append(sr.Cairn, r)
			}
		}
	}
	return sr, nil
}

// check fetches the scenario from both servers and compares the bodies
// with what the origin (or the static file) holds, so that a wrong route or
// rewrite cannot pass for a fast one.
func (tb *testbed) check(ctx context.Context, sc scenario) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var want []byte
	var err error
	if sc.Static {
		want, err = os.ReadFile(filepath.Join(tb.site.StaticDir, staticFile))
	} else {
		want, err = fetch(ctx, client, "http://"+tb.site.OriginAddr+sc.Path)
	}
	if err != nil {
		return fmt.Errorf("bench: %s: reference body: %w", sc.Name, err)
	}
	for _, srv := range tb.servers {
		got, err := fetch(ctx, client, srv.base+sc.Path)
		if err != nil {
			return fmt.Errorf("bench: %s via %s: %w", sc.Name, srv.name, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("bench: %s via %s: got %d bytes, want the %d bytes of the origin", sc.Name, srv.name, len(got), len(want))
		}
	}
	return nil
}

// runOnce warms srv up, then measures one run. peakReset reports whether
// the peak RSS is this run's own.
func (tb *testbed) runOnce(ctx context.Context, o *CompareOptions, srv server, sc scenario) (r run, peakReset bool, err error) {
	url := srv.base + sc.Path
	if o.Warmup > 0 {
		if _, err := generate(ctx, o.Load, o.LoadCommand, url, o.load(o.Warmup)); err != nil {
			return run{}, false, fmt.Errorf("warm-up: %w", err)
		}
	}
	pid, opid := srv.proc.PID(), tb.origin.PID()
	peakReset = tb.proc.resetPeakRSS(pid) == nil
	cpu0, err := tb.proc.treeCPU(pid)
	if err != nil {
		return run{}, false, err
	}
	ocpu0, err := tb.proc.treeCPU(opid)
	if err != nil {
		return run{}, false, err
	}
	if r.Load, err = generate(ctx, o.Load, o.LoadCommand, url, o.load(o.Duration)); err != nil {
		return run{}, false, err
	}
	cpu1, err := tb.proc.treeCPU(pid)
	if err != nil {
		return run{}, false, fmt.Errorf("%w (did %s exit? %s)", err, srv.name, srv.proc.logTail())
	}
	ocpu1, err := tb.proc.treeCPU(opid)
	if err != nil {
		return run{}, false, err
	}
	if r.PeakRSS, err = tb.proc.treePeakRSS(pid); err != nil {
		return run{}, false, err
	}
	r.ServerCPU, r.OriginCPU = cpu1-cpu0, ocpu1-ocpu0
	return r, peakReset, nil
}

// profileAll takes a CPU profile of cairn-frontend during one extra run
// per scenario, from its admin listener's /debug/pprof/profile.
func (tb *testbed) profileAll(ctx context.Context, o *CompareOptions, progress io.Writer) error {
	if err := os.MkdirAll(o.Profile, 0o755); err != nil {
		return fmt.Errorf("bench: -profile: %w", err)
	}
	cairn := tb.servers[1]
	for _, sc := range frontendScenarios() {
		path := filepath.Join(o.Profile, "cairn-"+sc.Slug+".pprof")
		if err := tb.profileOne(ctx, o, cairn.base+sc.Path, path); err != nil {
			return fmt.Errorf("bench: profiling %s: %w", sc.Name, err)
		}
		fmt.Fprintf(progress, "wrote %s\n", path)
	}
	return nil
}

// profileOne loads url for o.Duration while profiling the middle of it.
func (tb *testbed) profileOne(ctx context.Context, o *CompareOptions, url, path string) error {
	secs := max(1, int((o.Duration-2*time.Second)/time.Second))
	profURL := "http://" + tb.site.CairnAdmin + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := generate(gctx, o.Load, o.LoadCommand, url, o.load(o.Duration))
		return err
	})
	g.Go(func() error {
		select {
		case <-time.After(time.Second):
		case <-gctx.Done():
			return gctx.Err()
		}
		b, err := fetch(gctx, &http.Client{Timeout: time.Duration(secs+10) * time.Second}, profURL)
		if err != nil {
			return err
		}
		return os.WriteFile(path, b, 0o644)
	})
	return g.Wait()
}
