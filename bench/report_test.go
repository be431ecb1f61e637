package bench

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReplaceMarked(t *testing.T) {
	const s, e = MarkerStart, MarkerEnd
	tests := []struct {
		name, doc, want string
		found           bool
	}{
		{"replaces", "# T\n" + s + "\nold\ntable\n" + e + "\nafter\n", "# T\n" + s + "\nnew\n" + e + "\nafter\n", true},
		{"empty block", "a " + s + e + " b", "a " + s + "\nnew\n" + e + " b", true},
		{"no markers", "# T\nno block\n", "# T\nno block\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := replaceMarked(tt.doc, s, e, "\nnew\n\n")
			if err != nil || got != tt.want || found != tt.found {
				t.Errorf("got %q, %v, %v; want %q, %v", got, found, err, tt.want, tt.found)
			}
		})
	}
	for _, doc := range []string{s + " no end", e + " before " + s} {
		if _, _, err := replaceMarked(doc, s, e, "x"); !errors.Is(err, errMarkers) {
			t.Errorf("replaceMarked(%q): got %v; want errMarkers", doc, err)
		}
	}
}

func TestMarkdown(t *testing.T) {
	mk := func(rps float64, cpu time.Duration, errs int64) run {
		return run{Load: wrkResult{Requests: 100000, Elapsed: 10 * time.Second, RPS: rps, P50: time.Millisecond,
			P99: 5 * time.Millisecond, CPU: 10 * time.Second, Non2xx: errs}, ServerCPU: cpu, PeakRSS: 20 << 20}
	}
	rep := &Report{Machine: "nproc 2", Versions: "nginx/1.22.1", Command: "bin/cairn-bench compare", Method: "Medians.", PeakPerRun: true,
		Results: []ScenarioResult{{Name: "proxy, 100 B response",
			Nginx: []run{mk(30000, 2*time.Second, 0), mk(34000, 3*time.Second, 0)},
			Cairn: []run{mk(36000, 2*time.Second, 0), mk(36000, 2*time.Second, 1)}}}}
	md := rep.Markdown()
	for _, want := range []string{
		"| proxy, 100 B response ⚠ errors | 32.0k | 36.0k | 1.12 | 1.00 / 5.00 | 1.00 / 5.00 | 25.0 | 20.0 | 0.80 | 20.0 MiB | 20.0 MiB | 1.00 |",
		"proxy, 100 B response met (req/s 1.12, CPU 0.80)",
		"| proxy, 100 B response | 1.00 / 1.00 | 0.0 / 0.0 | 0 / 1 |",
		"Reproduce: `bin/cairn-bench compare`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := cpuModel(strings.NewReader(in)); got != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", got)
	}
}

func TestStaticPage(t *testing.T) {
	if got := len(staticPage(20 << 10)); got != 20<<10 {
		t.Errorf("len(staticPage) = %d; want %d", got, 20<<10)
	}
}

// TestWriteMarkedSideBySide: two suites writing their blocks of one README
// at once both land (each reads, replaces and writes under a lock), the
// file keeps its permissions, and no temporary file is left beside it.
func TestWriteMarkedSideBySide(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	doc := "# x\n<!-- a:start -->\nold a\n<!-- a:end -->\ntext\n<!-- b:start -->\nold b\n<!-- b:end -->\n"
	if err := os.WriteFile(readme, []byte(doc), 0o640); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		var wg sync.WaitGroup
		for _, k := range []string{"a", "b"} {
			wg.Go(func() {
				if err := writeMarked("", readme, "", "<!-- "+k+":start -->", "<!-- "+k+":end -->", "\nnew "+k+"\n", io.Discard); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		b, _ := os.ReadFile(readme)
		if !strings.Contains(string(b), "new a") || !strings.Contains(string(b), "new b") {
			t.Fatalf("a block was lost: %q", b)
		}
		if err := os.WriteFile(readme, []byte(doc), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	writeMarked("", readme, "", "<!-- a:start -->", "<!-- a:end -->", "\nnew a\n", io.Discard)
	if fi, _ := os.Stat(readme); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v; want 0640 kept", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files beside the README; want none", len(entries)-1)
	}
}
