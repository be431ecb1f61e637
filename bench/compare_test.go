package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

// TestCompareFrontendShort runs the frontend suite for real, briefly:
// nginx and cairn-frontend in front of the origin, loaded by cairn-bench's
// own generator (the peers' suites use wrk, so both generators are run by
// the tests).
func TestCompareFrontendShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, cairn-frontend and the origin")
	}
	bin := t.TempDir()
	if err := proctest.Build(bin, "cairn-frontend", "cairn-bench"); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(bin, "cairn-bench")
	o := CompareOptions{Tiers: "frontend", Duration: time.Second, Runs: 1, Connections: 8, Threads: 1, OriginSlots: 2,
		BinDir: bin, Load: genCairn, LoadCommand: []string{self, "load"}, OriginCommand: []string{self, "origin"}, Command: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	md, err := Compare(ctx, o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for _, want := range []string{"| proxy, 100 B response |", "| proxy, 20 KB page |", "| static, 20 KB file |", "`cairn-bench load -c8 -d1s`"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "⚠ errors") {
		t.Errorf("failed requests:\n%s", md)
	}
}
