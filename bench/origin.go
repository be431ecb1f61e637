package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/internal/origin"
)

// OriginOptions configures `cairn-bench origin`.
type OriginOptions struct {
	// Listen is the address served. Default 127.0.0.1:8401 (instance1).
	Listen string
	// Slots bounds the requests handled at once, like Zope's worker
	// threads. 0 means unlimited.
	Slots int
	// Name is sent in the X-Origin header. Default "origin".
	Name string
}

// RegisterFlags registers one flag per field.
func (o *OriginOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8401", "address to serve")
	fs.IntVar(&o.Slots, "slots", 0, "requests handled at once, like Zope's worker threads (0: unlimited)")
	fs.StringVar(&o.Name, "name", "origin", "name sent in the X-Origin header")
}

// ServeOrigin serves the Zope stand-in of internal/origin on o.Listen until
// ctx is cancelled.
func ServeOrigin(ctx context.Context, o OriginOptions) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("bench: origin: %w", err)
	}
	og := origin.New(o.Name, o.Slots)
	srv := &fasthttp.Server{
		Handler:                      traverseVHM(og.Handle),
		Name:                         "Zope/(origin stand-in)",
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  time.Minute,
		IdleTimeout:                  time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("bench: origin: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.ShutdownWithContext(sctx)
	return <-done
}

// traverseVHM makes the stand-in resolve VirtualHostMonster paths as Zope
// does: /VirtualHostBase/http/host:port/Plone/VirtualHostRoot/bytes reaches
// the object /bytes of the site. internal/origin dispatches on the plain
// path only, and both proxies under test send the rewritten one.
func traverseVHM(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if p, ok := vhmObjectPath(string(ctx.Path())); ok {
			ctx.URI().SetPath(p)
		}
		next(ctx)
	}
}

// vhmObjectPath returns the path after VirtualHostRoot (without _vh_
// segments) of a VirtualHostMonster path.
func vhmObjectPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/VirtualHostBase/") {
		return "", false
	}
	_, rest, ok := strings.Cut(p, "/VirtualHostRoot")
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	for len(segs) > 0 && strings.HasPrefix(segs[0], "_vh_") {
		segs = segs[1:]
	}
	return "/" + strings.Join(segs, "/"), true
}
