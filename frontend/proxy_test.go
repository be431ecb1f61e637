package frontend_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
)

type echoed struct {
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	Body    int               `json:"body_bytes"`
}

// echoFrom decodes the origin's /echo answer from resp and closes it.
func echoFrom(t *testing.T, resp *http.Response) echoed {
	t.Helper()
	defer resp.Body.Close()
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("echo body %q: %v", body, err)
	}
	return e
}

func TestProxyForwardingHeaders(t *testing.T) {
	fe := startFrontend(t, proxyConfig(startOrigin(t, "i1")))
	resp, body := get(t, fe.url("/echo?a=1"), "Host", "www.example.com",
		"X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e := decodeEcho(t, body)
	want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http", "Host": "www.example.com"}
	for k, v := range want {
		if e.Headers[k] != v {
			t.Errorf("%s = %q; want %q (untrusted client headers must be replaced)", k, e.Headers[k], v)
		}
	}
	if _, ok := e.Headers["X-Forwarded-Host"]; ok {
		t.Errorf("X-Forwarded-Host from an untrusted client was passed on")
	}
	if e.URI != "/echo?a=1" {
		t.Errorf("uri %q", e.URI)
	}
}

func TestProxyTrustedProxy(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.TrustedProxies = []string{"127.0.0.0/8", "10.0.0.0/8"}
	fe := startFrontend(t, cfg)
	_, body := get(t, fe.url("/echo"), "X-Forwarded-For", "203.0.113.9, 10.1.1.1", "X-Forwarded-Proto", "https")
	e := decodeEcho(t, body)
	if got, want := e.Headers["X-Forwarded-For"], "203.0.113.9, 10.1.1.1, 127.0.0.1"; got != want {
		t.Errorf("X-Forwarded-For = %q; want %q", got, want)
	}
	if got := e.Headers["X-Real-Ip"]; got != "203.0.113.9" {
		t.Errorf("X-Real-IP = %q; want the last untrusted address", got)
	}
	if got := e.Headers["X-Forwarded-Proto"]; got != "https" {
		t.Errorf("X-Forwarded-Proto = %q; want the trusted proxy's", got)
	}
}

func TestProxyHopByHopHeaders(t *testing.T) {
	fe := startFrontend(t, proxyConfig(startOrigin(t, "i1")))
	_, body := get(t, fe.url("/echo"), "Connection", "keep-alive, X-Secret", "X-Secret", "1", "Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic x", "Te", "trailers", "Upgrade", "websocket")
	e := decodeEcho(t, body)
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Te", "Upgrade"} {
		if _, ok := e.Headers[h]; ok {
			t.Errorf("hop-by-hop header %s reached the upstream", h)
		}
	}
}

func TestProxyResponseHopByHop(t *testing.T) {
	// An upstream that sends hop-by-hop headers and Connection: close.
	up := rawUpstream(t, "HTTP/1.1 200 OK\r\nConnection: close, X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok")
	fe := startFrontend(t, proxyConfig(up))
	resp, body := get(t, fe.url("/"))
	if body != "ok" {
		t.Fatalf("body %q", body)
	}
	for _, h := range []string{"X-Internal", "Keep-Alive"} {
		if resp.Header.Get(h) != "" {
			t.Errorf("response hop-by-hop header %s passed to the client", h)
		}
	}
	if resp.Close {
		t.Errorf("upstream's Connection: close leaked to the client connection")
	}
}

func TestZopeVirtualHostMonster(t *testing.T) {
	o := startOrigin(t, "i1")
	cfg := frontend.NewConfig()
	cfg.Upstreams = map[string]frontend.Upstream{"zope": {Addrs: []string{o}}, "debug": {Addrs: []string{o}}}
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Path: "/zmi-admin/", Proxy: "debug", Zope: &frontend.Zope{Base: "/zmi-admin"}},
		{Path: "/", Proxy: "zope", Zope: &frontend.Zope{Site: "Plone"}},
	}}}
	fe := startFrontend(t, cfg)
	for _, tc := range []struct{ host, path, want string }{
		{"www.example.com", "/echo", "/VirtualHostBase/http/www.example.com:80/Plone/VirtualHostRoot/echo"},
		{"www.example.com:8080", "/news/item?x=1", "/VirtualHostBase/http/www.example.com:8080/Plone/VirtualHostRoot/news/item?x=1"},
		{"www.example.com", "/a%20b", "/VirtualHostBase/http/www.example.com:80/Plone/VirtualHostRoot/a%20b"},
		{"www.example.com", "/zmi-admin/manage_main", "/VirtualHostBase/http/www.example.com:80/VirtualHostRoot/_vh_zmi-admin/manage_main"},
		{"www.example.com", "/zmi-admin/../etc", "/VirtualHostBase/http/www.example.com:80/Plone/VirtualHostRoot/etc"},
	} {
		_, body := get(t, fe.url(tc.path), "Host", tc.host)
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s%s reached Zope as %q; want %q", tc.host, tc.path, body, tc.want)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A dead address: nothing listens there.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	// A hung upstream: accepts and never answers.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// A resetting upstream: reads the request and closes at once.
	reset, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer reset.Close()
	go func() {
		for {
			c, err := reset.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
		}
	}()
	page := t.TempDir() + "/502.html"
	writeFile(t, page, "<h1>We'll be right back</h1>")
	cfg := frontend.NewConfig()
	cfg.ErrorPages = map[string]string{"502": page}
	cfg.Upstreams = map[string]frontend.Upstream{
		"dead":  {Addrs: []string{deadAddr}},
		"hung":  {Addrs: []string{hung.Addr().String()}, ReadTimeout: sitefile.Dur(300 * time.Millisecond)},
		"reset": {Addrs: []string{reset.Addr().String()}},
		"good":  {Addrs: []string{deadAddr, startOrigin(t, "i1")}}, // failover past the dead one
	}
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Path: "/dead", Proxy: "dead"}, {Path: "/hung", Proxy: "hung"}, {Path: "/reset", Proxy: "reset"}, {Path: "/", Proxy: "good"},
	}}}
	fe := startFrontend(t, cfg)

	start := time.Now()
	resp, body := get(t, fe.url("/dead"))
	if resp.StatusCode != 502 || !strings.Contains(body, "right back") {
		t.Errorf("dead upstream: %d %q; want 502 with the custom page", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("dead upstream took %v; want an immediate 502", d)
	}
	start = time.Now()
	resp, _ = get(t, fe.url("/hung"))
	if resp.StatusCode != 504 {
		t.Errorf("hung upstream: %d; want 504", resp.StatusCode)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("hung upstream answered after %v, before its timeout", d)
	}
	resp, _ = get(t, fe.url("/reset"))
	if resp.StatusCode != 502 {
		t.Errorf("resetting upstream: %d; want 502", resp.StatusCode)
	}
	for range 4 {
		resp, _ = get(t, fe.url("/bytes?n=10"))
		if resp.StatusCode != 200 {
			t.Errorf("after failures, a healthy route gave %d", resp.StatusCode)
		}
	}
}

// rawUpstream answers every request with resp, whatever it asked.
func rawUpstream(t *testing.T, resp string) string {
	t.Helper()
	return proctest.RawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
		}
	})
}

func TestNeverCompressTwice(t *testing.T) {
	body := strings.Repeat("already encoded ", 200)
	up := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	fe := startFrontend(t, proxyConfig(up))
	resp, got := get(t, fe.url("/"), "Accept-Encoding", "br, gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || got != body {
		t.Errorf("an encoded upstream answer was changed: %q, %d bytes", resp.Header.Get("Content-Encoding"), len(got))
	}
}

// TestCompressZopeSpellings: Zope writes "Etag" (and an upstream may write
// "vary" in lower case); header names are not normalized, so a compressed
// answer must still weaken the validator, in whatever spelling, and list
// Accept-Encoding in the one Vary it has. A client refusing with "Q=0"
// (q in upper case) gets no encoding.
func TestCompressZopeSpellings(t *testing.T) {
	body := strings.Repeat("<p>Plone page</p>\n", 200)
	up := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: text/html;charset=utf-8\r\nEtag: \"ts123\"\r\nvary: Cookie\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body)
	fe := startFrontend(t, proxyConfig(up))
	got := raw(t, fe.addr[0], "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
	head, _, _ := strings.Cut(got, "\r\n\r\n")
	lower := strings.ToLower(head)
	if !strings.Contains(lower, "content-encoding: gzip") {
		t.Fatalf("not compressed: %q", head)
	}
	if strings.Count(lower, "\r\netag:") != 1 || !strings.Contains(head, `W/"ts123"`) {
		t.Errorf("the compressed answer's validator: %q; want one weak W/\"ts123\"", head)
	}
	if strings.Count(lower, "\r\nvary:") != 1 || !strings.Contains(lower, "vary: cookie, accept-encoding") {
		t.Errorf("Vary: %q; want one field listing Cookie and Accept-Encoding", head)
	}
	resp, _ := get(t, fe.url("/"), "Accept-Encoding", "gzip;Q=0")
	if enc := resp.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("gzip;Q=0 got Content-Encoding %q", enc)
	}
	if et := resp.Header.Get("Etag"); et != `"ts123"` {
		t.Errorf("the uncompressed answer's validator %q; want it unchanged", et)
	}
}

func TestConnectionCloseListingAField(t *testing.T) {
	fe := startFrontend(t, proxyConfig(startOrigin(t, "i1")))
	got := raw(t, fe.addr[0], "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n")
	if strings.Contains(got, "X-Secret") || !strings.Contains(got, `"uri":"/echo"`) {
		t.Errorf("a field named by Connection: close reached the upstream: %q", got)
	}
}

// TestProxyForwardingHeadersAnySpelling: header names are not normalized,
// so a client's forwarding fields in other spellings, or repeated, must be
// removed as surely as the canonical ones (style.md §12.7). The request
// is sent and received as raw bytes: net/http would normalize the names.
func TestProxyForwardingHeadersAnySpelling(t *testing.T) {
	seen := make(chan string, 1)
	up := proctest.RawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		r := bufio.NewReader(c)
		var b strings.Builder
		for {
			line, err := r.ReadString('\n')
			b.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		seen <- b.String()
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")) //nolint:errcheck
	})
	for _, trusted := range []bool{false, true} {
		cfg := proxyConfig(up)
		if trusted {
			cfg.TrustedProxies = []string{"127.0.0.0/8"}
		}
		fe := startFrontend(t, cfg)
		status, _, _ := strings.Cut(raw(t, fe.addr[0], "GET / HTTP/1.1\r\nHost: www.example.com\r\n"+
			"x-forwarded-host: evil\r\nX-FORWARDED-PROTO: gopher\r\nx-real-ip: 6.6.6.6\r\n"+
			"x-forwarded-for: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nX-Forwarded-For: 8.8.8.8\r\nConnection: close\r\n\r\n"), "\n")
		if !strings.Contains(status, "200") {
			t.Fatalf("trusted=%v: status %q", trusted, status)
		}
		var got string
		select {
		case got = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream saw no request")
		}
		lower := strings.ToLower(got)
		if strings.Count(lower, "x-forwarded-for:") != 1 || strings.Count(lower, "x-real-ip:") != 1 || strings.Count(lower, "x-forwarded-proto:") != 1 {
			t.Errorf("trusted=%v: forwarding fields not exactly once each:\n%s", trusted, got)
		}
		if trusted {
			if !strings.Contains(got, "X-Forwarded-For: 6.6.6.6, 7.7.7.7, 8.8.8.8, 127.0.0.1\r\n") {
				t.Errorf("trusted: the proxy's chain was not extended:\n%s", got)
			}
			continue
		}
		for _, bad := range []string{"evil", "gopher", "6.6.6.6", "7.7.7.7", "8.8.8.8"} {
			if strings.Contains(got, bad) {
				t.Errorf("untrusted: %q reached the upstream:\n%s", bad, got)
			}
		}
	}
}

// TestProxyMultipartBodyUnchanged: an upload is forwarded byte for byte;
// a parsed and re-encoded multipart body would lose the preamble.
func TestProxyMultipartBodyUnchanged(t *testing.T) {
	fe := startFrontend(t, proxyConfig(startOrigin(t, "i1")))
	body := "this preamble is ignored by parsers\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n" +
		"Content-Type: text/plain\r\n\r\n" + strings.Repeat("data ", 1000) + "\r\n--XyZ--\r\nand an epilogue\r\n"
	resp, err := http.Post(fe.url("/echo"), "multipart/form-data; boundary=XyZ", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	e := echoFrom(t, resp)
	if e.Body != len(body) {
		t.Errorf("the upstream got %d body bytes; the client sent %d", e.Body, len(body))
	}
}

// TestProxyTrustedProxyLowerCase: HAProxy writes its forwarding fields in
// lower case; from a trusted proxy they still name the client.
func TestProxyTrustedProxyLowerCase(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	fe := startFrontend(t, cfg)
	out := raw(t, fe.addr[0], "GET /echo HTTP/1.1\r\nHost: x\r\nx-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := echoFrom(t, resp)
	if e.Headers["X-Real-Ip"] != "203.0.113.7" || e.Headers["X-Forwarded-For"] != "203.0.113.7, 127.0.0.1" || e.Headers["X-Forwarded-Proto"] != "https" {
		t.Errorf("upstream saw %v", e.Headers)
	}
}

// blackHole is a loopback address that never completes a connection: a
// listener with a backlog of one that never accepts, its queue filled, so
// the kernel drops further SYNs and a connect waits out its timeout, as
// with a host that is down.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 2 { // fill the accept queue
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
		t.Skip("the kernel completed a connection to a full listener")
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Skipf("the kernel refuses connections to a full listener (%v) rather than dropping them", err)
	}
	return addr
}

// TestDeadAddressLeftOut: an address that does not take connections (a
// host that is down) costs one connect_timeout, then is left out for
// fail_timeout: the requests after it go straight to the live address.
// Once fail_timeout has passed it is tried again.
func TestDeadAddressLeftOut(t *testing.T) {
	live := startOrigin(t, "live")
	cfg := proxyConfig(blackHole(t), live)
	u := cfg.Upstreams["zope"]
	u.ConnectTimeout = sitefile.Dur(time.Second)
	u.FailTimeout = sitefile.Dur(2 * time.Second)
	cfg.Upstreams["zope"] = u
	fe := startFrontend(t, cfg)
	slow := 0
	for range 6 {
		start := time.Now()
		if resp, _ := get(t, fe.url("/bytes?n=1")); resp.StatusCode != 200 {
			t.Fatalf("status %d; want 200 from the live address", resp.StatusCode)
		}
		if time.Since(start) >= time.Second {
			slow++
		}
	}
	if slow != 1 {
		t.Errorf("%d of 6 requests waited for the dead address; want 1", slow)
	}
	time.Sleep(2100 * time.Millisecond) // fail_timeout passes
	slow = 0
	for range 2 {
		start := time.Now()
		get(t, fe.url("/bytes?n=1"))
		if time.Since(start) >= time.Second {
			slow++
		}
	}
	if slow != 1 {
		t.Errorf("after fail_timeout, %d of 2 requests tried the dead address; want 1", slow)
	}
}
