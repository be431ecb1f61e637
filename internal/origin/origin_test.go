package origin

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net"
	"testing"
	"time"
)

func TestPublicBase(t *testing.T) {
	for path, want := range map[string]string{
		"/VirtualHostBase/http/example.com:80/Plone/VirtualHostRoot/x":              "http://example.com",
		"/VirtualHostBase/https/example.com:8443/Plone/VirtualHostRoot/_vh_a/_vh_b": "https://example.com:8443/a/b",
		"/VirtualHostBase/http/127.0.0.1:8000/VirtualHostRoot/_vh_zmi-admin/manage": "http://127.0.0.1:8000/zmi-admin",
		"/plain/path": "/",
	} {
		if got := publicBase(path); got != want {
			t.Errorf("publicBase(%q) = %q; want %q", path, got, want)
		}
	}
}

// TestPageIsWellFormedXML: nginx's XSLT filter (the transform tier's peer)
// parses the page with an XML parser.
func TestPageIsWellFormedXML(t *testing.T) {
	page := plonePage(20 << 10)
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	if len(page) < 19<<10 || len(page) > 21<<10 {
		t.Errorf("page of %d bytes; want about 20 KB", len(page))
	}
}

// TestServeStopsAtOnce: an origin stopped as soon as it starts returns
// (fasthttp's Shutdown misses a listener its Serve has not registered yet).
func TestServeStopsAtOnce(t *testing.T) {
	for i := range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- New("o", 0).Serve(ctx, ln) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: Serve did not return after its context ended", i)
		}
	}
}
