package frontend_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
)

var siteNone = sitefile.Site{}

func TestRequestLimits(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.MaxBodySize = 1 << 10
	cfg.MaxHeaderSize = 2 << 10
	cfg.MaxHeaders = 20
	fe := startFrontend(t, cfg)
	addr := fe.addr[0]

	for _, tc := range []struct {
		name, req string
		status    string
	}{
		{"body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("a", 5000), "413"},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 4000) + "\r\n\r\n", "431"},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 30) + "\r\n", "431"},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400"},
		{"bad request line", "GET\r\n\r\n", "400"},
		{"bad version", "GET / HTTP/9.9 extra\r\nHost: x\r\n\r\n", "400"},
		{"host with a path", "GET / HTTP/1.1\r\nHost: evil/VirtualHostRoot\r\n\r\n", "400"},
		{"bad content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "400"},
		{"body within limit", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nConnection: close\r\n\r\n" + strings.Repeat("a", 500), "200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := raw(t, addr, tc.req)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status) {
				t.Errorf("answer %.60q; want status %s", got, tc.status)
			}
		})
	}
	// After all that, the server still serves everyone else.
	resp, _ := get(t, fe.url("/bytes?n=5"))
	if resp.StatusCode != 200 {
		t.Fatalf("after bad input: %d", resp.StatusCode)
	}
}

func TestSlowLorisIsCutOff(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.ReadTimeout = sitefile.Dur(500 * time.Millisecond)
	fe := startFrontend(t, cfg)
	c, err := net.Dial("tcp", fe.addr[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	// Trickle a header byte now and then, never finishing the request.
	closed := make(chan struct{})
	go func() {
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := c.Read(buf); err != nil {
				close(closed)
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("slow client held its connection %v", d)
			}
			return
		case <-tick.C:
			_, _ = c.Write([]byte("X"))
		}
	}
}

func TestMaxConns(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.MaxConns = 2
	fe := startFrontend(t, cfg)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", fe.addr[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitFor(t, func() bool { return fe.f.Status().OpenConns >= 2 })
	got := raw(t, fe.addr[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Errorf("connection over the limit got %.40q; want 503", got)
	}
	for _, c := range held {
		c.Close()
	}
}

// waitFor polls cond with backoff for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	delay := time.Millisecond
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); delay = min(2*delay, 100*time.Millisecond) {
		if cond() {
			return
		}
		time.Sleep(delay)
	}
	t.Fatal("condition not reached in 5s")
}
