// Package origin is a small stand-in for a Zope instance, used by `make run`
// (as the demo upstream), by the tests and by the benchmarks. It answers
// like a Plone site would for the cases Cairn's tiers care about, and it
// has Zope's fixed number of worker threads.
//
// Paths (the last segment counts, so they work under a VirtualHostMonster
// prefix too):
//
//	/bytes?n=100      n bytes of text/plain (default 100)
//	/page             a 20 KB Plone-like HTML page with Plone's cache headers
//	/slow?ms=20       answers after a delay
//	/download         1 MiB of application/octet-stream
//	/echo             the request as it arrived, as JSON (path, headers, body size)
//	anything else     an HTML page saying which path (and VirtualHostMonster
//	                  parts) the request reached Zope with
package origin

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Origin is the stand-in server.
type Origin struct {
	// Slots bounds the requests handled at once, like Zope's worker threads;
	// the rest wait. 0 means unlimited.
	Slots int
	// Name is reported in the X-Origin header (e.g. "instance1").
	Name string

	sem      chan struct{}
	page     []byte
	download []byte
	served   atomic.Int64
}

// New returns an origin with the given worker slots (0: unlimited).
func New(name string, slots int) *Origin {
	o := &Origin{Name: name, Slots: slots, page: plonePage(20 << 10), download: make([]byte, 1<<20)}
	if slots > 0 {
		o.sem = make(chan struct{}, slots)
	}
	for i := range o.download {
		o.download[i] = byte(i * 7)
	}
	return o
}

// Served is the number of requests answered.
func (o *Origin) Served() int64 { return o.served.Load() }

// Serve serves ln until ctx is cancelled.
func (o *Origin) Serve(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{Handler: o.Handle, Name: "Zope/(origin stand-in)", DisablePreParseMultipartForm: true,
		MaxRequestBodySize: 256 << 20, ReadTimeout: time.Minute, IdleTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.ShutdownWithContext(sctx)
	// fasthttp's Shutdown closes only a listener Serve has registered; one
	// that Serve had not reached yet would be accepted from forever (a
	// test that stopped at once hung in its cleanup).
	_ = ln.Close()
	return <-done
}

// Handle answers one request.
func (o *Origin) Handle(ctx *fasthttp.RequestCtx) {
	if o.sem != nil {
		o.sem <- struct{}{}
		defer func() { <-o.sem }()
	}
	o.served.Add(1)
	if o.Name != "" {
		ctx.Response.Header.Set("X-Origin", o.Name)
	}
	args := ctx.QueryArgs()
	// Dispatch on the last segment, so the paths work behind a
	// VirtualHostMonster prefix as they do at the root.
	p := string(ctx.Path())
	switch p[strings.LastIndexByte(p, '/')+1:] {
	case "bytes":
		n := args.GetUintOrZero("n")
		if n == 0 && len(args.Peek("n")) == 0 {
			n = 100
		}
		n = min(n, 64<<20)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBody([]byte(strings.Repeat("x", n)))
	case "page":
		ctx.SetContentType("text/html;charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "max-age=0, s-maxage=3600, must-revalidate")
		ctx.Response.Header.Set("ETag", `"|admin|Plone|1|origin"`)
		ctx.Response.Header.Set("Last-Modified", "Tue, 01 Sep 2026 10:00:00 GMT")
		ctx.SetBody(o.page)
	case "slow":
		time.Sleep(time.Duration(args.GetUintOrZero("ms")) * time.Millisecond)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("slow\n")
	case "download":
		ctx.SetContentType("application/octet-stream")
		ctx.SetBody(o.download)
	case "echo":
		o.echo(ctx)
	default:
		o.hello(ctx)
	}
}

func (o *Origin) echo(ctx *fasthttp.RequestCtx) {
	hdr := map[string]string{}
	for k, v := range ctx.Request.Header.All() {
		hdr[string(k)] = string(v)
	}
	b, _ := json.Marshal(map[string]any{
		"method":     string(ctx.Method()),
		"uri":        string(ctx.RequestURI()),
		"host":       string(ctx.Host()),
		"headers":    hdr,
		"body_bytes": len(ctx.Request.Body()),
	})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// hello is the demo page: it shows what reached the "Zope instance", and,
// when the path carries VirtualHostMonster parts, the public URL Zope would
// generate from them.
func (o *Origin) hello(ctx *fasthttp.RequestCtx) {
	uri := string(ctx.RequestURI())
	base := publicBase(string(ctx.Path()))
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, `<!DOCTYPE html>
<html><head><title>Cairn demo origin</title></head>
<body><h1>Cairn demo origin</h1>
<p>This page comes from the demo upstream standing in for a Zope instance.</p>
<p>The request reached it as <code>%s</code>.</p>
<p>Links Zope generates would start with <a href="%s">%s</a>.</p>
</body></html>
`, html.EscapeString(uri), html.EscapeString(base), html.EscapeString(base))
}

// publicBase decodes a VirtualHostMonster path into the base URL Zope
// would use: /VirtualHostBase/http/example.com:80/Plone/VirtualHostRoot/_vh_a/x
// gives http://example.com/a.
func publicBase(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) < 3 || parts[0] != "VirtualHostBase" {
		return "/"
	}
	scheme, hostport := parts[1], parts[2]
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if port, _ := strconv.Atoi(p); port == 80 && scheme == "http" || port == 443 && scheme == "https" {
			hostport = h
		}
	}
	base := scheme + "://" + hostport
	for i := 3; i < len(parts); i++ {
		if parts[i] != "VirtualHostRoot" {
			continue
		}
		for _, seg := range parts[i+1:] {
			if v, ok := strings.CutPrefix(seg, "_vh_"); ok {
				base += "/" + v
			}
		}
		break
	}
	return base
}

// plonePage builds an HTML page of about size bytes shaped like a Plone
// page: header, navigation, content, portlets, footer. It is well-formed
// XML too (void elements closed, as Plone's XHTML templates write them),
// because nginx's XSLT filter parses pages as XML and answers 500 to
// anything else.
func plonePage(size int) []byte {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8" /><title>Welcome to Plone</title>` +
		`<link rel="stylesheet" href="/++resource++plone.css" /></head><body class="template-document_view portaltype-document">` +
		`<div id="portal-header"><a id="portal-logo" href="/">Plone site</a><ul id="portal-globalnav">` +
		`<li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/events">Events</a></li></ul></div>` +
		`<div id="portal-columns"><div id="portal-column-content"><h1 class="documentFirstHeading">Welcome to Plone</h1>` +
		`<div id="content-core">`)
	for i := 0; b.Len() < size-400; i++ {
		fmt.Fprintf(&b, "<p>Paragraph %d of the front page. Plone is a content management system built on Zope; "+
			"this text stands in for the body of a document.</p>\n", i)
	}
	b.WriteString(`</div></div><div id="portal-column-two"><dl class="portlet"><dt>News</dt><dd>Nothing new.</dd></dl></div></div>` +
		`<div id="portal-footer">Powered by Plone</div></body></html>`)
	return []byte(b.String())
}
