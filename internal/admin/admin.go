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
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health reports nil when the tier is ready to serve, or why it is not.
type Health func() error

// Handler returns the admin mux. pprof is registered explicitly on this mux,
// never on http.DefaultServeMux.
func Handler(g prometheus.Gatherer, health Health) http.Handler {
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
	mux.HandleFunc("/debug/pprof/profile", boundedSeconds(pprof.Profile))
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", boundedSeconds(pprof.Trace))
	return mux
}

// maxProfileSeconds bounds a CPU profile or execution trace: either
// costs the tier CPU on its data path while it runs (and blocks the next
// one), and pprof takes any ?seconds= it is given.
const maxProfileSeconds = 300

// boundedSeconds refuses a profile or trace asked for longer than
// maxProfileSeconds.
func boundedSeconds(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.FormValue("seconds"); v != "" {
			if sec, err := strconv.ParseFloat(v, 64); err != nil || sec > maxProfileSeconds {
				http.Error(w, "seconds: at most "+strconv.Itoa(maxProfileSeconds), http.StatusBadRequest)
				return
			}
		}
		h(w, r)
	}
}

// Serve serves the admin mux on ln until ctx is cancelled, then shuts down
// within a second (admin requests are short; a pprof profile in progress is
// cut off rather than holding up the tier's exit).
func Serve(ctx context.Context, ln net.Listener, g prometheus.Gatherer, health Health) error {
	srv := &http.Server{
		Handler:           Handler(g, health),
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
// one per process (style.md §7: no global registry).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
	)
	return reg
}
