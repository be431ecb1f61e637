package bench

// The object store suite (issue 3): cairn-objectstore against the stock
// Python ZEO server (runzeo from the project's venv, FileStorage with a
// blob directory), both started once and measured in alternation
// (A B A B …) under the same client workload:
//
//   - Python clients: objectstore/testdata/python/zeobench.py, one process
//     per client (ZODB commits of one ~200-byte object; ClientStorage
//     loads that always reach the server);
//   - Go clients: objectstore/client connections from this process, doing
//     the same at the protocol level.
//
// Each run starts fresh clients, waits until every one is connected and
// ready, reads the server's CPU time from /proc/PID/stat, lets the clients
// work for the run's duration, reads the CPU time again and the peak RSS
// (VmHWM, reset through clear_refs before the run). Only the server's own
// process is counted.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairnstack/cairn/objectstore/client"
)

// ZEOOptions configures CompareZEO. RegisterFlags sets the defaults.
type ZEOOptions struct {
	// Runs per scenario and server, alternating the servers. Default 3.
	Runs int
	// Duration of each measured run. Default 3s.
	Duration time.Duration
	// Objects is the data set the load scenarios read. Default 10000.
	Objects int
	// Drivers are the client kinds, comma-separated: "python", "go".
	// Default both.
	Drivers string
	// BinDir holds cairn-objectstore. Default ./bin.
	BinDir string
	// Venv is the Python environment with ZODB and ZEO (scripts/pyenv.sh
	// makes it). Default ./.venv.
	Venv string
	// Script is the Python workload. Default
	// objectstore/testdata/python/zeobench.py.
	Script string
	// Out is a Markdown file to write the report to; "" writes none.
	Out string
	// README, when set, is a file whose block between ZEOMarkerStart and
	// ZEOMarkerEnd is replaced with the table.
	README string
	// Keep leaves the work folder (data files, logs) in place.
	Keep bool
	// Command is how the comparison was invoked, printed to reproduce it.
	Command string

	// scenarios overrides the default list (tests).
	scenarios []zeoScenario
}

// RegisterFlags registers one flag per option and sets the defaults.
func (o *ZEOOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&o.Runs, "runs", 3, "runs per scenario and server (alternating)")
	fs.DurationVar(&o.Duration, "duration", 3*time.Second, "length of each measured run")
	fs.IntVar(&o.Objects, "objects", 10000, "objects in the data set the load scenarios read")
	fs.StringVar(&o.Drivers, "drivers", "python,go", "client kinds: python, go, or both")
	fs.StringVar(&o.BinDir, "bin", "bin", "folder with cairn-objectstore")
	fs.StringVar(&o.Venv, "venv", ".venv", "Python environment with ZODB and ZEO (scripts/pyenv.sh)")
	fs.StringVar(&o.Script, "script", filepath.Join("objectstore", "testdata", "python", "zeobench.py"), "the Python client workload")
	fs.StringVar(&o.Out, "out", "", "Markdown file to write the results to")
	fs.StringVar(&o.README, "readme", "", "file whose "+ZEOMarkerStart+" … "+ZEOMarkerEnd+" block gets the table")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work folder with the data files and logs")
}

// Markers of the object store block in the README.
const (
	ZEOMarkerStart = "<!-- bench:zeo:start -->"
	ZEOMarkerEnd   = "<!-- bench:zeo:end -->"
)

func (o *ZEOOptions) validate() error {
	if err := checkRuns(o.Runs, o.Duration); err != nil {
		return err
	}
	if o.Objects < 100 {
		return errors.New("bench: -objects must be at least 100")
	}
	for _, d := range strings.Split(o.Drivers, ",") {
		if d != "python" && d != "go" {
			return fmt.Errorf("bench: -drivers: unknown driver %q (python, go)", d)
		}
	}
	need := map[string]string{
		filepath.Join(o.BinDir, "cairn-objectstore"): "build it with: go build -o " + o.BinDir + "/ ./cmd/...",
		o.python():   "run scripts/pyenv.sh",
		o.runzeo():   "run scripts/pyenv.sh",
		o.Script:     "run from the repository's root or pass -script",
		"/proc/self": "Linux /proc is needed",
	}
	for path, hint := range need {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("bench: %w (%s)", err, hint)
		}
	}
	return nil
}

func (o *ZEOOptions) python() string { return filepath.Join(o.Venv, "bin", "python") }
func (o *ZEOOptions) runzeo() string { return filepath.Join(o.Venv, "bin", "runzeo") }

// CompareZEO runs the object store suite and returns the report (also
// written to o.Out). Progress lines go to progress. Every process it
// starts is stopped before it returns.
func CompareZEO(ctx context.Context, o ZEOOptions, progress io.Writer) (*ZEOReport, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	// Children run in the work folder: make the paths absolute.
	for _, p := range []*string{&o.BinDir, &o.Venv, &o.Script} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		*p = abs
	}
	dir, done, err := workDir("cairn-bench-zeo-", o.Keep, progress)
	if err != nil {
		return nil, err
	}
	defer done()
	servers, all, err := zeoStartServers(ctx, &o, dir, progress)
	defer all.stopAll() // also after a partial start
	if err != nil {
		return nil, err
	}
	rep := &ZEOReport{
		Machine:  machine(),
		Versions: zeoVersions(ctx, &o),
		Command:  o.Command,
		Method:   o.method(),
	}
	scenarios := o.scenarios
	if scenarios == nil {
		scenarios = zeoDefaultScenarios(o.Drivers)
	}
	peakOK := true
	for _, sc := range scenarios {
		res := ZEOResult{Scenario: sc}
		for i := range o.Runs {
			for _, srv := range servers {
				r, reset, err := zeoMeasure(ctx, &o, srv, sc)
				if err != nil {
					return nil, fmt.Errorf("bench: %s, %s: %w", sc.Name(), srv.name, err)
				}
				peakOK = peakOK && reset
				fmt.Fprintf(progress, "%s, %s run %d/%d: %s\n", sc.Name(), srv.name, i+1, o.Runs, r)
				if srv.name == zeoPeer {
					res.ZEO = append(res.ZEO, r)
				} else {
					res.Cairn = append(res.Cairn, r)
				}
			}
		}
		rep.Results = append(rep.Results, res)
	}
	rep.PeakPerRun = peakOK
	return rep, writeMarked(o.Out, o.README, "# Object store: cairn-objectstore vs ZEO (issue 3)", ZEOMarkerStart, ZEOMarkerEnd, rep.Markdown(), progress)
}

func (o *ZEOOptions) method() string {
	return fmt.Sprintf("Medians of %d runs per scenario and server, alternating ZEO and cairn, each %s long with fresh clients "+
		"that connect first and start together; %d objects of about 200 bytes for the loads. "+
		"Python clients are one process each running objectstore/testdata/python/zeobench.py: a commit is one ZODB transaction "+
		"changing one object (each client its own, so no conflicts); a load is ClientStorage.load of an oid missing from the client "+
		"cache (caches are cleared after each pass over the client's oids). Cold loads pass over the whole data set (each client its "+
		"share); hot loads over 100 objects per client, so the server's working set stays small. "+
		"Go clients are objectstore/client connections in the bench process doing the same calls. "+
		"Server CPU is utime+stime of the server process during the run divided by the operations done; client CPU likewise for the clients "+
		"(the Python processes, or the whole bench process for Go). Both servers fsync every commit (FileStorage per transaction, cairn per group).",
		o.Runs, o.Duration, o.Objects)
}

// zeoPeer and zeoCairn name the two servers in the report.
const (
	zeoPeer  = "zeo"
	zeoCairn = "cairn"
)

// zeoServer is one running server, prepared with the data set.
type zeoServer struct {
	name    string
	addr    string
	proc    *child
	oidFile string // the data set's oids, hex, one per line
	oids    []client.OID
}

// zeoStartServers starts runzeo and cairn-objectstore on free ports and
// prepares both with the same data. The children are returned even on
// error, so the caller can stop them.
func zeoStartServers(ctx context.Context, o *ZEOOptions, dir string, progress io.Writer) ([]*zeoServer, children, error) {
	var all children
	ports, err := freePorts(2)
	if err != nil {
		return nil, all, err
	}
	peerDir, cairnDir := filepath.Join(dir, "zeo"), filepath.Join(dir, "cairn")
	for _, d := range []string{peerDir, cairnDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, all, fmt.Errorf("bench: %w", err)
		}
	}
	conf := filepath.Join(peerDir, "zeo.conf")
	if err := os.WriteFile(conf, []byte(zeoConfig(loopback(ports[0]), peerDir)), 0o644); err != nil {
		return nil, all, fmt.Errorf("bench: %w", err)
	}
	argvs := map[string][]string{
		zeoPeer: {o.runzeo(), "-C", conf},
		zeoCairn: {filepath.Join(o.BinDir, "cairn-objectstore"), "-listen", loopback(ports[1]), "-admin", "",
			"-data", filepath.Join(cairnDir, "objectstore.db"), "-blob-dir", filepath.Join(cairnDir, "blobs"), "-log-level", "warn"},
	}
	var servers []*zeoServer
	for i, name := range []string{zeoPeer, zeoCairn} {
		d := filepath.Join(dir, name)
		c, err := startChild(name, argvs[name], filepath.Join(d, "server.log"))
		if err != nil {
			return nil, all, err
		}
		all = append(all, c)
		srv := &zeoServer{name: name, addr: loopback(ports[i]), proc: c, oidFile: filepath.Join(d, "oids.txt")}
		if err := srv.waitReady(ctx); err != nil {
			return nil, all, err
		}
		fmt.Fprintf(progress, "%s ready on %s (pid %d); preparing %d objects\n", name, srv.addr, c.PID(), o.Objects)
		if err := srv.prepare(ctx, o, d); err != nil {
			return nil, all, err
		}
		servers = append(servers, srv)
	}
	return servers, all, nil
}

// zeoConfig is runzeo's configuration: a FileStorage with a blob
// directory, as ZEO deployments run it, and warnings-only logging.
func zeoConfig(addr, dir string) string {
	return fmt.Sprintf(`<zeo>
  address %s
</zeo>
<filestorage 1>
  path %s
  blob-dir %s
</filestorage>
<eventlog>
  level WARNING
  <logfile>
    path STDERR
  </logfile>
</eventlog>
`, addr, filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"))
}

// waitReady dials until the server registers a client, it exits, or
// readyTimeout passes.
func (s *zeoServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		c, err := client.Dial(dctx, s.addr, client.Options{})
		dcancel()
		if err == nil {
			return c.Close()
		}
		if s.proc.exited() {
			return fmt.Errorf("bench: %s exited:\n%s", s.name, s.proc.logTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %s did not accept ZEO clients: %w (last: %v)\n%s", s.name, ctx.Err(), err, s.proc.logTail())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// prepare runs the Python workload's prepare mode and reads the oids it
// wrote.
func (s *zeoServer) prepare(ctx context.Context, o *ZEOOptions, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.python(), o.Script, "prepare", s.addr, strconv.Itoa(o.Objects), strconv.Itoa(zeoMaxClients), s.oidFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: preparing %s: %w\n%s", s.name, err, out)
	}
	b, err := os.ReadFile(s.oidFile)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	s.oids, err = zeoParseOIDs(string(b))
	if err == nil && len(s.oids) != o.Objects {
		err = fmt.Errorf("bench: %s: prepare wrote %d oids; want %d", s.name, len(s.oids), o.Objects)
	}
	return err
}

// zeoParseOIDs reads hex oids, one per line.
func zeoParseOIDs(text string) ([]client.OID, error) {
	var oids []client.OID
	for _, line := range strings.Fields(text) {
		n, err := strconv.ParseUint(line, 16, 64)
		if err != nil || len(line) != 16 {
			return nil, fmt.Errorf("bench: bad oid %q", line)
		}
		oids = append(oids, client.OIDFromUint64(n))
	}
	return oids, nil
}

// zeoVersions names what is compared: ZEO, ZODB and Python from the venv,
// and the Go release cairn-objectstore was built with.
func zeoVersions(ctx context.Context, o *ZEOOptions) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	py := firstLine(ctx, o.python(), "-c",
		"import sys, importlib.metadata as m; print('ZEO %s, ZODB %s, Python %s' % (m.version('ZEO'), m.version('ZODB'), sys.version.split()[0]))")
	return py + ", " + zeoGoVersion(filepath.Join(o.BinDir, "cairn-objectstore"))
}
