package frontend

import (
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// router is one compiled configuration: what serves each host and path. It
// is immutable; a reload builds a new one and swaps it in atomically.
type router struct {
	cfg      *Config
	exact    map[string]*vhost
	wildcard []wildcardHost // "*.example.com" → suffix ".example.com"
	fallback *vhost
	pools    map[string]*pool
	files    *fileCache
	hosts    []*vhost     // every one, also those no name reaches (to close)
	bodyRoom *tempRoom    // max_body_temp_total, for takeBody
	users    atomic.Int64 // requests using it now (Frontend.acquire)
}

type wildcardHost struct {
	suffix string
	host   *vhost
}

type vhost struct {
	label  string
	routes []*route
}

// route is a compiled Route with its metric handles resolved once, so the
// request path does no label hashing.
type route struct {
	Route
	re       *regexp.Regexp
	pool     *pool
	vhm      *vhm // Zope's rewrite, when the route has one
	static   *staticRoot
	body     []byte
	headers  [][2]string                         // set on its responses (Route.Headers, or its host's)
	requests [len(classNames)]prometheus.Counter // by classIndex
}

func newRouter(cfg *Config, m *metrics, logger *slog.Logger) (*router, error) {
	files, err := newFileCache(int64(cfg.StaticCache), int64(cfg.StaticCacheMaxFile))
	if err != nil {
		return nil, err
	}
	rt := &router{cfg: cfg, exact: map[string]*vhost{}, pools: map[string]*pool{}, files: files,
		bodyRoom: &tempRoom{inUse: &m.bodyTempBytes, total: int64(cfg.MaxBodyTempTotal)}}
	var sp *spooling // nil: off
	if cfg.MaxTempFileSize > 0 && cfg.MaxTempTotal > 0 {
		sp = &spooling{dir: cfg.BodyTempDir, limit: int64(cfg.MaxTempFileSize),
			room:    tempRoom{inUse: &m.spoolBytes, total: int64(cfg.MaxTempTotal)},
			spooled: m.spooledResponses, logger: logger}
	}
	for name, u := range cfg.Upstreams {
		rt.pools[name] = newPool(name, u, m, sp, logger)
	}
	for i := range cfg.Hosts {
		h := &cfg.Hosts[i]
		vh := &vhost{label: "_"}
		if len(h.Names) > 0 {
			vh.label = h.Names[0]
		}
		rt.hosts = append(rt.hosts, vh) // before its routes, which close closes if one fails
		for j := range h.Routes {
			r, err := rt.compileRoute(h.Routes[j], vh.label, m)
			if err != nil {
				rt.close()
				return nil, err
			}
			r.headers = addedHeaders(h.Headers, h.Routes[j].Headers)
			vh.routes = append(vh.routes, r)
		}
		for _, n := range h.Names {
			if strings.HasPrefix(n, "*.") {
				rt.wildcard = append(rt.wildcard, wildcardHost{suffix: n[1:], host: vh})
			} else if _, dup := rt.exact[n]; !dup {
				rt.exact[n] = vh
			}
		}
		if h.Default || rt.fallback == nil {
			rt.fallback = vh
		}
	}
	return rt, nil
}

func (rt *router) compileRoute(r Route, hostLabel string, m *metrics) (*route, error) {
	cr := &route{Route: r, pool: rt.pools[r.Proxy]}
	if r.Regex != "" {
		cr.re = regexp.MustCompile(r.Regex) // checked by Validate
	}
	if r.Static != "" {
		s, err := openStaticRoot(r.Static, rt.files)
		if err != nil {
			return nil, err
		}
		cr.static = s
	}
	if r.Zope != nil {
		cr.vhm = newVHM(r.Zope)
	}
	if r.Respond != nil {
		cr.body = []byte(*r.Respond)
	}
	for i, class := range classNames {
		cr.requests[i] = m.requests.WithLabelValues(hostLabel, r.Name, class)
	}
	return cr, nil
}

// host finds the virtual host for a Host header value (port removed).
func (rt *router) host(name []byte) *vhost {
	if i := strings.LastIndexByte(string(name), ':'); i >= 0 && !strings.HasSuffix(string(name), "]") {
		name = name[:i]
	}
	if vh, ok := rt.exact[strings.ToLower(string(name))]; ok {
		return vh
	}
	for _, w := range rt.wildcard {
		if len(name) > len(w.suffix) && strings.EqualFold(string(name[len(name)-len(w.suffix):]), w.suffix) {
			return w.host
		}
	}
	return rt.fallback
}

// match returns the first route matching path, with regex groups.
//
// slash is true when path is a proxy prefix route's path without its final
// slash ("/zmi-admin" for "/zmi-admin/"), and no route takes the path
// itself — one before it, a later regex route, or a later prefix route
// that is the path exactly: it is answered with a redirect to the path
// with the slash, as nginx does for such a location, rather than by a
// shorter prefix route after it (often "/", which would send it to the
// site as a page that does not exist).
func (vh *vhost) match(path string) (r *route, groups []string, slash bool) {
	var wantsSlash *route
	for _, r := range vh.routes {
		if r.re != nil {
			if m := r.re.FindStringSubmatch(path); m != nil {
				return r, m, false
			}
			continue
		}
		if strings.HasPrefix(path, r.Path) && (wantsSlash == nil || len(r.Path) == len(path)) {
			return r, nil, false
		}
		if wantsSlash == nil && r.pool != nil && len(r.Path) == len(path)+1 && r.Path[len(path)] == '/' && strings.HasPrefix(r.Path, path) {
			wantsSlash = r
		}
	}
	if wantsSlash != nil {
		return wantsSlash, nil, true
	}
	return nil, nil, false
}

// slashLocation is the Location of a redirect adding the final slash to
// the request's path: the path escaped again (it was decoded), and the
// query.
func slashLocation(ctx *fasthttp.RequestCtx) string {
	return (&url.URL{Path: string(ctx.Path()) + "/", RawQuery: string(ctx.URI().QueryString())}).RequestURI()
}

// rest is the part of path the route maps into a folder or a rewrite: for
// prefix routes what follows the prefix, for regex routes the first group
// (or the whole path without one).
func (r *route) rest(path string, groups []string) string {
	if r.re != nil {
		if len(groups) > 1 {
			return groups[1]
		}
		return path
	}
	return strings.TrimPrefix(path, strings.TrimSuffix(r.Path, "/"))
}

// expand replaces $1… in tmpl with regex groups and {uri} with the request
// target (requestTarget). The groups come from the decoded path; for a
// redirect (escape), whose result is a URL, they are escaped again, so
// that an encoded "?" or space stays part of the path. A rewrite's result
// is a path that rewriteURI escapes itself.
func (r *route) expand(tmpl string, groups []string, ctx *fasthttp.RequestCtx, escape bool) string {
	if strings.Contains(tmpl, "{uri}") {
		tmpl = strings.ReplaceAll(tmpl, "{uri}", requestTarget(ctx))
	}
	if r.re == nil || !strings.Contains(tmpl, "$") {
		return tmpl
	}
	var dst []byte
	idx := make([]int, 0, 2*len(groups))
	off := 0
	var src strings.Builder
	for _, g := range groups {
		if escape {
			g = (&url.URL{Path: g}).EscapedPath()
		}
		idx = append(idx, off, off+len(g))
		off += len(g)
		src.WriteString(g)
	}
	return string(r.re.ExpandString(dst, tmpl, src.String(), idx))
}

// requestTarget is the request URI as the client sent it, for a
// redirect's Location: an absolute-form request ("GET http://host/path")
// gives its path and query, not its scheme and host again.
func requestTarget(ctx *fasthttp.RequestCtx) string {
	uri := string(ctx.RequestURI())
	if strings.HasPrefix(uri, "/") {
		return uri
	}
	if i := strings.Index(uri, "://"); i >= 0 {
		rest := uri[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			if rest[j] == '?' {
				return "/" + rest[j:]
			}
			return rest[j:]
		}
	}
	return "/"
}

func (rt *router) close() {
	rt.files.close()
	for _, p := range rt.pools {
		p.close()
	}
	for _, vh := range rt.hosts {
		for _, r := range vh.routes {
			if r.static != nil {
				r.static.close()
			}
		}
	}
}
