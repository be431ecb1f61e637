package frontend

import (
	"iter"
	"slices"
	"strings"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// validateHeaders checks the names and values of a headers table: a name
// must be an HTTP token, a value must not break the header (CR, LF, NUL),
// and fields that describe the body or its framing, hop-by-hop fields and
// Set-Cookie (whose lines are not one list: replacing would drop the
// upstream's cookies) are refused.
func validateHeaders(h map[string]string) error {
	for k, v := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return sitefile.Errorf("headers", "%q is not a header name", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return sitefile.Errorf("headers", "the value of %s holds control characters", k)
		}
		if isHopHeader([]byte(k)) || slices.ContainsFunc(ownedHeaders, func(o string) bool { return strings.EqualFold(o, k) }) {
			return sitefile.Errorf("headers", "%s cannot be set here (it describes the body, its framing or a cookie)", k)
		}
	}
	return nil
}

// ownedHeaders are refused in headers tables (with the hop-by-hop ones).
var ownedHeaders = []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range", "Date", "Set-Cookie"}

// addedHeaders is what a route sets on its responses: its own headers, or
// else its host's, sorted by name so that responses are alike.
func addedHeaders(host, route map[string]string) [][2]string {
	src := route
	if len(src) == 0 {
		src = host
	}
	var out [][2]string
	for k, v := range src {
		out = append(out, [2]string{k, v})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// setAddedHeaders sets a route's headers on its response, for the
// statuses nginx's add_header covers, replacing every field of the same
// name in any spelling (header names are not normalized, and an upstream
// may send a field twice).
func setAddedHeaders(resp *fasthttp.Response, headers [][2]string) {
	switch resp.StatusCode() {
	case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
	default:
		return
	}
	for _, h := range headers {
		if strings.EqualFold(h[0], "Vary") {
			// Added to the response's own (Accept-Encoding, when it is
			// compressible): it varies on both.
			for f := range strings.SplitSeq(h[1], ",") {
				if f = strings.TrimSpace(f); f != "" {
					addVary(&resp.Header, f)
				}
			}
			continue
		}
		replaceFold(&resp.Header, h[0], h[1])
	}
}

// replaceFold sets a response field, replacing every field of that name
// in any spelling (names are not normalized: an upstream's "Etag" or
// "vary" is another field to fasthttp than "ETag" or "Vary").
func replaceFold(h *fasthttp.ResponseHeader, name, value string) {
	delFold(h, name)
	h.Set(name, value)
}

// delFold removes every field of a name, in any spelling, from a request
// or response header.
func delFold[H interface {
	*fasthttp.RequestHeader | *fasthttp.ResponseHeader
	All() iter.Seq2[[]byte, []byte]
	DelBytes([]byte)
	Len() int
}](h H, name string) {
	for range h.Len() { // a spelling at a time (deleting moves the header's bytes)
		var found []byte
		for k := range h.All() {
			if strings.EqualFold(string(k), name) {
				found = append(found[:0], k...)
				break
			}
		}
		if found == nil {
			break
		}
		h.DelBytes(found)
	}
}
