package load

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

var heads = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
	"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
	"HTTP/1.1 503\r\nContent-Length: 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
}

func TestParseRespHead(t *testing.T) {
	want := []respHead{
		{200, 100, false, false}, {200, -1, true, false}, {404, 0, false, true}, {200, 5, false, true},
		{200, 5, false, false}, {304, -1, false, false}, {200, -1, false, true}, {503, 3, false, false},
		{200, 9, true, false},
	}
	for i, h := range heads {
		got, ok := parseRespHead([]byte(h))
		if !ok || got != want[i] {
			t.Errorf("%q: %+v, %v; want %+v", h, got, ok, want[i])
		}
	}
	for _, bad := range []string{
		"", "HTTP/1.1 200 OK\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nextra",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n",
	} {
		if _, ok := parseRespHead([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseRespHead: never a panic, and whatever both this parser and
// fasthttp's accept, they read alike: status, how the body is delimited,
// and whether the connection closes.
func FuzzParseRespHead(f *testing.F) {
	for _, h := range heads {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseRespHead(b)
		if !ok || !bytes.HasSuffix(b, []byte("\r\n\r\n")) || bytes.IndexByte(b, 0) >= 0 {
			return
		}
		var h fasthttp.ResponseHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(b))); err != nil {
			return
		}
		cl := h.ContentLength()
		if s := got.status; s < 200 || s == 204 || s == 304 {
			// No body whatever the fields say (RFC 9112 §6.3); fasthttp's
			// framing fields for these are not what the loop uses.
			if s != h.StatusCode() {
				t.Fatalf("%q: status %d, fasthttp %d", b, s, h.StatusCode())
			}
			return
		}
		switch {
		case got.status != h.StatusCode():
			t.Fatalf("%q: status %d, fasthttp %d", b, got.status, h.StatusCode())
		case got.chunked != (cl == -1):
			t.Fatalf("%q: chunked %v, fasthttp length %d", b, got.chunked, cl)
		case !got.chunked && got.length >= 0 && got.length != cl:
			t.Fatalf("%q: length %d, fasthttp %d", b, got.length, cl)
		case got.close != h.ConnectionClose():
			t.Fatalf("%q: close %v, fasthttp %v", b, got.close, h.ConnectionClose())
		}
	})
}
