// Package admin serves a tier's admin endpoints on their own listener:
// /metrics (Prometheus, from the tier's own registry), /healthz and
// /debug/pprof/. It is kept off the data path and, by default, on loopback,
// because pprof and metrics reveal internals.
package admin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health reports nil when the tier is ready to serve, or why it is not.
type Health func() error

// Handler returns the admin mux, to which a caller may add its own paths.
// pprof is registered explicitly on this mux, never on
// http.DefaultServeMux.
func Handler(g prometheus.Gatherer, health Health) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if health != nil {
			if err := health(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve serves h (normally Handler's mux) on ln until ctx is cancelled,
// then shuts down within a second (admin requests are short; a pprof
// profile in progress is cut off rather than holding up the tier's exit).
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NewRegistry returns a fresh registry with the Go and process collectors,
// one per process (style.md §7: no global registry), and the registerer a
// tier registers its own metrics with. labels (may be nil) are added to
// every metric, the runtime's too: a worker process labels its metrics with
// its worker number, so that its master can serve them all on one page.
func NewRegistry(labels prometheus.Labels) (*prometheus.Registry, prometheus.Registerer) {
	reg := prometheus.NewRegistry()
	r := prometheus.WrapRegistererWith(labels, reg)
	r.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
	)
	return reg, r
}
