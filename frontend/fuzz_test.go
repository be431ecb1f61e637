package frontend

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// requestCtx builds a request context from raw header lines, as the server
// would after parsing them.
func requestCtx(t testing.TB, headers map[string]string) *fasthttp.RequestCtx {
	// Init resets the context's request before copying req into it: req
	// must be another (built in ctx.Request itself, it came out empty, and
	// the fuzz targets that use this saw no header at all).
	var req fasthttp.Request
	req.SetRequestURI("/x")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	for k, v := range headers {
		if got := string(ctx.Request.Header.Peek(k)); got != v {
			// fasthttp cleaned it (a CR or LF): no client sends this.
			t.Skipf("%s %q reads back as %q", k, v, got)
		}
	}
	return &ctx
}

// FuzzByteRange checks the Range parser: any header gives the whole file,
// a range inside it, or 416 — never a range outside the file.
func FuzzByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-5", "bytes=7-", "bytes=9-3", "bytes=0-1,3-4", "bytes=--1",
		"bytes=99999999999999999999-", "bytes= 1 - 2", "bytes=-0"} {
		f.Add(s, int64(13))
	}
	f.Add("bytes=-5", int64(0)) // an empty file
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 { // math.MinInt64
			return
		}
		ctx := requestCtx(t, map[string]string{"Range": header})
		start, length, status := byteRange(ctx, size, `"e"`, time.Unix(0, 0))
		switch status {
		case fasthttp.StatusOK:
			if start != 0 || length != size {
				t.Fatalf("200 with %d+%d of %d", start, length, size)
			}
		case fasthttp.StatusPartialContent:
			if start < 0 || length <= 0 || start+length > size {
				t.Fatalf("206 %d+%d of %d for %q", start, length, size, header)
			}
		case fasthttp.StatusRequestedRangeNotSatisfiable:
		default:
			t.Fatalf("status %d", status)
		}
	})
}

// FuzzAcceptEncoding checks that only br, gzip or nothing is chosen.
func FuzzAcceptEncoding(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=0, gzip;q=0.5", "*", "gzip;q=abc", "BR", ";;,,", "gzip;q=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		switch got := acceptedEncoding([]byte(h)); got {
		case "", "br", "gzip":
		default:
			t.Fatalf("chose %q for %q", got, h)
		}
	})
}

// FuzzClientIP checks X-Forwarded-For handling from a trusted peer: the
// result is the peer or an address from the header, never garbage.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4, 10.0.0.1", ", ,", "::1, fe80::1%eth0", "999.1.1.1", "1.2.3.4,"} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string) {
		if strings.ContainsAny(xff, "\r\n\x00") {
			return
		}
		ctx := requestCtx(t, map[string]string{"X-Forwarded-For": xff})
		ip, fromTrusted := clientIP(ctx, peerAddr(ctx), trusted)
		if !fromTrusted || !ip.IsValid() {
			t.Fatalf("clientIP(%q) = %v, %v", xff, ip, fromTrusted)
		}
	})
}

// FuzzValidHost checks that a host accepted for the VHM path cannot add
// path segments or break the request line.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:8080", "[::1]:80", "a/b", "a b", "a%2fb", "", "é.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if validHost([]byte(host)) && strings.ContainsAny(host, "/?#% \t\r\n\x00\\@") {
			t.Fatalf("validHost(%q) accepted a path or control byte", host)
		}
	})
}

// FuzzVHMPath checks that the rewritten path is one request-line token:
// no spaces, control bytes or '?', that it keeps the VHM markers, and that
// it is what building it whole with net/url gives (referenceVHMPath).
func FuzzVHMPath(f *testing.F) {
	for _, s := range []string{"/", "/a b", "/zmi-admin/manage", "/%00", "/?x", "/..", "/ü", "*", "zmi-admin"} {
		f.Add(s, "Plone", "example.com", 8080)
	}
	f.Add("/x", "/a/b c/", "[::1]", 80)
	f.Add("/x", "", "", -1)
	f.Fuzz(func(t *testing.T, path, site, host string, port int) {
		z := &Zope{Site: site, Base: "/zmi-admin"}
		got := string(newVHM(z).appendPath(nil, "http", []byte(host), port, path))
		if strings.ContainsAny(got, " ?#\r\n\x00\t") {
			t.Fatalf("vhm path (%q, %q, %q) = %q has a forbidden byte", path, site, host, got)
		}
		if !strings.HasPrefix(got, "/VirtualHostBase/http/") || !strings.Contains(got, "/VirtualHostRoot/_vh_zmi-admin") {
			t.Fatalf("markers lost: %q", got)
		}
		if want := referenceVHMPath(z, "http", host, port, path); got != want {
			t.Fatalf("vhm path (%q, %q, %q, %d) = %q; want %q", path, site, host, port, got, want)
		}
		// The same host and port from the configuration instead.
		z = &Zope{Site: site, Host: host, Port: port}
		got = string(newVHM(z).appendPath(nil, "https", []byte("public.example"), 443, path))
		if want := referenceVHMPath(z, "https", "public.example", 443, path); got != want {
			t.Fatalf("vhm path with Host %q, Port %d = %q; want %q", host, port, got, want)
		}
	})
}

// referenceVHMPath builds the VHM path whole with net/url, as the frontend
// did before vhm kept the constant part; the fast path must match it.
func referenceVHMPath(z *Zope, scheme, host string, port int, path string) string {
	if z.Host != "" {
		host = z.Host
	}
	if z.Port != 0 {
		port = z.Port
	}
	var b strings.Builder
	b.WriteString("/VirtualHostBase/")
	b.WriteString(scheme)
	b.WriteByte('/')
	b.WriteString(escapePath(net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))))
	if site := strings.Trim(z.Site, "/"); site != "" {
		b.WriteByte('/')
		b.WriteString(escapePath(site))
	}
	b.WriteString("/VirtualHostRoot")
	if z.Base != "" {
		for _, seg := range strings.Split(strings.Trim(z.Base, "/"), "/") {
			b.WriteString("/_vh_")
			b.WriteString(escapePath(seg))
		}
		path = strings.TrimPrefix(path, z.Base)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	b.WriteString(escapePath(path))
	return b.String()
}

// TestPathSafe checks the bytes appendEscapedPath copies unescaped against
// net/url's escaping.
func TestPathSafe(t *testing.T) {
	for c := range 256 {
		if s := string(rune(c)); c < 0x80 && pathSafe(byte(c)) && escapePath(s) != s {
			t.Errorf("pathSafe(%q) but net/url escapes it as %q", s, escapePath(s))
		}
	}
	for _, p := range []string{"/a b", "/ü", "/%", "/a?b", "*", "/x#y", "/;,=@+$&:~"} {
		if got, want := string(appendEscapedPath(nil, p)), escapePath(p); got != want {
			t.Errorf("appendEscapedPath(%q) = %q; want %q", p, got, want)
		}
	}
}

// FuzzPublicHost checks that the allocation-free Host parsing agrees with
// publicHostPort.
func FuzzPublicHost(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:8080", "example.com:", ":80", "[::1]:80", "::1", "a:b",
		"a:1:2", "a:0080", "a:99999999999", "a:-1", "A.Example.COM:443", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !validHost([]byte(host)) {
			return
		}
		ctx := requestCtx(t, nil)
		ctx.Request.Header.SetHost(host)
		ctx.Request.SetRequestURI("/x") // parse the URI again, with this Host
		for _, scheme := range []string{"http", "https"} {
			wantHost, wantPort := publicHostPort(ctx, scheme)
			gotHost, gotPort := publicHost(ctx, scheme)
			if string(gotHost) != wantHost || gotPort != wantPort {
				t.Fatalf("publicHost(%q, %s) = %q, %d; want %q, %d", host, scheme, gotHost, gotPort, wantHost, wantPort)
			}
		}
	})
}

// FuzzAppendEscaped checks the access log's escaping against its
// definition, one byte at a time.
func FuzzAppendEscaped(f *testing.F) {
	for _, s := range []string{"", "GET / HTTP/1.1", "evil\"agent\\ \xc3\xa9", "\x00\x7f\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var want []byte
		for _, c := range []byte(v) {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				want = append(want, []byte(fmt.Sprintf(`\x%02X`, c))...)
			} else {
				want = append(want, c)
			}
		}
		if got := appendEscaped([]byte("x"), []byte(v)); string(got) != "x"+string(want) {
			t.Fatalf("appendEscaped(%q) = %q; want %q", v, got[1:], want)
		}
	})
}

// FuzzReadResponse feeds arbitrary bytes as an upstream's answer: reading
// the head and then the body (whole or streamed, chunked included) never
// panics, a head that fails is taken for no answer at all (which makes the
// request safe to send again) only when nothing but line ends came, a body
// read whole has its Content-Length, and a streamed one never gives more
// than its Content-Length.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\nshort"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp fasthttp.Response
		br := bufio.NewReader(bytes.NewReader(data))
		answered, err := readHead(&resp, br)
		if err != nil {
			if !answered && len(data) > 0 && !bytes.Equal(bytes.TrimLeft(data, "\r\n"), nil) {
				t.Fatalf("%d bytes of an answer taken for none (%v)", len(data), err)
			}
			return
		}
		body, _, err := readBody(&resp, br, len(data)%2 == 0)
		if err != nil {
			return
		}
		if body == nil {
			if n := resp.Header.ContentLength(); n >= 0 && len(resp.Body()) != n && !resp.SkipBody && resp.StatusCode() >= 200 &&
				resp.StatusCode() != 204 && resp.StatusCode() != 304 {
				t.Fatalf("body of %d bytes read whole under Content-Length %d", len(resp.Body()), n)
			}
			return
		}
		got, _ := io.ReadAll(body)
		if body.size >= 0 && len(got) > body.size {
			t.Fatalf("streamed %d bytes under Content-Length %d", len(got), body.size)
		}
	})
}

// FuzzTakeBody feeds a request body, framed by Content-Length or chunked
// however the fuzzer likes, through fasthttp's streaming reader and
// takeBody, with a small memory buffer and limit: what would go upstream is
// exactly the body Go's own reader finds in the same bytes, or nothing
// (an error, or ErrBodyTooLarge when the body is over the limit).
func FuzzTakeBody(f *testing.F) {
	f.Add(true, []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add(true, []byte("3\r\nabc\r\n3;ext=1\r\ndef\r\n0\r\nX-Sum: 1\r\n\r\n"))
	f.Add(true, []byte("40\r\n"+strings.Repeat("a", 64)+"\r\n0\r\n\r\n"))
	f.Add(true, []byte("zz\r\n"))
	f.Add(false, []byte("hello"))
	f.Add(false, []byte(strings.Repeat("b", 100)))
	dir := f.TempDir()
	// A limit above the memory buffer, and one below it.
	cfgs := []*Config{{MaxBodySize: 80, BodyBufferSize: 16, BodyTempDir: dir}, {MaxBodySize: 12, BodyBufferSize: 64, BodyTempDir: dir}}
	f.Fuzz(func(t *testing.T, chunked bool, body []byte) {
		head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
		if chunked {
			head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		}
		wire := append([]byte(head), body...)
		hr, herr := http.ReadRequest(bufio.NewReader(bytes.NewReader(wire)))
		var want []byte
		if herr == nil {
			want, herr = io.ReadAll(hr.Body)
		}
		for _, cfg := range cfgs {
			var req fasthttp.Request
			br := bufio.NewReader(bytes.NewReader(wire))
			if err := req.Header.Read(br); err != nil {
				t.Fatal(err)
			}
			if err := req.ContinueReadBodyStream(br, bodyPrefetch); err != nil {
				continue // refused while prefetching
			}
			sp, err := takeBody(&req, cfg, nil)
			got := req.Body()
			if sp.file != nil {
				got, _ = io.ReadAll(io.NewSectionReader(sp.file, 0, sp.size))
				sp.close()
			}
			switch {
			case err == nil && herr != nil:
				t.Fatalf("takeBody took %q; Go's reader: %v", got, herr)
			case err == nil && !bytes.Equal(got, want):
				t.Fatalf("takeBody took %q; Go's reader %q", got, want)
			case err == nil && len(got) > int(cfg.MaxBodySize):
				t.Fatalf("%d bytes over a limit of %d", len(got), cfg.MaxBodySize)
			case errors.Is(err, fasthttp.ErrBodyTooLarge) && herr == nil && len(want) <= int(cfg.MaxBodySize):
				t.Fatalf("a body of %d bytes refused as too large", len(want))
			}
		}
	})
}

// FuzzBasicAuth checks the Authorization parser that auth_basic and the
// access log share: any header value gives a user and password that,
// encoded again, decode to themselves, or nothing.
func FuzzBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "basic Og==", "Basic", "Basic !!!", "Bearer x", "BASIC YTpiOmM="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		user, pass, ok := parseBasicAuth([]byte(h))
		if !ok {
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("parseBasicAuth(%q): user %q holds a colon", h, user)
		}
		again := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
		if u, p, ok := parseBasicAuth([]byte(again)); !ok || u != user || p != pass {
			t.Fatalf("parseBasicAuth(%q) = %q, %q; encoded again: %q, %q, %v", h, user, pass, u, p, ok)
		}
	})
}

// FuzzConfig runs a site file's [frontend] section through decoding and
// validation: any input is refused with an error naming where, or accepted,
// and an accepted one always builds its router (routes, upstream pools,
// static roots, metrics labels) without a panic.
func FuzzConfig(f *testing.F) {
	site, err := os.ReadFile("../site.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(site)
	f.Add([]byte(`[frontend]
trusted_proxies = ["10.0.0.0/8", "::1"]
error_pages = { "502" = "testdata/fuzz/FuzzBasicAuth/../../../doc.go" }
[frontend.upstreams.z]
addrs = ["127.0.0.1:1", "[::1]:2"]
fail_timeout = "1s"
[[frontend.hosts]]
names = ["a.example", "*.b.example"]
headers = { "X-A" = "1" }
[[frontend.hosts.routes]]
regex = '^/(a|b)/(.*)$'
redirect = "https://x/$2{uri}"
redirect_code = 301
[[frontend.hosts.routes]]
path = "/s/"
static = "testdata"
expires = "1h"
expires_modified = true
deny = ["192.0.2.0/24"]
[[frontend.hosts.routes]]
path = "/"
proxy = "z"
zope = { site = "Plone", base = "/x", host = "h", port = 8080 }
headers = { "Strict-Transport-Security" = "max-age=1" }
`))
	f.Add([]byte("[frontend]\nmax_body_size = \"-1\"\n[[frontend.hosts]]\n[[frontend.hosts.routes]]\npath = \"x\"\nrespond = \"\"\nstatus = 1000\n"))
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var site sitefile.Site
		cfg := NewConfig()
		doc, err := sitefile.Decode("site.toml", data, "frontend", &site, cfg)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty decoding error")
			}
			return
		}
		cfg.BodyTempDir = tmp // Validate makes a file there
		if err := cfg.Validate(site); err != nil {
			if located := doc.Locate(err); located == nil || located.Error() == "" {
				t.Fatalf("validation error %v located as %v", err, located)
			}
			return
		}
		rt, err := newRouter(cfg, newMetrics(prometheus.NewRegistry(), func() float64 { return 0 }), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("valid configuration without a router: %v", err)
		}
		rt.close()
	})
}

// FuzzLaneRequest holds the event loops' request parser to fasthttp's: a
// head the loops take is one fasthttp reads alike (method, target, Host,
// no body, keep-alive or not), and the fields forwarded are whole lines
// without a line break inside.
func FuzzLaneRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /a/b?c=d HTTP/1.1\r\nHost: example.com:8000\r\nConnection: close\r\nUser-Agent: u\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\nReferer: r\r\nAuthorization: Basic dTpw\r\n\r\nGET /y",
		"GET /x HTTP/1.1\nHost: x\n\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\n X: folded\r\n\r\n",
		"GET /%2e%2e/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r laneRequest
		n := parseLaneRequest(b, &r, 100)
		if n <= 0 {
			return
		}
		if n > len(b) || !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) {
			t.Fatalf("head length %d of %q", n, b)
		}
		var h fasthttp.RequestHeader
		h.DisableNormalizing()
		if err := h.Read(bufio.NewReader(bytes.NewReader(b[:n]))); err != nil {
			t.Fatalf("the loops take a head fasthttp refuses: %q: %v", b[:n], err)
		}
		if string(h.Method()) != string(r.method) || string(h.RequestURI()) != string(r.target) ||
			string(h.Host()) != string(r.host) || (h.ContentLength() != 0 && h.ContentLength() != -2) || h.ConnectionClose() != r.close ||
			!h.IsHTTP11() || r.head != h.IsHead() {
			t.Fatalf("read otherwise by fasthttp: %q: method %q uri %q host %q length %d close %v",
				b[:n], h.Method(), h.RequestURI(), h.Host(), h.ContentLength(), h.ConnectionClose())
		}
		var uri fasthttp.URI
		uri.SetPathBytes(r.path)
		if string(uri.Path()) != string(r.path) {
			t.Fatalf("path %q is %q once fasthttp normalizes it", r.path, uri.Path())
		}
		for line := range bytes.SplitSeq(bytes.TrimSuffix(r.fields, []byte("\r\n")), []byte("\r\n")) {
			if bytes.ContainsAny(line, "\r\n") || bytes.IndexByte(line, ':') <= 0 {
				t.Fatalf("forwarded line %q", line)
			}
		}
	})
}
