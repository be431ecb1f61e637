package bench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/bench/load"
	"github.com/cairnstack/cairn/internal/proctest"
)

func TestZEOPercentileAndClients(t *testing.T) {
	lat := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]int64{50: 5, 99: 10, 90: 9, 10: 1} {
		if got := zeoPercentile(lat, p); got != want {
			t.Errorf("p%v = %d; want %d", p, got, want)
		}
	}
	if got := zeoPercentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %d", got)
	}
	r := zeoSummarizeClients([]zeoClientResult{
		{Ops: 100, Seconds: 2, CPU: 0.5, Lat: []int64{3000, 1000}},
		{Ops: 50, Seconds: 1, CPU: 0.25, Lat: []int64{2000}},
	})
	if r.Ops != 150 || r.Rate != 100 || r.ClientCPU != 750*time.Millisecond {
		t.Errorf("summary %+v; want 150 ops at 100/s, 750ms of client CPU", r)
	}
	if r.P50 != 2*time.Millisecond || r.P99 != 3*time.Millisecond {
		t.Errorf("p50/p99 = %v/%v; want 2ms/3ms", r.P50, r.P99)
	}
	r.ServerCPU = 300 * time.Millisecond
	if got := r.ServerCPUPerOp(); got != 2000 {
		t.Errorf("server CPU per op = %v µs; want 2000", got)
	}
}

func TestZEOParseOIDs(t *testing.T) {
	oids, err := zeoParseOIDs("0000000000000001\n00000000000000ff\n")
	if err != nil || len(oids) != 2 || oids[1].Uint64() != 255 {
		t.Errorf("oids %v, %v", oids, err)
	}
	for _, bad := range []string{"1\n", "zz00000000000000\n"} {
		if _, err := zeoParseOIDs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestZEOScenariosAndMarkdown(t *testing.T) {
	scs := zeoDefaultScenarios("python,go")
	if len(scs) != 9 || scs[0].Name() != "commits, 1 client" || scs[1].Name() != "commits, 8 clients" {
		t.Fatalf("scenarios %v", scs)
	}
	run := func(rate float64, cpu time.Duration, p99 time.Duration) zeoRun {
		return zeoRun{Ops: 1000, Rate: rate, ServerCPU: cpu, ClientCPU: time.Second, P50: p99 / 2, P99: p99, PeakRSS: 20 << 20}
	}
	rep := &ZEOReport{
		Machine: "m", Versions: "v", Command: "cmd", Method: "method.", PeakPerRun: true,
		Results: []ZEOResult{
			{Scenario: zeoScenario{"python", "commit", 1},
				ZEO:   []zeoRun{run(800, 600*time.Millisecond, 2*time.Millisecond)},
				Cairn: []zeoRun{run(900, 150*time.Millisecond, time.Millisecond)}},
			{Scenario: zeoScenario{"python", "cold", 8},
				ZEO:   []zeoRun{run(7000, 90*time.Millisecond, 0)},
				Cairn: []zeoRun{run(6000, 30*time.Millisecond, 0)}},
			{Scenario: zeoScenario{"go", "hot", 8},
				ZEO:   []zeoRun{run(15000, 50*time.Millisecond, 0)},
				Cairn: []zeoRun{run(40000, 20*time.Millisecond, 0)}},
		},
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| Python | commits, 1 client | 800 | 900 | 1.12 | 1.00 / 2.00 | 0.50 / 1.00 | 600 | 150 | 0.25 | 20.0 MiB | 20.0 MiB | 1000 / 1000 |",
		"| Go | hot loads, 8 clients | 15.0k | 40.0k | 2.67 | – | – |",
		"commits, 1 client met (CPU 0.25, rate 1.12, p99 0.50)",
		"cold loads, 8 clients not met (CPU 0.33, rate 0.86)",
		"Reproduce: `cmd`",
		"<details>",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestCompareZEOShort runs the suite for real, briefly: one run of one
// Python and one Go scenario against runzeo and cairn-objectstore.
func TestCompareZEOShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runzeo, cairn-objectstore and Python clients")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	venv := filepath.Join(root, ".venv")
	if _, err := os.Stat(filepath.Join(venv, "bin", "runzeo")); err != nil {
		t.Fatalf("the Python environment is missing (%v): run scripts/pyenv.sh first", err)
	}
	bin := t.TempDir()
	if err := proctest.Build(bin, "cairn-objectstore"); err != nil {
		t.Fatal(err)
	}
	o := ZEOOptions{
		Runs: 1, Duration: time.Second, Objects: 200, Drivers: "python,go",
		BinDir: bin, Venv: venv, Script: filepath.Join(root, "objectstore", "testdata", "python", "zeobench.py"),
		Command:   "test",
		scenarios: []zeoScenario{{"python", "commit", 1}, {"go", "cold", 2}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := CompareZEO(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, res := range rep.Results {
		for _, r := range append(res.ZEO, res.Cairn...) {
			if r.Ops == 0 || r.Rate <= 0 || r.PeakRSS <= 0 {
				t.Errorf("%s: empty run %+v", res.Scenario.Name(), r)
			}
		}
	}
	if c := rep.Results[0].Cairn[0]; c.P99 <= 0 {
		t.Errorf("commit run without latencies: %+v", c)
	}
	t.Log("\n" + rep.Markdown())
}

// TestLoadZEOAgainstRunzeo points cairn-bench's ZEO load mode at the stock
// Python ZEO server (runzeo from the project venv): the same Go client
// that loads cairn-objectstore must load the peer too.
func TestLoadZEOAgainstRunzeo(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	venv := filepath.Join(filepath.Dir(file), "..", ".venv")
	o := ZEOOptions{Venv: venv}
	if _, err := os.Stat(o.runzeo()); err != nil {
		t.Fatalf("the Python environment is missing (%v): run scripts/pyenv.sh first", err)
	}
	dir := t.TempDir()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "zeo.conf")
	if err := os.WriteFile(conf, []byte(zeoConfig(loopback(ports[0]), dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := startChild(zeoPeer, []string{o.runzeo(), "-C", conf}, filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	srv := &zeoServer{name: zeoPeer, addr: loopback(ports[0]), proc: c}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	z := load.DefaultZEOWorkload()
	z.Addr, z.Loads, z.Objects = srv.addr, 0.5, 100
	lo := load.DefaultOptions()
	lo.Connections, lo.Duration, lo.WarmUp = 2, time.Second, 0
	res, err := load.ZEO(ctx, z, lo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 10 || res.Errors != 0 {
		t.Errorf("%d operations against runzeo, errors %v", res.Requests, res.ErrorKinds)
	}
}
