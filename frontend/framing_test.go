package frontend_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
)

// headEcho is an upstream that answers every request with the request's
// head exactly as it arrived, and counts its connections.
func headEcho(t *testing.T, conns *atomic.Int32) string {
	return proctest.RawServer(t, func(c net.Conn) {
		if conns != nil {
			conns.Add(1)
		}
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", head.Len(), head.String())
		}
	})
}

// TestRequestFraming: what a client sends that an upstream could read
// otherwise than the frontend never reaches it — versions other than
// HTTP/1.0 and 1.1 (505), CONNECT and TRACE (501), field names that are
// not tokens (400) — and what the frontend answered itself or that a WSGI
// server would confuse with its own fields (Expect, names with an
// underscore) is not passed on.
func TestRequestFraming(t *testing.T) {
	var conns atomic.Int32
	fe := startFrontend(t, proxyConfig(headEcho(t, &conns)))
	for _, c := range []struct {
		req    string
		status string
	}{
		{"GET /a HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
		{"GET /a HTTP/1.2\r\nHost: x\r\n\r\n", "505"},
		{"POST /a HTTP/9.9\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "505"},
		{"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", "501"},
		{"TRACE /a HTTP/1.1\r\nHost: x\r\nCookie: secret\r\n\r\n", "501"},
		{"POST /a HTTP/1.1\r\nHost: x\r\nContent Length: 3\r\nContent-Length: 0\r\n\r\n", "400"},
		{"GET /a HTTP/1.1\r\nHost: x\r\nX Forwarded For: 6.6.6.6\r\n\r\n", "400"},
	} {
		got := raw(t, fe.addr[0], c.req)
		if !strings.HasPrefix(got, "HTTP/1.1 "+c.status+" ") {
			t.Errorf("%q: got %.60q, want %s", c.req, got, c.status)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d upstream connections for requests all refused", n)
	}

	got := raw(t, fe.addr[0], "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nX_Forwarded_For: 6.6.6.6\r\n"+
		"x_real_ip: 6.6.6.6\r\nX-Ok: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
	if !strings.HasPrefix(got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ") || !strings.Contains(got, "X-Ok: 1") {
		t.Fatalf("a request with Expect and underscored fields: %q", got)
	}
	for _, gone := range []string{"Expect", "X_Forwarded_For", "x_real_ip", "6.6.6.6"} {
		if strings.Contains(got, gone) {
			t.Errorf("%s reached the upstream: %q", gone, got)
		}
	}
	if got := raw(t, fe.addr[0], "GET /a HTTP/1.0\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") ||
		!strings.Contains(got, "GET /a HTTP/1.0\r\n") {
		t.Errorf("an HTTP/1.0 request: %q", got)
	}
	// Without a Host (HTTP/1.0 allows it), the upstream still gets one.
	if got := raw(t, fe.addr[0], "GET /a HTTP/1.0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") ||
		!strings.Contains(got, "\r\nHost: 127.0.0.1:") {
		t.Errorf("an HTTP/1.0 request without Host: %q", got)
	}
}

// TestConnectionFieldsEverySpelling: the fields a Connection field names
// are removed whatever its spelling and in however many lines, both ways;
// a Connection naming Content-Length or Host does not take them away (a
// large answer would lose its length and reach the client empty).
func TestConnectionFieldsEverySpelling(t *testing.T) {
	fe := startFrontend(t, proxyConfig(headEcho(t, nil)))
	got := raw(t, fe.addr[0], "GET /a HTTP/1.1\r\nHost: x\r\nconnection: x-a\r\nConnection: X-B, close\r\nX-A: 1\r\nx-b: 2\r\nX-C: 3\r\n\r\n")
	if strings.Contains(got, "X-A") || strings.Contains(got, "x-b") || !strings.Contains(got, "X-C: 3") {
		t.Errorf("fields named by Connection in two lines and spellings: %q", got)
	}
	// More hop-by-hop lines than the frontend keeps names of: the rest go
	// too.
	got = raw(t, fe.addr[0], "GET /a HTTP/1.1\r\nHost: x\r\n"+strings.Repeat("Te: trailers\r\nte: trailers\r\nTE: x\r\nTe: y\r\n", 5)+
		"te: z\r\nTE: w\r\nProxy-Authorization: Basic x\r\nUpgrade: websocket\r\nKeep-Alive: 5\r\nX-C: 3\r\nConnection: close\r\n\r\n")
	_, seen, _ := strings.Cut(got, "\r\n\r\n") // what the upstream got, without the frontend's head
	for _, gone := range []string{"\nTe:", "\nte:", "\nTE:", "Proxy-Authorization", "Upgrade", "Keep-Alive"} {
		if strings.Contains(seen, gone) || !strings.Contains(seen, "X-C: 3") {
			t.Errorf("%s reached the upstream past many hop-by-hop lines: %q", gone, got)
		}
	}

	big := strings.Repeat("z", 2<<20)
	up := keepAlive(t, nil, func(c net.Conn, req *http.Request) bool {
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nconnection: x-internal\r\nConnection: Content-Length, Host\r\nX-Internal: 1\r\nx-internal: 2\r\nContent-Length: %d\r\n\r\n%s", len(big), big)
		return true
	})
	fe = startFrontend(t, proxyConfig(up))
	resp, body := get(t, fe.url("/big"))
	if len(body) != len(big) || resp.ContentLength != int64(len(big)) {
		t.Errorf("an answer whose Connection names Content-Length: %d bytes, length %d", len(body), resp.ContentLength)
	}
	if v := resp.Header.Values("X-Internal"); len(v) > 0 {
		t.Errorf("fields named by the answer's Connection reached the client: %q", v)
	}
}

// TestResponseFraming: the client is answered in HTTP/1.1 whatever the
// upstream spoke; an HTTP/1.0 answer's connection is not used again (its
// framing cannot be trusted: here a Transfer-Encoding beside a
// Content-Length, which fasthttp ignores in HTTP/1.0); field names that
// are not tokens do not reach the client.
func TestResponseFraming(t *testing.T) {
	var conns atomic.Int32
	up := keepAlive(t, func() { conns.Add(1) }, func(c net.Conn, req *http.Request) bool {
		switch req.URL.Path {
		case "/10":
			io.WriteString(c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc")
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED")
		case "/bad-name":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nServer: waitress\r\nX Bad: 1\r\nX-Good: 1\r\nContent-Length: 2\r\n\r\nok")
		default:
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
		}
		return true
	})
	cfg := proxyConfig(up)
	u := cfg.Upstreams["zope"]
	u.MaxConns = 1
	cfg.Upstreams["zope"] = u
	fe := startFrontend(t, cfg)

	got := raw(t, fe.addr[0], "GET /10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\nabc") {
		t.Errorf("an HTTP/1.0 answer: %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	if resp, body := get(t, fe.url("/next")); resp.StatusCode != 200 || body != "/next" {
		t.Errorf("after an HTTP/1.0 answer the next request got %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections; want the HTTP/1.0 answer's closed", n)
	}
	resp, body := get(t, fe.url("/bad-name"))
	if body != "ok" || resp.Header.Get("X-Good") != "1" || strings.Contains(fmt.Sprint(resp.Header), "Bad") {
		t.Errorf("an answer with a field name that is not a token: %v %q", resp.Header, body)
	}
	if s := resp.Header.Values("Server"); len(s) != 1 || s[0] != "cairn" {
		t.Errorf("Server %q; want the frontend's own, not the upstream's", s)
	}
}

// TestHeadsNotLogged: a malformed head is not quoted in the log, from an
// upstream (its Set-Cookie may carry a session) or from a client (its
// cookies).
func TestHeadsNotLogged(t *testing.T) {
	up := rawUpstream(t, "HTTP/1.1 200 OK\r\nSet-Cookie: __ac=UPSTREAMSECRET\r\nContent-Length: x\r\n\r\n")
	var log logBuffer
	fe := startFrontendLogging(t, proxyConfig(up), log.logger())
	if resp, _ := get(t, fe.url("/")); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a malformed answer: %d, want 502", resp.StatusCode)
	}
	// A malformed second request on a connection (the first is answered
	// and closed without a log line).
	raw(t, fe.addr[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nCookie: __ac=CLIENTSECRET\r\nBad Line\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	if out := log.String(); strings.Contains(out, "SECRET") || !strings.Contains(out, "upstream failed") {
		t.Errorf("the log quotes a head, or says nothing of the failure:\n%s", out)
	}
}
