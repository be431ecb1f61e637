package frontend_test

// The event loops (lane.go) held to the fasthttp path: each test runs the
// same exchange with the loops on and off, on 127.0.0.1 ports the kernel
// picks. (From a review of the loops; each failed on the first version.)

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// startAt is startFrontend with the loops on (one loop) or off.
func startAt(t *testing.T, cfg *frontend.Config, loops bool) *running {
	t.Helper()
	cfg.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0"}}
	if cfg.AccessLog == "" {
		cfg.AccessLog = "off"
	}
	cfg.EventLoop = loops
	cfg.EventLoops = 1
	return startFrontendAsIs(t, cfg, nil)
}

// upstreamAt serves each connection with serve, with a receive buffer of
// rcvbuf bytes.
func upstreamAt(t *testing.T, rcvbuf int, serve func(net.Conn)) string {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return proctest.RawServerOn(t, ln, serve)
}

// answerEach is an upstream that answers every request with resp.
func answerEach(t *testing.T, resp string) string {
	return proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
}

func modeName(loops bool) string {
	if loops {
		return "loops"
	}
	return "fasthttp"
}

// A byte of the next request pipelined behind one the loop serves: the
// connection is still cut off after read_timeout.
func TestBothWaysPipelinedByteNoTimeout(t *testing.T) {
	up := answerEach(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for _, loops := range []bool{false, true} {
		cfg := proxyConfig(up)
		cfg.ReadTimeout = sitefile.Dur(time.Second)
		cfg.IdleTimeout = sitefile.Dur(time.Second)
		fe := startAt(t, cfg, loops)
		c := dial(t, fe.addr[0], 10*time.Second)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nG")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = br.ReadByte()
		t.Logf("%s: connection after answer + 1 byte: %v after %v", modeName(loops), err, time.Since(start).Round(100*time.Millisecond))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: connection with a partial head still open after 5s (read_timeout 1s)", modeName(loops))
		}
		fe.stop()
	}
}

// A lower-case accept-encoding: read alike (not at all) both ways.
func TestBothWaysAcceptEncodingCase(t *testing.T) {
	body := strings.Repeat("<p>hello</p>", 400)
	up := answerEach(t, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	got := map[bool]string{}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		c := dial(t, fe.addr[0], 5*time.Second)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\naccept-encoding: gzip\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		got[loops] = resp.Header.Get("Content-Encoding") + "|vary=" + resp.Header.Get("Vary")
		fe.stop()
	}
	t.Logf("fasthttp: %q loops: %q", got[false], got[true])
	if got[false] != got[true] {
		t.Errorf("answers differ: fasthttp Content-Encoding %q, loops %q", got[false], got[true])
	}
}

// What the upstream is sent for Host: Example.COM and "/a?": the same
// both ways.
func TestBothWaysForwardedHostAndQuery(t *testing.T) {
	var mu sync.Mutex
	var heads []string
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
				if strings.HasPrefix(line, "GET") || strings.HasPrefix(strings.ToLower(line), "host:") {
					head.WriteString(strings.TrimSpace(line) + " | ")
				}
			}
			mu.Lock()
			heads = append(heads, head.String())
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	got := map[bool][]string{}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		for _, target := range []string{"/a?", "/b"} {
			c := dial(t, fe.addr[0], 5*time.Second)
			io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: Example.COM\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
		}
		mu.Lock()
		got[loops], heads = heads, nil
		mu.Unlock()
		fe.stop()
	}
	t.Logf("fasthttp: %q", got[false])
	t.Logf("loops:    %q", got[true])
	if fmt.Sprint(got[false]) != fmt.Sprint(got[true]) {
		t.Errorf("upstream saw different requests")
	}
}

// A response head of 40 KB: 502 both ways.
func TestBothWaysLargeResponseHead(t *testing.T) {
	big := strings.Repeat("a", 40<<10)
	up := answerEach(t, "HTTP/1.1 200 OK\r\nX-Big: "+big+"\r\nContent-Length: 2\r\n\r\nok")
	got := map[bool]int{}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		resp, _ := get(t, fe.url("/"))
		got[loops] = resp.StatusCode
		fe.stop()
	}
	t.Logf("fasthttp: %d loops: %d", got[false], got[true])
	if got[false] != got[true] {
		t.Errorf("status differs")
	}
}

// An error page made by laneHard (101 from the upstream) has the
// frontend's Server.
func TestBothWaysHardErrorPageServer(t *testing.T) {
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
		time.Sleep(200 * time.Millisecond)
	})
	got := map[bool]string{}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		resp, _ := get(t, fe.url("/"))
		got[loops] = fmt.Sprintf("%d Server=%q", resp.StatusCode, resp.Header.Get("Server"))
		fe.stop()
	}
	t.Logf("fasthttp: %s loops: %s", got[false], got[true])
	if got[false] != got[true] {
		t.Errorf("answers differ")
	}
}

// The upstream answers before it has read the whole request: the
// connection is not pooled with the rest of the request unsent.
func TestBothWaysAnswerBeforeRequestSent(t *testing.T) {
	var mu sync.Mutex
	var streams []string
	up := upstreamAt(t, 4096, func(c net.Conn) {
		var b [1]byte
		var line []byte
		for !bytes.HasSuffix(line, []byte("\r\n")) { // the request line only
			if _, err := c.Read(b[:]); err != nil {
				return
			}
			line = append(line, b[0])
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(700 * time.Millisecond) // not reading meanwhile
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rest, _ := io.ReadAll(c)
		mu.Lock()
		streams = append(streams, string(line)+string(rest))
		mu.Unlock()
	})
	for _, loops := range []bool{false, true} {
		cfg := proxyConfig(up)
		cfg.MaxHeaderSize = 1 << 20
		fe := startAt(t, cfg, loops)
		c1 := dial(t, fe.addr[0], 5*time.Second)
		go io.WriteString(c1, "GET /one HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 900<<10)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c1), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		c2 := dial(t, fe.addr[0], 3*time.Second)
		io.WriteString(c2, "GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(3 * time.Second)
		mu.Lock()
		var s string
		for _, x := range streams {
			if strings.Contains(x, "/one") {
				s = x
			}
		}
		streams = nil
		mu.Unlock()
		end1 := strings.Index(s, "\r\n\r\n")
		two := strings.Index(s, "GET /two")
		t.Logf("%s: upstream connection got %d bytes; first head end at %d, GET /two at %d", modeName(loops), len(s), end1, two)
		if two >= 0 && (end1 < 0 || two < end1) {
			t.Errorf("%s: GET /two sent on the connection in the middle of /one's head (desync)", modeName(loops))
		}
		fe.stop()
	}
}

// A request head that completes after shutdown began, and that the loop
// gives to the fasthttp server, is answered.
func TestBothWaysShutdownDropsGiven(t *testing.T) {
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		c := dial(t, fe.addr[0], 5*time.Second)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n")
		time.Sleep(200 * time.Millisecond)
		done := make(chan struct{})
		go func() { fe.stop(); close(done) }()
		time.Sleep(300 * time.Millisecond)
		io.WriteString(c, "\r\nhello")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%s: request completed during the grace period: %v; want its answer", modeName(loops), err)
		} else {
			t.Logf("%s: %d", modeName(loops), resp.StatusCode)
		}
		<-done
	}
}

// An upstream that sends its answer a byte at a time, each within
// read_timeout, the whole well past it: 504 both ways.
func TestBothWaysTricklingUpstream(t *testing.T) {
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
		for range 4 {
			time.Sleep(600 * time.Millisecond)
			io.WriteString(c, "x")
		}
		time.Sleep(time.Second)
	})
	got := map[bool]string{}
	for _, loops := range []bool{false, true} {
		cfg := proxyConfig(up)
		u := cfg.Upstreams["zope"]
		u.ReadTimeout = sitefile.Dur(time.Second)
		cfg.Upstreams["zope"] = u
		fe := startAt(t, cfg, loops)
		t0 := time.Now()
		resp, _ := get(t, fe.url("/"))
		got[loops] = fmt.Sprintf("%d after %v", resp.StatusCode, time.Since(t0).Round(100*time.Millisecond))
		fe.stop()
	}
	t.Logf("fasthttp: %s; loops: %s", got[false], got[true])
}

// received_bytes_total for one request: the same both ways.
func TestBothWaysBytesIn(t *testing.T) {
	up := answerEach(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	got := map[bool]float64{}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		c := dial(t, fe.addr[0], 5*time.Second)
		io.WriteString(c, "GET /some/long/path/here HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		mfs, _ := fe.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "cairn_frontend_received_bytes_total" {
				got[loops] = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		fe.stop()
	}
	t.Logf("received_bytes_total: fasthttp %v, loops %v", got[false], got[true])
	if got[false] != got[true] {
		t.Errorf("metric differs")
	}
}

// Shutdown with a connection holding one pipelined byte ends after
// read_timeout, not grace.
func TestBothWaysShutdownWaitsForByte(t *testing.T) {
	up := answerEach(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for _, loops := range []bool{false, true} {
		cfg := proxyConfig(up)
		cfg.ReadTimeout = sitefile.Dur(time.Second)
		cfg.Grace = sitefile.Dur(4 * time.Second)
		fe := startAt(t, cfg, loops)
		c := dial(t, fe.addr[0], 10*time.Second)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nG")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		t0 := time.Now()
		fe.stop()
		t.Logf("%s: shutdown took %v (grace 4s, read_timeout 1s)", modeName(loops), time.Since(t0).Round(100*time.Millisecond))
	}
}

// A file from the static cache (the loop writes its head itself): the same
// status, fields and body both ways, compressed or not, to GET and HEAD.
func TestBothWaysStaticCached(t *testing.T) {
	dir := t.TempDir()
	page := strings.Repeat("<p>static</p>", 200)
	if err := os.WriteFile(dir+"/a.html", []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/b.bin", []byte("binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/c.bin", bytes.Repeat([]byte("0123456789abcdef"), 6<<10), 0o644); err != nil { // sent with sendfile
		t.Fatal(err)
	}
	got := map[bool][]string{}
	for _, loops := range []bool{false, true} {
		cfg := frontend.NewConfig()
		cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Static: dir, CacheControl: "public, max-age=60"}}}}
		fe := startAt(t, cfg, loops)
		for _, req := range []string{
			"GET /a.html HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
			"GET /a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=1, gzip;q=0.5\r\n\r\n",
			"HEAD /a.html HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /b.bin HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
			"GET /b.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /c.bin HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /c.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"HEAD /c.bin HTTP/1.1\r\nHost: x\r\n\r\n",
		} {
			c := dial(t, fe.addr[0], 5*time.Second)
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: req[:strings.IndexByte(req, ' ')]})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Header.Del("Date")
			var fields []string
			for k, v := range resp.Header {
				fields = append(fields, k+": "+strings.Join(v, ","))
			}
			sort.Strings(fields)
			got[loops] = append(got[loops], fmt.Sprintf("%d %v %d %x", resp.StatusCode, fields, resp.ContentLength, sha256.Sum256(body)))
			c.Close()
		}
	}
	for i := range got[false] {
		if got[false][i] != got[true][i] {
			t.Errorf("answer %d:\n fasthttp %s\n loops    %s", i, got[false][i], got[true][i])
		}
	}
}

// Upstream answers that only the loops once read otherwise: an answer
// followed at once by a reset (a server refusing a large head), one
// without a Content-Type (none added, so not compressed either), and
// what the upstream is sent for two Cookie lines.
func TestBothWaysUpstreamQuirks(t *testing.T) {
	body := strings.Repeat("u", 2000)
	var mu sync.Mutex
	var cookies []string
	up := proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/reset":
				io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbig\n")
				c.(*net.TCPConn).SetLinger(0)
				return
			case "/untyped":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"+body)
			default:
				mu.Lock()
				cookies = append(cookies, strings.Join(req.Header.Values("Cookie"), " | "))
				mu.Unlock()
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	for _, loops := range []bool{false, true} {
		fe := startAt(t, proxyConfig(up), loops)
		for i := range 3 {
			if resp, got := get(t, fe.url("/reset")); resp.StatusCode != 431 || got != "big\n" {
				t.Errorf("%s: an answer followed by a reset, %d: %d %q; want the 431", modeName(loops), i, resp.StatusCode, got)
			}
		}
		resp, got := get(t, fe.url("/untyped"), "Accept-Encoding", "gzip")
		if ct := resp.Header.Values("Content-Type"); len(ct) != 0 || resp.Header.Get("Content-Encoding") != "" || got != body {
			t.Errorf("%s: an answer without a type: Content-Type %q, Content-Encoding %q, %d bytes", modeName(loops), ct, resp.Header.Get("Content-Encoding"), len(got))
		}
		raw(t, fe.addr[0], "GET /c HTTP/1.1\r\nHost: x\r\nCookie: a=b\r\nCookie: c=d\r\nConnection: close\r\n\r\n")
	}
	if len(cookies) != 2 || cookies[0] != cookies[1] || cookies[0] != "a=b; c=d" {
		t.Errorf("two Cookie lines reached the upstream as %q (fasthttp, loops); want one line, the same both ways", cookies)
	}
}

// An address's max_conns holds with the loops too: requests over it wait
// for a connection, and are all answered.
func TestBothWaysMaxConns(t *testing.T) {
	var open, most atomic.Int32
	up := proctest.RawServer(t, func(c net.Conn) {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, loops := range []bool{false, true} {
		most.Store(0)
		cfg := proxyConfig(up)
		u := cfg.Upstreams["zope"]
		u.MaxConns = 2
		cfg.Upstreams["zope"] = u
		fe := startAt(t, cfg, loops)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				c := dial(t, fe.addr[0], 10*time.Second)
				br := bufio.NewReader(c)
				for range 5 {
					io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != 200 {
						t.Errorf("%s: %d", modeName(loops), resp.StatusCode)
					}
				}
			})
		}
		wg.Wait()
		if m := most.Load(); m > 2 {
			t.Errorf("%s: %d connections at once to an address with max_conns 2", modeName(loops), m)
		}
		fe.stop() // its pooled connections closed before the next mode counts
		waitFor(t, func() bool { return open.Load() == 0 })
	}
}

// A request whose head was not read — too large, malformed, or not
// finished within read_timeout — is logged with "-" for its request line
// (fasthttp's request then holds defaults, which were logged as
// "GET / HTTP/1.1"), and counted, both ways; a request whose head was
// read and whose body failed keeps its line.
func TestBothWaysUnreadHeadLogged(t *testing.T) {
	up := answerEach(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for _, loops := range []bool{false, true} {
		logPath := filepath.Join(t.TempDir(), "access.log")
		cfg := proxyConfig(up)
		cfg.AccessLog = logPath
		cfg.ReadTimeout = sitefile.Dur(time.Second)
		cfg.MaxBodySize = 10
		fe := startAt(t, cfg, loops)
		for _, req := range []string{
			"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("y", 20<<10) + "\r\n\r\n",
			"BLAH\r\n\r\n",
			"GET /ok HTTP/1.1\r\nHost: x\r\nBad Field\r\n\r\n",
			"GET /slow HTTP/1.1\r\nHost: x\r\n", // then nothing: 408
			"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n0123456789a",
		} {
			raw(t, fe.addr[0], req)
		}
		lines := logLines(t, fe, logPath, 5)
		want := []string{`"-" 431 25 "-" "-"`, `"-" 400 12 "-" "-"`, `"-" 400 12 "-" "-"`, `"-" 408 16 "-" "-"`, `"POST /up HTTP/1.1" 413 23 "-" "-"`}
		for i, w := range want {
			if !strings.HasSuffix(lines[i], "] "+w) {
				t.Errorf("%s: line %d %q; want it to end %q", modeName(loops), i, lines[i], w)
			}
		}
		if got := counterValue(t, fe, "cairn_frontend_requests_total", map[string]string{"host": "_", "route": "_", "class": "4xx"}); got != 5 {
			t.Errorf("%s: %v requests counted 4xx without a route; want 5", modeName(loops), got)
		}
		fe.stop()
	}
}

// An answer to HEAD has the fields the answer to GET has (RFC 9110 §9.3.2),
// as nginx's: compressed when GET's is (then without a length, which only
// compressing would tell), with the same Vary, ETag and Accept-Ranges;
// proxied or static, cached or not, both ways.
func TestBothWaysHeadAsGet(t *testing.T) {
	origin := startOrigin(t, "i1")
	dir := t.TempDir()
	for name, data := range map[string]string{
		"a.html":   strings.Repeat("<p>static</p>", 200),
		"big.txt":  strings.Repeat("t", 1<<20+1), // over maxCompressStatic: sent as it is
		"tiny.txt": "tiny",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"/static/a.html", "/static/big.txt", "/static/tiny.txt", "/page", "/bytes?n=100", "/bytes?n=2000000"}
	for _, loops := range []bool{false, true} {
		for _, cache := range []sitefile.Size{frontend.NewConfig().StaticCache, 0} {
			cfg := proxyConfig(origin)
			cfg.StaticCache = cache
			cfg.Hosts[0].Routes = append([]frontend.Route{{Path: "/static/", Static: dir}}, cfg.Hosts[0].Routes...)
			fe := startAt(t, cfg, loops)
			for _, p := range paths {
				for _, ae := range []string{"", "gzip", "br"} {
					g, _ := get(t, fe.url(p), "Accept-Encoding", ae)
					h, body := send(t, http.MethodHead, fe.url(p), nil, "Accept-Encoding", ae)
					where := fmt.Sprintf("%s, static_cache %d: HEAD %s (Accept-Encoding %q)", modeName(loops), cache, p, ae)
					if h.StatusCode != g.StatusCode || body != "" {
						t.Errorf("%s: %d %q; GET's status %d", where, h.StatusCode, body, g.StatusCode)
					}
					for _, k := range []string{"Content-Encoding", "Content-Type", "Vary", "Etag", "Accept-Ranges"} {
						if h.Header.Get(k) != g.Header.Get(k) {
							t.Errorf("%s: %s %q; GET's %q", where, k, h.Header.Get(k), g.Header.Get(k))
						}
					}
					wantLen := g.ContentLength
					if g.Header.Get("Content-Encoding") != "" {
						wantLen = -1
					}
					if h.ContentLength != wantLen {
						t.Errorf("%s: length %d; want %d (GET's %d)", where, h.ContentLength, wantLen, g.ContentLength)
					}
				}
			}
			fe.stop()
		}
	}
}

// A cached file rewritten in place (same inode, as cp and shell
// redirection do) is never answered with a body of neither version: the
// loops' sendfile checks that the open file is still the one cached and
// otherwise sends the cached copy, with its own validators; once the
// cache looks again (after a second), the new version is served, also
// when it has the old size and second (nanoseconds tell it apart).
func TestBothWaysRewrittenInPlace(t *testing.T) {
	dir := t.TempDir()
	v1 := bytes.Repeat([]byte("m"), 20<<10)
	for _, loops := range []bool{false, true} {
		fe := startAt(t, rootConfig(dir, 64<<20), loops)
		for i, v2 := range [][]byte{bytes.Repeat([]byte("x"), 100), bytes.Repeat([]byte("y"), 20<<10)} {
			name := fmt.Sprintf("f-%s-%d.bin", modeName(loops), i)
			if err := os.WriteFile(filepath.Join(dir, name), v1, 0o644); err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, fe.url("/"+name))
			etag1 := resp.Header.Get("ETag")
			if body != string(v1) {
				t.Fatalf("%s: first answer %d bytes", modeName(loops), len(body))
			}
			// In place (truncated, written), within the second of the first
			// version, likely: only nanoseconds tell the same-size one apart.
			if err := os.WriteFile(filepath.Join(dir, name), v2, 0o644); err != nil {
				t.Fatal(err)
			}
			// Within the cache's second: one version or the other, whole.
			resp, body = get(t, fe.url("/"+name))
			if !(body == string(v1) && resp.Header.Get("ETag") == etag1) && body != string(v2) {
				t.Errorf("%s: rewritten to %d bytes: answered %d bytes, %d of the new, under %s (first %s)",
					modeName(loops), len(v2), len(body), strings.Count(body, string(v2[:1])), resp.Header.Get("ETag"), etag1)
			}
			time.Sleep(1100 * time.Millisecond)
			if _, body = get(t, fe.url("/"+name)); body != string(v2) {
				t.Errorf("%s: a second after the rewrite to %d bytes: %d bytes, %d of the new", modeName(loops), len(v2), len(body), strings.Count(body, string(v2[:1])))
			}
		}
		fe.stop()
	}
}

// A compressed answer to HEAD over HTTP/1.0 has no length and no transfer
// coding (which HTTP/1.0 must not be sent), and its connection is closed
// after; over HTTP/1.1 it is chunked and the connection goes on.
func TestBothWaysHeadCompressedHTTP10(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.html"), []byte(strings.Repeat("<p>static</p>", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, loops := range []bool{false, true} {
		fe := startAt(t, rootConfig(dir, 64<<20), loops)
		got := raw(t, fe.addr[0], "HEAD /a.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
		if !strings.Contains(got, "Content-Encoding: gzip\r\n") || strings.Contains(got, "Transfer-Encoding") || strings.Contains(got, "Content-Length") {
			t.Errorf("%s: HEAD over HTTP/1.0: %q", modeName(loops), got)
		}
		got = raw(t, fe.addr[0], "HEAD /a.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\nGET /a.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if strings.Count(got, "HTTP/1.1 200 OK") != 2 || !strings.Contains(got, "Transfer-Encoding: chunked\r\n") {
			t.Errorf("%s: HEAD then GET over HTTP/1.1: %q", modeName(loops), got)
		}
		fe.stop()
	}
}
