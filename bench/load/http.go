package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

// MaxResponseBody bounds a response body the generator reads (a larger one
// is an error of kind "body too large"), so that a hostile target cannot
// make it hold unbounded memory.
const MaxResponseBody = 256 << 20

// HTTP runs scenario sc under o with fasthttp's client and returns what it
// measured. Progress lines go to progress (nil: none).
//
// Every worker owns prepared copies of the scenario's requests and one
// response, so the loop allocates nothing per request; connections come
// from one fasthttp.HostClient per target host holding up to
// o.Connections of them. Failed requests are never retried: a load
// generator that retried would hide the errors it is there to count.
func HTTP(ctx context.Context, sc Scenario, o Options, progress io.Writer) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(sc.Requests) == 0 {
		return nil, errors.New("the scenario has no requests")
	}
	clients := map[string]*fasthttp.HostClient{}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	templates := make([]*fasthttp.Request, len(sc.Requests))
	targets := make([]*fasthttp.HostClient, len(sc.Requests))
	cum := make([]int, len(sc.Requests)) // cumulative weights
	total := 0
	for k, r := range sc.Requests {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("request %d: %w", k, err)
		}
		u, _ := url.Parse(r.URL) // validated
		key := u.Scheme + "://" + u.Host
		if clients[key] == nil {
			clients[key] = newHostClient(u, o)
		}
		targets[k] = clients[key]
		templates[k] = newRequest(r, o)
		total += r.Weight
		cum[k] = total
	}
	ops := make([]operation, o.Connections)
	for i := range ops {
		w := &httpWorker{targets: targets, cum: cum, total: total,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
		for _, t := range templates {
			req := new(fasthttp.Request)
			t.CopyTo(req)
			req.SetTimeout(o.Timeout) // CopyTo leaves the timeout out
			w.reqs = append(w.reqs, req)
		}
		ops[i] = w.do
	}
	res, err := run(ctx, o, ops, progress)
	if res != nil {
		res.Target = describe(sc)
	}
	return res, err
}

// newHostClient is the connection pool for one scheme://host.
func newHostClient(u *url.URL, o Options) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return &fasthttp.HostClient{
		Addr:                      addr,
		Name:                      "cairn-bench",
		IsTLS:                     u.Scheme == "https",
		TLSConfig:                 &tls.Config{InsecureSkipVerify: o.Insecure}, //nolint:gosec // the operator's choice, for self-signed test targets
		MaxConns:                  o.Connections,
		MaxConnWaitTimeout:        o.Timeout,
		MaxIdemponentCallAttempts: 1,
		MaxResponseBodySize:       MaxResponseBody,
		DisablePathNormalizing:    true,
		ReadBufferSize:            16 << 10,
	}
}

// newRequest prepares r as a fasthttp request.
func newRequest(r Request, o Options) *fasthttp.Request {
	req := new(fasthttp.Request)
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		if strings.EqualFold(k, "Host") {
			req.Header.SetHost(r.Headers[k])
			continue
		}
		req.Header.Set(k, r.Headers[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.Cookies)) {
		req.Header.SetCookie(k, r.Cookies[k])
	}
	if r.Body != "" {
		req.SetBodyString(r.Body)
	}
	if !o.KeepAlive {
		req.SetConnectionClose()
	}
	return req
}

// httpWorker is one connection's state.
type httpWorker struct {
	reqs    []*fasthttp.Request
	targets []*fasthttp.HostClient
	cum     []int
	total   int
	rng     *rand.Rand
	resp    fasthttp.Response
}

func (w *httpWorker) do() outcome {
	k := 0
	if len(w.reqs) > 1 {
		k = sort.SearchInts(w.cum, w.rng.IntN(w.total)+1)
	}
	err := w.targets[k].Do(w.reqs[k], &w.resp)
	if err != nil {
		return outcome{Err: errorKind(err)}
	}
	return outcome{Status: w.resp.StatusCode(), Bytes: int64(len(w.resp.Body()))}
}

// errorKind names the class of a failed request for the report.
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return "connect timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect refused"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "body too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case strings.HasPrefix(err.Error(), "error when reading response headers"),
		strings.Contains(err.Error(), "cannot parse"), strings.Contains(err.Error(), "fasthttp: "):
		return "bad response"
	}
	return "other"
}

// describe names the scenario's target: its URL, or the first and a count.
func describe(sc Scenario) string {
	if len(sc.Requests) == 1 {
		r := sc.Requests[0]
		if r.Method != "GET" {
			return r.Method + " " + r.URL
		}
		return r.URL
	}
	return fmt.Sprintf("%s and %d more", sc.Requests[0].URL, len(sc.Requests)-1)
}
