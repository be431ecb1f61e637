package frontend

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// compressible reports whether a response of this type and size is one the
// frontend compresses, whatever the client accepts; it also marks such a
// response with Vary: Accept-Encoding, since its encoding depends on it.
func (f *Frontend) compressible(h *fasthttp.ResponseHeader, ctype string, size int64) bool {
	if len(h.Peek("Content-Encoding")) > 0 || !f.compressibleType(ctype, size) {
		return false
	}
	addVary(h, "Accept-Encoding")
	return true
}

// compressibleType is compressible for an answer not encoded already,
// without marking it.
func (f *Frontend) compressibleType(ctype string, size int64) bool {
	c := f.cfg()
	if size < int64(c.CompressMinSize) {
		return false
	}
	if i := strings.IndexByte(ctype, ';'); i >= 0 {
		ctype = ctype[:i]
	}
	ctype = strings.TrimSpace(ctype)
	// Compared without allocating: this runs on every response.
	for _, t := range c.Compress {
		if strings.EqualFold(t, ctype) {
			return true
		}
	}
	return false
}

// compress encodes the response body with brotli or gzip, as the client
// prefers, when it is compressible and not encoded already (never twice).
func (f *Frontend) compress(ctx *fasthttp.RequestCtx) {
	f.compressResponse(&ctx.Response, ctx.IsHead(), ctx.Request.Header.IsHTTP11(), ctx.Request.Header.Peek("Accept-Encoding"))
}

// compressResponse is compress for a response to a request with the given
// method (HEAD or not), version and Accept-Encoding.
func (f *Frontend) compressResponse(resp *fasthttp.Response, head, http11 bool, acceptEncoding []byte) {
	if resp.IsBodyStream() || resp.StatusCode() == fasthttp.StatusPartialContent ||
		resp.StatusCode() < 200 || resp.StatusCode() == fasthttp.StatusNoContent || resp.StatusCode() == fasthttp.StatusNotModified {
		return
	}
	if head {
		f.compressHead(&resp.Header, http11, acceptEncoding)
		return
	}
	if resp.SkipBody {
		return
	}
	body := resp.Body()
	if !f.compressible(&resp.Header, string(resp.Header.ContentType()), int64(len(body))) {
		return
	}
	enc := acceptedEncoding(acceptEncoding)
	if enc == "" {
		return
	}
	setEncoded(resp, enc, encode(enc, body))
}

// compressHead gives an answer to HEAD the fields the answer to GET would
// have (RFC 9110 §9.3.2): one that GET's would be compressed says so, and
// leaves out its length, which only compressing would tell, as nginx
// leaves it out: "Transfer-Encoding: chunked" to HTTP/1.1, and to HTTP/1.0,
// which must not be sent a transfer coding (RFC 9112 §6.1), no length at
// all, the connection closed after. GET's body is compressed when it is
// read whole, of a length up to maxBufferedBody (static files up to
// maxCompressStatic, the same size); an answer to HEAD that gives no
// length (or 0, as some applications answer HEAD) is left as it is, since
// GET's may or may not be.
func (f *Frontend) compressHead(h *fasthttp.ResponseHeader, http11 bool, acceptEncoding []byte) {
	size := int64(h.ContentLength())
	if size <= 0 || size > maxBufferedBody || !f.compressible(h, string(h.ContentType()), size) {
		return
	}
	if enc := acceptedEncoding(acceptEncoding); enc != "" {
		markEncoded(h, enc)
		h.SetContentLength(-1)
		if !http11 {
			h.Del("Transfer-Encoding")
			h.SetConnectionClose()
		}
	}
}

// encode compresses body with "br" or "gzip", at levels that keep the CPU
// cost per request near nginx's gzip_comp_level 1–5.
func encode(enc string, body []byte) []byte {
	if enc == "br" {
		return fasthttp.AppendBrotliBytesLevel(nil, body, 4)
	}
	return fasthttp.AppendGzipBytesLevel(nil, body, 5)
}

// setEncoded makes out, encoded with enc, the response body.
func setEncoded(resp *fasthttp.Response, enc string, out []byte) {
	resp.SetBodyRaw(out)
	markEncoded(&resp.Header, enc)
	resp.Header.SetContentLength(len(out))
}

// markEncoded gives h the fields of an answer encoded with enc.
func markEncoded(h *fasthttp.ResponseHeader, enc string) {
	h.Set("Content-Encoding", enc)
	// Byte ranges would be of the file, not of this body: nginx drops it.
	delFold(h, "Accept-Ranges")
	// A strong validator names one representation; the compressed one is
	// another (RFC 9110 §8.8.3), so weaken it as nginx does.
	// Zope spells it "Etag".
	var buf [128]byte
	if et := appendFieldFold(buf[:0], h.All(), "ETag"); len(et) > 0 && !bytes.HasPrefix(et, []byte("W/")) {
		replaceFold(h, "ETag", weakETag(string(et)))
	}
}

// weakETag is a validator made weak (W/), as nginx makes the one of an
// answer it compressed.
func weakETag(et string) string {
	if strings.HasPrefix(et, "W/") {
		return et
	}
	return "W/" + et
}

// acceptedEncoding picks "br" or "gzip" from an Accept-Encoding header,
// honouring q-values (q=0 refuses); "" when neither is acceptable.
func acceptedEncoding(ae []byte) string {
	if len(ae) == 0 {
		return ""
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(string(ae), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(param, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") { // "Q=0" refuses too (RFC 9110 §12.4.2)
				if p, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = p
				}
			}
		}
		if (name == "br" || name == "gzip") && q > 0 && (q > bestQ || q == bestQ && name == "br") {
			best, bestQ = name, q
		}
	}
	return best
}

// addVary adds a field to Vary unless it is listed already (or Vary is *),
// reading Vary in any spelling and over every line, and leaving one.
func addVary(h *fasthttp.ResponseHeader, field string) {
	var buf [128]byte
	v := appendFieldFold(buf[:0], h.All(), "Vary")
	for rest := v; len(rest) > 0; {
		var f []byte
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			f, rest = rest[:i], rest[i+1:]
		} else {
			f, rest = rest, nil
		}
		if f = bytes.TrimSpace(f); bytes.EqualFold(f, []byte(field)) || len(f) == 1 && f[0] == '*' {
			return
		}
	}
	if len(v) == 0 {
		h.Set("Vary", field)
		return
	}
	replaceFold(h, "Vary", string(v)+", "+field)
}
