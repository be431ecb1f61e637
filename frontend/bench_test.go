package frontend_test

import (
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/frontend"
)

// benchScenarios are cairn-bench compare's proxied ones (README,
// Performance).
var benchScenarios = []struct{ name, path string }{
	{"100B", "/bytes?n=100"},
	{"20KB", "/page"},
}

// BenchmarkProxy measures the proxy path as cairn-bench compare loads it:
// a VirtualHostMonster route to a keep-alive origin, the access log written
// to a file, many client connections at once. The client, the frontend and
// the origin share the process, so ns/op is their sum; BenchmarkOrigin
// measures the client and origin alone, to subtract. allocs/op, a CPU
// profile (-cpuprofile) or instruction counts (valgrind --tool=callgrind
// with GODEBUG=asyncpreemptoff=1 on the test binary) show the frontend's
// part more steadily than ns/op on a shared machine.
func BenchmarkProxy(b *testing.B) {
	for _, sc := range benchScenarios {
		b.Run(sc.name, func(b *testing.B) {
			cfg := frontend.NewConfig()
			cfg.AccessLog = filepath.Join(b.TempDir(), "access.log")
			cfg.Upstreams = map[string]frontend.Upstream{"origin": {Addrs: []string{startOrigin(b, "origin")}}}
			cfg.Hosts = []frontend.Host{{Default: true, Routes: []frontend.Route{
				{Path: "/", Proxy: "origin", Zope: &frontend.Zope{Site: "Plone"}},
			}}}
			load(b, startFrontend(b, cfg).addr[0], sc.path)
		})
	}
}

// BenchmarkOrigin is BenchmarkProxy's load sent to the origin directly.
func BenchmarkOrigin(b *testing.B) {
	for _, sc := range benchScenarios {
		b.Run(sc.name, func(b *testing.B) {
			load(b, startOrigin(b, "origin"), sc.path)
		})
	}
}

// load sends GET path to addr b.N times from 32 keep-alive connections
// (on 2 cores; wrk uses 64) and fails on any answer but 200.
func load(b *testing.B, addr, path string) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 64}
	defer c.CloseIdleConnections()
	uri := "http://" + addr + path
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(uri)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != fasthttp.StatusOK {
				b.Errorf("status %d", resp.StatusCode())
				return
			}
		}
	})
}
