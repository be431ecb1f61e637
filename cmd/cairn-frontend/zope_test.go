package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/objectstore/testcert"
)

// zopeConf is an instance's zope.conf: its database is a ZEO client
// storage on cairn-objectstore, with a blob cache of its own, as the
// seed's instances have (theirs share the blob folder).
const zopeConf = `%%define INSTANCE %s
instancehome $INSTANCE
%%import ZEO
<zodb_db main>
  <zeoclient>
    server %s
    storage 1
    name main
    blob-dir $INSTANCE/blobcache
    shared-blob-dir off
  </zeoclient>
  mount-point /
</zodb_db>
`

// zopeIni runs the instance with waitress, as mkwsgiinstance sets it up
// (without its access log): Zope's httpexceptions filter turns the
// exceptions Zope raises for 404s and redirects into those answers.
const zopeIni = `[app:zope]
use = egg:Zope#main
zope_conf = %s

[pipeline:main]
pipeline =
    egg:Zope#httpexceptions
    zope

[server:main]
use = egg:waitress#main
host = 127.0.0.1
port = %d
`

// startZope starts an unmodified Zope 6 instance (from the project venv)
// on a free port, its database on the object store at zeo, and waits
// until it serves. With an admin password, the instance creates the
// user "admin" at start (Zope's inituser file).
func startZope(t *testing.T, zeo, password string) (addr string, p *proctest.Proc) {
	t.Helper()
	dir := t.TempDir()
	addr = proctest.FreePort(t)
	conf, ini := filepath.Join(dir, "zope.conf"), filepath.Join(dir, "zope.ini")
	files := map[string]string{
		conf: fmt.Sprintf(zopeConf, dir, zeo),
		ini:  fmt.Sprintf(zopeIni, conf, proctest.Port(addr)),
	}
	if password != "" {
		files[filepath.Join(dir, "inituser")] = "admin:" + password + "\n"
	}
	for name, text := range files {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p = proctest.Start(t, proctest.Venv(t, "runwsgi"), ini)
	p.WaitURL("http://"+addr+"/", 90*time.Second)
	return addr, p
}

const zopeSite = `
[frontend]
access_log = "off"

[[frontend.listeners]]
addr = %q

[[frontend.listeners]]
addr = %q
tls_cert = %q
tls_key = %q

[frontend.upstreams.zope]
addrs = [%q, %q]

[[frontend.hosts]]
default = true

[[frontend.hosts.routes]]
path = "/zmi-admin/"
proxy = "zope"
zope = { base = "/zmi-admin" }

[[frontend.hosts.routes]]
path = "/"
proxy = "zope"
zope = { site = "site" }
`

// TestRealZope serves two unmodified Zope instances (Zope 6.3 from PyPI,
// under waitress), whose database is cairn-objectstore, through
// cairn-frontend, as the seed's site does with a Plone site and the
// ZMI under /zmi-admin/. The URLs Zope generates must name the public
// scheme, host and port (VirtualHostMonster), a change made through one
// instance must be seen through the other (the object store's
// invalidations), a large upload and download must pass whole, and
// losing an instance must not lose a request.
func TestRealZope(t *testing.T) {
	dir := t.TempDir()
	zeo, zeoAdmin := proctest.FreePort(t), proctest.FreePort(t)
	store := proctest.Start(t, objectstoreBin, "-listen", zeo, "-admin", zeoAdmin, "-data", filepath.Join(dir, "zope.db"), "-no-sync")
	store.WaitHealthy(zeoAdmin)

	const password = "zope-secret"
	zope1, _ := startZope(t, zeo, password)
	zope2, z2 := startZope(t, zeo, "")

	certs, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	plain, secure, admin := proctest.FreePort(t), proctest.FreePort(t), proctest.FreePort(t)
	site := filepath.Join(dir, "site.toml")
	text := fmt.Sprintf(zopeSite, plain, secure, certs.ServerCert, certs.ServerKey, zope1, zope2)
	if err := os.WriteFile(site, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.Start(t, bin, "-config", site, "-admin", admin).WaitHealthy(admin)

	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// do sends a request to the frontend at addr as if for the public
	// host www.example.org on the frontend's port.
	do := func(method, scheme, addr, path string, form url.Values, auth bool) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, scheme+"://"+addr+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = fmt.Sprintf("www.example.org:%d", proctest.Port(addr))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth {
			req.SetBasicAuth("admin", password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	public := func(scheme, addr string) string {
		return fmt.Sprintf("%s://www.example.org:%d", scheme, proctest.Port(addr))
	}
	addFolder := func(parent, id string) {
		t.Helper()
		form := url.Values{"id": {id}, "title": {id}}
		resp, body := do("POST", "http", plain, parent+"manage_addProduct/OFSP/manage_addFolder", form, true)
		want := public("http", plain) + parent + "manage_main"
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), want) {
			t.Fatalf("adding %s%s: %d, Location %q, want one starting %q\n%s", parent, id, resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
	}

	// The site and a folder in it, made through the ZMI under /zmi-admin/:
	// writes through the frontend, committed in the object store.
	addFolder("/zmi-admin/", "site")
	addFolder("/zmi-admin/site/", "news")

	// The URLs Zope makes, through the site route (VHM to /site) and the
	// ZMI route (_vh_zmi-admin), on both listeners; four requests each,
	// so that both instances answer.
	for _, c := range []struct{ scheme, addr, path, want string }{
		{"http", plain, "/news/absolute_url", public("http", plain) + "/news"},
		{"https", secure, "/news/absolute_url", public("https", secure) + "/news"},
		{"http", plain, "/zmi-admin/site/news/absolute_url", public("http", plain) + "/zmi-admin/site/news"},
		{"https", secure, "/zmi-admin/site/news/absolute_url", public("https", secure) + "/zmi-admin/site/news"},
	} {
		for range 4 {
			if resp, body := do("GET", c.scheme, c.addr, c.path, nil, false); resp.StatusCode != 200 || body != c.want {
				t.Errorf("%s %s: %d %q, want %q", c.scheme, c.path, resp.StatusCode, body, c.want)
			}
		}
	}
	// HEAD, then GET, on one pooled upstream connection: Zope's answer to
	// HEAD has no body, and the next answer is the GET's own.
	for range 2 {
		if resp, _ := do("HEAD", "http", plain, "/news/absolute_url", nil, false); resp.StatusCode != 200 {
			t.Errorf("HEAD: %d", resp.StatusCode)
		}
		if resp, body := do("GET", "http", plain, "/news/absolute_url", nil, false); resp.StatusCode != 200 || body != public("http", plain)+"/news" {
			t.Errorf("GET after HEAD: %d %q", resp.StatusCode, body)
		}
	}

	// The ZMI's own page: its form posts to the public URL, and its
	// resources are under the public sub-path.
	if resp, body := do("GET", "https", secure, "/zmi-admin/site/manage_main", nil, true); resp.StatusCode != 200 ||
		!strings.Contains(body, `action="`+public("https", secure)+`/zmi-admin/site/"`) ||
		!strings.Contains(body, `href="/zmi-admin/++resource++zmi/zmi_base.css"`) {
		t.Errorf("ZMI page: %d, without the public URLs in\n%s", resp.StatusCode, body)
	}
	if resp, _ := do("GET", "http", plain, "/no-such-page", nil, false); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a page that does not exist: %d, want Zope's 404", resp.StatusCode)
	}
	if resp, _ := do("GET", "http", plain, "/zmi-admin", nil, false); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/zmi-admin/" {
		t.Errorf("/zmi-admin without its slash: %d %q, want a 301 to /zmi-admin/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do("GET", "http", plain, "/zmi-admin/manage_main", nil, false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ZMI without a password: %d, want 401", resp.StatusCode)
	}

	// A folder made through the frontend (on whichever instance), seen at
	// once on each instance directly: the other one had its cache
	// invalidated by the object store.
	addFolder("/zmi-admin/site/", "events")
	for _, z := range []string{zope1, zope2} {
		code, body := httpGet(t, "http://"+z+"/site/events/absolute_url")
		if code != 200 || body != "http://"+z+"/site/events" {
			t.Errorf("instance %s after the commit: %d %q", z, code, body)
		}
	}

	// The ZMI in a browser, through the frontend: its page and the
	// stylesheets, scripts and fonts it loads (compressed on the way) make
	// the folder listing under Zope's dark top bar.
	zmiInChromium(t, "http://admin:"+password+"@"+plain+"/zmi-admin/site/manage_main", "news", "events")

	// A 3 MB file uploaded into Zope through the frontend (multipart, over
	// the frontend's body buffer: taken into a temporary file first) and
	// read back whole (over 1 MiB: passed on as it comes) and in a range
	// (Zope's own 206).
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	var upload strings.Builder
	mp := multipart.NewWriter(&upload)
	mp.WriteField("id", "big.bin")
	fw, _ := mp.CreateFormFile("file", "big.bin")
	fw.Write(data)
	mp.Close()
	req, _ := http.NewRequest("POST", "http://"+plain+"/zmi-admin/site/manage_addProduct/OFSP/manage_addFile", strings.NewReader(upload.String()))
	req.Host = fmt.Sprintf("www.example.org:%d", proctest.Port(plain))
	req.Header.Set("Content-Type", mp.FormDataContentType())
	req.SetBasicAuth("admin", password)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	if resp, body := do("GET", "http", plain, "/big.bin", nil, false); resp.StatusCode != 200 || body != string(data) {
		t.Errorf("download: %d, %d bytes, same as uploaded: %v", resp.StatusCode, len(body), body == string(data))
	}
	req, _ = http.NewRequest("GET", "https://"+secure+"/big.bin", nil)
	req.Header.Set("Range", "bytes=1000000-1000099")
	if resp, err := client.Do(req); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(b) != string(data[1000000:1000100]) {
			t.Errorf("range: %d, %d bytes", resp.StatusCode, len(b))
		}
	}

	// One instance gone: every request is still answered, by the other;
	// the object store logs it leaving, as stock ZEO does.
	z2.Stop(10 * time.Second)
	for range 4 {
		if resp, body := do("GET", "http", plain, "/events/absolute_url", nil, false); resp.StatusCode != 200 || body != public("http", plain)+"/events" {
			t.Errorf("with one instance stopped: %d %q", resp.StatusCode, body)
		}
	}
	if out := store.Output(); strings.Count(out, "client connected") < 2 || !strings.Contains(out, "client disconnected") {
		t.Errorf("the object store's log does not show the instances coming and going:\n%s", out)
	}
}

// zmiInChromium loads a ZMI page in headless Chromium and checks that its
// listing names each of items and that the page is styled: the top bar
// of the ZMI's stylesheet is dark, an unstyled page white.
func zmiInChromium(t *testing.T, page string, items ...string) {
	t.Helper()
	browser := proctest.Chromium(t)
	dom := browser.DOM(page)
	for _, item := range items {
		if !strings.Contains(string(dom), `href="`+item+`/manage_workspace"`) {
			t.Errorf("the ZMI page in Chromium does not list %s:\n%s", item, dom)
		}
	}
	img := browser.Screenshot(page, 1000, 800)
	dark, all := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Min.Y+36; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			all++
			if max(r, g, bl) < 0x8000 { // the bar is slate blue, about #354f67
				dark++
			}
		}
	}
	if dark < all/2 {
		t.Errorf("the ZMI's top bar is %d of %d pixels dark: its stylesheet did not arrive", dark, all)
	}
}
