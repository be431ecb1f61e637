package frontend

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// requestCtx builds a request context from raw header lines, as the server
// would after parsing them.
func requestCtx(t testing.TB, headers map[string]string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/x")
	for k, v := range headers {
		ctx.Request.Header.Set(k, v)
	}
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	return &ctx
}

// FuzzByteRange checks the Range parser: any header gives the whole file,
// a range inside it, or 416 — never a range outside the file.
func FuzzByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-5", "bytes=7-", "bytes=9-3", "bytes=0-1,3-4", "bytes=--1",
		"bytes=99999999999999999999-", "bytes= 1 - 2", "bytes=-0"} {
		f.Add(s, int64(13))
	}
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
		ip, fromTrusted := clientIP(ctx, trusted)
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
// no spaces, control bytes or '?', and it keeps the VHM markers.
func FuzzVHMPath(f *testing.F) {
	for _, s := range []string{"/", "/a b", "/zmi-admin/manage", "/%00", "/?x", "/..", "/ü"} {
		f.Add(s, "Plone", "example.com", 8080)
	}
	f.Fuzz(func(t *testing.T, path, site, host string, port int) {
		got := vhmPath(&Zope{Site: site, Base: "/zmi-admin"}, "http", host, port, path)
		if strings.ContainsAny(got, " ?#\r\n\x00\t") {
			t.Fatalf("vhmPath(%q, %q, %q) = %q has a forbidden byte", path, site, host, got)
		}
		if !strings.HasPrefix(got, "/VirtualHostBase/http/") || !strings.Contains(got, "/VirtualHostRoot/_vh_zmi-admin") {
			t.Fatalf("markers lost: %q", got)
		}
	})
}
