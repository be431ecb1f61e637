package frontend

import (
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/valyala/fasthttp"
)

// countedPasswords counts the password checks of a route.
type countedPasswords struct {
	passwords
	n int
}

func (c *countedPasswords) Match(user, password string) bool {
	c.n++
	return c.passwords.Match(user, password)
}

// TestPasswordCheckedOnce: an upload announced with Expect: 100-continue
// is admitted before its body and again after it, but its password (a
// bcrypt hash: tens of milliseconds) is checked once; the next request on
// the connection, and the same route after a reload, check again.
func TestPasswordCheckedOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "htpasswd")
	// {SHA} of "secret"
	if err := os.WriteFile(file, []byte("ann:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig()
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
	cfg.Upstreams = map[string]Upstream{"z": {Addrs: []string{"127.0.0.1:1"}}}
	cfg.Hosts = []Host{{Routes: []Route{{Path: "/private/", Proxy: "z", AuthBasic: "x", AuthBasicUserFile: file}}}}
	cfg.AccessLog = "off"
	if err := cfg.Validate(sitefile.Site{}); err != nil {
		t.Fatal(err)
	}
	f, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := f.state.Load()
	defer rt.close()
	r, _, _ := rt.host([]byte("x")).match("/private/f")
	counted := &countedPasswords{passwords: r.users}
	r.users = counted

	var ctx fasthttp.RequestCtx
	ctx.Init(&ctx.Request, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	announce := func() {
		ctx.Request.Reset()
		ctx.Request.Header.SetMethod("PUT")
		ctx.Request.SetRequestURI("/private/f")
		ctx.Request.Header.SetHost("x")
		ctx.Request.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ann:secret")))
		ctx.Request.Header.Set("Expect", "100-continue")
		ctx.Request.Header.SetContentLength(5)
	}
	announce()
	if status := f.expect(&ctx, cfg.Listeners[0]); status != fasthttp.StatusContinue {
		t.Fatalf("expect: %d; want 100", status)
	}
	if !f.admitted(&ctx, rt, r) || counted.n != 1 {
		t.Fatalf("after its body: admitted %v with %d checks; want admitted with 1", f.admitted(&ctx, rt, r), counted.n)
	}
	announce() // the next request on the connection (fasthttp resets the request between)
	if !f.admitted(&ctx, rt, r) || counted.n != 2 {
		t.Errorf("the next request: %d checks in all; want 2", counted.n)
	}
	other := *r // the same route in a reloaded configuration
	other.users = counted
	if !f.admitted(&ctx, rt, &other) || counted.n != 3 {
		t.Errorf("the route after a reload: %d checks in all; want 3", counted.n)
	}
}
