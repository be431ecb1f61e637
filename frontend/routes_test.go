package frontend_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/frontend"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVirtualHostsAndRoutes(t *testing.T) {
	cfg := frontend.NewConfig()
	cfg.Hosts = []frontend.Host{
		{Names: []string{"a.example"}, Routes: []frontend.Route{
			{Regex: `^/docs/(.*)\.txt$`, Redirect: "https://docs.example/$1", RedirectCode: 301},
			{Path: "/old", Redirect: "https://a.example/new{uri}"},
			{Path: "/teapot", Respond: strp("short and stout\n"), Status: 418},
			{Path: "/", Respond: strp("host a\n")},
		}},
		{Names: []string{"*.b.example"}, Routes: []frontend.Route{{Path: "/", Respond: strp("wildcard b\n")}}},
		{Names: []string{"c.example"}, Default: true, Routes: []frontend.Route{
			{Path: "/only/", Respond: strp("c only\n"), CacheControl: "public, max-age=60"},
		}},
	}
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		host, path string
		status     int
		body, loc  string
	}{
		{"a.example", "/", 200, "host a\n", ""},
		{"A.EXAMPLE:8000", "/x", 200, "host a\n", ""},
		{"a.example", "/teapot", 418, "short and stout\n", ""},
		{"a.example", "/docs/guide.txt", 301, "", "https://docs.example/guide"},
		{"a.example", "/old?q=1", 302, "", "https://a.example/new/old?q=1"},
		{"x.b.example", "/", 200, "wildcard b\n", ""},
		{"b.example", "/only/", 200, "c only\n", ""}, // the bare domain is not *.b.example
		{"unknown.example", "/only/x", 200, "c only\n", ""},
		{"unknown.example", "/nothing", 404, "", ""},
	} {
		resp, body := get(t, fe.url(tc.path), "Host", tc.host)
		if resp.StatusCode != tc.status || tc.body != "" && body != tc.body || resp.Header.Get("Location") != tc.loc {
			t.Errorf("%s%s: %d %q Location=%q; want %d %q %q", tc.host, tc.path, resp.StatusCode, body,
				resp.Header.Get("Location"), tc.status, tc.body, tc.loc)
		}
	}
	resp, _ := get(t, fe.url("/only/"), "Host", "c.example")
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("Cache-Control %q", got)
	}
}

// TestRedirectLocations: a Location is the public scheme and host and the
// request's path and query — also for an absolute-form request (its
// scheme and host are not repeated), an IPv6 Host (kept in brackets), and
// regex groups from an encoded path (escaped again, so that "%3F" stays
// in the path rather than starting a query).
func TestRedirectLocations(t *testing.T) {
	cfg := frontend.NewConfig()
	cfg.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0", RedirectHTTPS: true}, {Addr: "127.0.0.1:0"}}
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
		{Regex: `^/old/(.*)$`, Redirect: "https://new.example/$1", RedirectCode: 301},
		{Path: "/moved", Redirect: "https://a.example/new{uri}"},
	}}}
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		addr, req, want string
	}{
		{fe.addr[0], "GET http://one.example/a?b=c HTTP/1.1\r\nHost: one.example\r\n", "https://one.example/a?b=c"},
		{fe.addr[0], "GET /a HTTP/1.1\r\nHost: [::1]:80\r\n", "https://[::1]/a"},
		{fe.addr[0], "GET /a HTTP/1.1\r\nHost: [2001:db8::1]\r\n", "https://[2001:db8::1]/a"},
		{fe.addr[1], "GET /old/a%3Fx=1%20y HTTP/1.1\r\nHost: x\r\n", "https://new.example/a%3Fx=1%20y"},
		{fe.addr[1], "GET http://x/moved?q=1 HTTP/1.1\r\nHost: x\r\n", "https://a.example/new/moved?q=1"},
		{fe.addr[0], "GET /a%2Fb/..%2Fc?x=%2F HTTP/1.1\r\nHost: h\r\n", "https://h/a%2Fb/..%2Fc?x=%2F"}, // as sent
	} {
		got := raw(t, tc.addr, tc.req+"Connection: close\r\n\r\n")
		if !strings.Contains(got, "\r\nLocation: "+tc.want+"\r\n") {
			t.Errorf("%q: %.200q; want Location %s", tc.req, got, tc.want)
		}
	}
}

// TestRewriteGroups: a rewrite's groups come from the decoded path and go
// upstream escaped once ("%20" stays "%20", not "%2520"), with the query.
func TestRewriteGroups(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.Hosts[0].Routes = append([]frontend.Route{{Regex: `^/foo/(.*)$`, Proxy: cfg.Hosts[0].Routes[0].Proxy, Rewrite: "/x/$1/echo"}}, cfg.Hosts[0].Routes...)
	fe := startFrontend(t, cfg)
	got := raw(t, fe.addr[0], "GET /foo/a%20b%3Fc/d?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.Contains(got, `"uri":"/x/a%20b%3Fc/d/echo?q=1"`) {
		t.Errorf("rewritten: %.300q; want the uri /x/a%%20b%%3Fc/d/echo?q=1", got)
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	huge := dir + "/huge.html" // an error page is held in memory: at most 1 MiB
	if err := os.WriteFile(huge, make([]byte, 1<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		edit func(c *frontend.Config)
		key  string
	}{
		{"no hosts", func(c *frontend.Config) { c.Hosts = nil }, "hosts"},
		{"bad regex", func(c *frontend.Config) { c.Hosts[0].Routes[0] = frontend.Route{Regex: "(", Respond: strp("")} }, "hosts[0].routes[0].regex"},
		{"two kinds", func(c *frontend.Config) { c.Hosts[0].Routes[0].Respond = strp("x") }, "hosts[0].routes[0].proxy"},
		{"unknown upstream", func(c *frontend.Config) { c.Hosts[0].Routes[0].Proxy = "nope" }, "hosts[0].routes[0].proxy"},
		{"missing static", func(c *frontend.Config) {
			c.Hosts[0].Routes[0] = frontend.Route{Path: "/", Static: "/does/not/exist"}
		}, "hosts[0].routes[0].static"},
		{"bad trusted", func(c *frontend.Config) { c.TrustedProxies = []string{"nonsense"} }, "trusted_proxies[0]"},
		{"bad listener", func(c *frontend.Config) { c.Listeners = []frontend.Listener{{Addr: "nowhere"}} }, "listeners[0].addr"},
		{"half tls", func(c *frontend.Config) { c.Listeners = []frontend.Listener{{Addr: ":1", TLSCert: "x"}} }, "listeners[0].tls_key"},
		{"error page a folder", func(c *frontend.Config) { c.ErrorPages = map[string]string{"502": dir} }, "error_pages.502"},
		{"error page a device", func(c *frontend.Config) { c.ErrorPages = map[string]string{"503": "/dev/zero"} }, "error_pages.503"},
		{"error page too large", func(c *frontend.Config) { c.ErrorPages = map[string]string{"504": huge} }, "error_pages.504"},
		{"error page never shown", func(c *frontend.Config) { c.ErrorPages = map[string]string{"404": huge} }, "error_pages.404"},
		{"huge head buffer", func(c *frontend.Config) { c.MaxHeaderSize = 2 << 20 }, "max_header_size"},
		{"static cache typo", func(c *frontend.Config) { c.StaticCache = 64 << 30 }, "static_cache"},
		{"largest upload never fits", func(c *frontend.Config) { c.MaxBodySize, c.MaxBodyTempTotal = 1<<20, 1<<20-1 }, "max_body_temp_total"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxyConfig("127.0.0.1:1")
			tc.edit(cfg)
			err := cfg.Validate(siteNone)
			if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
				t.Errorf("Validate() = %v; want an error for key %s", err, tc.key)
			}
		})
	}
}

// TestProxyRouteSlashRedirect: a proxy route's prefix without its final
// slash ("/zmi-admin" for "/zmi-admin/") is redirected to it with 301, as
// nginx does, query kept, rather than taken by a later route ("/"); a
// route before it that takes the path still does.
func TestProxyRouteSlashRedirect(t *testing.T) {
	cfg := frontend.NewConfig()
	cfg.Upstreams = map[string]frontend.Upstream{"zope": {Addrs: []string{startOrigin(t, "z")}}}
	cfg.Hosts = []frontend.Host{{Default: true, Headers: map[string]string{"Strict-Transport-Security": "max-age=1"}, Routes: []frontend.Route{
		{Path: "/exact", Respond: strp("exact")},
		{Path: "/exact/", Proxy: "zope"},
		{Path: "/zmi-admin/", Proxy: "zope"},
		{Path: "/app/", Proxy: "zope"},
		{Path: "/app", Respond: strp("app")},
		{Path: "/fixed/", Respond: strp("fixed")},
		{Path: "/", Respond: strp("site")},
	}}}
	fe := startFrontend(t, cfg)
	resp, _ := get(t, fe.url("/zmi-admin?a=%20b"))
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/zmi-admin/?a=%20b" ||
		resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("/zmi-admin: %d, Location %q, headers %v", resp.StatusCode, resp.Header.Get("Location"), resp.Header)
	}
	if _, body := get(t, fe.url("/app")); body != "app" {
		t.Errorf("/app, a later route's exact path: %q", body)
	}
	if _, body := get(t, fe.url("/fixed")); body != "site" {
		t.Errorf("/fixed, a prefix of a route that is no proxy: %q", body)
	}
	if _, body := get(t, fe.url("/exact")); body != "exact" {
		t.Errorf("/exact, taken by a route before: %q", body)
	}
	if _, body := get(t, fe.url("/zmi-adminx")); body != "site" {
		t.Errorf("/zmi-adminx: %q", body)
	}
}
