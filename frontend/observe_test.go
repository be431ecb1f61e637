package frontend_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cairnstack/cairn/frontend"
	"github.com/cairnstack/cairn/internal/sitefile"
)

func TestAccessLogCombinedFormat(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.AccessLog = logPath
	fe := startFrontend(t, cfg)
	raw(t, fe.addr[0], "GET /bytes?n=42 HTTP/1.1\r\nHost: x\r\nReferer: http://ref.example/\r\n"+
		"User-Agent: evil\"agent\\ \xc3\xa9\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\nConnection: close\r\n\r\n")
	if err := fe.f.ReopenLogs(); err != nil { // flushes, then reopens
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(string(b), "\n")
	re := regexp.MustCompile(`^127\.0\.0\.1 - alice \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET /bytes\?n=42 HTTP/1\.1" 200 42 "http://ref\.example/" "evil\\x22agent\\x5C \\xC3\\xA9"$`)
	if strings.Count(line, "\n") != 0 || !re.MatchString(line) {
		t.Errorf("access log line %q is not nginx's combined format", line)
	}
}

func TestAccessLogReopen(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.AccessLog = logPath
	fe := startFrontend(t, cfg)
	get(t, fe.url("/bytes?n=1"))
	if err := fe.f.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil { // logrotate moves it
		t.Fatal(err)
	}
	if err := fe.f.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	get(t, fe.url("/bytes?n=2"))
	if err := fe.f.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(logPath + ".1")
	cur, _ := os.ReadFile(logPath)
	if !strings.Contains(string(old), "n=1") || !strings.Contains(string(cur), "n=2") || strings.Contains(string(cur), "n=1") {
		t.Errorf("after reopen: rotated %q, new %q", old, cur)
	}
}

func TestMetrics(t *testing.T) {
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.Hosts[0].Names = []string{"www.example.com"}
	fe := startFrontend(t, cfg)
	for range 3 {
		get(t, fe.url("/bytes?n=10"), "Host", "www.example.com")
	}
	get(t, fe.url("/nothing-here-but-404-from-origin-is-2xx"), "Host", "www.example.com")
	if got := counterValue(t, fe, "cairn_frontend_requests_total", map[string]string{"host": "www.example.com", "route": "/", "class": "2xx"}); got != 4 {
		t.Errorf("2xx requests = %v; want 4", got)
	}
	problems, err := testutil.GatherAndLint(fe.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(fe.reg, "cairn_frontend_upstream_duration_seconds", "cairn_frontend_open_connections",
		"cairn_frontend_sent_bytes_total", "cairn_frontend_received_bytes_total")
	if err != nil || n != 4 {
		t.Errorf("metric families present: %d, %v; want 4", n, err)
	}
}

// counterValue reads one counter series from the frontend's registry.
func counterValue(t *testing.T, fe *running, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := fe.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{cn}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return certFile, keyFile
}

func TestTLSAndRedirect(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "one.example")
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0", RedirectHTTPS: true, HTTPSPort: 8443}, {Addr: "127.0.0.1:0", TLSCert: cert, TLSKey: key}}
	cfg.Hosts[0].Routes[0].Zope = &frontend.Zope{Site: "Plone"}
	fe := startFrontend(t, cfg)

	resp, _ := get(t, "http://"+fe.addr[0]+"/a/b?c=d", "Host", "one.example")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://one.example:8443/a/b?c=d" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tlsClient := func() *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, ServerName: "one.example", MaxVersion: tls.VersionTLS13}}}
	}
	req, _ := http.NewRequest("GET", "https://"+fe.addr[1]+"/echo", nil)
	req.Host = "one.example"
	r2, err := tlsClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	e := decodeEcho(t, readAll(t, r2))
	if !strings.HasPrefix(e.URI, "/VirtualHostBase/https/one.example:443/Plone/VirtualHostRoot/echo") || e.Headers["X-Forwarded-Proto"] != "https" {
		t.Errorf("over TLS Zope saw %q proto %q", e.URI, e.Headers["X-Forwarded-Proto"])
	}
	if r2.TLS.Version < tls.VersionTLS12 || r2.TLS.PeerCertificates[0].Subject.CommonName != "one.example" {
		t.Errorf("TLS version %x cert %q", r2.TLS.Version, r2.TLS.PeerCertificates[0].Subject.CommonName)
	}
	// Old protocol versions are refused.
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + fe.addr[1] + "/"); err == nil {
		t.Errorf("a TLS 1.1 client was served")
	}

	// Reload with a new certificate: new handshakes get it.
	cert2, key2 := selfSigned(t, dir, "two.example")
	cfg2 := proxyConfig(cfg.Upstreams["zope"].Addrs...)
	cfg2.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0", RedirectHTTPS: true, HTTPSPort: 8443}, {Addr: "127.0.0.1:0", TLSCert: cert2, TLSKey: key2}}
	cfg2.AccessLog = "off"
	if err := cfg2.Validate(siteNone); err != nil {
		t.Fatal(err)
	}
	if err := fe.reload(cfg2); err != nil {
		t.Fatal(err)
	}
	r3, err := tlsClient().Get("https://" + fe.addr[1] + "/bytes?n=1")
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if cn := r3.TLS.PeerCertificates[0].Subject.CommonName; cn != "two.example" {
		t.Errorf("after reload the certificate is %q", cn)
	}
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func TestReloadRoutesAndRefusals(t *testing.T) {
	cfg := frontend.NewConfig()
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Respond: strp("one\n")}}}}
	fe := startFrontend(t, cfg)
	if _, body := get(t, fe.url("/")); body != "one\n" {
		t.Fatalf("before reload: %q", body)
	}
	next := func(edit func(*frontend.Config)) *frontend.Config {
		c := frontend.NewConfig()
		c.Listeners = []frontend.Listener{{Addr: "127.0.0.1:0"}}
		c.AccessLog = "off"
		c.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/", Respond: strp("two\n")}}}}
		if edit != nil {
			edit(c)
		}
		if err := c.Validate(siteNone); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := fe.reload(next(func(c *frontend.Config) { c.Listeners[0].Addr = "127.0.0.1:1" })); err == nil {
		t.Errorf("a listener change was accepted by reload")
	}
	if err := fe.reload(next(func(c *frontend.Config) { c.MaxHeaderSize = 4 << 10 })); err == nil {
		t.Errorf("a limit change was accepted by reload")
	}
	if _, body := get(t, fe.url("/")); body != "one\n" {
		t.Errorf("a refused reload changed the routes: %q", body)
	}
	if err := fe.reload(next(nil)); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, fe.url("/")); body != "two\n" {
		t.Errorf("after reload: %q", body)
	}
}

// TestAccessLogStaticSent: a static file sent from disk is logged with the
// bytes sent — a range's, and part of a large file the client abandoned
// (it used to count whole) — and still goes with sendfile.
func TestAccessLogStaticSent(t *testing.T) {
	root := t.TempDir()
	const size = 64 << 20 // more than the socket buffers hold
	f, err := os.Create(filepath.Join(root, "big.iso"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size) // sparse: no disk written
	f.Close()
	cfg := frontend.NewConfig()
	cfg.StaticCache = 0
	cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/files/", Static: root}}}}
	fe := startFrontend(t, cfg)
	if resp, body := get(t, fe.url("/files/big.iso"), "Range", "bytes=1000-1999"); resp.StatusCode != 206 || len(body) != 1000 {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	abandon(t, fe.addr[0], "/files/big.iso", 1<<20)
	got := logLines(t, fe, cfg.AccessLog, 2)
	if f := strings.Fields(got[0]); f[8] != "206" || f[9] != "1000" {
		t.Errorf("range logged as %q; want 206 and 1000 bytes", got[0])
	}
	if n, _ := strconv.Atoi(strings.Fields(got[1])[9]); n < 1<<20 || n >= size {
		t.Errorf("abandoned download logged as %q; want between %d and %d bytes", got[1], 1<<20, size)
	}
}

// TestReloadKeepsRouterInUse: a reload closes the configuration it
// replaced (static folders, file cache, idle upstream connections) only
// once no request uses it, not after a fixed time: a request to a static
// route whose body is still coming in long after the reload is answered
// from its folder, not refused.
func TestReloadKeepsRouterInUse(t *testing.T) {
	root, _ := staticSite(t)
	cfg := staticConfig(root, true)
	cfg.Grace = sitefile.Dur(time.Millisecond)
	fe := startFrontend(t, cfg)
	c := dial(t, fe.addr[0], 10*time.Second)
	fmt.Fprintf(c, "GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n%s", strings.Repeat("a", 12000))
	time.Sleep(200 * time.Millisecond) // the request is in the handler, reading the body to drop it
	root2, _ := staticSite(t)
	next := staticConfig(root2, true)
	next.Grace = cfg.Grace
	next.AccessLog = "off"
	next.Listeners = cfg.Listeners
	if err := next.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	if err := fe.reload(next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the old grace + 1 s
	io.WriteString(c, strings.Repeat("a", 8000))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello, world\n" {
		t.Errorf("a request in flight across a reload: %d %q; want 200 and the file", resp.StatusCode, body)
	}
	// Once it is over, the old configuration is closed: its folder is no
	// longer held open.
	waitFor(t, func() bool { return openFiles(t, root) == 0 })
}

// TestCloseReachesEveryHost: closing a configuration closes the static
// folders of every host, also one no request can reach (no name, not the
// default), and those of a configuration that failed to build part way.
func TestCloseReachesEveryHost(t *testing.T) {
	root, _ := staticSite(t)
	cfg := frontend.NewConfig()
	cfg.AccessLog = "off"
	cfg.Hosts = []frontend.Host{
		{Names: []string{"a.example"}, Default: true, Routes: []frontend.Route{{Path: "/", Respond: strp("a")}}},
		{Routes: []frontend.Route{{Path: "/s/", Static: root}}},
	}
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	f, err := frontend.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t, root); n != 1 {
		t.Fatalf("%d descriptors on the static folder; want 1", n)
	}
	f.Close()
	if n := openFiles(t, root); n != 0 {
		t.Errorf("%d descriptors on the static folder after Close; want 0", n)
	}
	// A folder removed between validation and building: the host's first
	// route is open when its second fails, and is closed with the rest.
	gone := t.TempDir() + "/gone"
	os.Mkdir(gone, 0o755)
	cfg = frontend.NewConfig()
	cfg.AccessLog = "off"
	cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{{Path: "/s/", Static: root}, {Path: "/g/", Static: gone}}}}
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	if _, err := frontend.New(cfg, nil, nil); err == nil {
		t.Fatal("built with a folder gone")
	}
	if n := openFiles(t, root); n != 0 {
		t.Errorf("%d descriptors on the static folder after a failed build; want 0", n)
	}
}

// TestAccessLogBodyBytes checks $body_bytes_sent for bodies that are not a
// proxied response: a static file from memory and streamed from disk, an
// error page, and a HEAD request (no body).
func TestAccessLogBodyBytes(t *testing.T) {
	root, _ := staticSite(t)
	for _, cached := range []bool{true, false} {
		logPath := filepath.Join(t.TempDir(), "access.log")
		cfg := staticConfig(root, cached)
		cfg.AccessLog = logPath
		fe := startFrontend(t, cfg)
		for _, req := range []string{"GET /static/logo.png", "HEAD /static/logo.png", "GET /static/missing.png", "GET /static/hello.txt"} {
			raw(t, fe.addr[0], req+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		}
		if err := fe.f.ReopenLogs(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			got = append(got, f[5]+" "+f[8]+" "+f[9])
		}
		want := []string{`"GET 200 4000`, `"HEAD 200 0`, `"GET 404 ` + "10", `"GET 200 13`}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("cached=%v: method, status, bytes = %q; want %q", cached, got, want)
		}
	}
}
