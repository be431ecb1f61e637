package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/bench/load"
	"github.com/cairnstack/cairn/internal/proctest"
)

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "cairn-bench ") {
		t.Errorf("got %q; want cairn-bench <version>", out.String())
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"compare", "-tiers", "nope"}, {"compare", "-tiers", "cache,cache"}, {"compare", "-tiers", "cache", "-runs", "0"}, {"origin", "-nope"}, {"generator", "-runs", "0"}, {"load"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}

// TestRunOrigin serves the origin and asks it for a VirtualHostMonster
// path, as both proxies under test send it.
func TestRunOrigin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"origin", "-listen", addr, "-slots", "2"}, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("origin: %v", err)
		}
	}()
	url := "http://" + addr + "/VirtualHostBase/http/example.com:80/Plone/VirtualHostRoot/bytes?n=7"
	var body []byte
	for wait := 5 * time.Millisecond; ; wait *= 2 {
		resp, err := http.Get(url)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if wait > 2*time.Second {
			t.Fatalf("origin did not answer: %v", err)
		}
		time.Sleep(wait) // polling a child's port with backoff (style.md §10)
	}
	if string(body) != "xxxxxxx" {
		t.Errorf("got %q; want 7 bytes", body)
	}
}

// TestLoadCommand runs the built binary's load generator against a Zope
// stand-in, as an operator would: one URL with JSON on standard output,
// then a scenario file with the HTML report written to a file.
func TestLoadCommand(t *testing.T) {
	dir := t.TempDir()
	if err := proctest.Build(dir, "cairn-bench"); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cairn-bench")
	addr := proctest.Origin(t, "instance1", 0)

	out, err := exec.Command(bin, "load", "-q", "-d", "1s", "-warmup", "200ms", "-c", "4", "-format", "json",
		"-H", "Accept-Encoding: gzip", "http://"+addr+"/bytes?n=100").Output()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var res load.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	if res.Requests == 0 || res.Statuses["200"] != res.Requests || res.Latency.P99 <= 0 {
		t.Errorf("report %+v", res)
	}

	scenario := filepath.Join(dir, "mix.toml")
	os.WriteFile(scenario, []byte(`
[[scenario.requests]]
url = "http://`+addr+`/page"
weight = 3
[[scenario.requests]]
url = "http://`+addr+`/echo"
method = "POST"
body = "hello"
`), 0o644) //nolint:errcheck
	html := filepath.Join(dir, "report.html")
	text, err := exec.Command(bin, "load", "-q", "-n", "200", "-warmup", "0s", "-c", "2", "-scenario", scenario, "-html", html).Output()
	if err != nil {
		t.Fatalf("load -scenario: %v", err)
	}
	if !strings.Contains(string(text), "requests     200 ") {
		t.Errorf("text report:\n%s", text)
	}
	if page, err := os.ReadFile(html); err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("HTML report: %v", err)
	}

	for _, args := range [][]string{
		{"load"},             // no target
		{"load", "ftp://x/"}, // not http
		{"load", "-c", "0", "http://" + addr + "/"}, // no connections
		{"load", "-format", "xml", "http://" + addr + "/"},
		{"load", "-scenario", filepath.Join(dir, "missing.toml")},
	} {
		cmd := exec.Command(bin, args...)
		msg, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "cairn-bench:") {
			t.Errorf("%q: %v, %s; want a non-zero exit with a message", args, err, msg)
		}
	}
}
