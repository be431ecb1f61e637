package frontend_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
)

// pattern is n bytes that show where a piece went missing.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>16)
	}
	return b
}

// TestStreamedBodies: upstream bodies over 1 MiB or of unknown length are
// streamed to the client as they come (the client has the first bytes
// before the upstream has sent the last), chunked or until-close bodies are
// sent on chunked, a body cut short truncates the client's response (a
// small one is a 502), and the upstream connection of a body read to its
// end is used again.
func TestStreamedBodies(t *testing.T) {
	big := pattern(4 << 20)
	release := make(chan struct{})
	var conns atomic.Int32
	up := proctest.RawServer(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/held": // half, then the rest once the test has seen a first part
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big))
				c.Write(big[:len(big)/2])
				<-release
				c.Write(big[len(big)/2:])
			case "/big":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(big))
				c.Write(big)
			case "/chunked":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
				for i := 0; i < len(big); i += 1 << 20 {
					fmt.Fprintf(c, "%x\r\n%s\r\n", 1<<20, big[i:i+1<<20])
				}
				fmt.Fprintf(c, "0\r\nX-Trailer: 1\r\n\r\n")
			case "/trickle": // slower than the client's write_timeout, steadily
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
				for i := 0; i < 2<<20; i += 128 << 10 {
					fmt.Fprintf(c, "%x\r\n%s\r\n", 128<<10, big[i:i+128<<10])
					time.Sleep(100 * time.Millisecond)
				}
				fmt.Fprintf(c, "0\r\n\r\n")
			case "/small-chunked":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
			case "/until-close":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
				c.Write(big)
				return
			case "/cut":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big))
				c.Write(big[:len(big)/2])
				return
			case "/small-cut":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b")
				return
			}
		}
	})
	cfg := proxyConfig(up)
	cfg.WriteTimeout.Duration = 300 * time.Millisecond
	fe := startFrontend(t, cfg)

	// Streamed: the first half arrives while the upstream holds the rest.
	resp, err := client.Get(fe.url("/held"))
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("the first MiB of a held body: %v", err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(first, rest...), big) || resp.ContentLength != int64(len(big)) {
		t.Fatalf("held body: %d bytes of %d (Content-Length %d), %v", len(first)+len(rest), len(big), resp.ContentLength, err)
	}

	for _, tc := range []struct {
		path    string
		want    []byte
		chunked bool
	}{
		{"/big", big, false},
		{"/chunked", big, true},
		{"/small-chunked", []byte("hello"), false}, // read whole: sent with its length
		{"/until-close", big, true},
		{"/trickle", big[:2<<20], true}, // 1.6 s of waiting for the upstream, not the client
	} {
		resp, err := client.Get(fe.url(tc.path))
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %d, %d bytes of %d, %v", tc.path, resp.StatusCode, len(got), len(tc.want), err)
		}
		if chunked := len(resp.TransferEncoding) > 0; chunked != tc.chunked {
			t.Errorf("%s: sent chunked %v, want %v", tc.path, chunked, tc.chunked)
		}
	}

	// Cut short: a streamed body ends the client's response early; a
	// small one, read whole before anything is sent, is a 502.
	if resp, err := client.Get(fe.url("/cut")); err == nil {
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || len(got) >= len(big) {
			t.Errorf("a body the upstream cut short reached the client whole (%d bytes, %v)", len(got), err)
		}
	}
	if resp, body := get(t, fe.url("/small-cut")); resp.StatusCode != 502 {
		t.Errorf("a small body cut short: %d %q; want 502", resp.StatusCode, body)
	}

	// A client that is not HTTP/1.1 cannot take chunked: the body comes
	// whole, with its length.
	got := raw(t, fe.addr[0], "GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n")
	head, body, _ := strings.Cut(got, "\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "chunked") || !strings.Contains(head, "Content-Length: "+strconv.Itoa(len(big))) ||
		body != string(big) {
		t.Errorf("HTTP/1.0 client: head %q, %d bytes of body", head, len(body))
	}

	// The connection of a body read to its end (a chunked one with its
	// trailer) is used again.
	for _, path := range []string{"/big", "/chunked", "/small-chunked"} {
		before := conns.Load()
		for range 3 {
			if resp, _ := get(t, fe.url(path)); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		if n := conns.Load() - before; n > 1 {
			t.Errorf("%s 3 times took %d new upstream connections; want at most 1", path, n)
		}
	}
}

// proxyReadTimeout proxies every path to up with the given read timeout.
func proxyReadTimeout(up string, d time.Duration) *frontend.Config {
	cfg := proxyConfig(up)
	u := cfg.Upstreams["zope"]
	u.ReadTimeout.Duration = d
	cfg.Upstreams["zope"] = u
	return cfg
}

// TestStreamedBodySlowClient: while the frontend waits for a slow client,
// the upstream's read_timeout does not run; it bounds each wait for the
// upstream only.
func TestStreamedBodySlowClient(t *testing.T) {
	const size = 4 << 20
	up := proctest.RawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		c.Write(make([]byte, size))
	})
	fe := startFrontend(t, proxyReadTimeout(up, 300*time.Millisecond))
	start := time.Now()
	// 64 KiB every 40 ms: 4 MiB in about 2.6 s.
	if got := slowDownload(t, fe.addr[0], "/big", size, 40*time.Millisecond, 0); got < size {
		t.Errorf("a slow client got %d of %d bytes in %v", got, size, time.Since(start))
	}
}

// TestStreamedBodySlowUpstream: a streamed body that keeps coming is not cut
// by the upstream's read_timeout, however long it takes; one that stops is.
func TestStreamedBodySlowUpstream(t *testing.T) {
	const size = 4 << 20
	piece := bytes.Repeat([]byte("x"), 64<<10)
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		for sent := 0; sent < size; sent += len(piece) {
			if req.URL.Path == "/stops" && sent == size/2 {
				time.Sleep(2 * time.Second)
			}
			if _, err := c.Write(piece); err != nil {
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
	})
	fe := startFrontend(t, proxyReadTimeout(up, 500*time.Millisecond))
	start := time.Now()
	resp, body := get(t, fe.url("/steady")) // about 1 s: 64 pieces, 15 ms apart
	if resp.StatusCode != 200 || len(body) != size {
		t.Errorf("a steady body of %v: %d, %d bytes of %d", time.Since(start), resp.StatusCode, len(body), size)
	}
	resp, err := client.Get(fe.url("/stops"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) >= size {
		t.Errorf("a body that stopped for 4 read timeouts reached the client whole (%d bytes, %v)", len(got), err)
	}
	if resp, _ := get(t, fe.url("/steady")); resp.StatusCode != 200 {
		t.Errorf("after a stopped body: %d", resp.StatusCode)
	}
}

// TestAccessLogStreamedBytes: a streamed body is logged once it is over,
// with the bytes sent: all of a chunked one (whose size no header gave),
// part of one the client abandoned.
func TestAccessLogStreamedBytes(t *testing.T) {
	big := pattern(8 << 20)
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		if req.URL.Path == "/chunked" {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", 3<<20, big[:3<<20])
			return true
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big))
		_, err := c.Write(big)
		return err == nil
	})
	cfg := proxyConfig(up)
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	fe := startFrontend(t, cfg)
	if resp, body := get(t, fe.url("/chunked")); resp.StatusCode != 200 || len(body) != 3<<20 {
		t.Fatalf("chunked: %d, %d bytes", resp.StatusCode, len(body))
	}
	abandon(t, fe.addr[0], "/abandoned", 100<<10)
	got := logLines(t, fe, cfg.AccessLog, 2)
	if f := strings.Fields(got[0]); f[6] != "/chunked" || f[9] != strconv.Itoa(3<<20) {
		t.Errorf("chunked body logged as %q; want %d bytes", got[0], 3<<20)
	}
	f := strings.Fields(got[1])
	if n, _ := strconv.Atoi(f[9]); f[6] != "/abandoned" || n < 100<<10 || n >= len(big) {
		t.Errorf("abandoned download logged as %q; want between %d and %d bytes", got[1], 100<<10, len(big))
	}
}

// abandon asks for path and leaves after n bytes of the answer.
func abandon(t *testing.T, addr, path string, n int) {
	t.Helper()
	c := dial(t, addr, 5*time.Second)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// logLines waits until the access log at path has n lines (a download's
// is written when it is over) and returns them.
func logLines(t *testing.T, fe *running, path string, n int) []string {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := fe.f.ReopenLogs(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		if got = strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) == n {
			return got
		}
	}
	t.Fatalf("log lines: %q; want %d", got, n)
	return nil
}

// TestRetryRules: a request is sent again only when it failed on a pooled
// connection before any answer came (the upstream had closed it). A hung
// upstream is not asked again (fasthttp's own rule waited five times
// read_timeout, on five connections), nor one that took the request on a
// fresh connection and closed, nor one whose answer was cut short.
func TestRetryRules(t *testing.T) {
	var got atomic.Int32
	up := proctest.RawServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		got.Add(1)
		switch req.URL.Path {
		case "/hang":
			time.Sleep(2 * time.Second)
		case "/cut-head":
			io.WriteString(c, "HTTP/1.1 201 Cre")
		}
		// "/close": nothing at all
	})
	cfg := proxyReadTimeout(up, 300*time.Millisecond)
	cfg.BodyBufferSize = 16 << 10
	cfg.BodyTempDir = t.TempDir()
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		method, path string
		size         int
		status       int
	}{
		{"GET", "/hang", 0, 504},
		{"PUT", "/hang", 100 << 10, 504},
		{"PUT", "/close", 1 << 10, 502},
		{"PUT", "/close", 100 << 10, 502},
		{"PUT", "/cut-head", 1 << 10, 502},
		{"PUT", "/cut-head", 100 << 10, 502},
	} {
		got.Store(0)
		start := time.Now()
		resp, _ := send(t, tc.method, fe.url(tc.path), bytes.NewReader(pattern(tc.size)))
		if resp.StatusCode != tc.status || got.Load() != 1 || time.Since(start) > time.Second {
			t.Errorf("%s %s (%d bytes): %d after %v, the upstream got it %d times; want %d, once",
				tc.method, tc.path, tc.size, resp.StatusCode, time.Since(start).Round(time.Millisecond), got.Load(), tc.status)
		}
	}
}

// TestClosedPooledConns: a pooled connection the upstream closed while it
// was idle — with a reset, or lingering (a FIN, then reading on, so no
// reset comes) — is noticed when the next request goes out on it, which
// goes again on a new connection, once, and at once: the answer's
// read_timeout is not waited out. Requests come 30 ms apart, right after
// the upstream closed.
func TestClosedPooledConns(t *testing.T) {
	for _, lingering := range []bool{false, true} {
		var got atomic.Int32
		up := proctest.RawServer(t, func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			got.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			time.Sleep(20 * time.Millisecond)
			if !lingering {
				c.(*net.TCPConn).SetLinger(0) // close with a reset
				return
			}
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, c)
		})
		fe := startFrontend(t, proxyReadTimeout(up, 5*time.Second))
		for i := range 4 {
			got.Store(0)
			start := time.Now()
			resp, body := get(t, fe.url("/r"))
			if resp.StatusCode != 200 || body != "ok" || got.Load() != 1 || time.Since(start) > 2*time.Second {
				t.Errorf("lingering %v, request %d: %d %q after %v, the upstream answered %d times; want 200 once, at once",
					lingering, i, resp.StatusCode, body, time.Since(start).Round(time.Millisecond), got.Load())
			}
			time.Sleep(30 * time.Millisecond)
		}
	}
}

// TestEarlyAnswer: an upstream that answers a request before it has read
// its body, and keeps the connection, is heard at once, also on a
// connection used a moment before.
func TestEarlyAnswer(t *testing.T) {
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		io.Copy(io.Discard, req.Body) // read after answering
		return true
	})
	// Waiting out read_timeout would take 8 s; the upload itself takes
	// about a second under the race detector.
	cfg := proxyReadTimeout(up, 8*time.Second)
	cfg.BodyBufferSize = 32 << 20 // the body goes from memory, in one write after the head
	fe := startFrontend(t, cfg)
	for i := range 3 {
		if resp, _ := get(t, fe.url("/warm")); resp.StatusCode != 200 {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
		start := time.Now()
		resp, body := send(t, http.MethodPut, fe.url("/u"), bytes.NewReader(pattern(16<<20)))
		if resp.StatusCode != 200 || body != "ok" || time.Since(start) > 5*time.Second {
			t.Errorf("PUT %d answered before its body was read: %d %q after %v", i, resp.StatusCode, body, time.Since(start).Round(time.Millisecond))
		}
	}
}

// TestUnaskedUpstreamBytes: bytes an upstream sends that belong to no
// answer — a body after an answer to HEAD, a 204 or a 304 (a view that
// answers HEAD with a page, which waitress sends), more after a body of
// known length or after a chunked body's end, data after a 101 — never
// become the answer to a later request, another client's. The connection
// they came on is dropped (found at once, or before its next use), and an
// unasked 101 is a 502.
func TestUnaskedUpstreamBytes(t *testing.T) {
	const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"
	var conns atomic.Int32
	up := keepAlive(t, func() { conns.Add(1) }, func(c net.Conn, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		switch req.URL.Path {
		case "/head-late": // the body of a HEAD answer, a moment later
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\n")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(c, smuggled)
		case "/head-at-once":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\n"+smuggled)
		case "/304":
			io.WriteString(c, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, smuggled)
		case "/204":
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n"+smuggled)
		case "/extra":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"+smuggled)
		case "/chunked-extra":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"+smuggled)
		case "/big-extra": // streamed (over 1 MiB), then more
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 2<<20)
			c.Write(pattern(2 << 20))
			io.WriteString(c, smuggled)
		case "/101":
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"+smuggled)
		default:
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
		}
		return true
	})
	cfg := proxyConfig(up)
	u := cfg.Upstreams["zope"]
	u.MaxConns = 1 // one pooled connection, which the next request gets
	cfg.Upstreams["zope"] = u
	fe := startFrontend(t, cfg)

	for i, c := range []struct{ method, path string }{
		{"HEAD", "/head-late"}, {"HEAD", "/head-at-once"}, {"GET", "/304"}, {"GET", "/204"},
		{"GET", "/extra"}, {"GET", "/chunked-extra"}, {"GET", "/big-extra"}, {"GET", "/101"},
	} {
		resp, _ := send(t, c.method, fe.url(c.path), nil)
		if c.path == "/101" && resp.StatusCode != http.StatusBadGateway {
			t.Errorf("an unasked 101: %d, want 502", resp.StatusCode)
		}
		if c.path != "/head-late" {
			// The late bytes are in before the next use. After a HEAD
			// answer that declares a body the next request comes at once,
			// before the body: that connection is never used again.
			time.Sleep(100 * time.Millisecond)
		}
		next := fmt.Sprintf("/next-%d", i)
		if resp, body := get(t, fe.url(next)); resp.StatusCode != 200 || body != next {
			t.Errorf("after %s %s, the next request got %d %q, want %q", c.method, c.path, resp.StatusCode, body, next)
		}
	}
	if n := conns.Load(); n < 8 {
		t.Errorf("%d upstream connections: each one carrying unasked bytes should have been dropped", n)
	}
}

// TestPostAfterUpstreamRestart: pooled connections an upstream closed (a
// Zope instance restarted) never carry a POST, which could not be sent
// again: every POST after the restart is answered by the upstream, none
// with 502.
func TestPostAfterUpstreamRestart(t *testing.T) {
	var mu sync.Mutex
	var conns []net.Conn
	up := keepAlive(t, func() {}, func(c net.Conn, req *http.Request) bool {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	fe := startFrontend(t, proxyConfig(up))
	// Fill the pool with idle connections.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, fe.url("/slow"))
		}()
	}
	wg.Wait()
	// The "restart": the upstream closes every connection it has.
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	for i := range 12 {
		if resp, body := send(t, "POST", fe.url("/form"), strings.NewReader("a=1")); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("POST %d after the restart: %d %q", i, resp.StatusCode, body)
		}
	}
}

// TestZope416: Zope answers a range past a file's end with 416, the whole
// file's Content-Length and no body, then closes. The client gets the 416
// (without a body), not an empty reply (large files) or a 502 (small).
func TestZope416(t *testing.T) {
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		size := 3000
		if req.URL.Path == "/big" {
			size = 5 << 20
		}
		fmt.Fprintf(c, "HTTP/1.1 416 Requested Range Not Satisfiable\r\nContent-Range: bytes */%d\r\nContent-Length: %d\r\n\r\n", size, size)
		return false // and close, as waitress does for a body short of its length
	})
	fe := startFrontend(t, proxyConfig(up))
	for _, path := range []string{"/small", "/big"} {
		resp, body := get(t, fe.url(path), "Range", "bytes=6000000-")
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || body != "" || resp.Header.Get("Content-Range") == "" {
			t.Errorf("%s: %d %q, Content-Range %q", path, resp.StatusCode, body, resp.Header.Get("Content-Range"))
		}
	}
}

// TestUpstreamTroubleLogged: an address that refuses while another
// answers, and a body cut short after its answer began, are counted in
// cairn_frontend_upstream_errors_total and logged.
func TestUpstreamTroubleLogged(t *testing.T) {
	dead := proctest.FreePort(t)
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		if req.URL.Path == "/cut" {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 4<<20)
			c.Write(pattern(2 << 20))
			return false
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	var log logBuffer
	fe := startFrontendLogging(t, proxyConfig(dead, up), log.logger())
	for range 2 {
		if resp, body := get(t, fe.url("/")); resp.StatusCode != 200 || body != "ok" {
			t.Errorf("failover: %d %q", resp.StatusCode, body)
		}
	}
	c := dial(t, fe.addr[0], 5*time.Second)
	io.WriteString(c, "GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
	io.Copy(io.Discard, c)
	waitFor(t, func() bool { return strings.Contains(log.String(), "upstream cut a body short") })
	if !strings.Contains(log.String(), "upstream address down") {
		t.Errorf("the refusing address is not in the log:\n%s", log.String())
	}
	if n := counterValue(t, fe, "cairn_frontend_upstream_errors_total", map[string]string{"upstream": "zope", "kind": "refused"}); n != 1 {
		t.Errorf("refused counted %v times; want once (left out for fail_timeout after)", n)
	}

	// All addresses down: every request tries each, each refusal is
	// counted once, and each address is logged going down once.
	var log2 logBuffer
	fe2 := startFrontendLogging(t, proxyConfig(proctest.FreePort(t), proctest.FreePort(t)), log2.logger())
	for range 5 {
		if resp, _ := get(t, fe2.url("/")); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("all down: %d", resp.StatusCode)
		}
	}
	if n := strings.Count(log2.String(), "upstream address down"); n != 2 {
		t.Errorf("addresses logged down %d times for 5 requests; want once each:\n%s", n, log2.String())
	}
	if n := counterValue(t, fe2, "cairn_frontend_upstream_errors_total", map[string]string{"upstream": "zope", "kind": "refused"}); n != 10 {
		t.Errorf("refused counted %v times for 5 requests to 2 addresses; want 10", n)
	}
	if n := counterValue(t, fe, "cairn_frontend_upstream_errors_total", map[string]string{"upstream": "zope", "kind": "reset"}); n != 1 {
		t.Errorf("the cut body counted %v times", n)
	}
}

// TestClientLeavingNotCut: a client that resets a spooled download while
// the upstream pauses makes the frontend close the upstream connection
// under the filler; that is not the upstream cutting its body short, and
// is neither logged nor counted as such.
func TestClientLeavingNotCut(t *testing.T) {
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 64<<20)
		c.Write(pattern(8 << 20))
		time.Sleep(3 * time.Second) // the filler waits for more when the client leaves
		return false
	})
	var log logBuffer
	fe := startFrontendLogging(t, proxyConfig(up), log.logger())
	c := dial(t, fe.addr[0], 5*time.Second)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	io.ReadFull(c, make([]byte, 64<<10))
	time.Sleep(300 * time.Millisecond) // the frontend is blocked writing to a client that does not read
	c.(*net.TCPConn).SetLinger(0)
	c.Close() // a reset: the frontend's write fails at once
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(log.String(), "cut a body short") {
		t.Errorf("a client leaving was logged as the upstream's fault:\n%s", log.String())
	}
	if n := counterValue(t, fe, "cairn_frontend_upstream_errors_total", map[string]string{"upstream": "zope", "kind": "other"}); n != 0 {
		t.Errorf("the client leaving counted as an upstream error %v times", n)
	}
}
