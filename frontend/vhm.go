package frontend

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// vhm is a route's rewrite for Zope's VirtualHostMonster:
//
//	/path → /VirtualHostBase/{scheme}/{host}:{port}/{site}/VirtualHostRoot/path
//
// and, when the site appears under a public sub-path (Zope.Base, e.g.
// "/zmi-admin"), that sub-path is removed and given to Zope as _vh_ segments
// (…/VirtualHostRoot/_vh_zmi-admin/path), so that every URL Zope generates
// carries the public scheme, host, port and sub-path.
//
// The part after the host and port depends only on the configuration, so
// it is escaped once here; per request only the host, port and path are
// appended (building the whole path with url escaping was a visible cost
// on every proxied request).
type vhm struct {
	host []byte // Zope.Host: replaces the request's host when set
	port int    // Zope.Port: replaces the request's port when not 0
	root string // "/{site}/VirtualHostRoot/_vh_…", escaped
	base string // Zope.Base, removed from the start of the path
}

func newVHM(z *Zope) *vhm {
	v := &vhm{port: z.Port, base: z.Base}
	if z.Host != "" {
		v.host = []byte(z.Host)
	}
	var b strings.Builder
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
	}
	v.root = b.String()
	return v
}

// appendPath appends the rewritten form of the public path (decoded) to
// dst, escaped for the request line. host and port are the public ones.
func (v *vhm) appendPath(dst []byte, scheme string, host []byte, port int, path string) []byte {
	if v.host != nil {
		host = v.host
	}
	if v.port != 0 {
		port = v.port
	}
	dst = append(dst, "/VirtualHostBase/"...)
	dst = append(dst, scheme...)
	dst = append(dst, '/')
	dst = appendHostPort(dst, host, port)
	dst = append(dst, v.root...)
	if v.base != "" {
		path = strings.TrimPrefix(path, v.base)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return appendEscapedPath(dst, path)
}

// appendHostPort appends host:port as a path segment, with IPv6 hosts
// bracketed. A plain name or IPv4 address needs no escaping, which is
// what nearly every request has.
func appendHostPort(dst, host []byte, port int) []byte {
	for _, c := range host {
		if !isNameByte(c) {
			hp := net.JoinHostPort(strings.Trim(string(host), "[]"), strconv.Itoa(port))
			return append(dst, escapePath(hp)...)
		}
	}
	dst = append(dst, host...)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(port), 10)
}

// isNameByte reports whether c may appear in a DNS name or IPv4 address
// as validHost admits it, without any escaping in a path.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// appendEscapedPath appends p, decoded, escaped for a request line as
// escapePath does. Most paths need no escaping and are copied as they are.
func appendEscapedPath(dst []byte, p string) []byte {
	for i := 0; i < len(p); i++ {
		if !pathSafe(p[i]) {
			return append(dst, escapePath(p)...)
		}
	}
	return append(dst, p...)
}

// pathSafe reports whether url escaping leaves c as it is in a path
// (RFC 3986 unreserved characters, and the sub-delimiters, ':', '@' and
// '/' that net/url allows there). TestPathSafe checks it against net/url.
func pathSafe(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	switch c {
	case '-', '_', '.', '~', '/', '$', '&', '+', ',', ':', ';', '=', '@':
		return true
	}
	return false
}

// escapePath escapes a decoded path for a request line, leaving "/".
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}
