package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The peer suites (issue 4) measure the servers that cairn-cache,
// cairn-balancer and cairn-transform will replace, configured as the seed
// configures them, in front of the same origin as the frontend suite. The
// Cairn tiers do not exist yet, so each suite has one server for now; the
// runs already alternate over a list of servers (peerBed.servers), so that
// adding the Cairn tier is adding one entry.

// peerTier is one later tier's suite.
type peerTier struct {
	Name      string // as in -tiers
	Cairn     string // the Cairn binary that will take the peer's place
	Server    string // the peer's short name in progress lines and runs
	Scenarios []peerScenario
	Origins   int // origin processes, one per Zope instance
	// start writes the peer's configuration into pb.site.Dir and starts it
	// (registered in pb, so that pb.stop stops it); setup describes it for
	// the report.
	start func(ctx context.Context, pb *peerBed, o *CompareOptions, progress io.Writer) (*child, error)
	setup func(o *CompareOptions) string
}

// peerScenario is one request the peer is loaded with.
type peerScenario struct {
	Name    string
	Path    string
	Headers []string // "Name: value", sent by wrk and by the check
	// check makes sure, before the runs, that the peer answers as the
	// scenario says (a cache hit is a hit, a theme is applied …).
	check func(ctx context.Context, pb *peerBed, base string, sc peerScenario) error
}

// peerTierNames are the peer suites in the order they run.
var peerTierNames = []string{"cache", "balancer", "transform"}

// peerTierByName returns the suite named name.
func peerTierByName(name string) (peerTier, bool) {
	switch name {
	case "cache":
		return cacheTier(), true
	case "balancer":
		return balancerTier(), true
	case "transform":
		return transformTier(), true
	}
	return peerTier{}, false
}

// varnishStorage is the cache's storage, as performance.md's figures.
const varnishStorage = "malloc,256M"

// anonCookie is the login cookie of the cache's pass scenario.
const anonCookie = "Cookie: __ac=YWRtaW46YWRtaW4"

func cacheTier() peerTier {
	return peerTier{
		Name: "cache", Cairn: "cairn-cache", Server: "varnish", Origins: 1,
		Scenarios: []peerScenario{
			{Name: "hit, 20 KB page", Path: "/page", check: checkCacheHit},
			{Name: "pass (`__ac` cookie), 20 KB page", Path: "/page", Headers: []string{anonCookie}, check: checkCachePass},
		},
		start: startVarnish,
		setup: func(o *CompareOptions) string {
			return fmt.Sprintf("Varnish (`-s %s`) with the seed's VCL in VCL 4.1 (logged-in requests passed), in front of one origin with %s.",
				varnishStorage, slotsText(o.OriginSlots))
		},
	}
}

func balancerTier() peerTier {
	return peerTier{
		Name: "balancer", Cairn: "cairn-balancer", Server: "haproxy", Origins: 4,
		Scenarios: []peerScenario{
			{Name: "100 B response", Path: "/bytes?n=100", check: checkBalanced},
			{Name: "slow, 20 ms", Path: "/slow?ms=20", check: checkBalanced}, // the slots are in the setup line
		},
		start: startHAProxy,
		setup: func(o *CompareOptions) string {
			return fmt.Sprintf("HAProxy with `nbthread %d` and the seed's configuration: round robin over 4 servers, each an origin with %s "+
				"and `maxconn %d maxqueue 2`, HTTP health checks, keep-alive on both sides. "+
				"The slow scenario's p99 is the queueing one: %d connections wait for %d slots.",
				o.HAProxyThreads, slotsText(o.OriginSlots), o.OriginSlots, o.Connections, 4*o.OriginSlots)
		},
	}
}

func transformTier() peerTier {
	return peerTier{
		Name: "transform", Cairn: "cairn-transform", Server: "nginx-xslt", Origins: 1,
		Scenarios: []peerScenario{
			{Name: "themed 20 KB page", Path: "/page", check: checkThemed},
		},
		start: startTransform,
		setup: func(o *CompareOptions) string {
			return "nginx (2 workers) with its XSLT filter applying a Diazo theme (bench/testdata/peers/: rules.xml and theme.html, compiled with " +
				"diazocompiler -a /static) to the page of one origin with " + slotsText(o.OriginSlots) + " (Debian's filter parses XML only; " +
				"the origin's page is well-formed XML)."
		},
	}
}

func slotsText(slots int) string {
	if slots <= 0 {
		return "unlimited slots"
	}
	if slots == 1 {
		return "1 slot"
	}
	return strconv.Itoa(slots) + " slots"
}

// peerBed is one tier's running processes: its origins and its servers.
type peerBed struct {
	site    peerSite
	proc    procFS
	origins []*child
	servers []server // in the order of the alternating runs
	all     children
}

// start starts one child of the suite and waits until readyURL answers 200.
func (pb *peerBed) start(ctx context.Context, name string, argv []string, readyURL string, progress io.Writer) (*child, error) {
	return pb.all.start(ctx, pb.site.Dir, name, argv, readyURL, progress)
}

func (pb *peerBed) stop() { pb.all.stopAll() }

// ComparePeers runs the named peer suites one after the other and returns
// their report. Each suite starts its origins and its peer, measures, and
// stops them before the next one starts; every process is stopped before
// ComparePeers returns, also on an error or when ctx is cancelled.
func ComparePeers(ctx context.Context, o CompareOptions, tiers []string, progress io.Writer) (*PeerReport, error) {
	if err := ensureTools(ctx, progress); err != nil {
		return nil, err
	}
	if err := ensurePeers(ctx, tiers, progress); err != nil {
		return nil, err
	}
	dir, done, err := workDir("cairn-bench-peers-", o.Keep, progress)
	if err != nil {
		return nil, err
	}
	defer done()
	rep := &PeerReport{Machine: machine(), Command: o.Command, Method: o.peersMethod(), PeakPerRun: true}
	for _, name := range tiers {
		tier, ok := peerTierByName(name)
		if !ok {
			return nil, fmt.Errorf("bench: no peer suite %q", name)
		}
		tr, err := runPeerTier(ctx, &o, tier, filepath.Join(dir, name), rep, progress)
		if err != nil {
			return nil, err
		}
		rep.Tiers = append(rep.Tiers, tr)
	}
	rep.Versions = peerVersions(ctx, tiers, o.Venv)
	return rep, nil
}

// runPeerTier starts the tier's origins and peer in dir, checks and
// measures every scenario, and stops what it started.
func runPeerTier(ctx context.Context, o *CompareOptions, tier peerTier, dir string, rep *PeerReport, progress io.Writer) (PeerTierResult, error) {
	tr := PeerTierResult{Name: tier.Name, Cairn: tier.Cairn, Server: tier.Server, Setup: tier.setup(o)}
	// World-readable: nginx's workers run as nobody and Varnish's child as
	// vcache when the suite runs as root.
	if err := os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755); err != nil {
		return tr, fmt.Errorf("bench: %w", err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		return tr, fmt.Errorf("bench: %w", err)
	}
	pb := &peerBed{proc: procFS{root: "/proc"}}
	defer pb.stop() // also on a partial start
	ports, err := freePorts(tier.Origins + 1)
	if err != nil {
		return tr, err
	}
	pb.site = peerSite{Dir: dir, Listen: loopback(ports[tier.Origins]), VarnishStorage: varnishStorage,
		Threads: o.HAProxyThreads, MaxConn: o.OriginSlots, GlobalMaxConn: haproxyMaxConn(fileLimit())}
	for i := range tier.Origins {
		addr := loopback(ports[i])
		name := "instance" + strconv.Itoa(i+1)
		argv := append(append([]string(nil), o.OriginCommand...), "-name", name, "-listen", addr, "-slots", strconv.Itoa(o.OriginSlots))
		c, err := pb.start(ctx, "origin-"+name, argv, "http://"+addr+"/bytes?n=1", progress)
		if err != nil {
			return tr, err
		}
		pb.origins = append(pb.origins, c)
		pb.site.Origins = append(pb.site.Origins, addr)
	}
	peer, err := tier.start(ctx, pb, o, progress)
	if err != nil {
		return tr, err
	}
	pb.servers = []server{{name: tier.Server, base: "http://" + pb.site.Listen, proc: peer}}
	for _, sc := range tier.Scenarios {
		sr, err := pb.measure(ctx, o, tier, sc, rep, progress)
		if err != nil {
			return tr, err
		}
		tr.Results = append(tr.Results, sr)
	}
	return tr, nil
}

// measure checks the scenario on every server, then runs it o.Runs times
// per server, alternating between them.
func (pb *peerBed) measure(ctx context.Context, o *CompareOptions, tier peerTier, sc peerScenario, rep *PeerReport, progress io.Writer) (PeerScenarioResult, error) {
	sr := PeerScenarioResult{Name: sc.Name}
	for _, srv := range pb.servers {
		if err := sc.check(ctx, pb, srv.base, sc); err != nil {
			return sr, fmt.Errorf("bench: %s, %s via %s: %w", tier.Name, sc.Name, srv.name, err)
		}
	}
	for i := range o.Runs {
		for _, srv := range pb.servers {
			r, peakReset, err := pb.runOnce(ctx, o, srv, sc)
			if err != nil {
				return sr, fmt.Errorf("bench: %s, %s, %s run %d: %w", tier.Name, sc.Name, srv.name, i+1, err)
			}
			rep.PeakPerRun = rep.PeakPerRun && peakReset
			fmt.Fprintf(progress, "%s  %-9s %-34s %s run %d/%d: %s req/s, p50 %.2f ms, p99 %.2f ms, %.1f µs/req CPU, %s peak, origin %.1f µs/req, wrk %.2f cores, %d failed\n",
				time.Now().Format("15:04:05"), tier.Name, sc.Name, srv.name, i+1, o.Runs, fmtRPS(r.Load.RPS), ms(r.Load.P50), ms(r.Load.P99),
				r.CPUPerRequest(), fmtMiB(float64(r.PeakRSS)), r.OriginCPUPerRequest(), r.LoadCores(), r.Load.Errors())
			sr.Peer = append(sr.Peer, r)
		}
	}
	return sr, nil
}

// runOnce warms srv up, then measures one run: the server's CPU and peak
// RSS, and the CPU of all the origins together. peakReset reports whether
// the peak RSS is this run's own.
func (pb *peerBed) runOnce(ctx context.Context, o *CompareOptions, srv server, sc peerScenario) (r run, peakReset bool, err error) {
	url := srv.base + sc.Path
	if o.Warmup > 0 {
		if _, err := generate(ctx, o.Load, o.LoadCommand, url, o.load(o.Warmup).with(sc.Headers)); err != nil {
			return run{}, false, fmt.Errorf("warm-up: %w", err)
		}
	}
	pid := srv.proc.PID()
	peakReset = pb.proc.resetPeakRSS(pid) == nil
	cpu0, err := pb.proc.treeCPU(pid)
	if err != nil {
		return run{}, false, err
	}
	ocpu0, err := pb.originCPU()
	if err != nil {
		return run{}, false, err
	}
	if r.Load, err = generate(ctx, o.Load, o.LoadCommand, url, o.load(o.Duration).with(sc.Headers)); err != nil {
		return run{}, false, err
	}
	cpu1, err := pb.proc.treeCPU(pid)
	if err != nil {
		return run{}, false, fmt.Errorf("%w (did %s exit? %s)", err, srv.name, srv.proc.logTail())
	}
	ocpu1, err := pb.originCPU()
	if err != nil {
		return run{}, false, err
	}
	if r.PeakRSS, err = pb.proc.treePeakRSS(pid); err != nil {
		return run{}, false, err
	}
	r.ServerCPU, r.OriginCPU = cpu1-cpu0, ocpu1-ocpu0
	return r, peakReset, nil
}

// originCPU is the CPU time of all the tier's origins.
func (pb *peerBed) originCPU() (time.Duration, error) {
	var sum time.Duration
	for _, c := range pb.origins {
		d, err := pb.proc.treeCPU(c.PID())
		if err != nil {
			return 0, fmt.Errorf("%w (did %s exit? %s)", err, c.name, c.logTail())
		}
		sum += d
	}
	return sum, nil
}

func (o *CompareOptions) peersMethod() string {
	runs := strconv.Itoa(o.Runs) + " runs"
	if o.Runs == 1 {
		runs = "1 run"
	}
	return fmt.Sprintf("Medians of %s per scenario, each %s after a %s warm-up, all on 127.0.0.1; "+
		"origins: `cairn-bench origin` processes of their own. CPU is utime+stime of the peer's processes and of children of theirs that exited (Varnish: manager and child; "+
		"nginx: master and workers) during the run, divided by the requests the load generator completed; peak RSS is VmHWM summed over them; origin CPU "+
		"is that of all the tier's origins together (near 0 when the cache answers).",
		runs, generatorCommand(o.Load, o.Threads, o.Connections, o.Duration), o.Warmup)
}
