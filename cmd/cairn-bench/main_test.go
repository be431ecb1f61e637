package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
	for _, args := range [][]string{nil, {"frobnicate"}, {"compare", "-tiers", "cache"}, {"origin", "-nope"}} {
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
