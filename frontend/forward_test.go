package frontend_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/frontend"
)

// TestLogAfterForwardingInPlace checks that the access log shows the
// request as the client sent it, though the frontend forwards that very
// request after rewriting it: the VHM path, the forwarding headers, and the
// fields Connection names are the upstream's, not the log's.
func TestLogAfterForwardingInPlace(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := proxyConfig(startOrigin(t, "i1"))
	cfg.Hosts[0].Routes[0].Zope = &frontend.Zope{Site: "Plone"}
	cfg.AccessLog = logPath
	fe := startFrontend(t, cfg)
	for _, req := range []string{
		"GET /a%20b/echo?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: ua1\r\nConnection: close\r\n\r\n",
		"GET http://x/echo?y=2 HTTP/1.1\r\nHost: x\r\nUser-Agent: ua2\r\nConnection: close\r\n\r\n",
		"GET /echo HTTP/1.1\r\nHost: x\r\nUser-Agent: ua3\r\nReferer: http://r/\r\nConnection: close, User-Agent, Referer\r\n\r\n",
	} {
		if got := raw(t, fe.addr[0], req); !strings.Contains(got, "/VirtualHostRoot/") {
			t.Fatalf("%q: not proxied with the VHM path: %q", req, got)
		}
	}
	if err := fe.f.ReopenLogs(); err != nil { // flushes
		t.Fatal(err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"GET /a%20b/echo?x=1 HTTP/1.1" 200 `, `"ua1"`,
		`"GET http://x/echo?y=2 HTTP/1.1" 200 `, `"ua2"`,
		`"GET /echo HTTP/1.1" 200 `, `"http://r/" "ua3"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("access log lacks %s:\n%s", want, b)
		}
	}
}
