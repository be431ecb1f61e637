package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

// bin and objectstoreBin are the binaries under test (TestRealZope gives
// its Zope instances a real object store).
var bin, objectstoreBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-bin")
	if err != nil {
		panic(err)
	}
	if err := proctest.Build(dir, "cairn-frontend", "cairn-objectstore"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "cairn-frontend")
	objectstoreBin = filepath.Join(dir, "cairn-objectstore")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	// No keep-alive, so that open connections are only those in flight.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const siteTemplate = `
[ports]
frontend = %d
zope = %d

[cache]
whatever = "other tiers' keys are not ours"

[frontend]
access_log = %q
grace = "5s"

[frontend.upstreams.zope]
addrs = ["zope"]

[[frontend.hosts]]
default = true

[[frontend.hosts.routes]]
path = "/hello"
respond = %q

[[frontend.hosts.routes]]
path = "/"
proxy = "zope"
zope = { site = "Plone" }
`

func writeSite(t *testing.T, path string, port, zopePort int, accessLog, hello string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprintf(siteTemplate, port, zopePort, accessLog, hello)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVersion(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "cairn-frontend ") {
		t.Errorf("-version printed %q", out.String())
	}
}

func TestBadConfigIsRejectedWithLineAndKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.toml")
	if err := os.WriteFile(path, []byte("[frontend]\naccess_log = \"off\"\n\n[[frontend.hosts]]\ndefault = true\n\n[[frontend.hosts.routes]]\nregex = \"([\"\nrespond = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", path, "-admin", ""}, io.Discard, io.Discard)
	want := path + ":8: frontend.hosts[0].routes[0].regex: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v; want it to start with %q", err, want)
	}
	if err := os.WriteFile(path, []byte("[frontend]\nacess_log = \"off\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"-config", path}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), ":2: frontend.acess_log: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}

// TestProcess runs the real binary from a site file: it serves through the
// proxy, reloads on SIGHUP (and refuses a bad file), reopens its access log
// on SIGUSR1, and drains an in-flight request on SIGTERM.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	zope := proctest.Origin(t, "o", 0)
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	site, accessLog := filepath.Join(dir, "site.toml"), filepath.Join(dir, "access.log")
	writeSite(t, site, proctest.Port(addr), proctest.Port(zope), accessLog, "one")
	p := proctest.Start(t, bin, "-config", site, "-admin", admin, "-log-format", "json")
	p.WaitHealthy(admin)

	if code, body := httpGet(t, "http://"+addr+"/hello"); code != 200 || body != "one" {
		t.Fatalf("/hello: %d %q", code, body)
	}
	if _, body := httpGet(t, "http://"+addr+"/echo"); !strings.Contains(body, "/VirtualHostBase/http/"+addr+"/Plone/VirtualHostRoot/echo") {
		t.Errorf("proxy through VHM: %q", body)
	}
	if code, body := httpGet(t, "http://"+admin+"/metrics"); code != 200 || !strings.Contains(body, "cairn_frontend_requests_total") ||
		!strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("/metrics: %d", code)
	}
	if code, _ := httpGet(t, "http://"+admin+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/: %d", code)
	}

	// SIGHUP with a broken file: refused, old configuration kept.
	if err := os.WriteFile(site, []byte("[frontend]\nhosts = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	waitOutput(t, p, "reload refused")
	if _, body := httpGet(t, "http://"+addr+"/hello"); body != "one" {
		t.Errorf("after a refused reload: %q", body)
	}
	// SIGHUP with a good file: new routes.
	writeSite(t, site, proctest.Port(addr), proctest.Port(zope), accessLog, "two")
	p.Signal(syscall.SIGHUP)
	waitOutput(t, p, `"msg":"reloaded"`)
	if _, body := httpGet(t, "http://"+addr+"/hello"); body != "two" {
		t.Errorf("after reload: %q", body)
	}

	// SIGUSR1 after logrotate moved the access log: a new file is started.
	if err := os.Rename(accessLog, accessLog+".1"); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGUSR1)
	waitOutput(t, p, "logs reopened")
	httpGet(t, "http://"+addr+"/hello?after-rotate")
	waitFile(t, accessLog, "after-rotate")
	if b, _ := os.ReadFile(accessLog + ".1"); !strings.Contains(string(b), "GET /hello HTTP/1.1") {
		t.Errorf("rotated log lost lines: %q", b)
	}

	// SIGTERM while a slow request is in flight: it completes, then the
	// process exits 0 — also when a SIGHUP comes while it drains (the
	// runtime's default for SIGHUP would end it at once).
	type result struct {
		code int
		body string
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow?ms=700")
		if err != nil {
			res <- result{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(b)}
	}()
	waitOpenConn(t, admin)
	p.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	p.Signal(syscall.SIGHUP)
	if r := <-res; r.code != 200 || r.body != "slow\n" {
		t.Errorf("in-flight request during shutdown: %d %q", r.code, r.body)
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestSignalsWhileStarting: a SIGHUP or SIGUSR1 sent while the tier
// starts (once it runs, before it serves) does not end it.
func TestSignalsWhileStarting(t *testing.T) {
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	p := proctest.Start(t, bin, "-listen", addr, "-static", t.TempDir(), "-admin", admin)
	waitOutput(t, p, "starting")
	p.Signal(syscall.SIGHUP)
	p.Signal(syscall.SIGUSR1)
	p.WaitHealthy(admin)
	p.Signal(syscall.SIGTERM)
	if err := p.Wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v\n%s", err, p.Output())
	}
}

// TestOutOfDescriptors: clients opening more connections than the process
// may hold descriptors make accept fail (EMFILE) until some close; the
// frontend waits that out and serves again, where it used to stop.
func TestOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("still here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	p := proctest.Start(t, "/bin/sh", "-c", "ulimit -n 64 && exec "+bin+" -listen "+addr+" -static "+dir+" -admin "+admin)
	p.WaitHealthy(admin)
	conns := proctest.Flood(t, addr, 100)
	waitOutput(t, p, "accept failed; trying again")
	for _, c := range conns {
		c.Close()
	}
	waitUntil(t, func() bool {
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/a.txt")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the frontend to serve again")
	if p.Exited() {
		t.Fatal("the frontend stopped")
	}
}

func waitOutput(t *testing.T, p *proctest.Proc, s string) {
	t.Helper()
	waitUntil(t, func() bool { return strings.Contains(p.Output(), s) }, "output "+s)
}

func waitFile(t *testing.T, path, s string) {
	t.Helper()
	waitUntil(t, func() bool { b, _ := os.ReadFile(path); return strings.Contains(string(b), s) }, path+" to contain "+s)
}

// waitOpenConn waits until the frontend reports a client connection open.
func waitOpenConn(t *testing.T, admin string) {
	t.Helper()
	waitUntil(t, func() bool {
		_, body := httpGet(t, "http://"+admin+"/metrics")
		return !strings.Contains(body, "cairn_frontend_open_connections 0")
	}, "an open connection")
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	delay := 5 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); delay = min(2*delay, 200*time.Millisecond) {
		if cond() {
			return
		}
		time.Sleep(delay)
	}
	t.Fatalf("timed out waiting for %s", what)
}
