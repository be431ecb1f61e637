package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Time bounds of a child's life.
const (
	readyTimeout = 15 * time.Second // from start until it answers
	termGrace    = 5 * time.Second  // from SIGTERM until SIGKILL
)

// child is a server process started by the suite. It runs in its own
// process group, so that stopping it also stops what it started (nginx's
// workers), and its output goes to a log file in the work folder.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been waited for
}

// startChild starts argv with its output in logPath.
func startChild(name string, argv []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("bench: %s log: %w", name, err)
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	// This goroutine ends when the process does, which stop guarantees.
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// PID is the process id of the child (nginx's master).
func (c *child) PID() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, and SIGKILL to it if
// the child has not exited within termGrace. It is safe to call twice.
// A child that exited on its own (a crashed nginx master, varnishd's
// manager) may have left its workers in the group: they are killed, the
// group's id staying theirs as long as one of them lives.
func (c *child) stop() {
	pgid := c.PID()
	if c.exited() {
		if syscall.Kill(-pgid, 0) == nil {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
		// nginx's master exits only after its workers, so the group is
		// empty; signalling it again could hit a reused id.
		return
	case <-time.After(termGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(termGrace):
	}
}

// logTail returns the end of the child's output, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// waitReady polls url until it answers 200, the child exits, or
// readyTimeout passes. The poll interval doubles from 10 ms up to 500 ms.
func (c *child) waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	wait := 10 * time.Millisecond
	var last error
	for {
		if last = get200(ctx, client, url); last == nil {
			return nil
		}
		if c.exited() {
			return fmt.Errorf("bench: %s exited before answering %s:\n%s", c.name, url, c.logTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: %s did not answer %s: %w (last: %v)\n%s", c.name, url, ctx.Err(), last, c.logTail())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// get200 fetches url and reports an error unless it answered 200.
func get200(ctx context.Context, client *http.Client, url string) error {
	_, err := fetch(ctx, client, url)
	return err
}

// fetch returns the body of url, which must answer 200.
func fetch(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, nil
}

// freePorts reserves n distinct ports on 127.0.0.1 by binding :0, and
// releases them for the children to take. Another process could take one
// in between; the child's start then fails and says so.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: finding a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// loopback is host:port on 127.0.0.1.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// children are the processes a suite started, stopped together in reverse
// order of start.
type children []*child

// start starts one child, its output in dir/name.out, keeps it for stopAll,
// and waits until readyURL answers 200.
func (cs *children) start(ctx context.Context, dir, name string, argv []string, readyURL string, progress io.Writer) (*child, error) {
	fmt.Fprintf(progress, "starting %s: %s\n", name, strings.Join(argv, " "))
	c, err := startChild(name, argv, filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, err
	}
	*cs = append(*cs, c)
	return c, c.waitReady(ctx, readyURL)
}

func (cs children) stopAll() {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].stop()
	}
}
