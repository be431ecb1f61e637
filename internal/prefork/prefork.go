// Package prefork runs a tier as several worker processes that share its
// listening addresses, the way nginx's master process runs its workers.
//
// Why processes and not only goroutines: a Go server with two threads on
// two cores spends a good part of a small request's CPU in the scheduler
// handing goroutines between its threads (waking an idle thread with a
// futex, stealing work). Two single-threaded processes, each with its own
// sockets and event loop, do not; on the frontend's 100-byte proxy
// benchmark that was the difference between 0.85× and more than nginx's
// rate (README, Performance).
//
// The master binds every address once per worker with SO_REUSEPORT, so the
// kernel spreads new connections over the workers evenly, and it keeps
// those sockets open for its whole life: a worker that dies is started
// again on the same sockets, and connections that arrive meanwhile wait in
// its accept queue instead of being refused. Each worker also gets a Unix
// socket in a private folder on which it serves its own admin endpoints;
// the master gathers the workers' metrics and health from there, and its
// own admin listener forwards /worker/N/… to worker N (its pprof, say).
//
// fasthttp's prefork package does the starting but not the rest (one
// address, no signal forwarding or graceful stop, no metrics), so this is
// written here.
package prefork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Environment variables by which a master tells a worker what it is. The
// worker's admin socket is file descriptor 3, its listeners follow.
const (
	envIndex     = "CAIRN_WORKER"
	envListeners = "CAIRN_WORKER_LISTENERS"
	firstFD      = 3
)

// Self is this process as a worker.
type Self struct {
	Index     int          // 0 … workers-1
	Admin     net.Listener // where the master reads this worker's metrics and health
	Listeners []net.Listener
}

// Inherit returns this process's Self when a master started it, or nil. It
// removes the variables from the environment, so that a process the worker
// starts is not mistaken for one.
func Inherit() (*Self, error) {
	v, ok := os.LookupEnv(envIndex)
	if !ok {
		return nil, nil
	}
	idx, err := strconv.Atoi(v)
	if err != nil || idx < 0 {
		return nil, fmt.Errorf("prefork: %s=%q is not a worker number", envIndex, v)
	}
	n, err := strconv.Atoi(os.Getenv(envListeners))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("prefork: %s=%q is not a count", envListeners, os.Getenv(envListeners))
	}
	os.Unsetenv(envIndex)
	os.Unsetenv(envListeners)
	lns := make([]net.Listener, 0, n+1)
	for fd := firstFD; fd <= firstFD+n; fd++ {
		f := os.NewFile(uintptr(fd), "listener-"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("prefork: inherited socket %d: %w", fd, err)
		}
		lns = append(lns, ln)
	}
	return &Self{Index: idx, Admin: lns[0], Listeners: lns[1:]}, nil
}

// Options describe a pool of workers.
type Options struct {
	Workers int      // how many; at least 1
	Addrs   []string // the tier's listening addresses (host:port), in order
	Args    []string // the workers' command-line arguments: the master's own
	// Grace is how long a stopping worker may drain before it is killed
	// (the master adds a few seconds for the worker's own shutdown).
	Grace  time.Duration
	Logger *slog.Logger
}

// Pool is a master's set of workers.
type Pool struct {
	opts    Options
	dir     string       // private folder of the admin sockets
	admins  []*os.File   // per worker: its admin socket
	sockets [][]*os.File // per worker: its socket for each address
	bound   []net.Addr   // the addresses as bound (port 0 resolved)
	client  *http.Client // reaches a worker's admin socket: host "wN"

	mu       sync.Mutex
	procs    []*os.Process // running workers; nil while one is being restarted
	started  bool          // every worker was ready once: restart those that end
	stopping bool

	restarts prometheus.Counter
}

// restartDelay keeps a worker that fails at start from being restarted in a
// tight loop.
const restartDelay = time.Second

// Start binds the addresses, once per worker, and makes the admin sockets;
// Run starts the workers. Binding is checked first without SO_REUSEPORT, so
// an address that another program (or another copy of this one) holds is
// refused as it would be without workers, instead of being shared with it.
func Start(opts Options) (_ *Pool, err error) {
	if opts.Workers < 1 {
		return nil, fmt.Errorf("prefork: %d workers", opts.Workers)
	}
	p := &Pool{
		opts:    opts,
		admins:  make([]*os.File, opts.Workers),
		sockets: make([][]*os.File, opts.Workers),
		procs:   make([]*os.Process, opts.Workers),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_worker_restarts_total",
			Help: "Worker processes started again after they ended on their own.",
		}),
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	for _, addr := range opts.Addrs {
		bound, err := reserve(addr)
		if err != nil {
			return nil, err
		}
		p.bound = append(p.bound, bound)
		for i := range p.sockets {
			f, err := listenReusePort(bound.String())
			if err != nil {
				return nil, fmt.Errorf("prefork: %s: %w", addr, err)
			}
			p.sockets[i] = append(p.sockets[i], f)
		}
	}
	if p.dir, err = os.MkdirTemp("", "cairn-workers-"); err != nil {
		return nil, fmt.Errorf("prefork: %w", err)
	}
	for i := range p.admins {
		ln, err := net.Listen("unix", p.socketPath(i))
		if err != nil {
			return nil, fmt.Errorf("prefork: admin socket: %w", err)
		}
		f, err := ln.(*net.UnixListener).File()
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		if err != nil {
			return nil, fmt.Errorf("prefork: admin socket: %w", err)
		}
		p.admins[i] = f
	}
	p.client = &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				i, err := strconv.Atoi(strings.TrimPrefix(host, "w"))
				if err != nil || i < 0 || i >= opts.Workers {
					return nil, fmt.Errorf("prefork: no worker %q", host)
				}
				var d net.Dialer
				return d.DialContext(ctx, "unix", p.socketPath(i))
			},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	return p, nil
}

func (p *Pool) socketPath(i int) string {
	return filepath.Join(p.dir, "worker-"+strconv.Itoa(i)+".sock")
}

// reserve checks that addr is free by binding it plainly, and returns it
// with its port resolved (":0" gets one port that every worker then shares).
func reserve(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("prefork: %w", err)
	}
	bound := ln.Addr()
	ln.Close()
	return bound, nil
}

// listenReusePort binds a listening socket with SO_REUSEPORT and returns its
// file (the master never accepts on it; its workers do).
func listenReusePort(addr string) (*os.File, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	return ln.(*net.TCPListener).File()
}

// soReusePort is SO_REUSEPORT on Linux (package syscall does not name it).
const soReusePort = 0xf

// Addrs are the listening addresses as bound, in the order of Options.Addrs.
func (p *Pool) Addrs() []net.Addr { return p.bound }

// Describe and Collect make the pool's own metrics (restarts) a collector.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) { p.restarts.Describe(ch) }

// Collect implements prometheus.Collector.
func (p *Pool) Collect(ch chan<- prometheus.Metric) { p.restarts.Collect(ch) }

// Run starts the workers and waits until each answers its /healthz; a
// worker that ends before that fails the start, and Run stops the others
// and returns its error (the worker's own log says why). Then Run keeps
// them running, each started again a second after it ends on its own,
// until ctx is cancelled; it then asks every worker to stop (SIGTERM: drain
// and exit), kills those still running after the grace period and a
// margin, and releases the sockets.
func (p *Pool) Run(ctx context.Context) error {
	defer p.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := make(chan error, len(p.procs))
	var wg sync.WaitGroup
	for i := range p.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.keep(ctx, i, first)
		}()
	}
	err := p.awaitReady(ctx, first)
	if err == nil {
		<-ctx.Done()
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	p.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-time.After(p.opts.Grace + 5*time.Second):
	}
	p.opts.Logger.Error("workers still running after the grace period; killing them")
	p.Signal(syscall.SIGKILL)
	<-done
	return err
}

// startTimeout bounds how long a worker may take to become healthy.
const startTimeout = 30 * time.Second

// awaitReady waits until every worker is healthy, or one ends (its error
// comes on first), or ctx ends.
func (p *Pool) awaitReady(ctx context.Context, first <-chan error) error {
	deadline := time.Now().Add(startTimeout)
	for i := range p.procs {
		for {
			if resp, err := p.client.Get(workerURL(i, "/healthz")); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("prefork: worker %d not ready after %v", i, startTimeout)
			}
			select {
			case err := <-first:
				return err
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	return nil
}

// keep runs worker i until the pool stops. A worker that ends before all
// are ready is not started again: its error goes to first. keep's
// goroutine stays on one OS thread: a worker gets SIGTERM when the thread
// that started it ends (Pdeathsig), which must therefore be when the
// master does.
func (p *Pool) keep(ctx context.Context, i int, first chan<- error) {
	runtime.LockOSThread()
	for {
		start := time.Now()
		err := p.run(i)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		started := p.started
		p.mu.Unlock()
		if !started {
			first <- fmt.Errorf("prefork: worker %d ended at start: %v", i, err)
			return
		}
		p.restarts.Inc()
		p.opts.Logger.Error("worker ended; starting it again", "worker", i, "err", err, "ran", time.Since(start).Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(restartDelay):
		}
	}
}

// run starts worker i and waits for it to end.
func (p *Pool) run(i int) error {
	cmd := exec.Command("/proc/self/exe", p.opts.Args...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envIndex+"="+strconv.Itoa(i), envListeners+"="+strconv.Itoa(len(p.sockets[i])))
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	cmd.ExtraFiles = append([]*os.File{p.admins[i]}, p.sockets[i]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		return errors.New("stopping")
	}
	err := cmd.Start()
	if err == nil {
		p.procs[i] = cmd.Process
	}
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.opts.Logger.Info("worker started", "worker", i, "pid", cmd.Process.Pid)
	err = cmd.Wait()
	p.mu.Lock()
	p.procs[i] = nil
	p.mu.Unlock()
	return err
}

// Signal sends sig to every running worker (SIGHUP: reload; SIGUSR1: reopen
// logs; SIGTERM: drain and stop).
func (p *Pool) Signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, proc := range p.procs {
		if proc != nil {
			_ = proc.Signal(sig)
		}
	}
}

// PIDs returns the running workers' process ids (0 for one being restarted).
func (p *Pool) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, len(p.procs))
	for i, proc := range p.procs {
		if proc != nil {
			pids[i] = proc.Pid
		}
	}
	return pids
}

func (p *Pool) close() {
	for _, f := range p.admins {
		if f != nil {
			f.Close()
		}
	}
	for _, fs := range p.sockets {
		for _, f := range fs {
			f.Close()
		}
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// Health is nil when every worker answers its /healthz with 200.
func (p *Pool) Health() error {
	var errs []error
	for i := range p.procs {
		resp, err := p.client.Get(workerURL(i, "/healthz"))
		if err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("worker %d: /healthz %s", i, resp.Status))
		}
	}
	return errors.Join(errs...)
}

func workerURL(i int, path string) string {
	return "http://w" + strconv.Itoa(i) + path
}

// Gather implements prometheus.Gatherer with the workers' metrics (each
// worker labels its own with its number). A worker that does not answer is
// reported as an error; the others' metrics are still returned.
func (p *Pool) Gather() ([]*dto.MetricFamily, error) {
	var (
		mfs  []*dto.MetricFamily
		errs []error
	)
	for i := range p.procs {
		got, err := p.gather(i)
		if err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
		}
		mfs = append(mfs, got...)
	}
	return mfs, errors.Join(errs...)
}

// protoFormat asks a worker for the lossless protobuf exposition.
var protoFormat = string(expfmt.NewFormat(expfmt.TypeProtoDelim))

func (p *Pool) gather(i int) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, workerURL(i, "/metrics"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", protoFormat)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var mfs []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				return mfs, nil
			}
			return mfs, err
		}
		mfs = append(mfs, mf)
	}
}

// Handler forwards /worker/N/… to worker N's admin endpoints (its pprof,
// metrics and health), for the master's admin listener.
func (p *Pool) Handler() http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			rest := strings.TrimPrefix(r.In.URL.Path, "/worker/")
			n, path, _ := strings.Cut(rest, "/")
			r.SetURL(&url.URL{Scheme: "http", Host: "w" + n})
			r.Out.URL.Path = "/" + path
			r.Out.URL.RawPath = ""
		},
		Transport: p.client.Transport,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/worker/"), "/")
		if i, err := strconv.Atoi(n); err != nil || i < 0 || i >= len(p.procs) || strconv.Itoa(i) != n {
			http.Error(w, "no such worker: "+n, http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	})
}
