package frontend_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
