package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

// workerPIDs returns the process id of each worker's latest start, from the
// master's log.
func workerPIDs(out string) map[int]int {
	pids := map[int]int{}
	for _, m := range regexp.MustCompile(`"msg":"worker started".*?"worker":(\d+),"pid":(\d+)`).FindAllStringSubmatch(out, -1) {
		w, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[2])
		pids[w] = pid
	}
	return pids
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestWorkers runs the frontend as a master with two workers: both take
// connections, each runs on one thread, the master's admin shows their
// metrics and forwards to theirs, a worker that dies is started again
// while the others (and the listening sockets) go on, and the workers end
// with their master even when it is killed.
func TestWorkers(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir) // where a killed master leaves its admin sockets
	zope := proctest.Origin(t, "o", 0)
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	site := filepath.Join(dir, "site.toml")
	writeSite(t, site, proctest.Port(addr), proctest.Port(zope), filepath.Join(dir, "access.log"), 2, "hi")
	p := proctest.Start(t, bin, "-config", site, "-admin", admin, "-log-format", "json")
	p.WaitHealthy(admin)

	// 40 connections: SO_REUSEPORT spreads them by address hash, so both
	// workers get some (all on one: a chance of 2^-39).
	for range 40 {
		if code, body := httpGet(t, "http://"+addr+"/hello"); code != 200 || body != "hi" {
			t.Fatalf("/hello: %d %q", code, body)
		}
	}
	_, page := httpGet(t, "http://"+admin+"/metrics")
	for w := range 2 {
		prefix := fmt.Sprintf(`cairn_frontend_requests_total{class="2xx",host="_",route="/hello",worker="%d"} `, w)
		i := strings.Index(page, prefix)
		if i < 0 {
			t.Fatalf("no requests metric of worker %d in:\n%s", w, page)
		}
		if n, _ := strconv.Atoi(strings.Fields(page[i+len(prefix):])[0]); n == 0 {
			t.Errorf("worker %d served none of 40 connections", w)
		}
	}
	if !strings.Contains(page, `go_goroutines{worker="master"}`) || !strings.Contains(page, "cairn_worker_restarts_total") {
		t.Errorf("master's own metrics missing")
	}
	_, w0 := httpGet(t, "http://"+admin+"/worker/0/metrics")
	if !strings.Contains(w0, `go_sched_gomaxprocs_threads{worker="0"} 1`) {
		t.Errorf("worker 0 does not run on one thread:\n%s", w0)
	}
	if code, _ := httpGet(t, "http://"+admin+"/worker/1/debug/pprof/cmdline"); code != 200 {
		t.Errorf("worker 1's pprof through the master: %d", code)
	}
	for _, path := range []string{"/worker/2/healthz", "/worker/x/healthz", "/worker/01/healthz"} {
		if code, _ := httpGet(t, "http://"+admin+path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}

	// A worker killed: the master starts it again; requests go on.
	pids := workerPIDs(p.Output())
	if len(pids) != 2 {
		t.Fatalf("worker pids %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, p, "worker ended; starting it again")
	for range 20 { // some reach the dead worker's socket and wait for the new one
		if code, body := httpGet(t, "http://"+addr+"/hello"); code != 200 || body != "hi" {
			t.Fatalf("/hello while a worker restarts: %d %q", code, body)
		}
	}
	waitUntil(t, func() bool { n := workerPIDs(p.Output())[0]; return n != pids[0] && n != 0 }, "worker 0 started again")
	p.WaitHealthy(admin)
	_, page = httpGet(t, "http://"+admin+"/metrics")
	if got := metricSum(page, "cairn_worker_restarts_total"); got != 1 {
		t.Errorf("restarts %v, want 1", got)
	}

	// The master killed: its workers stop too (they are told by the kernel).
	pids = workerPIDs(p.Output())
	p.Signal(syscall.SIGKILL)
	waitUntil(t, func() bool { return !alive(pids[0]) && !alive(pids[1]) }, "the workers to end with their master")
}

// TestWorkersStart: a master whose workers cannot start exits with an
// error, and one whose address is taken refuses to start, as without
// workers.
func TestWorkersStart(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	t.Setenv("TMPDIR", tmp)
	addr := proctest.FreePort(t)
	// The access log's folder does not exist: each worker fails at start.
	p := proctest.Start(t, bin, "-listen", addr, "-static", dir, "-workers", "2", "-admin", "",
		"-access-log", filepath.Join(dir, "missing", "access.log"))
	if err := p.Wait(20 * time.Second); err == nil || !strings.Contains(p.Output(), "ended at start") {
		t.Errorf("exit %v with output:\n%s", err, p.Output())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p = proctest.Start(t, bin, "-listen", ln.Addr().String(), "-static", dir, "-workers", "2", "-admin", "")
	if err := p.Wait(10 * time.Second); err == nil || !strings.Contains(p.Output(), "address already in use") {
		t.Errorf("exit %v with output:\n%s", err, p.Output())
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("the masters left %s behind", entries[0].Name())
	}
}
