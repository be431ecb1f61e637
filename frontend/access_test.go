package frontend_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/sitefile"
	"golang.org/x/crypto/bcrypt"
)

// htpasswdLines are users with the password "secret" in each scheme the
// frontend reads; the apr1, $6$ and {SHA} lines were made by
// `openssl passwd -apr1 -salt abcdefgh secret`, `openssl passwd -6 -salt
// saltsalt secret` and `printf secret | openssl dgst -sha1 -binary |
// base64`.
var htpasswdLines = []string{
	"# the office",
	"apr:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/",
	"sha512:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
	"sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
	"",
}

// writeHtpasswd writes htpasswdLines and a bcrypt user to a file.
func writeHtpasswd(t *testing.T, dir, bcryptUser, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "htpasswd")
	text := strings.Join(append(htpasswdLines, bcryptUser+":"+string(h)), "\n") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// guardedConfig proxies /zmi-admin/ (allowed to 10.0.0.0/8 only), /stats/
// (127.0.0.1 allowed but 127.0.0.0/8 denied: deny wins), /private/ (basic
// authentication from users) and everything else to up.
func guardedConfig(up, users string) *frontend.Config {
	cfg := proxyConfig(up)
	cfg.Hosts[0].Routes = []frontend.Route{
		{Path: "/zmi-admin/", Proxy: "zope", Allow: []string{"10.0.0.0/8"}},
		{Path: "/stats/", Proxy: "zope", Allow: []string{"127.0.0.1"}, Deny: []string{"127.0.0.0/8"}},
		{Path: "/private/", Proxy: "zope", AuthBasic: "Restricted", AuthBasicUserFile: users},
		{Path: "/", Proxy: "zope", Allow: []string{"127.0.0.1", "::1"}},
	}
	return cfg
}

// TestAllowDeny: a route's allow and deny refuse other clients with 403 —
// the client being, behind a trusted proxy, the address it forwarded —
// and a refused request never reaches the upstream.
func TestAllowDeny(t *testing.T) {
	up := startBodyUpstream(t)
	cfg := guardedConfig(up.addr, writeHtpasswd(t, t.TempDir(), "b", "secret"))
	fe := startFrontend(t, cfg)
	for _, tc := range []struct {
		path, xff string
		status    int
	}{
		{"/zmi-admin/manage", "", 403},
		{"/zmi-admin/manage", "10.1.2.3", 403}, // 127.0.0.1 is not a trusted proxy
		{"/stats/", "", 403},
		{"/page", "", 200},
	} {
		resp, _ := send(t, "GET", fe.url(tc.path), nil, "X-Forwarded-For", tc.xff)
		if resp.StatusCode != tc.status {
			t.Errorf("%s (X-Forwarded-For %q): %d; want %d", tc.path, tc.xff, resp.StatusCode, tc.status)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("the upstream had %d connections; want 1 (the one admitted request)", n)
	}

	trusted := guardedConfig(up.addr, cfg.Hosts[0].Routes[2].AuthBasicUserFile)
	trusted.TrustedProxies = []string{"127.0.0.1"}
	fe = startFrontend(t, trusted)
	for _, tc := range []struct {
		fields string // as the trusted proxy sends them
		status int
	}{
		{"X-Forwarded-For: 10.1.2.3\r\n", 200},
		{"X-Forwarded-For: 192.0.2.1\r\n", 403},
		{"X-Forwarded-For: 10.1.2.3, 192.0.2.1\r\n", 403},
		// HAProxy spells it in lower case, and adds its own line after
		// the one the client sent (forged here).
		{"x-forwarded-for: 192.0.2.1\r\n", 403},
		{"X-Forwarded-For: 10.9.9.9\r\nX-Forwarded-For: 192.0.2.1\r\n", 403},
		{"X-Forwarded-For: 10.9.9.9\r\nx-forwarded-for: 192.0.2.1\r\n", 403},
	} {
		if status := rawStatus(t, fe.addr[0], "GET /zmi-admin/manage HTTP/1.1\r\nHost: x\r\n"+tc.fields+"\r\n"); status != tc.status {
			t.Errorf("behind a trusted proxy, %q: %d; want %d", tc.fields, status, tc.status)
		}
	}
	// An IPv4 range written as IPv6 matches IPv4 clients.
	mapped := guardedConfig(up.addr, cfg.Hosts[0].Routes[2].AuthBasicUserFile)
	mapped.Hosts[0].Routes[3].Deny = []string{"::ffff:127.0.0.0/104"}
	fe = startFrontend(t, mapped)
	if resp, _ := get(t, fe.url("/page")); resp.StatusCode != 403 {
		t.Errorf("deny ::ffff:127.0.0.0/104, a client at 127.0.0.1: %d; want 403", resp.StatusCode)
	}
}

// rawStatus sends a raw request on a new connection and returns the
// answer's status.
func rawStatus(t *testing.T, addr, request string) int {
	t.Helper()
	c := dial(t, addr, 5*time.Second)
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuthBasic: a route with auth_basic answers 401 with the challenge
// without credentials, with a wrong password or an unknown user, and
// passes the request on with a right password in any of the schemes.
func TestAuthBasic(t *testing.T) {
	up := startBodyUpstream(t)
	fe := startFrontend(t, guardedConfig(up.addr, writeHtpasswd(t, t.TempDir(), "bc", "secret")))
	check := func(user, pass string, status int) {
		t.Helper()
		req, _ := http.NewRequest("POST", fe.url("/private/edit"), strings.NewReader("form=1"))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("user %q password %q: %d; want %d", user, pass, resp.StatusCode, status)
		}
		if challenge := resp.Header.Get("WWW-Authenticate"); status == 401 && challenge != `Basic realm="Restricted"` {
			t.Errorf("user %q: challenge %q", user, challenge)
		}
	}
	check("", "", 401)
	check("apr", "wrong", 401)
	check("nobody", "secret", 401)
	for _, user := range []string{"apr", "sha512", "sha", "bc"} {
		check(user, "secret", 200)
	}
	// In lower case, as a proxy that speaks HTTP/2 to clients sends it.
	if status := rawStatus(t, fe.addr[0], "GET /private/ HTTP/1.1\r\nHost: x\r\nauthorization: Basic "+
		base64.StdEncoding.EncodeToString([]byte("apr:secret"))+"\r\n\r\n"); status != 200 {
		t.Errorf("authorization in lower case: %d; want 200", status)
	}
	if got := len(up.seen); got != 5 {
		t.Errorf("the upstream got %d requests; want the 5 authenticated", got)
	}
}

// TestAuthBasicExpect: an upload announced with "Expect: 100-continue" to
// a route that refuses the client is answered 401 at once, before the body
// is sent, and the upstream never hears of it.
func TestAuthBasicExpect(t *testing.T) {
	up := startBodyUpstream(t)
	fe := startFrontend(t, guardedConfig(up.addr, writeHtpasswd(t, t.TempDir(), "bc", "secret")))
	c := dial(t, fe.addr[0], 5*time.Second)
	fmt.Fprintf(c, "PUT /private/file HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("an announced upload without credentials: %d %q; want 401 with the challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if up.conns.Load() != 0 {
		t.Error("the upstream was contacted")
	}

	// On a listener that only redirects to HTTPS, no challenge is sent
	// (it would ask for a password in clear): the upload is welcome, then
	// redirected.
	cfg := guardedConfig(up.addr, writeHtpasswd(t, t.TempDir(), "bc", "secret"))
	cfg.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0", RedirectHTTPS: true, HTTPSPort: 443}}
	fe = startFrontend(t, cfg)
	c = dial(t, fe.addr[0], 5*time.Second)
	fmt.Fprintf(c, "PUT /private/file HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "100") {
		t.Fatalf("on a redirecting listener: %q, %v; want 100 Continue", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 301 {
		t.Errorf("on a redirecting listener, then: %v, %v; want 301", resp, err)
	}
}

// TestAccessReload: the htpasswd file is read again on reload.
func TestAccessReload(t *testing.T) {
	up := startBodyUpstream(t)
	dir := t.TempDir()
	cfg := guardedConfig(up.addr, writeHtpasswd(t, dir, "bc", "old"))
	fe := startFrontend(t, cfg)
	get := func(pass string) int {
		req, _ := http.NewRequest("GET", fe.url("/private/"), nil)
		req.SetBasicAuth("bc", pass)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("old") != 200 || get("new") != 401 {
		t.Fatal("before the reload")
	}
	next := guardedConfig(up.addr, writeHtpasswd(t, dir, "bc", "new"))
	next.Listeners, next.AccessLog = cfg.Listeners, cfg.AccessLog
	if err := next.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	if err := fe.reload(next); err != nil {
		t.Fatal(err)
	}
	if get("old") != 401 || get("new") != 200 {
		t.Error("after the reload the old password still works, or the new one does not")
	}
}

// TestAccessConfigErrors: bad entries are refused with the key, and a bad
// htpasswd line with its file and line, never its hash.
func TestAccessConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("# ok\nann:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\nbob:plaintext-password\n"), 0o600)
	twice := filepath.Join(dir, "twice")
	os.WriteFile(twice, []byte("ann:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/\nann:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"), 0o600)
	for _, tc := range []struct {
		route frontend.Route
		want  string
	}{
		{frontend.Route{Path: "/", Proxy: "zope", Allow: []string{"10.0.0.0/33"}}, "allow[0]"},
		{frontend.Route{Path: "/", Proxy: "zope", Deny: []string{"nonsense"}}, "deny[0]"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: "x"}, "auth_basic"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: `a"b`, AuthBasicUserFile: bad}, "realm"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: "a\x00b", AuthBasicUserFile: bad}, "realm"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: "x", AuthBasicUserFile: twice}, twice + ":2"},
		{frontend.Route{Path: "/", Proxy: "zope", Allow: []string{"::ffff:10.0.0.0/8"}}, "allow[0]"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: "x", AuthBasicUserFile: filepath.Join(dir, "missing")}, "auth_basic_user_file"},
		{frontend.Route{Path: "/", Proxy: "zope", AuthBasic: "x", AuthBasicUserFile: bad}, bad + ":3"},
	} {
		cfg := proxyConfig("127.0.0.1:1")
		cfg.Hosts[0].Routes = []frontend.Route{tc.route}
		err := cfg.Validate(sitefile.Site{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "plaintext-password") {
			t.Errorf("%+v: %v; want an error naming %s", tc.route, err, tc.want)
		}
	}
}
