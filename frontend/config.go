package frontend

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// Config is the [frontend] section of the site file. Every field's comment
// gives its unit and what its zero value means; Validate applies defaults.
type Config struct {
	// Listeners are the sockets the frontend accepts on. Default: one plain
	// HTTP listener on the site's "frontend" address (127.0.0.1:8000).
	Listeners []Listener `toml:"listeners"`
	// Upstreams are named groups of backend addresses that proxy routes use.
	Upstreams map[string]Upstream `toml:"upstreams"`
	// Hosts are the virtual hosts, chosen by the Host header. The one marked
	// default (or else the first) serves requests no other host claims.
	Hosts []Host `toml:"hosts"`

	// AccessLog is where requests are logged in nginx's "combined" format:
	// a file path, "stdout", "stderr", or "off". Default "stdout".
	AccessLog string `toml:"access_log"`
	// TrustedProxies lists the addresses (CIDR or single IPs) whose
	// X-Forwarded-For, X-Forwarded-Proto and X-Real-IP are believed. From any
	// other peer those headers are dropped. Default: none.
	TrustedProxies []string `toml:"trusted_proxies"`

	// MaxBodySize is the largest request body accepted (nginx's
	// client_max_body_size); larger gets 413. Default 100M.
	MaxBodySize sitefile.Size `toml:"max_body_size"`
	// BodyBufferSize is the largest request body held in memory on its way
	// upstream (nginx's client_body_buffer_size); a larger one is written
	// to a temporary file first. Default 128K (the seed's).
	BodyBufferSize sitefile.Size `toml:"body_buffer_size"`
	// BodyTempDir holds those temporary files (nginx's
	// client_body_temp_path), and those of spooled responses (nginx's
	// proxy_temp_path); they are unlinked as soon as they are made.
	// Default: the system's ($TMPDIR or /tmp).
	BodyTempDir string `toml:"body_temp_dir"`
	// MaxTempFileSize bounds the temporary file of one response: a
	// response too large to read into memory (over 1M, or of unknown
	// length) is read from the upstream as fast as it comes into a file in
	// body_temp_dir while the client is sent it, so that a slow client does
	// not hold the upstream connection; past this size the rest goes as
	// the client takes it (nginx's proxy_max_temp_file_size). 0: no
	// temporary files, such responses are passed on as the client takes
	// them. Default 1024M (nginx's).
	MaxTempFileSize sitefile.Size `toml:"max_temp_file_size"`
	// MaxTempTotal bounds the temporary files of all responses at once:
	// past it, responses go as their clients take them until files are
	// done. Clients that ask for large objects and stop reading cannot
	// fill body_temp_dir (a tmpfs is memory). Default 2G.
	MaxTempTotal sitefile.Size `toml:"max_temp_total"`
	// MaxBodyTempTotal bounds the temporary files of all request bodies
	// at once: an upload that would pass it is refused with 503 (try
	// again). Many clients uploading at once, or slowly on purpose, cannot
	// fill body_temp_dir (nginx has no such bound). Default 2G.
	MaxBodyTempTotal sitefile.Size `toml:"max_body_temp_total"`
	// MaxHeaderSize bounds the request line plus headers; larger gets 431.
	// Default 16K.
	MaxHeaderSize sitefile.Size `toml:"max_header_size"`
	// MaxHeaders bounds the number of request headers; more gets 431.
	// Default 100.
	MaxHeaders int `toml:"max_headers"`
	// ReadTimeout bounds reading one whole request, so a slow client (slow
	// loris) cannot hold a connection forever. Default 60s.
	ReadTimeout sitefile.Duration `toml:"read_timeout"`
	// WriteTimeout is how long writing a response may wait for the client
	// to take more (nginx's send_timeout). Default 60s.
	WriteTimeout sitefile.Duration `toml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request (nginx's keepalive_timeout). Default 65s.
	IdleTimeout sitefile.Duration `toml:"idle_timeout"`
	// MaxConns bounds concurrent client connections per listener; the excess
	// is answered 503 and closed. Default 10000.
	MaxConns int `toml:"max_conns"`
	// Grace is how long shutdown waits for in-flight requests. Default 10s.
	Grace sitefile.Duration `toml:"grace"`
	// EventLoop serves plain-HTTP listeners (not those redirecting to
	// HTTPS) through event loops, which take the common proxied GET and
	// HEAD themselves and give every other request, with its connection,
	// to the fasthttp server (lane.go). Default true. Fixed at start.
	EventLoop bool `toml:"event_loop"`
	// EventLoops is how many loops serve them, each with its own pool of
	// upstream connections (as nginx's worker_processes). Default: one
	// per processor the runtime uses. Fixed at start.
	EventLoops int `toml:"event_loops"`

	// Compress lists the content types compressed with gzip or brotli when
	// the client accepts it. Default: text/html, text/plain, text/css,
	// text/xml, text/javascript, application/javascript, application/json,
	// application/xml, image/svg+xml. Set ["off"] to disable.
	Compress []string `toml:"compress"`
	// CompressMinSize is the smallest body compressed. Default 1K.
	CompressMinSize sitefile.Size `toml:"compress_min_size"`
	// StaticCache bounds the memory holding small static files (and their
	// compressed forms); 0 turns the cache off. Default 64M.
	StaticCache sitefile.Size `toml:"static_cache"`
	// StaticCacheMaxFile is the largest file cached; larger ones are
	// streamed from disk. Default 1M.
	StaticCacheMaxFile sitefile.Size `toml:"static_cache_max_file"`
	// ErrorPages maps a status the frontend itself produces (401 and 403
	// from access control, 500, 502, 503, 504) to an HTML file served in
	// place of the plain message; any other status is refused, as its page
	// would never be shown.
	ErrorPages map[string]string `toml:"error_pages"`

	// Set by Validate.
	trusted    []netip.Prefix
	errorPages map[int][]byte
}

// Listener is one listening socket.
type Listener struct {
	// Addr is "host:port", ":port", or a name from the site's [ports].
	Addr string `toml:"addr"`
	// TLSCert and TLSKey are PEM files; both set makes this an HTTPS
	// listener. They are read again on SIGHUP.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// RedirectHTTPS answers every request on this (plain) listener with a
	// 301 to the same URL on https.
	RedirectHTTPS bool `toml:"redirect_https"`
	// HTTPSPort is the public HTTPS port redirects point at. Default 443.
	HTTPSPort int `toml:"https_port"`
}

// TLS reports whether the listener serves HTTPS.
func (l Listener) TLS() bool { return l.TLSCert != "" }

// Upstream is a group of backend addresses with one connection pool each.
type Upstream struct {
	// Addrs are "host:port" or names from the site's [ports]. Requests go
	// round-robin; an address that refuses a connection, or does not take
	// it within connect_timeout, is skipped for that request and, for
	// fail_timeout, for every request while another address is up.
	Addrs []string `toml:"addrs"`
	// FailTimeout is how long an address that failed to connect is left
	// out (nginx's max_fails=1 fail_timeout=10s): requests do not each
	// wait connect_timeout for a host that is down. When every address is
	// out, all are tried. Default 10s.
	FailTimeout sitefile.Duration `toml:"fail_timeout"`
	// ConnectTimeout bounds connecting. Default 5s.
	ConnectTimeout sitefile.Duration `toml:"connect_timeout"`
	// ReadTimeout bounds waiting for and reading the response; past it the
	// client gets 504. Default 60s (the seed used 3601s for Zope). It may
	// run up to a sixteenth longer (coarseConn).
	ReadTimeout sitefile.Duration `toml:"read_timeout"`
	// WriteTimeout is how long sending the request may wait for the
	// upstream to take more (nginx's proxy_send_timeout), not the whole
	// send: a large upload goes on as long as the upstream keeps reading.
	// Default 60s.
	WriteTimeout sitefile.Duration `toml:"write_timeout"`
	// MaxConns bounds connections per address. Default 512.
	MaxConns int `toml:"max_conns"`
	// IdleTimeout closes pooled keep-alive connections unused this long.
	// Default 60s.
	IdleTimeout sitefile.Duration `toml:"idle_timeout"`
}

// Host is a virtual host.
type Host struct {
	// Names are the Host header values served, without port; a leading
	// "*." matches any subdomain.
	Names []string `toml:"names"`
	// Default makes this host serve requests no other host claims.
	Default bool `toml:"default"`
	// Routes are tried in order; the first match serves the request. A
	// request no route matches gets 404.
	Routes []Route `toml:"routes"`
	// Headers are set on the responses of every route of the host that
	// has no headers of its own (below, Route.Headers).
	Headers map[string]string `toml:"headers"`
}

// Route matches requests by path and says what serves them. Exactly one of
// Path and Regex, and exactly one of Proxy, Static, Redirect and Respond.
type Route struct {
	// Name labels the route in metrics. Default: its Path or Regex.
	Name string `toml:"name"`
	// Path matches a path prefix ("/" matches everything).
	Path string `toml:"path"`
	// Regex matches the path with a regular expression (RE2 syntax); its
	// groups can be used as $1… in Rewrite and Redirect. For Static, the
	// first group is the file's path below the folder (nginx's alias with
	// a regex location); without a group, the whole path.
	Regex string `toml:"regex"`

	// Proxy names an upstream that serves the request.
	Proxy string `toml:"proxy"`
	// Rewrite replaces the path sent upstream (regex routes: with $1…).
	Rewrite string `toml:"rewrite"`
	// Zope rewrites the upstream path for Zope's VirtualHostMonster so that
	// the URLs Zope generates point at the public scheme, host and port.
	Zope *Zope `toml:"zope"`

	// Static is a folder served as files (nginx's alias): a prefix route
	// maps the rest of the path below it; a regex route with a group maps
	// the first group.
	Static string `toml:"static"`
	// Index is the file served for a folder. Default "index.html".
	Index string `toml:"index"`

	// Redirect is a target URL; $1… expand regex groups and {uri} the
	// request URI. RedirectCode defaults to 302.
	Redirect     string `toml:"redirect"`
	RedirectCode int    `toml:"redirect_code"`

	// Respond is a fixed body; Status defaults to 200 and ContentType to
	// text/plain.
	Respond     *string `toml:"respond"`
	Status      int     `toml:"status"`
	ContentType string  `toml:"content_type"`

	// CacheControl sets the Cache-Control header of static and fixed
	// responses; Expires (a duration) sets Expires and, when CacheControl is
	// empty, "max-age".
	CacheControl string            `toml:"cache_control"`
	Expires      sitefile.Duration `toml:"expires"`
	// ExpiresModified counts Expires from a static file's modification
	// time rather than from now (nginx's "expires modified +1w", which the
	// seed uses for munin's pages); max-age is what is left of it, and
	// "no-cache" once it has passed.
	ExpiresModified bool `toml:"expires_modified"`

	// Allow, when set, admits only clients whose address falls in one of
	// its entries (addresses or CIDRs); Deny refuses those in its entries,
	// checked first. A refused client gets 403 (nginx's allow and deny,
	// with "deny all" after the allows). The address is the client's as
	// the access log has it: behind a trusted proxy, the one it forwarded.
	Allow []string `toml:"allow"`
	Deny  []string `toml:"deny"`
	// AuthBasic asks for a user name and password (HTTP basic
	// authentication, nginx's auth_basic); its value is the realm the
	// browser shows. AuthBasicUserFile is an htpasswd file (bcrypt,
	// Apache's apr1 MD5, {SHA}, {SSHA}, SHA-crypt $5$ and $6$; lines
	// starting with # are comments), read at start and on reload.
	AuthBasic         string `toml:"auth_basic"`
	AuthBasicUserFile string `toml:"auth_basic_user_file"`

	// Headers are set on the route's responses (nginx's add_header), e.g.
	// Strict-Transport-Security on a TLS site: replacing a field of the
	// same name from the upstream, and, as nginx does without "always",
	// only on 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308. A
	// route's headers replace its host's, as a location's add_header
	// replaces the server's.
	Headers map[string]string `toml:"headers"`

	allow, deny []netip.Prefix // Allow and Deny, parsed
	users       passwords      // AuthBasicUserFile, read
}

// passwords checks a user's password: an htpasswd file (*htpasswd.File).
type passwords interface {
	Match(user, password string) bool
}

// Zope configures the VirtualHostMonster rewrite of a proxy route:
// /path becomes /VirtualHostBase/{scheme}/{host}:{port}/{site}/VirtualHostRoot/path.
type Zope struct {
	// Site is the path of the site object in Zope ("Plone", "/a/b"); empty
	// for Zope's root (the ZMI).
	Site string `toml:"site"`
	// Base is the public sub-path the site appears under ("/zmi-admin");
	// it is removed from the path and given to Zope as _vh_ segments.
	Base string `toml:"base"`
	// Host and Port override the public host and port; by default they come
	// from the request's Host header and the listener's scheme.
	Host string `toml:"host"`
	Port int    `toml:"port"`
}

// NewConfig returns a Config holding the built-in defaults.
func NewConfig() *Config {
	return &Config{
		AccessLog:          "stdout",
		MaxBodySize:        100 << 20,
		BodyBufferSize:     128 << 10,
		MaxTempFileSize:    1 << 30,
		MaxTempTotal:       2 << 30,
		MaxBodyTempTotal:   2 << 30,
		MaxHeaderSize:      16 << 10,
		MaxHeaders:         100,
		ReadTimeout:        sitefile.Dur(60 * time.Second),
		WriteTimeout:       sitefile.Dur(60 * time.Second),
		IdleTimeout:        sitefile.Dur(65 * time.Second),
		MaxConns:           10000,
		EventLoop:          true,
		Grace:              sitefile.Dur(10 * time.Second),
		CompressMinSize:    1 << 10,
		StaticCache:        64 << 20,
		StaticCacheMaxFile: 1 << 20,
		Compress: []string{"text/html", "text/plain", "text/css", "text/xml", "text/javascript",
			"application/javascript", "application/json", "application/xml", "image/svg+xml"},
	}
}

// flagRoute is the one route that flags alone can describe.
type flagRoute struct {
	cfg      *Config
	listen   string
	upstream string
	static   string
	zopeSite string
	set      bool
}

// RegisterFlags registers one flag per scalar field. Flags alone describe a
// single default host: -upstream proxies every path (with -zope-site for
// the VirtualHostMonster rewrite), or -static serves a folder.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fr := &flagRoute{cfg: c}
	fs.Func("listen", "listen address (repeatable; replaces the configured listeners)", fr.addListener)
	fs.Func("upstream", "proxy every path of a single default host to these comma-separated addresses", func(s string) error {
		fr.upstream = s
		return fr.apply()
	})
	fs.Func("static", "serve every path of a single default host from this folder", func(s string) error {
		fr.static = s
		return fr.apply()
	})
	fs.Func("zope-site", "with -upstream: rewrite paths for Zope's VirtualHostMonster to this site id", func(s string) error {
		fr.zopeSite = s
		return fr.apply()
	})
	fs.StringVar(&c.AccessLog, "access-log", c.AccessLog, "access log: a path, stdout, stderr or off")
	fs.Func("trusted-proxies", "comma-separated CIDRs whose forwarding headers are trusted", func(s string) error {
		c.TrustedProxies = splitList(s)
		return nil
	})
	fs.Var(&c.MaxBodySize, "max-body-size", "largest request body (413 above)")
	fs.Var(&c.BodyBufferSize, "body-buffer-size", "largest request body kept in memory (a temporary file above)")
	fs.StringVar(&c.BodyTempDir, "body-temp-dir", c.BodyTempDir, "folder for request bodies over -body-buffer-size and spooled responses")
	fs.Var(&c.MaxTempFileSize, "max-temp-file-size", "largest temporary file of one response (0: none, responses go as the client takes them)")
	fs.Var(&c.MaxTempTotal, "max-temp-total", "all temporary response files together")
	fs.Var(&c.MaxBodyTempTotal, "max-body-temp-total", "all temporary request body files together (503 above)")
	fs.Var(&c.MaxHeaderSize, "max-header-size", "largest request head (431 above)")
	fs.IntVar(&c.MaxHeaders, "max-headers", c.MaxHeaders, "most request headers (431 above)")
	fs.Var(&c.ReadTimeout, "read-timeout", "time to read a whole request")
	fs.Var(&c.WriteTimeout, "write-timeout", "time to write a response")
	fs.Var(&c.IdleTimeout, "idle-timeout", "keep-alive idle time")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "concurrent connections per listener")
	fs.Var(&c.Grace, "grace", "shutdown grace period for in-flight requests")
	fs.BoolVar(&c.EventLoop, "event-loop", c.EventLoop, "serve plain-HTTP listeners through event loops (common proxied requests), the fasthttp server taking the rest")
	fs.IntVar(&c.EventLoops, "event-loops", c.EventLoops, "event loops (0: one per processor)")
	fs.Var(&c.CompressMinSize, "compress-min-size", "smallest body compressed")
	fs.Var(&c.StaticCache, "static-cache", "memory for small static files (0: off)")
	fs.Var(&c.StaticCacheMaxFile, "static-cache-max-file", "largest static file kept in memory")
}

func (fr *flagRoute) addListener(s string) error {
	if !fr.set {
		fr.cfg.Listeners = nil
		fr.set = true
	}
	fr.cfg.Listeners = append(fr.cfg.Listeners, Listener{Addr: s})
	return nil
}

// apply rebuilds the single flag-described host from the flags seen so far.
func (fr *flagRoute) apply() error {
	r := Route{Name: "default", Path: "/"}
	switch {
	case fr.upstream != "" && fr.static != "":
		return errors.New("-upstream and -static exclude each other")
	case fr.upstream != "":
		fr.cfg.Upstreams = map[string]Upstream{"default": {Addrs: splitList(fr.upstream)}}
		r.Proxy = "default"
		if fr.zopeSite != "" {
			r.Zope = &Zope{Site: fr.zopeSite}
		}
	case fr.static != "":
		r.Static = fr.static
	default:
		return nil
	}
	fr.cfg.Hosts = []Host{{Default: true, Routes: []Route{r}}}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Validate applies defaults, resolves address names against site and
// checks every value; errors name the key at fault.
func (c *Config) Validate(site sitefile.Site) error {
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Addr: "frontend"}}
	}
	for i := range c.Listeners {
		if err := c.Listeners[i].validate(site); err != nil {
			return sitefile.Prefix("listeners["+strconv.Itoa(i)+"]", err)
		}
	}
	for name, u := range c.Upstreams {
		if err := u.validate(site); err != nil {
			return sitefile.Prefix("upstreams."+name, err)
		}
		c.Upstreams[name] = u
	}
	if len(c.Hosts) == 0 {
		return sitefile.Errorf("hosts", "no virtual host: add a [[frontend.hosts]] with routes (or use -upstream/-static)")
	}
	for i := range c.Hosts {
		if err := c.Hosts[i].validate(c); err != nil {
			return sitefile.Prefix("hosts["+strconv.Itoa(i)+"]", err)
		}
	}
	switch c.AccessLog {
	case "":
		c.AccessLog = "stdout"
	}
	var err error
	if c.trusted, err = parsePrefixes("trusted_proxies", c.TrustedProxies); err != nil {
		return err
	}
	for key, v := range map[string]int64{"max_body_size": int64(c.MaxBodySize), "body_buffer_size": int64(c.BodyBufferSize), "max_header_size": int64(c.MaxHeaderSize),
		"max_headers": int64(c.MaxHeaders), "max_conns": int64(c.MaxConns)} {
		if v <= 0 {
			return sitefile.Errorf(key, "must be positive")
		}
	}
	if c.EventLoops < 0 || c.EventLoops > 256 {
		return sitefile.Errorf("event_loops", "must be between 0 (one per processor) and 256")
	}
	if c.MaxHeaderSize < 1<<10 || c.MaxHeaderSize > 1<<20 {
		// Each connection reading a head holds a buffer of this size.
		return sitefile.Errorf("max_header_size", "between 1K and 1M")
	}
	if c.StaticCache < 0 || c.StaticCache > 8<<30 {
		// A sanity bound on memory held for files: "64G" for "64M" is a
		// typo, not a cache for a Zope site's theme.
		return sitefile.Errorf("static_cache", "between 0 and 8G")
	}
	if c.StaticCacheMaxFile < 0 {
		return sitefile.Errorf("static_cache_max_file", "must not be negative")
	}
	// A file over the whole cache could never be kept: a static_cache set
	// below the default static_cache_max_file (1M) lowers it.
	c.StaticCacheMaxFile = min(c.StaticCacheMaxFile, max(c.StaticCache, 0))
	if c.MaxBodySize > 1<<31-1 {
		return sitefile.Errorf("max_body_size", "at most 2G")
	}
	if c.BodyBufferSize > 64<<20 {
		return sitefile.Errorf("body_buffer_size", "at most 64M (larger bodies belong in body_temp_dir)")
	}
	if c.MaxTempFileSize < 0 {
		return sitefile.Errorf("max_temp_file_size", "must not be negative")
	}
	if c.MaxTempTotal < 0 {
		return sitefile.Errorf("max_temp_total", "must not be negative")
	}
	if c.MaxBodySize > c.BodyBufferSize && c.MaxBodyTempTotal < c.MaxBodySize {
		return sitefile.Errorf("max_body_temp_total", "at least max_body_size (%v), or the largest upload allowed would never fit", c.MaxBodySize)
	}
	if c.BodyTempDir == "" {
		c.BodyTempDir = os.TempDir()
	}
	if err := checkTempDir(c.BodyTempDir); err != nil {
		return sitefile.Errorf("body_temp_dir", "%v", err)
	}
	return c.loadErrorPages()
}

// checkTempDir makes and removes a file in dir, so that a folder request
// bodies cannot be written to is found at start (or reload), not at the
// first large upload.
func checkTempDir(dir string) error {
	f, err := os.CreateTemp(dir, "cairn-body-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// ownStatuses are the statuses answered with an error page (errorPage).
var ownStatuses = []int{401, 403, 500, 502, 503, 504}

func (c *Config) loadErrorPages() error {
	c.errorPages = map[int][]byte{}
	for k, path := range c.ErrorPages {
		code, err := strconv.Atoi(k)
		if err != nil || !slices.Contains(ownStatuses, code) {
			return sitefile.Errorf("error_pages."+k, "not a status the frontend answers with a page (401, 403, 500, 502, 503, 504)")
		}
		b, err := sitefile.ReadFile(path, sitefile.MaxPageFile)
		if err != nil {
			return sitefile.Errorf("error_pages."+k, "%v", err)
		}
		c.errorPages[code] = b
	}
	return nil
}

// parsePrefixes reads the list of addresses and CIDRs under key.
func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range list {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, sitefile.Errorf(key+"["+strconv.Itoa(i)+"]", "%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix reads an address or a CIDR. IPv4 written as IPv6
// (::ffff:a.b.c.d) is taken as IPv4, as peers are: such an entry would
// otherwise never match.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%s: an IPv4-mapped prefix shorter than /96", s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (l *Listener) validate(site sitefile.Site) error {
	addr, err := site.Addr(l.Addr)
	if err != nil {
		return sitefile.Errorf("addr", "%v", err)
	}
	l.Addr = addr
	if (l.TLSCert == "") != (l.TLSKey == "") {
		return sitefile.Errorf("tls_key", "tls_cert and tls_key go together")
	}
	if l.TLS() {
		if _, err := loadCert(l.TLSCert, l.TLSKey); err != nil {
			return sitefile.Errorf("tls_cert", "%v", err)
		}
		if l.RedirectHTTPS {
			return sitefile.Errorf("redirect_https", "only for plain listeners")
		}
	}
	if l.HTTPSPort == 0 {
		l.HTTPSPort = 443
	}
	return nil
}

func (u *Upstream) validate(site sitefile.Site) error {
	if len(u.Addrs) == 0 {
		return sitefile.Errorf("addrs", "no address")
	}
	for i, a := range u.Addrs {
		addr, err := site.Addr(a)
		if err != nil {
			return sitefile.Errorf("addrs["+strconv.Itoa(i)+"]", "%v", err)
		}
		u.Addrs[i] = addr
	}
	def := func(d *sitefile.Duration, v time.Duration) {
		if d.Duration == 0 {
			d.Duration = v
		}
	}
	def(&u.ConnectTimeout, 5*time.Second)
	def(&u.ReadTimeout, 60*time.Second)
	def(&u.WriteTimeout, 60*time.Second)
	def(&u.IdleTimeout, 60*time.Second)
	def(&u.FailTimeout, 10*time.Second)
	if u.MaxConns == 0 {
		u.MaxConns = 512
	}
	return nil
}

func (h *Host) validate(c *Config) error {
	for i, n := range h.Names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" || strings.ContainsAny(n, "/ :") {
			return sitefile.Errorf("names["+strconv.Itoa(i)+"]", "invalid host name %q", n)
		}
		h.Names[i] = n
	}
	if len(h.Routes) == 0 {
		return sitefile.Errorf("routes", "no route")
	}
	if err := validateHeaders(h.Headers); err != nil {
		return err
	}
	for i := range h.Routes {
		if err := h.Routes[i].validate(c); err != nil {
			return sitefile.Prefix("routes["+strconv.Itoa(i)+"]", err)
		}
	}
	return nil
}

func (r *Route) validate(c *Config) error {
	switch {
	case (r.Path == "") == (r.Regex == ""):
		return sitefile.Errorf("path", "set exactly one of path and regex")
	case r.Path != "" && !strings.HasPrefix(r.Path, "/"):
		return sitefile.Errorf("path", "must start with /")
	case r.Regex != "":
		if _, err := regexp.Compile(r.Regex); err != nil {
			return sitefile.Errorf("regex", "%v", err)
		}
	}
	if r.Name == "" {
		r.Name = r.Path + r.Regex
	}
	kinds := 0
	for _, set := range []bool{r.Proxy != "", r.Static != "", r.Redirect != "", r.Respond != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return sitefile.Errorf("proxy", "set exactly one of proxy, static, redirect and respond")
	}
	if r.Proxy != "" {
		if _, ok := c.Upstreams[r.Proxy]; !ok {
			return sitefile.Errorf("proxy", "no upstream %q in [frontend.upstreams]", r.Proxy)
		}
	}
	if r.Zope != nil {
		if r.Proxy == "" {
			return sitefile.Errorf("zope", "only for proxy routes")
		}
		if r.Zope.Base != "" && (!strings.HasPrefix(r.Zope.Base, "/") || strings.HasSuffix(r.Zope.Base, "/")) {
			return sitefile.Errorf("zope.base", "must start and not end with / (e.g. \"/zmi-admin\")")
		}
	}
	if r.Static != "" {
		fi, err := os.Stat(r.Static)
		if err != nil {
			return sitefile.Errorf("static", "%v", err)
		}
		if !fi.IsDir() {
			return sitefile.Errorf("static", "%s is not a folder", r.Static)
		}
		if r.Index == "" {
			r.Index = "index.html"
		}
	}
	if r.ExpiresModified && (r.Static == "" || r.Expires.D() <= 0) {
		return sitefile.Errorf("expires_modified", "only for static routes with an expires duration")
	}
	if r.Redirect != "" {
		if r.RedirectCode == 0 {
			r.RedirectCode = 302
		}
		if r.RedirectCode < 300 || r.RedirectCode > 308 {
			return sitefile.Errorf("redirect_code", "not a redirect status")
		}
	}
	if err := r.validateAccess(); err != nil {
		return err
	}
	if err := validateHeaders(r.Headers); err != nil {
		return err
	}
	if r.Status == 0 {
		r.Status = 200
	}
	if r.Status < 100 || r.Status > 599 {
		return sitefile.Errorf("status", "invalid status %d", r.Status)
	}
	if r.ContentType == "" {
		r.ContentType = "text/plain; charset=utf-8"
	}
	return nil
}

// String is the effective configuration as logged at start and after a
// reload: every key, in the site file's names.
func (c *Config) String() string { return sitefile.Effective(c) }
