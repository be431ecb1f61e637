package frontend_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// bodyUpstream is an upstream that records how request bodies reach it.
type bodyUpstream struct {
	addr  string
	conns atomic.Int32 // connections accepted
	seen  chan seenBody
}

// seenBody is one request as the upstream read it.
type seenBody struct {
	contentLength string // the header as sent ("" if none)
	chunked       bool   // Transfer-Encoding: chunked was sent
	size          int
	sha           string
	trailer       string // an X-Sum header or trailer field
	contentType   string
}

func startBodyUpstream(t *testing.T) *bodyUpstream {
	u := &bodyUpstream{seen: make(chan seenBody, 16)}
	u.addr = keepAlive(t, func() { u.conns.Add(1) }, func(c net.Conn, req *http.Request) bool {
		h := sha256.New()
		n, err := io.Copy(h, req.Body)
		if err != nil {
			return false
		}
		u.seen <- seenBody{req.Header.Get("Content-Length"), len(req.TransferEncoding) > 0, int(n), hex.EncodeToString(h.Sum(nil)),
			req.Header.Get("X-Sum") + req.Trailer.Get("X-Sum"), req.Header.Get("Content-Type")}
		reply := strconv.FormatInt(n, 10)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(reply), reply)
		return true
	})
	return u
}

// bodyProxy is a configuration proxying to a new bodyUpstream, with a
// 16 KiB body buffer and a temporary folder of the test's own.
func bodyProxy(t *testing.T) (*bodyUpstream, *frontend.Config) {
	up := startBodyUpstream(t)
	cfg := proxyConfig(up.addr)
	cfg.BodyBufferSize = 16 << 10
	cfg.BodyTempDir = t.TempDir()
	return up, cfg
}

func (u *bodyUpstream) next(t *testing.T) seenBody {
	t.Helper()
	select {
	case s := <-u.seen:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no request")
		return seenBody{}
	}
}

func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hideLength makes net/http send a body chunked.
type hideLength struct{ io.Reader }

// TestRequestBodies: bodies in memory and in temporary files, of known
// length and chunked, all reach the upstream whole, with a Content-Length
// and not chunked (nginx does the same), and are counted as received.
func TestRequestBodies(t *testing.T) {
	up, cfg := bodyProxy(t)
	fe := startFrontend(t, cfg)
	var total int
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"empty", 0, false},
		{"in memory", 1000, false},
		{"at the buffer size", 16 << 10, false},
		{"in a file", 3 << 20, false},
		{"chunked in memory", 5000, true},
		{"chunked in a file", 2<<20 + 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := patterned(tc.size)
			var r io.Reader = bytes.NewReader(body)
			if tc.chunked {
				r = hideLength{r}
			}
			resp, got := send(t, http.MethodPost, fe.url("/upload"), r)
			if resp.StatusCode != 200 || string(got) != strconv.Itoa(tc.size) {
				t.Fatalf("answer %d %q", resp.StatusCode, got)
			}
			s := up.next(t)
			if s.contentType != "" {
				t.Errorf("the upstream got Content-Type %q; the client sent none", s.contentType)
			}
			if s.chunked || s.contentLength != strconv.Itoa(tc.size) || s.size != tc.size || s.sha != sha(body) {
				t.Errorf("upstream saw Content-Length %q, chunked %v, %d bytes (sha ok: %v); want %d bytes",
					s.contentLength, s.chunked, s.size, s.sha == sha(body), tc.size)
			}
			total += tc.size
		})
	}
	t.Run("chunked with a trailer", func(t *testing.T) {
		// The trailer is read and dropped (nginx does the same): the body
		// goes upstream with a Content-Length, so the fields have nowhere
		// to go, and must not become headers.
		// A header field named in Trailer stays a header field.
		got := statusLine(t, fe.addr[0], "POST / HTTP/1.1\r\nHost: x\r\nTrailer: X-Sum\r\nX-Sum: head\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		if s := up.next(t); !strings.HasPrefix(got, "HTTP/1.1 200") || s.chunked || s.trailer != "head" {
			t.Errorf("header and trailer X-Sum: answer %q; upstream saw chunked %v, X-Sum %q", got, s.chunked, s.trailer)
		}
		total += 5
		for _, announce := range []string{"Trailer: X-Sum\r\n", ""} {
			got := statusLine(t, fe.addr[0], "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+announce+"\r\n"+
				"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
			s := up.next(t)
			if !strings.HasPrefix(got, "HTTP/1.1 200") || s.contentLength != "5" || s.chunked || s.trailer != "" {
				t.Errorf("%q: answer %q; upstream saw Content-Length %q, chunked %v, X-Sum %q", announce, got, s.contentLength, s.chunked, s.trailer)
			}
			total += 5
		}
	})
	if got := counterValue(t, fe, "cairn_frontend_received_bytes_total", nil); got < float64(total) {
		t.Errorf("received bytes %v, less than the %d bytes of bodies", got, total)
	}
	if left, _ := os.ReadDir(cfg.BodyTempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRequestBodyBeforeUpstream: the upstream is not contacted until the
// whole body is in, so a slow upload holds no upstream connection (and no
// Zope thread); the temporary file holding it is never visible in the
// folder.
func TestRequestBodyBeforeUpstream(t *testing.T) {
	up, cfg := bodyProxy(t)
	fe := startFrontend(t, cfg)
	c, err := net.Dial("tcp", fe.addr[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := patterned(1 << 20)
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := c.Write(body[:600<<10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := up.conns.Load(); n != 0 {
		t.Errorf("the upstream was contacted (%d connections) before the body was in", n)
	}
	if left, _ := os.ReadDir(cfg.BodyTempDir); len(left) > 0 {
		t.Errorf("the temporary file is visible: %v", left)
	}
	if _, err := c.Write(body[600<<10:]); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := up.next(t); resp.StatusCode != 200 || s.size != len(body) || s.sha != sha(body) {
		t.Errorf("status %d; upstream got %d bytes", resp.StatusCode, s.size)
	}
}

// TestSlowUpstreamTakesUpload: an upstream's write_timeout bounds each wait
// for it to take more of a request, not the whole send (nginx's
// proxy_send_timeout), so a large upload to an upstream that reads it
// steadily but slowly arrives whole; one that stops reading is cut off.
func TestSlowUpstreamTakesUpload(t *testing.T) {
	const size = 16 << 20
	for _, tc := range []struct {
		name  string
		stall time.Duration
		ok    bool
	}{{"steady", 0, true}, {"stopped", 2 * time.Second, false}} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan int, 1)
			addr := proctest.RawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				// 256 KiB every 20 ms: 16 MiB take about 1.3 s, more than
				// twice the 0.5 s write_timeout. (Faster than 2 MiB per
				// timeout, as Linux reports a full socket writable only
				// when half its send buffer is free.)
				piece := make([]byte, 256<<10)
				n := 0
				for {
					time.Sleep(20 * time.Millisecond)
					if n == 1<<20 {
						time.Sleep(tc.stall)
					}
					m, err := io.ReadFull(req.Body, piece)
					n += m
					if err != nil {
						break
					}
				}
				got <- n
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			})
			cfg := proxyConfig(addr)
			u := cfg.Upstreams["zope"]
			u.WriteTimeout = sitefile.Dur(500 * time.Millisecond)
			cfg.Upstreams["zope"] = u
			cfg.BodyTempDir = t.TempDir()
			fe := startFrontend(t, cfg)
			start := time.Now()
			resp, _ := send(t, http.MethodPost, fe.url("/upload"), bytes.NewReader(patterned(size)), "Content-Type", "application/octet-stream")
			n := <-got
			if tc.ok && (resp.StatusCode != 200 || n != size) {
				t.Errorf("after %v: status %d, upstream read %d of %d bytes", time.Since(start), resp.StatusCode, n, size)
			}
			if !tc.ok && (resp.StatusCode == 200 || n == size) {
				t.Errorf("status %d, upstream read %d of %d bytes; want it cut off", resp.StatusCode, n, size)
			}
		})
	}
}

// TestRequestBodyRefused: bodies over max_body_size (declared, chunked,
// or announced with Expect: 100-continue), bodies cut short and malformed
// chunks get their status and never reach the upstream, half sent or not;
// the server goes on serving.
func TestRequestBodyRefused(t *testing.T) {
	up, cfg := bodyProxy(t)
	cfg.MaxBodySize = 1 << 20
	fe := startFrontend(t, cfg)
	addr := fe.addr[0]
	chunk := func(n int) string { return fmt.Sprintf("%x\r\n%s\r\n", n, strings.Repeat("a", n)) }
	for _, tc := range []struct{ name, req, status string }{
		// Answered before the body is read (after a first 8 KiB).
		{"declared too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n" + strings.Repeat("a", 10<<10), "413"},
		{"chunked too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat(chunk(64<<10), 17) + "0\r\n\r\n", "413"},
		{"expect, too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n", "413"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(100) + "zz\r\n", "400"},
		{"forwarding header in the trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n", "400"},
		{"bad chunk end", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdefgh\r\n", "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := statusLine(t, addr, tc.req); !strings.HasPrefix(got, "HTTP/1.1 "+tc.status) {
				t.Errorf("answer %.80q; want status %s", got, tc.status)
			}
		})
	}
	// A body cut short, in memory and in a file: the client goes away.
	for _, sent := range []int{100, 200 << 10} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 500<<10, strings.Repeat("a", sent))
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	if n := up.conns.Load(); n != 0 {
		t.Errorf("refused bodies reached the upstream (%d connections)", n)
	}
	// Expect: 100-continue within the limit gets its 100 and goes through.
	c := dial(t, addr, 5*time.Second)
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("to Expect: %q", line)
	}
	_, _ = br.ReadString('\n')
	fmt.Fprintf(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := up.next(t); resp.StatusCode != 200 || s.size != 5 {
		t.Errorf("after 100-continue: status %d, upstream got %d bytes", resp.StatusCode, s.size)
	}
	if left, _ := os.ReadDir(cfg.BodyTempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// statusLine sends req on a new connection and returns the answer's first
// line (raw waits for the server to close, which a lingering close delays).
func statusLine(t *testing.T, addr, req string) string {
	t.Helper()
	c := dial(t, addr, 5*time.Second)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line
}

// upload sends head and then size bytes of body on c, in the background;
// the channel tells how the sending ended (nil: all of it was taken).
func upload(c net.Conn, head string, size int) <-chan error {
	sent := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(c, head); err != nil {
			sent <- err
			return
		}
		piece := make([]byte, 64<<10)
		for n := 0; n < size; n += len(piece) {
			if _, err := c.Write(piece); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	return sent
}

// TestRefusedUploadLingers: a client still sending a body over
// max_body_size reads the 413 with Connection: close, and the rest of its
// upload is read and dropped rather than reset. A reset can cost the
// client the answer (Windows drops what it had not read yet; a response
// segment lost on the way arrives after the reset); Linux on loopback
// keeps it, so what is checked here is that the upload is not reset.
func TestRefusedUploadLingers(t *testing.T) {
	cfg := proxyConfig(startBodyUpstream(t).addr)
	cfg.MaxBodySize = 1 << 20
	fe := startFrontend(t, cfg)
	c := dial(t, fe.addr[0], 8*time.Second)
	sent := upload(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 64<<20), 16<<20)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to an oversized upload: %v", err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !resp.Close {
		t.Errorf("status %d, close %v; want 413 and close", resp.StatusCode, resp.Close)
	}
	if err := <-sent; err != nil {
		t.Errorf("the rest of the upload was refused: %v", err)
	}
	// The answer is followed by the end of the stream (a half close), so
	// a client waiting for it need not wait for the linger to end.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the answer: %d bytes, %v; want EOF", n, err)
	}
	// What was read and dropped was received all the same (but for the
	// up to 8 KiB read ahead with the head, dropped with the refusal).
	const want = 16<<20 - 8<<10
	var in float64
	for deadline := time.Now().Add(2 * time.Second); in < want && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		in = counterValue(t, fe, "cairn_frontend_received_bytes_total", nil)
	}
	if in < want {
		t.Errorf("cairn_frontend_received_bytes_total = %v after a refused 16 MiB upload", in)
	}
}

// TestRefusedHeadLingers: a head fasthttp refuses itself (too large: 431,
// or malformed: 400) with an upload behind it — large cookies and a file —
// is answered, and the connection closed lingering like a refused body:
// the client reads the answer, then the end of the stream, and its upload
// is not reset.
func TestRefusedHeadLingers(t *testing.T) {
	cfg := proxyConfig(startBodyUpstream(t).addr)
	cfg.MaxHeaderSize = 4 << 10
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		head   string
		status int
	}{
		{"POST / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 6<<10) + "\r\nContent-Length: 67108864\r\n\r\n", 431},
		{"POST / HTTP/1.1\r\nHost: x\r\nBad Header\r\nContent-Length: 67108864\r\n\r\n", 400},
	} {
		c := dial(t, fe.addr[0], 8*time.Second)
		sent := upload(c, tc.head, 8<<20)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer to a refused head: %v", err)
		}
		_, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !resp.Close || resp.Header.Get("Server") != "cairn" {
			t.Errorf("status %d, close %v, Server %q; want %d, close, cairn", resp.StatusCode, resp.Close, resp.Header.Get("Server"), tc.status)
		}
		if err := <-sent; err != nil {
			t.Errorf("%d: the upload behind the refused head was reset: %v", tc.status, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%d: after the answer: %d bytes, %v; want EOF (one answer, then the half close)", tc.status, n, err)
		}
		c.Close()
	}
	// After pipelined requests, a malformed one is answered after the
	// answers before it, once.
	got := raw(t, fe.addr[0], "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nBad Header\r\n\r\n")
	if i, j := strings.Index(got, "HTTP/1.1 200"), strings.Index(got, "HTTP/1.1 400"); strings.Count(got, "HTTP/1.1 ") != 3 || i < 0 || j < i {
		t.Errorf("pipelined, then malformed: %q; want two 200s then one 400", got)
	}
	// The frontend goes on serving.
	if resp, _ := get(t, fe.url("/")); resp.StatusCode != 200 {
		t.Errorf("afterwards: %d", resp.StatusCode)
	}
}

// TestLingeringBounded: connections closing lingering are bounded (fasthttp
// no longer counts them against max_conns); past the bound a refused
// upload's connection is closed at once.
func TestLingeringBounded(t *testing.T) {
	cfg := proxyConfig(startBodyUpstream(t).addr)
	cfg.MaxBodySize = 1 << 20
	fe := startFrontend(t, cfg)
	const n = 300 // more than maxLingering (256)
	var conns []net.Conn
	for i := range n {
		c := dial(t, fe.addr[0], 10*time.Second)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n%s", strings.Repeat("a", 9<<10))
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "413") {
			t.Fatalf("connection %d: %q, %v", i, line, err)
		}
		conns = append(conns, c)
	}
	// A lingering connection still takes data; one closed at once resets.
	open := 0
	for _, c := range conns {
		if _, err := c.Write(make([]byte, 1024)); err != nil {
			continue
		}
		time.Sleep(time.Millisecond)
		if _, err := c.Write(make([]byte, 1024)); err == nil {
			open++
		}
	}
	if open < 200 || open > 256 {
		t.Errorf("%d of %d refused uploads lingering; want at most 256 (and most of them)", open, n)
	}
}

// TestBodyToOtherRoutes: a body sent to a route that wants none (static,
// fixed answer, no route) is read and dropped, and the connection goes on
// serving; one over max_body_size is refused.
func TestBodyToOtherRoutes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/a.txt", []byte("static\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := frontend.NewConfig()
	cfg.MaxBodySize = 2 << 20
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Path: "/static/", Static: dir},
		{Path: "/fixed", Respond: strp("fixed\n")},
	}}}
	fe := startFrontend(t, cfg)
	c := dial(t, fe.addr[0], 10*time.Second)
	br := bufio.NewReader(c)
	body := strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		req    string
		status int
	}{
		{"POST /static/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + body, 405},
		{"POST /fixed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + body + "\r\n0\r\n\r\n", 200},
		{"PUT /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + body, 404},
		{"GET /static/a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"POST /fixed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("100000\r\n"+body+"\r\n", 3) + "0\r\n\r\n", 413},
	} {
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%.30q: %v (the connection did not go on)", tc.req, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%.30q: status %d, want %d", tc.req, resp.StatusCode, tc.status)
		}
	}
}

// TestRequestBodyLimitBelowBuffer: max_body_size holds for a chunked body
// even when it is smaller than body_buffer_size.
func TestRequestBodyLimitBelowBuffer(t *testing.T) {
	up, cfg := bodyProxy(t) // a 16 KiB buffer
	cfg.MaxBodySize = 1 << 10
	fe := startFrontend(t, cfg)
	resp, _ := send(t, http.MethodPost, fe.url("/u"), hideLength{bytes.NewReader(patterned(10 << 10))})
	if resp.StatusCode != 413 || up.conns.Load() != 0 {
		t.Errorf("10 KiB chunked with max_body_size 1K: status %d, %d upstream connections", resp.StatusCode, up.conns.Load())
	}
}

// TestSpooledBodyRetried: an idempotent request (a WebDAV PUT) whose body
// is in a temporary file is sent again, whole, when the pooled connection
// it went out on turns out closed by the upstream, as fasthttp does for
// bodies in memory.
func TestSpooledBodyRetried(t *testing.T) {
	got := make(chan string, 8)
	addr := proctest.RawServer(t, func(c net.Conn) {
		// Keep-alive announced, then the connection closed at once.
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		got <- sha(b)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	cfg := proxyConfig(addr)
	cfg.BodyBufferSize = 16 << 10
	cfg.BodyTempDir = t.TempDir()
	fe := startFrontend(t, cfg)
	for _, size := range []int{100 << 10, 1 << 10, 100 << 10} {
		body := patterned(size)
		resp, _ := send(t, http.MethodPut, fe.url("/u"), bytes.NewReader(body))
		if resp.StatusCode != 200 || <-got != sha(body) {
			t.Errorf("PUT of %d bytes on a closed pooled connection: %d", size, resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond) // the upstream's FIN arrives
	}
	if left, _ := os.ReadDir(cfg.BodyTempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestBodyTempDirFails: a temporary file the frontend cannot write is its
// own fault: 500, not 400.
func TestBodyTempDirFails(t *testing.T) {
	up, cfg := bodyProxy(t)
	fe := startWithTempDirGone(t, cfg)
	resp, _ := send(t, http.MethodPost, fe.url("/u"), bytes.NewReader(patterned(100<<10)), "Content-Type", "application/octet-stream")
	if resp.StatusCode != 500 || up.conns.Load() != 0 {
		t.Errorf("status %d (%d upstream connections); want 500", resp.StatusCode, up.conns.Load())
	}
}

// TestBodyTempDirChecked: a folder request bodies cannot be written to is
// refused with the configuration, not found at the first large upload.
func TestBodyTempDirChecked(t *testing.T) {
	cfg := proxyConfig("127.0.0.1:1")
	cfg.BodyTempDir = t.TempDir() + "/missing"
	err := cfg.Validate(sitefile.Site{})
	if err == nil || !strings.Contains(err.Error(), "body_temp_dir") {
		t.Fatalf("Validate: %v", err)
	}
	cfg = proxyConfig("127.0.0.1:1")
	cfg.BodyBufferSize = 0
	if err := cfg.Validate(sitefile.Site{}); err == nil || !strings.Contains(err.Error(), "body_buffer_size") {
		t.Fatalf("Validate: %v", err)
	}
}

// TestBodyTempTotal: request bodies in temporary files count against
// max_body_temp_total together: an upload that would pass it, declared or
// chunked, is refused with 503 and never reaches the upstream, while the
// ones in progress go on; the room comes back when they are done.
func TestBodyTempTotal(t *testing.T) {
	hold := make(chan struct{})
	var got atomic.Int32
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		got.Add(1)
		if req.URL.Path == "/hold" {
			<-hold
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	cfg := proxyConfig(up)
	cfg.BodyBufferSize, cfg.MaxBodySize, cfg.MaxBodyTempTotal = 64<<10, 1<<20, 1<<20
	fe := startFrontend(t, cfg)

	body := strings.Repeat("u", 700<<10)
	first := make(chan int, 1)
	go func() {
		resp, err := client.Post(fe.url("/hold"), "application/octet-stream", strings.NewReader(body))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	waitFor(t, func() bool { return got.Load() == 1 })
	if v := gaugeValue(t, fe, "cairn_frontend_body_temp_bytes"); v != float64(len(body)) {
		t.Errorf("body_temp_bytes %v with one upload held; want %d", v, len(body))
	}
	if resp, _ := send(t, "POST", fe.url("/second"), strings.NewReader(body)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second upload past the room: %d, want 503", resp.StatusCode)
	}
	chunked := io.MultiReader(strings.NewReader(body)) // no length: sent chunked
	if resp, _ := send(t, "POST", fe.url("/third"), chunked); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a chunked upload growing past the room: %d, want 503", resp.StatusCode)
	}
	if n := got.Load(); n != 1 {
		t.Errorf("%d uploads reached the upstream; want only the first", n)
	}
	close(hold)
	if code := <-first; code != 200 {
		t.Errorf("the upload in progress: %d", code)
	}
	waitFor(t, func() bool { return gaugeValue(t, fe, "cairn_frontend_body_temp_bytes") == 0 })
	if resp, _ := send(t, "POST", fe.url("/again"), strings.NewReader(body)); resp.StatusCode != 200 {
		t.Errorf("an upload once the room is back: %d", resp.StatusCode)
	}

	// Counted as written, not as declared: clients that declare large
	// bodies and send little take no room from the others.
	for range 3 {
		c := dial(t, fe.addr[0], 10*time.Second)
		fmt.Fprintf(c, "POST /stalled HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 1<<20, strings.Repeat("s", 65<<10))
	}
	time.Sleep(100 * time.Millisecond)
	if resp, _ := send(t, "POST", fe.url("/beside"), strings.NewReader(strings.Repeat("b", 200<<10))); resp.StatusCode != 200 {
		t.Errorf("an upload beside three stalled ones: %d", resp.StatusCode)
	}
}
