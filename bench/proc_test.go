package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		line string
		want procStat
	}{
		{"1234 (nginx) S 1 1234 1234 0 -1 4194624 100 0 0 0 250 75 30 5 20 0 1 0 100 1000 200 18446744073709551615",
			procStat{PID: 1234, PPID: 1, UTime: 250, STime: 75, CUTime: 30, CSTime: 5}},
		// A command name with spaces and parentheses.
		{"77 (a (b) c) R 76 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0",
			procStat{PID: 77, PPID: 76, UTime: 3, STime: 4}},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.line))
		if err != nil || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "12 nginx S 1", "12 (x) S 1 2 3", "x (y) S 1 1 1 0 -1 0 0 0 0 0 1 1 0", "12 (x) S 1 1 1 0 -1 0 0 0 0 0 u 1 0"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, errStatFormat) {
			t.Errorf("parseStat(%q): got %v; want errStatFormat", bad, err)
		}
	}
	if got, want := (procStat{UTime: 250, STime: 75, CUTime: 20, CSTime: 5}).CPU(), 3500*time.Millisecond; got != want {
		t.Errorf("CPU() = %v; want %v", got, want)
	}
}

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t   20000 kB\nVmHWM:\t    2076 kB\nVmRSS:\t    2000 kB\n"
	if got, err := parseVmHWM([]byte(status)); err != nil || got != 2076<<10 {
		t.Errorf("parseVmHWM = %d, %v; want %d", got, err, 2076<<10)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\n", "VmHWM:\tx kB\n"} {
		if _, err := parseVmHWM([]byte(bad)); err == nil {
			t.Errorf("parseVmHWM(%q): no error", bad)
		}
	}
}

// fakeProc writes a /proc tree: a master (10) with two workers (11, 12),
// an unrelated process (20) and a non-process entry.
func fakeProc(t *testing.T) procFS {
	t.Helper()
	root := t.TempDir()
	procs := []struct{ pid, ppid, ut, st, hwm int }{
		{10, 1, 100, 50, 4000}, {11, 10, 300, 200, 8000}, {12, 10, 10, 5, 8000}, {20, 1, 999, 999, 99999},
	}
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(p.pid) + " (nginx) S " + strconv.Itoa(p.ppid) + " 0 0 0 -1 0 0 0 0 0 " +
			strconv.Itoa(p.ut) + " " + strconv.Itoa(p.st) + " 0 0 20 0 1 0\n"
		status := "Name:\tnginx\nVmHWM:\t" + strconv.Itoa(p.hwm) + " kB\n"
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	return procFS{root: root}
}

func TestProcTree(t *testing.T) {
	p := fakeProc(t)
	cpu, err := p.treeCPU(10)
	if want := 665 * clockTick; err != nil || cpu != want {
		t.Errorf("treeCPU(10) = %v, %v; want %v", cpu, err, want)
	}
	rss, err := p.treePeakRSS(10)
	if want := int64(20000 << 10); err != nil || rss != want {
		t.Errorf("treePeakRSS(10) = %d, %v; want %d", rss, err, want)
	}
	if cpu, err := p.treeCPU(12); err != nil || cpu != 15*clockTick {
		t.Errorf("treeCPU(12) = %v, %v; want %v", cpu, err, 15*clockTick)
	}
	if _, err := p.treeCPU(99); err == nil {
		t.Error("treeCPU(99): no error for a missing process")
	}
}

// TestProcSelf reads this test process from the real /proc.
func TestProcSelf(t *testing.T) {
	p := procFS{root: "/proc"}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := p.treeCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	if rss, err := p.treePeakRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("treePeakRSS(self) = %d, %v", rss, err)
	}
}
