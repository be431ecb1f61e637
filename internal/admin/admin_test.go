package admin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/internal/admin"
)

func TestEndpoints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var healthErr error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.Serve(ctx, ln, admin.NewRegistry(), func() error { return healthErr }) }()
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// A profile or trace longer than five minutes is refused (it would
	// cost the tier CPU all that time); a short one runs.
	for _, path := range []string{"/debug/pprof/profile?seconds=86400", "/debug/pprof/trace?seconds=301", "/debug/pprof/trace?seconds=x"} {
		if code, _ := get(path); code != http.StatusBadRequest {
			t.Errorf("%s: %d; want 400", path, code)
		}
	}
	if code, _ := get("/debug/pprof/trace?seconds=0.05"); code != 200 {
		t.Errorf("a short trace: %d", code)
	}
	healthErr = errors.New("draining")
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/healthz unhealthy: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") {
		t.Errorf("/metrics: %d", code)
	}
	if code, _ := get("/debug/pprof/cmdline"); code != 200 {
		t.Errorf("pprof: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
