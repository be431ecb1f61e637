package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CompareOptions configures `cairn-bench compare`. Zero values are not
// meaningful; RegisterFlags sets the defaults.
type CompareOptions struct {
	// Tiers lists the suites to run, comma-separated: frontend (nginx
	// against cairn-frontend), and cache, balancer, transform (the peers
	// of the tiers not built yet: Varnish, HAProxy, nginx's XSLT filter).
	// Default frontend.
	Tiers string
	// Duration of each measured run. Default 10s.
	Duration time.Duration
	// Warmup is the unmeasured run before each measured one. Default 2s.
	Warmup time.Duration
	// Runs per scenario and server. Default 3.
	Runs int
	// Connections and Threads are wrk's -c and -t. Defaults 64 and 2.
	Connections int
	Threads     int
	// OriginSlots bounds the origin's concurrent requests like Zope's
	// worker threads. Default 2, as in performance.md's peer figures.
	OriginSlots int
	// Out is the Markdown file written; "" writes none.
	Out string
	// README, when set, is a file whose block between MarkerStart and
	// MarkerEnd is replaced with the table (left alone without markers).
	README string
	// BinDir holds the cairn binaries (cairn-frontend). Default ./bin.
	BinDir string
	// Profile, when set, is a folder that receives a CPU profile of
	// cairn-frontend per scenario, taken in an extra, unmeasured run.
	Profile string
	// Keep leaves the work folder (configurations, logs) in place and
	// names it, for a look at what ran.
	Keep bool
	// HAProxyThreads is the balancer suite's nbthread. Default 1, three
	// times faster on 2 cores than HAProxy's default (performance.md).
	HAProxyThreads int
	// Venv is the Python virtualenv with Diazo's compiler, for the
	// transform suite; Diazo is installed there when missing. Default .venv.
	Venv string

	// Load names the load generator: "wrk" (the default, also when empty) or "cairn"
	// (LoadCommand).
	Load string
	// LoadCommand is the argv of the caller's own `cairn-bench load`.
	LoadCommand []string
	// OriginCommand is the argv that serves the origin (the caller's own
	// binary with "origin"); -listen and -slots are appended.
	OriginCommand []string
	// Command is how this comparison was invoked, printed as the way to
	// reproduce it.
	Command string
}

// RegisterFlags registers one flag per option and sets the defaults.
func (o *CompareOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Tiers, "tiers", "frontend", "suites to run, comma-separated: frontend, cache, balancer, transform")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured run before each measured one (0: none)")
	fs.IntVar(&o.Runs, "runs", 3, "runs per scenario and server")
	fs.IntVar(&o.Connections, "connections", 64, "connections of the load generator (-c)")
	fs.StringVar(&o.Load, "load", genWrk, "load generator: wrk, or cairn (cairn-bench load)")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.OriginSlots, "origin-slots", 2, "origin's concurrent requests, like Zope's threads (0: unlimited)")
	fs.StringVar(&o.Out, "out", "", "Markdown file to write the results to")
	fs.StringVar(&o.README, "readme", "", "file whose "+MarkerStart+" … "+MarkerEnd+" block gets the table")
	fs.StringVar(&o.BinDir, "bin", "bin", "folder with the cairn binaries")
	fs.StringVar(&o.Profile, "profile", "", "folder for CPU profiles of cairn-frontend (an extra run per scenario)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work folder with the configurations and logs")
	fs.IntVar(&o.HAProxyThreads, "haproxy-threads", 1, "HAProxy's nbthread in the balancer suite")
	fs.StringVar(&o.Venv, "venv", ".venv", "Python virtualenv with Diazo's compiler (transform suite; installed when missing)")
}

// parseTiers splits a -tiers list and checks every name.
func parseTiers(list string) ([]string, error) {
	var tiers []string
	seen := map[string]bool{}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if _, ok := peerTierByName(t); !ok && t != "frontend" {
			return nil, fmt.Errorf("bench: -tiers: unknown suite %q (known: frontend, %s)", t, strings.Join(peerTierNames, ", "))
		}
		if seen[t] {
			return nil, fmt.Errorf("bench: -tiers: %s given twice", t)
		}
		seen[t] = true
		tiers = append(tiers, t)
	}
	if len(tiers) == 0 {
		return nil, errors.New("bench: -tiers names no suite")
	}
	return tiers, nil
}

// validate checks the options and returns the suites to run: whether the
// frontend's, and the peer suites in the order given.
func (o *CompareOptions) validate() (frontend bool, peers []string, err error) {
	tiers, err := parseTiers(o.Tiers)
	if err != nil {
		return false, nil, err
	}
	for _, t := range tiers {
		if t == "frontend" {
			frontend = true
		} else {
			peers = append(peers, t)
		}
	}
	if err := o.validateLoad(); err != nil {
		return false, nil, err
	}
	if len(peers) > 0 && o.HAProxyThreads < 1 {
		return false, nil, errors.New("bench: -haproxy-threads must be at least 1")
	}
	if frontend {
		if _, err := os.Stat(filepath.Join(o.BinDir, "cairn-frontend")); err != nil {
			return false, nil, fmt.Errorf("bench: %w (build it with: go build -o %s/ ./cmd/...)", err, o.BinDir)
		}
	}
	return frontend, peers, nil
}

func (o *CompareOptions) validateLoad() error {
	switch {
	case o.Runs < 1:
		return errors.New("bench: -runs must be at least 1")
	case o.Duration < time.Second:
		return errors.New("bench: -duration must be at least 1s (CPU times have 10 ms resolution)")
	case o.Load != "" && o.Load != genWrk && o.Load != genCairn:
		return fmt.Errorf("bench: -load %q: want wrk or cairn", o.Load)
	case o.Load == genCairn && len(o.LoadCommand) == 0:
		return errors.New("bench: no load command")
	case o.Threads < 1 || o.Connections < o.Threads:
		return errors.New("bench: need -threads ≥ 1 and -connections ≥ -threads")
	case len(o.OriginCommand) == 0:
		return errors.New("bench: no origin command")
	}
	return nil
}

func (o *CompareOptions) load(d time.Duration) wrkLoad {
	return wrkLoad{Threads: o.Threads, Connections: o.Connections, Duration: d}
}

// Compare runs the suites of o.Tiers (the frontend's first, then the
// peers'), writes o.Out and each suite's block of o.README as soon as that
// suite is done, and returns the reports as Markdown. Progress lines go to
// progress. Every process it starts is stopped before it returns.
func Compare(ctx context.Context, o CompareOptions, progress io.Writer) (string, error) {
	frontend, peers, err := o.validate()
	if err != nil {
		return "", err
	}
	var doc, md strings.Builder
	section := func(title, start, end, body string) error {
		md.WriteString(body)
		doc.WriteString(title + "\n\n" + stamp(time.Now()) + "\n\n" + body)
		if o.Out != "" {
			if err := os.WriteFile(o.Out, []byte(doc.String()), 0o644); err != nil {
				return fmt.Errorf("bench: -out: %w", err)
			}
			fmt.Fprintf(progress, "wrote %s\n", o.Out)
		}
		return writeMarked("", o.README, title, start, end, body, progress)
	}
	if frontend {
		rep, err := compareFrontend(ctx, o, progress)
		if err != nil {
			return md.String(), err
		}
		if err := section("# Frontend: cairn-frontend vs nginx (issue 2)", MarkerStart, MarkerEnd, rep.Markdown()); err != nil {
			return md.String(), err
		}
	}
	if len(peers) > 0 {
		rep, err := ComparePeers(ctx, o, peers, progress)
		if err != nil {
			return md.String(), err
		}
		if md.Len() > 0 {
			md.WriteString("\n")
			doc.WriteString("\n")
		}
		if err := section("# Peers of the tiers to come (issue 4)", PeersMarkerStart, PeersMarkerEnd, rep.Markdown()); err != nil {
			return md.String(), err
		}
	}
	return md.String(), nil
}

// compareFrontend runs the frontend suite and returns its report.
func compareFrontend(ctx context.Context, o CompareOptions, progress io.Writer) (*Report, error) {
	if err := ensureTools(ctx, progress); err != nil {
		return nil, err
	}
	dir, done, err := workDir("cairn-bench-", o.Keep, progress)
	if err != nil {
		return nil, err
	}
	defer done()
	tb, err := startTestbed(ctx, &o, dir, progress)
	defer tb.stop() // also on a partial start
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Machine:    machine(),
		Versions:   versions(ctx, "cairn-frontend", filepath.Join(o.BinDir, "cairn-frontend")),
		Command:    o.Command,
		Method:     o.method(),
		PeakPerRun: true,
	}
	for _, sc := range frontendScenarios() {
		sr, err := tb.measure(ctx, &o, sc, rep, progress)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, sr)
	}
	if o.Profile != "" {
		if err := tb.profileAll(ctx, &o, progress); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (o *CompareOptions) method() string {
	slots := "unlimited slots"
	if o.OriginSlots > 0 {
		slots = strconv.Itoa(o.OriginSlots) + " slots"
	}
	runs := strconv.Itoa(o.Runs) + " runs"
	if o.Runs == 1 {
		runs = "1 run"
	}
	return fmt.Sprintf("Medians of %s per server, alternating nginx and cairn, each %s after a %s warm-up, "+
		"all on 127.0.0.1; origin: `cairn-bench origin` with %s, in its own process. CPU is utime+stime of the server's processes (and of children of theirs that exited) "+
		"(nginx: master and 2 workers) during the run, divided by the requests the load generator completed; peak RSS is VmHWM summed over them.",
		runs, generatorCommand(o.Load, o.Threads, o.Connections, o.Duration), o.Warmup, slots)
}

// writeMarked writes md under title (and the time) to the file out, and
// into the block between the start and end markers of readme; an empty
// name skips that file, a readme without the markers is left unchanged.
func writeMarked(out, readme, title, start, end, md string, progress io.Writer) error {
	if out != "" {
		doc := title + "\n\n" + stamp(time.Now()) + "\n\n" + md
		if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
			return fmt.Errorf("bench: -out: %w", err)
		}
		fmt.Fprintf(progress, "wrote %s\n", out)
	}
	if readme == "" {
		return nil
	}
	// Suites run side by side (zeo and compare) each rewrite their own
	// block: the read, replace and write happen under a lock on the
	// README's folder, so that neither puts back the other's old block,
	// and the new text is written beside it and renamed over it, so that
	// a crash or a full disk never leaves it cut short.
	unlock, err := lockDir(filepath.Dir(readme))
	if err != nil {
		return fmt.Errorf("bench: -readme: %w", err)
	}
	defer unlock()
	b, err := os.ReadFile(readme)
	if err != nil {
		return fmt.Errorf("bench: -readme: %w", err)
	}
	doc, found, err := replaceMarked(string(b), start, end, md)
	if err != nil {
		return fmt.Errorf("bench: -readme %s: %w", readme, err)
	}
	if !found {
		fmt.Fprintf(progress, "%s has no %s marker; left unchanged\n", readme, start)
		return nil
	}
	if err := replaceFile(readme, []byte(doc)); err != nil {
		return fmt.Errorf("bench: -readme: %w", err)
	}
	fmt.Fprintf(progress, "updated the %s block of %s\n", start, readme)
	return nil
}

// lockDir takes an exclusive flock on a folder, waiting for another
// holder; the lock goes with the process, however it ends.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// replaceFile puts data at path through a temporary file in the same
// folder (keeping path's permissions), synced and renamed into place.
func replaceFile(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is none
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), fi.Mode().Perm())
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// workDir makes the temporary folder a comparison works in; done removes
// it, or with keep says where it was left for inspection.
func workDir(prefix string, keep bool, progress io.Writer) (dir string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	if keep {
		return dir, func() { fmt.Fprintf(progress, "work folder kept: %s\n", dir) }, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
