package frontend

import (
	"bytes"
	"strings"
	"unicode"
)

// laneRequest is a request head in the shape the event loop serves itself
// (lane.go). The shape is narrow on purpose: a GET or HEAD over HTTP/1.1
// with no body, a path that needs no decoding or normalizing, plain field
// values, and none of the fields whose handling is subtle (framing,
// hop-by-hop options, forwarding chains). Every other request goes, with
// the rest of its connection, to the fasthttp server, which implements all
// of it; so this parser never needs to interpret what it does not know,
// only to recognize what it does.
type laneRequest struct {
	head   bool // HEAD, not GET
	close  bool // Connection: close
	method []byte
	target []byte // the request target as sent: path, '?', query
	path   []byte // target before '?'
	query  []byte // target after '?'; nil without one
	// fields are the header lines to forward, "Name: value\r\n" each,
	// with the Connection line (at most one) at conn[0]:conn[1] to skip.
	fields                []byte
	conn                  [2]int
	host, acceptEncoding  []byte
	referer, userAgent    []byte
	authorization         []byte
	conditional           bool // If-* or Range: static answers go through serveStatic
	hasCookie             bool
	nfields, headLen      int
	lineLen               int // the request line's, with its CRLF
	hasConn, hasAcceptEnc bool
}

// parseLaneRequest reads the request head at the start of b into r. It
// returns the head's length; 0 when b does not hold a whole head yet; -1
// when the request is not one the loop serves (laneRequest), or is
// malformed: the fasthttp server is given it to answer. Slices in r point
// into b.
func parseLaneRequest(b []byte, r *laneRequest, maxHeaders int) int {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		// A head with bare LF line ends would never show CRLF CRLF.
		for i := bytes.IndexByte(b, '\n'); i >= 0; {
			if i == 0 || b[i-1] != '\r' {
				return -1
			}
			j := bytes.IndexByte(b[i+1:], '\n')
			if j < 0 {
				break
			}
			i += 1 + j
		}
		return 0
	}
	*r = laneRequest{headLen: end + 4}
	line, rest, _ := bytes.Cut(b[:end+2], crlf)
	if !r.requestLine(line) {
		return -1
	}
	r.lineLen = len(line) + 2
	r.fields = rest
	for off := 0; off < len(rest); {
		i := bytes.Index(rest[off:], crlf)
		if i < 0 { // cannot happen: rest ends with CRLF
			return -1
		}
		if !r.field(rest[off:off+i], off, off+i+2) {
			return -1
		}
		off += i + 2
		if r.nfields++; r.nfields > maxHeaders {
			return -1
		}
	}
	if r.host == nil {
		return -1
	}
	return r.headLen
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// requestLine takes "GET /path?query HTTP/1.1".
func (r *laneRequest) requestLine(line []byte) bool {
	method, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return false
	}
	switch string(method) {
	case "GET":
	case "HEAD":
		r.head = true
	default:
		return false
	}
	target, version, ok := bytes.Cut(rest, []byte{' '})
	if !ok || string(version) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f || c == '%' || c == '#' || c == '\\' {
			return false
		}
	}
	r.method, r.target, r.path = method, target, target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		r.path, r.query = target[:i], target[i+1:]
		if len(r.query) == 0 {
			return false // fasthttp drops the '?': not sent alike
		}
	}
	return normalPath(r.path)
}

// normalPath reports whether fasthttp would leave a path as it is: no
// empty, "." or ".." segments.
func normalPath(p []byte) bool {
	s := string(p)
	return !strings.Contains(s, "//") && !strings.Contains(s, "/./") && !strings.Contains(s, "/../") &&
		!strings.HasSuffix(s, "/.") && !strings.HasSuffix(s, "/..")
}

// field takes one header line, which is fields[start:end] with its CRLF.
func (r *laneRequest) field(line []byte, start, end int) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := line[:colon]
	for _, c := range name {
		if !tokenByte[c] || c == '_' {
			return false
		}
	}
	value := line[colon+1:]
	for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
		value = value[1:]
	}
	for len(value) > 0 && (value[len(value)-1] == ' ' || value[len(value)-1] == '\t') {
		value = value[:len(value)-1]
	}
	for _, c := range value {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	switch {
	case isField(name, "Host"):
		if r.host != nil || len(value) == 0 || !validHost(value) || bytes.ContainsFunc(value, unicode.IsUpper) {
			// Upper case: fasthttp sends the Host (and VHM's host) in
			// lower case; rare enough to leave to it.
			return false
		}
		r.host = value
	case isField(name, "Connection"):
		if r.hasConn {
			return false
		}
		switch {
		case bytes.EqualFold(value, []byte("close")):
			r.close = true
		case bytes.EqualFold(value, []byte("keep-alive")):
		default:
			return false
		}
		r.hasConn, r.conn = true, [2]int{start, end}
	case string(name) == "Accept-Encoding":
		// Exactly so spelled, as the fasthttp path reads it (Peek, with
		// names not normalized); another spelling is only forwarded.
		if r.hasAcceptEnc {
			return false
		}
		r.hasAcceptEnc, r.acceptEncoding = true, value
	case isField(name, "Cookie"):
		// fasthttp joins several Cookie lines into one ("a=b; c=d");
		// waitress would join them with ", ", which Zope reads as one
		// cookie: a second is the fasthttp path's.
		if r.hasCookie {
			return false
		}
		r.hasCookie = true
	case string(name) == "Referer": // as Accept-Encoding
		return r.once(&r.referer, value)
	case isField(name, "User-Agent"):
		return r.once(&r.userAgent, value)
	case isField(name, "Authorization"):
		return r.once(&r.authorization, value)
	case len(name) >= 5 && (name[0]|0x20 == 'i' && name[1] == '-' || name[0]|0x20 == 'r' && isField(name, "Range")):
		r.conditional = true // If-None-Match, If-Modified-Since, If-Range, …, Range
	case isField(name, "Content-Length"), isField(name, "Expect"), isHopHeader(name), forwardingName(name) != "":
		// A body, hop-by-hop options, or a forwarding chain: the
		// fasthttp server's.
		return false
	}
	return true
}

// once keeps a field's value that the access log reads; a second line of
// it is left to the fasthttp server, which reads the first.
func (r *laneRequest) once(dst *[]byte, value []byte) bool {
	if *dst != nil {
		return false
	}
	*dst = value
	if *dst == nil {
		*dst = []byte{}
	}
	return true
}

// isField reports whether name is n in any case.
func isField(name []byte, n string) bool {
	return len(name) == len(n) && strings.EqualFold(string(name), n)
}
