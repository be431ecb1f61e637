// Package proctest starts Cairn's real binaries for tests: it builds every
// cmd/* once, runs them on free loopback ports, waits for /healthz, shows
// a child's output only when the test failed, and stops children with
// SIGTERM (then SIGKILL) when the test ends.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/origin"
)

// Build compiles the named commands ("cairn-frontend", …) into dir and
// returns dir. Call it from TestMain; it is slow only the first time, since
// the Go build cache serves later calls.
func Build(dir string, names ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", file)
		}
		dir = parent
	}
}

// Venv returns the path of a program in the project's Python virtualenv
// (.venv/bin/name), failing the test, never skipping it, when
// scripts/pyenv.sh has not made it.
func Venv(t testing.TB, name string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".venv", "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the Python test environment is missing (%v): run scripts/pyenv.sh first", err)
	}
	return p
}

// Browser is Debian's headless Chromium, for tests of web pages.
type Browser struct {
	t    testing.TB
	path string
	args []string
}

// Chromium returns a Browser with a profile of its own in a temporary
// folder, failing the test, never skipping it, when chromium is missing
// (scripts/deps.sh installs it).
func Chromium(t testing.TB) *Browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("headless Chromium is needed for this test; scripts/deps.sh installs it (apt-get install chromium)")
	}
	return &Browser{t: t, path: path, args: []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + filepath.Join(t.TempDir(), "profile")}}
}

// browserTime bounds one run of the browser.
const browserTime = 90 * time.Second

// DOM loads url and returns the document as its scripts left it.
func (b *Browser) DOM(url string) []byte {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTime)
	defer cancel()
	dom, err := exec.CommandContext(ctx, b.path, append(b.args, "--dump-dom", url)...).Output()
	if err != nil {
		b.t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return dom
}

// Screenshot loads url in a window of the given size and returns what it
// shows.
func (b *Browser) Screenshot(url string, width, height int) image.Image {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTime)
	defer cancel()
	shot := filepath.Join(b.t.TempDir(), "shot.png")
	if out, err := exec.CommandContext(ctx, b.path, append(b.args, fmt.Sprintf("--window-size=%d,%d", width, height),
		"--screenshot="+shot, url)...).CombinedOutput(); err != nil {
		b.t.Fatalf("chromium --screenshot %s: %v\n%s", url, err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		b.t.Fatal(err)
	}
	return img
}

// FreePort returns a loopback "127.0.0.1:port" that was free a moment ago,
// and that no earlier call in this test binary returned: the kernel may
// hand the port just closed out again at once, and two FreePort calls for
// one child (its listener and its admin port) then gave the same port,
// which the child failed to bind twice (a flaky CI run). The ports given
// are the package's only state, kept for the test binary's life.
func FreePort(t testing.TB) string {
	t.Helper()
	given.mu.Lock()
	defer given.mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !given.ports[addr] {
			given.ports[addr] = true
			return addr
		}
	}
	t.Fatal("no port the kernel offers is new")
	return ""
}

// given holds the ports FreePort returned.
var given = struct {
	mu    sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// Proc is a running child process.
type Proc struct {
	Cmd *exec.Cmd
	out *syncBuffer
	t   testing.TB

	done chan struct{}
	err  error
}

// Start runs bin with args, stopping it when the test ends.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), out: &syncBuffer{}, t: t, done: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = p.out, p.out
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", filepath.Base(bin), args, p.Output())
		}
	})
	return p
}

// Output is everything the child wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Signal sends sig to the child.
func (p *Proc) Signal(sig syscall.Signal) {
	_ = p.Cmd.Process.Signal(sig)
}

// Wait waits up to d for the child to exit and returns its error; it fails
// the test if the child is still running.
func (p *Proc) Wait(d time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.t.Fatalf("%s still running after %v", p.Cmd.Path, d)
		return nil
	}
}

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to d, then kills the process group.
func (p *Proc) Stop(d time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// WaitHealthy polls http://admin/healthz with backoff until it answers 200,
// the child exits, or 15 seconds pass.
func (p *Proc) WaitHealthy(admin string) {
	p.t.Helper()
	p.WaitURL("http://"+admin+"/healthz", 15*time.Second)
}

// WaitURL polls url with backoff until it answers 200, failing the test
// when the child exits first or timeout passes.
func (p *Proc) WaitURL(url string, timeout time.Duration) {
	p.t.Helper()
	if err := WaitHTTP(context.Background(), url, timeout, p.done); err != nil {
		p.t.Fatalf("%s not serving %s: %v\n%s", filepath.Base(p.Cmd.Path), url, err, p.Output())
	}
}

// WaitHTTP polls url until it answers 200, stop is closed, or timeout.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration, stop <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-stop:
			return fmt.Errorf("process exited (last: %v)", last)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
	return fmt.Errorf("timeout (last: %v)", last)
}

// Port returns the port of a "host:port" address.
func Port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Origin serves a Zope stand-in (internal/origin) in the test process on a
// loopback port, with the given worker slots, until the test ends; it
// returns its address.
func Origin(t testing.TB, name string, slots int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = origin.New(name, slots).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// RawServer accepts connections on a free 127.0.0.1 port until the test
// ends and hands each to serve on its own goroutine, closing it when serve
// returns: a peer that speaks whatever bytes a test needs, broken HTTP
// included. It returns the address.
func RawServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return RawServerOn(t, ln, serve)
}

// RawServerOn is RawServer on a listener of the caller's (one with socket
// options of its own).
func RawServerOn(t testing.TB, ln net.Listener, serve func(net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// Flood opens up to n connections to addr (fewer once the server's accept
// queue is full and a dial times out) and returns them, all closed when
// the test ends: a server past its descriptor limit.
func Flood(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}
