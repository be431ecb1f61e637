package frontend_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// startOrigin serves a Zope stand-in on a loopback port.
func startOrigin(t testing.TB, name string) string { return proctest.Origin(t, name, 0) }

type running struct {
	f    *frontend.Frontend
	addr []string // one per listener
	reg  *prometheus.Registry
	stop func() // shuts it down as SIGTERM does, and waits (also at the test's end)
}

// url is an http URL on the first listener.
func (r *running) url(path string) string { return "http://" + r.addr[0] + path }

// startFrontend validates cfg, serves it on loopback ports (one per
// listener; Addr is replaced), and stops it when the test ends.
func startFrontend(t testing.TB, cfg *frontend.Config) *running {
	t.Helper()
	return startFrontendLogging(t, cfg, nil)
}

// startFrontendLogging is startFrontend with the frontend's log to logger
// (nil: slog's default).
func startFrontendLogging(t testing.TB, cfg *frontend.Config, logger *slog.Logger) *running {
	t.Helper()
	laneMode(cfg)
	return startFrontendAsIs(t, cfg, logger)
}

// startFrontendAsIs is startFrontendLogging with the event loops as cfg
// has them, whatever CAIRN_EVENT_LOOP says.
func startFrontendAsIs(t testing.TB, cfg *frontend.Config, logger *slog.Logger) *running {
	t.Helper()
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0"}}
	}
	if cfg.AccessLog == "stdout" {
		cfg.AccessLog = "off"
	}
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	var lns []net.Listener
	var addrs []string
	for range cfg.Listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	reg := prometheus.NewRegistry()
	f, err := frontend.New(cfg, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, lns) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			f.Close()
		})
	}
	t.Cleanup(stop)
	return &running{f: f, addr: addrs, reg: reg, stop: stop}
}

// startWithTempDirGone starts cfg with a body_temp_dir of its own, and
// removes that folder under the running frontend.
func startWithTempDirGone(t *testing.T, cfg *frontend.Config) *running {
	t.Helper()
	cfg.BodyTempDir = t.TempDir() + "/d"
	if err := os.Mkdir(cfg.BodyTempDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fe := startFrontend(t, cfg)
	if err := os.Remove(cfg.BodyTempDir); err != nil {
		t.Fatal(err)
	}
	return fe
}

// keepAlive is an upstream that serves each connection's requests in turn
// with serve, until the client closes or serve returns false, and returns
// its address; onConn, if set, is told of each new connection.
func keepAlive(t testing.TB, onConn func(), serve func(c net.Conn, req *http.Request) bool) string {
	return proctest.RawServer(t, func(c net.Conn) {
		if onConn != nil {
			onConn()
		}
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil || !serve(c, req) {
				return
			}
		}
	})
}

// proxyConfig proxies every path of a default host to addrs.
func proxyConfig(addrs ...string) *frontend.Config {
	cfg := frontend.NewConfig()
	cfg.Upstreams = map[string]frontend.Upstream{"zope": {Addrs: addrs}}
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Proxy: "zope"}}}}
	return cfg
}

var client = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get does a GET with optional header pairs and returns the response and body.
func get(t *testing.T, url string, headers ...string) (*http.Response, string) {
	t.Helper()
	return send(t, http.MethodGet, url, nil, headers...)
}

// send does a request with a body (nil for none) and optional header
// pairs, and returns the response and its body.
func send(t *testing.T, method, url string, body io.Reader, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// raw sends bytes on a new connection and returns what comes back until the
// server closes or 3 seconds pass.
func raw(t *testing.T, addr, data string) string {
	t.Helper()
	c := dial(t, addr, 3*time.Second)
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// dial connects to addr with a deadline for everything done on the
// connection, closed when the test ends.
func dial(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(d))
	return c
}

func strp(s string) *string { return &s }

// logBuffer collects a frontend's log lines (a concurrent writer).
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logger is a debug-level logger writing to l.
func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// laneMode turns the event loops off when CAIRN_EVENT_LOOP=0: the suite
// runs once with them (the default) and once without (Makefile), so that
// both ways of serving a plain listener pass every test.
func laneMode(cfg *frontend.Config) {
	if os.Getenv("CAIRN_EVENT_LOOP") == "0" {
		cfg.EventLoop = false
	}
}

// reload is Frontend.Reload with laneMode applied, as at start.
func (r *running) reload(cfg *frontend.Config) error {
	laneMode(cfg)
	return r.f.Reload(cfg)
}
