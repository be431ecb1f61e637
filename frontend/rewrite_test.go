package frontend

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestVHMOnParsedURI checks that a VHM path set on the URI fasthttp parsed
// (rewriteURI on the client's request) sends the same request upstream as
// setting the whole request line again (rewriteURI on a copy).
func TestVHMOnParsedURI(t *testing.T) {
	r := &route{vhm: newVHM(&Zope{Site: "Plone"})}
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /a%20b?x=1&y=%2F&z HTTP/1.1\r\nHost: WWW.Example.com:8080\r\n\r\n",
		"GET /news/../item?q=a+b#frag HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /caf%C3%A9/?%zz HTTP/1.0\r\nHost: h:1\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET //twice HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET http://other.example/abs?x HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /form?a=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nb=2",
	} {
		var direct, copied fasthttp.RequestCtx
		for _, ctx := range []*fasthttp.RequestCtx{&direct, &copied} {
			ctx.Request.Header.DisableNormalizing()
			if err := ctx.Request.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
			_ = ctx.URI() // parsed, as the server does before calling the handler
		}
		rewriteURI(&direct, &direct.Request, r, nil, string(direct.Path()), "http")
		req := fasthttp.AcquireRequest()
		copied.Request.CopyTo(req)
		rewriteURI(&copied, req, r, nil, string(copied.Path()), "http")
		if got, want := upstreamBytes(t, &direct.Request), upstreamBytes(t, req); got != want {
			t.Errorf("%q:\nin place %q\ncopy     %q", raw, got, want)
		}
		fasthttp.ReleaseRequest(req)
	}
}

// upstreamBytes is what HostClient would send for req.
func upstreamBytes(t *testing.T, req *fasthttp.Request) string {
	t.Helper()
	req.URI().SetScheme("http")
	req.URI().DisablePathNormalizing = true
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := req.Write(w); err != nil {
		t.Fatal(err)
	}
	_ = w.Flush()
	return b.String()
}

// TestHopHeaderLengths checks isHopHeader's list of name lengths.
func TestHopHeaderLengths(t *testing.T) {
	for _, h := range hopHeaders {
		if !isHopHeader([]byte(h)) || !isHopHeader([]byte(strings.ToLower(h))) {
			t.Errorf("isHopHeader(%q) = false", h)
		}
	}
	for _, k := range []string{"Host", "Content-Type", "X-Forwarded-For", "Date", "Te-x"} {
		if isHopHeader([]byte(k)) {
			t.Errorf("isHopHeader(%q) = true", k)
		}
	}
}
