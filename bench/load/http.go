package load

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/valyala/fasthttp"
)

// MaxResponseBody bounds a response body the generator reads (a larger one
// is an error of kind "body too large"), so that a hostile target cannot
// make it hold unbounded memory.
const MaxResponseBody = 256 << 20

// HTTP runs scenario sc under o with fasthttp's HTTP/1.1 client codec and
// returns what it measured. Progress lines go to progress (nil: none).
//
// Every worker owns its connection to each target host, prepared copies
// of the scenario's requests and one response, so the loop allocates
// nothing per request. The workers use fasthttp's request writer and
// response parser on their own connections rather than a shared
// fasthttp.HostClient: the shared pool costs a lock, two deadline updates
// and buffer-pool churn per request, which made the generator use more
// CPU per request than wrk. Failed requests are never retried: a load
// generator that retried would hide the errors it is there to count.
func HTTP(ctx context.Context, sc Scenario, o Options, progress io.Writer) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(sc.Requests) == 0 {
		return nil, errors.New("the scenario has no requests")
	}
	var hosts []*host
	byKey := map[string]*host{}
	templates := make([]*fasthttp.Request, len(sc.Requests))
	targets := make([]int, len(sc.Requests)) // index into hosts
	cum := make([]int, len(sc.Requests))     // cumulative weights
	total := 0
	for k, r := range sc.Requests {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("request %d: %w", k, err)
		}
		u, _ := url.Parse(r.URL) // validated
		key := u.Scheme + "://" + u.Host
		if byKey[key] == nil {
			byKey[key] = newHost(u, o)
			hosts = append(hosts, byKey[key])
		}
		targets[k] = slices.Index(hosts, byKey[key])
		templates[k] = newRequest(r, o)
		total += r.Weight
		cum[k] = total
	}
	// Every request is serialized once, by fasthttp's writer; workers
	// send the bytes.
	wires := make([]wireRequest, len(templates))
	for k, t := range templates {
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		if err := t.Write(bw); err != nil {
			return nil, fmt.Errorf("request %d: %w", k, err)
		}
		bw.Flush() //nolint:errcheck // a bytes.Buffer does not fail
		wires[k] = wireRequest{bytes: b.Bytes(), head: t.Header.IsHead(), close: t.ConnectionClose()}
	}
	var drive func(context.Context, *engine)
	if useEventLoop(o, hosts) {
		family, sa, err := sockaddr(hosts[0].addr)
		if err != nil {
			return nil, err
		}
		drive = func(ctx context.Context, e *engine) { e.driveLoops(ctx, family, sa, wires, cum, total, o.Seed) }
	} else {
		workers := make([]*httpWorker, o.Connections)
		ops := make([]operation, o.Connections)
		for i := range ops {
			w := &httpWorker{reqs: wires, targets: targets, cum: cum, total: total, timeout: o.Timeout,
				rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
			for _, h := range hosts {
				w.conns = append(w.conns, &hostConn{host: h})
			}
			workers[i], ops[i] = w, w.do
		}
		defer func() {
			for _, w := range workers {
				for _, c := range w.conns {
					c.close()
				}
			}
		}()
		drive = func(ctx context.Context, e *engine) { e.workAll(ctx, ops) }
	}
	res, err := runWith(ctx, o, progress, drive)
	if res != nil {
		res.Target = describe(sc)
	}
	return res, err
}

// host is one scheme://host:port the scenario sends to.
type host struct {
	addr string
	tls  *tls.Config // nil for http
}

func newHost(u *url.URL, o Options) *host {
	h := &host{addr: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		h.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		h.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: o.Insecure} //nolint:gosec // the operator's choice, for self-signed test targets
	}
	return h
}

// hostConn is one worker's connection to one host, opened on first use
// and again after the server or an error closed it.
type hostConn struct {
	host     *host
	nc       net.Conn
	br       *bufio.Reader
	deadline time.Time // of nc's reads and writes
}

// wireRequest is one request of the scenario as it goes on the wire.
type wireRequest struct {
	bytes []byte
	head  bool // HEAD: the response has no body
	close bool // Connection: close
}

func (c *hostConn) open(timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("tcp", c.host.addr)
	if err != nil {
		return err
	}
	if c.host.tls != nil {
		tc := tls.Client(nc, c.host.tls)
		tc.SetDeadline(time.Now().Add(timeout)) //nolint:errcheck // a failed deadline shows as a handshake error
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	c.nc, c.deadline = nc, time.Time{}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *hostConn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// newRequest prepares r as a fasthttp request.
func newRequest(r Request, o Options) *fasthttp.Request {
	req := new(fasthttp.Request)
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	req.Header.SetUserAgent("cairn-bench")
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

// httpWorker is one worker's state.
type httpWorker struct {
	reqs    []wireRequest
	targets []int // request → index into conns
	conns   []*hostConn
	cum     []int
	total   int
	timeout time.Duration
	rng     *rand.Rand
	resp    fasthttp.Response
}

func (w *httpWorker) do() outcome {
	k := 0
	if len(w.reqs) > 1 {
		k = sort.SearchInts(w.cum, w.rng.IntN(w.total)+1)
	}
	req, c := &w.reqs[k], w.conns[w.targets[k]]
	if c.nc == nil {
		if err := c.open(w.timeout); err != nil {
			return outcome{Err: connectErrorKind(err)}
		}
	}
	// The deadline bounds the whole exchange. Moving it costs a timer
	// update, so it moves only when less than the timeout is left, to
	// an eighth beyond: a request fails after the timeout, at most an
	// eighth of it later.
	if now := time.Now(); c.deadline.Sub(now) < w.timeout {
		c.deadline = now.Add(w.timeout + w.timeout/8)
		c.nc.SetDeadline(c.deadline) //nolint:errcheck // a failed deadline shows as an I/O error
	}
	_, err := c.nc.Write(req.bytes)
	if err == nil {
		w.resp.SkipBody = req.head
		err = w.resp.ReadLimitBody(c.br, MaxResponseBody)
	}
	if err != nil {
		c.close()
		return outcome{Err: errorKind(err)}
	}
	if req.close || w.resp.ConnectionClose() {
		c.close()
	}
	return outcome{Status: w.resp.StatusCode(), Bytes: int64(len(w.resp.Body()))}
}

// connectErrorKind names the class of a failed connection attempt.
func connectErrorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connect timeout"
	case errors.As(err, new(tls.RecordHeaderError)), strings.Contains(err.Error(), "tls:"):
		return "tls handshake"
	}
	return "connect error"
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
