package frontend_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// laneUpstream answers /chunked in pieces without a length, /mid with
// 100 KiB (more than one read, read whole by the loops), /big with 2 MiB
// (more than the loops read whole), anything else with the method,
// path and body it got.
func laneUpstream(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := range 3 {
				fmt.Fprintf(w, "piece%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/mid":
			w.Header().Set("Content-Length", fmt.Sprint(100<<10))
			_, _ = w.Write([]byte(strings.Repeat("m", 100<<10)))
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(2<<20))
			_, _ = w.Write([]byte(strings.Repeat("b", 2<<20)))
		default:
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestLaneHandsOver: on one connection, requests the event loops serve
// and requests they give to the fasthttp server (a POST with a body, an
// answer without a length, one over 1 MiB) follow each other, pipelined
// or not, and each gets its own answer, in order.
func TestLaneHandsOver(t *testing.T) {
	fe := startFrontend(t, proxyConfig(laneUpstream(t)))
	for _, tc := range []struct {
		name string
		reqs []string
		want []string
	}{
		{"pipelined, a POST between", []string{
			"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
			"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			"GET /c?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
		}, []string{"GET /a ", "POST /b hello", "GET /c?q=1 "}},
		{"an answer without a length, then more", []string{
			"GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /e HTTP/1.1\r\nHost: x\r\n\r\n",
		}, []string{"GET /d ", "piece0;piece1;piece2;", "GET /e "}},
		{"an answer longer than a read, then more", []string{
			"GET /mid HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /g HTTP/1.1\r\nHost: x\r\n\r\n",
		}, []string{strings.Repeat("m", 100<<10), "GET /g "}},
		{"a long answer, then more", []string{
			"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /big HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /f HTTP/1.1\r\nHost: x\r\n\r\n",
		}, []string{"", strings.Repeat("b", 2<<20), "GET /f "}},
	} {
		for _, pipelined := range []bool{true, false} {
			c := dial(t, fe.addr[0], 10*time.Second)
			br := bufio.NewReader(c)
			if pipelined {
				if _, err := io.WriteString(c, strings.Join(tc.reqs, "")); err != nil {
					t.Fatal(err)
				}
			}
			for i, req := range tc.reqs {
				if !pipelined {
					if _, err := io.WriteString(c, req); err != nil {
						t.Fatal(err)
					}
				}
				method := req[:strings.IndexByte(req, ' ')]
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					t.Fatalf("%s (pipelined %v): answer %d: %v", tc.name, pipelined, i, err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != 200 || string(body) != tc.want[i] {
					t.Errorf("%s (pipelined %v): answer %d: %d %.40q (%v); want %.40q", tc.name, pipelined, i, resp.StatusCode, body, err, tc.want[i])
				}
				if resp.Header.Get("Server") != "cairn" {
					t.Errorf("%s: answer %d: Server %q", tc.name, i, resp.Header.Get("Server"))
				}
			}
			c.Close()
		}
	}
}

// TestLaneShutdownFinishesRequests: a request in flight when the frontend
// is told to stop gets its answer (with Connection: close), and an idle
// connection is closed.
func TestLaneShutdownFinishesRequests(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "late")
	}))
	defer slow.Close()
	fe := startFrontend(t, proxyConfig(strings.TrimPrefix(slow.URL, "http://")))
	idle := dial(t, fe.addr[0], 5*time.Second)
	busy := dial(t, fe.addr[0], 5*time.Second)
	if _, err := io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan struct{})
	go func() { fe.stop(); close(done) }()
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "late" || !resp.Close {
		t.Errorf("the request in flight: %q, close %v; want its answer, closing", body, resp.Close)
	}
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Errorf("the idle connection got %d bytes; want it closed", n)
	}
	<-done
}

// TestLaneAnswerInOneWrite: an answer longer than the loops' first
// buffer that arrives all at once (no later data to signal more) is read
// whole, on a pooled connection too.
func TestLaneAnswerInOneWrite(t *testing.T) {
	body := strings.Repeat("z", 100<<10)
	fe := startFrontend(t, proxyConfig(rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: "+fmt.Sprint(len(body))+"\r\n\r\n"+body)))
	for i := range 3 {
		if resp, got := get(t, fe.url("/")); resp.StatusCode != 200 || got != body {
			t.Fatalf("request %d: %d, %d bytes; want 200 and %d", i, resp.StatusCode, len(got), len(body))
		}
	}
}

// TestHeadTimeout: a request head not finished within read_timeout is
// answered 408 and the connection closed.
func TestHeadTimeout(t *testing.T) {
	cfg := proxyConfig(laneUpstream(t))
	cfg.ReadTimeout = sitefile.Dur(300 * time.Millisecond)
	fe := startFrontend(t, cfg)
	got := raw(t, fe.addr[0], "GET / HTTP/1.1\r\nHost: x\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, "request timeout") {
		t.Errorf("an unfinished head got %q; want 408", got)
	}
}

// TestLaneHalfClose: a client that sends its last request and its end
// (a FIN) together, or its end after the last answer, gets every answer
// and then its connection closed at once, not at idle_timeout: the loops
// stop reading at a short read, and must then not miss an end that came
// with the data.
func TestLaneHalfClose(t *testing.T) {
	cfg := proxyConfig(laneUpstream(t))
	cfg.IdleTimeout = sitefile.Dur(time.Minute)
	fe := startFrontend(t, cfg)
	req := "GET /h HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name     string
		reqs     int
		together bool
	}{{"one request and the end together", 1, true}, {"two requests and the end together", 2, true}, {"the end after the answer", 1, false}} {
		for range 20 {
			c := dial(t, fe.addr[0], 5*time.Second)
			if _, err := io.WriteString(c, strings.Repeat(req, tc.reqs)); err != nil {
				t.Fatal(err)
			}
			if tc.together {
				c.(*net.TCPConn).CloseWrite()
			}
			br := bufio.NewReader(c)
			for i := range tc.reqs {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: answer %d: %v", tc.name, i, err)
				}
				if body, _ := io.ReadAll(resp.Body); string(body) != "GET /h " {
					t.Errorf("%s: answer %d: %q", tc.name, i, body)
				}
			}
			if !tc.together {
				c.(*net.TCPConn).CloseWrite()
			}
			start := time.Now()
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("%s: after the answers: %d bytes, %v after %v; want the connection closed at once", tc.name, n, err, time.Since(start).Round(time.Millisecond))
			}
			c.Close()
		}
	}
}

// rootConfig serves dir at / with a static cache of cache bytes.
func rootConfig(dir string, cache int64) *frontend.Config {
	cfg := frontend.NewConfig()
	cfg.StaticCache = sitefile.Size(cache)
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Static: dir}}}}
	return cfg
}

// readAnswer reads one answer from br, its body in pieces of at most
// piece bytes with pause between them (a slow client).
func readAnswer(t *testing.T, br *bufio.Reader, piece int, pause time.Duration) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	buf := make([]byte, piece)
	for {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err == io.EOF {
			return resp, body
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(body), err)
		}
		time.Sleep(pause)
	}
}

// TestLaneSendfile: cached files the loops send with sendfile come whole
// to a client reading slowly (the socket fills again and again), one
// after the other on a connection; a file truncated in place while cached
// is still answered whole, from the cached body (sendfile finds its end
// early); and the files the cache keeps open are closed when it lets
// them go and when the frontend stops.
func TestLaneSendfile(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 384<<10) // 6 MiB: more than a socket's send buffer grows to
	mid := bytes.Repeat([]byte("m"), 20<<10)
	for name, b := range map[string][]byte{"big.bin": big, "mid.bin": mid} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rootConfig(dir, 64<<20)
	cfg.StaticCacheMaxFile = 8 << 20
	fe := startFrontend(t, cfg)
	// A small receive buffer, set before connecting (it sets the window),
	// so that the frontend's sends find the socket full.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10) })
	}}
	c, err := d.Dial("tcp", fe.addr[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{big, mid, big} {
		if resp, body := readAnswer(t, br, 64<<10, 2*time.Millisecond); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("answer %d: %d, %d bytes; want 200 and %d", i, resp.StatusCode, len(body), len(want))
		}
	}
	c.Close()

	// Truncated in place: the cache looks at the file again after a
	// second at most, so within it the entry (and its open file) is used.
	if resp, body := get(t, fe.url("/mid.bin")); resp.StatusCode != 200 || body != string(mid) {
		t.Fatalf("mid.bin: %d, %d bytes", resp.StatusCode, len(body))
	}
	if err := os.Truncate(filepath.Join(dir, "mid.bin"), 100); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, fe.url("/mid.bin"))
	switch {
	case resp.StatusCode != 200:
		t.Errorf("truncated: %d", resp.StatusCode)
	case len(body) == len(mid) && body != string(mid):
		t.Errorf("truncated: %d bytes, not the cached ones", len(body))
	case len(body) != len(mid) && body != string(mid[:100]):
		t.Errorf("truncated: %d bytes; want the cached %d or the new 100", len(body), len(mid))
	}

	// A cache of 128 KiB holds at most 8 files of 16 KiB: the others it
	// refuses or lets go of are closed.
	small := startFrontend(t, rootConfig(dir, 128<<10))
	for i := range 40 {
		name := fmt.Sprintf("f%02d.bin", i)
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if resp, body := get(t, small.url("/"+name)); resp.StatusCode != 200 || len(body) != 16<<10 {
				t.Fatalf("%s: %d, %d bytes", name, resp.StatusCode, len(body))
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // ristretto's evictions come from its goroutine
	if n := openFilesIn(t, dir); n > 8+2 {
		t.Errorf("%d files of the folder open with a cache for 8; want at most 10", n)
	}
	small.stop()
	fe.stop()
	if n := openFilesIn(t, dir); n != 0 {
		t.Errorf("%d files of the folder open after the frontends stopped; want none", n)
	}
}

// openFilesIn counts this process's descriptors open on files in dir.
func openFilesIn(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}
