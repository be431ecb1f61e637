package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/internal/origin"
	"github.com/cairnstack/cairn/internal/proctest"
)

func TestParseTiers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // joined with "+", or "error"
	}{
		{"frontend", "frontend"},
		{"cache,balancer,transform", "cache+balancer+transform"},
		{" transform , frontend ", "transform+frontend"},
		{"cache,,balancer", "cache+balancer"},
		{"cache,cache", "error"},
		{"varnish", "error"},
		{"", "error"},
		{" , ", "error"},
	} {
		got, err := parseTiers(tc.in)
		s := strings.Join(got, "+")
		if err != nil {
			s = "error"
		}
		if s != tc.want {
			t.Errorf("parseTiers(%q) = %q, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestValidateSplitsTiers(t *testing.T) {
	o := CompareOptions{Tiers: "balancer,cache", Runs: 1, Duration: time.Second, Threads: 1, Connections: 1,
		HAProxyThreads: 1, OriginCommand: []string{"origin"}, BinDir: t.TempDir()}
	frontend, peers, err := o.validate()
	if err != nil || frontend || strings.Join(peers, ",") != "balancer,cache" {
		t.Errorf("validate = %v, %q, %v; want no frontend, balancer and cache (no cairn-frontend needed)", frontend, peers, err)
	}
	o.Tiers = "frontend,cache"
	if _, _, err := o.validate(); err == nil {
		t.Error("frontend without bin/cairn-frontend accepted")
	}
	o.Tiers, o.HAProxyThreads = "balancer", 0
	if _, _, err := o.validate(); err == nil {
		t.Error("-haproxy-threads 0 accepted")
	}
}

// testSite is a site with made-up addresses, as runPeerTier fills it.
func testSite(t *testing.T, origins int) peerSite {
	s := peerSite{Dir: t.TempDir(), Listen: "127.0.0.1:18101", VarnishStorage: varnishStorage, Threads: 1, MaxConn: 2,
		GlobalMaxConn: 24000, XSLTModule: xsltModule}
	for i := range origins {
		s.Origins = append(s.Origins, "127.0.0.1:1840"+string(rune('1'+i)))
	}
	return s
}

// render writes tmpl for data into a temporary file and returns the path
// and the text.
func render(t *testing.T, tmpl *template.Template, data any) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), tmpl.Name()+".conf")
	if err := writeTemplate(path, tmpl, data); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func TestVarnishVCL(t *testing.T) {
	s := testSite(t, 1)
	path, vcl := render(t, varnishVCL, s)
	wantAll(t, "VCL", vcl,
		"vcl 4.1;",
		`.host = "127.0.0.1";`, `.port = "18401";`, ".connect_timeout = 0.4s;", // the origin, with the seed's timeouts
		`return (purge);`, `return (pipe);`, `req.url ~ "createObject"`, // the seed's request rules
		`set req.http.X-Anonymous = "True";`,
		`req.http.Cookie ~ "(^|;\s*)__ac(|_(name|password|persistent))="`, // logged-in users passed
		`set beresp.grace = 120s;`, `beresp.http.Set-Cookie`, `"(private|no-cache|no-store)"`,
		`"s-maxage=[0-9]+", "s-maxage=0"`, // the seed's delivery rewrite
		`set resp.http.X-Cache = "HIT";`, "Guru Meditation")
	argv := strings.Join(varnishArgv("/usr/sbin/varnishd", s, path), " ")
	wantAll(t, "varnishd argv", argv, "-F", "-a 127.0.0.1:18101", "-s malloc,256M", "-f "+path, "-T none", "-n "+s.Dir)
	// Where Varnish is installed, it compiles the VCL (without starting).
	if bin, err := peerBinary("varnishd"); err == nil {
		out, err := exec.Command(bin, "-C", "-j", "none", "-f", path, "-n", filepath.Join(s.Dir, "vc")).CombinedOutput()
		if err != nil {
			t.Errorf("varnishd -C: %v\n%s", err, lastLines(out, 20))
		}
	} else {
		t.Log("varnishd not installed: the VCL was not compiled (scripts/deps.sh varnish installs it)")
	}
}

func TestHAProxyConf(t *testing.T) {
	s := testSite(t, 4)
	path, conf := render(t, haproxyConf, s)
	wantAll(t, "HAProxy configuration", conf,
		"maxconn 24000", "nbthread 1", "mode http", "option abortonclose", "retries 3", "option redispatch",
		"monitor-uri /haproxy-ping", "timeout queue   300s", "stats uri /haproxy-stats", "stats auth admin:admin",
		"frontend zopecluster", "bind 127.0.0.1:18101", "capture cookie __ac len 10",
		"backend zope", "stick store-response res.cook(__ac)", "stick match req.cook(__ac)", "cookie serverid",
		"balance roundrobin", "option httpchk GET /", "timeout connect 60m",
		"server zope0101 127.0.0.1:18401 cookie z0101 check maxconn 2 maxqueue 2",
		"server zope0104 127.0.0.1:18404 cookie z0104 check maxconn 2 maxqueue 2")
	if strings.Contains(conf, "httpclose") || strings.Contains(conf, "appsession") {
		t.Errorf("configuration keeps httpclose or appsession:\n%s", conf)
	}
	if n := strings.Count(conf, "\n  server "); n != 4 {
		t.Errorf("%d servers; want 4", n)
	}
	wantAll(t, "haproxy argv", strings.Join(haproxyArgv("haproxy", path), " "), "-f "+path, "-db")
	// Where HAProxy is installed, it checks the configuration.
	if bin, err := peerBinary("haproxy"); err == nil {
		s.GlobalMaxConn = haproxyMaxConn(fileLimit())
		path, _ = render(t, haproxyConf, s)
		if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c: %v\n%s", err, lastLines(out, 20))
		}
	} else {
		t.Log("haproxy not installed: the configuration was not checked (scripts/deps.sh haproxy installs it)")
	}
}

func TestHAProxyMaxConn(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{{1 << 20, 24000}, {48100, 24000}, {20000, 9900}, {1024, 412}, {100, 64}} {
		if got := haproxyMaxConn(tc.limit); got != tc.want {
			t.Errorf("haproxyMaxConn(%d) = %d; want %d", tc.limit, got, tc.want)
		}
	}
}

func TestTransformConf(t *testing.T) {
	s := testSite(t, 1)
	s.Stylesheet = filepath.Join(s.Dir, "theme.xsl")
	path, conf := render(t, transformConf, s)
	wantAll(t, "nginx configuration", conf,
		"load_module "+xsltModule+";", "daemon off;", "listen 127.0.0.1:18101 default_server;",
		"server 127.0.0.1:18401;", "proxy_pass http://origin;", `proxy_set_header Accept-Encoding "";`,
		"xslt_stylesheet "+s.Stylesheet+";", "xslt_string_param path $uri;", "xslt_types text/html;",
		"pid "+s.Dir+"/nginx.pid;")
	// Where nginx and the filter are installed, nginx -t reads the
	// configuration and an identity stylesheet.
	if _, err := os.Stat(xsltModule); err != nil {
		t.Log("the XSLT filter is not installed: the configuration was not checked (scripts/deps.sh libnginx-mod-http-xslt-filter installs it)")
		return
	}
	const identity = `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">` +
		`<xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy></xsl:template></xsl:stylesheet>`
	if err := os.WriteFile(s.Stylesheet, []byte(identity), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "nginx-tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	argv := append(transformArgv(s, path), "-t")
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s", err, lastLines(out, 20))
	}
}

// TestTheme checks the committed rules and theme: the rules are XML in
// Diazo's namespace and name the theme, whose ids the rules and the
// suite's check (themeMarkers) rely on.
func TestTheme(t *testing.T) {
	d := xml.NewDecoder(bytes.NewReader(themeRules))
	for {
		if _, err := d.Token(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("rules.xml: %v", err)
			}
			break
		}
	}
	wantAll(t, "rules.xml", string(themeRules), `xmlns="http://namespaces.plone.org/diazo"`, `<theme href="theme.html" />`,
		`css:theme-children="#site-content"`, `css:content-children="#portal-column-content"`)
	wantAll(t, "theme.html", string(themeHTML), `id="site-header"`, `id="site-content"`, `id="site-sidebar"`, `id="site-footer"`)
	argv := strings.Join(diazoArgv("diazocompiler", "/w", "/w/theme.xsl"), " ")
	if argv != "diazocompiler -r /w/rules.xml -a /static -o /w/theme.xsl" {
		t.Errorf("diazocompiler argv %q", argv)
	}
}

func TestThemed(t *testing.T) {
	html := http.Header{"Content-Type": {"text/html; charset=UTF-8"}}
	good := `<html><head><title>Welcome to Plone</title></head><body><header id="site-header"></header>` +
		`<p>Paragraph 0 of the front page</p><dl><dt>News</dt></dl><footer>Powered by Plone</footer></body></html>`
	if err := themed(html, []byte(good)); err != nil {
		t.Errorf("themed page refused: %v", err)
	}
	if err := themed(html, originPage(origin.New("", 0))); err == nil {
		t.Error("the origin's own page passed for themed")
	}
	if err := themed(http.Header{"Content-Type": {"text/plain"}}, []byte(good)); err == nil {
		t.Error("text/plain passed for themed")
	}
}

func TestPeerReportMarkdown(t *testing.T) {
	r := run{Load: wrkResult{Requests: 50000, Elapsed: 10 * time.Second, RPS: 5000, P50: 2 * time.Millisecond, P99: 9 * time.Millisecond,
		CPU: 5 * time.Second}, ServerCPU: 2 * time.Second, OriginCPU: 0, PeakRSS: 100 << 20}
	bad := r
	bad.Load.Non2xx = 3
	rep := &PeerReport{Machine: "nproc 2", Versions: "Varnish 7.1.1", Command: "cairn-bench compare -tiers cache", Method: "Medians.",
		PeakPerRun: true, Tiers: []PeerTierResult{{Name: "cache", Cairn: "cairn-cache", Server: "varnish", Setup: "Varnish.",
			Results: []PeerScenarioResult{{Name: "hit, 20 KB page", Peer: []run{r}}, {Name: "pass", Peer: []run{bad}}}}}}
	md := rep.Markdown()
	wantAll(t, "report", md,
		"**cache** (varnish): Varnish.",
		"| scenario | varnish req/s | varnish p50 / p99 ms | varnish CPU µs/req | varnish peak RSS | origin CPU µs/req | generator cores | failed | cairn-cache |",
		"| hit, 20 KB page | 5.0k | 2.00 / 9.00 | 40.0 | 100.0 MiB | 0.0 | 0.50 | 0 | not built yet: no ratio |",
		"| pass ⚠ errors |", "| cache | hit, 20 KB page | varnish | 1 | 5.0k |",
		"Reproduce: `cairn-bench compare -tiers cache`")
	doc, found, err := replaceMarked("a\n"+PeersMarkerStart+"\nold\n"+PeersMarkerEnd+"\nb\n", PeersMarkerStart, PeersMarkerEnd, md)
	if err != nil || !found || strings.Contains(doc, "old") || !strings.HasSuffix(doc, PeersMarkerEnd+"\nb\n") {
		t.Errorf("README block not replaced (%v, %v):\n%s", found, err, doc)
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// The tests below run a peer suite for real, briefly, against the peer
// installed on this machine (`make test` installs them: BENCH_PEERS in the
// Makefile); a missing peer fails the test and says what to install.

func TestPeersCacheSmoke(t *testing.T)     { peerSmoke(t, "cache") }
func TestPeersBalancerSmoke(t *testing.T)  { peerSmoke(t, "balancer") }
func TestPeersTransformSmoke(t *testing.T) { peerSmoke(t, "transform") }

func peerSmoke(t *testing.T, tier string) {
	if testing.Short() {
		t.Skip("starts a peer, origins and wrk")
	}
	if missing := missingPeers([]string{tier}); len(missing) > 0 {
		t.Fatalf("%s is not installed: run scripts/deps.sh %s (the test does not install it)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/deps.sh nginx-light wrk", tool)
		}
	}
	venv, err := filepath.Abs(filepath.Join("..", ".venv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "diazocompiler")); tier == "transform" && err != nil {
		t.Fatalf("Diazo is not installed: run scripts/pyenv.sh (%v)", err)
	}
	bin := t.TempDir()
	if err := proctest.Build(bin, "cairn-bench"); err != nil {
		t.Fatal(err)
	}
	o := CompareOptions{Tiers: tier, Duration: time.Second, Runs: 1, Connections: 8, Threads: 1, OriginSlots: 2,
		HAProxyThreads: 1, Venv: venv, OriginCommand: []string{filepath.Join(bin, "cairn-bench"), "origin"}, Command: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := ComparePeers(ctx, o, []string{tier}, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Tiers) != 1 || len(rep.Tiers[0].Results) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, sr := range rep.Tiers[0].Results {
		if len(sr.Peer) != 1 || sr.Peer[0].Load.Requests == 0 || sr.Peer[0].Load.Errors() != 0 || sr.Peer[0].ServerCPU <= 0 || sr.Peer[0].PeakRSS <= 0 {
			t.Errorf("%s: runs %+v", sr.Name, sr.Peer)
		}
	}
	md := rep.Markdown()
	wantAll(t, "report", md, "**"+tier+"**", "not built yet: no ratio")
	t.Logf("%s\n%s", progress.String(), md)
}

// originPage is the body org answers /page with.
func originPage(org *origin.Origin) []byte {
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI("/page")
	org.Handle(&rc)
	return append([]byte(nil), rc.Response.Body()...)
}
