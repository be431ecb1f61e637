package frontend_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// TestAddedHeaders: a host's headers are set on the responses of its
// routes, a route's own replace them, an upstream's field of the same name
// is replaced, and error answers get none (as nginx's add_header without
// "always").
func TestAddedHeaders(t *testing.T) {
	up := proctest.RawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if n, _ := c.Read(buf); strings.Contains(string(buf[:n]), "/gone") {
			c.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nX-Frame-Options: DENY\r\nx-robots-tag: all\r\nX-Robots-Tag: index\r\nContent-Length: 2\r\n\r\nok"))
	})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := proxyConfig(up)
	cfg.Hosts[0].Headers = map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Frame-Options": "SAMEORIGIN"}
	cfg.Hosts[0].Routes = []frontend.Route{
		{Path: "/static/", Static: dir},
		{Path: "/api/", Proxy: "zope", Headers: map[string]string{"X-Robots-Tag": "noindex"}},
		{Path: "/lower/", Proxy: "zope", Headers: map[string]string{"x-frame-options": "SAMEORIGIN"}},
		{Path: "/", Proxy: "zope"},
	}
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		path   string
		status int
		want   map[string]string
	}{
		{"/page", 200, map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Frame-Options": "SAMEORIGIN", "X-Robots-Tag": "all,index"}},
		// Every field of the name goes, whatever its spelling.
		{"/lower/x", 200, map[string]string{"X-Frame-Options": "SAMEORIGIN"}},
		{"/static/a.txt", 200, map[string]string{"Strict-Transport-Security": "max-age=31536000", "X-Frame-Options": "SAMEORIGIN"}},
		{"/api/x", 200, map[string]string{"X-Robots-Tag": "noindex", "Strict-Transport-Security": "", "X-Frame-Options": "DENY"}},
		{"/gone", 404, map[string]string{"Strict-Transport-Security": ""}},
		{"/static/missing", 404, map[string]string{"Strict-Transport-Security": ""}},
	} {
		resp, _ := get(t, fe.url(tc.path))
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d; want %d", tc.path, resp.StatusCode, tc.status)
		}
		for k, v := range tc.want {
			if got := resp.Header.Values(k); strings.Join(got, ",") != v {
				t.Errorf("%s: %s = %q; want %q", tc.path, k, got, v)
			}
		}
	}
}

// TestAddedHeadersChecked: names that are not tokens, values that would
// break the header, and fields the frontend owns are refused.
func TestAddedHeadersChecked(t *testing.T) {
	for _, h := range []map[string]string{
		{"Bad Name": "x"},
		{"X-A": "one\r\nX-B: two"},
		{"Content-Length": "5"},
		{"Connection": "close"},
		{"content-encoding": "gzip"},
		{"Set-Cookie": "a=b"},
		{"Content-Type": "text/plain"},
	} {
		cfg := proxyConfig("127.0.0.1:1")
		cfg.Hosts[0].Routes[0].Headers = h
		if err := cfg.Validate(sitefile.Site{}); err == nil || !strings.Contains(err.Error(), "headers") {
			t.Errorf("headers %q: %v; want refused", h, err)
		}
	}
}
