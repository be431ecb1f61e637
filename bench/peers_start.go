package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// xsltModule is where Debian's libnginx-mod-http-xslt-filter puts the
// filter.
const xsltModule = "/usr/lib/nginx/modules/ngx_http_xslt_filter_module.so"

// peerPackage is the Debian package that brings a peer, and how to see
// that it is there.
type peerPackage struct {
	Package string
	Binary  string // a command (looked up on PATH, then in /usr/sbin)
	File    string // or a file
}

// peerPackages are what each peer suite needs besides nginx and wrk.
var peerPackages = map[string]peerPackage{
	"cache":     {Package: "varnish", Binary: "varnishd"},
	"balancer":  {Package: "haproxy", Binary: "haproxy"},
	"transform": {Package: "libnginx-mod-http-xslt-filter", File: xsltModule},
}

func (p peerPackage) present() bool {
	if p.File != "" {
		_, err := os.Stat(p.File)
		return err == nil
	}
	_, err := peerBinary(p.Binary)
	return err == nil
}

// peerBinary finds a command on PATH or in /usr/sbin, where Debian puts
// varnishd and haproxy and where a user's PATH may not look.
func peerBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("bench: %s is neither on PATH nor in /usr/sbin", name)
	}
	return p, nil
}

// missingPeers lists the Debian packages the named suites need and lack.
func missingPeers(tiers []string) []string {
	var missing []string
	for _, t := range tiers {
		if p, ok := peerPackages[t]; ok && !p.present() {
			missing = append(missing, p.Package)
		}
	}
	return missing
}

// ensurePeers installs with apt-get the packages the named suites need and
// lack, saying so on progress; when the install fails it updates the
// package lists and tries once more. Each step is bounded to five minutes.
// (On a machine with systemd, Debian starts the varnish and haproxy
// services it installs; the suite's own copies do not use their ports.)
func ensurePeers(ctx context.Context, tiers []string, progress io.Writer) error {
	missing := missingPeers(tiers)
	if len(missing) == 0 {
		return nil
	}
	install := append([]string{"apt-get", "install", "-y", "-q"}, missing...)
	fmt.Fprintf(progress, "%s not installed; running: %s\n", strings.Join(missing, ", "), strings.Join(install, " "))
	if err := runApt(ctx, install, progress); err != nil {
		fmt.Fprintf(progress, "%v; updating the package lists and trying again\n", err)
		if err := runApt(ctx, []string{"apt-get", "update", "-q"}, progress); err != nil {
			return err
		}
		if err := runApt(ctx, install, progress); err != nil {
			return err
		}
	}
	if still := missingPeers(tiers); len(still) > 0 {
		return fmt.Errorf("bench: %s still missing after apt-get", strings.Join(still, ", "))
	}
	return nil
}

// runApt runs an apt-get command line, through sudo unless root.
func runApt(ctx context.Context, argv []string, progress io.Writer) error {
	if os.Geteuid() != 0 {
		argv = append([]string{"sudo"}, argv...)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = progress, progress
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench: %s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// startVarnish writes the VCL and starts varnishd in front of the origin.
func startVarnish(ctx context.Context, pb *peerBed, _ *CompareOptions, progress io.Writer) (*child, error) {
	bin, err := peerBinary("varnishd")
	if err != nil {
		return nil, err
	}
	vcl := filepath.Join(pb.site.Dir, "varnish.vcl")
	if err := writeTemplate(vcl, varnishVCL, pb.site); err != nil {
		return nil, err
	}
	return pb.start(ctx, "varnish", varnishArgv(bin, pb.site, vcl), "http://"+pb.site.Listen+"/bytes?n=1", progress)
}

// startHAProxy writes the configuration and starts HAProxy in front of the
// origins; it is ready when a request reaches an origin through it.
func startHAProxy(ctx context.Context, pb *peerBed, _ *CompareOptions, progress io.Writer) (*child, error) {
	bin, err := peerBinary("haproxy")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(pb.site.Dir, "haproxy.cfg")
	if err := writeTemplate(conf, haproxyConf, pb.site); err != nil {
		return nil, err
	}
	return pb.start(ctx, "haproxy", haproxyArgv(bin, conf), "http://"+pb.site.Listen+"/bytes?n=1", progress)
}

// startTransform compiles the Diazo theme, writes the configuration and
// starts nginx with the XSLT filter in front of the origin.
func startTransform(ctx context.Context, pb *peerBed, o *CompareOptions, progress io.Writer) (*child, error) {
	xsl, err := compileTheme(ctx, o.Venv, filepath.Join(pb.site.Dir, "theme"), progress)
	if err != nil {
		return nil, err
	}
	pb.site.XSLTModule, pb.site.Stylesheet = xsltModule, xsl
	conf := filepath.Join(pb.site.Dir, "nginx.conf")
	if err := writeTemplate(conf, transformConf, pb.site); err != nil {
		return nil, err
	}
	return pb.start(ctx, "nginx-xslt", transformArgv(pb.site, conf), "http://"+pb.site.Listen+"/page", progress)
}

// checkCacheHit fetches the page twice and wants the second answer from
// the cache (X-Cache: HIT and an Age header), with the origin's body.
func checkCacheHit(ctx context.Context, pb *peerBed, base string, sc peerScenario) error {
	want, err := pb.reference(ctx, sc.Path)
	if err != nil {
		return err
	}
	for i := range 2 {
		hdr, body, err := fetchWith(ctx, base+sc.Path, sc.Headers)
		if err != nil {
			return err
		}
		if !bytes.Equal(body, want) {
			return fmt.Errorf("got %d bytes, want the %d bytes of the origin", len(body), len(want))
		}
		if i == 1 && (hdr.Get("X-Cache") != "HIT" || hdr.Get("Age") == "") {
			return fmt.Errorf("second request not a cache hit: X-Cache %q, Age %q, X-Varnish %q",
				hdr.Get("X-Cache"), hdr.Get("Age"), hdr.Get("X-Varnish"))
		}
	}
	return nil
}

// checkCachePass fetches the page twice with the login cookie and wants
// neither answer from the cache.
func checkCachePass(ctx context.Context, pb *peerBed, base string, sc peerScenario) error {
	want, err := pb.reference(ctx, sc.Path)
	if err != nil {
		return err
	}
	for range 2 {
		hdr, body, err := fetchWith(ctx, base+sc.Path, sc.Headers)
		if err != nil {
			return err
		}
		if !bytes.Equal(body, want) {
			return fmt.Errorf("got %d bytes, want the %d bytes of the origin", len(body), len(want))
		}
		if hdr.Get("X-Cache") != "MISS" || len(strings.Fields(hdr.Get("X-Varnish"))) != 1 {
			return fmt.Errorf("a logged-in request was answered from the cache: X-Cache %q, X-Varnish %q", hdr.Get("X-Cache"), hdr.Get("X-Varnish"))
		}
	}
	return nil
}

// checkBalanced fetches the scenario twice per origin and wants the
// origin's body every time, from every origin in turn (X-Origin).
func checkBalanced(ctx context.Context, pb *peerBed, base string, sc peerScenario) error {
	want, err := pb.reference(ctx, sc.Path)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for range 2 * len(pb.origins) {
		hdr, body, err := fetchWith(ctx, base+sc.Path, sc.Headers)
		if err != nil {
			return err
		}
		if !bytes.Equal(body, want) {
			return fmt.Errorf("got %d bytes, want the %d bytes of the origin", len(body), len(want))
		}
		seen[hdr.Get("X-Origin")] = true
	}
	if len(seen) != len(pb.origins) {
		return fmt.Errorf("answers came from %d of the %d origins", len(seen), len(pb.origins))
	}
	return nil
}

// themeMarkers are what a themed page holds: the theme's frame, the
// content's title and text moved into it, and no trace of the parts the
// rules drop.
var themeMarkers = []string{`id="site-header"`, `<title>Welcome to Plone</title>`, `Paragraph 0 of the front page`,
	`<dt>News</dt>`, `Powered by Plone`}

// checkThemed fetches the page and wants it themed.
func checkThemed(ctx context.Context, _ *peerBed, base string, sc peerScenario) error {
	hdr, body, err := fetchWith(ctx, base+sc.Path, sc.Headers)
	if err != nil {
		return err
	}
	return themed(hdr, body)
}

func themed(hdr http.Header, body []byte) error {
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		return fmt.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, m := range themeMarkers {
		if !bytes.Contains(body, []byte(m)) {
			return fmt.Errorf("the %d-byte answer lacks %q: not themed", len(body), m)
		}
	}
	for _, m := range []string{`id="portal-logo"`, `id="portal-columns"`} {
		if bytes.Contains(body, []byte(m)) {
			return fmt.Errorf("the answer still holds %q: not themed", m)
		}
	}
	return nil
}

// reference is the body the first origin answers path with.
func (pb *peerBed) reference(ctx context.Context, path string) ([]byte, error) {
	_, body, err := fetchWith(ctx, "http://"+pb.site.Origins[0]+path, nil)
	if err != nil {
		return nil, fmt.Errorf("reference body: %w", err)
	}
	return body, nil
}

// fetchWith GETs url with the given "Name: value" headers and returns the
// answer's headers and body; anything but a 200 is an error.
func fetchWith(ctx context.Context, url string, headers []string) (http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	// A fresh transport: no connection is reused between the checks, so
	// that a balancer's round robin is seen as a client sees it.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: status %d: %s", url, resp.StatusCode, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return resp.Header, body, nil
}

// peerVersions names the peers that ran and the load generator.
func peerVersions(ctx context.Context, tiers []string, venv string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var parts []string
	for _, t := range tiers {
		switch t {
		case "cache":
			bin, _ := peerBinary("varnishd")
			v := firstLine(ctx, bin, "-V")
			if _, rest, ok := strings.Cut(v, "(varnish-"); ok {
				v, _, _ = strings.Cut(rest, " ")
				v = "Varnish " + v
			}
			parts = append(parts, v)
		case "balancer":
			bin, _ := peerBinary("haproxy")
			v := strings.TrimPrefix(firstLine(ctx, bin, "-v"), "HAProxy version ")
			v, _, _ = strings.Cut(v, " ")
			parts = append(parts, "HAProxy "+v)
		case "transform":
			nginx := strings.TrimPrefix(firstLine(ctx, "nginx", "-v"), "nginx version: ")
			mod := firstLine(ctx, "dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-http-xslt-filter")
			xslt := firstLine(ctx, "dpkg-query", "-W", "-f", "${Version}", "libxslt1.1")
			parts = append(parts, fmt.Sprintf("%s with libnginx-mod-http-xslt-filter %s (libxslt %s), diazo %s",
				nginx, mod, xslt, diazoVersion(ctx, venv)))
		}
	}
	wrk, _, _ := strings.Cut(firstLine(ctx, "wrk", "-v"), " [")
	return strings.Join(append(parts, wrk), ", ")
}
