package frontend

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// vhmPath rewrites a public path for Zope's VirtualHostMonster:
//
//	/path → /VirtualHostBase/{scheme}/{host}:{port}/{site}/VirtualHostRoot/path
//
// and, when the site appears under a public sub-path (z.Base, e.g.
// "/zmi-admin"), that sub-path is removed and given to Zope as _vh_ segments
// (…/VirtualHostRoot/_vh_zmi-admin/path), so that every URL Zope generates
// carries the public scheme, host, port and sub-path. path is decoded; the
// result is escaped for the request line.
func vhmPath(z *Zope, scheme, host string, port int, path string) string {
	if z.Host != "" {
		host = z.Host
	}
	if z.Port != 0 {
		port = z.Port
	}
	var b strings.Builder
	b.WriteString("/VirtualHostBase/")
	b.WriteString(scheme)
	b.WriteByte('/')
	b.WriteString(escapePath(net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))))
	if site := strings.Trim(z.Site, "/"); site != "" {
		b.WriteByte('/')
		b.WriteString(escapePath(site))
	}
	b.WriteString("/VirtualHostRoot")
	if z.Base != "" {
		for _, seg := range strings.Split(strings.Trim(z.Base, "/"), "/") {
			b.WriteString("/_vh_")
			b.WriteString(escapePath(seg))
		}
		path = strings.TrimPrefix(path, z.Base)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	b.WriteString(escapePath(path))
	return b.String()
}

// escapePath escapes a decoded path for a request line, leaving "/".
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}
