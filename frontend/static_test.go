package frontend_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/sitefile"
)

// staticSite lays out a folder with files, a subfolder with an index, and
// symlinks that stay inside and that leave the folder.
func staticSite(t *testing.T) (root, secret string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "www")
	secret = filepath.Join(base, "secret.txt")
	for _, d := range []string{root, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, secret, "TOP SECRET")
	writeFile(t, filepath.Join(root, "hello.txt"), "hello, world\n")
	writeFile(t, filepath.Join(root, "style.css"), strings.Repeat("body { color: black; }\n", 200))
	writeFile(t, filepath.Join(root, "logo.png"), strings.Repeat("\x89PNG", 1000))
	writeFile(t, filepath.Join(root, "sub", "index.html"), "<h1>sub</h1>")
	for name, target := range map[string]string{"out-abs": secret, "out-rel": "../secret.txt", "in": "hello.txt"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root, secret
}

// staticConfig serves root under /static/ and /docs/, with the in-memory
// file cache on or off (the two paths a file can take).
func staticConfig(root string, cached bool) *frontend.Config {
	cfg := frontend.NewConfig()
	if !cached {
		cfg.StaticCache = 0
	}
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Path: "/static/", Static: root, Expires: sitefile.Dur(7 * 24 * time.Hour)},
		{Regex: `^/docs/(.*)$`, Static: root},
	}}}
	return cfg
}

func TestStaticFiles(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { checkStaticFiles(t, cached) })
	}
}

func checkStaticFiles(t *testing.T, cached bool) {
	root, _ := staticSite(t)
	fe := startFrontend(t, staticConfig(root, cached))

	resp, body := get(t, fe.url("/static/hello.txt"))
	if resp.StatusCode != 200 || body != "hello, world\n" {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age=604800" || resp.Header.Get("Expires") == "" {
		t.Errorf("Cache-Control %q Expires %q", cc, resp.Header.Get("Expires"))
	}
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("no validators: ETag %q Last-Modified %q", etag, lm)
	}
	if resp, _ := get(t, fe.url("/static/hello.txt"), "If-None-Match", etag); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d; want 304", resp.StatusCode)
	}
	if resp, _ := get(t, fe.url("/static/hello.txt"), "If-Modified-Since", lm); resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since: %d; want 304", resp.StatusCode)
	}
	if resp, _ := get(t, fe.url("/static/hello.txt"), "If-None-Match", `"other"`); resp.StatusCode != 200 {
		t.Errorf("stale If-None-Match: %d; want 200", resp.StatusCode)
	}
	if _, body := get(t, fe.url("/docs/sub/")); body != "<h1>sub</h1>" {
		t.Errorf("index via regex route: %q", body)
	}
	// A folder without its final slash is redirected to it, as nginx does
	// (the index page's relative links would resolve one level up), twice
	// so that the second may come from the cache; a file with one is not
	// found.
	for range 2 {
		for path, want := range map[string]string{
			"/static/sub":        "HTTP/1.1 301 Moved Permanently\r\n|Location: /static/sub/\r\n",
			"/docs/sub?q=a%20b":  "HTTP/1.1 301 Moved Permanently\r\n|Location: /docs/sub/?q=a%20b\r\n",
			"/static/sub/":       "HTTP/1.1 200 OK\r\n|<h1>sub</h1>",
			"/static/hello.txt/": "HTTP/1.1 404 Not Found\r\n",
			"/static/hello.txt":  "HTTP/1.1 200 OK\r\n",
		} {
			got := raw(t, fe.addr[0], "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			for _, w := range strings.Split(want, "|") {
				if !strings.Contains(got, w) {
					t.Errorf("GET %s: %.120q; want %q", path, got, w)
				}
			}
		}
	}
	if resp, _ := get(t, fe.url("/static/in")); resp.StatusCode != 200 {
		t.Errorf("symlink inside the root: %d; want 200", resp.StatusCode)
	}
	if ct := func() string { r, _ := get(t, fe.url("/static/logo.png")); return r.Header.Get("Content-Type") }(); ct != "image/png" {
		t.Errorf("png Content-Type %q", ct)
	}
}

func TestStaticRanges(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { checkStaticRanges(t, cached) })
	}
}

func checkStaticRanges(t *testing.T, cached bool) {
	root, _ := staticSite(t)
	fe := startFrontend(t, staticConfig(root, cached))
	for _, tc := range []struct {
		rng, body, crange string
		status            int
	}{
		{"bytes=0-4", "hello", "bytes 0-4/13", 206},
		{"bytes=7-", "world\n", "bytes 7-12/13", 206},
		{"bytes=-6", "world\n", "bytes 7-12/13", 206},
		{"bytes=7-1000", "world\n", "bytes 7-12/13", 206},
		{"bytes=100-", "", "bytes */13", 416},
		{"bytes=0-1,3-4", "hello, world\n", "", 200},
		{"chars=0-1", "hello, world\n", "", 200},
	} {
		resp, body := get(t, fe.url("/static/hello.txt"), "Range", tc.rng)
		if resp.StatusCode != tc.status || tc.status != 416 && body != tc.body || resp.Header.Get("Content-Range") != tc.crange {
			t.Errorf("Range %s: %d %q %q; want %d %q %q", tc.rng, resp.StatusCode, body, resp.Header.Get("Content-Range"),
				tc.status, tc.body, tc.crange)
		}
	}
}

func TestStaticTraversal(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { checkStaticTraversal(t, cached) })
	}
}

func checkStaticTraversal(t *testing.T, cached bool) {
	root, _ := staticSite(t)
	fe := startFrontend(t, staticConfig(root, cached))
	for _, path := range []string{
		"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/%2E%2E%2Fsecret.txt", "/static/..%2fsecret.txt",
		"/static/out-abs", "/static/out-rel", "/docs/..%2F..%2Fsecret.txt", "/static/hello.txt%00.png",
		"/static//etc/passwd", "/static/%5c..%5csecret.txt",
	} {
		got := raw(t, fe.addr[0], "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if strings.Contains(got, "TOP SECRET") || strings.Contains(got, "root:") {
			t.Errorf("%s escaped the static root: %.80q", path, got)
		}
		if strings.HasPrefix(got, "HTTP/1.1 200") {
			t.Errorf("%s: %.40q; want an error status", path, got)
		}
	}
}

func TestCompression(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) { checkCompression(t, cached) })
	}
}

func checkCompression(t *testing.T, cached bool) {
	root, _ := staticSite(t)
	cfg := staticConfig(root, cached)
	o := startOrigin(t, "i1")
	cfg.Upstreams = map[string]frontend.Upstream{"zope": {Addrs: []string{o}}}
	cfg.Hosts[0].Routes = append(cfg.Hosts[0].Routes,
		frontend.Route{Path: "/v/", Static: root, Headers: map[string]string{"Vary": "Cookie"}},
		frontend.Route{Path: "/", Proxy: "zope"})
	fe := startFrontend(t, cfg)
	css, _ := os.ReadFile(filepath.Join(root, "style.css"))
	// A Vary among a route's headers is added to the response's own, not
	// put in its place: the compressed file varies on both (twice: the
	// second comes from the cache when there is one).
	for range 2 {
		resp, _ := get(t, fe.url("/v/style.css"), "Accept-Encoding", "gzip")
		if v := resp.Header.Values("Vary"); resp.Header.Get("Content-Encoding") != "gzip" || len(v) != 1 || v[0] != "Accept-Encoding, Cookie" {
			t.Errorf("a route's Vary on a compressed file: %q, %q; want gzip and one Vary: Accept-Encoding, Cookie", resp.Header.Get("Content-Encoding"), v)
		}
	}

	for _, tc := range []struct {
		path, accept, wantEnc string
		vary                  bool
	}{
		{"/static/style.css", "gzip", "gzip", true},
		{"/static/style.css", "gzip, br", "br", true},
		{"/static/style.css", "br;q=0, gzip;q=0.5", "gzip", true},
		{"/static/style.css", "", "", true},
		{"/static/style.css", "identity", "", true},
		{"/static/hello.txt", "gzip", "", false}, // below the minimum size
		{"/static/logo.png", "gzip", "", false},  // not a text type
		{"/page", "br", "br", true},              // proxied HTML
	} {
		resp, body := get(t, fe.url(tc.path), "Accept-Encoding", tc.accept)
		if got := resp.Header.Get("Content-Encoding"); got != tc.wantEnc {
			t.Errorf("%s with %q: Content-Encoding %q; want %q", tc.path, tc.accept, got, tc.wantEnc)
			continue
		}
		if got := strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding"); got != tc.vary {
			t.Errorf("%s: Vary %q", tc.path, resp.Header.Get("Vary"))
		}
		var plain []byte
		switch tc.wantEnc {
		case "gzip":
			zr, err := gzip.NewReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ = io.ReadAll(zr)
		case "br":
			plain, _ = io.ReadAll(brotli.NewReader(strings.NewReader(body)))
		default:
			continue
		}
		if tc.path == "/static/style.css" && !bytes.Equal(plain, css) {
			t.Errorf("%s: decoded body differs from the file", tc.path)
		}
	}
	// A compressed answer offers no byte ranges (they would be of the
	// file), and a 304 carries the Vary the full answer has.
	resp, _ := get(t, fe.url("/static/style.css"), "Accept-Encoding", "gzip")
	if resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("a compressed answer offers ranges: %q", resp.Header.Get("Accept-Ranges"))
	}
	resp, _ = get(t, fe.url("/static/style.css"), "Accept-Encoding", "gzip", "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 304 || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("revalidating the compressed file: %d, Vary %q; want 304 with Vary: Accept-Encoding", resp.StatusCode, resp.Header.Get("Vary"))
	}
	// A byte range is sent as the file's bytes, not compressed.
	resp, _ = get(t, fe.url("/static/style.css"), "Accept-Encoding", "gzip", "Range", "bytes=0-99")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("range of a compressible file: %d %q; want 206 unencoded", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}

func TestStaticCacheSeesEdits(t *testing.T) {
	root, _ := staticSite(t)
	fe := startFrontend(t, staticConfig(root, true))
	if _, body := get(t, fe.url("/static/hello.txt")); body != "hello, world\n" {
		t.Fatalf("first: %q", body)
	}
	// Replaced by another file of the same size and modification second
	// (a deployment renaming a new file into place): another inode.
	fi, err := os.Stat(filepath.Join(root, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "new.txt"), "HELLO, WORLD\n")
	if err := os.Chtimes(filepath.Join(root, "new.txt"), fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "new.txt"), filepath.Join(root, "hello.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, body := get(t, fe.url("/static/hello.txt"))
		return body == "HELLO, WORLD\n"
	})
	writeFile(t, filepath.Join(root, "hello.txt"), "edited, and longer\n")
	waitFor(t, func() bool {
		_, body := get(t, fe.url("/static/hello.txt"))
		return body == "edited, and longer\n"
	})
	if err := os.Remove(filepath.Join(root, "hello.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		resp, _ := get(t, fe.url("/static/hello.txt"))
		return resp.StatusCode == http.StatusNotFound
	})
}

// TestExpiresModified: with expires_modified, Expires counts from the
// file's modification time (nginx's "expires modified +1w", as the seed
// serves munin's pages), max-age is what is left, and a file whose time
// has passed gets no-cache.
func TestExpiresModified(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "fresh.html"), "fresh")
	writeFile(t, filepath.Join(root, "stale.html"), "stale")
	fresh := time.Now().Add(-time.Hour).Truncate(time.Second)
	stale := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	for name, mod := range map[string]time.Time{"fresh.html": fresh, "stale.html": stale} {
		if err := os.Chtimes(filepath.Join(root, name), mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	cfg := frontend.NewConfig()
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Path: "/munin/", Static: root, Expires: sitefile.Dur(7 * 24 * time.Hour), ExpiresModified: true},
	}}}
	fe := startFrontend(t, cfg)
	resp, _ := get(t, fe.url("/munin/fresh.html"))
	want := fresh.Add(7 * 24 * time.Hour)
	var age int
	if _, err := fmt.Sscanf(resp.Header.Get("Cache-Control"), "max-age=%d", &age); err != nil ||
		resp.Header.Get("Expires") != want.UTC().Format(http.TimeFormat) || age > 6*24*3600+23*3600 || age < 6*24*3600+22*3600 {
		t.Errorf("fresh: Expires %q (want %q), Cache-Control %q", resp.Header.Get("Expires"), want.UTC().Format(http.TimeFormat), resp.Header.Get("Cache-Control"))
	}
	resp, _ = get(t, fe.url("/munin/stale.html"))
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" ||
		resp.Header.Get("Expires") != stale.Add(7*24*time.Hour).UTC().Format(http.TimeFormat) {
		t.Errorf("stale: Expires %q, Cache-Control %q", resp.Header.Get("Expires"), cc)
	}
	bad := frontend.NewConfig()
	bad.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Respond: strp("x"), ExpiresModified: true}}}}
	if err := bad.Validate(sitefile.Site{}); err == nil || !strings.Contains(err.Error(), "expires_modified") {
		t.Errorf("expires_modified on a fixed answer: %v", err)
	}
}
