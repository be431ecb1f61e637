package bench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

func TestGeneratorReportVerdict(t *testing.T) {
	wrk := []generatorRun{{RPS: 60000, P99: 2 * time.Millisecond, CPU: 6 * time.Second, Requests: 600000}}
	for _, tc := range []struct {
		rps  float64
		want string
	}{{66000, "**met**"}, {54000, "**not met**"}} {
		slow := []generatorRun{{RPS: 30000, P99: 2 * time.Millisecond, CPU: 6 * time.Second, Requests: 300000}}
		rep := &GeneratorReport{Series: []generatorSeries{{Name: "wrk -t1", Gen: genWrk, Runs: slow}, {Name: "wrk -t2", Gen: genWrk, Runs: wrk},
			{Name: "cairn-bench load", Gen: genCairn, Runs: []generatorRun{{RPS: tc.rps, P99: time.Millisecond, CPU: 7 * time.Second, Requests: 660000}}}}}
		md := rep.Markdown()
		if !strings.Contains(md, tc.want) || !strings.Contains(md, "| cairn-bench load |") {
			t.Errorf("rps %g:\n%s", tc.rps, md)
		}
	}
}

func TestTrivialNginxConfigParses(t *testing.T) {
	var b strings.Builder
	if err := trivialNginx.Execute(&b, struct{ Dir, Listen string }{"/tmp/x", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	conf := b.String()
	for _, want := range []string{"daemon off;", "listen 127.0.0.1:1;", `return 200 "ok\n";`, "access_log off;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

// TestCompareGeneratorsShort runs the comparison for real, briefly, and
// checks that the nginx it started is gone afterwards.
func TestCompareGeneratorsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, wrk and cairn-bench load")
	}
	bin := t.TempDir()
	if err := proctest.Build(bin, "cairn-bench"); err != nil {
		t.Fatal(err)
	}
	o := GeneratorOptions{Duration: time.Second, Runs: 1, Connections: 4,
		LoadCommand: []string{filepath.Join(bin, "cairn-bench"), "load"}, Command: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := CompareGenerators(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Series) != 3 {
		t.Fatalf("series %+v", rep.Series)
	}
	for _, sr := range rep.Series {
		if len(sr.Runs) != 1 || sr.Runs[0].Requests == 0 || sr.Runs[0].CPU <= 0 {
			t.Errorf("%s: runs %+v", sr.Name, sr.Runs)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "cairn-bench-generator-") {
			t.Errorf("left running: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
